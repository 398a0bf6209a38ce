"""Controlled rounding: integer quotas within one group of every exact target."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given, settings, strategies as st

from hepatokit.splits.rounding import controlled_round

weights_st = st.lists(st.integers(0, 12), min_size=1, max_size=4).filter(lambda w: sum(w) > 0)
sizes_st = st.dictionaries(
    st.tuples(st.sampled_from("abcd"), st.sampled_from("xyz")), st.integers(0, 40), max_size=12
)


def _close(value: int, target: Fraction) -> bool:
    return math.floor(target) <= value <= math.ceil(target)


@settings(max_examples=150, deadline=None)
@given(sizes=sizes_st, raw=weights_st)
def test_rounding_keeps_strata_labels_and_totals_within_one(sizes, raw):
    weights = [Fraction(w, sum(raw)) for w in raw]
    parent = {s: s[0] for s in sizes}
    out = controlled_round(sizes, weights, parent)
    assert set(out) == set(sizes)
    for s, x in out.items():
        assert sum(x) == sizes[s]
        assert all(_close(v, sizes[s] * w) for v, w in zip(x, weights, strict=True))
    for p in {s[0] for s in sizes}:
        n_p = sum(n for s, n in sizes.items() if s[0] == p)
        for k, w in enumerate(weights):
            assert _close(sum(out[s][k] for s in sizes if s[0] == p), n_p * w)
    total = sum(sizes.values())
    for k, w in enumerate(weights):
        assert _close(sum(x[k] for x in out.values()), total * w)


def test_rounding_prefers_large_fractions_and_hits_the_lifs_counts():
    # 540 groups at 360:60:120 must give exactly those counts
    sizes = {("S1", "A"): 97, ("S2", "A"): 64, ("S3", "B"): 32, ("S4", "B"): 347}
    weights = [Fraction(360, 540), Fraction(60, 540), Fraction(120, 540)]
    out = controlled_round(sizes, weights, {s: s[0] for s in sizes})
    assert [sum(x[k] for x in out.values()) for k in range(3)] == [360, 60, 120]
    # 97 * 2/3 = 64.67 → the up-rounding goes to the larger fraction
    assert out[("S1", "A")][0] == 65


@settings(max_examples=150, deadline=None)
@given(sizes=sizes_st, raw=weights_st)
def test_split_totals_follow_the_largest_remainder_rule(sizes, raw):
    weights = [Fraction(w, sum(raw)) for w in raw]
    out = controlled_round(sizes, weights, {s: s[0] for s in sizes})
    total = sum(sizes.values())
    targets = [total * w for w in weights]
    got = [sum(x[k] for x in out.values()) for k in range(len(weights))]
    up = [g > t for g, t in zip(got, targets, strict=True)]
    down = [g < t for g, t in zip(got, targets, strict=True)]
    frac = [t - math.floor(t) for t in targets]
    # never round a smaller remainder up while a larger one is rounded down
    for k in range(len(weights)):
        for j in range(len(weights)):
            if up[k] and down[j]:
                assert frac[k] >= frac[j]
