"""Multi-index hashing finds exactly the brute-force pairs; union-find clusters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepatokit.curation.patho.near_duplicates import (
    UnionFind,
    band_masks,
    clusters_from_pairs,
    near_pairs,
    nearest_neighbour_distances,
    plan_bands,
)
from tests.curation.patho.search_helpers import RecordingExecutor, brute_force_pairs


def _clustered(n: int, seed: int, centres: int = 300, flips: int = 8) -> np.ndarray:
    """Hashes around a few centres (like H&E textures: close together), random bit flips."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**63, size=centres, dtype=np.uint64) * np.uint64(2)
    h = base[rng.integers(0, centres, n)]
    n_flips = rng.integers(0, flips + 1, n)  # some items stay identical to their centre
    for k in range(flips):
        bit = rng.integers(0, 64, n).astype(np.uint64)
        flip = n_flips > k
        h[flip] ^= np.uint64(1) << bit[flip]
    return h


@pytest.mark.parametrize("radius", [0, 2, 5, 8, 10, 13])
def test_same_as_brute_force_on_thousands(radius: int) -> None:
    h = _clustered(3000, seed=radius)
    got = near_pairs(h, radius)
    want = brute_force_pairs(h, radius)
    assert len(want[0]) > 0
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_every_band_plan_is_exact() -> None:
    h = _clustered(1500, seed=7)
    want = brute_force_pairs(h, 9)
    for bands in (3, 4, 5, 10):
        got = near_pairs(h, 9, bands=bands)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_parallel_bands_same_result() -> None:
    h = _clustered(3000, seed=11)
    got = near_pairs(h, 10, workers=2)
    want = near_pairs(h, 10)
    assert len(want[0]) > 0
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_executor_runs_the_bands() -> None:
    h = _clustered(3000, seed=12)
    with RecordingExecutor() as pool:
        got = near_pairs(h, 10, executor=pool)
    assert pool.calls and set(pool.calls) == {"_search_band"}
    want = brute_force_pairs(h, 10)
    assert len(want[0]) > 0
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_second_hash_filters_pairs() -> None:
    h = _clustered(2000, seed=1)
    d = _clustered(2000, seed=2, centres=50)
    got = near_pairs(h, 8, second=d, second_radius=6)
    want = brute_force_pairs(h, 8, second=d, second_radius=6)
    np.testing.assert_array_equal(got[0], want[0])
    assert np.all(np.bitwise_count(d[got[0]] ^ d[got[1]]) <= 6)
    assert len(got[0]) < len(near_pairs(h, 8)[0])


def test_bands_cover_64_bits() -> None:
    for m in (1, 3, 7, 11, 64):
        masks = band_masks(m)
        assert len(masks) == m
        assert sum(mask.bit_length() for _, mask in masks) == 64
    m, sub = plan_bands(140_000, 10)
    assert sub == 10 // m


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 2**64 - 1), min_size=0, max_size=60),
    st.integers(0, 20),
)
def test_property_equals_brute_force(values: list[int], radius: int) -> None:
    h = np.array(values, dtype=np.uint64)
    got = near_pairs(h, radius)
    want = brute_force_pairs(h, radius)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_union_find_and_clusters() -> None:
    uf = UnionFind(6)
    uf.union(0, 1)
    uf.union(1, 2)
    uf.union(4, 5)
    assert uf.groups() == [[0, 1, 2], [4, 5]]
    assert clusters_from_pairs(5, [(3, 4), (0, 3)]) == [[0, 3, 4]]


def test_nearest_neighbour_distances() -> None:
    h = np.array([0b0, 0b1, 0b111, 0b0], dtype=np.uint64)
    nn = nearest_neighbour_distances(h, np.arange(4))
    assert nn.tolist() == [1, 1, 2, 1]  # equal hashes (0 and 3) skipped
