"""The ``split`` section of a recipe: which column is the group, the label, the domain, the ratios.

Example (``recipes/lifs.yaml``)::

    split:
      group: subject_id
      stratify: stage
      domain: vendor
      ood_domains: ["Vendor C"]
      ratios: {train: 360, validation: 60, test_id: 120}

Ratios are weights: counts (``360 : 60 : 120``) or fractions (``0.7 : 0.2 : 0.1``) mean the
same once normalised. They may also be written ``"7:2:1"`` (with ``splits`` naming the
splits) or as a list of numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

from hepatokit.errors import RecipeError
from hepatokit.recipe import Recipe

__all__ = ["DEFAULT_ID_SPLITS", "SplitPolicy", "normalise_ratios", "split_policy"]

#: split names used when ratios are given without names
DEFAULT_ID_SPLITS = {
    True: ("train", "validation", "test_id"),  # with an OOD part
    False: ("train", "validation", "test"),
}


@dataclass(frozen=True)
class SplitPolicy:
    """Recipe section ``split`` (see the module docstring).

    Attributes
    ----------
    group
        Column whose value is the unit of assignment (patient, slide): a group is never cut.
    stratify
        Label column balanced across splits at group level (the majority label of a group).
    domain
        Domain column (vendor, center); balanced inside the in-distribution part.
    ood_domains
        Domain values held out: every group with a row in one of them goes to ``ood_split``.
    ratios
        Weights of the in-distribution splits, ``{name: weight}`` (or ``"7:2:1"`` / list).
    splits
        Names of the in-distribution splits when ``ratios`` has no names.
    ood_split
        Name of the out-of-distribution test split.
    seed
        Assignment seed (default: the recipe's top-level ``seed``).
    id_column
        Row id column of the table (default ``subject_id`` for MRI, ``id`` for histology).
    table
        Curated table relative to the build (default ``subjects.parquet`` / ``curated.parquet``).
    binary_labels
        Binary label columns whose counts the split report shows (LiFS subtasks).
    predefined
        Column holding official splits (e.g. ``release_split`` of an imported release); when the
        table has it, it is used instead of assigning (``test`` → test_id / test_ood by domain).
    near_duplicate_radius
        pHash Hamming radius of the leakage audit (default: the ``dedup`` section's radius).
    items_per_group
        Expected typical number of items per group (e.g. patches per slide); the split report
        warns when the median group holds under half of it (a slide id read wrongly).
    """

    group: str
    stratify: str | None = None
    domain: str | None = None
    ood_domains: list[str] = field(default_factory=list)
    ratios: dict[str, float] | str | list[float] = field(default_factory=lambda: [7.0, 2.0, 1.0])
    splits: list[str] | None = None
    ood_split: str = "test_ood"
    seed: int | None = None
    id_column: str | None = None
    table: str | None = None
    binary_labels: list[str] = field(default_factory=list)
    predefined: str | None = None
    near_duplicate_radius: int | None = None
    items_per_group: int | None = None

    def __post_init__(self) -> None:
        ratios = normalise_ratios(self.ratios, names=self.splits, has_ood=bool(self.ood_domains))
        if self.ood_split in ratios:
            raise ValueError(f"ood_split {self.ood_split!r} is also an in-distribution split")
        if self.near_duplicate_radius is not None and not 0 <= self.near_duplicate_radius < 64:
            raise ValueError("near_duplicate_radius must be in 0..63")
        if self.items_per_group is not None and self.items_per_group < 1:
            raise ValueError("items_per_group must be at least 1")

    def weights(self) -> dict[str, Fraction]:
        """Normalised in-distribution ratios ``{split: fraction}`` (sum 1, recipe order)."""
        return normalise_ratios(self.ratios, names=self.splits, has_ood=bool(self.ood_domains))

    def split_names(self) -> list[str]:
        """All split names in report order (ID splits, then the OOD split if any)."""
        names = list(self.weights())
        return [*names, self.ood_split] if self.ood_domains else names


def _weight(value: object, where: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Fraction):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    try:
        w = Fraction(str(value)) if not isinstance(value, Fraction) else value
    except ValueError as exc:
        raise ValueError(f"{where}: expected a number, got {value!r}") from exc
    if w < 0:
        raise ValueError(f"{where}: ratios must not be negative, got {value!r}")
    return w


def normalise_ratios(
    ratios: Mapping[str, float] | Sequence[float] | str,
    *,
    names: Sequence[str] | None = None,
    has_ood: bool = False,
) -> dict[str, Fraction]:
    """Turn ``{name: weight}``, ``"7:2:1"`` or ``[7, 2, 1]`` into exact fractions summing to 1.

    Parameters
    ----------
    ratios
        Weights of the in-distribution splits (counts or fractions; only ratios matter).
    names
        Split names for unnamed ratios (default ``train/validation/test_id`` when ``has_ood``,
        else ``train/validation/test``; two unnamed ratios mean train and test).

    Raises
    ------
    ValueError
        Negative or non-numeric weights, all-zero weights, or names that do not match.
    """
    if isinstance(ratios, Mapping):
        pairs = [(str(k), _weight(v, f"ratios.{k}")) for k, v in ratios.items()]
    else:
        parts: Sequence[object] = ratios.split(":") if isinstance(ratios, str) else list(ratios)
        weights = [_weight(str(p).strip(), f"ratios[{i}]") for i, p in enumerate(parts)]
        if names is None:
            train, validation, test = DEFAULT_ID_SPLITS[has_ood]
            defaults = {1: (train,), 2: (train, test), 3: (train, validation, test)}
            if len(weights) not in defaults:
                raise ValueError(f"{len(weights)} ratios need `splits` naming them")
            names = defaults[len(weights)]
        if len(names) != len(weights):
            raise ValueError(f"{len(weights)} ratios but {len(names)} split names")
        pairs = list(zip([str(n) for n in names], weights, strict=True))
    if not pairs:
        raise ValueError("ratios: at least one split is needed")
    if len({n for n, _ in pairs}) != len(pairs):
        raise ValueError("ratios: split names must be unique")
    total = sum(w for _, w in pairs)
    if total <= 0:
        raise ValueError("ratios: at least one weight must be positive")
    return {n: w / total for n, w in pairs}


def split_policy(recipe: Recipe) -> SplitPolicy:
    """The recipe's ``split`` section as a :class:`SplitPolicy` (seed defaults to the recipe's).

    Raises
    ------
    RecipeError
        No ``split`` section, or a bad key/value in it (the message names file and key).
    """
    if not recipe.has("split"):
        raise RecipeError(
            "the recipe has no `split` section",
            path=recipe.source,
            hint="add `split: {group: ..., stratify: ..., ratios: {train: 7, validation: 2, "
            "test: 1}}`",
        )
    policy = recipe.section("split", SplitPolicy)
    if policy.seed is None:
        policy = _replace(policy, seed=recipe.seed)
    return policy


def _replace(policy: SplitPolicy, **changes: object) -> SplitPolicy:
    return replace(policy, **changes)  # type: ignore[arg-type]
