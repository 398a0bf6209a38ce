"""Multi-index hashing finds exactly the brute-force pairs; union-find clusters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hepatokit.curation.patho.dedup.near import (
    UnionFind,
    band_masks,
    clusters_from_pairs,
    near_pairs,
    nearest_neighbour_distances,
    plan_bands,
)
from tests.curation.patho.search_helpers import RecordingExecutor, brute_force_pairs

try:
    import numba  # noqa: F401
except ImportError:  # the light install: only the numpy path (`.[dev]` installs numba)
    KERNELS = [False]
else:
    KERNELS = [False, True]
#: both search paths: numpy, and the compiled loop where numba is installed
kernels = pytest.mark.parametrize("compiled", KERNELS, ids=lambda c: "numba" if c else "numpy")


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


@kernels
@pytest.mark.parametrize("radius", [0, 2, 5, 8, 10, 13])
def test_same_as_brute_force_on_thousands(radius: int, compiled: bool) -> None:
    h = _clustered(3000, seed=radius)
    got = near_pairs(h, radius, compiled=compiled)
    want = brute_force_pairs(h, radius)
    assert len(want[0]) > 0
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@kernels
def test_every_band_plan_is_exact(compiled: bool) -> None:
    h = _clustered(1500, seed=7)
    want = brute_force_pairs(h, 9)
    for bands in (2, 3, 4, 5, 10):  # 2: wide bands, searched by binary search
        got = near_pairs(h, 9, bands=bands, compiled=compiled)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@kernels
def test_parallel_bands_same_result(compiled: bool) -> None:
    from concurrent.futures import ProcessPoolExecutor

    h = _clustered(3000, seed=11)
    with ProcessPoolExecutor(2) as pool:
        got = near_pairs(h, 10, executor=pool, compiled=compiled)
    want = brute_force_pairs(h, 10)
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


def test_band_plans_cover_64_bits_and_are_exact() -> None:
    for m in (1, 3, 7, 11, 64):
        masks = band_masks(m)
        assert len(masks) == m
        assert sum(mask.bit_length() for _, mask in masks) == 64
    for n in (100, 140_000, 1_000_000, 5_000_000):
        for radius in (0, 3, 10, 16):
            plan = plan_bands(n, radius)
            assert [b.shift for b in plan] == list(np.cumsum([0] + [b.width for b in plan[:-1]]))
            assert sum(b.width for b in plan) == 64
            # generalised pigeonhole: a pair within radius is within t_k on some band k
            assert sum(b.threshold + 1 for b in plan) == radius + 1
    # at a million items the bands are wide: a probe seldom meets an occupied bucket
    assert min(b.width for b in plan_bands(1_000_000, 10)) >= 18


def _planted(rng: np.random.Generator, n: int, centres: int, spread: int) -> np.ndarray:
    """Random hashes around ``centres`` centres, each 0..spread random bit flips away."""
    base = rng.integers(0, 2**64 - 1, size=max(1, centres), dtype=np.uint64, endpoint=True)
    h = base[rng.integers(0, base.size, n)]
    for _ in range(spread):
        bit = rng.integers(0, 64, n).astype(np.uint64)
        h ^= (rng.random(n) < 0.5).astype(np.uint64) << bit
    return h


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 600),
    centres=st.integers(1, 200),
    spread=st.integers(0, 14),
    radius=st.integers(0, 20),
    bands=st.one_of(st.none(), st.integers(1, 21)),
    seed=st.integers(0, 2**32 - 1),
    compiled=st.sampled_from(KERNELS),
)
def test_property_planted_equals_brute_force(
    n: int, centres: int, spread: int, radius: int, bands: int | None, seed: int, compiled: bool
) -> None:
    """Random hashes at many sizes, radii and band plans (some with wide, binary-searched
    bands), through both search paths: exactly the brute-force pairs."""
    h = _planted(np.random.default_rng(seed), n, centres, spread)
    if bands is not None and bands > radius + 1:
        bands = radius + 1
    try:
        got = near_pairs(h, radius, bands=bands, compiled=compiled)
    except ValueError:
        assert bands is not None  # only a forced plan with too few bands is refused
        return
    want = brute_force_pairs(h, radius)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@kernels
@pytest.mark.parametrize(("n", "radius"), [(20_000, 10), (8_000, 6), (8_000, 14)])
def test_uniform_hashes_at_size_equal_brute_force(n: int, radius: int, compiled: bool) -> None:
    """Uniform 64-bit hashes (the bench's case) with planted near copies, at a size where
    the plan uses wide, dense bands."""
    rng = np.random.default_rng(n + radius)
    h = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
    src = rng.integers(0, n, n // 20)
    dst = rng.integers(0, n, n // 20)
    h[dst] = h[src] ^ (np.uint64(1) << rng.integers(0, 64, dst.size).astype(np.uint64))
    got = near_pairs(h, radius, compiled=compiled)
    want = brute_force_pairs(h, radius)
    assert len(want[0]) > 0
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@kernels
def test_band_parts_partition_the_work(compiled: bool) -> None:
    """Splitting a band's work into parts (tasks) finds each pair once, as the whole band;
    the numpy and compiled paths find the same pairs through each band."""
    from hepatokit.curation.patho.dedup.band_search import _search_band
    from hepatokit.curation.patho.dedup.bands import Band

    h = _clustered(4000, seed=5)
    bands = [*plan_bands(h.size, 10), Band(0, 30, 2)]  # and a wide (binary-searched) band
    for band in bands:
        whole = np.sort(_search_band((h, band, 10, 0, 1, compiled)))
        assert np.unique(whole).size == whole.size  # within a band, each pair once
        parts = [_search_band((h, band, 10, k, 3, compiled)) for k in range(3)]
        np.testing.assert_array_equal(np.sort(np.concatenate(parts)), whole)
        np.testing.assert_array_equal(whole, np.sort(_search_band((h, band, 10, 0, 1, False))))


@pytest.mark.parametrize(
    ("width", "threshold", "parts"), [(5, 2, 1), (5, 2, 4), (7, 3, 9), (4, 0, 2)]
)
def test_split_flips_covers_every_flip_once(width: int, threshold: int, parts: int) -> None:
    """The parts of a band's work: the own bucket once, and every non-zero flip of at most
    ``threshold`` bits exactly once, under its highest bit."""
    from hepatokit.curation.patho.dedup.bands import Band, split_flips

    band = Band(0, width, threshold)
    owns, flips = 0, []
    for part in range(parts):
        own, by_bit = split_flips(band, part, parts)
        owns += own
        for b, fl in by_bit.items():
            assert all(f.bit_length() - 1 == b for f in fl)
            flips += fl
    want = [f for f in range(1, 1 << width) if f.bit_count() <= threshold]
    assert owns == 1
    assert sorted(flips) == want and len(flips) == len(want)


@kernels
@pytest.mark.parametrize(("centres", "spread", "radius"), [(1, 0, 3), (40, 2, 4), (60, 6, 10)])
def test_near_duplicate_heavy_inputs(
    centres: int, spread: int, radius: int, compiled: bool
) -> None:
    """Near-duplicate-heavy sets (one hash repeated 1,000 times; few tight clusters: big
    buckets, far more pairs than items, so the compiled loop's output grows and resumes):
    exactly the brute-force pairs."""
    h = _planted(np.random.default_rng(centres), 1000, centres, spread)
    got = near_pairs(h, radius, compiled=compiled)
    want = brute_force_pairs(h, radius)
    assert len(want[0]) > 8 * h.size
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.skipif(True not in KERNELS, reason="numba is not installed")
@settings(max_examples=25, deadline=None)
@given(
    width=st.integers(1, 26),
    threshold=st.integers(0, 3),
    radius=st.integers(0, 16),
    n=st.integers(2, 3000),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_compiled_band_equals_numpy_band(
    width: int, threshold: int, radius: int, n: int, seed: int
) -> None:
    """One band of any width (dense bitmap words, or binary-searched above 24 bits) and
    threshold: the compiled loop finds exactly the numpy path's pairs, each once."""
    from hepatokit.curation.patho.dedup.band_search import _search_band
    from hepatokit.curation.patho.dedup.bands import Band

    h = _planted(np.random.default_rng(seed), n, max(1, n // 10), 8)
    band = Band(64 - width, width, threshold)  # the top bits: the shift is exercised too
    got = _search_band((h, band, radius, 0, 1, True))
    assert np.unique(got).size == got.size
    np.testing.assert_array_equal(
        np.sort(got), np.sort(_search_band((h, band, radius, 0, 1, False)))
    )


@pytest.mark.skipif(True not in KERNELS, reason="numba is not installed")
@pytest.mark.parametrize("threshold", [0, 1, 2])
@pytest.mark.parametrize("sizes", [(1, 7, 8, 9), (15, 16, 17, 2), (8, 8, 24, 1), (33, 5, 40, 3)])
def test_compiled_bucket_joins_at_chunk_edges(sizes: tuple[int, ...], threshold: int) -> None:
    """Buckets of chosen sizes around the compiled join's 8-item chunks (and the last
    bucket, whose padded read runs past the items), every bucket within the threshold of
    the others, hashes close and far: each band finds exactly the brute-force pairs that
    collide in it, once (the oracle here filters the brute-force pairs by band key)."""
    from hepatokit.curation.patho.dedup.band_search import _search_band
    from hepatokit.curation.patho.dedup.bands import Band

    rng = np.random.default_rng(sum(sizes) + threshold)
    band, radius = Band(0, 12, threshold), 9
    keys = rng.choice(1 << 12, len(sizes) * 3, replace=False)[: len(sizes)]
    keys[1:] = keys[0] ^ np.array([1, 3, 2048 | 64][: len(sizes) - 1])  # 1–2 bits apart
    base = rng.integers(0, 2**63, dtype=np.uint64)
    h = []
    for key, size in zip(keys, sizes, strict=True):
        far = rng.random(size) < 0.5  # half the items random, half near a common hash
        near = base ^ (np.uint64(1) << rng.integers(12, 64, size).astype(np.uint64))
        other = np.where(far, rng.integers(0, 2**63, size, dtype=np.uint64), near)
        h.append((other & ~np.uint64(band.mask)) | np.uint64(key))
    hashes = rng.permutation(np.concatenate(h))
    n = hashes.size
    i, j, _ = brute_force_pairs(hashes, radius)
    kd = np.bitwise_count((hashes[i] ^ hashes[j]) & np.uint64(band.mask))
    want = np.sort(i[kd <= threshold] * n + j[kd <= threshold])
    assert want.size > 0
    for compiled in (True, False):
        got = _search_band((hashes, band, radius, 0, 1, compiled))
        np.testing.assert_array_equal(np.sort(got), want)


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


@pytest.mark.slow
def test_bands_split_over_a_dask_cluster() -> None:
    """The search split by band runs as tasks of a Dask cluster's executor (``--dask``)."""
    distributed = pytest.importorskip("distributed")
    from hepatokit.parallel import make_executor

    h = _clustered(4000, seed=21)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        make_executor(dask_address=cluster.scheduler_address) as executor,
    ):
        assert executor is not None
        got = near_pairs(h, 10, executor=executor)
    want = brute_force_pairs(h, 10)
    assert len(want[0]) > 0
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
