"""Benchmark index + series + convert against one bare dcm2niix run over the tree (issue 3).

On `synth mri --patients 120`: wall time of hepatokit's `mri index` + `mri series` +
`mri convert` (with --workers cores) vs `dcm2niix -b y -z y -o OUT RAW` once over the whole
raw tree (goal ≤ 1.5× its wall time with the same cores).

Run: ``.venv/bin/python bench/bench_mri_pipeline.py [--patients 120] [--raw DIR] [--workers 2]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench_mri_index import _raw  # type: ignore[import-not-found]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=120)
    ap.add_argument("--raw", default=None)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from hepatokit.curation.mri import convert_volumes, index_dicom, recognise_series
    from hepatokit.curation.mri.convert.stage import dcm2niix_binary
    from hepatokit.parallel import make_executor
    from hepatokit.progress import configure_progress

    configure_progress(quiet=True)
    raw = _raw(args)
    with tempfile.TemporaryDirectory() as tmp:
        bare_out = Path(tmp) / "bare"
        bare_out.mkdir()
        os.sync()  # each timed phase starts without the other's dirty pages being written back
        t = time.perf_counter()
        subprocess.run(
            [dcm2niix_binary(), "-b", "y", "-z", "y", "-o", str(bare_out), str(raw)],
            check=False,
            capture_output=True,
        )
        t_bare = time.perf_counter() - t
        n_bare = len(list(bare_out.glob("*.nii.gz")))
        build = Path(tmp) / "build"
        times = {}
        os.sync()
        t0 = time.perf_counter()
        with make_executor(workers=args.workers) as pool:
            t = time.perf_counter()
            index_dicom(raw=raw, out=build, workers=args.workers, executor=pool, demo_key=True)
            times["index"] = time.perf_counter() - t
            t = time.perf_counter()
            recognise_series(build=build)
            times["series"] = time.perf_counter() - t
            t = time.perf_counter()
            s = convert_volumes(build=build, workers=args.workers, executor=pool)
            times["convert"] = time.perf_counter() - t
        total = time.perf_counter() - t0
        t = time.perf_counter()
        convert_volumes(build=build, workers=args.workers)
        t_resume = time.perf_counter() - t
    print(f"bare dcm2niix over the tree (1 process): {t_bare:.2f} s, {n_bare} volumes")
    print(
        "hepatokit "
        + ", ".join(f"{k} {v:.2f} s" for k, v in times.items())
        + f" = {total:.2f} s with {args.workers} workers, {s.converted} volumes"
    )
    print(f"ratio: {total / t_bare:.2f}× bare dcm2niix (goal ≤ 1.5×)")
    print(f"re-run of convert (all up to date): {t_resume:.2f} s")


if __name__ == "__main__":
    main()
