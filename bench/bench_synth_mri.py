"""Synthetic MRI generation speed (issue 2, item 9).

Prints:
- wall and CPU time of ``generate_mri_studies(patients=N)`` with 1 and 2 workers
  (goal: the default 36 patients in < 60 s on 2 cores) and the 1 → 2 worker speed-up;
- the per-instance DICOM encoding cost of :class:`SeriesEncoder` (shared elements encoded
  once per series) against ``pydicom.dcmwrite`` of the same datasets, bytes checked equal.

Run: ``.venv/bin/python bench/bench_synth_mri.py [--patients 36]``
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def generation(patients: int, workers: int) -> tuple[float, float, int]:
    from hepatokit.synthetic import generate_mri_studies

    with tempfile.TemporaryDirectory() as tmp:
        c, t = _cpu(), time.perf_counter()
        summary = generate_mri_studies(Path(tmp) / "o", patients=patients, seed=0, workers=workers)
        return time.perf_counter() - t, _cpu() - c, summary.files


def encoding(n: int = 400) -> tuple[float, float]:
    import pydicom
    from pydicom.dataset import Dataset

    from hepatokit.synthetic import generate_mri_studies
    from hepatokit.synthetic.mri_encode import SeriesEncoder, encode_dataset

    with tempfile.TemporaryDirectory() as tmp:
        generate_mri_studies(Path(tmp) / "o", patients=1, seed=1, workers=1)
        files = sorted((Path(tmp) / "o" / "dicom").rglob("*"))
        dsets = []
        for f in files:
            try:
                dsets.append(pydicom.dcmread(f))
            except Exception:
                continue
        dsets = [d for d in dsets if d.get("Modality") == "MR" and "Rows" in d][:n]
    per_instance = {"SOPInstanceUID", "InstanceNumber", "AcquisitionTime", "ContentTime",
                    "ImagePositionPatient", "SliceLocation", "WindowCenter", "WindowWidth",
                    "PixelData", "SequenceName", "DiffusionBValue"}  # fmt: skip
    split = []  # (key, per-instance part, shared part) of each dataset, prepared untimed
    for d in dsets:
        key = (d.SeriesInstanceUID, int(d.Rows), int(d.AcquisitionNumber),
               str(d.ImageOrientationPatient))  # fmt: skip
        own, shared = Dataset(), Dataset()
        for elem in d:
            private = elem.tag.is_private and elem.tag.group != 0x0011
            (own if elem.keyword in per_instance or private else shared).add(elem)
        split.append((key, own, shared))
    t = time.perf_counter()
    plain = [encode_dataset(d, d.SOPClassUID, d.SOPInstanceUID) for d in dsets]
    t_plain = time.perf_counter() - t
    t = time.perf_counter()
    fast, encoders = [], {}
    for d, (key, own, shared) in zip(dsets, split, strict=True):
        if key not in encoders:  # one per series part, as the generator does
            encoders[key] = SeriesEncoder(shared, d.SOPClassUID)
        fast.append(encoders[key].encode(own, d.SOPInstanceUID))
    t_fast = time.perf_counter() - t
    assert fast == plain, "SeriesEncoder bytes differ from dcmwrite"
    return t_plain / len(dsets) * 1e3, t_fast / len(dsets) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=36)
    args = ap.parse_args()
    from hepatokit.progress import configure_progress

    configure_progress(quiet=True)
    w1, c1, files = generation(args.patients, 1)
    w2, _, _ = generation(args.patients, 2)
    print(f"{args.patients} patients, {files} files")
    print(f"  1 worker : wall {w1:6.1f} s  cpu {c1:6.1f} s  ({c1 / files * 1e3:.2f} ms cpu/file)")
    # worker processes are forkserver grandchildren: their CPU is not in RUSAGE_CHILDREN
    print(f"  2 workers: wall {w2:6.1f} s  → speed-up {w1 / w2:.2f}×")
    print(f"  goal < 60 s on 2 cores → ratio {60 / w2:.1f}× under the goal")
    plain, fast = encoding()
    print(f"encoding per instance: dcmwrite {plain:.2f} ms, SeriesEncoder {fast:.2f} ms "
          f"→ {plain / fast:.1f}× (bytes equal)")  # fmt: skip


if __name__ == "__main__":
    main()
