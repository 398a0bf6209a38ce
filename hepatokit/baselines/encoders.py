"""Frozen image encoders for the linear probe and HepatoQuant, loaded from a spec string.

Specs
-----
``builtin:tiny-cnn``
    A small CNN built in-process with a fixed seed (tests, the demo; no download).
``timm:<name>``
    ``timm.create_model(name, pretrained=True, num_classes=0)`` (timm's own weight download
    and cache; ``timm:hf-hub:<repo>`` works too).
``hf:<repo>``
    A Hugging Face Hub model: timm's ``hf-hub:`` path when timm is installed (UNI, Virchow2,
    Prov-GigaPath are timm models; their extra constructor arguments are in
    :data:`KNOWN_HUB_MODELS`), else ``transformers.AutoModel``.
``torchscript:<file>``
    A TorchScript module mapping ``[B, 3, H, W]`` float images to ``[B, D]`` features.

Every encoder has an :attr:`Encoder.identity`: a SHA-256 over the spec, the preprocessing
and the weights' bytes, so cached embeddings and saved heads are tied to exact weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepatokit.errors import DataFormatError, DependencyMissingError

if TYPE_CHECKING:
    import torch

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KNOWN_HUB_MODELS",
    "Encoder",
    "Preprocess",
    "build_tiny_cnn",
    "load_encoder",
    "parse_encoder_spec",
]

log = logging.getLogger("hepatokit.baselines.encoders")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
KINDS = ("builtin", "timm", "hf", "torchscript")

#: constructor arguments and pooling of known pathology foundation models on the Hub
KNOWN_HUB_MODELS: dict[str, dict[str, Any]] = {
    "MahmoodLab/UNI": {"kwargs": {"init_values": 1e-5, "dynamic_img_size": True}},
    "MahmoodLab/UNI2-h": {"kwargs": {"dynamic_img_size": True}},
    "prov-gigapath/prov-gigapath": {"kwargs": {}},
    # Virchow2: SwiGLU MLP + SiLU; embedding = [CLS, mean of patch tokens] (2 × 1280)
    "paige-ai/Virchow2": {"kwargs": {"virchow": True}, "pooling": "cls+mean", "skip": 5},
    "paige-ai/Virchow": {"kwargs": {"virchow": True}, "pooling": "cls+mean", "skip": 1},
}


@dataclass(frozen=True)
class Preprocess:
    """Image → normalised float tensor ``[3, size, size]``, in two steps (picklable).

    :meth:`prepare` runs in the DataLoader workers: decode to a tensor and resize (bilinear,
    antialiased), staying ``uint8`` for 8-bit images — torch's uint8 resize is far faster
    than float, and a uint8 batch is a quarter of the bytes to copy to the GPU.
    :meth:`normalize` runs on the device on whole batches: scale to 0–1, subtract ``mean``,
    divide by ``std``. Accepted images: PIL, ``uint8`` arrays ``[H, W, 3]`` (or ``[H, W]``,
    ``[H, W, 4]``), tensors ``[3, H, W]`` (uint8 0–255 or float 0–1).
    """

    size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def prepare(self, image: Any) -> torch.Tensor:
        """``[3, size, size]``: uint8 for 8-bit inputs, float32 in 0–1 otherwise."""
        import numpy as np
        import torch
        import torch.nn.functional as F

        if isinstance(image, torch.Tensor):
            t = image if image.dtype == torch.uint8 else image.float()
        else:
            arr = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
            if arr.ndim == 2:
                arr = np.stack([arr] * 3, axis=-1)
            if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
                raise DataFormatError(f"expected an RGB image, got an array of shape {arr.shape}")
            arr = arr[..., :3]
            dtype = np.uint8 if arr.dtype == np.uint8 else np.float32
            t = torch.from_numpy(np.array(arr, dtype=dtype)).permute(2, 0, 1).contiguous()
        if t.ndim != 3 or t.shape[0] != 3:
            raise DataFormatError(f"expected an image tensor [3, H, W], got {tuple(t.shape)}")
        if t.shape[1] != self.size or t.shape[2] != self.size:
            t = F.interpolate(
                t[None], size=(self.size, self.size), mode="bilinear", antialias=True
            )[0]
        return t

    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        """``[B, 3, S, S]`` from :meth:`prepare` (any device) → normalised float32."""
        import torch

        x = batch.float()
        if batch.dtype == torch.uint8:
            x = x / 255.0
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def __call__(self, image: Any) -> torch.Tensor:
        """One image → normalised float32 ``[3, size, size]``."""
        return self.normalize(self.prepare(image)[None])[0]

    def describe(self) -> dict[str, Any]:
        return {"size": self.size, "mean": list(self.mean), "std": list(self.std)}


@dataclass
class Encoder:
    """A frozen encoder in eval mode, with its preprocessing and identity.

    ``embed(batch)`` maps a preprocessed batch ``[B, 3, S, S]`` to features ``[B, D]``.
    """

    spec: str
    model: torch.nn.Module
    preprocess: Preprocess
    feature_dim: int
    identity: str
    pool: Callable[[Any], Any] | None = field(default=None, repr=False)

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        out = self.model(batch)
        if self.pool is not None:
            out = self.pool(out)
        if out.ndim != 2:
            out = out.flatten(1)
        return out

    def to(self, device: str | torch.device) -> Encoder:
        self.model.to(device)
        return self

    def describe(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "identity": self.identity,
            "feature_dim": self.feature_dim,
            "preprocess": self.preprocess.describe(),
        }


def parse_encoder_spec(spec: str) -> tuple[str, str]:
    """Split ``kind:name``; raise a clear error for an unknown kind or an empty name."""
    kind, sep, name = spec.partition(":")
    if not sep or kind not in KINDS or not name:
        raise DataFormatError(
            f"bad encoder spec {spec!r}",
            hint="use builtin:tiny-cnn, timm:<model name>, hf:<hub repo> or torchscript:<file>",
        )
    return kind, name


def build_tiny_cnn(seed: int = 0, width: int = 32) -> torch.nn.Module:
    """The built-in encoder: 3 conv blocks + global mean/max pooling, seeded init.

    Output: ``[B, 4 * width]`` features (mean- and max-pooled channels of the last two blocks),
    enough to separate colour/texture classes of synthetic patches; scaled ×10 so that their
    spread is of order 1, like a foundation model's embeddings (the probe's learning rates
    assume that).
    """
    import torch
    from torch import nn

    class TinyCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.b1 = nn.Sequential(nn.Conv2d(3, width // 2, 3, stride=2, padding=1), nn.ReLU())
            self.b2 = nn.Sequential(nn.Conv2d(width // 2, width, 3, stride=2, padding=1), nn.ReLU())
            self.b3 = nn.Sequential(nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h2 = self.b2(self.b1(x))
            h3 = self.b3(h2)
            pooled = [h2.mean((2, 3)), h2.amax((2, 3)), h3.mean((2, 3)), h3.amax((2, 3))]
            return torch.cat(pooled, 1) * 10.0

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TinyCNN()
    return model


def fingerprint(spec: str, preprocess: Preprocess, model: torch.nn.Module) -> str:
    """SHA-256 of the spec, the preprocessing and every weight tensor (names, dtypes, bytes)."""
    import torch

    h = hashlib.sha256()
    h.update(json.dumps({"spec": spec, "pre": preprocess.describe()}, sort_keys=True).encode())
    state = model.state_dict()
    for name in sorted(state):
        t = state[name]
        if not isinstance(t, torch.Tensor):
            continue
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        flat = t.detach().to("cpu").contiguous().reshape(-1)
        if flat.numel():
            h.update(flat.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _freeze(model: torch.nn.Module) -> torch.nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _probe_dim(model: torch.nn.Module, pre: Preprocess, pool: Callable[[Any], Any] | None) -> int:
    import torch

    with torch.inference_mode():
        out = model(torch.zeros(1, 3, pre.size, pre.size))
        if pool is not None:
            out = pool(out)
    return int(out.flatten(1).shape[1])


def _require(module: str, spec: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DependencyMissingError(
            f"encoder {spec!r} needs the {module!r} package, which is not installed",
            hint=f"pip install {module} (keep torch pinned: -c constraints.txt), or use "
            "builtin:tiny-cnn / torchscript:<file>",
        ) from exc


def _timm_model(spec: str, name: str, extra: dict[str, Any]) -> tuple[Any, Preprocess]:
    timm = _require("timm", spec)
    kwargs = dict(extra)
    if kwargs.pop("virchow", False):
        import torch

        kwargs.update(mlp_layer=timm.layers.SwiGLUPacked, act_layer=torch.nn.SiLU)
    model = timm.create_model(name, pretrained=True, num_classes=0, **kwargs)
    cfg = timm.data.resolve_data_config({}, model=model)
    size = int(cfg.get("input_size", (3, 224, 224))[-1])
    pre = Preprocess(size=size, mean=tuple(cfg["mean"]), std=tuple(cfg["std"]))
    return model, pre


def _cls_mean_pool(skip: int) -> Callable[[Any], Any]:
    import torch

    def pool(tokens: torch.Tensor) -> torch.Tensor:
        return torch.cat([tokens[:, 0], tokens[:, skip:].mean(1)], dim=-1)

    return pool


class _ForwardFeatures:
    """Wrap a timm model so that ``model(x)`` returns its token sequence."""

    @staticmethod
    def wrap(model: Any) -> torch.nn.Module:
        from torch import nn

        class Tokens(nn.Module):
            def __init__(self, inner: nn.Module) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: Any) -> Any:
                return self.inner.forward_features(x)  # type: ignore[operator]

        return Tokens(model)


def _hf_transformers(spec: str, repo: str) -> tuple[Any, Preprocess, Callable[[Any], Any]]:
    transformers = _require("transformers", spec)
    model = transformers.AutoModel.from_pretrained(repo, trust_remote_code=False)
    proc = transformers.AutoImageProcessor.from_pretrained(repo)
    size_cfg = getattr(proc, "crop_size", None) or getattr(proc, "size", None) or {}
    size = int(size_cfg.get("height") or size_cfg.get("shortest_edge") or 224)
    pre = Preprocess(
        size=size,
        mean=tuple(getattr(proc, "image_mean", IMAGENET_MEAN)),
        std=tuple(getattr(proc, "image_std", IMAGENET_STD)),
    )

    def pool(out: Any) -> Any:
        pooled = getattr(out, "pooler_output", None)
        return pooled if pooled is not None else out.last_hidden_state[:, 0]

    return model, pre, pool


def load_encoder(
    spec: str,
    *,
    device: str = "cpu",
    input_size: int | None = None,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
) -> Encoder:
    """Load a frozen encoder (eval mode, no gradients) from a spec string.

    Parameters
    ----------
    spec:
        See the module docstring.
    device:
        Where the model's weights go.
    input_size, mean, std:
        Override the preprocessing (pixels, per-channel RGB mean/std on a 0–1 scale);
        needed for TorchScript files that do not carry it (default 224, ImageNet).

    Raises
    ------
    DataFormatError
        Bad spec, missing or unreadable TorchScript file.
    DependencyMissingError
        timm / transformers needed but not installed.
    """
    kind, name = parse_encoder_spec(spec)
    pool: Callable[[Any], Any] | None = None
    if kind == "builtin":
        if name != "tiny-cnn":
            raise DataFormatError(f"unknown built-in encoder {name!r}", hint="use tiny-cnn")
        model: Any = build_tiny_cnn()
        pre = Preprocess(size=64)
    elif kind == "torchscript":
        import torch

        path = Path(name)
        if not path.is_file():
            raise DataFormatError("TorchScript encoder file not found", path=path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                model = torch.jit.load(str(path), map_location="cpu")
        except (RuntimeError, ValueError) as exc:
            raise DataFormatError(f"not a TorchScript module: {exc}", path=path) from exc
        pre = Preprocess()
    elif kind == "timm":
        model, pre = _timm_model(spec, name, {})
    else:  # hf
        known = KNOWN_HUB_MODELS.get(name, {})
        try:
            import timm  # noqa: F401

            has_timm = True
        except ImportError:
            has_timm = False
        if has_timm:
            model, pre = _timm_model(spec, f"hf-hub:{name}", known.get("kwargs", {}))
            if known.get("pooling") == "cls+mean":
                model = _ForwardFeatures.wrap(model)
                pool = _cls_mean_pool(int(known.get("skip", 1)))
        else:
            try:
                model, pre, pool = _hf_transformers(spec, name)
            except DependencyMissingError as exc:
                raise DependencyMissingError(
                    f"encoder {spec!r} needs timm (hf-hub path) or transformers; neither is "
                    "installed",
                    hint="pip install timm (keep torch pinned: -c constraints.txt), accept the "
                    "model's licence on the Hub and log in (huggingface-cli login)",
                ) from exc
    pre = Preprocess(
        size=input_size or pre.size,
        mean=mean or pre.mean,
        std=std or pre.std,
    )
    model = _freeze(model)
    dim = _probe_dim(model, pre, pool)
    identity = fingerprint(spec if kind != "torchscript" else "torchscript", pre, model)
    encoder = Encoder(
        spec=spec, model=model, preprocess=pre, feature_dim=dim, identity=identity, pool=pool
    )
    log.info("encoder %s: %d-d features, identity %s", spec, dim, identity[:12])
    return encoder.to(device)
