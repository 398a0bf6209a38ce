"""3D classifiers of the staging baseline: MONAI ``ResNet`` and ``ViT`` (spatial_dims=3).

Input: early fusion, the track's sequences stacked as channels, ``[B, n_seq, X, Y, Z]``
(zeros for a missing sequence). Output: 4 logits (Scheuer S1–S4).
Imported lazily by ``hepatokit.baselines`` (it imports torch and MONAI).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from hepatokit.baselines.staging_config import StagingConfig
from hepatokit.errors import DataFormatError

__all__ = ["MODELS", "build_staging_model", "count_parameters"]

MODELS = ("resnet3d", "vit3d")


def build_staging_model(
    name: Literal["resnet3d", "vit3d"] | str,
    *,
    in_channels: int,
    n_classes: int,
    config: StagingConfig,
    seed: int = 0,
) -> torch.nn.Module:
    """Build the classifier with a seeded initialisation.

    Parameters
    ----------
    name:
        ``resnet3d`` (MONAI ``ResNet``, basic blocks, ``config.resnet_layers`` /
        ``resnet_widths``) or ``vit3d`` (MONAI ``ViT`` with a classification token,
        ``config.vit_*``, image size = ``config.grid``).
    in_channels:
        Number of fused sequences.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "resnet3d":
            from monai.networks.nets import ResNet

            model: nn.Module = ResNet(
                block="basic",
                layers=list(config.resnet_layers),
                block_inplanes=list(config.resnet_widths),
                spatial_dims=3,
                n_input_channels=in_channels,
                conv1_t_size=7,
                conv1_t_stride=2,
                num_classes=n_classes,
            )
        elif name == "vit3d":
            from monai.networks.nets import ViT

            model = _LogitsOnly(
                ViT(
                    in_channels=in_channels,
                    img_size=tuple(config.grid),
                    patch_size=tuple(config.vit_patch),
                    hidden_size=config.vit_hidden,
                    mlp_dim=config.vit_mlp,
                    num_layers=config.vit_layers,
                    num_heads=config.vit_heads,
                    classification=True,
                    num_classes=n_classes,
                    dropout_rate=config.dropout,
                    spatial_dims=3,
                    post_activation="",  # raw logits, not MONAI's default Tanh
                )
            )
        else:
            raise DataFormatError(f"unknown staging model {name!r}", hint="resnet3d or vit3d")
    return model


class _LogitsOnly(nn.Module):
    """MONAI's ViT returns ``(logits, hidden_states)``; keep the logits."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        return out[0] if isinstance(out, tuple) else out


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
