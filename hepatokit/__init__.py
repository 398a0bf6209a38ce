"""hepatokit: raw clinical liver imaging → published benchmark datasets, baselines, evaluation.

The public API is listed in ``__all__``. Names are imported lazily on first use, so
``import hepatokit`` stays fast and pulls neither torch nor datasets.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from hepatokit._version import __version__

logging.getLogger("hepatokit").addHandler(logging.NullHandler())

#: public name → module that defines it (resolved on first attribute access)
_EXPORTS: dict[str, str] = {
    # errors
    "HepatokitError": "hepatokit.errors",
    "RecipeError": "hepatokit.errors",
    "DataFormatError": "hepatokit.errors",
    "BuildStateError": "hepatokit.errors",
    "SubmissionError": "hepatokit.errors",
    "LeakageError": "hepatokit.errors",
    "PHIError": "hepatokit.errors",
    "ManifestError": "hepatokit.errors",
    "DependencyMissingError": "hepatokit.errors",
    # shared helpers
    "Manifest": "hepatokit.manifest",
    "ManifestRow": "hepatokit.manifest",
    "map_items": "hepatokit.parallel",
    "make_executor": "hepatokit.parallel",
    "ItemResult": "hepatokit.parallel",
    "Recipe": "hepatokit.recipe",
    "load_recipe": "hepatokit.recipe",
    "atomic_write": "hepatokit.atomic",
    "atomic_path": "hepatokit.atomic",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hepatokit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
