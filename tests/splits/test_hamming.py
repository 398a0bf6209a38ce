"""Cross-split near pairs by multi-index search equal the brute-force pairs."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
from hypothesis import given, settings, strategies as st

from hepatokit.splits.hamming import cross_split_pairs


@settings(max_examples=40, deadline=None)
@given(
    base=st.lists(st.integers(0, 2**64 - 1), min_size=2, max_size=40),
    flips=st.lists(st.integers(0, 63), max_size=8),
    radius=st.integers(0, 10),
    seed=st.integers(0, 1000),
    bands=st.sampled_from([None, 2, 3, 4, 8, 11]),
)
def test_multi_index_search_equals_brute_force(base, flips, radius, seed, bands):
    rng = np.random.default_rng(seed)
    values = list(base)
    for v in base[:5]:  # plant near copies so that pairs exist
        values.append(v ^ sum(1 << b for b in set(flips)))
    hashes = np.array(values, dtype=np.uint64)
    splits = rng.integers(0, 3, hashes.size)
    if bands is not None:
        width, sub = -(-64 // bands), radius // bands
        if bands > radius + 1 or sum(math.comb(width, k) for k in range(sub + 1)) > 3000:
            bands = None  # keep the flip enumeration small
    got = cross_split_pairs(hashes, splits, radius, bands=bands)
    want = sorted(
        (i, j, bin(values[i] ^ values[j]).count("1"))
        for i, j in combinations(range(len(values)), 2)
        if splits[i] != splits[j] and bin(values[i] ^ values[j]).count("1") <= radius
    )
    assert got == want
