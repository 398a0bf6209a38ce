"""``mri register``: rigid (or affine) alignment of every sequence to a reference sequence.

LiFS's sequences are acquired minutes apart (breath holds, patient motion), so they do not
overlay. This optional stage registers, per subject, every sequence to the recipe's
reference sequence (the first present of ``register.reference``, e.g. GED4 → GED3 → T1W)
with SimpleITK: Mattes mutual information (multi-modal), a multi-resolution pyramid on a
working grid of ``working_spacing_mm``, a random subset of voxels per level inside a body
mask, and a bounded number of iterations of a regular-step gradient descent, starting
from the scanner's frame (the identity in world coordinates, rotating about the reference's
centre).

Outputs (``BUILD/registration/``)::

    registration.parquet                 one row per subject and sequence (the reference too)
    sub-<id>/sub-<id>_<SEQ>_to_<REF>.tfm  the ITK transform (LPS, fixed → moving points)
    sub-<id>/sub-<id>_<SEQ>_reg.nii.gz    with ``resample``: the sequence on the reference grid
    sub-<id>/registration.json           the subject's rows + resume key
    BUILD/reports/registration/sub-<id>.png   QC: checkerboards before / after

``matrix_ras`` in the table is the same transform as a 4×4 matrix in world RAS millimetres
(row-major, 16 numbers) mapping a point of the reference to the corresponding point of the
sequence; ``hepatokit.loaders`` applies it when it resamples every sequence onto the
reference grid. A pair whose metric got worse, whose translation or rotation exceeds the
recipe's bounds, or whose moving volume is blank or tiny is ``flagged``: it keeps the
identity and says why. SimpleITK is imported on first use (the ``mri`` extra).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from hepatokit.contracts import check_file, write_table
from hepatokit.contracts.lifs import (
    REGISTRATION,
    REGISTRATION_SCHEMA,
    SEQUENCES,
    SERIES,
    SUBJECTS,
    VOLUME_QC,
    VOLUMES,
)
from hepatokit.curation.mri.config import recipe_sequences
from hepatokit.curation.mri.register.config import RegisterConfig
from hepatokit.curation.mri.register.images import sitk_module
from hepatokit.curation.mri.register.subject import (
    REGISTRATION_SCHEMA_NAMES,
    SubjectJob,
    job_key,
    register_subject,
    registration_row,
    up_to_date,
)
from hepatokit.errors import BuildStateError
from hepatokit.recipe import Recipe, stage_section

__all__ = [
    "REGISTRATION_SCHEMA_NAMES",
    "RegisterSummary",
    "recipe_sequences",
    "register_section",
    "register_sequences",
    "stage_config",
    "summarise",
]

log = logging.getLogger("hepatokit.curation.mri.register.stage")


@dataclass(frozen=True)
class RegisterSummary:
    """Subjects and pairs registered: ``ok``, ``flagged`` (identity kept), ``skipped``
    (subjects up to date), ``no_reference`` (subjects without any reference sequence)."""

    subjects: int
    pairs: int
    ok: int
    flagged: int
    skipped: int
    no_reference: int
    table_path: Path
    cpu_seconds: float


def _subject_volumes(
    build: Path, sequences: Sequence[str]
) -> list[tuple[str, dict[str, str], str | None]]:
    """(subject, {sequence: path}, liver mask) from subjects.parquet, else volumes.parquet."""
    import pandas as pd

    subjects = build / SUBJECTS
    if subjects.is_file():
        df = pd.read_parquet(subjects)
        out = []
        for row in df.sort_values("subject_id").to_dict("records"):
            vols = {
                s: str(row[f"volume_{s}"])
                for s in sequences
                if f"volume_{s}" in row and isinstance(row[f"volume_{s}"], str)
            }
            mask = row.get("mask_GED4")
            out.append((str(row["subject_id"]), vols, mask if isinstance(mask, str) else None))
        return out
    vol_path = build / VOLUMES
    if not vol_path.is_file():
        raise BuildStateError(
            "no subjects.parquet or volumes.parquet",
            path=build,
            hint="run `hepatokit mri convert` (and `mri qc`, `mri labels`) first",
        )
    table = pd.read_parquet(vol_path)
    table = table[table["status"] == "ok"]
    qc = build / VOLUME_QC
    if qc.is_file():
        cols = ["path", "qc_reason"]
        q = pd.read_parquet(check_file(build, VOLUME_QC, columns=cols), columns=cols)
        failed = set(q.loc[q["qc_reason"].notna(), "path"])
        table = table[~table["path"].isin(failed)]
    by_subject: dict[str, dict[str, str]] = {}
    for r in table.sort_values(["subject_id", "sequence"]).to_dict("records"):
        if r["sequence"] in sequences:
            by_subject.setdefault(str(r["subject_id"]), {})[str(r["sequence"])] = str(r["path"])
    return [(s, v, None) for s, v in sorted(by_subject.items())]


def register_section(rec: Recipe) -> RegisterConfig:
    """The recipe's ``register`` section, with the recipe's ``seed`` when it has one."""
    cfg = rec.section("register", RegisterConfig)
    return replace(cfg, seed=int(rec.data["seed"])) if "seed" in rec.data else cfg


def stage_config(
    cfg: RegisterConfig,
    reference: str | Sequence[str] | None = None,
    transform: Literal["rigid", "affine"] | None = None,
    resample: bool | None = None,
) -> RegisterConfig:
    """``cfg`` with the caller's options: ``reference`` tried first (then the section's
    fallbacks), ``transform``, ``resample``; None keeps the section's."""
    if reference is not None:
        first = [reference] if isinstance(reference, str) else list(reference)
        cfg = replace(cfg, reference=[*first, *(s for s in cfg.reference if s not in first)])
    if transform is not None:
        cfg = replace(cfg, transform=transform)
    if resample is not None:
        cfg = replace(cfg, resample=resample)
    return cfg


def register_sequences(
    *,
    build: str | os.PathLike[str],
    recipe: str | os.PathLike[str] | None = None,
    register: RegisterConfig | None = None,
    sequences: Sequence[str] | None = None,
    recipe_sha256: str | None = None,
    reference: str | Sequence[str] | None = None,
    transform: Literal["rigid", "affine"] | None = None,
    resample: bool | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
) -> RegisterSummary:
    """Register every subject's sequences to its reference sequence (resumable, parallel).

    Parameters
    ----------
    build
        Build folder after ``mri convert`` (``subjects.parquet`` when ``mri labels`` ran,
        else ``volumes.parquet`` minus QC failures).
    register, sequences, recipe_sha256
        The recipe's ``register`` section (with the recipe's ``seed``:
        :func:`register_section`), its sequences (those registered; default all) and its
        hash (for the ledger's provenance), as a pipeline resolved them; given the section,
        no recipe is read.
    recipe
        Without ``register``: the recipe to read them from (default ``BUILD/recipe.yaml``,
        else the packaged ``lifs``).
    reference, transform, resample
        Override the section: a sequence (tried first, then the section's fallbacks) or an
        ordered list; ``rigid`` or ``affine``; also write every sequence resampled on its
        reference grid.
    workers, executor
        Subjects run in parallel on the project's executor; SimpleITK uses
        ``register.threads`` threads inside each worker.

    Returns
    -------
    RegisterSummary
        Counts; the table is ``BUILD/registration/registration.parquet``.
    """
    from hepatokit.parallel import map_items

    sitk_module()  # fail early with the extra's name
    build = Path(build)
    rec_path = None if recipe is None else os.fspath(recipe)
    cfg, seqs, sha = stage_section(
        build,
        None if register is None else (register, tuple(sequences or SEQUENCES), recipe_sha256),
        rec_path,
        default="lifs",
        pick=lambda r: (register_section(r), recipe_sequences(r), r.sha256),
    )
    cfg = stage_config(cfg, reference, transform, resample)
    entries = _subject_volumes(build, seqs)
    jobs, rows_by_subject = [], {}
    for sid, vols, mask in entries:
        ref = next((s for s in cfg.reference if s in vols), None)
        job = SubjectJob(
            str(build), sid, ref, vols, mask, cfg, job_key(build, cfg, ref, vols, mask)
        )
        done = up_to_date(job)
        if done is not None:
            rows_by_subject[sid] = done
        else:
            jobs.append(job)
    skipped = len(rows_by_subject)
    results = map_items(
        register_subject, jobs, executor=executor, workers=workers, description="registration"
    )
    for job, res in zip(jobs, results, strict=True):
        if res.ok and res.value is not None:
            rows_by_subject[job.subject_id] = res.value
        else:
            rows_by_subject[job.subject_id] = _failed_rows(job, res.error)
    rows = [r for sid in sorted(rows_by_subject) for r in rows_by_subject[sid]]
    table_path = _write(build, rows, sha)
    summary = summarise(rows, len(rows_by_subject), skipped, table_path)
    log.info("register: %s", summary)
    return summary


def _failed_rows(job: SubjectJob, error: str | None) -> list[dict[str, Any]]:
    """A subject whose worker failed: every sequence ``failed`` with the error."""
    return [
        registration_row(
            job.subject_id, s, job.reference, job.config.transform, status="failed", reason=error
        )
        for s in job.volumes
    ]


def summarise(
    rows: Sequence[Mapping[str, Any]], subjects: int, skipped: int, table_path: Path
) -> RegisterSummary:
    """The counts of the registration table ``rows`` (of ``subjects`` subjects, ``skipped``
    of them up to date)."""
    pairs = [r for r in rows if r["status"] not in ("reference", "no_reference")]
    return RegisterSummary(
        subjects=subjects,
        pairs=len(pairs),
        ok=sum(r["status"] == "ok" for r in pairs),
        flagged=sum(r["status"] in ("flagged", "failed") for r in pairs),
        skipped=skipped,
        no_reference=len({r["subject_id"] for r in rows if r["status"] == "no_reference"}),
        table_path=table_path,
        cpu_seconds=sum(float(r["seconds"] or 0) for r in rows if r["status"] == "reference"),
    )


def _write(build: Path, rows: list[dict[str, Any]], sha: str | None) -> Path:
    """``registration.parquet`` and the stage's ledger; returns the table's path."""
    import pyarrow as pa

    from hepatokit.manifest import Manifest, kept, provenance

    schema = REGISTRATION_SCHEMA
    table_path = write_table(
        build,
        REGISTRATION,
        pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema),
    )
    ledger = _ledger(build, rows, kept)
    if ledger:
        Manifest(build).record(
            "register",
            ledger,
            provenance_info=provenance(stage="mri.register", recipe_sha256=sha),
        )
    return table_path


def _ledger(build: Path, rows: Sequence[Mapping[str, Any]], kept: Any) -> list[Any]:
    """Kept rows (registration never excludes) for the files of each registered volume,
    when the build has the curation tables that name them."""
    import pandas as pd

    vol_path, series_path = build / VOLUMES, build / SERIES
    if not (vol_path.is_file() and series_path.is_file()):
        return []
    vols = pd.read_parquet(vol_path, columns=["subject_id", "sequence", "series_id", "status"])
    vols = vols[vols["status"] == "ok"]
    series = pd.read_parquet(series_path, columns=["series_id", "item_ids"]).set_index("series_id")
    sid_of = {
        (str(s), str(q)): str(i)
        for s, q, i in zip(vols["subject_id"], vols["sequence"], vols["series_id"], strict=True)
    }
    out, seen = [], set()
    for r in rows:
        series_id = sid_of.get((r["subject_id"], r["sequence"]))
        if series_id is None or series_id not in series.index:
            continue
        if r["status"] == "reference":
            detail = "registration reference"
        elif r["status"] == "ok":
            detail = f"registered to {r['reference']}"
        else:
            detail = f"registration {r['status']}: {r['reason']} (identity kept)"
        items: Any = series.loc[series_id, "item_ids"]
        for item in items:
            if item not in seen:
                seen.add(item)
                out.append(kept(item, kind="file", stage="register", detail=detail))
    return out
