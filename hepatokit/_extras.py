"""Which extra provides each optional dependency, and the error that says so.

``pip install hepatokit`` is the light core (patches and tables, splits, publish, load,
evaluation); the rest comes with extras named after what users do. An import of a missing
optional package anywhere in hepatokit surfaces as :class:`~hepatokit.errors.DependencyMissingError`
naming the extra: through the public names (``hk.convert_volumes``), the CLI and the
encoders.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from hepatokit.errors import DependencyMissingError

__all__ = ["EXTRA_OF", "extra_error", "import_optional", "numba_path_enabled"]

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
    "numba": "fast",
}

_WHAT = {
    "mri": "MRI curation (DICOM, NIfTI)",
    "wsi": "whole-slide images",
    "train": "the baselines and torch loaders",
    "dask": "running on a Dask cluster",
    "fast": "the compiled loops (near-duplicate search, patch QC)",
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


def _chain_text(exc: BaseException) -> str:
    """The messages of an exception and its causes, one line each (what a user can act on)."""
    parts: list[str] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts.append(f"{type(cur).__name__}: {cur}".splitlines()[0])
        cur = cur.__cause__ or cur.__context__
    return " <- ".join(parts)


def import_optional(module: str, needed_by: str, *, alternative: str = "") -> Any:
    """Import an optional dependency, or raise :class:`DependencyMissingError` saying what to do.

    Two failures are told apart: the package is not installed (the message names the extra
    that installs it), or it is installed but fails to import — most often a torchvision built
    for another torch (PyPI's CUDA torchvision beside a CPU torch), which breaks timm, and also
    transformers and peft, which import torchvision whenever it is installed.

    Parameters
    ----------
    module
        Top-level module name, e.g. ``"peft"``.
    needed_by
        What needs it, for the message (e.g. ``"encoder 'timm:vit_small_patch16_224'"``).
    alternative
        A way round it without the package, appended to the hint (e.g. ``"builtin:tiny-cnn"``).
    """
    extra = EXTRA_OF.get(module.split(".")[0], "all")
    other = f", or use {alternative}" if alternative else ""
    try:
        return importlib.import_module(module)
    except Exception as exc:
        chain = _chain_text(exc)
        if isinstance(exc, ModuleNotFoundError) and exc.name == module.split(".")[0]:
            raise DependencyMissingError(
                f"{needed_by} needs the {module!r} package, which is not installed",
                hint=f"pip install 'hepatokit[{extra}]' (keep torch pinned: -c constraints.txt)"
                + other,
            ) from exc
        hint = "reinstall it"
        if "torchvision" in chain:
            hint = (
                "torchvision does not match the installed torch (a CUDA torchvision beside a "
                "CPU torch, or another version): install both from the same index, e.g. "
                "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu, "
                "or pip uninstall torchvision if nothing else needs it"
            )
        raise DependencyMissingError(
            f"{needed_by} needs {module!r}, which is installed but fails to import: {chain}",
            hint=hint + other,
        ) from exc


def numba_path_enabled(switch: str) -> bool:
    """Whether a compiled loop of the ``fast`` extra may run: numba imports and the
    environment variable ``switch`` is not ``numpy`` (which forces the numpy path)."""
    if os.environ.get(switch, "").strip().lower() == "numpy":
        return False
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True
