"""The package's shape: stage folders as the design lays them out, files readable in one
sitting, imports one way, no cycles.

The expected stage folders are read from the design document (``../shared/DESIGN.md``) when it
is beside the repository (CI puts it there), so the layout is checked against the design, not
against itself.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "hepatokit"
DESIGN = REPO.parent / "shared" / "DESIGN.md"

#: the readability limits the design sets ("a file should be readable in one sitting")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_stage_folders_follow_the_design() -> None:
    if not DESIGN.is_file():
        pytest.skip("../shared/DESIGN.md is not beside the repository")
    text = DESIGN.read_text(encoding="utf-8")
    found = 0
    for family in ("mri", "patho"):
        line = re.search(rf"^\s*curation/{family}/\s+(.*)$", text, flags=re.MULTILINE)
        assert line, f"DESIGN.md has no curation/{family}/ line"
        for stage in re.findall(r"([a-z_]+)/", line.group(1)):
            folder = PACKAGE / "curation" / family / stage
            assert (folder / "__init__.py").is_file(), f"stage folder {folder} missing"
            assert len(list(folder.glob("*.py"))) >= 2, f"{folder} holds no module"
            found += 1
    assert found >= 12
    for name in ("lifs", "hepatobench", "demo"):
        assert (PACKAGE / "pipelines" / f"{name}.py").is_file()


#: functions allowed past MAX_FUNCTION_LINES, each one loop that runs per pixel or per DICOM
#: element, where a call out of the loop costs measurable time; each is checked against its
#: reference (numpy path / pydicom's element generator) by its tests
HOT_LOOPS = {
    "hepatokit/curation/patho/qc/_kernel_numba.py:measure": "one compiled pass per pixel",
    "hepatokit/curation/mri/dicom/scan.py:scan_elements": "the header parse loop of each file",
}


def test_modules_and_functions_are_readable_in_one_sitting() -> None:
    long_modules, long_functions = [], []
    for path in _modules():
        src = path.read_text(encoding="utf-8")
        rel = path.relative_to(REPO)
        if src.count("\n") > MAX_MODULE_LINES:
            long_modules.append(f"{rel}: {src.count(chr(10))} lines")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES and f"{rel}:{node.name}" not in HOT_LOOPS:
                    long_functions.append(f"{rel}:{node.lineno} {node.name}: {n} lines")
    assert not long_modules, long_modules
    assert not long_functions, long_functions


def test_executor_internals_are_read_in_one_place() -> None:
    readers = [p.relative_to(REPO) for p in _modules() if "_max_workers" in p.read_text()]
    assert readers == [Path("hepatokit/parallel.py")]


def _imports(*, type_checking: bool = False) -> dict[str, set[str]]:
    """Module → hepatokit modules it imports anywhere in it (``TYPE_CHECKING`` blocks only
    with ``type_checking``: a type-only cycle still ties two modules into one)."""
    known = {_name(p) for p in _modules()}
    graph: dict[str, set[str]] = defaultdict(set)
    for path in _modules():
        me = _name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = {
            id(n)
            for node in ast.walk(tree)
            if not type_checking
            and isinstance(node, ast.If)
            and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for n in names:
                if n.startswith("hepatokit") and n in known and n != me:
                    graph[me].add(n)
    return graph


def _family(module: str) -> str:
    parts = module.split(".")
    if parts[1:2] == ["curation"] and len(parts) > 2:
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def test_imports_flow_one_way() -> None:
    graph = _imports()
    wrong = []
    for src, targets in graph.items():
        fam = _family(src)
        for dst in targets:
            dfam = _family(dst)
            if dfam == "hepatokit.cli" and fam != "hepatokit.cli":
                wrong.append(f"{src} imports the CLI {dst}")
            if dfam == "hepatokit.pipelines" and fam not in {"hepatokit.cli", dfam}:
                wrong.append(f"{src} (a stage) imports the pipeline {dst}")
            pair = {([*fam.split("."), ""])[1], ([*dfam.split("."), ""])[1]}
            if pair == {"curation", "synthetic"}:
                wrong.append(f"{src} and {dst}: synthetic and curation must stay apart")
            if {fam, dfam} == {"hepatokit.curation.mri", "hepatokit.curation.patho"}:
                wrong.append(f"{src} reaches into the other stage family {dst}")
            if fam == "hepatokit.evaluation" and dst.startswith("hepatokit.baselines"):
                wrong.append(f"{src}: evaluation must not need the training stack ({dst})")
    assert not wrong, wrong


def test_no_import_cycles_between_modules() -> None:
    graph = {
        m: {t for t in ts if not (PACKAGE.parent / t.replace(".", "/") / "__init__.py").exists()}
        for m, ts in _imports(type_checking=True).items()
        if not (PACKAGE.parent / m.replace(".", "/") / "__init__.py").exists()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, [" -> ".join(c) for c in cycles]
