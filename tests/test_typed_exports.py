"""Lazy public names reach type checkers with their real signatures.

Each package ``__init__`` lists its public names in ``_EXPORTS`` (resolved lazily at run
time) and imports the same names under ``if TYPE_CHECKING:`` for mypy. The two lists must
agree, name for name and module for module; and mypy, run on a user's script, must see a
real signature through ``import hepatokit as hk``, not ``Any``.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import hepatokit

PACKAGE = Path(hepatokit.__file__).resolve().parent
INITS = sorted(p for p in PACKAGE.rglob("__init__.py") if "_EXPORTS" in p.read_text())


def _type_checking_imports(init: Path) -> dict[str, str]:
    """name → module of the ``from M import N as N`` lines under ``if TYPE_CHECKING:``."""
    out: dict[str, str] = {}
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module, ast.unparse(imp)
                for alias in imp.names:
                    assert alias.asname == alias.name, f"{init}: re-export {alias.name} as itself"
                    out[alias.name] = imp.module
    return out


@pytest.mark.parametrize("init", INITS, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_type_checking_block_lists_every_lazy_export(init: Path) -> None:
    package = ".".join(init.relative_to(PACKAGE.parent).parts[:-1])
    exports = importlib.import_module(package)._EXPORTS
    want = {
        name: mod if mod.startswith("hepatokit.") else f"{package}.{mod}"
        for name, mod in exports.items()
    }
    assert _type_checking_imports(init) == want


def test_lazy_names_resolve_to_the_objects_the_type_checker_sees() -> None:
    for init in INITS:
        package = ".".join(init.relative_to(PACKAGE.parent).parts[:-1])
        pkg = importlib.import_module(package)
        for name, module in _type_checking_imports(init).items():
            if module.split(".")[1] in {"baselines", "loaders", "quant"}:
                continue  # torch-heavy: importing them all is the slow path this avoids
            got, want = getattr(pkg, name), getattr(importlib.import_module(module), name)
            # by definition site, not identity: other tests re-import modules
            for attr in ("__module__", "__qualname__"):
                assert getattr(got, attr, None) == getattr(want, attr, None), (name, attr)


def test_mypy_sees_real_signatures_in_a_user_script(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    script = tmp_path / "user_script.py"
    script.write_text(
        "import hepatokit as hk\n"
        "reveal_type(hk.recognise_series)\n"
        "reveal_type(hk.build_dataset)\n"
        "hk.recognise_series(build=1)\n"
    )
    out, _, _ = api.run(
        [str(script), "--follow-imports=silent", "--no-incremental",
         "--cache-dir", str(tmp_path / "cache")]
    )  # fmt: skip
    notes = [line for line in out.splitlines() if "Revealed type" in line]
    assert len(notes) == 2, out
    assert all('"Any"' not in n for n in notes), notes
    assert "build:" in notes[0] and "SeriesSummary" in notes[0], notes[0]
    # a wrong argument type is caught, which an ``Any`` export would let through
    assert "user_script.py:4: error" in out and "recognise_series" in out, out
