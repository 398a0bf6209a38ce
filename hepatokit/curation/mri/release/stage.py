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
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path

import pyarrow as pa

from hepatokit.atomic import write_json_atomic, write_parquet_atomic, write_text_atomic
from hepatokit.contracts import start_build, write_table
from hepatokit.contracts.common import RAW_ROOT
from hepatokit.contracts.lifs import (
    IMPORT_RELEASE_MD,
    PSEUDONYMS,
    SEQUENCES,
    SUBJECTS,
    subjects_schema,
)
from hepatokit.curation.mri.config import DeidConfig, recipe_sequences
from hepatokit.curation.mri.deid.keys import load_deid_key
from hepatokit.curation.mri.release.layout import (
    VENDOR_FOLDERS,
    ReleaseLayout,
    VendorInfo,
    scan_release,
)
from hepatokit.curation.mri.release.report import (
    ReleaseImportSummary,
    render_report,
    summarise,
)
from hepatokit.curation.mri.release.rows import STAGE, Collected, collect, pseudonyms
from hepatokit.curation.mri.release.volumes import CaseJob, import_case
from hepatokit.errors import DataFormatError
from hepatokit.manifest import Manifest, excluded, provenance, stable_id
from hepatokit.parallel import map_items
from hepatokit.recipe import stage_section

__all__ = ["import_release", "plan_cases"]

log = logging.getLogger("hepatokit.curation.mri.release.stage")


def import_release(
    *,
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    recipe: str | os.PathLike[str] | None = None,
    deid: DeidConfig | None = None,
    sequences: Sequence[str] | None = None,
    recipe_sha256: str | None = None,
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
    deid, sequences, recipe_sha256
        The recipe's ``deid`` section, its sequences (their order; default all) and its hash
        (for the ledger's provenance), as a pipeline resolved them; given the section, no
        recipe is read.
    recipe
        Without ``deid``: the recipe to read them from (default ``BUILD/recipe.yaml`` /
        ``lifs``).
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
    rec_path = None if recipe is None else Path(recipe)
    deid, seqs, sha = stage_section(
        build,
        None if deid is None else (deid, tuple(sequences or SEQUENCES), recipe_sha256),
        rec_path,
        default="lifs",
        pick=lambda r: (
            r.section("deid", DeidConfig),
            recipe_sequences(r),
            r.sha256,
        ),
    )
    key = load_deid_key(config=deid, key_file=key_file, demo_key=demo_key)
    layout = _scan(root_path)
    sids = pseudonyms(layout.cases, key, deid.subject_id_length)
    jobs = plan_cases(layout, sids, root_path, build, seqs, compress_level, vendors)
    results = map_items(
        import_case, jobs, workers=workers, executor=executor, description="import release"
    )
    got = collect(results, seqs)
    return _write(build, root_path, layout, got, seqs, sha)


def _scan(root_path: Path) -> ReleaseLayout:
    """The release's case folders (an error when there is none)."""
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
    return layout


def plan_cases(
    layout: ReleaseLayout,
    sids: Sequence[str],
    root_path: Path,
    build: Path,
    sequences: tuple[str, ...],
    compress_level: int,
    vendors: dict[str, VendorInfo] | None,
) -> list[CaseJob]:
    """One job per case (subject ids ``sids``, in case order); a vendor folder code not in
    ``vendors`` or :data:`VENDOR_FOLDERS` is named after its first letter."""
    vendor_map = {**VENDOR_FOLDERS, **(vendors or {})}
    return [
        CaseJob(
            case=case,
            subject_id=sid,
            root=str(root_path),
            build=str(build.resolve()),
            sequences=sequences,
            compress_level=compress_level,
            info=vendor_map.get(case.vendor_code.upper())
            or VendorInfo(f"Vendor {case.vendor_code[0].upper()}", case.vendor_code, None),
        )
        for case, sid in zip(layout.cases, sids, strict=True)
    ]


def _write(
    build: Path,
    root_path: Path,
    layout: ReleaseLayout,
    got: Collected,
    sequences: tuple[str, ...],
    sha: str | None,
) -> ReleaseImportSummary:
    """``subjects.parquet``, the private tables, the ledger (with the files placed in no
    case) and the report; returns the summary."""
    rows = sorted(got.subjects, key=lambda r: r["subject_id"])
    write_table(
        build,
        SUBJECTS,
        pa.Table.from_pylist(rows, schema=subjects_schema(sequences, release=True)),
    )
    write_parquet_atomic(
        build / PSEUDONYMS,
        pa.Table.from_pylist(sorted(got.private, key=lambda r: r["subject_id"])),
    )
    write_json_atomic(build / RAW_ROOT, {"raw_root": str(root_path)})
    start_build(build, "lifs")
    ledger = got.ledger + [
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
        provenance_info=provenance(stage=STAGE, recipe_sha256=sha),
    )
    summary = summarise(rows, ledger, sequences, build, got.squeezed)
    write_text_atomic(build / IMPORT_RELEASE_MD, render_report(summary, rows))
    return summary
