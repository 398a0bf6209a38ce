"""``publish build``: a curated BUILD folder → a complete Hugging Face dataset folder.

HFDIR gets ``data/<config>/<split>-NNNNN-of-NNNNN.parquet`` (files embedded, nothing points
to a local path; a config whose columns are all in another config's reads that config's
shards, so every file is stored once), ``README.md`` (YAML front matter + card),
``images/*.png``, ``dataset_meta.json``, ``croissant.json`` and ``checksums.sha256``. Same
BUILD + recipe → byte-identical folder. Nothing is read from ``BUILD/private`` except the
raw root record (HepatoBench patch location); the withheld test truth is written there.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from hepatokit.atomic import remove_stale_temps, write_text_atomic
from hepatokit.buildlock import LOCK_NAME, build_lock
from hepatokit.contracts import read_kind
from hepatokit.contracts.common import CARD_NOTES, PHI_AUDIT_JSON, PRIVATE, TEST_TRUTH
from hepatokit.errors import BuildStateError, PHIError
from hepatokit.parallel import default_workers, make_executor
from hepatokit.publish.card import check_publishable
from hepatokit.publish.checksums import write_checksums
from hepatokit.publish.croissant import check_croissant
from hepatokit.publish.docs import prepare_docs, write_docs
from hepatokit.publish.hepatobench import collect_hepatobench
from hepatokit.publish.histology_audit import audit_histology_phi
from hepatokit.publish.lifs import collect_lifs
from hepatokit.publish.plan import DatasetPlan
from hepatokit.publish.sections import PublishSection, card_section, publish_section
from hepatokit.publish.shards import (
    ShardResult,
    ShardTask,
    plan_split,
    remove_stale_shards,
    warm_up,
    write_shards,
)
from hepatokit.publish.stats import curation_funnel
from hepatokit.recipe import Recipe, read_recipe

__all__ = ["PublishResult", "check_phi_audit", "publish_build"]

log = logging.getLogger("hepatokit.publish.build")
MB = 1024 * 1024


@dataclass(frozen=True)
class PublishResult:
    """What ``publish build`` wrote: counts per config and split, the files, the truth file."""

    out: Path
    name: str
    counts: dict[str, dict[str, int]]
    files: list[str] = field(default_factory=list)
    truth_path: Path | None = None
    croissant_warnings: list[str] = field(default_factory=list)


def _default_recipe(build: Path) -> str:
    return read_kind(build)


def _check_folders(build: Path, out: Path) -> None:
    if not build.is_dir():
        raise BuildStateError("build folder not found", path=build)
    b, o = build.resolve(), out.resolve()
    if o == b or b / PRIVATE in (o, *o.parents):
        raise BuildStateError(
            "the output folder must not be the build folder or inside BUILD/private",
            path=out,
            hint="give a separate folder, e.g. --out hf/lifs",
        )


def _write_truth(build: Path, plan: DatasetPlan) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(plan.truth_header), lineterminator="\n")
    writer.writeheader()
    writer.writerows(plan.truth)
    return write_text_atomic(build / TEST_TRUTH, buf.getvalue())


def check_phi_audit(build: Path, *, allow_phi_risk: str | None = None) -> dict[str, object] | None:
    """The build's PHI audit record (``reports/phi_audit.json``); a failed audit stops the
    publication unless ``allow_phi_risk`` gives a reason, which is then recorded in the card's
    private notes (``BUILD/private/card_notes.md``, never published). None when the build has
    no audit record."""
    record_path = build / PHI_AUDIT_JSON
    if not record_path.is_file():
        log.warning("%s: no PHI audit record; run `hepatokit audit phi` first", build)
        return None
    record = json.loads(record_path.read_text(encoding="utf-8"))
    if record.get("ok"):
        return dict(record)
    hits = record.get("hits") or []
    files = sorted({str(h.get("file")) for h in hits})
    if allow_phi_risk is None or not allow_phi_risk.strip():
        raise PHIError(
            f"the build's PHI audit failed ({len(hits)} hit(s) in {', '.join(files[:5])}"
            f"{' …' if len(files) > 5 else ''}); not publishing",
            path=record_path,
            hint="remove the identifying values and re-run the audit (see "
            "reports/phi_audit.md), or publish anyway with --allow-phi-risk REASON",
        )
    notes = build / CARD_NOTES
    old = notes.read_text(encoding="utf-8") if notes.is_file() else "# Private card notes\n"
    entry = (
        f"\n## Published although the PHI audit failed\n\n- reason: {allow_phi_risk.strip()}\n"
        f"- hits: {len(hits)} in {len(files)} file(s): {', '.join(files)}\n"
    )
    if entry not in old:
        write_text_atomic(notes, old + entry)
    log.warning("publishing despite a failed PHI audit: %s", allow_phi_risk.strip())
    return dict(record)


def _audit_published_histology(build: Path, out: Path, workers: int | None) -> None:
    """Every published byte of a histology dataset checked for the build's slide ids, file
    names and image metadata; a hit is a :class:`PHIError` (nothing may be pushed)."""
    audit = audit_histology_phi(build=build, published=out, workers=workers)
    log.info("%s", audit)
    if not audit.ok:
        first = audit.hits[0]
        raise PHIError(
            f"{len(audit.hits)} identifying value(s) found in the published files; first: "
            f"{first.tag} {first.value} in {first.file}",
            path=out,
            hint=f"see {build}/reports/published/phi_audit.md; do not push {out}",
        )


def publish_build(
    *,
    build: str | Path,
    out: str | Path,
    recipe: str | Path | None = None,
    withhold_test_labels: bool = False,
    raw_root: str | Path | None = None,
    verify_md5: bool = False,
    workers: int | None = None,
    repo_id: str | None = None,
    allow_phi_risk: str | None = None,
) -> PublishResult:
    """Package a curated build as a Hugging Face dataset folder.

    Parameters
    ----------
    build
        The build folder (LiFS: ``subjects.parquet`` + volumes; HepatoBench:
        ``curated.parquet`` + patches), with ``splits.parquet`` and ``manifest/``.
    out
        The dataset folder to write (created; earlier shards replaced).
    recipe
        Recipe name or path (default: ``BUILD/recipe.yaml``, else by the build's content).
    withhold_test_labels
        Publish the test splits without labels; write the truth to
        ``BUILD/private/test_truth.csv`` for the evaluator.
    raw_root
        HepatoBench: where the patches were ingested from (default: the build's record).
    verify_md5
        HepatoBench: check every patch's MD5 against the curated table while embedding it
        (the size is always checked); costs a hash of every byte.
    workers
        Processes writing shards (default: CPU count; 1 = inline).
    repo_id
        The Hub repo (``ORG/NAME``) the card's snippets and Croissant ``url`` name (default:
        the recipe's ``publish.repo_id``; without one the snippets load the folder).
    allow_phi_risk
        Publish although the build's PHI audit (``reports/phi_audit.json``) failed; the
        reason is recorded in ``BUILD/private/card_notes.md``.

    Raises
    ------
    PHIError
        The build's PHI audit failed and no ``allow_phi_risk`` reason was given.
    BuildStateError, DataFormatError, ManifestError
        A missing or stale input table, a missing curated file, a broken manifest.
    RecipeError
        The card section lacks creators, homepage or citation (or, clinical data, the Hub
        gate), or one of them is a placeholder.
    BuildLockedError
        Another run is writing the build or the dataset folder.
    """
    build, out = Path(build), Path(out)
    _check_folders(build, out)
    # the build's lock too: publish reads the build and writes into it (its audit of the
    # published files in reports/published/, private/), so no build may rewrite it
    # meanwhile; and taking it removes the temporary files a killed publish left there
    with build_lock(build):
        check_phi_audit(build, allow_phi_risk=allow_phi_risk)
        rec = read_recipe(build, recipe, default=_default_recipe(build), stage_kind=False)
        section = publish_section(rec)
        check_publishable(rec, card_section(rec))  # validate the card section before any work
        if repo_id is not None and (repo_id.count("/") != 1 or not all(repo_id.split("/"))):
            raise BuildStateError(f"repo id {repo_id!r} is not ORG/NAME", hint="e.g. my-lab/lifs")
        with build_lock(out):  # one writer per dataset folder (created here, after the checks)
            stale = remove_stale_temps(out)
            if stale:
                log.warning("removed %d temporary file(s) of a killed run from %s", len(stale), out)
            return _publish(
                build, out, rec, section, withhold_test_labels, raw_root, verify_md5, workers,
                repo_id,
            )  # fmt: skip


def _publish(
    build: Path,
    out: Path,
    rec: Recipe,
    section: PublishSection,
    withhold_test_labels: bool,
    raw_root: str | Path | None,
    verify_md5: bool,
    workers: int | None,
    repo_id: str | None,
) -> PublishResult:
    """:func:`publish_build` once the recipe is checked and the dataset folder locked."""
    with make_executor(workers=workers) as pool:
        if pool is not None:  # the workers start (and import pyarrow) while the plan is made
            for _ in range(default_workers() if workers is None else workers):
                pool.submit(warm_up)
        funnel = curation_funnel(build)
        if rec.kind == "mri":
            plan = collect_lifs(build, rec, section, withhold_test_labels=withhold_test_labels)
        else:
            plan = collect_hepatobench(
                build,
                rec,
                section,
                withhold_test_labels=withhold_test_labels,
                raw_root=raw_root,
                verify_md5=verify_md5,
            )
        out.mkdir(parents=True, exist_ok=True)
        split_order = _split_order(plan, build)
        tasks, where = _shard_tasks(plan, split_order, out, section)
        with ThreadPoolExecutor(max_workers=1) as background:  # shards there, docs here
            writing = background.submit(
                write_shards, tasks, workers=1 if pool is None else None, executor=pool
            )
            prep = prepare_docs(out, rec, plan, split_order, repo_id)
            shard_results = writing.result()
    remove_stale_shards(out / "data", [r.path for r in shard_results])
    results = _by_config(plan, where, shard_results)
    known = {Path(r.path).relative_to(out).as_posix(): r.sha256 for r in shard_results}
    truth_path = _write_truth(build, plan) if withhold_test_labels else None
    write_docs(out, rec, plan, results, split_order, funnel, prep)
    write_checksums(out, known)
    if rec.kind == "patho":
        _audit_published_histology(build, out, workers)
    warnings = check_croissant(out / "croissant.json", known=known)
    counts = {
        cfg: {s: sum(r.num_rows for r in shards) for s, shards in per_split.items()}
        for cfg, per_split in results.items()
    }
    log.info("published %s: %s", rec.name, counts[next(iter(results))])
    return PublishResult(
        out=out,
        name=rec.name,
        counts=counts,
        files=sorted(
            p.relative_to(out).as_posix()
            for p in out.rglob("*")
            if p.is_file() and p.name != LOCK_NAME
        ),
        truth_path=truth_path,
        croissant_warnings=warnings,
    )


def _split_order(plan: DatasetPlan, build: Path) -> dict[str, list[str]]:
    """config → its non-empty splits, in the plan's order.

    Raises
    ------
    BuildStateError
        No config has a row.
    """
    split_order = {
        cfg: [s for s, rows in plan.configs[plan.shard_config(cfg)].items() if rows]
        for cfg in plan.features
    }
    if not any(split_order.values()):
        raise BuildStateError(
            "nothing to publish: the curated table has no rows",
            path=build,
            hint="check the curation stages' reports (everything excluded?)",
        )
    return split_order


def _shard_tasks(
    plan: DatasetPlan, split_order: dict[str, list[str]], out: Path, section: PublishSection
) -> tuple[list[ShardTask], list[tuple[str, str]]]:
    """The shards of every config with shards of its own, and the (config, split) of each."""
    tasks: list[ShardTask] = []
    where: list[tuple[str, str]] = []
    for cfg, per_split in plan.configs.items():
        for split in split_order[cfg]:
            for task in plan_split(
                per_split[split],
                folder=out / "data" / cfg,
                split=split,
                schema=plan.features[cfg].arrow_schema,
                embedded_columns=plan.embedded[cfg],
                max_shard_bytes=int(section.max_shard_mb * MB),
                row_group_bytes=int(section.row_group_mb * MB),
                row_group_max_rows=section.row_group_max_rows,
            ):
                tasks.append(task)
                where.append((cfg, split))
    return tasks, where


def _by_config(
    plan: DatasetPlan, where: Sequence[tuple[str, str]], shard_results: Sequence[ShardResult]
) -> dict[str, dict[str, list[ShardResult]]]:
    """config → split → its written shards (a subset config lists its owner's)."""
    written: dict[str, dict[str, list[ShardResult]]] = defaultdict(lambda: defaultdict(list))
    for (cfg, split), res in zip(where, shard_results, strict=True):
        written[cfg][split].append(res)
    return {cfg: written[plan.shard_config(cfg)] for cfg in plan.features}
