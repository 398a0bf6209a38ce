"""What a build publishes, independent of the dataset: :class:`DatasetPlan`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DatasetPlan", "is_test_split"]


@dataclass
class DatasetPlan:
    """What a build publishes: rows per config and split (ordered), their features, the
    summary records the card is computed from, and the withheld truth (if any).

    ``features`` lists every config (in the published order). A config in ``subsets`` has
    no rows and no shards of its own: it reads a subset of the columns of another config's
    shards (its features are a subset of that config's, with the same values), so the
    embedded files are stored once.
    """

    name: str
    configs: dict[str, dict[str, list[dict[str, Any]]]]  # configs with shards of their own
    features: dict[str, Any]  # config → datasets.Features (all configs)
    embedded: dict[str, list[str]]  # config with shards → columns holding embedded files
    records: list[dict[str, Any]]  # one per item: split, domain, class, sequences...
    truth_header: tuple[str, ...] = ()
    truth: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    subsets: dict[str, str] = field(default_factory=dict)  # config → config whose shards it reads

    def shard_config(self, config: str) -> str:
        """The config whose shards ``config`` reads (itself unless it is a subset)."""
        return self.subsets.get(config, config)


def is_test_split(split: str) -> bool:
    """``test``, ``test_id``, ``test_ood``: the splits whose labels can be withheld."""
    return split == "test" or split.startswith("test_")
