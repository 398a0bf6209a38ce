"""The curation report page (``hepatokit report``) on a large HepatoBench build.

    python bench/bench_report.py --synthetic 140000     # fabricated tables, linked images
    python bench/bench_report.py BUILD                  # an existing build (report rewritten)
    python bench/bench_report.py --demo 2000            # a real build of N synthetic patches,
                                                        # build and report timed in one process

``--synthetic N`` fabricates a HepatoBench build of N patches the way ``bench_dedup.py``
does (patch, hash and QC tables, the ingest ledger), marks 1.5 % per QC reason as removed
(qc ledger), runs the real dedup stage (clusters, curated table, dedup ledger) and a split,
and hard-links a real 150×150 PNG to every patch path, so the report decodes real images.
The report is timed cold (no thumbnail yet) and warm (thumbnails cached). Compare with the
build's own time: ``--demo N`` times ``build_dataset`` and the report in the same process.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))


def fabricate(build: Path, n: int, seed: int = 0) -> None:
    from bench_dedup import fabricate as fabricate_tables
    from PIL import Image

    from hepatokit.atomic import write_parquet_atomic
    from hepatokit.curation.patho.dedup.stage import dedup_patches
    from hepatokit.manifest import Manifest, excluded, kept

    fabricate_tables(build, n, seed)
    rng = np.random.default_rng(seed)
    qc = pq.read_table(build / "qc.parquet").to_pydict()
    reasons = np.array([None, "background", "stain", "pen", "blur"], dtype=object)
    pick = rng.choice(5, size=n, p=[0.94, 0.015, 0.015, 0.015, 0.015])
    qc["qc_reason"] = reasons[pick].tolist()
    write_parquet_atomic(build / "qc.parquet", pa.table(qc))
    Manifest(build).record(
        "qc",
        [
            excluded(i, kind="patch", stage="qc", reason=r)
            if r
            else kept(i, kind="patch", stage="qc")
            for i, r in zip(qc["id"], qc["qc_reason"], strict=True)
        ],
    )
    dedup_patches(build=build, gallery=False, workers=2)
    curated = pq.read_table(build / "curated.parquet", columns=["id", "slide_id"]).to_pydict()
    slides = sorted(set(curated["slide_id"]))
    split_of = {
        s: ("train", "train", "train", "validation", "test")[k % 5] for k, s in enumerate(slides)
    }
    write_parquet_atomic(build / "splits.parquet", pa.table({
        "id": curated["id"], "group": curated["slide_id"],
        "split": [split_of[s] for s in curated["slide_id"]]}))  # fmt: skip
    patches = pq.read_table(build / "patches.parquet", columns=["path"]).column("path").to_pylist()
    for k, rel in enumerate(patches):
        if k % 50_000 == 0:  # a file system allows ~65k links to one file
            png = build / f"_source{k}.png"
            arr = rng.integers(120, 255, size=(150, 150, 3), dtype=np.uint8)
            Image.fromarray(arr).save(png)
        target = build / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(png, target)
    import shutil

    from hepatokit.recipe import recipe_path

    shutil.copy(recipe_path("hepatobench"), build / "recipe.yaml")


def _time_report(build: Path, label: str) -> float:
    from hepatokit.report import build_report

    t0 = time.perf_counter()
    res = build_report(build=build)
    dt = time.perf_counter() - t0
    print(f"report ({label}): {dt:.2f} s, {res.thumbs_made} thumbnails made, "
          f"{res.thumbs_reused} reused, page {res.path.stat().st_size / 1e6:.2f} MB")  # fmt: skip
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", type=Path)
    ap.add_argument("--synthetic", type=int, default=0)
    ap.add_argument("--demo", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        build = args.build
        if args.synthetic:
            build = Path(tmp) / "build"
            build.mkdir()
            t0 = time.perf_counter()
            fabricate(build, args.synthetic)
            print(f"fabricated {args.synthetic} patches in {time.perf_counter() - t0:.1f} s")
        if args.demo:
            from hepatokit.pipelines.dataset import build_dataset
            from hepatokit.synthetic.patho import generate_patches

            raw = Path(tmp) / "raw"
            generate_patches(raw, patches=args.demo, seed=0, workers=2)
            build = Path(tmp) / "build"
            t0 = time.perf_counter()
            build_dataset(recipe="hepatobench", raw=raw / "patches", out=build, workers=2,
                          strict_audits=False)  # fmt: skip
            total = time.perf_counter() - t0
            import shutil

            shutil.rmtree(build / "reports" / "pix")
            cold = _time_report(build, "cold")
            print(f"build_dataset incl. its report: {total:.1f} s → report (cold) = "
                  f"{100 * cold / (total - cold):.1f} % of the build without it")  # fmt: skip
        assert build is not None, "give BUILD, --synthetic N or --demo N"
        if not args.demo:
            _time_report(build, "cold")
        _time_report(build, "warm")


if __name__ == "__main__":
    main()
