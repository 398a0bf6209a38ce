"""Foundation encoders as their model cards say (no download: HF_HUB_OFFLINE in conftest).

The expected values are copied from each model card on the Hugging Face Hub (the
``timm.create_model`` call, the pooling and the transform the card shows), not from
hepatokit's table.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
from PIL import Image

from hepatokit.baselines.encoders import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocess,
    card_model,
    load_encoder,
)
from hepatokit.errors import DataFormatError, DependencyMissingError

UNI2_H_CARD = {
    "img_size": 224, "patch_size": 14, "depth": 24, "num_heads": 24, "init_values": 1e-5,
    "embed_dim": 1536, "mlp_ratio": 2.66667 * 2, "num_classes": 0, "no_embed_class": True,
    "mlp_layer": "SwiGLUPacked", "act_layer": "SiLU", "reg_tokens": 8, "dynamic_img_size": True,
}  # fmt: skip
H_OPTIMUS_MEAN = (0.707223, 0.578729, 0.703617)
H_OPTIMUS_STD = (0.211883, 0.230117, 0.177517)

#: spec as written on the card → (loader, create_model kwargs, pooling, skip, dim,
#: (size, resize, interpolation, mean, std))
CARDS = {
    "hf:MahmoodLab/uni": ("timm", {"init_values": 1e-5, "dynamic_img_size": True}, "model", 1,
                          1024, (224, None, "bilinear", IMAGENET_MEAN, IMAGENET_STD)),
    "hf:MahmoodLab/UNI2-h": ("timm", UNI2_H_CARD, "model", 1, 1536,
                             (224, None, "bilinear", IMAGENET_MEAN, IMAGENET_STD)),
    "hf:paige-ai/Virchow": ("timm", {"mlp_layer": "SwiGLUPacked", "act_layer": "SiLU"},
                            "cls+mean", 1, 2560,
                            (224, 224, "bicubic", IMAGENET_MEAN, IMAGENET_STD)),
    "hf:paige-ai/Virchow2": ("timm", {"mlp_layer": "SwiGLUPacked", "act_layer": "SiLU"},
                             "cls+mean", 5, 2560,
                             (224, 224, "bicubic", IMAGENET_MEAN, IMAGENET_STD)),
    "hf:prov-gigapath/prov-gigapath": ("timm", {}, "model", 1, 1536,
                                       (224, 256, "bicubic", IMAGENET_MEAN, IMAGENET_STD)),
    "hf:bioptimus/H-optimus-0": ("timm", {"init_values": 1e-5, "dynamic_img_size": False},
                                 "model", 1, 1536,
                                 (224, None, "bilinear", H_OPTIMUS_MEAN, H_OPTIMUS_STD)),
    "hf:owkin/phikon": ("transformers", {}, "cls", 1, 768,
                        (224, None, "bilinear", IMAGENET_MEAN, IMAGENET_STD)),
    "hf:owkin/phikon-v2": ("transformers", {}, "cls", 1, 1024,
                           (224, None, "bilinear", IMAGENET_MEAN, IMAGENET_STD)),
    "hf:MahmoodLab/conchv1_5": ("titan", {}, "model", 1, 768,
                                (448, 448, "bicubic", IMAGENET_MEAN, IMAGENET_STD)),
}  # fmt: skip


def test_tests_run_offline():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


@pytest.mark.parametrize("spec", sorted(CARDS))
def test_card_arguments_pooling_dimension_and_preprocessing(spec):
    loader, kwargs, pooling, skip, dim, (size, resize, interp, mean, std) = CARDS[spec]
    card = card_model(spec.split(":", 1)[1])
    assert card is not None
    assert (card.loader, card.kwargs, card.pooling, card.dim) == (loader, kwargs, pooling, dim)
    if pooling == "cls+mean":
        assert card.skip == skip
    pre = Preprocess(**card.preprocess)
    assert (pre.size, pre.resize, pre.interpolation) == (size, resize, interp)
    assert pre.mean == pytest.approx(mean) and pre.std == pytest.approx(std)


@pytest.mark.parametrize(
    ("name", "repo"),
    [("MahmoodLab/uni", "MahmoodLab/UNI"), ("mahmoodlab/UNI2-H", "MahmoodLab/UNI2-h"),
     ("PAIGE-AI/virchow2", "paige-ai/Virchow2"), ("UNI2-h", "MahmoodLab/UNI2-h"),
     ("/models/H-optimus-0/", "bioptimus/H-optimus-0")],
)  # fmt: skip
def test_names_match_case_insensitively(name, repo):
    card = card_model(name)
    assert card is not None and card.repo == repo
    assert card_model("MahmoodLab/unknown") is None


def test_crop_pct_resize_then_centre_crop_as_timm_does():
    """timm's eval transform: shorter side to floor(size / crop_pct), centre crop to size."""
    pre = Preprocess.from_data_config(
        {"input_size": (3, 224, 224), "interpolation": "bicubic", "crop_pct": 0.875,
         "crop_mode": "center", "mean": (0.1, 0.2, 0.3), "std": (0.4, 0.5, 0.6)}
    )  # fmt: skip
    assert pre.resize == math.floor(224 / 0.875) == 256
    assert (pre.size, pre.interpolation, pre.mean) == (224, "bicubic", (0.1, 0.2, 0.3))


@pytest.mark.parametrize(("w", "h"), [(300, 300), (320, 280)])
def test_bicubic_resize_and_crop_match_pillow(w, h):
    """The tensor pipeline equals PIL's Resize(256, BICUBIC) + CenterCrop(224) to ±2 levels."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 / w, yy * 255 / h, 128 + 100 * np.sin((xx + 2 * yy) / 9)], -1)
    img = (img + rng.normal(0, 3, img.shape)).clip(0, 255).astype(np.uint8)
    pre = Preprocess(size=224, resize=256, interpolation="bicubic")
    ours = pre.prepare(img).permute(1, 2, 0).numpy().astype(int)
    short = min(w, h)
    pil = Image.fromarray(img).resize(
        (round(w * 256 / short), round(h * 256 / short)), Image.Resampling.BICUBIC
    )
    left, top = round((pil.width - 224) / 2), round((pil.height - 224) / 2)
    ref = np.asarray(pil.crop((left, top, left + 224, top + 224))).astype(int)
    assert ours.shape == ref.shape == (224, 224, 3)
    diff = np.abs(ours - ref)
    assert diff.max() <= 3 and diff.mean() < 0.5


def test_default_preprocessing_identity_is_unchanged():
    """Cached embeddings key on describe(): the plain resize keeps its old description."""
    assert Preprocess(size=64).describe() == {
        "size": 64, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)
    }  # fmt: skip


def test_checkpoint_and_local_routes_name_missing_files(tmp_path):
    with pytest.raises(DataFormatError, match="checkpoint file not found"):
        load_encoder(f"timm:vit_small_patch16_224@{tmp_path / 'nope.safetensors'}")
    with pytest.raises(DataFormatError, match=r"no config\.json"):
        load_encoder(f"local:{tmp_path}")


def test_gated_model_error_says_accept_the_licence_and_set_hf_token():
    from types import SimpleNamespace

    from huggingface_hub.errors import GatedRepoError

    from hepatokit.baselines.encoder_loaders import _hub_errors

    # the attributes huggingface_hub's HTTP errors read from the response
    response = SimpleNamespace(headers={}, request=None, status_code=401)
    with (
        pytest.raises(DependencyMissingError) as info,
        _hub_errors("hf:MahmoodLab/UNI", "MahmoodLab/UNI"),
    ):
        raise GatedRepoError("Access to model MahmoodLab/UNI is restricted", response=response)
    text = str(info.value)
    assert "https://huggingface.co/MahmoodLab/UNI" in text and "HF_TOKEN" in text
    assert "licence" in text


def test_card_models_without_their_package_name_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)  # as if not installed
    with pytest.raises(DependencyMissingError, match=r"hepatokit\[train\]"):
        load_encoder("hf:owkin/Phikon-v2")


def test_preprocess_output_is_normalised_like_the_card(tmp_path):
    img = np.full((256, 256, 3), 255, np.uint8)
    pre = Preprocess(**card_model("bioptimus/H-optimus-0").preprocess)  # type: ignore[union-attr]
    out = pre(img)
    want = (1 - torch.tensor(H_OPTIMUS_MEAN)) / torch.tensor(H_OPTIMUS_STD)
    assert torch.allclose(out[:, 0, 0], want, atol=1e-5)
