"""Which extra provides each optional dependency, and the error that says so.

``pip install hepatokit`` is the light core (patches and tables, splits, publish, load,
evaluation); the rest comes with extras named after what users do. An import of a missing
optional package anywhere in hepatokit surfaces as :class:`~hepatokit.errors.DependencyMissingError`
naming the extra: through the public names (``hk.index_dicom``) and the CLI.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from hepatokit.errors import DependencyMissingError

__all__ = ["EXTRA_OF", "extra_error", "reports_missing_extras"]

F = TypeVar("F", bound=Callable[..., Any])

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


def reports_missing_extras(fn: F) -> F:
    """Wrap a public function: a missing optional package raises the extra's error."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ModuleNotFoundError as exc:
            err = extra_error(exc)
            if err is None:
                raise
            raise err from exc

    return wrapper  # type: ignore[return-value]
