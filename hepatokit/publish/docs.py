"""The documents of a published folder: figures, ``dataset_meta.json``, ``README.md``,
``croissant.json`` (deterministic: no dates, fixed orderings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hepatokit._version import __version__
from hepatokit.atomic import write_json_atomic, write_text_atomic
from hepatokit.publish.card import front_matter, render_card
from hepatokit.publish.card_values import hepatobench_values, lifs_values
from hepatokit.publish.croissant import build_croissant
from hepatokit.publish.figures import grouped_bars_png
from hepatokit.publish.plan import DatasetPlan
from hepatokit.publish.sections import card_section, publish_section
from hepatokit.publish.shards import ShardResult
from hepatokit.publish.stats import class_counts, missing_sequence_rates
from hepatokit.recipe import Recipe

__all__ = ["dataset_infos", "prepare_docs", "write_docs"]


def dataset_infos(
    plan: DatasetPlan, results: dict[str, dict[str, list[ShardResult]]]
) -> dict[str, Any]:
    """config → ``datasets.DatasetInfo`` with per-split ``num_bytes`` (of the config's
    columns) / ``num_examples``; ``results`` lists, per config, the shards it reads."""
    from datasets.info import DatasetInfo
    from datasets.splits import SplitDict, SplitInfo

    infos = {}
    for cfg, per_split in results.items():
        columns = list(plan.features[cfg])
        splits = SplitDict()
        for split, shards in per_split.items():
            splits.add(
                SplitInfo(
                    name=split,
                    num_bytes=sum(s.num_bytes(columns) for s in shards),
                    num_examples=sum(s.num_rows for s in shards),
                )
            )
        all_shards = [s for shards in per_split.values() for s in shards]
        infos[cfg] = DatasetInfo(
            features=plan.features[cfg],
            splits=splits,
            download_size=sum(s.size for s in all_shards),  # a subset config reads whole files
            dataset_size=sum(s.num_bytes(columns) for s in all_shards),
            config_name=cfg,
        )
    return infos


def prepare_docs(
    out: Path,
    rec: Recipe,
    plan: DatasetPlan,
    split_order: dict[str, list[str]],
    repo_id: str | None = None,
) -> dict[str, Any]:
    """Statistics, figures (``images/*.png``) and the card's dataset-specific values: all
    that does not depend on the written shards (runs while the shards are written).

    ``repo_id`` (else the recipe's ``publish.repo_id``) is the Hub repo the usage snippets
    load; without one they load the folder itself (``./<name>``), never a placeholder."""
    section = publish_section(rec)
    repo_id = repo_id or section.repo_id
    first = next(iter(plan.configs))
    splits = split_order[first]
    classes = list(rec.classes)
    counts = class_counts(plan.records, splits, classes)
    per_split_class = {
        s: {c: sum(d.get(c, 0) for d in doms.values()) for c in [*classes, "unlabelled"]}
        for s, doms in counts.items()
    }
    split_counts = {s: sum(1 for r in plan.records if r["split"] == s) for s in splits}
    (out / "images").mkdir(parents=True, exist_ok=True)
    grouped_bars_png(
        out / "images" / "class_distribution.png",
        per_split_class,
        classes,
        title=f"{rec.name}: class distribution per split",
        ylabel="items",
    )
    repo = repo_id or f"./{rec.name}"
    missing = None
    if rec.kind == "mri":
        missing = missing_sequence_rates(plan.records, splits, plan.meta["sequences"])
        grouped_bars_png(
            out / "images" / "missing_sequences.png",
            {s: v for s, v in missing.items() if s != "all"},
            plan.meta["sequences"],
            title=f"{rec.name}: fraction of subjects missing each sequence",
            ylabel="fraction missing",
        )
        values = lifs_values(
            repo=repo, features=plan.features, counts=counts, missing=missing, meta=plan.meta
        )
    else:
        slides = {s: len({r["slide_id"] for r in plan.records if r["split"] == s}) for s in splits}
        values = hepatobench_values(
            repo=repo,
            features=plan.features,
            counts=counts,
            slides=slides,
            meta=plan.meta,
            classes=classes,
        )
    import mlcroissant  # noqa: F401  (slow first import, done while shards are written)

    return {
        "values": values,
        "counts": counts,
        "per_split_class": per_split_class,
        "split_counts": split_counts,
        "missing": missing,
        "repo_id": repo_id,
    }


def write_docs(
    out: Path,
    rec: Recipe,
    plan: DatasetPlan,
    results: dict[str, dict[str, list[ShardResult]]],
    split_order: dict[str, list[str]],
    funnel: dict[str, Any] | None,
    prep: dict[str, Any],
) -> None:
    """dataset_meta.json, README.md and croissant.json (need the shards' sizes and sums)."""
    section, card = publish_section(rec), card_section(rec)
    classes = list(rec.classes)
    missing = prep["missing"]
    infos = dataset_infos(plan, results)
    meta = {
        "name": rec.name,
        "pretty_name": rec.data.get("pretty_name") or rec.name,
        "kind": rec.kind,
        "license": section.license or rec.data.get("license"),
        "seed": rec.seed,
        "recipe_sha256": rec.sha256,
        "hepatokit_version": __version__,
        "repo_id": prep["repo_id"],
        "classes": classes,
        "splits": {
            cfg: {s: infos[cfg].splits[s].num_examples for s in split_order[cfg]} for cfg in infos
        },
        "class_counts": prep["per_split_class"],
        "counts_by_domain": prep["counts"],
        "curation_funnel": funnel,
        **({"missing_sequence_rates": missing} if missing is not None else {}),
        **plan.meta,
    }
    write_json_atomic(out / "dataset_meta.json", meta)
    front = front_matter(
        recipe=rec,
        section=section,
        infos=infos,
        split_order=split_order,
        total_examples=len(plan.records),
        subsets=plan.subsets,
        card=card,
    )
    text = render_card(
        recipe=rec,
        card=card,
        section=section,
        front=front,
        values=prep["values"],
        funnel=funnel,
        split_counts=prep["split_counts"],
    )
    write_text_atomic(out / "README.md", text)
    shards = {
        cfg: [
            (Path(r.path).relative_to(out).as_posix(), r.sha256, r.size)
            for split in split_order[cfg]
            for r in results[cfg][split]
        ]
        for cfg in plan.configs
    }
    doc = build_croissant(
        recipe=rec,
        card=card,
        section=section,
        features=plan.features,
        shards=shards,
        splits=split_order,
        subsets=plan.subsets,
        url=f"https://huggingface.co/datasets/{prep['repo_id']}" if prep["repo_id"] else None,
        missing=missing,
    )
    write_json_atomic(out / "croissant.json", doc)
