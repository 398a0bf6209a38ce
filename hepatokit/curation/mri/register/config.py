"""The ``register`` recipe section and the result of one registration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["RegisterConfig", "RegistrationResult"]


@dataclass(frozen=True)
class RegisterConfig:
    """``register``: the registration stage (see ``recipes/lifs.yaml``)."""

    reference: list[str] = field(default_factory=lambda: ["GED4", "GED3", "T1W"])
    transform: Literal["rigid", "affine"] = "rigid"
    working_spacing_mm: float = 2.0  # both volumes are brought to at least this voxel size
    shrink_factors: list[int] = field(default_factory=lambda: [4, 2, 1])  # pyramid levels
    smoothing_sigmas: list[float] = field(default_factory=lambda: [2.0, 1.0, 0.0])  # voxels
    sampling_percentage: float = 0.3  # random voxels of the (masked) reference per level
    max_samples: int = 12000  # at most this many per level (bounds the cost on big grids)
    histogram_bins: int = 32
    iterations: int = 100  # per level
    optimizer: Literal["regular_step", "gradient_descent"] = "regular_step"
    learning_rate: float = 2.0  # regular step: the first step (scaled to mm of shift)
    relaxation: float = 0.8  # regular step: step factor at each change of direction
    min_step: float = 0.01
    convergence: float = 1e-6  # gradient descent: stop when the metric's slope is below
    max_step_mm: float = 2.0  # gradient descent: largest voxel shift of one step
    mask: Literal["body", "liver", "none"] = "body"  # where the metric samples the reference
    max_translation_mm: float = 40.0  # beyond → flagged (identity kept)
    max_rotation_deg: float = 15.0
    max_scale_change: float = 0.1  # affine: a singular value off 1 by more → ``scale``
    metric_tolerance: float = 0.05  # MI after < before − this × before → ``metric_worse``
    min_voxels: int = 8  # fewer along any axis of the working grid → ``tiny``
    threads: int = 1  # SimpleITK threads per worker (parallelism is over subjects)
    resample: bool = False  # also write each sequence resampled on the reference grid
    qc_figure: bool = True
    seed: int = 2025

    def __post_init__(self) -> None:
        if self.transform not in ("rigid", "affine"):
            raise ValueError(f"transform must be rigid or affine, got {self.transform!r}")
        if self.mask not in ("body", "liver", "none"):
            raise ValueError(f"mask must be body, liver or none, got {self.mask!r}")
        if len(self.shrink_factors) != len(self.smoothing_sigmas) or not self.shrink_factors:
            raise ValueError("shrink_factors and smoothing_sigmas need the same, non-zero length")
        if not 0 < self.sampling_percentage <= 1:
            raise ValueError("sampling_percentage must be in (0, 1]")
        if not self.reference:
            raise ValueError("reference needs at least one sequence")


@dataclass(frozen=True)
class RegistrationResult:
    """One registration: ``matrix`` (4×4, world RAS mm) maps fixed points to moving points.

    ``status`` is ``ok`` or ``flagged`` (then ``matrix`` is the identity, ``flags`` say
    why, and ``found`` is what the optimiser found, if it ran). Metrics are the mutual
    information (nats; higher = better aligned) of the two volumes on the working grid inside
    the mask, before (scanner frames) and after.
    """

    matrix: NDArray[np.float64]
    status: Literal["ok", "flagged"]
    flags: tuple[str, ...]
    metric_before: float | None
    metric_after: float | None
    iterations: int
    translation_mm: float
    rotation_deg: float
    found: NDArray[np.float64] | None = None
    transform: Any = field(default=None, repr=False, compare=False)  # SimpleITK transform

    @property
    def reason(self) -> str | None:
        return ", ".join(self.flags) or None
