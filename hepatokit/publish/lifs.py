"""LiFS: the curated ``subjects.parquet`` + volumes → rows of the published configs.

One row per subject; per sequence a NIfTI cell with the curated ``.nii.gz`` bytes (embedded
as they are, so a decoded volume equals the curated one, array and affine) and the curated
sidecar as sorted JSON; ``sequences`` lists every sequence present for the subject (in all
configs). One config per track (recipe ``publish.configs``); a config whose sequences are
all in another config's (``noncontrast`` ⊂ ``contrast``) reads that config's shards.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from hepatokit.contracts import check_file
from hepatokit.contracts.lifs import REGISTRATION, SEQUENCES, SUBJECTS
from hepatokit.errors import BuildStateError, DataFormatError
from hepatokit.publish.cells import EmbeddedFile
from hepatokit.publish.features import lifs_features, meta_column
from hepatokit.publish.lifs_registered import add_registered_config, registration_rows
from hepatokit.publish.plan import DatasetPlan, is_test_split
from hepatokit.publish.sections import PublishSection
from hepatokit.publish.splits_table import read_split_assignment
from hepatokit.recipe import Recipe

__all__ = ["LIFS_SEQUENCES", "collect_lifs"]

log = logging.getLogger("hepatokit.publish.lifs")

#: the contract's default sequences (a recipe's ``sequences:`` wins)
LIFS_SEQUENCES = SEQUENCES
_LABELS = ("stage", "cirrhosis", "significant_fibrosis")


def _sidecar_meta(volume: Path) -> str | None:
    """The curated sidecar of ``volume`` (``.json`` + ``.bval``/``.bvec``) as sorted JSON."""
    stem = volume.name.removesuffix(".nii.gz").removesuffix(".nii")
    meta: dict[str, Any] = {}
    sidecar = volume.with_name(stem + ".json")
    if sidecar.is_file():
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"unreadable sidecar: {exc}", path=sidecar) from exc
        if not isinstance(meta, dict):
            raise DataFormatError("sidecar is not a JSON object", path=sidecar)
    for ext, key in ((".bval", "bvals"), (".bvec", "bvecs")):
        extra = volume.with_name(stem + ext)
        if extra.is_file():
            values = [[float(v) for v in line.split()] for line in extra.read_text().splitlines()]
            values = [v for v in values if v]
            meta[key] = values[0] if key == "bvals" and len(values) == 1 else values
    return json.dumps(meta, sort_keys=True, ensure_ascii=False) if meta else None


def _label_index(value: Any, names: Sequence[str], *, what: str, sid: str) -> int | None:
    if value is None:
        return None
    if what == "stage":
        if value not in names:
            raise DataFormatError(
                f"subject {sid}: stage {value!r} is not one of {', '.join(names)}",
                path=SUBJECTS,
            )
        return list(names).index(value)
    if int(value) not in (0, 1):
        raise DataFormatError(f"subject {sid}: {what}={value!r}, expected 0/1 or null")
    return int(value)


def _subset_configs(
    configs: Mapping[str, Sequence[str]], mask_configs: Sequence[str]
) -> dict[str, str]:
    """Configs whose columns are all in another config's: config → the config whose shards it
    reads. The configs with the most columns keep shards of their own (the first of equals,
    in recipe order); every other config reads the first of those that has its sequences
    (and the mask, if it has the mask)."""

    def width(cfg: str) -> int:
        return len(configs[cfg]) + (cfg in mask_configs)

    owners: list[str] = []
    subsets: dict[str, str] = {}
    for cfg in sorted(configs, key=width, reverse=True):  # stable: recipe order among equals
        owner = next(
            (
                o
                for o in owners
                if set(configs[cfg]) <= set(configs[o])
                and (cfg not in mask_configs or o in mask_configs)
            ),
            None,
        )
        if owner is None:
            owners.append(cfg)
        else:
            subsets[cfg] = owner
    return subsets


def _registrations(build: Path) -> tuple[dict[str, str], dict[tuple[str, str], list[float]]]:
    """subject → reference, (subject, sequence) → matrix, from ``mri register``'s table."""
    path = build / REGISTRATION
    if not path.is_file():
        raise BuildStateError(
            "publish.registered is set but the build has no registration table",
            path=path,
            hint="run `hepatokit mri register BUILD` first, or set publish.registered: false",
        )
    refs: dict[str, str] = {}
    matrices: dict[tuple[str, str], list[float]] = {}
    for r in registration_rows(build, ["subject_id", "sequence", "reference", "matrix_ras"]):
        if r["reference"] is None or r["matrix_ras"] is None:
            continue
        refs[r["subject_id"]] = r["reference"]
        matrices[(r["subject_id"], r["sequence"])] = [float(v) for v in r["matrix_ras"]]
    return refs, matrices


def _registration_meta(build: Path) -> dict[str, Any]:
    table = registration_rows(build, ["transform", "reference", "status"])
    pairs = [r for r in table if r["status"] not in ("reference", "no_reference")]
    return {
        "transform": sorted({str(r["transform"]) for r in table}),
        "references": dict(Counter(r["reference"] for r in table if r["status"] == "reference")),
        "pairs": len(pairs),
        "ok": sum(r["status"] == "ok" for r in pairs),
        "flagged": sum(r["status"] != "ok" for r in pairs),
    }


@dataclass(frozen=True)
class _Context:
    """What every subject's row is made with."""

    build: Path
    sequences: list[str]
    stages: Sequence[str]
    section: PublishSection
    withhold_test_labels: bool
    domain_column: str
    refs: dict[str, str]
    matrices: dict[tuple[str, str], list[float]]


@dataclass
class _Rows:
    """The rows collected so far (one entry per subject with a split)."""

    base: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    truth: list[dict[str, Any]] = field(default_factory=list)
    unscorable: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def collect_lifs(
    build: Path, recipe: Recipe, section: PublishSection, *, withhold_test_labels: bool
) -> DatasetPlan:
    """Read ``BUILD/subjects.parquet`` + ``splits.parquet`` into a :class:`DatasetPlan`.

    Raises
    ------
    BuildStateError
        ``subjects.parquet`` or ``splits.parquet`` missing, or they disagree.
    DataFormatError
        A listed volume is missing, a label is out of range, a sidecar is unreadable.
    """
    subjects = _read_subjects(build)
    sequences, configs_def = _configs(recipe, section)
    split_of = read_split_assignment(
        build, [s["subject_id"] for s in subjects], allowed=section.splits
    )
    refs, matrices = _registrations(build) if section.registered else ({}, {})
    ctx = _Context(
        build=build,
        sequences=sequences,
        stages=recipe.classes or ("S1", "S2", "S3", "S4"),
        section=section,
        withhold_test_labels=withhold_test_labels,
        domain_column=section.domain_column or "vendor",
        refs=refs,
        matrices=matrices,
    )
    rows = _Rows()
    for subj in sorted(subjects, key=lambda s: s["subject_id"]):
        if subj["subject_id"] in split_of:  # else left out by the split stage (unlabelled)
            _add_subject(rows, subj, split_of[subj["subject_id"]], ctx)
    if rows.unscorable:
        log.warning(
            "%d test subject(s) have no label: left out of test_truth.csv (e.g. %s)",
            len(rows.unscorable),
            rows.unscorable[0],
        )
    if rows.problems:
        raise DataFormatError(
            f"{len(rows.problems)} curated file(s) missing; first: {rows.problems[0]}",
            path=build,
            hint="re-run the stage that wrote the volumes (mri convert / import-release)",
        )
    subsets = _subset_configs(configs_def, section.mask_configs)
    configs, features, embedded = _config_rows(configs_def, subsets, rows.base, ctx)
    meta = _meta(configs_def, ctx)
    if section.registered_volumes:  # + config `registered`: volumes on the reference grid
        add_registered_config((configs, features, embedded), meta, rows.base, build=build,
                              sequences=sequences, stages=ctx.stages, section=section)  # fmt: skip
    return DatasetPlan(
        name=recipe.name,
        configs=configs,
        features=features,
        embedded=embedded,
        records=rows.records,
        truth_header=("Case", "split", "domain", "stage", "cirrhosis", "significant_fibrosis"),
        truth=rows.truth,
        meta=meta,
        subsets=subsets,
    )


def _read_subjects(build: Path) -> list[dict[str, Any]]:
    path = build / SUBJECTS
    if not path.is_file():
        raise BuildStateError(
            f"no {SUBJECTS} in the build",
            path=build,
            hint="run `hepatokit mri labels` (or `mri import-release`) before publishing",
        )
    return list(pq.read_table(check_file(build, SUBJECTS)).to_pylist())


def _configs(recipe: Recipe, section: PublishSection) -> tuple[list[str], dict[str, list[str]]]:
    """The recipe's sequences and the published configs (config → its sequences)."""
    sequences = list(recipe.data.get("sequences") or LIFS_SEQUENCES)
    given = section.configs or {"contrast": sequences}
    configs_def = {cfg: list(seqs) for cfg, seqs in given.items()}
    for cfg, seqs in configs_def.items():
        unknown = sorted(set(seqs) - set(sequences))
        if unknown:
            raise DataFormatError(
                f"publish.configs.{cfg}: unknown sequence(s) {', '.join(unknown)}",
                path=recipe.source,
            )
    return sequences, configs_def


def _subject_files(subj: dict[str, Any], ctx: _Context, problems: list[str]) -> dict[str, Any]:
    """The embedded volumes, their sidecars and the mask of one subject; a listed file that
    is missing is added to ``problems``."""
    sid = subj["subject_id"]
    files: dict[str, Any] = {}
    for seq in ctx.sequences:
        rel = subj.get(f"volume_{seq}")
        if rel is None:
            files[seq] = None
            files[meta_column(seq)] = None
            continue
        vol = ctx.build / rel
        if not vol.is_file():
            problems.append(f"{rel}: listed in subjects.parquet but missing")
            continue
        files[seq] = EmbeddedFile(str(vol), f"sub-{sid}_{seq}.nii.gz")
        files[meta_column(seq)] = _sidecar_meta(vol)
    mask_rel = subj.get("mask_GED4")
    files["mask_GED4"] = None
    if mask_rel is not None:
        if (ctx.build / mask_rel).is_file():
            files["mask_GED4"] = EmbeddedFile(
                str(ctx.build / mask_rel), f"sub-{sid}_mask_GED4.nii.gz"
            )
        else:
            problems.append(f"{mask_rel}: listed in subjects.parquet but missing")
    return files


def _subject_labels(subj: dict[str, Any], stages: Sequence[str]) -> dict[str, int | None]:
    """The subject's class indexes (stage, cirrhosis, significant fibrosis)."""
    sid = subj["subject_id"]
    return {
        "stage": _label_index(subj.get("stage"), stages, what="stage", sid=sid),
        "cirrhosis": _label_index(subj.get("cirrhosis"), (), what="cirrhosis", sid=sid),
        "significant_fibrosis": _label_index(
            subj.get("significant_fibrosis"), (), what="significant_fibrosis", sid=sid
        ),
    }


def _add_subject(rows: _Rows, subj: dict[str, Any], split: str, ctx: _Context) -> None:
    """One subject's row, summary record and (labels withheld) truth row."""
    sid = subj["subject_id"]
    labels = _subject_labels(subj, ctx.stages)
    files = _subject_files(subj, ctx, rows.problems)
    present = [s for s in ctx.sequences if files.get(s) is not None]
    if ctx.withhold_test_labels and is_test_split(split):
        if labels["cirrhosis"] is None:
            rows.unscorable.append(sid)  # no truth to give the evaluator
        else:
            ood = split in ctx.section.ood_splits
            rows.truth.append(
                {
                    "Case": sid,
                    "split": split,
                    "domain": "OOD" if ood else "ID",
                    "stage": subj.get("stage") or "",
                    "cirrhosis": labels["cirrhosis"],
                    "significant_fibrosis": labels["significant_fibrosis"],
                }
            )
        labels = dict.fromkeys(_LABELS)
    field_strength = subj.get("field_strength")
    scalars = {
        "subject_id": sid,
        "center": subj.get("center"),
        "vendor": subj.get("vendor"),
        "scanner": subj.get("scanner"),
        "field_strength": None if field_strength is None else float(field_strength),
        **labels,
    }
    if ctx.section.registered:
        scalars["registration_reference"] = ctx.refs.get(sid)
        for seq in ctx.sequences:
            files[f"transform_{seq}"] = (
                ctx.matrices.get((sid, seq)) if files.get(seq) is not None else None
            )
    rows.records.append(
        {
            "split": split,
            "domain": str(subj.get(ctx.domain_column)),
            "class": subj.get("stage") if labels["stage"] is not None else None,
            "sequences": present,
            "mask": files["mask_GED4"] is not None,
        }
    )
    rows.base.append((split, scalars, {**files, "_present": present}))


def _config_rows(
    configs_def: Mapping[str, Sequence[str]],
    subsets: Mapping[str, str],
    base_rows: Sequence[tuple[str, dict[str, Any], dict[str, Any]]],
    ctx: _Context,
) -> tuple[dict[str, dict[str, list[dict[str, Any]]]], dict[str, Any], dict[str, list[str]]]:
    """Rows per config with shards of its own and split; features of every config; the
    embedded columns of each config with shards."""
    section = ctx.section
    configs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    features: dict[str, Any] = {}
    embedded: dict[str, list[str]] = {}
    for cfg, seqs in configs_def.items():
        with_mask = cfg in section.mask_configs
        features[cfg] = lifs_features(
            seqs, with_mask=with_mask, stages=ctx.stages, registered=section.registered
        )
        if cfg in subsets:
            continue
        embedded[cfg] = [*seqs, *(["mask_GED4"] if with_mask else [])]
        per_split: dict[str, list[dict[str, Any]]] = {s: [] for s in section.splits or []}
        for split, scalars, files in base_rows:
            row = dict(scalars)
            row["sequences"] = files["_present"]
            for seq in seqs:
                row[seq] = files[seq]
                row[meta_column(seq)] = files[meta_column(seq)]
                if section.registered:
                    row[f"transform_{seq}"] = files[f"transform_{seq}"]
            if with_mask:
                row["mask_GED4"] = files["mask_GED4"]
            per_split.setdefault(split, []).append(row)
        configs[cfg] = per_split
    return configs, features, embedded


def _meta(configs_def: Mapping[str, Sequence[str]], ctx: _Context) -> dict[str, Any]:
    """``dataset_meta.json``'s dataset part."""
    section = ctx.section
    return {
        "sequences": ctx.sequences,
        "configs": {cfg: list(seqs) for cfg, seqs in configs_def.items()},
        "domain_column": ctx.domain_column,
        "ood_splits": list(section.ood_splits),
        "labels": {
            "stage": list(ctx.stages),
            "cirrhosis": ["S1-S3", "S4"],
            "significant_fibrosis": ["S1", "S2-S4"],
        },
        "loader_grid": {
            "spacing_mm": list(section.grid.spacing),
            "spatial_size": list(section.grid.spatial_size),
            "normalize": section.grid.normalize,
        },
        "labels_withheld": bool(ctx.withhold_test_labels),
        "registration": _registration_meta(ctx.build) if section.registered else None,
    }
