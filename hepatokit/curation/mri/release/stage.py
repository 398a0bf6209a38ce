"""``mri import-release``: the released LiFS folder layout → the curated LiFS build.

Reads the CARE-Liver layout (:mod:`.release_layout`) and writes what the DICOM path writes,
so that ``split``, ``publish`` and ``evaluate`` work on the real release too:

- ``BUILD/volumes/sub-<sid>/sub-<sid>_<SEQ>.nii.gz`` + ``.json`` sidecar (and
  ``sub-<sid>_mask_GED4.nii.gz``): header text scrubbed, a trailing singleton 4th dimension
  squeezed, voxel bytes and geometry kept, gzipped deterministically;
- ``BUILD/subjects.parquet`` (docs/contracts.md) plus ``release_split`` (train / validation /
  test: where the case came from);
- ``BUILD/private/pseudonyms.parquet``: ``<ID>-<V>`` ↔ subject pseudonym (the key of a case
  is (ID, vendor): IDs repeat across vendors), ``private/raw_root.json``;
- ``BUILD/manifest/import-release.parquet``: every file under ROOT, kept or excluded
  (``unknown_file``, ``unrecognised_case_folder``, ``corrupt``, ``not_3d``,
  ``duplicate_sequence``, ``no_sequence_in_case``);
- ``BUILD/reports/import_release.md``.

Subject ids are ``HMAC(key, "<ID>-<V>")`` with the de-identification key of the DICOM path
(``$HEPATOKIT_DEID_KEY`` …, or ``demo_key`` for synthetic data).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from hepatokit.atomic import (
    write_json_atomic,
    write_parquet_atomic,
    write_text_atomic,
)
from hepatokit.curation.mri.config import mri_config
from hepatokit.curation.mri.deid.keys import load_deid_key, subject_pseudonym
from hepatokit.curation.mri.labels.subjects import subjects_schema
from hepatokit.curation.mri.release.layout import (
    MASK,
    VENDOR_FOLDERS,
    ReleaseCase,
    VendorInfo,
    scan_release,
)
from hepatokit.curation.mri.release.volumes import CaseJob, CaseResult, FileOutcome, import_case
from hepatokit.errors import DataFormatError
from hepatokit.manifest import Manifest, ManifestRow, excluded, kept, provenance, stable_id
from hepatokit.parallel import map_items
from hepatokit.recipe import build_recipe

__all__ = ["ReleaseImportSummary", "import_release"]

log = logging.getLogger("hepatokit.curation.mri.release.stage")
STAGE = "import-release"


@dataclass(frozen=True)
class ReleaseImportSummary:
    """Counts of an import."""

    subjects: int
    files: int
    kept: int
    excluded: dict[str, int]
    by_split: dict[str, int]
    by_vendor: dict[str, int]
    missing: dict[str, int]  # sequence → subjects without it
    squeezed: int
    subjects_path: Path


# --------------------------------------------------------------------------- the stage
def _pseudonyms(cases: list[ReleaseCase], key: bytes, length: int) -> list[str]:
    """One subject id per case; a repeated (ID, vendor) gets its own id (the audit flags it)."""
    seen: Counter[str] = Counter()
    out = []
    for case in cases:
        seen[case.original_key] += 1
        text = case.original_patient_id
        if seen[case.original_key] > 1:
            log.warning(
                "case %s appears again in %s: imported under a second pseudonym",
                case.original_patient_id,
                case.folder,
            )
            text = f"{text}\x1f{case.folder}"
        out.append(subject_pseudonym(text, key, length=length))
    return out


def import_release(
    *,
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    recipe: str | os.PathLike[str] | None = None,
    key_file: str | os.PathLike[str] | None = None,
    demo_key: bool = False,
    vendors: dict[str, VendorInfo] | None = None,
    compress_level: int = 6,
    workers: int | None = None,
    executor: Executor | None = None,
) -> ReleaseImportSummary:
    """Import the released LiFS layout under ``root`` into the build folder ``out``.

    Parameters
    ----------
    root
        The release folder (holding ``LiQA_training_data/``, ``LiQA_val/`` … or one of them).
    out
        The build folder; written like the DICOM path's (see the module docstring).
    recipe
        Recipe (default ``BUILD/recipe.yaml`` / ``lifs``): sequence order and ``deid`` settings.
    key_file, demo_key
        The de-identification key (as for ``mri index``); ``demo_key`` for synthetic data only.
    vendors
        Vendor folder code → :class:`VendorInfo` (default :data:`VENDOR_FOLDERS`).
    compress_level
        gzip level of the written volumes (6: as the DICOM path; 1 is ~4× faster, a little
        larger). Volumes already imported from the same source file are not rewritten.
    workers, executor
        Parallelism over cases (:func:`hepatokit.parallel.map_items`).

    Raises
    ------
    DataFormatError
        ``root`` is not a folder or holds no case folder at all.
    PHIError
        No de-identification key.
    """
    root_path, build = Path(root).resolve(), Path(out)
    if not root_path.is_dir():
        raise DataFormatError("the release root is not a folder", path=root_path)
    rec = build_recipe(build, None if recipe is None else Path(recipe), default="lifs")
    cfg = mri_config(rec)
    key = load_deid_key(config=cfg.deid, key_file=key_file, demo_key=demo_key)
    layout = scan_release(root_path)
    if not layout.cases:
        raise DataFormatError(
            "no case folder found",
            path=root_path,
            hint="expected <root>/…/Vendor_<V>/<ID>-<V>[-S<k>]/T1.nii.gz … (the CARE-Liver layout)",
        )
    unknown_split = [c.folder for c in layout.cases if c.release_split is None]
    if unknown_split:
        log.warning(
            "%d case folder(s) lie under no train / val / test folder (e.g. %s): release_split "
            "left empty",
            len(unknown_split),
            unknown_split[0],
        )
    vendor_map = {**VENDOR_FOLDERS, **(vendors or {})}
    sids = _pseudonyms(layout.cases, key, cfg.deid.subject_id_length)
    jobs = [
        CaseJob(
            case=case,
            subject_id=sid,
            root=str(root_path),
            build=str(build.resolve()),
            sequences=cfg.sequences,
            compress_level=compress_level,
            info=vendor_map.get(case.vendor_code.upper())
            or VendorInfo(f"Vendor {case.vendor_code[0].upper()}", case.vendor_code, None),
        )
        for case, sid in zip(layout.cases, sids, strict=True)
    ]
    results = map_items(
        import_case, jobs, workers=workers, executor=executor, description="import release"
    )
    ledger: list[ManifestRow] = []
    subjects: list[dict[str, Any]] = []
    private: list[dict[str, Any]] = []
    squeezed = 0
    for res in results:
        job = res.item
        if res.value is None:  # the worker failed on the whole case: every file excluded
            outcome = CaseResult(
                files=[FileOutcome(r, 0, None, "corrupt", res.error) for r in job.case.files]
            )
        else:
            outcome = res.value
        has_sequence = any(s in cfg.sequences for s in outcome.volumes)
        for f in outcome.files:
            if f.reason is None and not has_sequence:
                f.reason, f.detail = "no_sequence_in_case", "the case has no readable sequence"
            ledger.append(_ledger_row(f, job))
        if not has_sequence:
            log.warning("case %s has no readable sequence: not imported", job.case.folder)
            continue
        squeezed += len(outcome.squeezed)
        subjects.append(_subject_row(job, outcome, cfg.sequences))
        private.append(_private_row(job))
    rows = sorted(subjects, key=lambda r: r["subject_id"])
    write_parquet_atomic(
        build / "subjects.parquet",
        pa.Table.from_pylist(rows, schema=_subjects_schema(cfg.sequences)),
    )
    write_parquet_atomic(
        build / "private" / "pseudonyms.parquet",
        pa.Table.from_pylist(sorted(private, key=lambda r: r["subject_id"])),
    )
    write_json_atomic(build / "private" / "raw_root.json", {"raw_root": str(root_path)})
    ledger += [
        excluded(
            stable_id("file", rel),
            kind="file",
            stage=STAGE,
            reason=reason,
            source=rel,
            detail=detail,
            size=(root_path / rel).stat().st_size,
        )
        for rel, reason, detail in layout.unplaced
    ]
    Manifest(build).record(
        STAGE,
        sorted(ledger, key=lambda r: r.item_id),
        introduces=True,
        provenance_info=provenance(stage=STAGE, recipe_sha256=rec.sha256),
    )
    summary = _summary(rows, ledger, cfg.sequences, build, squeezed)
    write_text_atomic(build / "reports" / "import_release.md", _report(summary, rows))
    return summary


def _ledger_row(f: FileOutcome, job: CaseJob) -> ManifestRow:
    item = stable_id("file", f.rel)
    common: dict[str, Any] = {
        "kind": "file",
        "stage": STAGE,
        "source": f.rel,
        "size": f.size,
        "checksum": f.checksum,
    }
    if f.reason is None:
        return kept(item, detail=f"{f.sequence} → {f.output}", **common)
    return excluded(item, reason=f.reason, detail=f.detail, **common)


def _subject_row(job: CaseJob, res: CaseResult, sequences: tuple[str, ...]) -> dict[str, Any]:
    stage = job.case.stage
    row: dict[str, Any] = {
        "subject_id": job.subject_id,
        "center": job.info.center,
        "vendor": job.info.vendor,
        "scanner": job.info.scanner,
        "field_strength": None,
        "stage": stage,
        "cirrhosis": None if stage is None else int(stage == "S4"),
        "significant_fibrosis": None if stage is None else int(stage != "S1"),
        "sequences": [s for s in sequences if s in res.volumes],
    }
    for s in sequences:
        row[f"volume_{s}"] = res.volumes.get(s)
    row["mask_GED4"] = res.volumes.get(MASK)
    row["release_split"] = job.case.release_split
    return row


def _private_row(job: CaseJob) -> dict[str, Any]:
    return {
        "original_patient_id": job.case.original_patient_id,
        "original_key": job.case.original_key,
        "subject_id": job.subject_id,
        "release_case": Path(job.case.folder).name,
        "release_folder": job.case.folder,
        "release_split": job.case.release_split,
    }


def _subjects_schema(sequences: tuple[str, ...]) -> pa.Schema:
    return subjects_schema(sequences, release=True)


def _summary(
    rows: list[dict[str, Any]],
    ledger: list[ManifestRow],
    sequences: tuple[str, ...],
    build: Path,
    squeezed: int,
) -> ReleaseImportSummary:
    reasons = Counter((r.reason or "").split(":", 1)[0] for r in ledger if r.outcome == "excluded")
    return ReleaseImportSummary(
        subjects=len(rows),
        files=len(ledger),
        kept=sum(r.outcome == "kept" for r in ledger),
        excluded=dict(sorted(reasons.items())),
        by_split=dict(sorted(Counter(str(r["release_split"]) for r in rows).items())),
        by_vendor=dict(sorted(Counter(f"{r['vendor']} ({r['scanner']})" for r in rows).items())),
        missing={s: sum(r[f"volume_{s}"] is None for r in rows) for s in sequences},
        squeezed=squeezed,
        subjects_path=build / "subjects.parquet",
    )


def _report(summary: ReleaseImportSummary, rows: list[dict[str, Any]]) -> str:
    lines = ["# Import of the released LiFS layout", ""]
    lines.append(f"{summary.subjects} subjects from {summary.files} files ({summary.kept} kept).")
    lines += [
        "",
        "| release split | vendor (scanner) | S1 | S2 | S3 | S4 | unlabelled |",
        "|---|---|---|---|---|---|---|",
    ]
    cells: Counter[tuple[str, str, str]] = Counter(
        (str(r["release_split"]), f"{r['vendor']} ({r['scanner']})", r["stage"] or "none")
        for r in rows
    )
    for split, vendor in sorted({(a, b) for a, b, _ in cells}):
        counts = [cells[(split, vendor, s)] for s in ("S1", "S2", "S3", "S4", "none")]
        lines.append(f"| {split} | {vendor} | " + " | ".join(map(str, counts)) + " |")
    lines += ["", "| sequence | subjects without it |", "|---|---|"]
    lines += [f"| {s} | {n} |" for s, n in summary.missing.items()]
    masks = sum(r["mask_GED4"] is not None for r in rows)
    lines += ["", f"Liver masks (GED4): {masks}.", ""]
    if summary.excluded:
        lines += ["| excluded because | files |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in summary.excluded.items()]
    return "\n".join(lines) + "\n"
