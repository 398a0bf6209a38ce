"""``mri register``: rigid (or affine) alignment of every sequence to a reference sequence.

LiFS's sequences are acquired minutes apart (breath holds, patient motion), so they do not
overlay. This optional stage registers, per subject, every sequence to the recipe's
reference sequence (the first present of ``register.reference``, e.g. GED4 → GED3 → T1W)
with SimpleITK: Mattes mutual information (multi-modal), a multi-resolution pyramid on a
working grid of ``working_spacing_mm``, a random subset of voxels per level inside a body
mask, and a bounded number of iterations of a regular-step gradient descent, starting
from the scanner's frame (the identity in world coordinates, rotating about the reference's
centre).

Outputs (``BUILD/registration/``)::

    registration.parquet                 one row per subject and sequence (the reference too)
    sub-<id>/sub-<id>_<SEQ>_to_<REF>.tfm  the ITK transform (LPS, fixed → moving points)
    sub-<id>/sub-<id>_<SEQ>_reg.nii.gz    with ``resample``: the sequence on the reference grid
    sub-<id>/registration.json           the subject's rows + resume key
    BUILD/reports/registration/sub-<id>.png   QC: checkerboards before / after

``matrix_ras`` in the table is the same transform as a 4×4 matrix in world RAS millimetres
(row-major, 16 numbers) mapping a point of the reference to the corresponding point of the
sequence; ``hepatokit.loaders`` applies it when it resamples every sequence onto the
reference grid. A pair whose metric got worse, whose translation or rotation exceeds the
recipe's bounds, or whose moving volume is blank or tiny is ``flagged``: it keeps the
identity and says why. SimpleITK is imported on first use (the ``mri`` extra).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from hepatokit.atomic import atomic_path, write_json_atomic, write_parquet_atomic
from hepatokit.errors import BuildStateError, DataFormatError, DependencyMissingError

__all__ = [
    "REGISTRATION_SCHEMA_NAMES",
    "RegisterConfig",
    "RegisterSummary",
    "RegistrationResult",
    "register_rigid",
    "register_sequences",
    "sitk_module",
]

log = logging.getLogger("hepatokit.curation.mri.register.stage")

#: RAS ↔ LPS (nibabel / NIfTI world ↔ ITK / DICOM world)
_FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class RegisterConfig:
    """``register``: the registration stage (see ``recipes/lifs.yaml``)."""

    reference: list[str] = field(default_factory=lambda: ["GED4", "GED3", "T1W"])
    transform: Literal["rigid", "affine"] = "rigid"
    working_spacing_mm: float = 2.0  # both volumes are brought to at least this voxel size
    shrink_factors: list[int] = field(default_factory=lambda: [4, 2, 1])  # pyramid levels
    smoothing_sigmas: list[float] = field(default_factory=lambda: [2.0, 1.0, 0.0])  # voxels
    sampling_percentage: float = 0.15  # random voxels of the (masked) reference per level
    max_samples: int = 10000  # at most this many per level (bounds the cost on big grids)
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


def sitk_module() -> Any:
    """SimpleITK, or a clear error naming the extra that installs it."""
    try:
        import SimpleITK as sitk
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DependencyMissingError(
            "registration and grid resampling need SimpleITK, which is not installed",
            hint="install the MRI extra: pip install 'hepatokit[mri]'",
        ) from exc
    return sitk


# ----------------------------------------------------------------------------- images


def _nib_image(src: Any) -> Any:
    import nibabel as nib

    if isinstance(src, nib.spatialimages.SpatialImage):
        return src
    path = Path(os.fspath(src))
    if not path.is_file():
        raise DataFormatError("volume not found", path=path, hint="check the build's paths")
    return nib.load(str(path))


def _volume_array(img: Any) -> NDArray[np.float32]:
    data = np.asarray(img.dataobj, dtype=np.float32)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 4:  # several frames (b-values): the last one, as the loaders do
        data = data[..., -1]
    if data.ndim != 3:
        raise DataFormatError(f"expected a 3D volume, got shape {data.shape}")
    return np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)


def to_sitk(src: Any, sitk: Any | None = None) -> Any:
    """A NIfTI path or nibabel image → a float32 SimpleITK image (LPS world, as ITK uses)."""
    sitk = sitk or sitk_module()
    img = _nib_image(src)
    data = _volume_array(img)
    aff = _FLIP @ np.asarray(img.affine, dtype=np.float64)
    spacing = np.linalg.norm(aff[:3, :3], axis=0)
    if np.any(spacing <= 0):
        raise DataFormatError("the volume's affine has a zero voxel size")
    out = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
    out.SetSpacing([float(s) for s in spacing])
    out.SetDirection([float(v) for v in (aff[:3, :3] / spacing).ravel()])
    out.SetOrigin([float(v) for v in aff[:3, 3]])
    return out


def _working(image: Any, spacing_mm: float, sitk: Any) -> Any:
    """``image`` on a grid no finer than ``spacing_mm`` (same frame and extent), smoothed
    against aliasing where it is coarsened."""
    old = np.asarray(image.GetSpacing())
    new = np.maximum(old, spacing_mm)
    if np.allclose(new, old):
        return image
    size = [max(1, round(n * o / s)) for n, o, s in zip(image.GetSize(), old, new, strict=True)]
    # anti-aliasing along the coarsened axes only (variance in mm², 0 = untouched)
    variance = [float(max(0.0, (s - o) / 2)) ** 2 for o, s in zip(old, new, strict=True)]
    smooth = sitk.DiscreteGaussian(image, variance, 32, 0.01, True)
    # keep the physical centre: the first voxel centre moves by half the size change
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    origin = np.asarray(image.GetOrigin()) + direction @ ((new - old) / 2)
    return sitk.Resample(
        smooth,
        size,
        sitk.Transform(),
        sitk.sitkLinear,
        [float(v) for v in origin],
        [float(v) for v in new],
        image.GetDirection(),
        0.0,
        sitk.sitkFloat32,
    )


def _body_mask(image: Any, sitk: Any) -> Any:
    """Voxels above 10 % of the 99th percentile, closed: where the metric samples."""
    arr = sitk.GetArrayViewFromImage(image)
    hi = float(np.percentile(arr, 99)) if arr.size else 0.0
    mask = sitk.BinaryThreshold(image, 0.1 * hi, 1e30, 1, 0) if hi > 0 else None
    if mask is None:
        return None
    return sitk.BinaryDilate(mask, [2, 2, 2])


def _blank_or_tiny(image: Any, min_voxels: int, sitk: Any) -> str | None:
    if min(image.GetSize()) < min_voxels:
        return "tiny"
    view = sitk.GetArrayViewFromImage(image)
    if not np.any(view) or float(np.std(view)) == 0.0:
        return "blank"
    if np.count_nonzero(view) < min_voxels**3:
        return "tiny"
    return None


# ----------------------------------------------------------------------------- transforms


def _matrix_lps(tx: Any) -> NDArray[np.float64]:
    """4×4 of a SimpleITK matrix-offset transform (LPS, fixed → moving)."""
    m = np.eye(4)
    m[:3, :3] = np.asarray(tx.GetMatrix(), dtype=np.float64).reshape(3, 3)
    c = np.asarray(tx.GetCenter(), dtype=np.float64)
    m[:3, 3] = np.asarray(tx.GetTranslation(), dtype=np.float64) + c - m[:3, :3] @ c
    return m


def lps_to_ras(m: NDArray[np.float64]) -> NDArray[np.float64]:
    """A world transform in LPS (ITK) → the same transform in RAS (NIfTI); its own inverse."""
    return _FLIP @ np.asarray(m, dtype=np.float64) @ _FLIP


def ras_matrix_to_sitk(matrix_ras: Any, sitk: Any | None = None) -> Any:
    """A 4×4 RAS world matrix (fixed → moving) → a SimpleITK ``AffineTransform`` (LPS)."""
    sitk = sitk or sitk_module()
    m = lps_to_ras(np.asarray(matrix_ras, dtype=np.float64).reshape(4, 4))
    tx = sitk.AffineTransform(3)
    tx.SetMatrix([float(v) for v in m[:3, :3].ravel()])
    tx.SetTranslation([float(v) for v in m[:3, 3]])
    return tx


def rotation_deg(m: NDArray[np.float64]) -> float:
    """Angle of the rotation closest to ``m[:3, :3]`` (degrees)."""
    u, _, vt = np.linalg.svd(np.asarray(m)[:3, :3])
    r = u @ vt
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))))


def _centre(image: Any) -> NDArray[np.float64]:
    size = np.asarray(image.GetSize(), dtype=np.float64)
    return np.asarray(image.TransformContinuousIndexToPhysicalPoint((size - 1) / 2), np.float64)


# ----------------------------------------------------------------------------- registration


def _method(cfg: RegisterConfig, sitk: Any, seed: int, mask: Any) -> Any:
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=cfg.histogram_bins)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(cfg.sampling_percentage, seed)  # per level: see below
    if mask is not None:
        reg.SetMetricFixedMask(mask)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetNumberOfThreads(max(1, cfg.threads))
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


def _optimizer(reg: Any, cfg: RegisterConfig, learning_rate: float) -> None:
    """The optimiser of one level; ``learning_rate`` shrinks with the level's voxels."""
    if cfg.optimizer == "regular_step":
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
    the working grid, inside the mask, ``histogram_bins`` bins: the before / after check."""
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
    return _register(sitk, to_sitk(fixed, sitk), to_sitk(moving, sitk), cfg, fixed_mask)


def _identity(flags: Sequence[str], before: float | None = None) -> RegistrationResult:
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
class _Fixed:
    """The reference side, prepared once per subject: working grid, metric mask, problem."""

    image: Any
    mask: Any
    problem: str | None
    levels: list[tuple[Any, Any]] | None = None  # the pyramid (image, mask) per level


def _prepare_fixed(sitk: Any, fixed_full: Any, cfg: RegisterConfig, fixed_mask: Any) -> _Fixed:
    fixed = _working(fixed_full, cfg.working_spacing_mm, sitk)
    bad = _blank_or_tiny(fixed, cfg.min_voxels, sitk)
    if bad:
        return _Fixed(fixed, None, f"{bad}_reference")
    mask = None
    if fixed_mask is not None:
        m = to_sitk(fixed_mask, sitk) > 0.5
        mask = sitk.Resample(sitk.Cast(m, sitk.sitkUInt8), fixed, sitk.Transform(), 1, 0)
    elif cfg.mask == "body":
        mask = _body_mask(fixed, sitk)
    return _Fixed(fixed, mask, None, _pyramid(sitk, fixed, mask, cfg))


def _register(
    sitk: Any,
    fixed_full: Any,
    moving_full: Any,
    cfg: RegisterConfig,
    fixed_mask: Any = None,
    prepared: _Fixed | None = None,
) -> RegistrationResult:
    ref = prepared or _prepare_fixed(sitk, fixed_full, cfg, fixed_mask)
    if ref.problem:
        return _identity([ref.problem])
    fixed, mask = ref.image, ref.mask
    moving = _working(moving_full, cfg.working_spacing_mm, sitk)
    bad_moving = _blank_or_tiny(moving, cfg.min_voxels, sitk)
    if bad_moving:
        return _identity([f"{bad_moving}_moving"])
    if cfg.transform == "rigid":
        init: Any = sitk.Euler3DTransform()
    else:
        init = sitk.AffineTransform(3)
    init.SetCenter([float(v) for v in _centre(fixed)])  # header frames: identity in world
    try:
        before = _evaluate(cfg, sitk, fixed, moving, sitk.Transform(init), mask)
    except RuntimeError as exc:
        return _identity([f"metric_failed: {str(exc).strip().splitlines()[-1][:120]}"])
    count = [0]

    def _tick() -> None:
        count[0] += 1

    levels = ref.levels or _pyramid(sitk, fixed, mask, cfg)
    moving_levels = _pyramid(sitk, moving, None, cfg, moving=True)
    try:
        # one single-level run per pyramid level, on images shrunk once (the fixed side once
        # per subject): SimpleITK's own pyramid smooths the full-size images at every level
        first = max(1, cfg.shrink_factors[0])
        for factor, (f_i, m_i), (mv_i, _) in zip(
            cfg.shrink_factors, levels, moving_levels, strict=True
        ):
            reg = _method(cfg, sitk, cfg.seed, m_i)
            _optimizer(reg, cfg, cfg.learning_rate * max(1, factor) / first)
            reg.SetMetricSamplingPercentage(_percentage(cfg, f_i, m_i), cfg.seed)
            reg.SetInitialTransform(init, inPlace=True)
            reg.AddCommand(sitk.sitkIterationEvent, _tick)
            reg.Execute(f_i, mv_i)
            log.debug("stop: %s", reg.GetOptimizerStopConditionDescription())
    except RuntimeError as exc:
        return _identity([f"failed: {str(exc).strip().splitlines()[-1][:120]}"], before)
    after = _evaluate(cfg, sitk, fixed, moving, init, mask)
    found = lps_to_ras(_matrix_lps(init))
    centre_ras = (_FLIP @ np.append(_centre(fixed), 1.0))[:3]
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
        iterations=count[0],
        translation_mm=shift,
        rotation_deg=angle,
        found=found,
        transform=None if flags else init,
    )


# ----------------------------------------------------------------------------- the stage


REGISTRATION_SCHEMA_NAMES = (
    "subject_id",
    "sequence",
    "reference",
    "transform",
    "status",
    "flags",
    "reason",
    "matrix_ras",
    "tfm_path",
    "resampled_path",
    "metric_before",
    "metric_after",
    "iterations",
    "translation_mm",
    "rotation_deg",
    "seconds",
)


@dataclass(frozen=True)
class RegisterSummary:
    """Subjects and pairs registered: ``ok``, ``flagged`` (identity kept), ``skipped``
    (subjects up to date), ``no_reference`` (subjects without any reference sequence)."""

    subjects: int
    pairs: int
    ok: int
    flagged: int
    skipped: int
    no_reference: int
    table_path: Path
    cpu_seconds: float


@dataclass(frozen=True)
class _Job:
    build: str
    subject_id: str
    reference: str | None
    volumes: dict[str, str]  # sequence → path relative to BUILD
    mask: str | None
    config: RegisterConfig
    key: str


def _subject_volumes(
    build: Path, sequences: Sequence[str]
) -> list[tuple[str, dict[str, str], str | None]]:
    """(subject, {sequence: path}, liver mask) from subjects.parquet, else volumes.parquet."""
    import pandas as pd

    subjects = build / "subjects.parquet"
    if subjects.is_file():
        df = pd.read_parquet(subjects)
        out = []
        for row in df.sort_values("subject_id").to_dict("records"):
            vols = {
                s: str(row[f"volume_{s}"])
                for s in sequences
                if f"volume_{s}" in row and isinstance(row[f"volume_{s}"], str)
            }
            mask = row.get("mask_GED4")
            out.append((str(row["subject_id"]), vols, mask if isinstance(mask, str) else None))
        return out
    vol_path = build / "volumes.parquet"
    if not vol_path.is_file():
        raise BuildStateError(
            "no subjects.parquet or volumes.parquet",
            path=build,
            hint="run `hepatokit mri convert` (and `mri qc`, `mri labels`) first",
        )
    table = pd.read_parquet(vol_path)
    table = table[table["status"] == "ok"]
    qc = build / "qc" / "volume_qc.parquet"
    if qc.is_file():
        q = pd.read_parquet(qc, columns=["path", "qc_reason"])
        failed = set(q.loc[q["qc_reason"].notna(), "path"])
        table = table[~table["path"].isin(failed)]
    by_subject: dict[str, dict[str, str]] = {}
    for r in table.sort_values(["subject_id", "sequence"]).to_dict("records"):
        if r["sequence"] in sequences:
            by_subject.setdefault(str(r["subject_id"]), {})[str(r["sequence"])] = str(r["path"])
    return [(s, v, None) for s, v in sorted(by_subject.items())]


def _key(
    build: Path, cfg: RegisterConfig, ref: str | None, vols: Mapping[str, str], mask: str | None
) -> str:
    h = hashlib.sha256()
    stats = {}
    for seq, rel in sorted({**vols, **({"mask": mask} if mask else {})}.items()):
        try:
            st = (build / rel).stat()
            stats[seq] = [rel, st.st_size, st.st_mtime_ns]
        except OSError:
            stats[seq] = [rel, None, None]
    payload = {"config": asdict(cfg), "reference": ref, "volumes": stats, "version": 1}
    h.update(json.dumps(payload, sort_keys=True).encode())
    return h.hexdigest()


def _subject_dir(build: Path, sid: str) -> Path:
    return build / "registration" / f"sub-{sid}"


def _up_to_date(job: _Job) -> list[dict[str, Any]] | None:
    state = _subject_dir(Path(job.build), job.subject_id) / "registration.json"
    try:
        saved = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if saved.get("key") != job.key:
        return None
    rows: list[dict[str, Any]] = saved.get("rows", [])
    for r in rows:
        for k in ("tfm_path", "resampled_path"):
            if r.get(k) and not (Path(job.build) / r[k]).is_file():
                return None
    return rows


def _row(sid: str, seq: str, ref: str | None, kind: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(REGISTRATION_SCHEMA_NAMES)
    row.update(subject_id=sid, sequence=seq, reference=ref, transform=kind, flags=[])
    row.update(values)
    return row


def _register_subject(job: _Job) -> list[dict[str, Any]]:
    """Worker: register one subject's sequences, write its transforms / QC figure."""
    sitk = sitk_module()
    cfg = job.config
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(max(1, cfg.threads))
    build = Path(job.build)
    sid, ref = job.subject_id, job.reference
    folder = _subject_dir(build, sid)
    if ref is None:
        rows = [
            _row(sid, s, None, cfg.transform, status="no_reference", reason="no reference sequence")
            for s in job.volumes
        ]
        write_json_atomic(folder / "registration.json", {"key": job.key, "rows": rows})
        return rows
    t0 = time.process_time()
    fixed_full = to_sitk(build / job.volumes[ref], sitk)
    fixed_mask = None
    if cfg.mask == "liver" and job.mask and ref == "GED4":
        fixed_mask = build / job.mask
    prepared = _prepare_fixed(sitk, fixed_full, cfg, fixed_mask)
    rows = [
        _row(
            sid, ref, ref, cfg.transform, status="reference", matrix_ras=np.eye(4).ravel().tolist(),
            iterations=0, translation_mm=0.0, rotation_deg=0.0,
        )
    ]  # fmt: skip
    pairs: list[tuple[str, Any, RegistrationResult]] = []
    for seq, rel in job.volumes.items():
        if seq == ref:
            continue
        s0 = time.process_time()
        try:
            moving_full = to_sitk(build / rel, sitk)
            res = _register(sitk, fixed_full, moving_full, cfg, prepared=prepared)
        except (DataFormatError, RuntimeError, OSError, ValueError) as exc:
            moving_full = None
            res = _identity([f"unreadable: {exc}".replace("\n", " ")[:160]])
        tfm = folder / f"sub-{sid}_{seq}_to_{ref}.tfm"
        tx = res.transform if res.transform is not None else ras_matrix_to_sitk(res.matrix, sitk)
        with atomic_path(tfm, suffix=".tfm", durable=False) as tmp:
            sitk.WriteTransform(tx, str(tmp))
        resampled = None
        if cfg.resample and moving_full is not None:
            resampled = folder / f"sub-{sid}_{seq}_reg.nii.gz"
            _write_resampled(sitk, fixed_full, moving_full, tx, resampled)
        rows.append(
            _row(
                sid,
                seq,
                ref,
                cfg.transform,
                status=res.status,
                flags=list(res.flags),
                reason=res.reason,
                matrix_ras=[round(float(v), 9) for v in res.matrix.ravel()],
                tfm_path=tfm.relative_to(build).as_posix(),
                resampled_path=None
                if resampled is None
                else resampled.relative_to(build).as_posix(),
                metric_before=res.metric_before,
                metric_after=res.metric_after,
                iterations=res.iterations,
                translation_mm=round(res.translation_mm, 4),
                rotation_deg=round(res.rotation_deg, 4),
                seconds=round(time.process_time() - s0, 3),
            )
        )
        if moving_full is not None:
            pairs.append((seq, moving_full, res))
    if cfg.qc_figure:
        figure = build / "reports" / "registration" / f"sub-{sid}.png"
        _qc_figure(sitk, figure, ref, prepared.image, pairs)
    rows[0]["seconds"] = round(time.process_time() - t0, 3)  # the whole subject
    write_json_atomic(folder / "registration.json", {"key": job.key, "rows": rows})
    return rows


def _write_resampled(sitk: Any, fixed: Any, moving: Any, tx: Any, path: Path) -> None:
    import nibabel as nib

    out = sitk.Resample(moving, fixed, tx, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    data = sitk.GetArrayFromImage(out).transpose(2, 1, 0)
    aff = np.eye(4)
    d = np.asarray(fixed.GetDirection()).reshape(3, 3) * np.asarray(fixed.GetSpacing())
    aff[:3, :3] = d
    aff[:3, 3] = fixed.GetOrigin()
    img = nib.Nifti1Image(data.astype(np.float32), _FLIP @ aff)
    img.header.set_xyzt_units("mm", "sec")
    with atomic_path(path, suffix=".nii.gz", durable=False) as tmp:
        nib.save(img, str(tmp))


def _slice_png(arr: NDArray[Any]) -> NDArray[np.uint8]:
    lo, hi = np.percentile(arr, [1, 99]) if arr.size else (0.0, 1.0)
    scaled = np.clip((arr - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    return (scaled * 255).astype(np.uint8)


def _qc_figure(
    sitk: Any,
    path: Path,
    ref: str,
    fixed: Any,
    pairs: Sequence[tuple[str, Any, RegistrationResult]],
) -> None:
    """Per sequence: a checkerboard of reference / sequence on the reference's middle slice
    (working grid), before (scanner frames) and after registration; flagged rows say why."""
    from PIL import Image, ImageDraw

    k = fixed.GetSize()[2] // 2
    slab = fixed[:, :, k : k + 1]  # only this slice is resampled
    tile = 8
    fixed_slice = _slice_png(sitk.GetArrayFromImage(slab)[0])
    h, w = fixed_slice.shape
    yy, xx = np.mgrid[0:h, 0:w]
    board = ((yy // tile + xx // tile) % 2).astype(bool)
    label_h = 14
    canvas = Image.new("L", (2 * w + 4, max(1, len(pairs)) * (h + label_h)), 0)
    draw = ImageDraw.Draw(canvas)
    for i, (seq, moving, res) in enumerate(pairs):
        y0 = i * (h + label_h)
        tx_after = res.transform if res.transform is not None else sitk.Transform()
        for j, tx in enumerate((sitk.Transform(), tx_after)):
            m = sitk.Resample(moving, slab, tx, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
            ms = _slice_png(sitk.GetArrayFromImage(m)[0])
            canvas.paste(
                Image.fromarray(np.where(board, fixed_slice, ms)), (j * (w + 4), y0 + label_h)
            )
        text = f"{seq}->{ref} before | after: {res.status}"
        if res.flags:
            text += f" ({res.reason})"
        draw.text((2, y0 + 1), text[:80], fill=255)
    with atomic_path(path, suffix=".png", durable=False) as tmp:
        canvas.transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(tmp, format="PNG")


def register_sequences(
    *,
    build: str | os.PathLike[str],
    recipe: str | os.PathLike[str] | None = None,
    reference: str | Sequence[str] | None = None,
    transform: Literal["rigid", "affine"] | None = None,
    resample: bool | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
) -> RegisterSummary:
    """Register every subject's sequences to its reference sequence (resumable, parallel).

    Parameters
    ----------
    build
        Build folder after ``mri convert`` (``subjects.parquet`` when ``mri labels`` ran,
        else ``volumes.parquet`` minus QC failures).
    recipe
        Recipe (default ``BUILD/recipe.yaml``, else the packaged ``lifs``); section
        ``register``.
    reference
        A sequence (tried first, then the recipe's fallbacks) or an ordered list; default
        the recipe's ``register.reference``.
    transform
        ``rigid`` or ``affine`` (default: the recipe's).
    resample
        Also write every sequence resampled on its reference grid (default: the recipe's).
    workers, executor
        Subjects run in parallel on the project's executor; SimpleITK uses
        ``register.threads`` threads inside each worker.

    Returns
    -------
    RegisterSummary
        Counts; the table is ``BUILD/registration/registration.parquet``.
    """
    import pyarrow as pa

    from hepatokit.manifest import Manifest, kept, provenance
    from hepatokit.parallel import map_items
    from hepatokit.recipe import build_recipe

    sitk_module()  # fail early with the extra's name
    build = Path(build)
    rec = build_recipe(build, None if recipe is None else os.fspath(recipe), default="lifs")
    cfg = rec.section("register", RegisterConfig)
    if reference is not None:
        first = [reference] if isinstance(reference, str) else list(reference)
        cfg = replace(cfg, reference=[*first, *(s for s in cfg.reference if s not in first)])
    if transform is not None:
        cfg = replace(cfg, transform=transform)
    if resample is not None:
        cfg = replace(cfg, resample=resample)
    if "seed" in rec.data:
        cfg = replace(cfg, seed=int(rec.data["seed"]))
    sequences = tuple(str(s) for s in (rec.data.get("sequences") or ()))
    entries = _subject_volumes(
        build, sequences or ("T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4")
    )
    jobs, rows_by_subject = [], {}
    for sid, vols, mask in entries:
        ref = next((s for s in cfg.reference if s in vols), None)
        job = _Job(str(build), sid, ref, vols, mask, cfg, _key(build, cfg, ref, vols, mask))
        done = _up_to_date(job)
        if done is not None:
            rows_by_subject[sid] = done
        else:
            jobs.append(job)
    skipped = len(rows_by_subject)
    results = map_items(
        _register_subject, jobs, executor=executor, workers=workers, description="registration"
    )
    for job, res in zip(jobs, results, strict=True):
        if res.ok and res.value is not None:
            rows_by_subject[job.subject_id] = res.value
        else:
            rows_by_subject[job.subject_id] = [
                _row(
                    job.subject_id,
                    s,
                    job.reference,
                    cfg.transform,
                    status="failed",
                    reason=res.error,
                )
                for s in job.volumes
            ]
    rows = [r for sid in sorted(rows_by_subject) for r in rows_by_subject[sid]]
    schema = pa.schema(
        [
            ("subject_id", pa.string()), ("sequence", pa.string()), ("reference", pa.string()),
            ("transform", pa.string()), ("status", pa.string()), ("flags", pa.list_(pa.string())),
            ("reason", pa.string()), ("matrix_ras", pa.list_(pa.float64())),
            ("tfm_path", pa.string()), ("resampled_path", pa.string()),
            ("metric_before", pa.float64()), ("metric_after", pa.float64()),
            ("iterations", pa.int64()), ("translation_mm", pa.float64()),
            ("rotation_deg", pa.float64()), ("seconds", pa.float64()),
        ]
    )  # fmt: skip
    table_path = write_parquet_atomic(
        build / "registration" / "registration.parquet",
        pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema),
    )
    ledger = _ledger(build, rows, kept)
    if ledger:
        Manifest(build).record(
            "register",
            ledger,
            provenance_info=provenance(stage="mri.register", recipe_sha256=rec.sha256),
        )
    pairs = [r for r in rows if r["status"] not in ("reference", "no_reference")]
    cpu = sum(float(r["seconds"] or 0) for r in rows if r["status"] == "reference")
    summary = RegisterSummary(
        subjects=len(rows_by_subject),
        pairs=len(pairs),
        ok=sum(r["status"] == "ok" for r in pairs),
        flagged=sum(r["status"] in ("flagged", "failed") for r in pairs),
        skipped=skipped,
        no_reference=len({r["subject_id"] for r in rows if r["status"] == "no_reference"}),
        table_path=table_path,
        cpu_seconds=cpu,
    )
    log.info("register: %s", summary)
    return summary


def _ledger(build: Path, rows: Sequence[Mapping[str, Any]], kept: Any) -> list[Any]:
    """Kept rows (registration never excludes) for the files of each registered volume,
    when the build has the curation tables that name them."""
    import pandas as pd

    vol_path, series_path = build / "volumes.parquet", build / "series.parquet"
    if not (vol_path.is_file() and series_path.is_file()):
        return []
    vols = pd.read_parquet(vol_path, columns=["subject_id", "sequence", "series_id", "status"])
    vols = vols[vols["status"] == "ok"]
    series = pd.read_parquet(series_path, columns=["series_id", "item_ids"]).set_index("series_id")
    sid_of = {
        (str(s), str(q)): str(i)
        for s, q, i in zip(vols["subject_id"], vols["sequence"], vols["series_id"], strict=True)
    }
    out, seen = [], set()
    for r in rows:
        series_id = sid_of.get((r["subject_id"], r["sequence"]))
        if series_id is None or series_id not in series.index:
            continue
        if r["status"] == "reference":
            detail = "registration reference"
        elif r["status"] == "ok":
            detail = f"registered to {r['reference']}"
        else:
            detail = f"registration {r['status']}: {r['reason']} (identity kept)"
        items: Any = series.loc[series_id, "item_ids"]
        for item in items:
            if item not in seen:
                seen.add(item)
                out.append(kept(item, kind="file", stage="register", detail=detail))
    return out
