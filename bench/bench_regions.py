"""Region model benchmark: held-out IoU, training windows/s, sliding-window vs forward-only.

    python bench/bench_regions.py [--train 8] [--test 4] [--extra-train 0] [--epochs 16]
                                 [--window 96] [--seed 0]

1. ``--train + --test + --extra-train`` synthetic 20× slides (3000×2400, seed 11; each slide is
   drawn from its own index, so the first ``--train + --test`` are the same whatever
   ``--extra-train`` is); a ``builtin:seg-cnn`` model trained on the first ``--train`` and the
   last ``--extra-train`` (1.25×, ``--window`` px windows, ``--epochs`` × 256 windows, one
   thread); tumor IoU of the held-out slides (``--train + 1`` … ``--train + --test``, never
   trained on) (GeoJSON vs planted polygon, as
   ``evaluate regions`` scores it) next to a reference from the planted layout (planted tile
   classes, TUM/NEC tumor, NOR/STE/REA non-tumor, FIB/INF by a 5×5-tile vote).
2. Sliding window over a 4×4 mosaic of the held-out slides (overlap 0.5, Gaussian blend,
   batch 16): windows/s of ``predict_logits`` (crop + DataLoader + blend) against the model's
   forward-only rate on the same windows, pre-cropped, same batches.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def oracle_iou(truth: dict, names: list[str]) -> float:
    from scipy import ndimage

    inter = union = 0
    for s in truth["slides"]:
        if s["name"] not in names:
            continue
        g = s["grid"]
        cls = np.full((g["rows"], g["cols"]), "", object)
        reg = np.zeros(cls.shape, bool)
        for t in s["tiles"]:
            cls[t["row"], t["col"]] = t["class"]
            reg[t["row"], t["col"]] = t["region"] == "tumor"
        tum = np.isin(cls, ["TUM", "NEC"]).astype(float)
        non = np.isin(cls, ["NOR", "STE", "REA"]).astype(float)
        k = np.ones((5, 5))
        vote = ndimage.convolve(tum, k, mode="constant") > ndimage.convolve(non, k, mode="constant")
        pred = (tum > 0) | ((cls != "") & (tum == 0) & (non == 0) & vote)
        inter += int((pred & reg).sum())
        union += int((pred | reg).sum())
    return inter / union


def main() -> None:
    import torch

    from hepatokit.quant import evaluate_regions
    from hepatokit.quant.segment import load_region_model, read_slide_image
    from hepatokit.quant.segment.predict import predict_regions
    from hepatokit.quant.segment.train import train_region_model
    from hepatokit.quant.segment.window import normalise, predict_logits, window_origins
    from hepatokit.synthetic.wsi import generate_wsis

    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=8)
    ap.add_argument("--test", type=int, default=4)
    ap.add_argument("--extra-train", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=16)
    ap.add_argument("--window", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0, help="training seed (windows, init)")
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    work = Path(a.workdir or tempfile.mkdtemp(prefix="bench-regions-"))
    t0 = time.perf_counter()
    n_slides = a.train + a.test + a.extra_train
    truth_file = work / "raw" / "truth.json"
    if not (truth_file.is_file() and len(json.loads(truth_file.read_text())["slides"]) == n_slides):
        # (a --workdir already holding the same slide set is reused)
        generate_wsis(work / "raw", slides=n_slides, seed=11, workers=2, mpps=(0.5,),
                      bad_slides=False)  # fmt: skip
    print(f"synth: {time.perf_counter() - t0:.1f} s")
    slides = sorted((work / "raw" / "slides").iterdir())
    train = slides[: a.train] + slides[a.train + a.test :]
    test = slides[a.train : a.train + a.test]
    rec = train_region_model(slides=train, annotations=work / "raw" / "annotations",
                             out=work / "model", epochs=a.epochs, windows_per_epoch=256,
                             batch_size=32, window=a.window, validation_fraction=0.0,
                             device="cpu", threads=a.threads, seed=a.seed)  # fmt: skip
    print(f"training: {rec['train_seconds']} s, {rec['train_windows_per_s']} windows/s "
          f"({a.epochs * 256} windows of {a.window} px)")  # fmt: skip
    predict_regions(test, model=work / "model", out=work / "pred", device="cpu",
                    threads=a.threads)  # fmt: skip
    truth_dir, pred_dir = work / "truth", work / "pred_geo"
    truth_dir.mkdir(exist_ok=True)
    pred_dir.mkdir(exist_ok=True)
    for s in test:
        (truth_dir / f"{s.stem}.geojson").write_bytes(
            (work / "raw" / "annotations" / f"{s.stem}.geojson").read_bytes()
        )
        geo = (work / "pred" / f"{s.stem}.geojson").read_bytes()
        (pred_dir / f"{s.stem}.geojson").write_bytes(geo)
    res = evaluate_regions(pred=pred_dir, truth=truth_dir, n_resamples=500)
    per = {k: round(v.iou, 3) for k, v in res.per_slide.items()}
    ci = res.ci["tumor"]["iou"]
    truth = json.loads((work / "raw" / "truth.json").read_text())
    ceiling = oracle_iou(truth, [s.stem for s in test])
    print(f"held-out tumor IoU pooled {res.overall.iou:.3f} [{ci.low:.3f}, {ci.high:.3f}], "
          f"per slide {per}; planted tile classes + vote {ceiling:.3f}")  # fmt: skip

    model, spec = load_region_model(work / "model")
    imgs = [read_slide_image(s, model_mpp=spec.model_mpp) for s in test]
    h = min(i.image.shape[0] for i in imgs)
    w = min(i.image.shape[1] for i in imgs)
    tiles = [i.image[:h, :w] for i in imgs]
    row = [np.concatenate([tiles[(r + c) % len(tiles)] for c in range(4)], 1) for r in range(4)]
    mosaic = np.concatenate(row, 0)
    tissue = np.ones(mosaic.shape[:2], bool)
    origins = window_origins(*mosaic.shape[:2], spec.window, 0.5)
    crops = torch.from_numpy(np.stack([mosaic[y : y + spec.window, x : x + spec.window]
                                       for y, x in origins])).permute(0, 3, 1, 2)  # fmt: skip
    for rnd in range(3):
        t = time.perf_counter()
        with torch.inference_mode():
            for b in range(0, len(crops), 16):
                model(normalise(crops[b : b + 16]))
        fwd = len(crops) / (time.perf_counter() - t)
        t = time.perf_counter()
        _, n = predict_logits(model, mosaic, tissue, window=spec.window, overlap=0.5)
        sw = n / (time.perf_counter() - t)
        print(f"round {rnd}: mosaic {mosaic.shape[1]}×{mosaic.shape[0]} px, {n} windows: "
              f"sliding window {sw:.1f} windows/s, forward-only {fwd:.1f} windows/s → "
              f"{sw / fwd:.2f}×")  # fmt: skip


if __name__ == "__main__":
    main()
