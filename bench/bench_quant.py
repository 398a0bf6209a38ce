"""HepatoQuant throughput: tiles/s of the whole pipeline on a synthetic 40x slide.

Whole pipeline = tissue detection + tile planning + reading each 300 px level-0 tile and
resizing it to 150 px + embedding with the frozen encoder + the linear head + composition +
figures. References measured in the same process on the same tiles:
  - tile reading alone (OpenSlide read_region + resize), the I/O floor;
  - encoder forward-only throughput on in-memory tensors, the compute floor.
The pipeline cannot beat the slower of the two; the ratio to that floor is the figure.

    python bench/bench_quant.py [--size 20000 15000] [--device cpu|cuda] [--batch 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=int, nargs=2, default=(16000, 12000), metavar=("W", "H"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--encoder", default="builtin:tiny-cnn")
    args = ap.parse_args()

    import torch

    from hepatokit.baselines import LinearHead, load_encoder, save_head, select_device
    from hepatokit.curation.patho import tile_slide
    from hepatokit.quant import ProbeTileClassifier, QuantSettings, quantify_slide
    from hepatokit.synthetic import generate_wsis

    work = Path(__file__).resolve().parent / "_work" / f"quant_{args.size[0]}x{args.size[1]}"
    t0 = time.perf_counter()
    if not (work / "wsi" / "truth.json").is_file():  # the slide is reused between runs
        generate_wsis(work / "wsi", slides=1, seed=0, workers=1, size_40x=tuple(args.size),
                      bad_slides=False)  # fmt: skip
    slide = sorted((work / "wsi" / "slides").glob("*.tif"))[0]
    geojson = work / "wsi" / "annotations" / f"{slide.stem}.geojson"
    print(f"slide {slide.name} {args.size[0]}x{args.size[1]} at 40x ready in "
          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip

    plan = select_device(args.device)
    encoder = load_encoder(args.encoder, device=str(plan.device))
    head = LinearHead(weight=np.zeros((7, encoder.feature_dim), np.float32),
                      bias=np.zeros(7, np.float32),
                      classes=("TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE"),
                      encoder_spec=args.encoder, encoder_identity=encoder.identity)  # fmt: skip
    head_path = save_head(head, work / "head.npz")

    # reference 1: reading the tiles alone
    with tile_slide(slide) as tiling:
        xy = list(zip(tiling.table.column("x").to_pylist(), tiling.table.column("y").to_pylist(),
                      strict=True))  # fmt: skip
        t0 = time.perf_counter()
        tiles = [tiling.read_tile(x, y) for x, y in xy]
        read_s = time.perf_counter() - t0
    n = len(tiles)
    read_rate = n / read_s

    # reference 2: encoder forward-only on in-memory, preprocessed tensors
    batch = torch.stack([encoder.preprocess(t) for t in tiles[: args.batch]]).to(plan.device)
    with torch.inference_mode():
        encoder.embed(batch)  # warm-up
        t0 = time.perf_counter()
        done = 0
        while done < n:
            encoder.embed(batch)
            done += len(batch)
        if str(plan.device).startswith("cuda"):
            torch.cuda.synchronize()
        fwd_rate = done / (time.perf_counter() - t0)

    # the whole pipeline
    clf = ProbeTileClassifier(args.encoder, head_path, args.device, batch_size=args.batch)
    t0 = time.perf_counter()
    report = quantify_slide(slide, classifier=clf, regions=geojson,
                            out=Path(tempfile.mkdtemp(prefix="bench_quant_")),
                            settings=QuantSettings(batch_size=args.batch))  # fmt: skip
    pipe_s = time.perf_counter() - t0
    pipe_rate = report["n_tiles"] / pipe_s
    floor = 1 / (1 / read_rate + 1 / fwd_rate)  # reading and embedding done one after the other
    print(f"tiles: {n}  device: {plan.device}  encoder: {args.encoder}")
    print(f"tile read only        : {read_rate:8.1f} tiles/s")
    print(f"encoder forward only  : {fwd_rate:8.1f} tiles/s")
    print(f"read + forward (serial floor): {floor:8.1f} tiles/s")
    print(f"whole pipeline        : {pipe_rate:8.1f} tiles/s ({pipe_s:.1f} s)")
    print(f"ratio pipeline / serial floor: {pipe_rate / floor:.2f}")


if __name__ == "__main__":
    main()
