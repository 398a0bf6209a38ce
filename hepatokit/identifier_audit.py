"""Find identifying values (PHI) in a folder that is published or shared: the audit engine.

Both datasets use it: the MRI PHI audit (values collected from the raw DICOM headers) and the
histology audit (file names, slide ids, metadata) call :func:`audit_identifiers` with their
values. It looks for them with precision as well as recall:

* **Decoded text, not bytes.** Every file is turned into the text a reader would see: Parquet
  cells (strings, nested values, column names, schema metadata; binary cells by what they
  hold), JSON strings (keys and values, never the ``\\uXXXX`` escapes), NIfTI header text
  fields and extensions (not the voxels), image metadata (PNG text chunks, EXIF, TIFF
  descriptions, JPEG comments), tar members, DICOM headers (decoded by pydicom); plain text
  as UTF-8; for any other binary, its printable runs. Gzip is inflated first. The relative
  path of every file is scanned too (folder names carry patient names).
* **Unicode-aware.** Text and values are NFKC-normalised and case-folded, and compared both
  with and without diacritics (``MÜLLERSOHN`` finds ``Müllersohn`` and ``Mullersohn``).
* **Whole tokens.** Text is split into tokens (letters and digits; ``_``, ``^``, spaces and
  punctuation separate; a run of digits joined by dots, such as a UID or ``7.5``, is one
  token; each CJK / kana / hangul character is its own token, as those scripts have no
  spaces). A value matches where its tokens occur in a row, so ``Normal`` does not match
  ``normalize``, ``dicom`` does not match ``ImageOrientationPatientDICOM``, ``Field`` does not
  match ``field_strength``... and a date does not match inside a UID.
* **Skipped values, each recorded with its reason** in the report: too short (fewer than
  ``min_length`` characters, CJK characters counting two; ``min_length_private`` for values
  from unnamed private tags, whose tag label starts with ``(``), numeric with fewer than six
  digits, no letter or digit at all, a single dictionary word (DICOM's own vocabulary:
  the words of pydicom's data-dictionary keywords) or a word of the recipe / schema text the
  caller passes in ``ignore_text``.

``exclude`` folders (default ``private/``) are never scanned: they are never published.
Any hit makes the audit fail. The report (``reports/phi_audit.json`` and ``.md`` by default)
shows masked values only.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import logging
import os
import re
import tarfile
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from hepatokit.atomic import write_json_atomic, write_text_atomic
from hepatokit.errors import BuildStateError, DataFormatError
from hepatokit.parallel import map_items

__all__ = [
    "IdentifierAuditResult",
    "IdentifierHit",
    "SkippedValue",
    "audit_identifiers",
    "file_texts",
    "match_tokens",
    "normalise",
    "tokens_of",
]

log = logging.getLogger("hepatokit.identifier_audit")

#: default minimum length of a value (characters; a CJK character counts two)
MIN_LENGTH = 4
#: minimum length of a value from an unnamed private element (vendor codes such as ``L7.5``)
MIN_LENGTH_PRIVATE = 6
#: numeric values (digits and separators only) need this many digits (dates have 8)
MIN_DIGITS = 6
#: how many examples of each skip reason the report lists
_EXAMPLES = 20

_CJK = "\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|\d+(?:\.\d+)+|[^\W_{_CJK}]+")
_CJK_CHAR = re.compile(rf"[{_CJK}]")
_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e\t]{4,}|(?:[\xc2-\xf4][\x80-\xbf]{1,3}|[\x20-\x7e]){4,}")
_TEXT_SUFFIXES = frozenset(
    {".md", ".csv", ".tsv", ".txt", ".yaml", ".yml", ".log", ".html", ".htm", ".xml", ".py",
     ".cfg", ".toml", ".ini", ".sha256", ".md5", ".gitattributes", ".gitignore", ".bib", ".rst"}
)  # fmt: skip
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif"})
_MAX_INFLATE = 2 << 30


# ----------------------------------------------------------------------------- normalising
def normalise(text: str) -> tuple[str, str]:
    """``text`` NFKC-normalised and case-folded, and the same without diacritics."""
    if text.isascii():
        low = text.lower()
        return low, low
    folded = unicodedata.normalize("NFKC", text).casefold()
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c)
    )
    return folded, unicodedata.normalize("NFKC", stripped)


def tokens_of(text: str) -> list[str]:
    """The tokens of already-normalised text (see the module docstring)."""
    return _TOKEN.findall(text)


def _value_forms(value: str) -> set[tuple[str, ...]]:
    """The token sequences of a value (with and without diacritics)."""
    return {tuple(tokens_of(form)) for form in normalise(value)} - {()}


@lru_cache(maxsize=1)
def _dictionary_words() -> frozenset[str]:
    """Lower-case words of pydicom's data-dictionary keywords (DICOM's own vocabulary)."""
    from pydicom.datadict import DicomDictionary

    words: set[str] = set()
    for entry in DicomDictionary.values():
        keyword = entry[4]
        words.update(w.lower() for w in re.findall(r"[A-Z][a-z]{2,}", keyword))
    return frozenset(words)


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class IdentifierHit:
    """One identifying value found in one file (``value`` masked)."""

    file: str
    tag: str
    value: str
    where: str


@dataclass(frozen=True)
class SkippedValue:
    """A value the audit does not look for, and why (``value`` masked)."""

    tag: str
    value: str
    reason: str


@dataclass
class IdentifierAuditResult:
    """Audit outcome: ``ok`` when no hit."""

    values: int
    files_scanned: int
    bytes_scanned: int
    hits: list[IdentifierHit] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_examples: list[SkippedValue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.hits

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (masked values only)."""
        return {
            "ok": self.ok,
            "values": self.values,
            "files_scanned": self.files_scanned,
            "bytes_scanned": self.bytes_scanned,
            "hits": [asdict(h) for h in self.hits],
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_examples": [asdict(s) for s in self.skipped_examples],
        }


def _mask(value: str) -> str:
    value = value.strip()
    if len(value) <= 4:
        return "…"
    if len(value) <= 6:
        return value[0] + "…" + value[-1]
    return value[:3] + "…" + value[-3:]


# ----------------------------------------------------------------------------- values
def _skip_reason(
    value: str,
    forms: set[tuple[str, ...]],
    tag: str,
    min_length: int,
    min_length_private: int,
    ignored: frozenset[str],
) -> str | None:
    if not forms:
        return "no_letter_or_digit"
    tokens = max(forms, key=len)
    length = sum(2 if _CJK_CHAR.fullmatch(t) else len(t) for t in tokens)
    if all(t.replace(".", "").isdigit() for t in tokens):
        digits = sum(len(t.replace(".", "")) for t in tokens)
        return None if digits >= MIN_DIGITS else "numeric_short"
    limit = min_length_private if tag.startswith("(") else min_length
    if length < limit:
        return "too_short"
    if len(tokens) == 1:
        if tokens[0] in ignored:
            return "recipe_or_schema_word"
        if tokens[0] in _dictionary_words():
            return "dictionary_word"
    return None


def _prepare(
    identifiers: Mapping[str, str],
    *,
    min_length: int,
    min_length_private: int,
    ignore_text: Iterable[str],
) -> tuple[dict[tuple[str, ...], str], Counter[str], list[SkippedValue]]:
    ignored: set[str] = set()
    for text in ignore_text:
        for form in normalise(text):
            ignored.update(tokens_of(form))
    frozen = frozenset(ignored)
    needles: dict[tuple[str, ...], str] = {}
    skipped: Counter[str] = Counter()
    examples: list[SkippedValue] = []
    per_reason: Counter[str] = Counter()
    for value, tag in sorted(identifiers.items()):
        forms = _value_forms(value)
        reason = _skip_reason(value, forms, tag, min_length, min_length_private, frozen)
        if reason is not None:
            skipped[reason] += 1
            if per_reason[reason] < _EXAMPLES:
                per_reason[reason] += 1
                examples.append(SkippedValue(tag, _mask(value), reason))
            continue
        for seq in forms:
            needles.setdefault(seq, f"{tag}\x1f{value}")
    return needles, skipped, examples


def _by_first(needles: Iterable[tuple[str, ...]]) -> dict[str, list[tuple[str, ...]]]:
    firsts: dict[str, list[tuple[str, ...]]] = {}
    for n in needles:
        firsts.setdefault(n[0], []).append(n)
    return firsts


def match_tokens(
    tokens: Sequence[str],
    needles: Iterable[tuple[str, ...]],
    *,
    firsts: Mapping[str, list[tuple[str, ...]]] | None = None,
) -> list[tuple[str, ...]]:
    """The needles (token tuples) that occur as consecutive tokens in ``tokens``
    (``firsts``: the needles indexed by first token, to reuse over many texts)."""
    if firsts is None:
        firsts = _by_first(needles)
    common = set(tokens) & firsts.keys()
    if not common:
        return []
    found: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()
    for i, tok in enumerate(tokens):
        if tok not in common:
            continue
        for n in firsts[tok]:
            if n not in seen and tuple(tokens[i : i + len(n)]) == n:
                seen.add(n)
                found.append(n)
    return found


# ----------------------------------------------------------------------------- decoding
def _strings(data: bytes) -> str:
    """Printable runs (ASCII or UTF-8) of binary data, one per line."""
    return "\n".join(m.decode("utf-8", "replace") for m in _PRINTABLE_RUN.findall(data))


def _as_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _strings(data)


def _inflate(data: bytes) -> bytes | None:
    with (
        contextlib.suppress(OSError, EOFError, zlib.error),
        gzip.GzipFile(fileobj=io.BytesIO(data)) as fh,
    ):
        return fh.read(_MAX_INFLATE)
    return None


def _nifti_texts(data: bytes) -> list[tuple[str, str]] | None:
    """Header text fields and extensions of a NIfTI-1/2 image, or None if not one."""
    import struct

    if len(data) < 348:
        return None
    for order in "<>":
        size = struct.unpack(f"{order}i", data[:4])[0]
        if size in (348, 540):
            break
    else:
        return None
    import nibabel as nib

    cls = nib.Nifti1Header if size == 348 else nib.Nifti2Header
    try:
        hdr = cls.from_fileobj(io.BytesIO(data), check=False)
    except Exception:
        return None
    out = []
    for key in ("descrip", "aux_file", "intent_name", "db_name"):
        if key in hdr:
            raw = hdr[key].item()
            out.append((f"nifti:{key}", _as_text(raw) if isinstance(raw, bytes) else str(raw)))
    for i, ext in enumerate(hdr.extensions):
        content = ext.get_content()
        raw = content if isinstance(content, bytes) else str(content).encode("utf-8", "replace")
        out.append((f"nifti:extension{i}", _as_text(raw)))
    return out


def _image_texts(data: bytes) -> list[tuple[str, str]] | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            parts: dict[str, Any] = {}
            for k, v in im.info.items():
                if k in ("icc_profile", "exif", "dpi", "transparency", "gamma", "aspect"):
                    continue
                parts[str(k)] = v
            parts.update(getattr(im, "text", {}) or {})
            with contextlib.suppress(Exception):
                for code, v in im.getexif().items():
                    parts[f"exif{code}"] = v
            tags = getattr(im, "tag_v2", None)
            if tags is not None:
                for code, v in tags.items():
                    if isinstance(v, str | bytes):
                        parts[f"tiff{code}"] = v
    except Exception:
        return None
    out = []
    for k, v in parts.items():
        text = _as_text(v) if isinstance(v, bytes) else str(v)
        out.append((f"image:{k}", f"{k}\n{text}"))
    return out


def _dicom_texts(data: bytes) -> list[tuple[str, str]]:
    import warnings

    import pydicom

    out: list[tuple[str, str]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
            texts = []
            for elem in ds.iterall():
                if elem.VR in ("SQ", "OB", "OW", "UN", "OF", "OD", "OL", "OV"):
                    continue
                with contextlib.suppress(Exception):
                    texts.append(str(elem.value))
            out.append(("dicom", "\n".join(texts)))
        except Exception:
            pass
    return out


def _json_strings(obj: Any, out: list[str]) -> None:
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.append(str(k))
            _json_strings(v, out)
    elif isinstance(obj, list | tuple):
        for v in obj:
            _json_strings(v, out)
    elif obj is not None:
        out.append(str(obj))


def _cell_texts(value: Any, out: list[str], blobs: list[bytes]) -> None:
    if isinstance(value, bytes):
        blobs.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            out.append(str(k))
            _cell_texts(v, out, blobs)
    elif isinstance(value, list | tuple):
        for v in value:
            _cell_texts(v, out, blobs)
    elif value is not None:
        out.append(str(value))


def _parquet_texts(data: bytes) -> Iterator[tuple[str, str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    meta = table.schema.metadata or {}
    yield (
        "parquet:schema",
        "\n".join(
            [*table.column_names, *(k.decode("utf-8", "replace") for k in meta)]
            + [v.decode("utf-8", "replace") for v in meta.values()]
        ),
    )
    for name in table.column_names:
        column = table.column(name)
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            yield f"column:{name}", "\n".join(v for v in column.to_pylist() if v)
            continue
        if pa.types.is_dictionary(kind) or pa.types.is_floating(kind):
            yield f"column:{name}", "\n".join(str(v) for v in column.to_pylist() if v)
            continue
        if pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_temporal(kind):
            yield f"column:{name}", "\n".join(str(v) for v in column.to_pylist() if v is not None)
            continue
        texts: list[str] = []
        blobs: list[bytes] = []
        for v in column.to_pylist():
            _cell_texts(v, texts, blobs)
        yield f"column:{name}", "\n".join(texts)
        for i, blob in enumerate(blobs):
            for where, text in _blob_texts(blob, name=""):
                yield f"column:{name}[{i}]:{where}", text


def _blob_texts(data: bytes, *, name: str, depth: int = 0) -> list[tuple[str, str]]:
    """The decoded texts of one file's (or cell's) bytes: ``[(where, text)]``."""
    lower = name.lower()
    suffix = Path(lower).suffix
    if data[:2] == b"\x1f\x8b" and depth < 3:
        inflated = _inflate(data)
        if inflated is None:
            return [("bytes", _strings(data))]
        inner = lower[:-3] if lower.endswith(".gz") else lower
        return [(f"gzip:{w}", t) for w, t in _blob_texts(inflated, name=inner, depth=depth + 1)]
    if data[:4] == b"PAR1":
        try:
            return list(_parquet_texts(data))
        except Exception as exc:
            log.warning("%s: parquet not readable (%s); scanned as bytes", name, exc)
            return [("bytes", _strings(data))]
    nifti = _nifti_texts(data) if suffix in (".nii", "") or lower.endswith(".nii") else None
    if nifti is not None:
        return nifti
    if data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff" or suffix in _IMAGE_SUFFIXES:
        texts = _image_texts(data)
        if texts is not None:
            return texts
    if data[128:132] == b"DICM":
        return [*_dicom_texts(data), ("bytes", _strings(data))]
    if suffix == ".tar" or (len(data) > 262 and data[257:262] == b"ustar"):
        out: list[tuple[str, str]] = []
        with contextlib.suppress(tarfile.TarError):
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for member in tar.getmembers():
                    out.append(("tar:name", member.name))
                    fh = tar.extractfile(member) if member.isfile() else None
                    if fh is not None and depth < 3:
                        texts = _blob_texts(fh.read(), name=member.name, depth=depth + 1)
                        out += [(f"tar:{member.name}:{w}", t) for w, t in texts]
            return out
    if suffix in (".json", ".jsonl", ".jsonld") or data[:1] in (b"{", b"["):
        with contextlib.suppress(ValueError):
            lines = [data] if suffix != ".jsonl" else data.splitlines()
            strings: list[str] = []
            for line in lines:
                if line.strip():
                    _json_strings(json.loads(line), strings)
            return [("json", "\n".join(strings))]
    if suffix in _TEXT_SUFFIXES:
        return [("text", data.decode("utf-8", "replace"))]
    return [("text" if _is_utf8(data) else "bytes", _as_text(data))]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def file_texts(
    path: str | os.PathLike[str], *, relative: str | None = None
) -> list[tuple[str, str]]:
    """The decoded texts of one file, as the audit scans them: ``[(where, text)]`` (the
    relative path itself first)."""
    p = Path(path)
    rel = relative if relative is not None else p.name
    return [("path", rel), *_blob_texts(p.read_bytes(), name=p.name)]


# ----------------------------------------------------------------------------- scanning
def _scan_job(
    job: tuple[list[str], str, dict[tuple[str, ...], str]],
) -> list[tuple[str, str, str, int]]:
    paths, root, needles = job
    firsts = _by_first(needles)
    found: list[tuple[str, str, str, int]] = []
    for p in paths:
        rel = _safe_path(Path(os.path.relpath(p, root)).as_posix(), needles, firsts)
        size = 0
        seen: set[str] = set()
        for where, text in file_texts(p, relative=Path(os.path.relpath(p, root)).as_posix()):
            size += len(text)
            for form in set(normalise(text)):
                for n in match_tokens(tokens_of(form), needles, firsts=firsts):
                    key = needles[n]
                    if key not in seen:
                        seen.add(key)
                        found.append((rel, where, key, 0))
        found.append((rel, "", "", size))
    return found


def _safe_path(
    rel: str, needles: Mapping[tuple[str, ...], str], firsts: Mapping[str, list[tuple[str, ...]]]
) -> str:
    """``rel`` with every component that holds a value masked (the report leaks nothing)."""
    parts = rel.split("/")
    for i, part in enumerate(parts):
        for form in set(normalise(part)):
            if match_tokens(tokens_of(form), needles, firsts=firsts):
                parts[i] = _mask(part)
                break
    return "/".join(parts)


def _files(folder: Path, exclude: Iterable[str]) -> list[Path]:
    skip = set(exclude)
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        if Path(dirpath) == folder:
            dirnames[:] = [d for d in dirnames if d not in skip]
        dirnames.sort()
        out.extend(Path(dirpath) / f for f in sorted(filenames))
    return out


def audit_identifiers(
    *,
    folder: str | os.PathLike[str],
    identifiers: Mapping[str, str],
    exclude: Iterable[str] = ("private",),
    ignore_text: Iterable[str] = (),
    min_length: int = MIN_LENGTH,
    min_length_private: int = MIN_LENGTH_PRIVATE,
    report_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
) -> IdentifierAuditResult:
    """Look for identifying values in every file of ``folder`` (except ``exclude``).

    Parameters
    ----------
    folder
        The build or published folder to audit.
    identifiers
        Value → where it came from (a DICOM keyword, ``(gggg,eeee)`` for a private element,
        a column or ``file name``); the report shows the origin and a masked value.
    exclude
        Top-level folder names not scanned (never published; default ``private``).
    ignore_text
        Recipe and schema text (YAML, column names): a one-word value that is a word of it
        is skipped as ``recipe_or_schema_word``.
    min_length, min_length_private
        Shorter values are skipped as ``too_short`` (the second for unnamed private tags).
    report_dir
        Write ``phi_audit.json`` and ``phi_audit.md`` there (masked values only).
    workers, executor
        Parallelism over files (see :func:`hepatokit.parallel.map_items`).

    Returns
    -------
    IdentifierAuditResult
        ``ok`` False when any value was found; the hits (file, origin, masked value, where
        in the file) and the skipped values counted per reason.
    """
    root = Path(folder)
    if not root.is_dir():
        raise BuildStateError("folder to audit not found", path=root)
    needles, skipped, examples = _prepare(
        identifiers,
        min_length=min_length,
        min_length_private=min_length_private,
        ignore_text=ignore_text,
    )
    files = [str(p) for p in _files(root, exclude)]
    if len(files) < 64:  # a process pool costs more than scanning a few files
        workers, executor = 1, None
    n_jobs = max(1, min(len(files), 4 * (workers or os.cpu_count() or 1)))
    jobs = [(files[i::n_jobs], str(root), needles) for i in range(n_jobs)] if files else []
    results = map_items(
        _scan_job, jobs, executor=executor, workers=workers, description="scan for identifiers"
    )
    hits: list[IdentifierHit] = []
    n_chars = 0
    for res in results:
        if not res.ok:
            raise DataFormatError(f"identifier scan failed: {res.error}")
        for rel, where, key, size in res.value or []:
            if not key:
                n_chars += size
                continue
            tag, value = key.split("\x1f", 1)
            hits.append(IdentifierHit(rel, tag, _mask(value), where))
    hits.sort(key=lambda h: (h.file, h.where, h.tag))
    values = len({v for v in needles.values()})
    result = IdentifierAuditResult(values, len(files), n_chars, hits, dict(skipped), examples)
    if report_dir is not None:
        write_report(Path(report_dir), result)
    return result


def write_report(
    report_dir: Path, result: IdentifierAuditResult, *, title: str = "PHI audit"
) -> None:
    """``phi_audit.json`` (read by ``publish build``) and ``phi_audit.md``."""
    write_json_atomic(report_dir / "phi_audit.json", result.to_dict())
    lines = [
        f"# {title}",
        "",
        f"- identifying values looked for: {result.values}",
        f"- files scanned: {result.files_scanned} "
        f"({result.bytes_scanned} characters of decoded text)",
        f"- hits: {len(result.hits)} → {'PASS' if result.ok else 'FAIL'}",
        f"- values skipped: {sum(result.skipped.values())}"
        + "".join(f"; {reason} {n}" for reason, n in sorted(result.skipped.items())),
        "",
    ]
    if result.hits:
        lines += ["| file | origin | value (masked) | where |", "|---|---|---|---|"]
        lines += [f"| {h.file} | {h.tag} | {h.value} | {h.where} |" for h in result.hits]
        lines.append("")
    if result.skipped_examples:
        lines += ["## Skipped values (examples)", "", "| origin | value (masked) | reason |"]
        lines += ["|---|---|---|"]
        lines += [f"| {s.tag} | {s.value} | {s.reason} |" for s in result.skipped_examples]
    write_text_atomic(report_dir / "phi_audit.md", "\n".join(lines) + "\n")
