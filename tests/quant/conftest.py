"""Region-model fixtures (session-scoped): tiny synthetic slides and one trained model.

``region_slides`` → ``generate_wsis(out, slides=6, seed=3, mpps=(0.5,), size_20x=(2400, 1800))``:
six 20× slides (16×12 tiles of 150 px) with planted tumor polygons; slides 1–4 train the
model, 5–6 are held out. ``region_model`` → a ``builtin:seg-cnn`` model trained on slides 1–4
at 8 µm/px (1.25×), 64 px windows, 10 × 256 windows, one CPU thread (about 15–30 s).
"""

from __future__ import annotations

from pathlib import Path

import pytest

TRAIN = ("wsi-001", "wsi-002", "wsi-003", "wsi-004")
HELD_OUT = ("wsi-005", "wsi-006")


def slide_file(root: Path, name: str) -> Path:
    (path,) = [p for p in (root / "slides").iterdir() if p.stem == name]
    return path


@pytest.fixture(scope="session")
def region_slides(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hepatokit.synthetic.wsi import generate_wsis

    out = tmp_path_factory.mktemp("region_slides")
    generate_wsis(out, slides=6, seed=3, workers=2, mpps=(0.5,), size_20x=(2400, 1800),
                  bad_slides=False)  # fmt: skip
    return out


@pytest.fixture(scope="session")
def region_model(region_slides: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hepatokit.quant.segment.train import train_region_model

    out = tmp_path_factory.mktemp("region_model")
    train_region_model(
        slides=[slide_file(region_slides, n) for n in TRAIN],
        annotations=region_slides / "annotations",
        out=out,
        epochs=10,
        windows_per_epoch=256,
        batch_size=32,
        window=64,
        validation_fraction=0.0,
        hepatobench_slides=["wsi-001"],
        device="cpu",
        threads=1,
    )
    return out


@pytest.fixture(scope="session")
def held_out_predictions(region_slides: Path, region_model: Path, tmp_path_factory) -> Path:
    from hepatokit.quant.segment.predict import predict_regions

    out = tmp_path_factory.mktemp("region_predictions")
    predict_regions([slide_file(region_slides, n) for n in HELD_OUT], model=region_model,
                    out=out, device="cpu", threads=1)  # fmt: skip
    return out
