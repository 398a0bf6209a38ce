"""The pathology foundation models whose model cards hepatokit follows (:class:`CardModel`).

Each card says how to create the model (``timm`` arguments, ``transformers`` or the TITAN
remote code), how to pool its output and how to preprocess its input; see
:func:`~hepatokit.baselines.encoders.load_encoder` for the specs that use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["KNOWN_HUB_MODELS", "CardModel", "card_create_kwargs", "card_model"]


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
