"""Hashing and QC-scoring cost against the bare decode of the same patch files (per core).

    python bench/bench_patho_hashing.py ROOT [--limit N] [--repeat R] [--reference]

ROOT: a class-folder tree (e.g. ``hepatokit synth patho OUT --patches 140000``; ROOT=OUT).
Measures, in one process (one core), alternating the cases in each of ``R`` rounds and
keeping each case's best round: (1) read + decode (Pillow, to RGB), (2) decode + all hashes
(MD5 of bytes, SHA-256 of pixels, pHash; + dHash), (3) the full ingest analysis (decode +
hashes + every QC score), with and without dHash, with the QC scores of the compiled
pass (numba, when installed) and of the numpy path (the same scores). Rates are CPU time of
this process (what one core does, less sensitive to other load than wall time); wall-time
rates are printed too. Goals: hashing adds <= 50 % to decoding; the full analysis runs at
>= 0.5x the bare decode rate. ``--reference`` also runs the full analysis with the QC
scores of version 1/2 (``tests/curation/patho/qc/oracle_measures.py``, run from the
repository root): the speed-up of the scores in the same process, and how many patches get
the same scores and the same QC decision.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

import hepatokit.curation.patho.features.analysis as analysis
from hepatokit.curation.patho.config import PatchQCConfig
from hepatokit.curation.patho.features.analysis import analyse_patch_bytes
from hepatokit.curation.patho.features.hashing import image_hashes
from hepatokit.curation.patho.qc import kernel, masks
from hepatokit.curation.patho.qc.measures import qc_reason, qc_scores


def _files(root: Path, limit: int) -> list[Path]:
    sub = root / "patches" if (root / "patches").is_dir() else root
    files = sorted(p for p in sub.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".tif"))
    return files[:limit]


def _decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img.convert("RGB")


def _reference_analysis() -> Callable[[bytes], object]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.curation.patho.qc.oracle_measures import qc_scores_reference

    def run(data: bytes) -> object:
        fast = analysis.qc_scores
        analysis.qc_scores = qc_scores_reference  # type: ignore[assignment]
        try:
            return analyse_patch_bytes(data)
        finally:
            analysis.qc_scores = fast

    return run


def _numpy_analysis(data: bytes) -> object:
    """The full analysis with the QC scores of the numpy path."""
    fast = analysis.qc_scores
    analysis.qc_scores = functools.partial(qc_scores, compiled=False)  # type: ignore[assignment]
    try:
        return analyse_patch_bytes(data)
    finally:
        analysis.qc_scores = fast


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--limit", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reference", action="store_true")
    args = ap.parse_args()
    blobs = []
    for p in _files(args.root, args.limit):
        data = p.read_bytes()
        try:
            _decode(data)
        except Exception:
            continue
        blobs.append(data)
    n = len(blobs)
    t0 = time.process_time()
    masks._flag_table()  # built once per process (ingest workers too)
    t_table = time.process_time() - t0
    compiled = kernel.available()
    t_load = 0.0
    if compiled:
        t0 = time.perf_counter()
        analyse_patch_bytes(blobs[0])  # numba: load (or compile) the cached kernel
        t_load = time.perf_counter() - t0

    cases: dict[str, Callable[[bytes], object]] = {
        "decode": _decode,
        "hash": lambda d: image_hashes(_decode(d), d),
        "hash_d": lambda d: image_hashes(_decode(d), d, dhash=True),
        "full": analyse_patch_bytes,
        "full_d": lambda d: analyse_patch_bytes(d, dhash=True),
    }
    if compiled:
        cases["full_np"] = _numpy_analysis
    if args.reference:
        cases["full_ref"] = _reference_analysis()
        ref = cases["full_ref"]
        cfg = PatchQCConfig()
        same = decided = 0
        for d in blobs:
            old, new = ref(d).scores, analyse_patch_bytes(d).scores  # type: ignore[attr-defined]
            same += old == new
            decided += qc_reason(old.as_dict(), cfg) == qc_reason(new.as_dict(), cfg)
        print(f"QC version 1/2 vs now: same scores {same}/{n}, same QC decision {decided}/{n}")
    cpu: dict[str, float] = {k: float("inf") for k in cases}
    wall: dict[str, float] = {k: float("inf") for k in cases}
    for _ in range(args.repeat):
        for name, fn in cases.items():
            c0, w0 = time.process_time(), time.perf_counter()
            for d in blobs:
                fn(d)
            cpu[name] = min(cpu[name], time.process_time() - c0)
            wall[name] = min(wall[name], time.perf_counter() - w0)

    def line(label: str, name: str) -> str:
        return (
            f"{label:26s}: {n / cpu[name]:7.0f} patches/s CPU ({n / wall[name]:6.0f} wall)"
            f"  {cpu['decode'] / cpu[name]:.3f}x decode"
        )

    print(f"{n} patches, one core, best of {args.repeat} alternating rounds")
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    print(f"colour-flag table built in {t_table:.2f} s CPU (once per process)")
    if compiled:
        print(f"compiled QC pass (numba) loaded in {t_load:.2f} s wall (once per process)")
    else:
        print("numba not installed: the QC scores come from the numpy path")
    print(line("decode only", "decode"))
    print(line("decode + md5/sha/pHash", "hash"))
    print(line("decode + ... + dHash", "hash_d"))
    print(line("full analysis", "full"))
    print(line("full analysis + dHash", "full_d"))
    if compiled:
        print(line("full, numpy QC path", "full_np"))
    if args.reference:
        print(line("full, previous QC scores", "full_ref"))
        print(f"QC speed-up, full analysis: {cpu['full_ref'] / cpu['full']:.2f}x")
    print(f"hashing overhead / 50 % goal: {(cpu['hash'] / cpu['decode'] - 1) / 0.5:.2f}")
    print(f"full analysis / 0.5x-decode goal: {cpu['decode'] / cpu['full'] / 0.5:.2f}")


if __name__ == "__main__":
    main()
