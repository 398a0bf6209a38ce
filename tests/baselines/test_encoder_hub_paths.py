"""The timm / hf code paths, with stand-in `timm` and `transformers` modules (no download)."""

import sys
import types

import pytest
import torch
from torch import nn

from hepatokit.baselines.encoders import card_model, load_encoder


class FakeViT(nn.Module):
    """Token model: ``forward`` pools; ``forward_features`` gives ``[B, 8, 6]`` tokens
    (CLS, 4 registers, 3 patches)."""

    def __init__(self, **kwargs):
        super().__init__()
        self.kwargs = kwargs
        self.proj = nn.Linear(3, 6)

    def forward_features(self, x):
        pooled = x.mean((2, 3))  # [B, 3]
        tokens = torch.stack([pooled * (k + 1) for k in range(8)], 1)  # [B, 8, 3]
        return self.proj(tokens)

    def forward(self, x):
        return self.forward_features(x)[:, 0]


@pytest.fixture
def fake_timm(monkeypatch):
    calls = []
    timm = types.ModuleType("timm")

    def create_model(name, pretrained=False, **kwargs):
        calls.append((name, pretrained, kwargs))
        torch.manual_seed(0)
        return FakeViT(**kwargs)

    timm.create_model = create_model
    timm.data = types.SimpleNamespace(
        resolve_data_config=lambda cfg, model=None: {
            "input_size": (3, 32, 32),
            "mean": (0.5, 0.5, 0.5),
            "std": (0.25, 0.25, 0.25),
        }
    )
    timm.layers = types.SimpleNamespace(SwiGLUPacked="SwiGLUPacked")
    monkeypatch.setitem(sys.modules, "timm", timm)
    return calls


def test_timm_spec_uses_create_model_pretrained(fake_timm):
    enc = load_encoder("timm:vit_small_patch16_224")
    assert fake_timm == [("vit_small_patch16_224", True, {"num_classes": 0})]
    assert enc.preprocess.size == 32 and enc.preprocess.mean == (0.5, 0.5, 0.5)
    assert enc.feature_dim == 6 and not enc.model.training


def test_hf_uni_goes_through_timm_hf_hub_with_its_arguments(fake_timm):
    enc = load_encoder("hf:MahmoodLab/UNI")
    name, pretrained, kwargs = fake_timm[0]
    assert name == "hf-hub:MahmoodLab/UNI" and pretrained
    assert kwargs["init_values"] == 1e-5 and kwargs["dynamic_img_size"] is True
    assert enc.feature_dim == 6


def test_hf_virchow2_concatenates_cls_and_mean_patch_tokens(fake_timm):
    enc = load_encoder("hf:paige-ai/Virchow2")
    _, _, kwargs = fake_timm[0]
    assert kwargs["mlp_layer"] == "SwiGLUPacked" and kwargs["act_layer"] is torch.nn.SiLU
    assert enc.feature_dim == 12  # [CLS, mean of patch tokens]
    x = torch.rand(2, 3, 32, 32)
    tokens = enc.model.inner.forward_features(x)
    skip = card_model("paige-ai/Virchow2").skip
    expected = torch.cat([tokens[:, 0], tokens[:, skip:].mean(1)], -1)
    assert torch.allclose(enc.embed(x), expected)


def test_hf_without_timm_uses_transformers(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import fails
    tf = types.ModuleType("transformers")

    class Out:
        def __init__(self, h):
            self.last_hidden_state = h
            self.pooler_output = None

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 5)

        def forward(self, x):
            return Out(self.lin(x.mean((2, 3)))[:, None, :].repeat(1, 3, 1))

    tf.AutoModel = types.SimpleNamespace(from_pretrained=lambda repo, **k: Model())
    tf.AutoImageProcessor = types.SimpleNamespace(
        from_pretrained=lambda repo: types.SimpleNamespace(
            crop_size={"height": 24}, image_mean=[0.4] * 3, image_std=[0.2] * 3
        )
    )
    monkeypatch.setitem(sys.modules, "transformers", tf)
    enc = load_encoder("hf:some/vit")
    assert enc.feature_dim == 5 and enc.preprocess.size == 24
