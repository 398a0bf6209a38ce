"""Estimating one registration: Mattes mutual information on a multi-resolution pyramid
inside a mask, a bounded gradient descent from the scanner's frames, and the judgement of
what it found against the recipe's bounds."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from hepatokit.curation.mri.register.config import RegisterConfig, RegistrationResult
from hepatokit.curation.mri.register.images import (
    FLIP,
    blank_or_tiny,
    body_mask,
    sitk_module,
    to_sitk,
    working,
)
from hepatokit.curation.mri.register.transforms import centre, lps_to_ras, matrix_lps, rotation_deg

__all__ = [
    "PreparedFixed",
    "identity",
    "judge",
    "prepare_fixed",
    "register_pair",
    "register_rigid",
]

log = logging.getLogger("hepatokit.curation.mri.register.estimate")


def _method(cfg: RegisterConfig, sitk: Any, seed: int, mask: Any) -> Any:
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=cfg.histogram_bins)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(cfg.sampling_percentage, seed)  # per level: see below
    if mask is not None:
        reg.SetMetricFixedMask(mask)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetNumberOfThreads(max(1, cfg.threads))
    # gradients at the samples only: no gradient image of the whole volume per level
    reg.SetMetricUseFixedImageGradientFilter(False)
    reg.SetMetricUseMovingImageGradientFilter(False)
    return reg


def _percentage(cfg: RegisterConfig, image: Any, mask: Any) -> float:
    """Sampling fraction of one level: ``sampling_percentage``, capped at ``max_samples``
    voxels of the (masked) level image."""
    import SimpleITK as sitk

    n = float(np.prod(image.GetSize()))
    if mask is not None:
        n *= max(1e-3, float(np.mean(sitk.GetArrayViewFromImage(mask))))
    return float(min(cfg.sampling_percentage, cfg.max_samples / max(1.0, n)))


def _pyramid(
    sitk: Any, image: Any, mask: Any, cfg: RegisterConfig, moving: bool = False
) -> list[tuple[Any, Any]]:
    """(image, mask) per level: shrunk by block averaging (``BinShrink``), then smoothed by
    ``smoothing_sigmas`` voxels of the working grid. The moving side is shrunk half as much (it is
    interpolated: it keeps twice the level's resolution)."""
    out = []
    for factor, sigma in zip(cfg.shrink_factors, cfg.smoothing_sigmas, strict=True):
        want = max(1, int(factor) // 2) if moving else int(factor)
        f = max(1, min(want, *(n // 2 for n in image.GetSize())))
        level = sitk.BinShrink(image, [f] * 3) if f > 1 else image
        if sigma > 0:
            sp = np.asarray(image.GetSpacing())  # voxels of the working grid (as SimpleITK)
            level = sitk.SmoothingRecursiveGaussian(level, [float(sigma * v) for v in sp])
        level_mask = None
        if mask is not None:
            level_mask = sitk.Resample(mask, level, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
        out.append((level, level_mask))
    return out


def _optimizer(reg: Any, cfg: RegisterConfig, learning_rate: float, affine: bool) -> None:
    """The optimiser of one level; ``learning_rate`` shrinks with the level's voxels.

    The affine refinement uses a line search (each step checks the metric): the regular-step
    descent, which never does, walks the 9 matrix parameters uphill into a shrinking
    transform on inverted contrasts (SimpleITK 2.x, Mattes MI)."""
    if affine:
        reg.SetOptimizerAsGradientDescentLineSearch(
            learningRate=learning_rate,
            numberOfIterations=cfg.iterations,
            convergenceMinimumValue=cfg.convergence,
            convergenceWindowSize=10,
        )
    elif cfg.optimizer == "regular_step":
        reg.SetOptimizerAsRegularStepGradientDescent(
            learningRate=learning_rate,
            minStep=cfg.min_step,
            numberOfIterations=cfg.iterations,
            relaxationFactor=cfg.relaxation,
            gradientMagnitudeTolerance=1e-6,
        )
    else:
        reg.SetOptimizerAsGradientDescent(
            learningRate=learning_rate,
            numberOfIterations=cfg.iterations,
            convergenceMinimumValue=cfg.convergence,
            convergenceWindowSize=10,
            estimateLearningRate=reg.EachIteration,
            maximumStepSizeInPhysicalUnits=cfg.max_step_mm,
        )
    reg.SetOptimizerScalesFromPhysicalShift()


def _evaluate(cfg: RegisterConfig, sitk: Any, fixed: Any, moving: Any, tx: Any, mask: Any) -> float:
    """Mutual information (nats; higher = better aligned) of ``fixed`` and ``moving ∘ tx`` on
    the working grid (every other voxel along each axis on grids over 64³), inside the mask,
    ``histogram_bins`` bins: the before / after check."""
    if np.prod(fixed.GetSize()) > 64**3:
        fixed = fixed[::2, ::2, ::2]
        mask = None if mask is None else mask[::2, ::2, ::2]
    warped = sitk.Resample(moving, fixed, tx, sitk.sitkLinear, np.nan, sitk.sitkFloat32)
    a = sitk.GetArrayViewFromImage(fixed)
    b = sitk.GetArrayViewFromImage(warped)
    keep = np.isfinite(b)
    if mask is not None:
        keep &= sitk.GetArrayViewFromImage(mask) > 0
    if keep.sum() < 64:
        raise RuntimeError("fewer than 64 voxels overlap")
    joint, _, _ = np.histogram2d(a[keep], b[keep], bins=cfg.histogram_bins)
    p = joint / joint.sum()
    px, py = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log(p[nz] / (px @ py)[nz])).sum())


def register_rigid(
    *,
    fixed: Any,
    moving: Any,
    transform: Literal["rigid", "affine"] = "rigid",
    config: RegisterConfig | None = None,
    fixed_mask: Any = None,
) -> RegistrationResult:
    """Register ``moving`` to ``fixed`` (NIfTI paths or nibabel images).

    Parameters
    ----------
    fixed, moving
        The reference and the sequence to align (3D; 4D: the last frame).
    transform
        ``rigid`` (Euler 3D: rotation + translation) or ``affine``.
    config
        Pyramid, sampling, iteration and QC bounds (default: :class:`RegisterConfig`).
    fixed_mask
        Optional mask (path / nibabel image, same grid as ``fixed``) where the metric
        samples, e.g. the liver; default: ``config.mask`` (``body``: a threshold mask).

    Returns
    -------
    RegistrationResult
        ``matrix`` maps fixed-space points (RAS mm) to moving-space points, so the moving
        volume resampled at ``matrix @ x`` for every fixed voxel centre ``x`` overlays the
        fixed one. Blank / tiny volumes, a worse metric, or a translation / rotation beyond
        the bounds give ``status="flagged"`` and the identity.
    """
    sitk = sitk_module()
    cfg = replace(config or RegisterConfig(), transform=transform)
    return register_pair(sitk, to_sitk(fixed, sitk), to_sitk(moving, sitk), cfg, fixed_mask)


def identity(flags: Sequence[str], before: float | None = None) -> RegistrationResult:
    """A flagged result that keeps the scanner's frames (``flags`` say why)."""
    return RegistrationResult(
        matrix=np.eye(4),
        status="flagged",
        flags=tuple(flags),
        metric_before=before,
        metric_after=before,
        iterations=0,
        translation_mm=0.0,
        rotation_deg=0.0,
    )


@dataclass(frozen=True)
class PreparedFixed:
    """The reference side, prepared once per subject: working grid, metric mask, problem."""

    image: Any
    mask: Any
    problem: str | None
    levels: list[tuple[Any, Any]] | None = None  # the pyramid (image, mask) per level


def prepare_fixed(
    sitk: Any, fixed_full: Any, cfg: RegisterConfig, fixed_mask: Any
) -> PreparedFixed:
    """The reference on the working grid with its metric mask (``fixed_mask``, else the
    recipe's) and pyramid, or the problem that makes it unusable."""
    fixed = working(fixed_full, cfg.working_spacing_mm, sitk)
    bad = blank_or_tiny(fixed, cfg.min_voxels, sitk)
    if bad:
        return PreparedFixed(fixed, None, f"{bad}_reference")
    mask = None
    if fixed_mask is not None:
        m = to_sitk(fixed_mask, sitk) > 0.5
        mask = sitk.Resample(sitk.Cast(m, sitk.sitkUInt8), fixed, sitk.Transform(), 1, 0)
    elif cfg.mask == "body":
        mask = body_mask(fixed, sitk)
    return PreparedFixed(fixed, mask, None, _pyramid(sitk, fixed, mask, cfg))


def register_pair(
    sitk: Any,
    fixed_full: Any,
    moving_full: Any,
    cfg: RegisterConfig,
    fixed_mask: Any = None,
    prepared: PreparedFixed | None = None,
) -> RegistrationResult:
    """Register ``moving_full`` to the reference (``prepared`` once per subject, else from
    ``fixed_full``): the identity and a flag when a side is unusable or the optimiser fails,
    else what the optimiser found, judged by :func:`judge`."""
    ref = prepared or prepare_fixed(sitk, fixed_full, cfg, fixed_mask)
    if ref.problem:
        return identity([ref.problem])
    fixed, mask = ref.image, ref.mask
    moving = working(moving_full, cfg.working_spacing_mm, sitk)
    bad_moving = blank_or_tiny(moving, cfg.min_voxels, sitk)
    if bad_moving:
        return identity([f"{bad_moving}_moving"])
    init: Any = sitk.Euler3DTransform()  # affine: rigid first, then the 12 parameters
    init.SetCenter([float(v) for v in centre(fixed)])  # header frames: identity in world
    try:
        before = _evaluate(cfg, sitk, fixed, moving, sitk.Transform(init), mask)
    except RuntimeError as exc:
        return identity([f"metric_failed: {str(exc).strip().splitlines()[-1][:120]}"])
    levels = ref.levels or _pyramid(sitk, fixed, mask, cfg)
    moving_levels = _pyramid(sitk, moving, None, cfg, moving=True)
    try:
        iterations = _optimise(sitk, cfg, levels, moving_levels, init)
        if cfg.transform == "affine":
            init = _affine_from(sitk, init)
            iterations += _optimise(sitk, cfg, levels, moving_levels, init, AFFINE_LEVELS)
    except RuntimeError as exc:
        return identity([f"failed: {str(exc).strip().splitlines()[-1][:120]}"], before)
    after = _evaluate(cfg, sitk, fixed, moving, init, mask)
    found = lps_to_ras(matrix_lps(init))
    return judge(cfg, found, centre(fixed), before, after, iterations, init)


AFFINE_LEVELS = 2  # affine: the 12 parameters are refined on the finest levels only


def _affine_from(sitk: Any, rigid: Any) -> Any:
    """An ``AffineTransform`` equal to the (optimised) rigid ``Euler3DTransform``."""
    tx = sitk.AffineTransform(3)
    tx.SetCenter(rigid.GetCenter())
    tx.SetMatrix(rigid.GetMatrix())
    tx.SetTranslation(rigid.GetTranslation())
    return tx


def _optimise(
    sitk: Any,
    cfg: RegisterConfig,
    levels: list[tuple[Any, Any]],
    moving_levels: list[tuple[Any, Any]],
    init: Any,
    last: int | None = None,
) -> int:
    """Optimise ``init`` in place, coarse to fine (only the ``last`` finest levels when
    given); returns the iterations run.

    One single-level run per pyramid level, on images shrunk once (the fixed side once per
    subject): SimpleITK's own pyramid smooths the full-size images at every level.
    """
    count = [0]

    def _tick() -> None:
        count[0] += 1

    first = max(1, cfg.shrink_factors[0])
    start = 0 if last is None else max(0, len(levels) - last)
    for factor, (f_i, m_i), (mv_i, _) in list(
        zip(cfg.shrink_factors, levels, moving_levels, strict=True)
    )[start:]:
        reg = _method(cfg, sitk, cfg.seed, m_i)
        affine = init.GetName() == "AffineTransform"
        _optimizer(reg, cfg, cfg.learning_rate * max(1, factor) / first, affine)
        reg.SetMetricSamplingPercentage(_percentage(cfg, f_i, m_i), cfg.seed)
        reg.SetInitialTransform(init, inPlace=True)
        reg.AddCommand(sitk.sitkIterationEvent, _tick)
        reg.Execute(f_i, mv_i)
        log.debug("stop: %s", reg.GetOptimizerStopConditionDescription())
    return count[0]


def judge(
    cfg: RegisterConfig,
    found: NDArray[np.float64],
    centre_lps: NDArray[np.float64],
    before: float,
    after: float,
    iterations: int,
    transform: Any = None,
) -> RegistrationResult:
    """The result of an optimisation that ran: ``found`` (4×4, RAS, fixed → moving) unless
    the metric got worse or the motion at the reference's centre (``centre_lps``, ITK world)
    exceeds the recipe's bounds, then the identity and the flags that say why."""
    centre_ras = (FLIP @ np.append(centre_lps, 1.0))[:3]
    shift = float(np.linalg.norm(found[:3, :3] @ centre_ras + found[:3, 3] - centre_ras))
    angle = rotation_deg(found)
    flags = []
    if after < before - cfg.metric_tolerance * abs(before):
        flags.append("metric_worse")
    if shift > cfg.max_translation_mm:
        flags.append("translation")
    if angle > cfg.max_rotation_deg:
        flags.append("rotation")
    if np.abs(np.linalg.svd(found[:3, :3], compute_uv=False) - 1).max() > cfg.max_scale_change:
        flags.append("scale")
    return RegistrationResult(
        matrix=np.eye(4) if flags else found,
        status="flagged" if flags else "ok",
        flags=tuple(flags),
        metric_before=before,
        metric_after=after,
        iterations=iterations,
        translation_mm=shift,
        rotation_deg=angle,
        found=found,
        transform=None if flags else transform,
    )
