import numpy as np
import pytest
import torch

from hepatokit.baselines.encoders import (
    Preprocess,
    build_tiny_cnn,
    load_encoder,
    parse_encoder_spec,
)
from hepatokit.errors import DataFormatError, DependencyMissingError


def test_builtin_tiny_cnn_is_deterministic_frozen_and_in_eval_mode():
    a = load_encoder("builtin:tiny-cnn")
    b = load_encoder("builtin:tiny-cnn")
    assert a.identity == b.identity
    assert not a.model.training
    assert all(not p.requires_grad for p in a.model.parameters())
    x = torch.rand(2, 3, 64, 64)
    assert torch.equal(a.embed(x), b.embed(x))
    assert a.embed(x).shape == (2, a.feature_dim)


def test_identity_changes_with_weights():
    enc = load_encoder("builtin:tiny-cnn")
    other = build_tiny_cnn(seed=1)
    from hepatokit.baselines.encoders import fingerprint

    assert fingerprint(enc.spec, enc.preprocess, other) != enc.identity


@pytest.mark.parametrize("spec", ["nope", "foo:bar", "timm:", "builtin:resnet"])
def test_bad_specs_are_clear_errors(spec):
    with pytest.raises(DataFormatError):
        load_encoder(spec)


@pytest.mark.parametrize("spec", ["timm:resnet18", "hf:MahmoodLab/UNI"])
def test_missing_timm_or_transformers_is_a_dependency_error(spec):
    pytest.importorskip("torch")
    try:
        import timm  # noqa: F401

        pytest.skip("timm is installed here")
    except ImportError:
        pass
    except Exception:  # installed but broken (a torchvision of another torch build): the same
        pass
    with pytest.raises(DependencyMissingError, match="timm"):
        load_encoder(spec)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_encoder_roundtrip(tmp_path):
    model = build_tiny_cnn(seed=3).eval()
    scripted = torch.jit.script(model)
    path = tmp_path / "enc.pt"
    scripted.save(str(path))
    enc = load_encoder(f"torchscript:{path}", input_size=32)
    x = torch.rand(3, 3, 32, 32)
    assert torch.allclose(enc.embed(x), model(x), atol=1e-6)
    # identity follows the weights, not the file location
    moved = tmp_path / "moved.pt"
    path.rename(moved)
    assert load_encoder(f"torchscript:{moved}", input_size=32).identity == enc.identity
    with pytest.raises(DataFormatError, match="not found"):
        load_encoder(f"torchscript:{tmp_path / 'absent.pt'}")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(DataFormatError):
        load_encoder(f"torchscript:{bad}")


def test_parse_spec():
    assert parse_encoder_spec("hf:paige-ai/Virchow2") == ("hf", "paige-ai/Virchow2")


def test_preprocess_accepts_pil_arrays_and_tensors():
    from PIL import Image

    pre = Preprocess(size=16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    arr = np.full((20, 30, 3), 255, dtype=np.uint8)
    for img in (arr, Image.fromarray(arr), torch.from_numpy(arr).permute(2, 0, 1)):
        out = pre(img)
        assert out.shape == (3, 16, 16)
        assert torch.allclose(out, torch.ones_like(out), atol=1e-5)
    gray = np.zeros((8, 8), dtype=np.uint8)
    assert torch.allclose(pre(gray), -torch.ones(3, 16, 16), atol=1e-5)
    with pytest.raises(DataFormatError):
        pre(np.zeros((8, 8, 2), dtype=np.uint8))


def test_prepare_stays_uint8_and_normalize_matches_call():
    from PIL import Image

    pre = Preprocess(size=32)
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, size=(50, 40, 3), dtype=np.uint8)
    prepared = pre.prepare(Image.fromarray(arr))
    assert prepared.dtype == torch.uint8 and prepared.shape == (3, 32, 32)
    batch = torch.stack([prepared, pre.prepare(arr)])
    out = pre.normalize(batch)
    assert out.dtype == torch.float32
    assert torch.allclose(out[0], pre(arr), atol=1e-6)
    # float images stay float (no precision lost to uint8)
    f = torch.rand(3, 32, 32)
    assert pre.prepare(f).dtype == torch.float32
    assert torch.allclose(
        pre(f) * torch.tensor(pre.std).view(3, 1, 1) + torch.tensor(pre.mean).view(3, 1, 1),
        f,
        atol=1e-6,
    )
