"""The build-folder contract (hepatokit.contracts): names in one place, schemas enforced,
the dataset kind recorded, docs/contracts.md in step with the module."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hepatokit.contracts import (
    SEQUENCES,
    BuildLayout,
    build_files,
    check_file,
    common,
    docs,
    hepatobench,
    lifs,
    read_kind,
    read_table,
    start_build,
    write_table,
)
from hepatokit.errors import BuildStateError, DataFormatError

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "hepatokit"
#: folder names of the contract that must not be joined to a path as literals
FOLDERS = {
    common.PRIVATE, common.REPORTS, common.MANIFEST_DIR, common.STATE, lifs.VOLUMES_DIR,
    common.QC_DIR, lifs.REGISTRATION_DIR, lifs.ALL_SERIES_DIR, hepatobench.TILES_DIR,
}  # fmt: skip


def _file_names() -> set[str]:
    """Contract paths of files (a dot in the last part). A file inside a folder is found by
    its whole path or by its folder joined as a literal (``build / "private" / ...``)."""
    return {v for v in build_files().values() if "." in v.rsplit("/", 1)[-1].lstrip(".")}


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, kinds)
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }


def literal_offenders(source: str, where: str) -> list[str]:
    """``where:line: 'literal'`` for each build file name written as a literal in ``source``:
    a string constant equal to a contract file name (or a path ending in one), or a contract
    folder name joined with ``/`` (docstrings and prose with spaces are not names)."""
    names = _file_names()
    tree = ast.parse(source)
    docs = _docstrings(tree)
    out = []
    for n in ast.walk(tree):
        if (
            isinstance(n, ast.BinOp)
            and isinstance(n.op, ast.Div)
            and isinstance(n.right, ast.Constant)
            and n.right.value in FOLDERS
        ):
            out.append(f"{where}:{n.lineno}: {n.right.value!r}")
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs:
            v = n.value
            if " " not in v and (v in names or any(v.endswith("/" + x) for x in names)):
                out.append(f"{where}:{n.lineno}: {v!r}")
    return out


def test_scanner_finds_literals() -> None:
    src = (
        '"""Writes series.parquet."""\n'
        'a = build / "series.parquet"\n'
        'b = build / "private" / "x"\n'
        'c = "/tmp/b/reports/leakage.md"\n'
        'd = f"no {name} in the build"\n'
        'e = "no series.parquet in the build"\n'
    )
    assert sorted(literal_offenders(src, "m.py")) == [
        "m.py:2: 'series.parquet'",
        "m.py:3: 'private'",
        "m.py:4: '/tmp/b/reports/leakage.md'",
    ]


def _scanned() -> list[tuple[Path, str]]:
    """The package's modules outside the contract."""
    out = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if not rel.startswith("hepatokit/contracts/"):
            out.append((path, rel))
    return out


def test_no_build_file_literal_outside_contracts() -> None:
    offenders = []
    for path, rel in _scanned():
        offenders += literal_offenders(path.read_text(encoding="utf-8"), rel)
    assert not offenders, "use hepatokit.contracts names:\n" + "\n".join(offenders)


def test_contracts_import_no_stage() -> None:
    """The contract is a shared helper: stages import it, it imports only base helpers."""
    allowed = ("hepatokit.contracts", "hepatokit.atomic", "hepatokit.errors")
    for path in sorted((PKG / "contracts").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("hepatokit"):
                    assert name.startswith(allowed), f"{path.name} imports {name}"


# -- schemas: checked on write and on read ---------------------------------------------------
def _volumes(**drop_or_retype: pa.DataType | None) -> pa.Table:
    fields = []
    for f in lifs.VOLUME_SCHEMA:
        if f.name in drop_or_retype:
            if drop_or_retype[f.name] is None:
                continue
            f = pa.field(f.name, drop_or_retype[f.name])
        fields.append(f)
    schema = pa.schema(fields)
    row = {f.name: (1 if pa.types.is_integer(f.type) else "x") for f in schema}
    return pa.Table.from_pylist([row], schema=schema)


def test_write_table_refuses_missing_column(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError) as err:
        write_table(tmp_path, lifs.VOLUMES, _volumes(status=None))
    text = str(err.value)
    assert str(tmp_path / "volumes.parquet") in text and "'status'" in text
    assert not (tmp_path / "volumes.parquet").exists()


def test_write_table_refuses_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"'series_id' is int64.*says string"):
        write_table(tmp_path, lifs.VOLUMES, _volumes(series_id=pa.int64()))


def test_write_then_read_round_trip_keeps_bytes(tmp_path: Path) -> None:
    """write_table writes exactly what write_parquet_atomic writes (no cast, extra columns kept)."""
    from hepatokit.atomic import write_parquet_atomic

    table = _volumes().append_column("extra", pa.array([1.5]))
    a = write_table(tmp_path, lifs.VOLUMES, table)
    b = write_parquet_atomic(tmp_path / "plain.parquet", table)
    assert a.read_bytes() == b.read_bytes()
    assert read_table(tmp_path, lifs.VOLUMES).equals(table)


def test_read_refuses_a_table_written_around_the_contract(tmp_path: Path) -> None:
    subjects = pa.table({"subject_id": ["a"], "center": ["c"], "vendor": [1]})
    pq.write_table(subjects, tmp_path / "subjects.parquet")
    for read in (lambda: read_table(tmp_path, lifs.SUBJECTS),
                 lambda: check_file(tmp_path, lifs.SUBJECTS)):  # fmt: skip
        with pytest.raises(DataFormatError) as err:
            read()
        assert str(tmp_path / "subjects.parquet") in str(err.value)
        assert "'vendor' is int64" in str(err.value)
    # only the columns asked for are checked
    got = read_table(tmp_path, lifs.SUBJECTS, columns=["subject_id", "center"])
    assert got.column_names == ["subject_id", "center"]
    pq.write_table(pa.table({"id": ["p"], "group": ["g"]}), tmp_path / "splits.parquet")
    with pytest.raises(DataFormatError, match="'split' is missing"):
        read_table(tmp_path, common.SPLITS)


def test_subjects_contract_accepts_any_recipe_sequences(tmp_path: Path) -> None:
    schema = lifs.subjects_schema(("T2W", "ADC"), release=True)
    write_table(tmp_path, lifs.SUBJECTS, schema.empty_table())
    assert read_table(tmp_path, lifs.SUBJECTS).schema.names[9:11] == ["volume_T2W", "volume_ADC"]


# -- build.json --------------------------------------------------------------------------------
def test_start_build_written_once(tmp_path: Path) -> None:
    path = start_build(tmp_path, "lifs")
    assert json.loads(path.read_text()) == {"dataset": "lifs"}
    start_build(tmp_path, "hepatobench")  # a later stage does not rewrite it
    assert read_kind(tmp_path) == "lifs"
    with pytest.raises(ValueError):
        start_build(tmp_path / "x", "mri")  # type: ignore[arg-type]


def test_kind_read_from_build_json_not_from_files(tmp_path: Path) -> None:
    (tmp_path / "subjects.parquet").write_bytes(b"")  # the old guess would say lifs
    start_build(tmp_path, "hepatobench")
    assert read_kind(tmp_path) == "hepatobench"
    assert BuildLayout(tmp_path).kind == "hepatobench"


def test_old_builds_without_build_json_fall_back_to_the_guess(tmp_path: Path) -> None:
    assert read_kind(tmp_path) == "hepatobench"
    (tmp_path / "subjects.parquet").write_bytes(b"")
    assert read_kind(tmp_path) == "lifs"


def test_bad_build_json_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "build.json").write_text('{"dataset": "radiology"}')
    with pytest.raises(BuildStateError, match=r"build\.json names no known dataset"):
        read_kind(tmp_path)
    (tmp_path / "build.json").write_text("[1]")
    with pytest.raises(BuildStateError, match="not a JSON object"):
        read_kind(tmp_path)


# -- one name per thing ------------------------------------------------------------------------
def test_sequences_defined_once() -> None:
    """The default sequence tuple is written out only in the contract module."""
    literal = re.compile(r'\(\s*"T1W",\s*"T2W",\s*"DWI",\s*"GED1",\s*"GED2",\s*"GED3",\s*"GED4"')
    hits = [rel for p, rel in _scanned() if literal.search(p.read_text(encoding="utf-8"))]
    assert not hits, hits
    assert literal.search((PKG / "contracts" / "lifs.py").read_text(encoding="utf-8"))
    assert SEQUENCES == ("T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4")


def test_layout_paths_match_the_names(tmp_path: Path) -> None:
    layout = BuildLayout(tmp_path)
    assert layout.volume("ab", "T2W") == tmp_path / "volumes/sub-ab/sub-ab_T2W.nii.gz"
    assert layout.manifest("index") == tmp_path / "manifest" / "index.parquet"
    assert layout.raw_root == tmp_path / "private" / "raw_root.json"
    assert layout / lifs.VOLUME_QC == tmp_path / "qc" / "volume_qc.parquet"
    names = list(build_files().values())
    assert len(names) == len(set(names)), "two constants name the same file"


# -- docs/contracts.md ---------------------------------------------------------------------------
DOC = REPO / "docs" / "contracts.md"
_EXT = r"\.(?:parquet|csv|json|md|png|yaml|html|key|nii\.gz)"
_TREE_NAME = re.compile(rf"(?<![\w`/])([\w.<>*-]+(?:/[\w.<>*-]+)*{_EXT}(?:\|\w+)*)")


def _expand(path: str) -> list[str]:
    """``reports/splits.md|png`` → both names."""
    head, _, last = path.rpartition("/")
    if "|" not in last:
        return [path]
    stem, _, exts = last.partition(".")
    return [f"{head}/{stem}.{ext}".lstrip("/") for ext in exts.split("|")]


def doc_build_paths(text: str) -> set[str]:
    """The build paths the prose of ``text`` names: ``BUILD/...``, paths under a build folder
    and the names in the ``BUILD/`` tree blocks (the generated file index is left out)."""
    prose = text.split(docs.BEGIN)[0]
    found = {m.group(1) for m in re.finditer(r"BUILD/([\w.<>*|/-]*)", prose)}
    # `private/slides.parquet`, `cache/qc_scores.parquet`: a path under a build folder
    found |= {
        m.group(1)
        for m in re.finditer(r"`([\w.<>*|-]+/[\w.<>*|/-]*)`", prose)
        if m.group(1).split("/")[0] in FOLDERS | {hepatobench.CACHE_DIR}
    }
    for block in re.findall(r"```\n(.*?)```", prose, re.S):
        lines = block.splitlines()
        if "BUILD/" not in [line.strip() for line in lines]:
            continue
        for line in lines:
            if not line.lstrip().startswith(("ROOT/", "BUILD/")):
                found.update(_TREE_NAME.findall(line))
    return {p for raw in found for p in _expand(raw.rstrip("/")) if p}


def known_path(path: str, names: set[str]) -> bool:
    """A contract name, or a pattern under a contract folder (``volumes/sub-<sid>/...``)."""
    if path in names:
        return True
    parts = path.split("/")
    for i, part in enumerate(parts):
        if re.search(r"[<*]", part):
            return "/".join(parts[:i]) in names
    return False


def test_docs_file_index_is_generated_from_the_module() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert docs.render_index() in text, (
        "docs/contracts.md is out of date: run `python -m hepatokit.contracts.docs "
        "--write docs/contracts.md`"
    )
    for name in build_files().values():
        assert f"`{name}`" in text


def test_every_build_path_in_the_docs_is_in_the_module() -> None:
    names = set(build_files().values())
    paths = doc_build_paths(DOC.read_text(encoding="utf-8"))
    assert {"recipe.yaml", "manifest/<stage>.parquet", "reports/leakage.json"} <= paths
    assert {"instances.parquet", "qc/missing_modality.csv", "private/slides.parquet"} <= paths
    unknown = sorted(p for p in paths if not known_path(p, names))
    assert not unknown, f"docs/contracts.md names build files the contract lacks: {unknown}"


def test_docs_check_catches_an_unknown_name() -> None:
    names = set(build_files().values())
    text = "- `BUILD/private/secret.parquet`: x\n```\nBUILD/\n  series.parquet  s\n  odd.csv\n```\n"
    paths = doc_build_paths(text)
    assert paths == {"private/secret.parquet", "series.parquet", "odd.csv"}
    assert [p for p in sorted(paths) if not known_path(p, names)] == [
        "odd.csv",
        "private/secret.parquet",
    ]
    assert known_path("volumes/sub-<sid>/sub-<sid>_<SEQ>.nii.gz", names)
    assert not known_path("elsewhere/<x>.png", names)
