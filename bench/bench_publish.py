"""Publish throughput against `cp -r` of the same bytes (goal: ≥ 0.5×).

Makes a fake LiFS build (NIfTI volumes) and a fake HepatoBench build (PNG/JPEG patches),
times `publish_build` on each and `cp -r` of the curated files it embeds, and prints the
throughput ratio: (bytes published / publish time) / (bytes copied / cp time). Both runs see
warm page caches (the files were just written); each cp copy is deleted right after it is
timed, so that no run is timed while gigabytes of an earlier copy are written back to disk.

    .venv/bin/python bench/bench_publish.py [--lifs-copies 8] [--hb-copies 40] [--workers N]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hepatokit.publish import publish_build
from tests.fixtures.builds import make_fake_hepatobench_build, make_fake_lifs_build


def replicate_lifs(build: Path, times: int) -> None:
    """Scale a fake LiFS build: ``times`` copies of every subject (hard-linked volumes)."""
    subjects = pq.read_table(build / "subjects.parquet").to_pylist()
    split_of = {r["id"]: r["split"] for r in pq.read_table(build / "splits.parquet").to_pylist()}
    rows, splits = [], []
    for k in range(times):
        for s in subjects:
            sid = s["subject_id"] if k == 0 else f"{s['subject_id'][:12]}{k:04x}"
            new = dict(s, subject_id=sid)
            for key, rel in s.items():
                if (key.startswith("volume_") or key == "mask_GED4") and rel and k:
                    target = rel.replace(s["subject_id"], sid)
                    (build / target).parent.mkdir(parents=True, exist_ok=True)
                    for ext in (".nii.gz", ".json", ".bval"):
                        src = build / rel.replace(".nii.gz", ext)
                        if src.is_file():
                            (build / target.replace(".nii.gz", ext)).hardlink_to(src)
                    new[key] = target
            rows.append(new)
            splits.append({"id": sid, "group": sid, "split": split_of[s["subject_id"]]})
    schema = pq.read_schema(build / "subjects.parquet")
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), build / "subjects.parquet")
    pq.write_table(pa.Table.from_pylist(splits), build / "splits.parquet")


def replicate_hepatobench(build: Path, raw: Path, times: int) -> None:
    """Scale a fake HepatoBench build: ``times`` copies of every patch (hard links)."""
    curated = pq.read_table(build / "curated.parquet").to_pylist()
    split_of = {r["id"]: r["split"] for r in pq.read_table(build / "splits.parquet").to_pylist()}
    rows, splits = [], []
    for k in range(times):
        for r in curated:
            new = dict(r)
            if k:
                base = build if r["x"] is not None else raw
                new["id"] = f"{r['id'][:12]}{k:04x}"
                new["path"] = f"{r['path']}.{k}{Path(r['path']).suffix}"
                (base / new["path"]).hardlink_to(base / r["path"])
                if r["x"] is not None:
                    new["x"] = r["x"] + 1000 * k
            rows.append(new)
            splits.append({"id": new["id"], "group": r["slide_id"], "split": split_of[r["id"]]})
    pq.write_table(pa.Table.from_pylist(rows), build / "curated.parquet")
    pq.write_table(pa.Table.from_pylist(splits), build / "splits.parquet")


def _size(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def _cp(src: Path, dst: Path) -> float:
    """Time ``cp -r src dst``, then delete the copy: it would otherwise stay in the page cache
    as gigabytes of dirty pages, written back while the next run is timed."""
    t0 = time.perf_counter()
    subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
    elapsed = time.perf_counter() - t0
    shutil.rmtree(dst)
    return elapsed


def bench(name: str, build: Path, sources: list[Path], workers: int | None) -> float:
    src_bytes = _size(sources)
    staging = build.parent / f"{name}_cp_src"
    staging.mkdir()
    for i, p in enumerate(sources):  # the same bytes in one folder tree for cp -r
        (staging / f"{i}{''.join(p.suffixes)}").hardlink_to(p)
    t_cp = min(_cp(staging, build.parent / f"{name}_cp_{k}") for k in range(2))
    out = build.parent / f"{name}_hf"
    t0 = time.perf_counter()
    result = publish_build(build=build, out=out, workers=workers)
    t_pub = time.perf_counter() - t0
    shards = [out / f for f in result.files if f.endswith(".parquet")]
    pub_bytes = _size(shards)
    thr_cp, thr_pub = src_bytes / t_cp / 1e6, pub_bytes / t_pub / 1e6
    ratio = thr_pub / thr_cp
    print(
        f"{name}: {len(sources)} files, {src_bytes / 1e6:.1f} MB curated → "
        f"{pub_bytes / 1e6:.1f} MB parquet ({sum(result.counts[c][s] for c in result.counts for s in result.counts[c])} rows)\n"  # noqa: E501
        f"  cp -r      {t_cp:7.2f} s  {thr_cp:8.1f} MB/s\n"
        f"  publish    {t_pub:7.2f} s  {thr_pub:8.1f} MB/s  (shards + card + croissant + checksums)\n"  # noqa: E501
        f"  ratio {ratio:.2f}× (goal ≥ 0.5×) {'OK' if ratio >= 0.5 else 'BELOW GOAL'}"
    )
    return ratio


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lifs-copies", type=int, default=8, help="copies of the 11 fake subjects")
    ap.add_argument("--shape", type=int, nargs=3, default=(192, 192, 48))
    ap.add_argument("--hb-copies", type=int, default=40, help="copies of the 739 fake patches")
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_publish_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        lifs = make_fake_lifs_build(root / "lifs", shape=tuple(args.shape))
        replicate_lifs(lifs.build, args.lifs_copies)
        hb = make_fake_hepatobench_build(root / "hb", per_class=105, size=150)
        replicate_hepatobench(hb.build, hb.raw_root, args.hb_copies)
        print(f"fixtures written in {time.perf_counter() - t0:.1f} s")
        vols = sorted((lifs.build / "volumes").rglob("*.nii.gz"))
        curated = pq.read_table(hb.build / "curated.parquet").to_pylist()
        patches = [(hb.build if p["x"] is not None else hb.raw_root) / p["path"] for p in curated]
        bench("lifs", lifs.build, vols, args.workers)
        bench("hepatobench", hb.build, patches, args.workers)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
