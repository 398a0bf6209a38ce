"""Grouped, stratified, in-distribution / out-of-distribution split assignment.

How a table is split (:func:`plan_splits`):

1. Rows are grouped by the group column (patient, slide); a group is the unit of assignment.
   Its label is the majority label of its rows, its domain the majority domain.
2. Groups with any row in an OOD domain go to the OOD split (``test_ood``), whole.
3. The other groups are stratified by (label, domain). :func:`controlled_round` turns the
   ratios into integer quotas per stratum (each within one group of its exact target, label
   totals and split totals too).
4. Inside a stratum, groups are ordered by ``sha256(seed, group id)`` and cut into contiguous
   blocks in split order: the first ``quota[train]`` groups go to train, the next
   ``quota[validation]`` to validation, and so on. The order depends only on the group ids and
   the seed, never on the row order of the table, so the same table + seed gives the same
   assignment.

Growth (stable by construction): a group's split depends only on its own keyed hash and the
quotas of its stratum, never on which other groups sit next to it. Adding groups moves a block
boundary only by the difference between the new groups that fall below it and the growth of
the quotas below it, so only old groups right at a boundary move. Measured (``bench/`` split
stability, ``bench/bench_split_stability.py``; 600 → 660 groups in four strata, ratios
360:60:120, 30 seeds): mean 1.8 %, at most 2.8 % of the old groups move; 2000 → 2200: mean
1.0 %, at most 1.6 %. The number
that moves grows like the square root of the new groups per stratum, so the fraction falls
as the cohort grows. With ``previous`` (an earlier assignment; what ``hepatokit split`` does
by default) the old groups are pinned and only new groups fill the quotas: no existing group
moves.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeVar

import pyarrow as pa

from hepatokit.errors import DataFormatError
from hepatokit.splits.policy import normalise_ratios
from hepatokit.splits.rounding import controlled_round

__all__ = [
    "GroupInfo",
    "SplitPlan",
    "assign_splits",
    "group_hash",
    "plan_splits",
    "splits_from_column",
]

TableLike = TypeVar("TableLike")
Stratum = tuple[str | None, str | None]


@dataclass(frozen=True)
class GroupInfo:
    """One group as the assignment sees it."""

    group: str
    label: str | None
    domain: str | None
    rows: int
    ood: bool
    mixed: bool  # rows in both OOD and ID domains (assigned to OOD, whole)


@dataclass
class SplitPlan:
    """The assignment of every group plus what the report needs to explain it."""

    assignment: dict[str, str]
    groups: dict[str, GroupInfo]
    weights: dict[str, Fraction]
    ood_split: str | None
    quotas: dict[Stratum, list[int]] = field(default_factory=dict)
    seed: int = 0
    pinned: int = 0
    method: str = "stratified"

    @property
    def split_names(self) -> list[str]:
        names = list(self.weights)
        return [*names, self.ood_split] if self.ood_split else names


def group_hash(seed: int, group: str) -> str:
    """The seeded position of a group: ``sha256("<seed>\\x1f<group>")`` as hex."""
    return hashlib.sha256(f"{seed}\x1f{group}".encode()).hexdigest()


def _none_last(value: str | None) -> tuple[bool, str]:
    return (value is None, value or "")


def _majority(values: Iterable[str | None]) -> str | None:
    """Most frequent non-null value; ties go to the smallest; all null → None."""
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    best = max(counts.values())
    return min(v for v, c in counts.items() if c == best)


def _as_arrow(table: Any) -> pa.Table:
    if isinstance(table, pa.Table):
        return table
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        return pa.Table.from_pandas(table, preserve_index=False)
    raise TypeError(f"expected a pyarrow.Table or pandas.DataFrame, got {type(table).__name__}")


def _text_column(table: pa.Table, name: str | None) -> list[str | None]:
    if name is None:
        return [None] * table.num_rows
    if name not in table.column_names:
        raise DataFormatError(
            f"the table has no column {name!r}",
            hint=f"columns: {', '.join(table.column_names)}; fix the recipe's `split` section",
        )
    return [None if v is None else str(v) for v in table.column(name).to_pylist()]


def _group_infos(
    groups: list[str | None],
    labels: list[str | None],
    domains: list[str | None],
    ood_domains: set[str],
    group_name: str,
) -> dict[str, GroupInfo]:
    missing = sum(g is None for g in groups)
    if missing:
        raise DataFormatError(
            f"{missing} row(s) have no value in the group column {group_name!r}",
            hint="every row needs a group (patient / slide) before it can be split",
        )
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        by_group[str(g)].append(i)
    infos = {}
    for g, rows in by_group.items():
        doms = [domains[i] for i in rows]
        in_ood = [d in ood_domains for d in doms]
        infos[g] = GroupInfo(
            group=g,
            label=_majority(labels[i] for i in rows),
            domain=_majority(doms),
            rows=len(rows),
            ood=any(in_ood),
            mixed=any(in_ood) and not all(in_ood),
        )
    return infos


def plan_splits(
    table: Any,
    *,
    group: str,
    stratify: str | None = None,
    domain: str | None = None,
    ood_domains: Sequence[str] = (),
    ratios: Mapping[str, float] | Sequence[float] | str,
    seed: int,
    split_names: Sequence[str] | None = None,
    ood_split: str = "test_ood",
    previous: Mapping[str, str] | None = None,
    order_names: Mapping[str, str] | None = None,
) -> SplitPlan:
    """Assign every group of ``table`` to a split (see the module docstring).

    Parameters
    ----------
    table
        ``pyarrow.Table`` or ``pandas.DataFrame``, one row per item (subject, patch).
    group, stratify, domain
        Column names (``stratify`` / ``domain`` optional).
    ood_domains
        Domain values whose groups all go to ``ood_split``.
    ratios
        In-distribution split weights: ``{"train": 360, "validation": 60, "test_id": 120}``,
        ``"7:2:1"`` or ``[7, 2, 1]`` (named by ``split_names``).
    seed
        Seed of the group order; another seed gives another assignment.
    previous
        ``{group: split}`` of an earlier run: those groups keep their split (OOD groups always
        go to ``ood_split``); new groups fill the quotas.
    order_names
        ``{group: name}``: the name a group's seeded position is drawn from (default: the
        group itself). A build whose slide ids are keyed pseudonyms orders them by their
        original ids, so the assignment does not change with the key.
    """
    tbl = _as_arrow(table)
    named = order_names or {}
    ood_set = {str(d) for d in ood_domains}
    weights = normalise_ratios(ratios, names=split_names, has_ood=bool(ood_set))
    infos = _group_infos(
        _text_column(tbl, group),
        _text_column(tbl, stratify),
        _text_column(tbl, domain),
        ood_set,
        group,
    )
    if ood_set and domain is None:
        raise DataFormatError("ood_domains are given but no domain column")
    names = list(weights)
    assignment: dict[str, str] = {}
    strata: dict[Stratum, list[str]] = defaultdict(list)
    for g, info in infos.items():
        if info.ood:
            assignment[g] = ood_split
        else:
            strata[(info.label, info.domain)].append(g)
    order = sorted(strata, key=lambda s: (_none_last(s[0]), _none_last(s[1])))
    sizes = {s: len(strata[s]) for s in order}
    quotas = controlled_round(sizes, list(weights.values()), {s: s[0] for s in order})
    pinned = 0
    for s in order:
        members = sorted(
            strata[s], key=lambda g: (group_hash(seed, named.get(g, g)), named.get(g, g), g)
        )
        if previous is None:
            _contiguous_blocks(members, quotas[s], names, assignment)
        else:
            pinned += _fill_around_pinned(members, quotas[s], names, previous, assignment)
    return SplitPlan(
        assignment=assignment,
        groups=infos,
        weights=weights,
        ood_split=ood_split if ood_set else None,
        quotas=quotas,
        seed=seed,
        pinned=pinned,
    )


def _contiguous_blocks(
    members: list[str], quota: list[int], names: list[str], assignment: dict[str, str]
) -> None:
    """Cut ``members`` (in keyed-hash order) into blocks of ``quota`` groups, in split order."""
    start = 0
    for name, size in zip(names, quota, strict=True):
        for g in members[start : start + size]:
            assignment[g] = name
        start += size


def _fill_around_pinned(
    members: list[str],
    quota: list[int],
    names: list[str],
    previous: Mapping[str, str],
    assignment: dict[str, str],
) -> int:
    """Groups of ``previous`` keep their split (if it is still one of ``names``); the other
    ``members`` (in keyed-hash order) each go to the split with the largest remaining
    deficit against ``quota`` (ties: the first in split order). Returns the groups pinned."""
    counts = [0] * len(names)
    fresh = []
    for g in members:
        old = previous.get(g)
        if old in names:
            assignment[g] = str(old)
            counts[names.index(str(old))] += 1
        else:
            fresh.append(g)
    for g in fresh:
        deficits = [q - c for q, c in zip(quota, counts, strict=True)]
        k = max(range(len(names)), key=lambda i: (deficits[i], -i))
        assignment[g] = names[k]
        counts[k] += 1
    return len(members) - len(fresh)


def _with_split(table: Any, tbl: pa.Table, splits: list[str], split_column: str) -> Any:
    if isinstance(table, pa.Table):
        if split_column in tbl.column_names:
            tbl = tbl.drop_columns([split_column])
        return tbl.append_column(split_column, pa.array(splits, pa.string()))
    out = table.copy()
    out[split_column] = splits
    return out


def assign_splits(
    table: TableLike,
    *,
    group: str,
    stratify: str | None = None,
    domain: str | None = None,
    ood_domains: Sequence[str] = (),
    ratios: Mapping[str, float] | Sequence[float] | str,
    seed: int,
    split_names: Sequence[str] | None = None,
    ood_split: str = "test_ood",
    previous: Mapping[str, str] | None = None,
    split_column: str = "split",
) -> TableLike:
    """``table`` with a ``split`` column: grouped, stratified, ID/OOD (see :func:`plan_splits`).

    Returns the same kind of table it was given (pyarrow or pandas), rows in input order.

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = pa.table({"subject_id": ["a", "b", "c"], "stage": ["S1", "S4", "S4"],
    ...               "vendor": ["Vendor A", "Vendor A", "Vendor C"]})
    >>> out = assign_splits(t, group="subject_id", stratify="stage", domain="vendor",
    ...                     ood_domains=["Vendor C"], ratios={"train": 1}, seed=0)
    >>> out.column("split").to_pylist()
    ['train', 'train', 'test_ood']
    """
    tbl = _as_arrow(table)
    plan = plan_splits(
        tbl,
        group=group,
        stratify=stratify,
        domain=domain,
        ood_domains=ood_domains,
        ratios=ratios,
        seed=seed,
        split_names=split_names,
        ood_split=ood_split,
        previous=previous,
    )
    splits = [plan.assignment[str(g)] for g in tbl.column(group).to_pylist()]
    return _with_split(table, tbl, splits, split_column)


def splits_from_column(
    table: Any,
    *,
    column: str,
    group: str,
    stratify: str | None = None,
    domain: str | None = None,
    ood_domains: Sequence[str] = (),
    split_names: Sequence[str],
    ood_split: str = "test_ood",
    seed: int = 0,
) -> SplitPlan:
    """Official splits read from ``column`` (e.g. ``release_split`` of an imported release).

    ``train`` / ``validation`` keep their names; ``test`` becomes the last in-distribution
    split name (``test_id``); every group in an OOD domain goes to ``ood_split``.

    Raises
    ------
    DataFormatError
        A value that is not a split name, or a group whose rows disagree.
    """
    tbl = _as_arrow(table)
    ood_set = {str(d) for d in ood_domains}
    groups = _text_column(tbl, group)
    infos = _group_infos(
        groups, _text_column(tbl, stratify), _text_column(tbl, domain), ood_set, group
    )
    values = _text_column(tbl, column)
    names = list(split_names)
    assignment: dict[str, str] = {}
    for g, v in zip(groups, values, strict=True):
        assert g is not None
        if infos[g].ood and (v in names or v in ("test", ood_split)):
            split = ood_split  # OOD domains are only ever tested on
        elif v in names:
            split = v
        elif v == "test":
            split = names[-1]
        else:
            raise DataFormatError(
                f"column {column!r} holds {v!r}, not one of {', '.join(names)} or test",
                hint="fix the table or drop `predefined` from the recipe's split section",
            )
        if assignment.setdefault(g, split) != split:
            raise DataFormatError(f"group {g!r} has rows in two predefined splits")
    n_names = len(names)
    return SplitPlan(
        assignment=assignment,
        groups=infos,
        weights={n: Fraction(1, n_names) for n in names},
        ood_split=ood_split if ood_set else None,
        seed=seed,
        method=f"predefined ({column})",
    )
