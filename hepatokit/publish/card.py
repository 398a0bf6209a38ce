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

from hepatokit.errors import DataFormatError, RecipeError
from hepatokit.publish.sections import CardSection, PublishSection
from hepatokit.recipe import Recipe

__all__ = [
    "GATED_FIELD_TYPES",
    "PLACEHOLDER_PATTERN",
    "card_template",
    "check_no_placeholders",
    "check_publishable",
    "front_matter",
    "markdown_table",
    "render_card",
    "render_template",
    "size_category",
]

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")

#: text that marks an unfilled value; none of it may reach a published card
PLACEHOLDER_PATTERN = re.compile(
    r"<(?:org|user|username|your[-_ a-z]*|name|repo|repo[-_]id|author|year|url)>"
    r"|\{\{|\b(?:TODO|TBD|FIXME|XXX)\b|lorem ipsum|\(no citation given\)"
    r"|\b(?:your|my)[-_](?:org|name|lab)\b",
    re.IGNORECASE,
)


#: the field types of a gated Hub repo's access form (besides ``{type: select, options}``)
GATED_FIELD_TYPES = ("text", "checkbox", "date_picker", "country", "ip_location")


def check_no_placeholders(text: str, *, source: str | Path, what: str = "card") -> None:
    """Raise :class:`DataFormatError` if ``text`` holds a placeholder (``<org>``, ``TODO``,
    an unfilled ``{{ }}``…), naming the line."""
    for number, line in enumerate(text.splitlines(), start=1):
        match = PLACEHOLDER_PATTERN.search(line)
        if match:
            raise DataFormatError(
                f"the {what} holds the placeholder {match.group(0)!r} (line {number}: "
                f"{line.strip()[:80]!r})",
                path=source,
                hint="fill it in the recipe's card section (creators, homepage, citation, "
                "publish.repo_id or `publish build --repo ORG/NAME`)",
            )


def check_publishable(recipe: Recipe, card: CardSection) -> None:
    """The card fields a published card needs: ``creators``, ``homepage``, ``citation``
    (none a placeholder), and for a clinical recipe (``kind: mri``) the Hub gate
    (``extra_gated_prompt`` + ``extra_gated_fields``).

    Raises
    ------
    RecipeError
        A field is missing or holds a placeholder; the message names the recipe and key.
    """
    missing = [
        key
        for key, value in (
            ("creators", card.creators),
            ("homepage", card.homepage),
            ("citation", card.citation.strip()),
        )
        if not value
    ]
    if recipe.kind == "mri":
        missing += [k for k in ("extra_gated_prompt", "extra_gated_fields") if not getattr(card, k)]
    if missing:
        raise RecipeError(
            "the card section lacks " + ", ".join(f"card.{k}" for k in missing),
            path=recipe.source,
            hint="a published card names its creators, homepage and citation"
            + (" and gates access to clinical data" if recipe.kind == "mri" else "")
            + " (see recipes/lifs.yaml)",
        )
    for name, kind in card.extra_gated_fields.items():
        options = kind.get("options") if isinstance(kind, dict) else None
        if isinstance(kind, dict) and kind.get("type") == "select" and options:
            continue
        if kind not in GATED_FIELD_TYPES:
            raise RecipeError(
                f"card.extra_gated_fields.{name}: {kind!r} is not a field type of the Hub",
                path=recipe.source,
                hint=f"one of {', '.join(GATED_FIELD_TYPES)}, or {{type: select, options: [...]}}",
            )
    values = {
        "creators": "\n".join(card.creators),
        "homepage": card.homepage or "",
        "citation": card.citation,
        "extra_gated_prompt": card.extra_gated_prompt,
    }
    for key, value in values.items():
        if PLACEHOLDER_PATTERN.search(value):
            raise RecipeError(
                f"card.{key} holds a placeholder ({PLACEHOLDER_PATTERN.search(value)!r})",
                path=recipe.source,
                hint="replace it with the real value before publishing",
            )


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
    card: CardSection | None = None,
) -> str:
    """The card's YAML (without the ``---`` fences): what ``DatasetCard`` and the Hub parse.

    ``infos`` maps config → ``datasets.DatasetInfo`` (features, splits with
    ``num_bytes``/``num_examples``, download and dataset sizes). A config in ``subsets``
    (config → the config whose shards it reads) gets that config's ``data_files`` and the
    parquet builder's ``columns`` (its features' names): ``load_dataset`` reads only those.
    ``card`` adds the Hub gate (``extra_gated_prompt`` / ``extra_gated_fields``).
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
    if card is not None and card.extra_gated_prompt:  # the Hub's gate: accept, then access
        setattr(data, "extra_gated_prompt", card.extra_gated_prompt.strip())  # noqa: B010
        setattr(data, "extra_gated_fields", dict(card.extra_gated_fields))  # noqa: B010
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
        "citation": card.citation.strip(),
        "creators": ", ".join(card.creators),
        "date_published": card.date_published or "not stated",
    }
    try:
        template = card_template(recipe.name)
    except DataFormatError:  # a custom recipe: the template of its kind
        template = card_template("lifs" if recipe.kind == "mri" else "hepatobench")
    body = render_template(template, {**common, **values}, source=recipe.name)
    text = f"---\n{front.strip()}\n---\n\n{body.strip()}\n"
    check_no_placeholders(text, source=recipe.source)
    return text
