"""The dataset card: ``README.md`` = YAML front matter (configs, dataset_info, license, tags)
+ a body rendered from ``dataset_cards/<name>.md`` with computed statistics.

Templates hold ``{{ name }}`` placeholders; every placeholder must be known (a typo is an
error, not a silent blank). Rendering is deterministic: no dates, fixed orderings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from hepatokit.errors import DataFormatError
from hepatokit.publish.sections import CardSection, PublishSection
from hepatokit.recipe import Recipe

__all__ = [
    "card_template",
    "front_matter",
    "markdown_table",
    "render_card",
    "render_template",
    "size_category",
]

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def card_template(name: str) -> str:
    """The card template ``<name>.md``: the repo's ``dataset_cards/`` (development
    checkout) or the packaged copy under ``hepatokit/_data/dataset_cards``."""
    local = Path(__file__).resolve().parents[2] / "dataset_cards" / f"{name}.md"
    if local.is_file():
        return local.read_text(encoding="utf-8")
    packaged = resources.files("hepatokit").joinpath("_data", "dataset_cards", f"{name}.md")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    raise DataFormatError(
        f"no dataset card template for {name!r}",
        path=local,
        hint="add dataset_cards/<recipe name>.md (see dataset_cards/lifs.md)",
    )


def render_template(template: str, values: Mapping[str, str], *, source: str) -> str:
    """Replace every ``{{ name }}``; an unknown name raises :class:`DataFormatError`."""
    unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(template)} - set(values))
    if unknown:
        raise DataFormatError(
            f"unknown placeholder(s) {', '.join(unknown)}",
            path=source,
            hint=f"known: {', '.join(sorted(values))}",
        )
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket for ``n`` examples."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M" if n < 1_000_000 else "n>1M"


def front_matter(
    *,
    recipe: Recipe,
    section: PublishSection,
    infos: Mapping[str, Any],
    split_order: Mapping[str, Sequence[str]],
    total_examples: int,
    subsets: Mapping[str, str] | None = None,
) -> str:
    """The card's YAML (without the ``---`` fences): what ``DatasetCard`` and the Hub parse.

    ``infos`` maps config → ``datasets.DatasetInfo`` (features, splits with
    ``num_bytes``/``num_examples``, download and dataset sizes). A config in ``subsets``
    (config → the config whose shards it reads) gets that config's ``data_files`` and the
    parquet builder's ``columns`` (its features' names): ``load_dataset`` reads only those.
    """
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    subsets = subsets or {}
    configs = [
        {
            "config_name": cfg,
            "data_files": [
                {"split": split, "path": f"data/{subsets.get(cfg, cfg)}/{split}-*.parquet"}
                for split in split_order[cfg]
            ],
            **({"columns": list(infos[cfg].features)} if cfg in subsets else {}),
            **({"default": True} if i == 0 else {}),
        }
        for i, cfg in enumerate(infos)
    ]
    data = DatasetCardData(
        license=section.license or recipe.data.get("license"),
        pretty_name=str(recipe.data.get("pretty_name") or recipe.name),
        task_categories=list(section.task_categories),
        tags=list(section.tags),
        size_categories=[size_category(total_examples)],
        configs=configs,
    )
    DatasetInfosDict(dict(infos)).to_dataset_card_data(data)
    return data.to_yaml()


def _bullets(items: Sequence[str]) -> str:
    return "\n".join(f"- {item.strip()}" for item in items) if items else "- (none stated)"


def _funnel_table(funnel: Mapping[str, Any] | None) -> str:
    if funnel is None:
        return "_No curation manifest was found in the build._"
    rows: list[list[Any]] = [["inputs (all stages)", "", funnel["inputs"]]]
    for stage, reasons in funnel["excluded_by_stage"].items():
        rows += [[f"excluded at `{stage}`", f"`{reason}`", n] for reason, n in reasons.items()]
    rows.append(["**kept**", "", f"**{funnel['kept']}**"])
    kinds = ", ".join(f"{k}: {n}" for k, n in funnel["by_kind"].items())
    table = markdown_table(["step", "reason", "items"], rows)
    return f"{table}\n\nInputs by kind: {kinds}. Invariant: inputs = kept + excluded."


def _split_policy(recipe: Recipe, split_counts: Mapping[str, int]) -> str:
    policy = recipe.data.get("split") or {}
    counts = ", ".join(f"{s}: {n}" for s, n in split_counts.items())
    text = f"Seed: `{recipe.seed}`. Items per split: {counts}."
    if policy:
        dumped = yaml.safe_dump(policy, sort_keys=True, allow_unicode=True).strip()
        text += f"\n\nSplit policy from the recipe (`split` section):\n\n```yaml\n{dumped}\n```"
    return text


def render_card(
    *,
    recipe: Recipe,
    card: CardSection,
    section: PublishSection,
    front: str,
    values: Mapping[str, str],
    funnel: Mapping[str, Any] | None,
    split_counts: Mapping[str, int],
) -> str:
    """``README.md``: front matter + the recipe's template filled with ``values`` and the
    shared sections (summary, funnel, split policy, de-identification, uses, citation)."""
    common = {
        "pretty_name": str(recipe.data.get("pretty_name") or recipe.name),
        "summary": card.summary.strip(),
        "license": str(section.license or recipe.data.get("license") or "unspecified"),
        "homepage": card.homepage or "",
        "funnel_table": _funnel_table(funnel),
        "split_policy": _split_policy(recipe, split_counts),
        "deidentification": card.deidentification.strip(),
        "intended_use": _bullets(card.intended_use),
        "out_of_scope": _bullets(card.out_of_scope),
        "limitations": _bullets(card.limitations),
        "biases": _bullets(card.biases),
        "data_collection": card.data_collection.strip(),
        "preprocessing": _bullets(card.preprocessing),
        "annotation": _bullets(card.annotation),
        "maintenance": card.maintenance.strip(),
        "citation": card.citation.strip() or "(no citation given)",
    }
    try:
        template = card_template(recipe.name)
    except DataFormatError:  # a custom recipe: the template of its kind
        template = card_template("lifs" if recipe.kind == "mri" else "hepatobench")
    body = render_template(template, {**common, **values}, source=recipe.name)
    return f"---\n{front.strip()}\n---\n\n{body.strip()}\n"
