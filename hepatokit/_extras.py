"""Which extra provides each optional dependency, and the error that says so.

``pip install hepatokit`` is the light core (patches and tables, splits, publish, load,
evaluation); the rest comes with extras named after what users do. An import of a missing
optional package anywhere in hepatokit surfaces as :class:`~hepatokit.errors.DependencyMissingError`
naming the extra: through the public names (``hk.convert_volumes``), the CLI and the
encoders.
"""

from __future__ import annotations

from hepatokit.errors import DependencyMissingError

__all__ = ["EXTRA_OF", "extra_error"]

#: top-level module → the extra that installs it
EXTRA_OF: dict[str, str] = {
    "dcm2niix": "mri",
    "nibabel": "mri",
    "isal": "mri",
    "SimpleITK": "mri",
    "openslide": "wsi",
    "tifffile": "wsi",
    "torch": "train",
    "monai": "train",
    "timm": "train",
    "peft": "train",
    "transformers": "train",
    "dask": "dask",
    "distributed": "dask",
}

_WHAT = {
    "mri": "MRI curation (DICOM, NIfTI)",
    "wsi": "whole-slide images",
    "train": "the baselines and torch loaders",
    "dask": "running on a Dask cluster",
}


def extra_error(exc: ImportError) -> DependencyMissingError | None:
    """The error naming the extra for a missing optional module (None: not an optional one)."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    extra = EXTRA_OF.get(name)
    if extra is None or not isinstance(exc, ModuleNotFoundError):
        return None
    hint = f"pip install 'hepatokit[{extra}]'"
    if extra == "train":
        hint += " (install the torch build for your machine first: CPU or CUDA)"
    return DependencyMissingError(
        f"{_WHAT[extra]} need(s) the {name!r} package, which is not installed", hint=hint
    )
