"""Controlled rounding of split quotas: integer group counts as close to the ratios as possible.

Each stratum ``s`` (label × domain) has ``n_s`` groups and wants ``t[s][k] = n_s · r_k`` of them
in split ``k``. The rounding picks integers ``x[s][k]`` that

- keep every stratum whole: ``Σ_k x[s][k] = n_s``;
- round every cell to ``⌊t⌋`` or ``⌈t⌉`` (so no stratum is off by a whole group);
- round every *parent* (label) total per split to ``⌊Σ t⌋`` or ``⌈Σ t⌉`` (so a label split
  over several domains is not off by several groups);
- round every split total ``Σ_s x[s][k]`` to ``⌊N r_k⌋`` or ``⌈N r_k⌉``.

These constraints form a flow network (split → parent × split → stratum), and the fractional
targets are a feasible flow, so an integral flow exists. A min-cost flow with lower bounds
finds one that prefers rounding up the largest fractional parts: of the split totals first
(so they follow the largest-remainder rule and a small split is not left empty when its
share rounds to a group), then of the label totals, then of the cells. Arithmetic is
exact (:class:`fractions.Fraction`), so the result is the same on every machine.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Mapping, Sequence
from fractions import Fraction
from typing import TypeVar

__all__ = ["controlled_round"]

K = TypeVar("K", bound=Hashable)

_SCALE = 1 << 24  # cost resolution of fractional parts
_INF = 1 << 200  # above any path cost (costs reach ~2**24 per level, three levels)


class _Network:
    """A small min-cost flow network (successive shortest paths, SPFA)."""

    def __init__(self) -> None:
        self.head: list[list[int]] = []
        self.to: list[int] = []
        self.cap: list[int] = []
        self.cost: list[int] = []

    def node(self) -> int:
        self.head.append([])
        return len(self.head) - 1

    def edge(self, u: int, v: int, cap: int, cost: int) -> int:
        """Add ``u → v``; returns the edge index (its reverse is ``index ^ 1``)."""
        for a, b, c, w in ((u, v, cap, cost), (v, u, 0, -cost)):
            self.head[a].append(len(self.to))
            self.to.append(b)
            self.cap.append(c)
            self.cost.append(w)
        return len(self.to) - 2

    def flow(self, e: int) -> int:
        return self.cap[e ^ 1]

    def min_cost_flow(self, s: int, t: int, want: int) -> int:
        """Push up to ``want`` units from ``s`` to ``t`` at least cost; returns units pushed."""
        pushed = 0
        n = len(self.head)
        while pushed < want:
            dist = [_INF] * n
            prev_edge = [-1] * n
            in_queue = [False] * n
            dist[s] = 0
            queue = deque([s])
            while queue:
                u = queue.popleft()
                in_queue[u] = False
                for e in self.head[u]:
                    if self.cap[e] > 0 and dist[u] + self.cost[e] < dist[self.to[e]]:
                        v = self.to[e]
                        dist[v] = dist[u] + self.cost[e]
                        prev_edge[v] = e
                        if not in_queue[v]:
                            in_queue[v] = True
                            queue.append(v)
            if dist[t] == _INF:
                break
            amount = want - pushed
            v = t
            while v != s:
                e = prev_edge[v]
                amount = min(amount, self.cap[e])
                v = self.to[e ^ 1]
            v = t
            while v != s:
                e = prev_edge[v]
                self.cap[e] -= amount
                self.cap[e ^ 1] += amount
                v = self.to[e ^ 1]
            pushed += amount
        return pushed


def _bounds(x: Fraction) -> tuple[int, int, int]:
    """``(floor, ceil, cost of rounding up)``; rounding up a large fraction is cheap."""
    lo = math.floor(x)
    hi = math.ceil(x)
    cost = math.floor((1 - (x - lo)) * _SCALE) if hi > lo else 0
    return lo, hi, cost


def controlled_round(
    sizes: Mapping[K, int],
    weights: Sequence[Fraction],
    parent: Mapping[K, Hashable] | None = None,
) -> dict[K, list[int]]:
    """Integer split counts per stratum (see the module docstring).

    Parameters
    ----------
    sizes
        Groups per stratum ``{stratum: n_s}``; iteration order fixes tie-breaking.
    weights
        Split fractions ``r_k`` (non-negative, sum 1).
    parent
        Optional ``{stratum: parent}`` (e.g. the label of a label × domain stratum) whose
        per-split totals are rounded too.

    Returns
    -------
    dict
        ``{stratum: [x_0, …, x_{K-1}]}`` with ``Σ_k x = n_s``.
    """
    if sum(weights) != 1:
        raise ValueError(f"weights must sum to 1, got {sum(weights)}")
    strata = list(sizes)
    parents: dict[K, Hashable] = {s: (parent[s] if parent is not None else s) for s in strata}
    parent_keys = list(dict.fromkeys(parents[s] for s in strata))
    n_splits = len(weights)
    net = _Network()
    source, sink = net.node(), net.node()
    excess: dict[int, int] = {}
    # (edge index, lower bound) of each cell, to read the result back
    cells: dict[tuple[K, int], tuple[int, int]] = {}

    # lexicographic priorities: split totals first (largest remainder), then label totals,
    # then cells. One cost unit of a level outweighs every possible cost of the levels below
    # (Python integers: no overflow).
    w_parent = _SCALE * (n_splits * len(strata) + 1)
    w_total = _SCALE * (n_splits * len(parent_keys) + 1) * w_parent

    def bounded(u: int, v: int, target: Fraction, weight: int = 1) -> tuple[int, int]:
        lo, hi, cost = _bounds(target)
        e = net.edge(u, v, hi - lo, cost * weight)
        excess[v] = excess.get(v, 0) + lo
        excess[u] = excess.get(u, 0) - lo
        return e, lo

    split_nodes = [net.node() for _ in range(n_splits)]
    parent_nodes: dict[tuple[Hashable, int], int] = {
        (p, k): net.node() for p in parent_keys for k in range(n_splits)
    }
    stratum_nodes = {s: net.node() for s in strata}
    total = sum(sizes.values())
    for k, w in enumerate(weights):
        bounded(source, split_nodes[k], total * w, w_total)
        for p in parent_keys:
            n_p = sum(sizes[s] for s in strata if parents[s] == p)
            bounded(split_nodes[k], parent_nodes[(p, k)], n_p * w, w_parent)
        for s in strata:
            cells[(s, k)] = bounded(parent_nodes[(parents[s], k)], stratum_nodes[s], sizes[s] * w)
    for s in strata:
        bounded(stratum_nodes[s], sink, Fraction(sizes[s]))
    net.edge(sink, source, _INF, 0)  # circulation: the total is fixed by the strata
    super_s, super_t = net.node(), net.node()
    need = 0
    for v in sorted(excess):
        if excess[v] > 0:
            net.edge(super_s, v, excess[v], 0)
            need += excess[v]
        elif excess[v] < 0:
            net.edge(v, super_t, -excess[v], 0)
    pushed = net.min_cost_flow(super_s, super_t, need)
    if pushed != need:  # cannot happen: the fractional targets are a feasible flow
        raise RuntimeError("controlled rounding found no feasible integral allocation")
    out: dict[K, list[int]] = {}
    for s in strata:
        out[s] = [cells[(s, k)][1] + net.flow(cells[(s, k)][0]) for k in range(n_splits)]
    return out
