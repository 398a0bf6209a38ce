"""The PHI audit of a histology (HepatoBench) build and of the dataset published from it.

What can identify a patient in a histology build is not in a DICOM header: it is in the
names (a slide id that is a file name such as ``SMITHJOHN-S21-4455``, the patch file names,
their folders) and in the images' metadata (PNG text chunks, EXIF, JPEG comments, TIFF
descriptions). The audit

1. collects those values from the build: every slide id and raw file stem of
   ``patches.parquet`` / ``tiles.parquet``, and the metadata text ingest found in the raw
   patches (``BUILD/private/patch_metadata.parquet``), plus any ``extra_values``;
2. scans the shareable outputs: the build's ``reports/`` and, when given, every file of the
   published dataset folder, parquet shards decoded (text columns as text; every embedded
   image checked to carry no metadata at all, :func:`hepatokit.imagemeta.metadata_text`),
   JSON unescaped, all text Unicode-normalised (NFKC, case-folded, with and without
   diacritics) on both sides.

A value counts as found only where it is not part of a longer word or number (so a slide
``slide-0`` is not found inside another id). Hits are reported masked.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hepatokit.atomic import write_text_atomic
from hepatokit.errors import BuildStateError

__all__ = ["HistologyPhiAudit", "audit_histology_phi", "histology_phi_values", "normalise"]

log = logging.getLogger("hepatokit.publish.histology_audit")

MIN_LEN = 4


@dataclass(frozen=True)
class HistoHit:
    """One value found in one output file (``value`` masked)."""

    file: str
    tag: str
    value: str


@dataclass
class HistologyPhiAudit:
    """Audit outcome: ``ok`` when nothing was found."""

    values: int
    files_scanned: int
    images_checked: int
    hits: list[HistoHit] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.hits

    def __str__(self) -> str:
        state = "PASS" if self.ok else f"FAIL ({len(self.hits)} hit(s))"
        return (
            f"histology PHI audit: {self.values} value(s), {self.files_scanned} file(s), "
            f"{self.images_checked} image(s) checked: {state}"
        )


def normalise(text: str) -> list[str]:
    """``text`` NFKC-normalised and case-folded, and the same without diacritics."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    bare = "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))
    return [folded] if bare == folded else [folded, bare]


def _keep(value: str) -> bool:
    value = value.strip()
    if len(value) < MIN_LEN:
        return False
    return bool(re.search(r"[^\W\d_]", value)) or len(re.sub(r"\D", "", value)) >= 6


def histology_phi_values(build: str | os.PathLike[str]) -> dict[str, str]:
    """Identifying values of a histology build: value → tag (``slide_id``, ``file_name``,
    ``image_metadata``)."""
    import pyarrow.parquet as pq

    build = Path(build)
    values: dict[str, str] = {}

    def add(value: object, tag: str) -> None:
        if value is None:
            return
        text = str(value).strip()
        if _keep(text):
            values.setdefault(text, tag)

    for name in ("patches.parquet", "tiles.parquet", "curated.parquet"):
        path = build / name
        if not path.is_file():
            continue
        table = pq.read_table(path)
        cols = table.column_names
        for sid in set(table.column("slide_id").to_pylist()) if "slide_id" in cols else ():
            add(sid, "slide_id")
        if "path" in cols and name == "patches.parquet":
            for rel in table.column("path").to_pylist():
                add(Path(str(rel)).stem, "file_name")
    meta = build / "private" / "patch_metadata.parquet"
    if meta.is_file():
        for v in set(pq.read_table(meta).column("value").to_pylist()):
            add(v, "image_metadata")
    return values


def _mask(value: str) -> str:
    if len(value) <= 6:
        return value[0] + "…" + value[-1]
    return value[:3] + "…" + value[-3:]


class _Matcher:
    """Finds normalised values in normalised text, at word boundaries."""

    def __init__(self, values: dict[str, str]) -> None:
        self.by_form: dict[str, str] = {}
        for value in values:
            for form in normalise(value):
                self.by_form.setdefault(form, value)
        forms = sorted(self.by_form, key=lambda f: (-len(f), f))
        self.regex = (
            re.compile(r"(?<![^\W_])(?:" + "|".join(_trie(forms)) + r")(?![^\W_])")
            if forms
            else None
        )

    def find(self, text: str) -> set[str]:
        if self.regex is None or not text:
            return set()
        found = set()
        for form in normalise(text):
            for m in self.regex.finditer(form):
                found.add(self.by_form.get(m.group(0), m.group(0)))
        return found


def _trie(words: list[str]) -> list[str]:
    """Alternatives of a regex that matches exactly ``words``, factored by common prefixes
    (a trie: the match costs a few steps per character, not one per value)."""
    root: dict[str, dict] = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def pattern(node: dict[str, dict]) -> str:
        alts = []
        end = "" in node
        for ch in sorted(k for k in node if k):
            alts.append(re.escape(ch) + pattern(node[ch]))
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if end else body

    return [pattern(root)]


def _texts(path: Path, report: list[str]) -> tuple[list[str], int]:
    """The text to scan of one output file, and how many embedded images it checked
    (images with metadata are appended to ``report``)."""
    data = path.read_bytes()
    texts = [data.decode("utf-8", "replace")]
    images = 0
    if data[:4] == b"PAR1":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        for i, col in enumerate(table.column_names):
            values = table.column(i).to_pylist()
            plain = []
            for v in values:
                if isinstance(v, dict) and isinstance(v.get("bytes"), bytes):
                    from hepatokit.imagemeta import metadata_text

                    images += 1
                    if metadata_text(v["bytes"]):
                        report.append(str(v.get("path") or col))
                    plain.append(v.get("path"))
                else:
                    plain.append(v)
            texts.append(json.dumps(plain, default=str, ensure_ascii=False))
        meta = table.schema.metadata or {}
        texts += [(k + b"=" + v).decode("utf-8", "replace") for k, v in meta.items()]
    elif path.suffix.lower() == ".json":
        with contextlib.suppress(ValueError):
            texts.append(json.dumps(json.loads(data), ensure_ascii=False))
    return texts, images


def _files(folder: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        if Path(dirpath) == folder and "private" in dirnames:
            dirnames.remove("private")
        dirnames.sort()
        out.extend(Path(dirpath) / f for f in sorted(filenames))
    return out


def audit_histology_phi(
    *,
    build: str | os.PathLike[str],
    published: str | os.PathLike[str] | None = None,
    extra_values: Iterable[str] = (),
    report: bool = True,
) -> HistologyPhiAudit:
    """Scan a histology build's ``reports/`` (and the ``published`` dataset folder, if
    given) for the build's identifying values and for image metadata.

    Parameters
    ----------
    build
        The build folder (values from its tables and ``private/patch_metadata.parquet``).
    published
        A dataset folder written by ``publish build``: every file scanned.
    extra_values
        More strings to look for.
    report
        Write ``BUILD/reports/phi_audit.md`` (masked values only).
    """
    build = Path(build)
    if not build.is_dir():
        raise BuildStateError("build folder not found", path=build)
    values = histology_phi_values(build)
    for v in extra_values:
        if _keep(str(v)):
            values.setdefault(str(v).strip(), "extra")
    matcher = _Matcher(values)
    targets: list[tuple[Path, Path]] = []
    if (build / "reports").is_dir():
        targets += [(p, build) for p in _files(build / "reports") if p.name != "phi_audit.md"]
    if published is not None:
        targets += [(p, Path(published)) for p in _files(Path(published))]
    hits: list[HistoHit] = []
    images = 0
    for path, base in targets:
        with_meta: list[str] = []
        texts, n = _texts(path, with_meta)
        images += n
        rel = path.relative_to(base).as_posix()
        if base != build:
            rel = f"published/{rel}"
        found: set[str] = set()
        for text in texts:
            found |= matcher.find(text)
        hits += [HistoHit(rel, values[v], _mask(v)) for v in sorted(found)]
        hits += [HistoHit(rel, "image_metadata", name) for name in with_meta]
    result = HistologyPhiAudit(len(values), len(targets), images, hits)
    if report:
        _write_report(build, result)
    return result


def _write_report(build: Path, result: HistologyPhiAudit) -> None:
    lines = [
        "# PHI audit (histology)",
        "",
        f"- identifying values collected (slide ids, file names, image metadata): {result.values}",
        f"- files scanned: {result.files_scanned}; embedded images checked for metadata: "
        f"{result.images_checked}",
        f"- hits: {len(result.hits)} → {'PASS' if result.ok else 'FAIL'}",
        "",
    ]
    if result.hits:
        lines += ["| file | kind | value (masked) |", "|---|---|---|"]
        lines += [f"| {h.file} | {h.tag} | {h.value} |" for h in result.hits]
    write_text_atomic(build / "reports" / "phi_audit.md", "\n".join(lines) + "\n")
