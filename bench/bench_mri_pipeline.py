"""Benchmark index + series + convert against one bare dcm2niix run over the tree (issue 3).

On `synth mri --patients 120`: wall time of hepatokit's `mri index` + `mri series` +
`mri convert` (with --workers cores) vs `dcm2niix -b y -z y -o OUT RAW` once over the whole
raw tree (goal ≤ 1.0× its wall time). The two alternate ``--repeat`` times (each from a
fresh output folder, after ``os.sync()``); the ratio is best of the chain / best of bare.
``--cpu`` adds a view that a loaded machine disturbs less: CPU seconds (user + system, this
process and its children) of the chain run inline with one worker vs the bare run's.

Run: ``.venv/bin/python bench/bench_mri_pipeline.py [--patients 120] [--raw DIR] [--workers 2]
[--repeat 3] [--cpu]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench_mri_index import _raw  # type: ignore[import-not-found]


def bare(raw: Path, out: Path) -> tuple[float, int]:
    """Wall time of one bare dcm2niix run over ``raw`` and the volumes it wrote."""
    from hepatokit.curation.mri.convert.stage import dcm2niix_binary

    out.mkdir()
    os.sync()  # each timed phase starts without the other's dirty pages being written back
    t = time.perf_counter()
    subprocess.run(
        [dcm2niix_binary(), "-b", "y", "-z", "y", "-o", str(out), str(raw)],
        check=False,
        capture_output=True,
    )
    took = time.perf_counter() - t
    return took, len(list(out.glob("*.nii.gz")))


def chain(raw: Path, build: Path, workers: int) -> tuple[dict[str, float], int]:
    """Phase times of index + series + convert into ``build`` (``total``: all three)."""
    from hepatokit.curation.mri import convert_volumes, index_dicom, recognise_series
    from hepatokit.parallel import make_executor

    times = {}
    os.sync()
    t0 = time.perf_counter()
    with make_executor(workers=workers) as pool:
        t = time.perf_counter()
        index_dicom(raw=raw, out=build, workers=workers, executor=pool, demo_key=True)
        times["index"] = time.perf_counter() - t
        t = time.perf_counter()
        recognise_series(build=build)
        times["series"] = time.perf_counter() - t
        t = time.perf_counter()
        s = convert_volumes(build=build, workers=workers, executor=pool)
        times["convert"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - t0
    return times, s.converted


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its waited-for children so far."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def cpu_view(raw: Path, tmp: Path, repeat: int) -> None:
    """CPU seconds of bare dcm2niix vs the chain inline (1 worker), alternating, best of."""
    b, c = [], []
    for _ in range(repeat):
        t = cpu_seconds()
        bare(raw, tmp / "bare")
        b.append(cpu_seconds() - t)
        shutil.rmtree(tmp / "bare")
        t = cpu_seconds()
        chain(raw, tmp / "cpu-build", 1)
        c.append(cpu_seconds() - t)
        shutil.rmtree(tmp / "cpu-build")
    print(
        f"CPU seconds: bare dcm2niix {min(b):.2f} s, chain (1 worker, inline) {min(c):.2f} s "
        f"→ {min(c) / min(b):.2f}× (runs: bare {', '.join(f'{x:.2f}' for x in b)}; "
        f"chain {', '.join(f'{x:.2f}' for x in c)})"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=120)
    ap.add_argument("--raw", default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cpu", action="store_true", help="also the CPU-seconds view")
    args = ap.parse_args()
    from hepatokit.curation.mri import convert_volumes
    from hepatokit.progress import configure_progress

    configure_progress(quiet=True)
    raw = _raw(args)
    best_bare = float("inf")
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            t_bare, n_bare = bare(raw, Path(tmp) / "bare")
            shutil.rmtree(Path(tmp) / "bare")
            build = Path(tmp) / "build"
            times, n = chain(raw, build, args.workers)
            print(
                f"run {r + 1} ({time.strftime('%H:%M:%S')}): bare dcm2niix {t_bare:.2f} s "
                f"({n_bare} volumes); hepatokit "
                + ", ".join(f"{k} {v:.2f} s" for k, v in times.items())
                + f" ({n} volumes) → {times['total'] / t_bare:.2f}×"
            )
            best_bare = min(best_bare, t_bare)
            if not best or times["total"] < best["total"]:
                best = times
            if r + 1 < args.repeat:
                shutil.rmtree(build)
        print(
            f"best: bare {best_bare:.2f} s, hepatokit {best['total']:.2f} s with "
            f"{args.workers} workers → {best['total'] / best_bare:.2f}× bare dcm2niix (goal ≤ 1.0×)"
        )
        t = time.perf_counter()
        convert_volumes(build=build, workers=args.workers)
        print(f"re-run of convert (all up to date): {time.perf_counter() - t:.2f} s")
        if args.cpu:
            cpu_view(raw, Path(tmp), args.repeat)


if __name__ == "__main__":
    main()
