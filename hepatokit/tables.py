"""Reading the tables users give (label CSVs, patch tables) strictly, with clear errors.

Spreadsheets exported by hand are often broken in ways a lenient parser hides: a 0-byte
file, a row with a field too many or too few (everything after it shifts into the wrong
column), two columns with the same name (one silently renamed or dropped). :func:`read_table`
refuses each of these with a message that names the file, the line and what to fix, and
never guesses; it returns every value as text (the caller converts).

CSV / TSV are read with Python's :mod:`csv` (RFC 4180 quoting; a UTF-8 byte-order mark is
dropped); Parquet with pyarrow. Blank lines are skipped.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepatokit.errors import DataFormatError
from hepatokit.safeio import TooLargeError, read_bounded

__all__ = ["FORMULA_START", "Table", "formula_safe", "formula_safe_frame", "read_table"]

#: a CSV cell starting with one of these is run as a formula by spreadsheet programs
#: (CSV / formula injection, OWASP); ``\t`` and ``\r`` too (a cell Excel trims first)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: a label or patch table larger than this is refused (it is not a table a user typed)
MAX_TABLE_BYTES = 2 << 30


@dataclass(frozen=True)
class Table:
    """A table's header and rows (every value text, ``""`` when empty)."""

    columns: list[str]
    rows: list[dict[str, str]]
    lines: list[int]  # the file line of each row (1 = the header), for messages

    def column(self, name: str) -> list[str]:
        return [r[name] for r in self.rows]


def read_table(path: str | os.PathLike[str], *, what: str = "table") -> Table:
    """Read a CSV, TSV or Parquet table strictly (see the module docstring).

    Parameters
    ----------
    path
        The file (``.csv``, ``.tsv``, ``.txt``: delimited text; ``.parquet``).
    what
        What the table is, for messages (``labels CSV``, ``patch table``).

    Raises
    ------
    DataFormatError
        Unreadable, empty, not UTF-8, a duplicate or empty column name, or a row whose
        number of fields differs from the header's.
    """
    p = Path(path)
    try:
        data = read_bounded(p, MAX_TABLE_BYTES)
    except FileNotFoundError as exc:
        raise DataFormatError(f"{what} not found", path=p) from exc
    except TooLargeError as exc:
        raise DataFormatError(f"{what} too large: {exc}", path=p) from exc
    except OSError as exc:
        raise DataFormatError(f"cannot read the {what}: {exc.strerror or exc}", path=p) from exc
    if not data.strip():
        raise DataFormatError(
            f"the {what} is empty (no header, no rows)",
            path=p,
            hint="export the table again; it needs a header line and one row per item",
        )
    if p.suffix.lower() == ".parquet":
        return _parquet(data, p, what)
    return _delimited(data, p, what)


def _check_columns(columns: list[str], p: Path, what: str) -> None:
    empty = [i + 1 for i, c in enumerate(columns) if not c.strip()]
    if empty:
        raise DataFormatError(
            f"the {what}'s header has an empty column name (column {empty[0]})",
            path=p,
            hint="name every column in the header line",
        )
    dupes = sorted(c for c, n in Counter(c.strip() for c in columns).items() if n > 1)
    if dupes:
        raise DataFormatError(
            f"the {what} has duplicate column name(s): {', '.join(map(repr, dupes))}",
            path=p,
            hint="rename or remove the repeated column (which one is meant is not guessed)",
        )


def _delimited(data: bytes, p: Path, what: str) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            f"the {what} is not UTF-8 text (byte {exc.start})",
            path=p,
            hint="save it as UTF-8 CSV",
        ) from exc
    delimiter = "\t" if p.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    bad: list[str] = []
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if header is None:
                header = [f.strip() for f in fields]
                _check_columns(header, p, what)
                continue
            if len(fields) != len(header):
                bad.append(f"line {line}: {len(fields)} field(s)")
                continue
            rows.append(dict(zip(header, fields, strict=True)))
            lines.append(line)
    except csv.Error as exc:
        raise DataFormatError(
            f"the {what} is not valid CSV at line {reader.line_num}: {exc}", path=p
        ) from exc
    if header is None:
        raise DataFormatError(f"the {what} is empty (no header, no rows)", path=p)
    if bad:
        raise DataFormatError(
            f"the {what} has {len(bad)} row(s) whose number of fields differs from the "
            f"header's {len(header)}: {'; '.join(bad[:5])}{' …' if len(bad) > 5 else ''}",
            path=p,
            hint="a missing or extra delimiter shifts every value after it: quote values "
            "holding the delimiter, and give every row one value per column",
        )
    return Table(header, rows, lines)


def _parquet(data: bytes, p: Path, what: str) -> Table:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several types for bad files
        raise DataFormatError(f"the {what} is not a readable Parquet file: {exc}", path=p) from exc
    columns = list(table.column_names)
    _check_columns(columns, p, what)
    rows = [{k: _text(v) for k, v in r.items()} for r in table.to_pylist()]
    return Table(columns, rows, list(range(2, len(rows) + 2)))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def formula_safe(value: Any) -> Any:
    """``value`` as a CSV cell a spreadsheet shows as text: a string starting like a formula
    (:data:`FORMULA_START`, e.g. a file or series name ``=HYPERLINK(...)``) gets a leading
    ``'``; numbers and strings that read as a number (``-1.5``) are kept as they are."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


def formula_safe_frame(frame: Any) -> Any:
    """A copy of a DataFrame with :func:`formula_safe` applied to its text cells and its
    column names (numbers untouched)."""
    out = frame.rename(columns=formula_safe)
    for col in out.columns:
        if out[col].dtype.kind not in "biufcmM":  # text (object, str), not numbers / dates
            out[col] = out[col].map(formula_safe)
    return out
