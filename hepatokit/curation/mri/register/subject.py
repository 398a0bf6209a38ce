"""One subject's registration (the worker): every sequence to the reference, its transforms,
resampled volumes and QC figure, and the resume record that lets a re-run skip it."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepatokit.atomic import atomic_path, write_json_atomic
from hepatokit.contracts.lifs import (
    REGISTRATION_DIR,
    REGISTRATION_REPORTS,
    REGISTRATION_SCHEMA,
    REGISTRATION_STATE,
    subject_dir,
)
from hepatokit.curation.mri.register.config import RegisterConfig, RegistrationResult
from hepatokit.curation.mri.register.estimate import (
    PreparedFixed,
    identity,
    prepare_fixed,
    register_pair,
)
from hepatokit.curation.mri.register.figure import qc_figure
from hepatokit.curation.mri.register.images import sitk_module, to_sitk, write_resampled
from hepatokit.curation.mri.register.transforms import ras_matrix_to_sitk
from hepatokit.errors import DataFormatError

__all__ = [
    "REGISTRATION_SCHEMA_NAMES",
    "SubjectJob",
    "job_key",
    "register_subject",
    "registration_row",
    "up_to_date",
]

#: the columns of ``registration.parquet`` (the contract's)
REGISTRATION_SCHEMA_NAMES = tuple(REGISTRATION_SCHEMA.names)


@dataclass(frozen=True)
class SubjectJob:
    """One subject's sequences to register (picklable, sent to a worker)."""

    build: str
    subject_id: str
    reference: str | None
    volumes: dict[str, str]  # sequence → path relative to BUILD
    mask: str | None
    config: RegisterConfig
    key: str


def job_key(
    build: Path, cfg: RegisterConfig, ref: str | None, vols: Mapping[str, str], mask: str | None
) -> str:
    """The resume key of a subject: its volumes' paths, sizes and mtimes, and the options."""
    h = hashlib.sha256()
    stats = {}
    for seq, rel in sorted({**vols, **({"mask": mask} if mask else {})}.items()):
        try:
            st = (build / rel).stat()
            stats[seq] = [rel, st.st_size, st.st_mtime_ns]
        except OSError:
            stats[seq] = [rel, None, None]
    payload = {"config": asdict(cfg), "reference": ref, "volumes": stats, "version": 1}
    h.update(json.dumps(payload, sort_keys=True).encode())
    return h.hexdigest()


def _subject_dir(build: Path, sid: str) -> Path:
    return build / subject_dir(sid, REGISTRATION_DIR)


def up_to_date(job: SubjectJob) -> list[dict[str, Any]] | None:
    """The subject's rows of an earlier run with the same key and all its files, else None."""
    state = _subject_dir(Path(job.build), job.subject_id) / REGISTRATION_STATE
    try:
        saved = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if saved.get("key") != job.key:
        return None
    rows: list[dict[str, Any]] = saved.get("rows", [])
    for r in rows:
        for k in ("tfm_path", "resampled_path"):
            if r.get(k) and not (Path(job.build) / r[k]).is_file():
                return None
    return rows


def registration_row(
    sid: str, seq: str, ref: str | None, kind: str, **values: Any
) -> dict[str, Any]:
    """A row of ``registration.parquet`` (every column, None where not given)."""
    row: dict[str, Any] = dict.fromkeys(REGISTRATION_SCHEMA_NAMES)
    row.update(subject_id=sid, sequence=seq, reference=ref, transform=kind, flags=[])
    row.update(values)
    return row


def register_subject(job: SubjectJob) -> list[dict[str, Any]]:
    """Worker: register one subject's sequences, write its transforms / QC figure."""
    sitk = sitk_module()
    cfg = job.config
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(max(1, cfg.threads))
    build = Path(job.build)
    sid, ref = job.subject_id, job.reference
    folder = _subject_dir(build, sid)
    if ref is None:
        rows = [
            registration_row(
                sid, s, None, cfg.transform, status="no_reference", reason="no reference sequence"
            )
            for s in job.volumes
        ]
        write_json_atomic(folder / REGISTRATION_STATE, {"key": job.key, "rows": rows})
        return rows
    t0 = time.process_time()
    fixed_full = to_sitk(build / job.volumes[ref], sitk)
    fixed_mask = None
    if cfg.mask == "liver" and job.mask and ref == "GED4":
        fixed_mask = build / job.mask
    prepared = prepare_fixed(sitk, fixed_full, cfg, fixed_mask)
    rows = [
        registration_row(
            sid, ref, ref, cfg.transform, status="reference", matrix_ras=np.eye(4).ravel().tolist(),
            iterations=0, translation_mm=0.0, rotation_deg=0.0,
        )
    ]  # fmt: skip
    pairs: list[tuple[str, Any, RegistrationResult]] = []
    for seq, rel in job.volumes.items():
        if seq == ref:
            continue
        row, moving_full, res = _register_sequence(sitk, job, fixed_full, prepared, seq, rel)
        rows.append(row)
        if moving_full is not None:
            pairs.append((seq, moving_full, res))
    if cfg.qc_figure:
        figure = build / REGISTRATION_REPORTS / f"sub-{sid}.png"
        qc_figure(sitk, figure, ref, prepared.image, pairs)
    rows[0]["seconds"] = round(time.process_time() - t0, 3)  # the whole subject
    write_json_atomic(folder / REGISTRATION_STATE, {"key": job.key, "rows": rows})
    return rows


def _register_sequence(
    sitk: Any, job: SubjectJob, fixed_full: Any, prepared: PreparedFixed, seq: str, rel: str
) -> tuple[dict[str, Any], Any, RegistrationResult]:
    """Register sequence ``seq`` (file ``rel``) to the prepared reference, write its
    transform (and resampled volume); returns its row, the moving image (None: unreadable)
    and the result."""
    cfg, build, ref = job.config, Path(job.build), str(job.reference)
    folder = _subject_dir(build, job.subject_id)
    s0 = time.process_time()
    try:
        moving_full = to_sitk(build / rel, sitk)
        res = register_pair(sitk, fixed_full, moving_full, cfg, prepared=prepared)
    except (DataFormatError, RuntimeError, OSError, ValueError) as exc:
        moving_full = None
        res = identity([f"unreadable: {exc}".replace("\n", " ")[:160]])
    tfm = folder / f"sub-{job.subject_id}_{seq}_to_{ref}.tfm"
    tx = res.transform if res.transform is not None else ras_matrix_to_sitk(res.matrix, sitk)
    with atomic_path(tfm, suffix=".tfm", durable=False) as tmp:
        sitk.WriteTransform(tx, str(tmp))
    resampled = None
    if cfg.resample and moving_full is not None:
        resampled = folder / f"sub-{job.subject_id}_{seq}_reg.nii.gz"
        write_resampled(sitk, fixed_full, moving_full, tx, resampled)
    row = registration_row(
        job.subject_id,
        seq,
        ref,
        cfg.transform,
        status=res.status,
        flags=list(res.flags),
        reason=res.reason,
        matrix_ras=[round(float(v), 9) for v in res.matrix.ravel()],
        tfm_path=tfm.relative_to(build).as_posix(),
        resampled_path=None if resampled is None else resampled.relative_to(build).as_posix(),
        metric_before=res.metric_before,
        metric_after=res.metric_after,
        iterations=res.iterations,
        translation_mm=round(res.translation_mm, 4),
        rotation_deg=round(res.rotation_deg, 4),
        seconds=round(time.process_time() - s0, 3),
    )
    return row, moving_full, res
