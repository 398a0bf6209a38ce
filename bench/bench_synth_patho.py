"""Synthetic histology generation speed and pHash calibration figures (issue 2, item 9).

Prints:
- wall / CPU time, files/s and peak RSS of ``generate_patches(patches=N)`` (goal: 2000 in
  < 60 s on 2 cores; 140000 must stream: peak RSS flat in N), ratio = wall / goal;
- per-file cost split: texture render, PNG encode (the bare-encoding reference), write;
- with ``--phash``: nearest-neighbour pHash distances between distinct clean patches and the
  planted near-duplicate distances (what the dedup radius must separate);
- ``generate_wsis`` default set (goal < 15 s), and with ``--big W`` one 40× slide W×0.75W.

Run: ``.venv/bin/python bench/bench_synth_patho.py [--patches 2000] [--workers 2] [--phash]
[--big 20000] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_mib() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids


def per_file_costs(n: int = 200) -> dict[str, float]:
    from hepatokit.synthetic.patho import plan_patches
    from hepatokit.synthetic.patho_planted import _render, encode

    specs = [s for s in plan_patches(2000, 0) if s.kind == "clean"][:n]
    t = time.perf_counter()
    imgs = [_render(s) for s in specs]
    t_render = time.perf_counter() - t
    t = time.perf_counter()
    blobs = [encode(i, "PNG") for i in imgs]
    t_encode = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        for k, b in enumerate(blobs):
            (Path(tmp) / f"{k}.png").write_bytes(b)
        t_write = time.perf_counter() - t
    return {k: v / n * 1e3 for k, v in
            {"render": t_render, "encode": t_encode, "write": t_write}.items()}  # fmt: skip


def phash_figures(root: Path) -> None:
    import imagehash
    from PIL import Image

    truth = json.loads((root / "truth.json").read_text())
    files = {f["path"]: f for f in truth["files"]}
    clean = [p for p, f in files.items() if f["kind"] == "clean"]
    bits = []
    for p in clean:
        with Image.open(root / "patches" / p) as img:
            bits.append(np.packbits(imagehash.phash(img.convert("RGB")).hash.ravel()))
    words = np.array(bits).view(">u8").ravel()
    nearest = np.full(len(words), 64)
    for i in range(0, len(words), 2048):
        x = np.bitwise_count(words[i : i + 2048, None] ^ words[None, :])
        rows = np.arange(x.shape[0])
        x[rows, i + rows] = 64
        nearest[i : i + 2048] = x.min(1)
    near = [files[d]["params"]["phash_distance"] for d, _ in truth["near_dup_pairs"]]
    print(f"  clean patches: {len(clean)}; nearest-neighbour pHash distance "
          f"min {nearest.min()}, p0.1 {np.percentile(nearest, 0.1):.0f}, "
          f"p1 {np.percentile(nearest, 1):.0f}, p5 {np.percentile(nearest, 5):.0f}, "
          f"median {np.median(nearest):.0f}")  # fmt: skip
    hist = np.bincount(nearest, minlength=25)[:25]
    print(f"  NN histogram d=0..24: {hist.tolist()}")
    print(f"  near duplicates: {len(near)}; distance histogram d=0..8: "
          f"{np.bincount(near, minlength=9).tolist()}")  # fmt: skip
    for r in (6, 8, 10, 12):
        print(f"  radius {r:2d}: clean patches with a distinct neighbour within it: "
              f"{int((nearest <= r).sum())} ({(nearest <= r).mean():.3%}); "
              f"near-dup recall {np.mean(np.array(near) <= r):.1%}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patches", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--phash", action="store_true")
    ap.add_argument("--big", type=int, default=0, help="width of an extra 40x slide")
    ap.add_argument("--skip-wsi", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="keep the output here")
    args = ap.parse_args()

    from hepatokit.synthetic import generate_patches, generate_wsis

    costs = per_file_costs()
    print("per clean file (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in costs.items()))
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "patho"
        c, t = _cpu(), time.perf_counter()
        summary = generate_patches(out, patches=args.patches, seed=0, workers=args.workers)
        wall, cpu = time.perf_counter() - t, _cpu() - c
        own, kids = _peak_mib()
        goal = 60.0 * args.patches / 2000
        print(f"generate_patches(patches={args.patches}, workers={args.workers}): "
              f"{summary.files} files, wall {wall:.1f} s, CPU {cpu:.1f} s, "
              f"{summary.files / wall:.0f} files/s; peak RSS main {own:.0f} MiB, "
              f"largest worker {kids:.0f} MiB; ratio to goal ({goal:.0f} s, i.e. 2000 in 60 s) "
              f"{wall / goal:.2f}")  # fmt: skip
        if args.phash:
            phash_figures(out)
        if not args.skip_wsi:
            c, t = _cpu(), time.perf_counter()
            generate_wsis(Path(tmp) / "wsi", slides=2, seed=0, workers=args.workers)
            wall, cpu = time.perf_counter() - t, _cpu() - c
            print(f"generate_wsis(slides=2) default set: wall {wall:.1f} s, CPU {cpu:.1f} s; "
                  f"ratio to goal (15 s) {wall / 15:.2f}")  # fmt: skip
        if args.big:
            size = (args.big, args.big * 3 // 4)
            c, t = _cpu(), time.perf_counter()
            generate_wsis(Path(tmp) / "big", slides=1, seed=0, workers=1, size_40x=size,
                          bad_slides=False)  # fmt: skip
            wall, cpu = time.perf_counter() - t, _cpu() - c
            mib = (Path(tmp) / "big" / "slides" / "wsi-001.tif").stat().st_size / 2**20
            rss = max(_peak_mib())
            print(f"generate_wsis one 40x slide {size[0]}x{size[1]}: wall {wall:.1f} s, "
                  f"CPU {cpu:.1f} s, {mib:.0f} MiB file, peak RSS {rss:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
