"""Whole dedup stage (exact + near + union-find + tables + manifest) on a build folder.

    python bench/bench_dedup.py BUILD            # after `patho ingest` + `patho qc`
    python bench/bench_dedup.py --synthetic 140000

With ``--synthetic N`` a build folder with N items is fabricated (hash and score tables
only; no image files, gallery off), so the dedup of HepatoBench's size is timed without
generating 140k images.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from hepatokit.atomic import write_parquet_atomic
from hepatokit.contracts.hepatobench import PATCH_SCHEMA
from hepatokit.curation.patho.dedup.stage import dedup_patches
from hepatokit.curation.patho.features.hashing import uint64_to_hex
from hepatokit.curation.patho.features.table import SCORE_SCHEMA
from hepatokit.manifest import Manifest, kept, stable_id


def fabricate(build: Path, n: int, seed: int = 0) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_near_duplicates import make_hashes

    rng = np.random.default_rng(seed)
    ph = make_hashes("uniform", n, 8, seed)  # distinct tissue + 3 % planted near copies
    dh = (ph << np.uint64(7)) | (ph >> np.uint64(57))  # same distances: planted dups agree
    # class from the hash's top bits, so planted copies mostly share their source's class
    classes = np.array(["TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE"])[
        (ph >> np.uint64(61)).astype(np.int64) % 7
    ]
    paths = [f"{c}/slide-{k % 2800:04d}_{k:06x}.png" for k, c in enumerate(classes)]
    ids = [stable_id("patch", p) for p in paths]
    md5 = [f"{k:032x}" for k in range(n)]
    patches = pa.table({"id": ids, "path": paths, "class": classes.tolist(),
                        "slide_id": [p.split("/")[1][:10] for p in paths],
                        "width": np.full(n, 224, np.int32), "height": np.full(n, 224, np.int32),
                        "mode": ["RGB"] * n, "bytes": np.full(n, 60_000, np.int64), "md5": md5,
                        "format": ["PNG"] * n, "ingest_reason": pa.nulls(n, pa.string())},
                       schema=PATCH_SCHEMA)  # fmt: skip
    write_parquet_atomic(build / "patches.parquet", patches)
    write_parquet_atomic(build / "hashes.parquet", pa.table({
        "id": ids, "md5": md5, "pixel_sha256": md5, "phash": uint64_to_hex(ph),
        "dhash": uint64_to_hex(dh)}))  # fmt: skip
    scores = {c: rng.random(n) for c in SCORE_SCHEMA.names[1:]}
    # with the score definitions' version, else the stage recomputes (and finds no image)
    score_table = pa.table({"id": ids, **scores}).replace_schema_metadata(SCORE_SCHEMA.metadata)
    write_parquet_atomic(build / "cache/qc_scores.parquet", score_table)
    qc = pa.table({"id": ids, **scores, "qc_reason": pa.nulls(n, pa.string())})
    write_parquet_atomic(build / "qc.parquet", qc)
    (build / "private").mkdir(exist_ok=True)
    (build / "private" / "raw_root.json").write_text(json.dumps({"raw_root": str(build)}))
    Manifest(build).record("ingest", [kept(i, kind="patch", stage="ingest") for i in ids],
                           introduces=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", type=Path)
    ap.add_argument("--synthetic", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        build = args.build
        if args.synthetic:
            build = Path(tmp)
            t0 = time.perf_counter()
            fabricate(build, args.synthetic)
            print(f"fabricated {args.synthetic} items in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        summary = dedup_patches(build=build, gallery=not args.synthetic, workers=args.workers)
        dt = time.perf_counter() - t0
        print(f"dedup: {summary}")
        print(
            f"whole dedup stage: {dt:.2f} s for {summary.items} items "
            f"({summary.items / dt:.0f} items/s)"
        )


if __name__ == "__main__":
    main()
