"""What a build publishes, independent of the dataset: :class:`DatasetPlan`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DatasetPlan", "is_test_split"]


@dataclass
class DatasetPlan:
    """What a build publishes: rows per config and split (ordered), their features, the
    summary records the card is computed from, and the withheld truth (if any)."""

    name: str
    configs: dict[str, dict[str, list[dict[str, Any]]]]
    features: dict[str, Any]  # config → datasets.Features
    embedded: dict[str, list[str]]  # config → columns holding embedded files
    records: list[dict[str, Any]]  # one per item: split, domain, class, sequences...
    truth_header: tuple[str, ...] = ()
    truth: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def is_test_split(split: str) -> bool:
    """``test``, ``test_id``, ``test_ood``: the splits whose labels can be withheld."""
    return split == "test" or split.startswith("test_")
