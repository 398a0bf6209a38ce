"""HepatoQuant with a real classifier: a linear head trained on the demo patches."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

CLASSES = ("TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE")


@pytest.mark.slow
@pytest.mark.xfail(
    reason="issue 8 open: with the built-in random-init tiny CNN the worst region is at "
    "5.05 pp (REA, 1 % of the patches, is mistaken for FIB on 5 of 35 tiles); a pretrained "
    "encoder is expected to pass",
    strict=False,
)
def test_trained_head_proportions_within_5_points(demo_patches, wsi_raw, tmp_path):
    from hepatokit.baselines import (
        ProbeSettings,
        embed_images,
        load_encoder,
        save_head,
        train_linear_probe,
    )
    from hepatokit.quant import ProbeTileClassifier, quantify_slide

    truth = json.loads((demo_patches / "truth.json").read_text())
    clean = [f for f in truth["files"] if f["kind"] == "clean"]
    images = [np.asarray(Image.open(demo_patches / "patches" / f["path"]).convert("RGB"))
              for f in clean]  # fmt: skip
    labels = np.array([CLASSES.index(f["class"]) for f in clean])
    encoder = load_encoder("builtin:tiny-cnn")
    head = train_linear_probe(
        embed_images(encoder, images), labels, classes=CLASSES,
        encoder_spec=encoder.spec, encoder_identity=encoder.identity,
        settings=ProbeSettings(class_weight="balanced"),
    )  # fmt: skip
    classifier = ProbeTileClassifier(encoder.spec, save_head(head, tmp_path / "head.npz"), "cpu")
    slides = json.loads((wsi_raw / "truth.json").read_text())["slides"]
    worst = 0.0
    for slide in (s for s in slides if s["kind"] == "ok"):
        report = quantify_slide(wsi_raw / slide["file"], classifier=classifier,
                                regions=wsi_raw / slide["annotation"],
                                out=tmp_path / slide["name"])  # fmt: skip
        for region in ("tumor", "non_tumor"):
            got = report["regions"][region]["proportion_by_count"]
            want = slide["proportions"][region]
            worst = max(worst, *(abs(got[c] - want.get(c, 0.0)) for c in CLASSES))
    assert worst <= 0.05, f"largest per-class error {worst:.3f}"
