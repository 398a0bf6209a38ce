"""``mri convert``: one de-identified NIfTI + curated sidecar per subject × sequence.

Each recognised series is converted by the dcm2niix binary of the pip package, fed exactly
the files of that series (symlinked into a private temporary folder) with
``-b y -ba y -z n`` (never ``-i y``: it also drops Siemens TRACEW diffusion images). The
NIfTI is then scrubbed and gzipped deterministically (:mod:`.nifti_scrub`), the sidecar is
rebuilt from whitelisted dcm2niix keys plus the index (pseudonyms, contrast timing), and
every file is written atomically. A content key per output (inputs' paths, sizes, mtimes,
recipe options, versions) makes a re-run skip finished volumes, so an interrupted run
resumes and ends with the same bytes as an uninterrupted one.

Layout: ``BUILD/volumes/sub-<sid>/sub-<sid>_<SEQ>.nii.gz`` + ``.json`` (+ ``.bval``/``.bvec``
for DWI); ``--all-series`` writes every image series to
``BUILD/all_series/sub-<sid>/sub-<sid>_series-<series_id>.nii.gz`` instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import pyarrow as pa

from hepatokit._version import __version__
from hepatokit.atomic import (
    write_bytes_atomic,
    write_json_atomic,
    write_parquet_atomic,
    write_text_atomic,
)
from hepatokit.curation.mri.config import ConvertConfig, mri_config
from hepatokit.curation.mri.convert.dcm2niix import (
    build_scratch,
    dcm2niix_binary,
    dcm2niix_version,
    run_dcm2niix,
    run_dcm2niix_many,
    scratch_dir,
)
from hepatokit.curation.mri.convert.sidecar import curated_sidecar, dwi_b_values, select_b_indices
from hepatokit.curation.mri.deid.nifti_scrub import gzip_backend, gzip_deterministic, scrub_nifti
from hepatokit.errors import BuildStateError
from hepatokit.manifest import Manifest, excluded, kept, provenance
from hepatokit.parallel import ItemResult, map_items
from hepatokit.recipe import build_recipe

__all__ = ["ConvertSummary", "convert_volumes", "dcm2niix_binary", "run_dcm2niix"]

log = logging.getLogger("hepatokit.curation.mri.convert.stage")

VOLUME_SCHEMA = pa.schema(
    [
        ("subject_id", pa.string()),
        ("sequence", pa.string()),
        ("series_id", pa.string()),
        ("path", pa.string()),
        ("sidecar", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
    ]
)


@dataclass(frozen=True)
class ConvertSummary:
    """Volumes written (converted now), skipped (already up to date) and failed."""

    converted: int
    skipped: int
    failed: int
    volumes_path: Path


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


def _job_key(job: ConvertJob) -> str:
    h = hashlib.sha256()
    for f in job.files:
        st = Path(f).stat()
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


def _outputs(build: Path, stem: str, dwi: bool) -> list[Path]:
    base = build / stem
    out = [base.with_suffix(".nii.gz"), base.with_suffix(".json")]
    if dwi:
        out += [base.with_suffix(".bval"), base.with_suffix(".bvec")]
    return out


def _key_path(job: ConvertJob) -> Path:
    return Path(job.build) / ".state" / "convert" / (job.stem.replace("/", "__") + ".key")


def _up_to_date(job: ConvertJob) -> bool:
    """True when the outputs exist from the same inputs, options and versions."""
    key_path = _key_path(job)
    outs = _outputs(Path(job.build), job.stem, job.sequence == "DWI")
    try:
        return key_path.is_file() and key_path.read_text() == _stamp(_job_key(job), outs)
    except OSError:  # a raw file vanished: let the conversion report it
        return False


def _convert_job(job: ConvertJob) -> str:
    """Convert one series; returns ``"converted"`` or ``"skipped"`` (raises on failure)."""
    if _up_to_date(job):
        return "skipped"
    with tempfile.TemporaryDirectory(prefix="hk-conv-", dir=job.scratch or scratch_dir()) as tmp:
        niftis = run_dcm2niix(
            job.files, Path(tmp) / "out", timeout_s=job.config.timeout_s, scratch=job.scratch
        )
        _finish(job, niftis)
    return "converted"


def _convert_batch(jobs: Sequence[ConvertJob]) -> list[tuple[str | None, str | None]]:
    """Convert several series of one subject (distinct series UIDs) with one dcm2niix run;
    returns ``(status, error)`` per job, a failure of one series leaves the others alone."""
    pending = [j for j in jobs if not _up_to_date(j)]
    out: dict[int, tuple[str | None, str | None]] = {id(j): ("skipped", None) for j in jobs}
    if len(pending) == 1:
        try:
            out[id(pending[0])] = (_convert_job(pending[0]), None)
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
                    _finish(j, written[j.series_uid])
                    out[id(j)] = ("converted", None)
                except Exception as exc:
                    out[id(j)] = (None, _one_line(exc))
    return [out[id(j)] for j in jobs]


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]


def _finish(job: ConvertJob, niftis: Sequence[Path]) -> None:
    """Scrub, select, gzip and write one series' outputs + sidecar + resume record."""
    build = Path(job.build)
    key = _job_key(job)
    key_path = _key_path(job)
    is_dwi = job.sequence == "DWI"
    outs = _outputs(build, job.stem, is_dwi)
    if len(niftis) > 1:
        log.warning("%s: dcm2niix wrote %d volumes; keeping the largest", job.stem, len(niftis))
    nii = max(niftis, key=lambda p: (p.stat().st_size, p.name))
    meta = (
        json.loads(nii.with_suffix(".json").read_text())
        if nii.with_suffix(".json").is_file()
        else {}
    )
    bval_path, bvec_path = nii.with_suffix(".bval"), nii.with_suffix(".bvec")
    bvals = [float(v) for v in bval_path.read_text().split()] if bval_path.is_file() else []
    raw_nii = nii.read_bytes()
    if is_dwi:
        bvals, b_source = dwi_b_values(bvals, job.index_b_values, raw_nii)
        meta["BValueSource"] = b_source
    keep = select_b_indices(bvals, job.config) if (is_dwi and bvals) else None
    if keep is not None and not keep:
        raise RuntimeError(f"no volume with b in {job.config.dwi_b_values} (have {bvals})")
    data = scrub_nifti(raw_nii, keep_volumes=keep if keep != list(range(len(bvals))) else None)
    img = nib.Nifti1Image.from_bytes(data)
    sidecar = curated_sidecar(
        job, meta, img, [bvals[i] for i in keep] if keep is not None else bvals
    )
    base = build / job.stem
    write_bytes_atomic(
        base.with_suffix(".nii.gz"),
        gzip_deterministic(data, level=job.config.gzip_level),
        durable=False,
    )
    if is_dwi:
        kept_b = [bvals[i] for i in keep] if keep is not None else []
        write_text_atomic(
            base.with_suffix(".bval"), " ".join(f"{b:g}" for b in kept_b) + "\n", durable=False
        )
        rows = (
            [r.split() for r in bvec_path.read_text().strip().splitlines()]
            if bvec_path.is_file()
            else [["0"] * len(kept_b)] * 3
        )
        sel = keep if keep is not None else []
        bvec = "\n".join(" ".join(r[i] for i in sel if i < len(r)) for r in rows) + "\n"
        write_text_atomic(base.with_suffix(".bvec"), bvec, durable=False)
    write_json_atomic(base.with_suffix(".json"), sidecar, durable=False)
    write_text_atomic(key_path, _stamp(key, outs), durable=False)


def _stamp(key: str, outputs: Sequence[Path]) -> str:
    """The resume record: the input key plus each output's size (a file that did not reach
    the disk before a crash has another size, so it is converted again)."""
    sizes = [str(p.stat().st_size) if p.is_file() else "missing" for p in outputs]
    return key + "\n" + " ".join(sizes) + "\n"


def convert_volumes(
    *,
    build: str | os.PathLike[str],
    recipe: str | os.PathLike[str] | None = None,
    all_series: bool = False,
    workers: int | None = None,
    executor: Executor | None = None,
) -> ConvertSummary:
    """Convert the recognised series of ``build`` (after ``mri series``).

    Parameters
    ----------
    all_series
        Convert every image series whatever its recognition into ``BUILD/all_series/`` (to
        explore a new site's export); the manifest and ``volumes/`` are left alone.
    """
    build = Path(build)
    rec = build_recipe(build, None if recipe is None else os.fspath(recipe), default="lifs")
    cfg = mri_config(rec).convert
    series_path = build / "series.parquet"
    if not series_path.is_file():
        raise BuildStateError("no series.parquet", path=build, hint="run `hepatokit mri series`")
    raw_root = Path(json.loads((build / "private" / "raw_root.json").read_text())["raw_root"])
    series = pd.read_parquet(series_path)
    paths = pd.read_parquet(
        build / "instances.parquet", columns=["item_id", "b_value", "contrast_agent"]
    )
    raw_paths = pd.read_parquet(
        build / "private" / "instances_phi.parquet", columns=["item_id", "path"]
    )  # the raw paths are only in private/ (folder names carry patient names)
    path_of = dict(zip(raw_paths["item_id"], raw_paths["path"], strict=True))
    b_of = dict(zip(paths["item_id"], paths["b_value"], strict=True))
    agent_of = dict(zip(paths["item_id"], paths["contrast_agent"], strict=True))
    jobs: list[ConvertJob] = []
    for s in series.sort_values(["subject_id", "series_id"]).to_dict("records"):
        if all_series:
            stem = f"all_series/sub-{s['subject_id']}/sub-{s['subject_id']}_series-{s['series_id']}"
            seq = None
        elif isinstance(s["label"], str):
            seq = str(s["label"])
            stem = f"volumes/sub-{s['subject_id']}/sub-{s['subject_id']}_{seq}"
        else:
            continue
        info = {
            k: _plain(s[k])
            for k in (
                "subject_id",
                "series_id",
                "center",
                "vendor",
                "scanner",
                "field_strength",
                "seconds_after_injection",
                "timing_source",
                "label",
                "reason",
            )
        }
        agents = [str(agent_of[i]).strip() for i in s["item_ids"] if isinstance(agent_of[i], str)]
        info["contrast_agent"] = next((a for a in agents if a), None)
        files = tuple(str(raw_root / path_of[i]) for i in s["item_ids"])
        b_order = [float(b_of[i]) for i in s["item_ids"] if pd.notna(b_of[i])]
        index_b = tuple(dict.fromkeys(b_order))
        jobs.append(
            ConvertJob(str(build), stem, files, seq, info, cfg, index_b, str(s["series_uid"]))
        )
    changed = _changed_since_index(build, raw_root, jobs)
    jobs = [j for j in jobs if j.stem not in changed]
    todo = [i for i, job in enumerate(jobs) if not _up_to_date(job)]
    scratch = build_scratch(build) if todo else None
    jobs = [dataclasses.replace(j, scratch=scratch) for j in jobs]
    batches = _batches([jobs[i] for i in todo])
    done = map_items(
        _convert_batch,
        batches,
        executor=executor,
        workers=workers,
        description="convert (dcm2niix)",
    )
    outcome: dict[str, tuple[str | None, str | None]] = {}
    for batch, bres in zip(batches, done, strict=True):
        values = bres.value if bres.ok and bres.value else [(None, bres.error)] * len(batch)
        outcome.update({j.stem: v for j, v in zip(batch, values, strict=True)})
    results: list[ItemResult[ConvertJob, str]] = []
    for job in jobs:
        got, error = outcome.get(job.stem, ("skipped", None))
        results.append(ItemResult(job, got, error))
    os.sync()  # one flush for the stage: outputs are written atomically but not fsynced each
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
    if not all_series:
        _remove_stale(build / "volumes", {build / j.stem for j in jobs}, mri_config(rec).sequences)
    rows, ledger = [], []
    counts = {"converted": 0, "skipped": 0, "failed": 0}
    for job, res in zip(jobs, results, strict=True):
        status: str = res.value if res.ok and res.value else "failed"
        counts[status] += 1
        rows.append(
            {
                "subject_id": job.series["subject_id"],
                "sequence": job.sequence,
                "series_id": job.series["series_id"],
                "path": f"{job.stem}.nii.gz" if status != "failed" else None,
                "sidecar": f"{job.stem}.json" if status != "failed" else None,
                "status": "ok" if status != "failed" else "failed",
                "error": res.error,
            }
        )
        if all_series:
            continue
        items = series.loc[series["series_id"] == job.series["series_id"], "item_ids"].iloc[0]
        for item in items:
            if status == "failed":
                ledger.append(
                    excluded(
                        item,
                        kind="file",
                        stage="convert",
                        reason="conversion_failed",
                        detail=(res.error or "")[:500],
                    )
                )
            else:
                ledger.append(kept(item, kind="file", stage="convert", detail=f"{job.stem}.nii.gz"))
    for job, detail in changed.values():
        counts["failed"] += 1
        rows.append(
            {
                "subject_id": job.series["subject_id"],
                "sequence": job.sequence,
                "series_id": job.series["series_id"],
                "path": None,
                "sidecar": None,
                "status": "changed_since_index",
                "error": detail,
            }
        )
        if all_series:
            continue
        items = series.loc[series["series_id"] == job.series["series_id"], "item_ids"].iloc[0]
        ledger += [
            excluded(item, kind="file", stage="convert", reason="changed_since_index",
                     detail=detail)
            for item in items
        ]  # fmt: skip
    name = "all_series.parquet" if all_series else "volumes.parquet"
    out = write_parquet_atomic(build / name, pa.Table.from_pylist(rows, schema=VOLUME_SCHEMA))
    if not all_series:
        Manifest(build).record(
            "convert",
            ledger,
            provenance_info=provenance(stage="mri.convert", recipe_sha256=rec.sha256),
        )
    log.info("convert: %s", counts)
    for job, res in zip(jobs, results, strict=True):
        if not res.ok:
            log.warning("%s: %s", job.stem, res.error)
    return ConvertSummary(counts["converted"], counts["skipped"], counts["failed"], out)


def _changed_since_index(
    build: Path, raw_root: Path, jobs: Sequence[ConvertJob]
) -> dict[str, tuple[ConvertJob, str]]:
    """The jobs (by stem) whose raw files changed since ``mri index`` read them: size or
    mtime differs from the index's record (``private/index_cache.parquet``), or the file
    is gone. Converting them would mix what the index saw with what is there now (a
    replaced slice gives a volume of the wrong geometry that passes as ``ok``)."""
    record = build / "private" / "index_cache.parquet"
    if not record.is_file():
        log.warning("no index record of sizes and mtimes: raw files not re-checked")
        return {}
    import pyarrow.parquet as pq

    table = pq.read_table(record, columns=["path", "size", "mtime_ns"])
    root = str(raw_root)
    seen = {
        os.path.join(root, p): (s, m)  # noqa: PTH118 (hot loop)
        for p, s, m in zip(
            table["path"].to_pylist(),
            table["size"].to_pylist(),
            table["mtime_ns"].to_pylist(),
            strict=True,
        )
    }
    out: dict[str, tuple[ConvertJob, str]] = {}
    for job in jobs:
        bad = 0
        for f in job.files:
            try:
                st = os.stat(f)  # noqa: PTH116 (hot loop)
                now = (st.st_size, st.st_mtime_ns)
            except OSError:
                now = None
            if now is None or seen.get(f) != now:
                bad += 1
        if bad:
            out[job.stem] = (
                job,
                f"{bad} of {len(job.files)} file(s) of this series changed or disappeared "
                "since `mri index` read them; re-run `hepatokit mri index` (and the stages "
                "after it)",
            )
    return out


def _batches(jobs: Sequence[ConvertJob]) -> list[list[ConvertJob]]:
    """One dcm2niix run per subject and part rank: parts of one split series (same UID) go
    to different runs, so dcm2niix never sees two of our series with one UID."""
    groups: dict[tuple[str, int], list[ConvertJob]] = {}
    seen: dict[tuple[str, str], int] = {}
    for job in jobs:
        sid = str(job.series["subject_id"])
        rank = seen.get((sid, job.series_uid), 0)
        seen[(sid, job.series_uid)] = rank + 1
        groups.setdefault((sid, rank), []).append(job)
    return [groups[k] for k in sorted(groups)]


def _plain(value: Any) -> Any:
    """A JSON-able Python value (numpy scalars unwrapped; NaN / pandas NA → None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


def _remove_stale(volumes: Path, expected_stems: set[Path], sequences: Sequence[str]) -> None:
    """Delete curated files of sequences no longer recognised (keeps re-runs idempotent).

    Only files named like this stage's outputs (``sub-<id>_<SEQ>.nii.gz|json|bval|bvec``) are
    considered; anything else in ``volumes/`` (masks, notes) is left alone.
    """
    if not volumes.is_dir():
        return
    names = {str(s) for s in expected_stems}
    suffixes = (".nii.gz", ".json", ".bval", ".bvec")
    for f in sorted(volumes.glob("sub-*/.sub-*.tmp*")):  # left by a killed run
        f.unlink()
    for f in sorted(volumes.glob("sub-*/sub-*_*")):
        suffix = next((x for x in suffixes if f.name.endswith(x)), None)
        if suffix is None:
            continue
        stem = f.name[: -len(suffix)]
        if stem.rsplit("_", 1)[-1] in sequences and str(f.parent / stem) not in names:
            f.unlink()
