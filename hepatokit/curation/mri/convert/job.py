"""One series → one curated volume: the job a worker converts, and its resume record (a
content key of the inputs, options and versions, plus the size of each output)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepatokit._version import __version__
from hepatokit.contracts.lifs import CONVERT_STATE
from hepatokit.curation.mri.config import ConvertConfig
from hepatokit.curation.mri.convert.dcm2niix import dcm2niix_version
from hepatokit.curation.mri.deid.nifti_scrub import gzip_backend

__all__ = ["ConvertJob", "job_key", "key_path", "outputs", "stamp", "up_to_date"]


@dataclass(frozen=True)
class ConvertJob:
    """One series → one output (picklable, sent to a worker)."""

    build: str
    stem: str  # path relative to BUILD without extension
    files: tuple[str, ...]  # absolute raw paths, in instance order
    sequence: str | None
    series: dict[str, Any]
    config: ConvertConfig
    index_b_values: tuple[float, ...] = ()  # distinct b-values in instance order (index)
    series_uid: str = ""
    scratch: str | None = None  # this build's scratch folder (see build_scratch)


def job_key(job: ConvertJob) -> str:
    """The content key of ``job``: its raw files' paths, sizes and mtimes, the series'
    facts, the options that shape the output, and the software versions."""
    h = hashlib.sha256()
    for f in job.files:
        st = os.stat(f)  # noqa: PTH116 (hot loop: one call per raw file)
        h.update(f"{f}\x1f{st.st_size}\x1f{st.st_mtime_ns}\n".encode())
    extra = {
        "sequence": job.sequence,
        "series": job.series,
        "config": [
            job.config.dwi_b_values,
            job.config.dwi_b_tolerance,
            job.config.sidecar_keys,
            job.config.gzip_level,
        ],
        "versions": [__version__, dcm2niix_version(), gzip_backend(job.config.gzip_level)],
    }
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()


def outputs(build: Path, stem: str, dwi: bool) -> list[Path]:
    """The files of one output: NIfTI and sidecar (+ ``.bval`` / ``.bvec`` for DWI)."""
    base = build / stem
    out = [base.with_suffix(".nii.gz"), base.with_suffix(".json")]
    if dwi:
        out += [base.with_suffix(".bval"), base.with_suffix(".bvec")]
    return out


def key_path(job: ConvertJob) -> Path:
    """Where the resume record of ``job`` lives (``BUILD/.state/convert/``)."""
    return Path(job.build) / CONVERT_STATE / (job.stem.replace("/", "__") + ".key")


def up_to_date(job: ConvertJob, key: str | None = None) -> bool:
    """True when the outputs exist from the same inputs, options and versions (``key``:
    :func:`job_key` of ``job`` when the caller has it already)."""
    record = key_path(job)
    try:
        if not record.is_file():
            return False
        outs = outputs(Path(job.build), job.stem, job.sequence == "DWI")
        return record.read_text() == stamp(key or job_key(job), outs)
    except OSError:  # a raw file vanished: let the conversion report it
        return False


def stamp(key: str, outs: Sequence[Path]) -> str:
    """The resume record: the input key plus a digest of each output's size (a file that did
    not reach the disk before a crash has another size, so it is converted again).

    The sizes are digested, not written: the PHI audit scans ``.state/`` with the build, and a
    size written as a number met a digits-only patient name or ID of the raw headers (a false
    alarm on a 610-patient build; a 64-digit hex token never equals an identifier)."""
    sizes = " ".join(str(p.stat().st_size) if p.is_file() else "missing" for p in outs)
    return key + "\n" + hashlib.sha256(sizes.encode("ascii")).hexdigest() + "\n"
