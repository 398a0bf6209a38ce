"""Benchmark `mri index` against a plain pydicom header loop (issue 3).

Figures on `synth mri --patients 120` (generated once into --raw, default a temp folder):
- index throughput with 1 worker vs a plain ``pydicom.dcmread(stop_before_pixels=True)``
  loop over the same files in one process (goal ≥ 0.9× per worker);
- index with 2 workers vs 1 worker (goal ≥ 1.7×);
- a second index run over the unchanged tree (no header read at all).

Run: ``.venv/bin/python bench/bench_mri_index.py [--patients 120] [--raw DIR]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path


def _raw(args: argparse.Namespace) -> Path:
    root = Path(args.raw or Path(tempfile.gettempdir()) / f"hk-bench-mri{args.patients}")
    if not (root / "truth.json").is_file():
        from hepatokit.synthetic import generate_mri_studies

        t = time.perf_counter()
        generate_mri_studies(root, patients=args.patients, seed=0, workers=args.workers)
        print(f"generated {args.patients} patients in {time.perf_counter() - t:.1f} s → {root}")
    return root / "dicom"


def _files(raw: Path) -> list[str]:
    return sorted(str(Path(d, f)) for d, _, fs in os.walk(raw) for f in fs)


def plain_loop(files: list[str]) -> float:
    import pydicom

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in files:
            with contextlib.suppress(Exception):
                pydicom.dcmread(f, stop_before_pixels=True)
    return time.perf_counter() - t


def index_once(raw: Path, workers: int, build: Path) -> tuple[float, int]:
    from hepatokit.curation.mri import index_dicom

    t = time.perf_counter()
    s = index_dicom(raw=raw, out=build, workers=workers, demo_key=True)
    return time.perf_counter() - t, s.headers_read


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=120)
    ap.add_argument("--raw", default=None)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from hepatokit.progress import configure_progress

    configure_progress(quiet=True)
    raw = _raw(args)
    files = _files(raw)
    n = len(files)
    plain_loop(files[:200])  # warm the page cache and imports
    t_plain = plain_loop(files)
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm"  # the index's imports (pyarrow → pandas…), as for the loop
        for i, f in enumerate(files[:200]):
            (warm / str(i // 50)).mkdir(parents=True, exist_ok=True)
            os.link(f, warm / str(i // 50) / f"{i}.dcm")
        index_once(warm, 1, Path(tmp) / "bw")
        t1, _ = index_once(raw, 1, Path(tmp) / "b1")
        t2, _ = index_once(raw, args.workers, Path(tmp) / "b2")
        t_again, read = index_once(raw, args.workers, Path(tmp) / "b2")
        shutil.rmtree(Path(tmp) / "b1")
    print(f"files: {n}")
    print(f"plain dcmread loop (1 process): {t_plain:.2f} s = {n / t_plain:.0f} files/s")
    print(
        f"mri index, 1 worker:            {t1:.2f} s = {n / t1:.0f} files/s "
        f"→ {t_plain / t1:.2f}× the plain loop per worker (goal ≥ 0.9×)"
    )
    print(
        f"mri index, {args.workers} workers:           {t2:.2f} s = {n / t2:.0f} files/s "
        f"→ {t1 / t2:.2f}× 1 worker (goal ≥ 1.7×)"
    )
    print(f"mri index again (unchanged):    {t_again:.2f} s, {read} headers read")


if __name__ == "__main__":
    main()
