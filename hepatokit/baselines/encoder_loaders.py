"""Building encoder models through their libraries: timm (Hub, local checkpoints, card
arguments), transformers, the TITAN remote code and local model folders — with the Hub's
access errors turned into messages that say what to do."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepatokit._extras import import_optional
from hepatokit.baselines.encoder_cards import CardModel, card_create_kwargs, card_model
from hepatokit.baselines.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from hepatokit.errors import DataFormatError, DependencyMissingError

if TYPE_CHECKING:
    import torch

__all__ = ["hub_model", "local_model", "require", "split_checkpoint", "timm_model"]


def require(module: str, spec: str) -> Any:
    """``module``, or a :class:`DependencyMissingError` saying how to install or mend it."""
    return import_optional(
        module, f"encoder {spec!r}", alternative="builtin:tiny-cnn / torchscript:<file>"
    )


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


def timm_model(
    spec: str,
    name: str,
    card: CardModel | None,
    *,
    checkpoint: Path | None = None,
    pretrained: bool = True,
) -> tuple[Any, Preprocess]:
    timm = require("timm", spec)
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
    transformers = require("transformers", spec)
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
    transformers = require("transformers", spec)
    with _hub_errors(spec, "MahmoodLab/TITAN"):
        titan = transformers.AutoModel.from_pretrained("MahmoodLab/TITAN", trust_remote_code=True)
    model, _ = titan.return_conch()
    return model, Preprocess(**card.preprocess)


def split_checkpoint(name: str) -> tuple[str, Path | None]:
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


def local_model(spec: str, folder: Path) -> tuple[Any, Preprocess, Callable[[Any], Any] | None]:
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
        model, pre = timm_model(spec, f"local-dir:{folder}", card)
        if card is not None and card.pooling == "cls+mean":
            model = _ForwardFeatures.wrap(model)
            pool = _cls_mean_pool(card.skip)
    else:
        model, pre, pool = _hf_transformers(spec, str(folder), card)
    return model, pre, pool


def hub_model(spec: str, name: str) -> tuple[Any, Preprocess, Callable[[Any], Any] | None]:
    """``hf:<repo>``: a known card's loader (TITAN, transformers, timm), else timm's
    ``hf-hub:`` path when timm is installed, else ``transformers``."""
    pool: Callable[[Any], Any] | None = None
    card = card_model(name)
    repo = card.repo if card is not None else name
    if card is not None and card.loader == "titan":
        model, pre = _titan_conch(spec, card)
    elif card is not None and card.loader == "transformers":
        model, pre, pool = _hf_transformers(spec, repo, card)
    elif card is not None or _has("timm"):
        model, pre = timm_model(spec, f"hf-hub:{repo}", card)
    else:
        try:
            model, pre, pool = _hf_transformers(spec, repo, None)
        except DependencyMissingError as exc:
            raise DependencyMissingError(
                f"encoder {spec!r} needs timm (hf-hub path) or transformers; neither is installed",
                hint="pip install 'hepatokit[train]' (keep torch pinned: -c "
                "constraints.txt), accept the model's licence on the Hub and set HF_TOKEN",
            ) from exc
    if card is not None and card.pooling == "cls+mean":
        model = _ForwardFeatures.wrap(model)
        pool = _cls_mean_pool(card.skip)
    return model, pre, pool
