"""Benchmark `mri index` against a plain pydicom header loop (issue 3).

Figures on `synth mri --patients 120` (generated once into --raw, default a temp folder):
- index throughput with 1 worker vs a plain ``pydicom.dcmread(stop_before_pixels=True)``
  loop over the same files in one process (goal ≥ 0.9× per worker);
- index with 2 workers vs 1 worker (goal ≥ 1.7×);
- a second index run over the unchanged tree (no header read at all).
Each index setting runs ``--repeat`` times, alternating, into fresh build folders; the best
run of each counts (the sandbox's timings drift by ±5 % between runs). Two views:
- in process, imports done and the worker pool's forkserver started by a warm-up run on 200
  files (as the plain loop runs with pydicom imported): the throughput figures;
- ``hepatokit mri index`` in fresh processes: interpreter start, imports and the
  forkserver's start-up (it imports pydicom, pyarrow and pandas once for all workers, while
  the CLI imports its own) are included.

Run: ``.venv/bin/python bench/bench_mri_index.py [--patients 120] [--raw DIR]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any


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


def index_cli(raw: Path, workers: int, build: Path) -> float:
    """Wall time of ``hepatokit --workers N --quiet mri index`` in a fresh process."""
    cli = Path(sys.executable).with_name("hepatokit")
    args = ["--workers", str(workers), "--quiet", "mri", "index", str(raw), "--out", str(build)]
    t = time.perf_counter()
    subprocess.run([str(cli), *args, "--demo-key"], check=True, capture_output=True)
    elapsed = time.perf_counter() - t
    shutil.rmtree(build)
    return elapsed


def alternate(run: Any, raw: Path, workers: int, tmp: Path, repeat: int) -> tuple[list, list]:
    """``repeat`` runs of 1 and ``workers`` workers, alternating, each into a fresh build."""
    one, many = [], []
    for _ in range(repeat):
        one.append(run(raw, 1, tmp / "b1"))
        many.append(run(raw, workers, tmp / "b2"))
    return one, many


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=120)
    ap.add_argument("--raw", default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each setting, alternating")
    args = ap.parse_args()
    from hepatokit.progress import configure_progress

    configure_progress(quiet=True)
    raw = _raw(args)
    files = _files(raw)
    n = len(files)
    plain_loop(files[:200])  # warm the page cache and imports
    t_plain = plain_loop(files)
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm"  # a small tree: the index's imports, the pool's start
        for i, f in enumerate(files[:200]):
            (warm / str(i // 50)).mkdir(parents=True, exist_ok=True)
            os.link(f, warm / str(i // 50) / f"{i}.dcm")

        def in_process(raw: Path, workers: int, build: Path) -> float:
            elapsed = index_once(raw, workers, build)[0]
            shutil.rmtree(build)
            return elapsed

        in_process(warm, 1, Path(tmp) / "bw")
        in_process(warm, args.workers, Path(tmp) / "bw")  # starts the forkserver
        runs1, runs2 = alternate(in_process, raw, args.workers, Path(tmp), args.repeat)
        fresh1, fresh2 = alternate(index_cli, raw, args.workers, Path(tmp), args.repeat)
        index_once(raw, args.workers, Path(tmp) / "b2")
        t_again, read = index_once(raw, args.workers, Path(tmp) / "b2")
    t1, t2 = min(runs1), min(runs2)
    f1, f2 = min(fresh1), min(fresh2)
    w = args.workers

    def runs(values: list[float]) -> str:
        return ", ".join(f"{t:.2f}" for t in values)

    print(f"files: {n}; best of {args.repeat} alternating runs counts")
    print(f"plain dcmread loop (1 process): {t_plain:.2f} s = {n / t_plain:.0f} files/s")
    print(f"imports done and pool started (as for the plain loop): runs 1 worker {runs(runs1)} s,")
    print(f"  {w} workers {runs(runs2)} s")
    print(
        f"  mri index, 1 worker:   {t1:.2f} s = {n / t1:.0f} files/s "
        f"→ {t_plain / t1:.2f}× the plain loop per worker (goal ≥ 0.9×)"
    )
    print(
        f"  mri index, {w} workers:  {t2:.2f} s = {n / t2:.0f} files/s "
        f"→ {t1 / t2:.2f}× 1 worker (goal ≥ 1.7×)"
    )
    print(
        f"`hepatokit mri index` (fresh process: interpreter, imports, pool start): runs 1 worker "
        f"{runs(fresh1)} s, {w} workers {runs(fresh2)} s → {f1 / f2:.2f}× (goal ≥ 1.7×)"
    )
    print(f"mri index again (unchanged):    {t_again:.2f} s, {read} headers read")


if __name__ == "__main__":
    main()
