"""Lazy public names for package ``__init__`` modules (PEP 562).

``import hepatokit`` (or ``hepatokit.baselines``) must not pull torch, MONAI or datasets:
each public name is imported from its module the first time it is used, then cached.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module's ``__getattr__`` and ``__dir__`` over ``exports`` (public name → module).

    A module is absolute (``hepatokit.pipelines.lifs``) or, without the ``hepatokit.``
    prefix, relative to ``package`` (``build``). A name whose module needs a missing optional
    package raises the error naming its extra (the names stay the modules' own objects).
    """

    def module_of(name: str) -> str:
        mod = exports[name]
        return mod if mod.startswith("hepatokit.") else f"{package}.{mod}"

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        from hepatokit._extras import extra_error

        try:
            module = importlib.import_module(module_of(name))
        except ModuleNotFoundError as exc:
            err = extra_error(exc)
            if err is None:
                raise
            raise err from exc
        value = getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
