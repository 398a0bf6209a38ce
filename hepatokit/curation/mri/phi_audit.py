"""``audit phi``: find any raw-header PHI value anywhere in a build's non-private outputs.

1. Collect: every raw file under RAW is read once (whole header, sequences included, every
   file: excluded ones like DICOMDIR and SR carry PHI too) and every identifying value is
   kept: person names (VR PN, whole and per component), dates (DA / DT, also as
   ``YYYY-MM-DD``), patient / other IDs, accession, study ID, institution, address,
   department, station, device serial, free-text comments, and the text of private elements.
2. Scan: every byte of every file under BUILD except ``private/``: gzip (NIfTI) inflated,
   parquet decoded to text (data pages are compressed) and its raw bytes, PNG text chunks,
   JSON / CSV / logs as bytes; case-insensitive. Many values are matched at once with a
   4-byte-prefix index over the data (numpy), then confirmed byte by byte.

Any hit makes the audit fail (exit 1 from the CLI). Hits are reported with the tag and a
masked value, so the report itself leaks nothing.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hepatokit.atomic import write_text_atomic
from hepatokit.curation.mri.phi_values import MIN_LEN, add_value, collect_phi_values, csv_values
from hepatokit.errors import BuildStateError, DataFormatError
from hepatokit.parallel import map_items

__all__ = [
    "PhiAuditResult",
    "PhiHit",
    "audit_phi",
    "collect_phi_values",
    "csv_values",
    "find_values",
]

log = logging.getLogger("hepatokit.curation.mri.phi_audit")

_CHUNK = 8 << 20


@dataclass(frozen=True)
class PhiHit:
    """One PHI value found in one output file (``value`` masked)."""

    file: str
    tag: str
    value: str
    offset: int


@dataclass
class PhiAuditResult:
    """Audit outcome: ``ok`` when no hit."""

    values: int
    files_scanned: int
    bytes_scanned: int
    hits: list[PhiHit] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.hits


def _mask(value: str) -> str:
    if len(value) <= 6:
        return value[0] + "…" + value[-1]
    return value[:3] + "…" + value[-3:]


# ----------------------------------------------------------------------------- scan
def _lower(arr: np.ndarray) -> np.ndarray:
    upper = (arr >= 65) & (arr <= 90)
    return np.where(upper, arr + 32, arr).astype(np.uint8)


def find_values(data: bytes, needles: Sequence[bytes]) -> list[tuple[int, bytes]]:
    """Offsets of every (lower-case, ≥ 4 bytes) needle in ``data``, case-insensitive."""
    if not needles or not data:
        return []
    by_prefix: dict[int, list[bytes]] = {}
    for n in needles:
        by_prefix.setdefault(int.from_bytes(n[:4], "little"), []).append(n)
    prefixes = np.array(sorted(by_prefix), dtype=np.uint32)
    longest = max(len(n) for n in needles)
    hits: list[tuple[int, bytes]] = []
    for start in range(0, len(data), _CHUNK):
        piece = data[start : start + _CHUNK + longest - 1]
        arr = _lower(np.frombuffer(piece, dtype=np.uint8))
        if len(arr) < 4:
            continue
        a = arr.astype(np.uint32)
        words = a[:-3] | (a[1:-2] << 8) | (a[2:-1] << 16) | (a[3:] << 24)
        idx = np.searchsorted(prefixes, words)
        idx[idx == len(prefixes)] = 0
        candidates = np.nonzero(prefixes[idx] == words)[0]
        if not len(candidates):
            continue
        low = arr.tobytes()
        for pos in candidates.tolist():
            if pos >= _CHUNK and start + _CHUNK < len(data):
                continue  # belongs to the next chunk
            for n in by_prefix[int(words[pos])]:
                if low[pos : pos + len(n)] == n:
                    hits.append((start + pos, n))
    return hits


def _texts_of(path: Path) -> list[bytes]:
    """The byte streams to scan for one output file."""
    raw = path.read_bytes()
    out = [raw]
    if raw[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError, EOFError):
            out.append(gzip.decompress(raw))
    if raw[:4] == b"PAR1":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(raw))
        parts = [
            json.dumps(table.column(i).to_pylist(), default=str) for i in range(table.num_columns)
        ]
        out.append("\n".join(parts).encode("utf-8", "replace"))
        meta = table.schema.metadata or {}
        out.append(b"\n".join(k + b"=" + v for k, v in meta.items()))
    if raw[:8] == b"\x89PNG\r\n\x1a\n":
        from PIL import Image

        with Image.open(io.BytesIO(raw)) as im:
            text = getattr(im, "text", {}) or {}
            out.append(json.dumps({**im.info, **text}, default=str).encode("utf-8", "replace"))
    return out


def _scan_files(job: tuple[list[str], str, list[bytes]]) -> list[tuple[str, int, bytes, int]]:
    paths, root, needles = job
    found: list[tuple[str, int, bytes, int]] = []
    for p in paths:
        size = 0
        seen: set[bytes] = set()
        for stream in _texts_of(Path(p)):
            size += len(stream)
            for offset, needle in find_values(stream, needles):
                if needle not in seen:
                    seen.add(needle)
                    found.append((os.path.relpath(p, root), offset, needle, 0))
        found.append((os.path.relpath(p, root), -1, b"", size))
    return found


def _output_files(build: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(build):
        if Path(dirpath) == build and "private" in dirnames:
            dirnames.remove("private")
        dirnames.sort()
        out.extend(Path(dirpath) / f for f in sorted(filenames))
    return out


def audit_phi(
    *,
    build: str | os.PathLike[str],
    raw: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    extra_values: Iterable[str] = (),
    report: bool = True,
    phi_values: Mapping[str, str] | None = None,
) -> PhiAuditResult:
    """Scan ``build`` (except ``private/``) for every PHI value of the raw headers.

    Parameters
    ----------
    raw
        The raw DICOM root (default: ``BUILD/private/raw_root.json``).
    extra_values
        More strings to look for (e.g. the clinical CSV's patient IDs).
    report
        Write ``BUILD/reports/phi_audit.md`` (masked values only).
    phi_values
        Values already collected by :func:`collect_phi_values` (value → tag), to audit
        several builds of one raw tree without reading its headers again.
    """
    build = Path(build)
    if not build.is_dir():
        raise BuildStateError("build folder not found", path=build)
    if phi_values is not None:
        values = dict(phi_values)
    else:
        values = collect_phi_values(_raw_root(build, raw), workers=workers, executor=executor)
    for v in extra_values:
        add_value(values, str(v), "extra")
    return _scan(build, values, workers=workers, executor=executor, report=report)


def _raw_root(build: Path, raw: str | os.PathLike[str] | None) -> Path:
    if raw is None:
        info = build / "private" / "raw_root.json"
        if not info.is_file():
            raise BuildStateError(
                "no raw root recorded", path=build, hint="pass --raw RAW (the DICOM root)"
            )
        raw = json.loads(info.read_text())["raw_root"]
    if not Path(raw).is_dir():
        raise DataFormatError("raw input is not a folder", path=str(raw))
    return Path(raw)


def _scan(
    build: Path,
    values: dict[str, str],
    *,
    workers: int | None,
    executor: Executor | None,
    report: bool,
) -> PhiAuditResult:
    lowered: dict[bytes, str] = {}
    for value, tag in values.items():
        key = value.lower().encode("utf-8")
        if len(key) >= MIN_LEN:
            lowered.setdefault(key, f"{tag}:{value}")
    needles = sorted(lowered)
    files = [str(p) for p in _output_files(build)]
    if len(files) < 64:  # a process pool costs more than scanning a few files
        workers, executor = 1, None
    n_jobs = max(1, min(len(files), 4 * (workers or os.cpu_count() or 1)))
    jobs = [(files[i::n_jobs], str(build), needles) for i in range(n_jobs)] if files else []
    results = map_items(
        _scan_files, jobs, executor=executor, workers=workers, description="scan outputs for PHI"
    )
    hits: list[PhiHit] = []
    n_bytes = 0
    for res in results:
        if not res.ok:
            raise DataFormatError(f"PHI scan failed: {res.error}")
        for rel, offset, needle, size in res.value or []:
            if offset < 0:
                n_bytes += size
                continue
            tag, value = lowered[needle].split(":", 1)
            hits.append(PhiHit(rel, tag, _mask(value), offset))
    hits.sort(key=lambda h: (h.file, h.offset))
    result = PhiAuditResult(len(needles), len(files), n_bytes, hits)
    if report:
        _write_report(build, result)
    return result


def _write_report(build: Path, result: PhiAuditResult) -> None:
    lines = [
        "# PHI audit",
        "",
        f"- PHI values collected from the raw headers: {result.values}",
        f"- files scanned: {result.files_scanned} ({result.bytes_scanned} bytes, decoded)",
        f"- hits: {len(result.hits)} → {'PASS' if result.ok else 'FAIL'}",
        "",
    ]
    if result.hits:
        lines += ["| file | tag | value (masked) | offset |", "|---|---|---|---|"]
        lines += [f"| {h.file} | {h.tag} | {h.value} | {h.offset} |" for h in result.hits]
    write_text_atomic(build / "reports" / "phi_audit.md", "\n".join(lines) + "\n")
