"""Frozen image encoders for the linear probe and HepatoQuant, loaded from a spec string.

Specs
-----
``builtin:tiny-cnn``
    A small CNN built in-process with a fixed seed (tests, the demo; no download).
``timm:<name>``
    ``timm.create_model(name, pretrained=True, num_classes=0)`` (timm's own weight download
    and cache; ``timm:hf-hub:<repo>`` works too).
``timm:<name>@<file>``
    ``timm.create_model(name, num_classes=0)`` with the weights of a local checkpoint file
    (``.safetensors``, ``.bin``, ``.pth``), offline.
``hf:<repo>``
    A Hugging Face Hub model. The pathology foundation models of :data:`KNOWN_HUB_MODELS`
    (UNI, UNI2-h, Virchow, Virchow2, Prov-GigaPath, H-optimus-0, Phikon, Phikon-v2, CONCH v1.5;
    names matched case-insensitively) load as their model cards say: the card's
    ``timm.create_model`` arguments (or ``transformers`` class), pooling and preprocessing.
    Other repos: timm's ``hf-hub:`` path when timm is installed, else ``transformers``.
    Gated models need their licence accepted on the Hub and ``HF_TOKEN`` set.
``local:<folder>``
    A model folder on disk, e.g. ``huggingface-cli download MahmoodLab/UNI2-h --local-dir
    UNI2-h``: a timm folder (``config.json`` with ``architecture``) or a transformers one.
    Card arguments apply when the folder is named like a known model (``UNI2-h``).
``torchscript:<file>``
    A TorchScript module mapping ``[B, 3, H, W]`` float images to ``[B, D]`` features.

Every encoder has an :attr:`Encoder.identity`: a SHA-256 over the spec, the preprocessing
and the weights' bytes, so cached embeddings and saved heads are tied to exact weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import warnings
from collections.abc import Callable, Iterator
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
    "CardModel",
    "Encoder",
    "Preprocess",
    "build_tiny_cnn",
    "card_create_kwargs",
    "card_model",
    "load_encoder",
    "parse_encoder_spec",
]

log = logging.getLogger("hepatokit.baselines.encoders")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
KINDS = ("builtin", "timm", "hf", "local", "torchscript")


@dataclass(frozen=True)
class CardModel:
    """How a foundation model's card says to load it, pool it and preprocess its input.

    ``loader``: ``timm`` (``timm.create_model("hf-hub:<repo>", pretrained=True, **kwargs)``;
    ``"SwiGLUPacked"`` / ``"SiLU"`` stand for ``timm.layers.SwiGLUPacked`` /
    ``torch.nn.SiLU``), ``transformers`` (``AutoModel``, CLS token of
    ``last_hidden_state``) or ``titan`` (the CONCH v1.5 vision encoder that
    ``MahmoodLab/TITAN``'s ``return_conch()`` gives). ``pooling``: ``model`` (the model's
    own pooled output), ``cls`` or ``cls+mean`` (CLS token and the mean of the patch tokens,
    after ``skip`` leading tokens). ``preprocess``: ``Preprocess`` fields (size, resize,
    interpolation, mean, std).
    """

    repo: str
    loader: str
    dim: int
    kwargs: dict[str, Any] = field(default_factory=dict)
    pooling: str = "model"
    skip: int = 1
    preprocess: dict[str, Any] = field(default_factory=dict)


_UNI2_H = {
    "img_size": 224, "patch_size": 14, "depth": 24, "num_heads": 24, "init_values": 1e-5,
    "embed_dim": 1536, "mlp_ratio": 2.66667 * 2, "num_classes": 0, "no_embed_class": True,
    "mlp_layer": "SwiGLUPacked", "act_layer": "SiLU", "reg_tokens": 8, "dynamic_img_size": True,
}  # fmt: skip
_VIRCHOW = {"mlp_layer": "SwiGLUPacked", "act_layer": "SiLU"}
_BICUBIC_224 = {"size": 224, "resize": 224, "interpolation": "bicubic"}

#: the pathology foundation models whose cards hepatokit follows (key: repo, lower case)
KNOWN_HUB_MODELS: dict[str, CardModel] = {
    m.repo.lower(): m
    for m in (
        CardModel("MahmoodLab/UNI", "timm", 1024,
                  {"init_values": 1e-5, "dynamic_img_size": True}, preprocess={"size": 224}),
        CardModel("MahmoodLab/UNI2-h", "timm", 1536, _UNI2_H, preprocess={"size": 224}),
        CardModel("paige-ai/Virchow", "timm", 2560, _VIRCHOW, "cls+mean", 1, _BICUBIC_224),
        CardModel("paige-ai/Virchow2", "timm", 2560, _VIRCHOW, "cls+mean", 5, _BICUBIC_224),
        CardModel("prov-gigapath/prov-gigapath", "timm", 1536,
                  preprocess={"size": 224, "resize": 256, "interpolation": "bicubic"}),
        CardModel("bioptimus/H-optimus-0", "timm", 1536,
                  {"init_values": 1e-5, "dynamic_img_size": False},
                  preprocess={"size": 224, "mean": (0.707223, 0.578729, 0.703617),
                              "std": (0.211883, 0.230117, 0.177517)}),
        CardModel("owkin/phikon", "transformers", 768, pooling="cls", preprocess={"size": 224}),
        CardModel("owkin/phikon-v2", "transformers", 1024, pooling="cls",
                  preprocess={"size": 224}),
        CardModel("MahmoodLab/conchv1_5", "titan", 768,
                  preprocess={"size": 448, "resize": 448, "interpolation": "bicubic"}),
    )
}  # fmt: skip


def card_model(name: str) -> CardModel | None:
    """The :class:`CardModel` of a Hub repo or local folder name, case-insensitively
    (``MahmoodLab/uni``, ``mahmoodlab/UNI2-h``; a folder named ``UNI2-h``)."""
    key = name.strip().rstrip("/").lower()
    if key in KNOWN_HUB_MODELS:
        return KNOWN_HUB_MODELS[key]
    base = key.rsplit("/", 1)[-1]
    hits = [m for k, m in KNOWN_HUB_MODELS.items() if k.rsplit("/", 1)[-1] == base]
    return hits[0] if len(hits) == 1 else None


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
    #: shorter side before a centre crop to ``size`` (None: resize straight to ``size``)
    resize: int | None = None
    interpolation: str = "bilinear"

    def prepare(self, image: Any) -> torch.Tensor:
        """``[3, size, size]``: uint8 for 8-bit inputs, float32 in 0–1 otherwise."""
        import numpy as np
        import torch

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
        h, w = int(t.shape[1]), int(t.shape[2])
        if self.resize is None:
            target = (self.size, self.size)
        else:  # shorter side to `resize`, keeping the aspect ratio (torchvision's Resize(int))
            short = min(h, w)
            target = (round(h * self.resize / short), round(w * self.resize / short))
        if (h, w) != target:
            t = _resize(t, target, self.interpolation)
        if target != (self.size, self.size):
            top = round((target[0] - self.size) / 2.0)
            left = round((target[1] - self.size) / 2.0)
            t = t[:, top : top + self.size, left : left + self.size]
        return t.contiguous()

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
        out: dict[str, Any] = {"size": self.size, "mean": list(self.mean), "std": list(self.std)}
        if self.resize is not None or self.interpolation != "bilinear":
            out.update(resize=self.resize, interpolation=self.interpolation)
        return out

    @classmethod
    def from_data_config(cls, cfg: dict[str, Any]) -> Preprocess:
        """From timm's ``resolve_data_config`` (the model's ``pretrained_cfg``): input size,
        interpolation, ``crop_pct`` (resize to ``floor(size / crop_pct)``, then centre crop),
        mean and std — as ``timm.data.create_transform`` does at evaluation."""
        import math

        size = int(cfg.get("input_size", (3, 224, 224))[-1])
        crop_pct = float(cfg.get("crop_pct") or 1.0)
        mode = str(cfg.get("crop_mode") or "center")
        resize = math.floor(size / crop_pct) if mode == "center" else size
        return cls(
            size=size,
            mean=tuple(cfg.get("mean", IMAGENET_MEAN)),
            std=tuple(cfg.get("std", IMAGENET_STD)),
            resize=resize,
            interpolation=str(cfg.get("interpolation") or "bilinear"),
        )


def _resize(t: torch.Tensor, size: tuple[int, int], interpolation: str) -> torch.Tensor:
    """Antialiased resize of ``[3, H, W]`` (uint8 stays uint8) with PIL's kernels."""
    import torch
    import torch.nn.functional as F

    mode = {"bilinear": "bilinear", "bicubic": "bicubic", "nearest": "nearest"}.get(interpolation)
    if mode is None:
        raise DataFormatError(
            f"unsupported interpolation {interpolation!r}", hint="bilinear, bicubic or nearest"
        )
    if mode == "nearest":
        return F.interpolate(t[None], size=size, mode="nearest")[0]
    if mode == "bilinear" or t.dtype != torch.uint8:
        return F.interpolate(t[None], size=size, mode=mode, antialias=True)[0]
    out = F.interpolate(t[None].float(), size=size, mode=mode, antialias=True)[0]
    return out.round_().clamp_(0, 255).to(torch.uint8)


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
            hint="use builtin:tiny-cnn, timm:<model name>[@<checkpoint file>], hf:<hub repo>, "
            "local:<model folder> or torchscript:<file>",
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
            hint="pip install 'hepatokit[train]' (keep torch pinned: -c constraints.txt), or "
            "use builtin:tiny-cnn / torchscript:<file>",
        ) from exc
    except Exception as exc:  # installed but broken, e.g. a torchvision built for another torch
        raise DependencyMissingError(
            f"encoder {spec!r} needs {module!r}, which is installed but fails to import: "
            f"{type(exc).__name__}: {exc}".splitlines()[0],
            hint="install the torchvision build that matches your torch (the same CPU/CUDA "
            "variant), or use builtin:tiny-cnn / torchscript:<file>",
        ) from exc


@contextlib.contextmanager
def _hub_errors(spec: str, repo: str) -> Iterator[None]:
    """Turn the Hub's access errors into messages that say what to do."""
    try:
        yield
    except Exception as exc:
        names = {c.__name__ for c in type(exc).__mro__}
        text = str(exc)
        if "GatedRepoError" in names or "401" in text or "gated" in text.lower():
            raise DependencyMissingError(
                f"encoder {spec!r}: {repo} is a gated model and this machine has no access",
                hint=f"accept the model's licence at https://huggingface.co/{repo} with your "
                "account, then set HF_TOKEN to a token of that account (or `hf auth login`); "
                "offline, download it once and use local:<folder>",
            ) from exc
        if "RepositoryNotFoundError" in names:
            raise DataFormatError(
                f"encoder {spec!r}: no model {repo!r} on the Hub",
                hint="check the spelling (owner/name), or for a private repo set HF_TOKEN",
            ) from exc
        if names & {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectionError"}:
            raise DependencyMissingError(
                f"encoder {spec!r}: {repo} is not in the local cache and the Hub cannot be reached",
                hint="download it where there is network (`hf download REPO --local-dir DIR`)"
                " and use local:DIR",
            ) from exc
        raise


def _layer(timm: Any, value: Any) -> Any:
    """Resolve the card's layer names (``SwiGLUPacked``, ``SiLU``) to classes."""
    import torch

    if value == "SwiGLUPacked":
        return timm.layers.SwiGLUPacked
    if value == "SiLU":
        return torch.nn.SiLU
    return value


def card_create_kwargs(card: CardModel, timm: Any) -> dict[str, Any]:
    """The card's ``timm.create_model`` keyword arguments, layer names resolved."""
    return {k: _layer(timm, v) for k, v in card.kwargs.items()}


def _timm_model(
    spec: str,
    name: str,
    card: CardModel | None,
    *,
    checkpoint: Path | None = None,
    pretrained: bool = True,
) -> tuple[Any, Preprocess]:
    timm = _require("timm", spec)
    kwargs: dict[str, Any] = {"num_classes": 0}
    if card is not None:
        kwargs.update(card_create_kwargs(card, timm))
    if checkpoint is not None:
        kwargs["pretrained_cfg_overlay"] = {"file": str(checkpoint)}
    repo = name.split(":", 1)[1] if name.startswith(("hf-hub:", "hf_hub:")) else name
    with _hub_errors(spec, repo):
        model = timm.create_model(name, pretrained=pretrained, **kwargs)
    if card is not None and card.preprocess:
        pre = Preprocess(**card.preprocess)
    else:
        pre = Preprocess.from_data_config(timm.data.resolve_data_config({}, model=model))
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


def _hf_transformers(
    spec: str, repo: str, card: CardModel | None
) -> tuple[Any, Preprocess, Callable[[Any], Any]]:
    transformers = _require("transformers", spec)
    with _hub_errors(spec, repo):
        model = transformers.AutoModel.from_pretrained(repo, trust_remote_code=False)
        proc = transformers.AutoImageProcessor.from_pretrained(repo)
    size_cfg = getattr(proc, "crop_size", None) or getattr(proc, "size", None) or {}
    size = int(size_cfg.get("height") or size_cfg.get("shortest_edge") or 224)
    pre = Preprocess(
        size=size,
        mean=tuple(getattr(proc, "image_mean", IMAGENET_MEAN)),
        std=tuple(getattr(proc, "image_std", IMAGENET_STD)),
    )
    if card is not None and card.preprocess:
        pre = Preprocess(**card.preprocess)
    cls_only = card is not None and card.pooling == "cls"

    def pool(out: Any) -> Any:
        pooled = None if cls_only else getattr(out, "pooler_output", None)
        return pooled if pooled is not None else out.last_hidden_state[:, 0]

    return model, pre, pool


def _titan_conch(spec: str, card: CardModel) -> tuple[Any, Preprocess]:
    """CONCH v1.5's vision encoder as its card loads it: ``MahmoodLab/TITAN``'s
    ``return_conch()`` (the card's remote code; gated)."""
    transformers = _require("transformers", spec)
    with _hub_errors(spec, "MahmoodLab/TITAN"):
        titan = transformers.AutoModel.from_pretrained("MahmoodLab/TITAN", trust_remote_code=True)
    model, _ = titan.return_conch()
    return model, Preprocess(**card.preprocess)


def _split_checkpoint(name: str) -> tuple[str, Path | None]:
    """``NAME@PATH`` → (NAME, PATH); a name without ``@`` (or a Hub name) → (name, None)."""
    base, sep, path = name.rpartition("@")
    if not sep or not base:
        return name, None
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataFormatError(
            "checkpoint file not found", path=file, hint="timm:<model name>@<checkpoint file>"
        )
    return base, file


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _local_model(spec: str, folder: Path) -> tuple[Any, Preprocess, Callable[[Any], Any] | None]:
    """A model folder on disk: timm's (``config.json`` with ``architecture``) or transformers'."""
    config = folder / "config.json"
    if not config.is_file():
        raise DataFormatError(
            "not a model folder (no config.json)",
            path=folder,
            hint="give the folder of `hf download REPO --local-dir DIR`; a TorchScript file "
            "is torchscript:<file>, a timm checkpoint timm:<model name>@<file>",
        )
    card = card_model(folder.name)
    try:
        cfg = json.loads(config.read_text())
    except ValueError as exc:
        raise DataFormatError(f"config.json is not JSON: {exc}", path=config) from exc
    pool: Callable[[Any], Any] | None = None
    if "architecture" in cfg:  # timm's Hub layout
        model, pre = _timm_model(spec, f"local-dir:{folder}", card)
        if card is not None and card.pooling == "cls+mean":
            model = _ForwardFeatures.wrap(model)
            pool = _cls_mean_pool(card.skip)
    else:
        model, pre, pool = _hf_transformers(spec, str(folder), card)
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
    _require("torch", spec)  # names the extra where torch is missing
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
        name, checkpoint = _split_checkpoint(name)
        card = card_model(name.split(":", 1)[1]) if name.startswith("hf-hub:") else None
        model, pre = _timm_model(spec, name, card, checkpoint=checkpoint)
    elif kind == "local":
        model, pre, pool = _local_model(spec, Path(name).expanduser())
    else:  # hf
        card = card_model(name)
        repo = card.repo if card is not None else name
        if card is not None and card.loader == "titan":
            model, pre = _titan_conch(spec, card)
        elif card is not None and card.loader == "transformers":
            model, pre, pool = _hf_transformers(spec, repo, card)
        elif card is not None or _has("timm"):
            model, pre = _timm_model(spec, f"hf-hub:{repo}", card)
        else:
            try:
                model, pre, pool = _hf_transformers(spec, repo, None)
            except DependencyMissingError as exc:
                raise DependencyMissingError(
                    f"encoder {spec!r} needs timm (hf-hub path) or transformers; neither is "
                    "installed",
                    hint="pip install 'hepatokit[train]' (keep torch pinned: -c "
                    "constraints.txt), accept the model's licence on the Hub and set HF_TOKEN",
                ) from exc
        if card is not None and card.pooling == "cls+mean":
            model = _ForwardFeatures.wrap(model)
            pool = _cls_mean_pool(card.skip)
    pre = Preprocess(
        size=input_size or pre.size,
        mean=mean or pre.mean,
        std=std or pre.std,
        resize=None if input_size else pre.resize,
        interpolation=pre.interpolation,
    )
    model = _freeze(model)
    dim = _probe_dim(model, pre, pool)
    identity = fingerprint(spec if kind != "torchscript" else "torchscript", pre, model)
    encoder = Encoder(
        spec=spec, model=model, preprocess=pre, feature_dim=dim, identity=identity, pool=pool
    )
    log.info("encoder %s: %d-d features, identity %s", spec, dim, identity[:12])
    return encoder.to(device)
