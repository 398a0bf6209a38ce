"""Find the files of a patch set: a class-folder tree or a patch table (see
:mod:`hepatokit.curation.patho.ingest.stage` for both layouts).

Every file found becomes one :class:`PatchEntry`; a file that is not a patch to decode (a
file directly in ROOT, an unreadable folder, a repeated or empty table row, a path leading
outside the table's folder) carries its exclusion reason in ``problem``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from hepatokit.curation.patho.config import IngestConfig
from hepatokit.errors import DataFormatError
from hepatokit.recipe import bounded_search
from hepatokit.safeio import walk_tree
from hepatokit.tables import read_table

__all__ = ["PatchEntry", "discover_patches"]

log = logging.getLogger("hepatokit.curation.patho.ingest.stage")


@dataclass(frozen=True)
class PatchEntry:
    """One file to ingest: path relative to the raw root, label as found, slide id."""

    rel: str
    label: str | None
    slide_id: str | None
    problem: str | None = None  # not a patch to decode: the exclusion reason
    detail: str | None = None
    id_extra: str = ""  # makes the id of a repeated table row unique


def _slide_from_path(rel: str, regex: re.Pattern[str]) -> str | None:
    m = bounded_search(regex, rel, key="ingest.slide_id_regex")
    if not m:
        return None
    named = m.groupdict()
    for key in ("slide", "slide_id"):
        if key in named:
            return m.group(key)
    return m.group(1) if m.groups() else m.group(0)


def discover_patches(
    root: Path, cfg: IngestConfig, *, allow_outside_root: bool = False
) -> tuple[Path, list[PatchEntry]]:
    """The raw root and every file to ingest (sorted by relative path).

    Raises
    ------
    DataFormatError
        ROOT missing, or a table without the configured columns.
    """
    root = Path(root)
    if not root.exists():
        raise DataFormatError("raw root does not exist", path=root, hint="check the ROOT path")
    layout = cfg.layout
    if layout == "auto":
        layout = "table" if root.is_file() else "folders"
    regex = re.compile(cfg.slide_id_regex)
    if layout == "table":
        return root.parent, _discover_table(root, cfg, regex, allow_outside_root=allow_outside_root)
    if not root.is_dir():
        raise DataFormatError("the class-folder layout needs a folder", path=root)
    root = _class_root(root, cfg)
    entries = []
    for w in walk_tree(root):
        label = w.shown.split("/", 1)[0] if "/" in w.shown else None
        if w.problem is not None:
            entries.append(PatchEntry(w.shown, label, None, w.problem, w.detail))
        elif label is None:
            entries.append(
                PatchEntry(
                    w.rel,
                    None,
                    None,
                    "no_class_folder",
                    "file directly in ROOT: patches go in ROOT/<CLASS>/",
                )
            )
        else:
            entries.append(PatchEntry(w.rel, label, _slide_from_path(w.rel, regex)))
    return root, sorted(entries, key=lambda e: e.rel)


def _class_root(root: Path, cfg: IngestConfig) -> Path:
    """``root``, or its ``patches/`` subfolder when only that one holds the class folders."""
    sub = root / "patches"
    if sub.is_dir() and not any(
        d.is_dir() and d.name != "patches" and not d.name.startswith(".") for d in root.iterdir()
    ):
        log.info("using %s as the class-folder root", sub)
        return sub
    return root


def _discover_table(
    path: Path, cfg: IngestConfig, regex: re.Pattern[str], *, allow_outside_root: bool = False
) -> list[PatchEntry]:
    if path.suffix.lower() not in (".parquet", ".csv", ".tsv"):
        raise DataFormatError(
            "a table layout needs a .csv, .tsv or .parquet file", path=path,
            hint="give a folder for the class-folder layout",
        )  # fmt: skip
    table = read_table(path, what="patch table")
    cols = table.columns
    for col in (cfg.table_path_column, cfg.table_label_column):
        if col not in cols:
            raise DataFormatError(
                f"column {col!r} missing (columns: {', '.join(cols)})",
                path=path,
                hint="set ingest.table_path_column / table_label_column in the recipe",
            )
    root = path.parent.resolve()
    out = []
    first_row: dict[str, int] = {}
    for row, line in zip(table.rows, table.lines, strict=True):
        rel = row[cfg.table_path_column].strip()
        label = row[cfg.table_label_column].strip() or None
        slide = row.get(cfg.table_slide_column, "").strip()
        slide_id = slide or _slide_from_path(rel, regex)
        if not rel:
            out.append(PatchEntry(f"<line {line}>", label, None, "missing",
                                  f"line {line}: empty path", id_extra=str(line)))  # fmt: skip
            continue
        if rel in first_row:
            out.append(PatchEntry(rel, label, slide_id, "duplicate_row",
                                  f"line {line}: same path as line {first_row[rel]}",
                                  id_extra=str(line)))  # fmt: skip
            continue
        first_row[rel] = line
        if not allow_outside_root and not _inside(root, rel):
            out.append(PatchEntry(rel, label, slide_id, "outside_root",
                                  f"line {line}: the path leads outside the table's folder; "
                                  "pass --allow-outside-root to read it"))  # fmt: skip
            continue
        out.append(PatchEntry(rel, label, slide_id))
    return out


def _inside(root: Path, rel: str) -> bool:
    """Whether ``rel`` (relative to ``root``, links resolved) stays inside ``root``."""
    p = Path(rel)
    if p.is_absolute():
        return False
    try:
        return (root / p).resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a link loop
        return False
