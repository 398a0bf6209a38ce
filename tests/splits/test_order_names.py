"""Slide pseudonyms are ordered by their original ids: the split of a slide does not depend on
the de-identification key that named it."""

from __future__ import annotations

import pyarrow as pa

from hepatokit.pseudonyms import slide_pseudonym
from hepatokit.splits import plan_splits


def _table(groups: list[str], labels: list[str]) -> pa.Table:
    return pa.table({"slide_id": groups, "class": labels})


def test_assignment_is_the_same_under_any_key() -> None:
    originals = [f"S{i:03d}-{(i * 7919) % 1000:03d}" for i in range(120)]
    labels = [("TUM", "FIB", "NOR")[i % 3] for i in range(120)]
    kwargs = {"group": "slide_id", "stratify": "class", "ratios": "7:2:1", "seed": 3}
    truth = plan_splits(_table(originals, labels), **kwargs).assignment
    for key in (b"key-one", b"another key entirely"):
        pseudo = [slide_pseudonym(o, key) for o in originals]
        names = dict(zip(pseudo, originals, strict=True))
        keyed = plan_splits(_table(pseudo, labels), order_names=names, **kwargs).assignment
        assert {names[p]: s for p, s in keyed.items()} == truth
        # without the originals, the order (and so the assignment) follows the key
        unordered = plan_splits(_table(pseudo, labels), **kwargs).assignment
        assert {names[p]: s for p, s in unordered.items()} != truth
