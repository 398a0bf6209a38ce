"""The worker side of ``mri convert``: dcm2niix over one series or a subject's batch of
series, then the curated outputs of each (scrubbed, b-values selected, gzipped
deterministically, written atomically with their resume record)."""

from __future__ import annotations

import io
import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib

from hepatokit.atomic import write_bytes_atomic
from hepatokit.curation.mri.convert.dcm2niix import run_dcm2niix, run_dcm2niix_many, scratch_dir
from hepatokit.curation.mri.convert.job import (
    ConvertJob,
    job_key,
    key_path,
    outputs,
    stamp,
    up_to_date,
)
from hepatokit.curation.mri.convert.sidecar import curated_sidecar, dwi_b_values, select_b_indices
from hepatokit.curation.mri.deid.nifti_scrub import gzip_deterministic, scrub_nifti

__all__ = ["convert_batch", "convert_job", "finish"]

log = logging.getLogger("hepatokit.curation.mri.convert.run")


def convert_job(job: ConvertJob, key: str | None = None) -> str:
    """Convert one series; returns ``"converted"`` or ``"skipped"`` (raises on failure).
    ``key``: the job's :func:`job_key`, when the caller computed it already."""
    key = key or job_key(job)
    if up_to_date(job, key):
        return "skipped"
    with tempfile.TemporaryDirectory(prefix="hk-conv-", dir=job.scratch or scratch_dir()) as tmp:
        niftis = run_dcm2niix(
            job.files, Path(tmp) / "out", timeout_s=job.config.timeout_s, scratch=job.scratch
        )
        finish(job, niftis, key)
    return "converted"


def _keys(jobs: Sequence[ConvertJob]) -> dict[int, str | None]:
    """Each job's content key, computed once (None: a raw file is gone; the conversion
    reports it)."""
    out: dict[int, str | None] = {}
    for j in jobs:
        try:
            out[id(j)] = job_key(j)
        except OSError:
            out[id(j)] = None
    return out


def convert_batch(jobs: Sequence[ConvertJob]) -> list[tuple[str | None, str | None]]:
    """Convert several series of one subject (distinct series UIDs) with one dcm2niix run;
    returns ``(status, error)`` per job, a failure of one series leaves the others alone."""
    keys = _keys(jobs)
    pending = [j for j in jobs if not up_to_date(j, keys[id(j)])]
    out: dict[int, tuple[str | None, str | None]] = {id(j): ("skipped", None) for j in jobs}
    if len(pending) == 1:
        try:
            out[id(pending[0])] = (convert_job(pending[0], keys[id(pending[0])]), None)
        except Exception as exc:
            out[id(pending[0])] = (None, _one_line(exc))
    elif pending:
        scratch = pending[0].scratch
        with tempfile.TemporaryDirectory(prefix="hk-conv-", dir=scratch or scratch_dir()) as tmp:
            try:
                written = run_dcm2niix_many(
                    {j.series_uid: j.files for j in pending},
                    Path(tmp) / "out",
                    timeout_s=pending[0].config.timeout_s,
                    scratch=scratch,
                )
            except Exception as exc:
                written, error = {}, _one_line(exc)
            else:
                error = "dcm2niix wrote no volume for this series"
            for j in pending:
                try:
                    if not written.get(j.series_uid):
                        raise RuntimeError(error)
                    finish(j, written[j.series_uid], keys[id(j)])
                    out[id(j)] = ("converted", None)
                except Exception as exc:
                    out[id(j)] = (None, _one_line(exc))
    return [out[id(j)] for j in jobs]


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]


def finish(job: ConvertJob, niftis: Sequence[Path], key: str | None = None) -> None:
    """Scrub, select, gzip and write one series' outputs + sidecar + resume record
    (``key``: the job's :func:`job_key` taken before its conversion, else taken now)."""
    build = Path(job.build)
    key = key or job_key(job)
    is_dwi = job.sequence == "DWI"
    if len(niftis) > 1:
        log.warning("%s: dcm2niix wrote %d volumes; keeping the largest", job.stem, len(niftis))
    nii = max(niftis, key=lambda p: (p.stat().st_size, p.name))
    meta = (
        json.loads(nii.with_suffix(".json").read_text())
        if nii.with_suffix(".json").is_file()
        else {}
    )
    bval_path = nii.with_suffix(".bval")
    bvals = [float(v) for v in bval_path.read_text().split()] if bval_path.is_file() else []
    raw_nii = nii.read_bytes()
    if is_dwi:
        bvals, b_source = dwi_b_values(bvals, job.index_b_values, raw_nii)
        meta["BValueSource"] = b_source
    keep = select_b_indices(bvals, job.config) if (is_dwi and bvals) else None
    if keep is not None and not keep:
        raise RuntimeError(f"no volume with b in {job.config.dwi_b_values} (have {bvals})")
    data = scrub_nifti(raw_nii, keep_volumes=keep if keep != list(range(len(bvals))) else None)
    hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(data[:348]), check=False)
    sidecar = curated_sidecar(
        job, meta, hdr, [bvals[i] for i in keep] if keep is not None else bvals
    )
    base = build / job.stem
    base.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(
        base.with_suffix(".nii.gz"),
        gzip_deterministic(data, level=job.config.gzip_level),
        durable=False,
    )
    if is_dwi:
        _write_gradients(base, nii.with_suffix(".bvec"), bvals, keep)
    write_bytes_atomic(base.with_suffix(".json"), _json_bytes(sidecar), durable=False)
    record = key_path(job)
    record.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(
        record, stamp(key, outputs(build, job.stem, is_dwi)).encode("utf-8"), durable=False
    )


def _json_bytes(obj: object) -> bytes:
    """``obj`` as :func:`~hepatokit.atomic.write_json_atomic` writes it."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return (text + "\n").encode("utf-8")


def _write_gradients(
    base: Path, bvec_path: Path, bvals: list[float], keep: list[int] | None
) -> None:
    """``.bval`` / ``.bvec`` of the kept volumes (``keep``; None: no b-value, nothing kept)."""
    kept_b = [bvals[i] for i in keep] if keep is not None else []
    write_bytes_atomic(
        base.with_suffix(".bval"),
        (" ".join(f"{b:g}" for b in kept_b) + "\n").encode(),
        durable=False,
    )
    rows = (
        [r.split() for r in bvec_path.read_text().strip().splitlines()]
        if bvec_path.is_file()
        else [["0"] * len(kept_b)] * 3
    )
    sel = keep if keep is not None else []
    bvec = "\n".join(" ".join(r[i] for i in sel if i < len(r)) for r in rows) + "\n"
    write_bytes_atomic(base.with_suffix(".bvec"), bvec.encode("utf-8"), durable=False)
