"""Load + decode throughput of a published dataset against reading and decoding the curated
files directly (goal: ≥ 0.8×).

LiFS: every volume of the ``contrast`` config decoded to a numpy array through
``load_lifs`` (``datasets`` Nifti feature) vs ``nibabel.load`` of the curated ``.nii.gz``.
HepatoBench: every patch decoded to pixels through ``load_hepatobench`` (Image feature) vs
``PIL.Image.open`` of the curated file. Page caches are warm; each side runs twice,
alternately, and its best time counts; the one-off
parquet → Arrow preparation of ``load_dataset`` is timed separately, and streaming too.

    .venv/bin/python bench/bench_load.py [--lifs-copies 4] [--hb-copies 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_publish import replicate_hepatobench, replicate_lifs

from hepatokit.loaders import load_hepatobench, load_lifs
from hepatokit.publish import publish_build
from hepatokit.synthetic.builds import make_fake_hepatobench_build, make_fake_lifs_build

SEQS = ("T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4")


def _alternate(a: Any, b: Any, rounds: int = 2) -> tuple[tuple[float, Any], tuple[float, Any]]:
    """Time ``a`` and ``b`` alternately ``rounds`` times; the best time of each (+ result)."""
    best: list[tuple[float, Any]] = [(float("inf"), None), (float("inf"), None)]
    for _ in range(rounds):
        for k, fn in enumerate((a, b)):
            t0 = time.perf_counter()
            value = fn()
            best[k] = min(best[k], (time.perf_counter() - t0, value), key=lambda x: x[0])
    return best[0], best[1]


def _report(name: str, n: int, mb: float, t_direct: float, t_hf: float, extra: str) -> float:
    ratio = t_direct / t_hf
    print(
        f"{name}: {n} items, {mb:.1f} MB encoded\n"
        f"  direct files   {t_direct:7.2f} s  {n / t_direct:9.1f} items/s\n"
        f"  datasets       {t_hf:7.2f} s  {n / t_hf:9.1f} items/s\n{extra}"
        f"  ratio {ratio:.2f}× (goal ≥ 0.8×) {'OK' if ratio >= 0.8 else 'BELOW GOAL'}"
    )
    return ratio


def bench_lifs(build: Path, hf: Path, cache: Path) -> None:
    import nibabel as nib

    subjects = pq.read_table(build / "subjects.parquet").to_pylist()
    paths = [build / s[f"volume_{q}"] for s in subjects for q in SEQS if s[f"volume_{q}"]]
    mb = sum(p.stat().st_size for p in paths) / 1e6
    for p in paths:  # warm the page cache
        p.read_bytes()
    t0 = time.perf_counter()
    ds = load_lifs(hf, "contrast", cache_dir=str(cache))
    t_prepare = time.perf_counter() - t0

    def direct() -> float:
        return sum(float(np.asanyarray(nib.load(p).dataobj).sum()) for p in paths)

    def via_datasets() -> float:
        total = 0.0
        for split in ds.values():
            for row in split:
                total += sum(float(np.asanyarray(row[q].dataobj).sum()) for q in SEQS if row[q])
        return total

    (t_direct, total_direct), (t_hf, total_hf) = _alternate(direct, via_datasets)
    assert total_hf == total_direct, "decoded volumes differ"
    t0 = time.perf_counter()
    stream = load_lifs(hf, "contrast", streaming=True)
    n_stream = sum(
        sum(1 for q in SEQS if row[q] is not None and np.asanyarray(row[q].dataobj).size)
        for split in stream.values()
        for row in split
    )
    t_stream = time.perf_counter() - t0
    assert n_stream == len(paths)
    extra = (
        f"  (load_dataset preparation, once: {t_prepare:.2f} s; "
        f"streaming decode: {t_stream:.2f} s, ratio {t_direct / t_stream:.2f}×)\n"
    )
    _report("lifs volumes", len(paths), mb, t_direct, t_hf, extra)


def bench_hepatobench(build: Path, raw: Path, hf: Path, cache: Path) -> None:
    from PIL import Image

    curated = pq.read_table(build / "curated.parquet").to_pylist()
    paths = [(build if r["x"] is not None else raw) / r["path"] for r in curated]
    mb = sum(p.stat().st_size for p in paths) / 1e6
    for p in paths:
        p.read_bytes()

    def decode(img: Image.Image) -> int:
        img.load()
        return img.size[0]

    t0 = time.perf_counter()
    ds = load_hepatobench(hf, cache_dir=str(cache))
    t_prepare = time.perf_counter() - t0
    (t_direct, n_direct), (t_hf, n_hf) = _alternate(
        lambda: sum(decode(Image.open(p)) > 0 for p in paths),
        lambda: sum(decode(row["image"]) > 0 for split in ds.values() for row in split),
    )
    assert n_hf == n_direct == len(paths)
    t0 = time.perf_counter()
    stream = load_hepatobench(hf, streaming=True)
    n_stream = sum(decode(row["image"]) > 0 for split in stream.values() for row in split)
    t_stream = time.perf_counter() - t0
    assert n_stream == len(paths)
    extra = (
        f"  (load_dataset preparation, once: {t_prepare:.2f} s; "
        f"streaming decode: {t_stream:.2f} s, ratio {t_direct / t_stream:.2f}×)\n"
    )
    _report("hepatobench patches", len(paths), mb, t_direct, t_hf, extra)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lifs-copies", type=int, default=4)
    ap.add_argument("--shape", type=int, nargs=3, default=(192, 192, 48))
    ap.add_argument("--hb-copies", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_load_") as tmp:
        root = Path(tmp)
        lifs = make_fake_lifs_build(root / "lifs", shape=tuple(args.shape))
        replicate_lifs(lifs.build, args.lifs_copies)
        hb = make_fake_hepatobench_build(root / "hb", per_class=105, size=150)
        replicate_hepatobench(hb.build, hb.raw_root, args.hb_copies)
        publish_build(build=lifs.build, out=root / "hf_lifs")
        publish_build(build=hb.build, out=root / "hf_hb")
        bench_lifs(lifs.build, root / "hf_lifs", root / "cache")
        bench_hepatobench(hb.build, hb.raw_root, root / "hf_hb", root / "cache")


if __name__ == "__main__":
    main()
