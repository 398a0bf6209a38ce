"""HepatoQuant with a real classifier: a linear head trained on the demo patches.

The head is trained as ``hepatokit demo`` trains HepatoQuant's: the demo patch set is
curated (QC, dedup) and split by slide, and the head is fitted on train + validation with
the built-in encoder and class-balanced weights (REA is ~1 % of the patches).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

CLASSES = ("TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE")


@pytest.mark.slow
def test_trained_head_proportions_within_5_points(demo_patches, wsi_raw, tmp_path, monkeypatch):
    # one fixed de-identification key, as a curator keeps one per dataset: the build's slide
    # pseudonyms are then the same on every run (the split itself does not depend on the key)
    monkeypatch.setenv("HEPATOKIT_DEID_KEY", "trained-head-test-" + "7" * 46)
    from hepatokit.baselines import (
        ProbeSettings,
        embed_images,
        load_encoder,
        save_head,
        train_linear_probe,
    )
    from hepatokit.contracts.items import raw_patch_paths
    from hepatokit.pipelines.dataset import build_dataset
    from hepatokit.quant import ProbeTileClassifier, quantify_slide

    build = tmp_path / "build"
    build_dataset(recipe="hepatobench", raw=demo_patches / "patches", out=build, workers=2)
    curated = pq.read_table(build / "curated.parquet").to_pylist()
    splits = dict(zip(*pq.read_table(build / "splits.parquet", columns=["id", "split"])
                      .to_pydict().values(), strict=True))  # fmt: skip
    train = [r for r in curated if splits.get(r["id"]) in ("train", "validation")]
    raw_path = raw_patch_paths(build)  # the build's tables name patches neutrally
    images = [np.asarray(Image.open(demo_patches / "patches" / raw_path[r["id"]]).convert("RGB"))
              for r in train]  # fmt: skip
    labels = np.array([CLASSES.index(r["class"]) for r in train])
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
