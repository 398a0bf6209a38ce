"""Benchmark of `mri import-release` on volumes with the release's geometry.

    python bench/bench_release_import.py [--cases 2] [--workers 2] [--level 6]

Writes ``cases`` case folders × 7 sequences of 384 × 384 × 131 int16 (an ellipsoid "body" with
noise and a zero background, like MRI) in the CARE-Liver layout, then times the import
(decompress, scrub, squeeze, deterministic gzip, sidecar) against ``cp -r`` of the same
bytes, and the re-run that finds everything done. The import re-compresses every volume, so
it is CPU-bound: the figure to watch is volumes per second per worker (goal: ≥ 0.3 at gzip
level 6 on one core, i.e. a 600-subject release in under ~4 h on one core, minutes on 16).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

SEQUENCES = ["T1", "T2", "DWI_800", "GED1", "GED2", "GED3", "GED4"]


def phantom(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x, y, z = np.ogrid[-1:1:384j, -1:1:384j, -1:1:131j]
    body = (x / 0.8) ** 2 + (y / 0.6) ** 2 + (z / 1.2) ** 2 < 1
    data = np.where(body, rng.normal(400, 60, body.shape), 0.0)
    return data.astype(np.int16)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--level", type=int, default=6)
    args = ap.parse_args()
    from hepatokit.curation.mri.release.stage import import_release

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "release"
        affine = np.diag([0.99, 0.99, 1.75, 1.0])
        for c in range(args.cases):
            folder = root / "LiQA_training_data" / "Vendor_A" / f"{c}-A-S2"
            folder.mkdir(parents=True)
            for i, s in enumerate(SEQUENCES):
                nib.save(nib.Nifti1Image(phantom(c * 10 + i), affine), folder / f"{s}.nii.gz")
        n = args.cases * len(SEQUENCES)
        size = sum(p.stat().st_size for p in root.rglob("*.nii.gz"))
        t0 = time.perf_counter()
        subprocess.run(["cp", "-r", str(root), str(Path(tmp) / "copy")], check=True)
        t_cp = time.perf_counter() - t0
        out = Path(tmp) / "build"
        t0 = time.perf_counter()
        import_release(
            root=root, out=out, demo_key=True, workers=args.workers, compress_level=args.level
        )
        t_imp = time.perf_counter() - t0
        t0 = time.perf_counter()
        import_release(
            root=root, out=out, demo_key=True, workers=args.workers, compress_level=args.level
        )
        t_again = time.perf_counter() - t0
        shutil.rmtree(out)
    rate = n / t_imp / args.workers
    print(f"{n} volumes 384x384x131 int16 ({size / 1e6:.0f} MB gz), {args.workers} workers")
    print(f"  gzip level {args.level}")
    print(f"  import {t_imp:.1f} s, re-run (nothing to do) {t_again:.1f} s, cp -r {t_cp:.2f} s")
    print(f"  {rate:.2f} volumes/s per worker (goal >= 0.3), {t_imp / t_cp:.0f}x the copy time")


if __name__ == "__main__":
    main()
