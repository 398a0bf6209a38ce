"""The LoRA path of the region model: a small random ViT (MONAI; timm when importable)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

if importlib.util.find_spec("peft") is None:
    pytest.skip("peft (a hepatokit dependency) is not installed", allow_module_level=True)
try:
    importlib.import_module("peft")
except Exception as exc:  # installed but broken: say so, do not call it missing
    pytest.skip(
        f"peft is installed but cannot be imported here: {type(exc).__name__}: {exc}",
        allow_module_level=True,
    )
torch = pytest.importorskip("torch")

from hepatokit.quant.segment.model import (  # noqa: E402
    LoraSettings,
    RegionModelSpec,
    build_region_model,
    count_lora_parameters,
    load_region_model,
    save_region_model,
)


def _lora_linear_count(model: torch.nn.Module, names: tuple[str, ...], rank: int) -> int:
    """r·(in + out) per adapted Linear, counted from the base layers' shapes."""
    total = 0
    for name, mod in model.named_modules():
        base = getattr(mod, "base_layer", None)
        if isinstance(base, torch.nn.Linear) and name.rsplit(".", 1)[-1] in names:
            total += rank * (base.in_features + base.out_features)
    return total


def test_only_adapters_and_head_get_gradients():
    spec = RegionModelSpec(encoder="monai-vit:tiny", window=32, lora=LoraSettings(rank=4, alpha=8))
    model = build_region_model(spec)
    x = torch.randn(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, 2, 32, 32)
    # LoRA B starts at zero: move it so that gradients reach A too
    for n, p in model.named_parameters():
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.01)
    model(x).sum().backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad, "nothing received a gradient"
    assert all(("lora_" in n) or n.startswith("head.") for n in with_grad), sorted(with_grad)
    assert any("lora_A" in n for n in with_grad) and any(n.startswith("head.") for n in with_grad)
    frozen = [
        n for n, p in model.named_parameters() if n.startswith("encoder.") and "lora_" not in n
    ]
    assert frozen and all(not model.get_parameter(n).requires_grad for n in frozen)
    # adapters on every attention projection (qkv and output) of both blocks
    assert count_lora_parameters(model) == _lora_linear_count(model, ("qkv", "out_proj"), 4) > 0


def test_saved_model_reloads_and_predicts_identically(tmp_path):
    spec = RegionModelSpec(encoder="monai-vit:tiny", window=32, lora=LoraSettings(rank=4))
    model = build_region_model(spec)
    from hepatokit.quant.segment.model import base_fingerprint

    spec = RegionModelSpec(**{**spec.__dict__, "base_fingerprint": base_fingerprint(model)})
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x = torch.randn(2, 3, 32, 32)
    for _ in range(2):  # train a little so the adapters are not at their initial values
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    model.eval()
    save_region_model(model, spec, tmp_path / "m")
    saved = torch.load(tmp_path / "m" / "trained_weights.pt", weights_only=True)
    assert all(("lora_" in k) or k.startswith("head.") for k in saved)
    n_saved = sum(v.numel() for v in saved.values())
    assert n_saved == sum(p.numel() for p in model.parameters() if p.requires_grad)
    again, spec2 = load_region_model(tmp_path / "m")
    assert spec2 == spec
    with torch.inference_mode():
        assert torch.equal(model(x), again(x))


def test_vit_large_on_meta_device_has_the_right_trainable_count():
    spec = RegionModelSpec(encoder="monai-vit:large", window=224, lora=LoraSettings(rank=16))
    with torch.device("meta"):
        model = build_region_model(spec)
    base = sum(p.numel() for n, p in model.named_parameters() if n.startswith("encoder.")
               and "lora_" not in n)  # fmt: skip
    assert 300e6 < base < 306e6  # ViT-L/16: ~303 M
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    head = sum(p.numel() for p in model.head.parameters())
    # 24 blocks × rank 16 × [(1024 + 3072) qkv + (1024 + 1024) out_proj]
    assert count_lora_parameters(model) == 24 * 16 * (4096 + 2048)
    assert trainable == 24 * 16 * (4096 + 2048) + head


@pytest.mark.skipif(
    importlib.util.find_spec("timm") is None, reason="timm is not installed (optional encoder)"
)
def test_timm_vit_lora_when_timm_is_importable():
    try:
        import timm
    except Exception as exc:  # timm installed but its torchvision import fails
        pytest.skip(f"timm cannot be imported here: {exc}")
    from hepatokit.quant.segment import model as m

    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0,
                            dynamic_img_size=True)  # fmt: skip
    tokens = m._Tokens("timm", int(vit.num_prefix_tokens))
    out = tokens(vit, torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 4, vit.num_features)


def test_local_checkpoint_spec_loads_base_weights(tmp_path):
    from hepatokit.quant.segment.model import base_fingerprint
    from hepatokit.quant.segment.networks import _monai_vit

    base = _monai_vit("tiny", 32, "monai-vit:tiny")
    with torch.no_grad():
        for p in base.parameters():
            p.add_(0.5)
    torch.save({"spec": "monai-vit:tiny", "state_dict": base.state_dict()}, tmp_path / "b.pt")
    a = build_region_model(RegionModelSpec(encoder=f"local:{tmp_path / 'b.pt'}", window=32))
    b = build_region_model(RegionModelSpec(encoder="monai-vit:tiny", window=32))
    assert base_fingerprint(a) != base_fingerprint(b)
    got = dict(a.encoder.named_parameters())
    for n, p in base.named_parameters():
        key = (
            n
            if n in got
            else n.replace(".qkv.", ".qkv.base_layer.").replace(
                ".out_proj.", ".out_proj.base_layer."
            )
        )
        assert np.allclose(got[key].detach().numpy(), p.detach().numpy())
