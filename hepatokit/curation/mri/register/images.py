"""Images for the registration: NIfTI ↔ SimpleITK (LPS world), the working grid, the body
mask, and the checks that make a volume unusable (blank, tiny)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hepatokit.atomic import atomic_path
from hepatokit.errors import DataFormatError, DependencyMissingError

__all__ = [
    "FLIP",
    "blank_or_tiny",
    "body_mask",
    "sitk_module",
    "to_sitk",
    "working",
    "write_resampled",
]

#: RAS ↔ LPS (nibabel / NIfTI world ↔ ITK / DICOM world)
FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])


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
    aff = FLIP @ np.asarray(img.affine, dtype=np.float64)
    spacing = np.linalg.norm(aff[:3, :3], axis=0)
    if np.any(spacing <= 0):
        raise DataFormatError("the volume's affine has a zero voxel size")
    out = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
    out.SetSpacing([float(s) for s in spacing])
    out.SetDirection([float(v) for v in (aff[:3, :3] / spacing).ravel()])
    out.SetOrigin([float(v) for v in aff[:3, 3]])
    return out


def working(image: Any, spacing_mm: float, sitk: Any) -> Any:
    """``image`` on a grid no finer than ``spacing_mm`` (same frame and extent), smoothed
    against aliasing where it is coarsened."""
    old = np.asarray(image.GetSpacing())
    new = np.maximum(old, spacing_mm)
    if np.allclose(new, old):
        return image
    size = [max(1, round(n * o / s)) for n, o, s in zip(image.GetSize(), old, new, strict=True)]
    # anti-aliasing along the coarsened axes only: a recursive (IIR) Gaussian of σ = (new −
    # old) / 2 mm per axis, whose cost does not grow with σ
    smooth = image
    for axis, (o, s) in enumerate(zip(old, new, strict=True)):
        if s > o:
            smooth = sitk.RecursiveGaussian(smooth, float((s - o) / 2), False, 0, axis)
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


def body_mask(image: Any, sitk: Any) -> Any:
    """Voxels above 10 % of the 99th percentile, closed: where the metric samples."""
    arr = sitk.GetArrayViewFromImage(image)
    hi = float(np.percentile(arr, 99)) if arr.size else 0.0
    mask = sitk.BinaryThreshold(image, 0.1 * hi, 1e30, 1, 0) if hi > 0 else None
    if mask is None:
        return None
    return sitk.BinaryDilate(mask, [2, 2, 2])


def blank_or_tiny(image: Any, min_voxels: int, sitk: Any) -> str | None:
    if min(image.GetSize()) < min_voxels:
        return "tiny"
    view = sitk.GetArrayViewFromImage(image)
    if not np.any(view) or float(np.std(view)) == 0.0:
        return "blank"
    if np.count_nonzero(view) < min_voxels**3:
        return "tiny"
    return None


def write_resampled(sitk: Any, fixed: Any, moving: Any, tx: Any, path: Path) -> None:
    """``moving ∘ tx`` resampled on ``fixed``'s grid, written as a float32 NIfTI (RAS)."""
    import nibabel as nib

    out = sitk.Resample(moving, fixed, tx, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    data = sitk.GetArrayFromImage(out).transpose(2, 1, 0)
    aff = np.eye(4)
    d = np.asarray(fixed.GetDirection()).reshape(3, 3) * np.asarray(fixed.GetSpacing())
    aff[:3, :3] = d
    aff[:3, 3] = fixed.GetOrigin()
    img = nib.Nifti1Image(data.astype(np.float32), FLIP @ aff)
    img.header.set_xyzt_units("mm", "sec")
    with atomic_path(path, suffix=".nii.gz", durable=False) as tmp:
        nib.save(img, str(tmp))
