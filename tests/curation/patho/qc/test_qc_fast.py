"""The QC scores: version 3 against the previous implementation, and the compiled pass
against the numpy one.

``oracle_measures`` is the ``qc_scores`` of QC version 1 copied verbatim (the same scores as
version 2). Version 3 writes every per-pixel value elementwise (no BLAS product), the
sharpness and blocking in integers: each score within a unit of its last rounded digit of
the oracle's, every QC decision the same, on every real H&E field of
``tests/data/real_he``, on artefacts planted on them, on the synthetic raw set and on edge
cases. The compiled pass (:mod:`hepatokit.curation.patho.qc.kernel`, numba) must give the
numpy path's statistics bit for bit on the same images, random noise and odd shapes. The
exact shortcuts of :mod:`hepatokit.curation.patho.qc.masks` are checked against the scipy /
numpy steps they replace.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from hepatokit.curation.patho.config import PatchQCConfig
from hepatokit.curation.patho.qc import kernel, masks
from hepatokit.curation.patho.qc.measures import qc_reason, qc_scores
from hepatokit.curation.patho.qc.order import median, order_statistics, percentile
from hepatokit.curation.patho.qc.raw import _OD_LUT, _column_median, _measure, _thick
from hepatokit.recipe import load_recipe
from tests.curation.patho.helpers import he_patch
from tests.curation.patho.qc.oracle_measures import _thick as _thick_reference, qc_scores_reference
from tests.real_he import ARTEFACTS, plant, real_fields

#: decimals each score is rounded to (measures.qc_scores)
_DECIMALS = {
    "background": 6,
    "stain": 4,
    "stain_intensity": 5,
    "eosin_fraction": 5,
    "eosin_p90": 5,
    "pen": 6,
    "ink": 6,
    "sharpness": 3,
    "blocking": 4,
}


def _configs() -> list[PatchQCConfig]:
    return [PatchQCConfig(), load_recipe("hepatobench").section("qc", PatchQCConfig)]


def _departures(arrays: list[np.ndarray]) -> list[tuple[int, str, float, float]]:
    """(image, score or "decision", new, previous) wherever version 3 departs from the oracle
    by more than a unit of the last rounded digit (or 1e-5 relative), or decides otherwise."""
    out: list[tuple[int, str, float, float]] = []
    cfgs = _configs()
    for i, rgb in enumerate(arrays):
        new, old = qc_scores(rgb).as_dict(), qc_scores_reference(rgb).as_dict()
        for k, dec in _DECIMALS.items():
            if abs(new[k] - old[k]) > max(1.01 * 10.0**-dec, 1e-5 * abs(old[k])):
                out.append((i, k, new[k], old[k]))
        for cfg in cfgs:
            if qc_reason(new, cfg) != qc_reason(old, cfg):
                out.append((i, "decision", 0.0, 0.0))
    return out


def _synthetic(patho_raw: Path, step: int = 2) -> list[np.ndarray]:
    arrays = []
    for path in sorted((patho_raw / "patches").rglob("*"))[::step]:
        try:
            with Image.open(io.BytesIO(path.read_bytes())) as im:
                arrays.append(np.asarray(im.convert("RGB")))
        except Exception:  # the planted corrupt / non-image files
            continue
    return arrays


def _edge_cases() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    cases = [
        np.full((150, 150, 3), 245, np.uint8),  # glass only
        np.zeros((150, 150, 3), np.uint8),  # black: every pixel is ink (no background)
        np.full((150, 150, 3), (35, 60, 165), np.uint8),  # blue pen everywhere
        rng.integers(0, 256, (150, 150, 3), dtype=np.uint8),  # noise
        rng.integers(0, 256, (7, 11, 3), dtype=np.uint8),  # tiny, not square
        he_patch(3, 96),
    ]
    black_band = he_patch(4).copy()
    black_band[:, 40:70] = (20, 20, 25)
    cases.append(black_band)
    return cases


def test_close_to_previous_scores_on_every_real_field() -> None:
    fields = [f.rgb for f in real_fields()]
    assert len(fields) >= 349
    assert _departures(fields) == []


@pytest.mark.parametrize("kind", sorted(ARTEFACTS))
def test_close_to_previous_scores_on_artefacts_planted_on_real_tissue(kind: str) -> None:
    rng = np.random.default_rng(100 + sorted(ARTEFACTS).index(kind))
    clean = [f.rgb for f in real_fields() if f.clean]
    planted = [plant(rgb, kind, rng) for rgb in clean[::4]]
    assert _departures(planted) == []


def test_close_to_previous_scores_on_the_synthetic_raw_set(patho_raw: Path) -> None:
    arrays = _synthetic(patho_raw)
    assert len(arrays) >= 250
    assert _departures(arrays) == []


def test_close_to_previous_scores_on_edge_cases() -> None:
    assert _departures(_edge_cases()) == []


def _same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    """Tuples equal field by field, NaN equal to NaN, types too (int stays int)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if type(x) is not type(y):
            return False
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            continue
        if x != y:
            return False
    return True


def _compiled_mismatches(arrays: list[np.ndarray]) -> list[int]:
    pytest.importorskip("numba")
    bad = []
    for i, rgb in enumerate(arrays):
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        same_raw = _same(kernel.measure(rgb), _measure(rgb))
        if not same_raw or qc_scores(rgb, compiled=True) != qc_scores(rgb, compiled=False):
            bad.append(i)
    return bad


def test_compiled_equals_numpy_on_real_and_planted_fields() -> None:
    fields = [f.rgb for f in real_fields()]
    rng = np.random.default_rng(11)
    clean = [f.rgb for f in real_fields() if f.clean]
    for kind in sorted(ARTEFACTS):
        fields += [plant(rgb, kind, rng) for rgb in clean[::8]]
    assert _compiled_mismatches(fields) == []


def test_compiled_equals_numpy_on_the_synthetic_raw_set(patho_raw: Path) -> None:
    arrays = _synthetic(patho_raw, step=1)
    assert len(arrays) >= 500
    assert _compiled_mismatches(arrays) == []


def test_compiled_equals_numpy_on_edge_cases_and_odd_shapes() -> None:
    rng = np.random.default_rng(12)
    cases = _edge_cases()
    for h, w in ((1, 1), (1, 40), (40, 1), (2, 3), (16, 17), (17, 16), (33, 150), (150, 9)):
        cases.append(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        cases.append(he_patch(int(rng.integers(100)), 150)[:h, :w])
    dark = he_patch(5).copy()
    dark[20:130, 20:130] = (40, 30, 60)  # one wide dark square: thick, far from the edge
    cases.append(dark)
    ring = he_patch(6).copy()
    ring[:, :] = (30, 40, 150)  # blue pen all over but one glass hole: opening covers it
    ring[70:72, 70:72] = 250
    cases.append(ring)
    stripes = he_patch(7).copy()
    stripes[:, ::12] = (20, 20, 25)  # thin black lines: no thick component
    cases.append(stripes)
    assert _compiled_mismatches(cases) == []


def test_compiled_thick_components_equal_numpy_on_random_masks() -> None:
    pytest.importorskip("numba")
    from hepatokit.curation.patho.qc import _kernel_morph

    rng = np.random.default_rng(0)
    for trial in range(120):
        h, w = (int(v) for v in rng.integers(1, 90, 2))
        density = (0.3, 0.7, 0.9, 0.97, 0.995)[trial % 5]
        noise = ndimage.uniform_filter(rng.random((h, w)), size=int(rng.integers(1, 9)))
        mask = noise > np.quantile(noise, 1.0 - density)
        flags = (mask * masks.INK).astype(np.uint8)
        got = _kernel_morph._thick(flags, masks.INK)
        if got < 0:  # handed back: scipy measures from outside the image
            opened = masks.disk3_dilate(masks.disk3_erode(mask)) if not mask.all() else mask
            assert mask.all() or opened.all(), trial
            continue
        assert got == int(np.count_nonzero(_thick(mask))), trial


def test_thick_components_equal_reference_on_random_masks() -> None:
    rng = np.random.default_rng(0)
    for trial in range(60):
        h, w = (int(v) for v in rng.integers(8, 90, 2))
        density = (0.3, 0.7, 0.9, 0.97)[trial % 4]
        noise = ndimage.uniform_filter(rng.random((h, w)), size=int(rng.integers(1, 9)))
        mask = noise > np.quantile(noise, 1.0 - density)
        assert np.array_equal(_thick(mask), _thick_reference(mask)), trial
    full = np.ones((40, 50), bool)
    assert np.array_equal(_thick(full), _thick_reference(full))


def test_disk_and_cross_morphology_equal_scipy() -> None:
    rng = np.random.default_rng(1)
    for trial in range(80):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        mask = rng.random((h, w)) < (0.2, 0.5, 0.85, 0.97)[trial % 4]
        if not mask.all():
            assert np.array_equal(masks.disk3_erode(mask), ndimage.distance_transform_edt(mask) > 3)
        if mask.any():
            assert np.array_equal(
                masks.disk3_dilate(mask), ndimage.distance_transform_edt(~mask) <= 3
            )
        assert np.array_equal(
            masks.cross2_dilate(mask), ndimage.binary_dilation(mask, iterations=2)
        )


def test_hsv_ranges_equal_the_float_comparisons() -> None:
    codes = np.arange(256, dtype=np.uint8)
    f = codes.astype(np.float32)
    hue, unit = f * np.float32(360.0 / 255.0), f / 255.0
    want = {
        "white_v": unit >= 0.82,
        "white_s": unit <= 0.12,
        "green_s": unit >= 0.2,
        "green_h": (hue >= 75) & (hue <= 170),
        "black_v": unit < 0.22,
        "black_s": unit < 0.6,
        "ink_s": unit >= 0.3,
        "ink_h": (hue >= 195) & (hue <= 265),
        "ink_v": unit < 0.3,
    }
    assert set(want) == set(masks.HSV_RANGES)
    for name, expected in want.items():
        assert np.array_equal(masks.in_range(codes, name), expected), name


def test_channel_sum_equals_the_mean_on_every_colour() -> None:
    """``mean(axis=1)`` of the OD triplets, written as a channel sum in the colour table's
    tissue bit, gives the same floats for all 2²⁴ colours."""
    g, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    for r0 in range(0, 256, 32):
        r = np.repeat(np.arange(r0, r0 + 32), 65536)
        rgb = np.stack([r, np.tile(g.ravel(), 32), np.tile(b.ravel(), 32)], axis=1)
        od = _OD_LUT[rgb.astype(np.uint8)]
        fast_mean = (od[:, 0] + od[:, 1] + od[:, 2]) / np.float32(3)
        assert np.array_equal(fast_mean, od.mean(axis=1))


def test_far4_equals_the_distance_transform() -> None:
    rng = np.random.default_rng(2)
    for trial in range(60):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        mask = rng.random((h, w)) < (0.5, 0.9, 0.97, 0.995)[trial % 4]
        if not mask.all():
            assert np.array_equal(masks.far4(mask), ndimage.distance_transform_edt(mask) >= 4)


def test_colour_flags_equal_the_per_pixel_checks() -> None:
    """The table lookup gives the bits the checks compute from Pillow's HSV and the OD."""
    rng = np.random.default_rng(3)
    real = np.concatenate([f.rgb.reshape(-1, 3) for f in real_fields()[::5]])
    rgb = np.concatenate([real, rng.integers(0, 256, (200_000, 3), dtype=np.uint8)])
    rgb = rgb[: rgb.shape[0] // 1000 * 1000].reshape(-1, 1000, 3)
    hsv = np.asarray(Image.fromarray(rgb, "RGB").convert("HSV"), dtype=np.float32)
    hue, sat, val = (
        hsv[..., 0] * np.float32(360.0 / 255.0),
        hsv[..., 1] / 255.0,
        hsv[..., 2] / 255.0,
    )
    want = (
        ((val >= 0.82) & (sat <= 0.12)) * masks.WHITE
        | ((sat >= 0.2) & (hue >= 75) & (hue <= 170)) * masks.GREEN
        | ((val < 0.22) & (sat < 0.6)) * masks.BLACK
        | (((sat >= 0.3) & (hue >= 195) & (hue <= 265)) | (val < 0.3)) * masks.INK
        | (_OD_LUT[rgb.reshape(-1, 3)].mean(axis=1) > 0.05).reshape(val.shape) * masks.TISSUE
    )
    index = masks.colour_index(rgb)
    assert np.array_equal(masks.colour_flags(index), want)
    od = _OD_LUT[rgb.reshape(-1, 3)].astype(np.float64)
    assert np.array_equal(masks.channel_od(index.ravel()), od)


def test_order_statistics_equal_numpy() -> None:
    rng = np.random.default_rng(4)
    for n in (2, 3, 4, 5, 50, 51, 1000, 2047, 2048, 15_001, 22_500):
        for x in (rng.random(n), rng.normal(0, 1, n), np.round(rng.random(n), 2)):
            assert median(x) == np.median(x)
            for q in (90, 99):
                assert percentile(x, q) == np.percentile(x, q)


def test_order_statistics_exact_when_the_sample_misleads() -> None:
    """The strided sample sees only the small values: the bounds miss, the answer holds."""
    x = np.zeros(40_000)
    x[1::16] = np.linspace(1.0, 2.0, 2500)  # every value the sample (x[::16]) does not see
    x[::16] = -np.linspace(1.0, 2.0, 2500)
    want = np.sort(x)
    for ranks in ([0], [100, 101], [19_999, 20_000], [39_000, 39_001], [39_999]):
        assert order_statistics(x, ranks) == [float(want[r]) for r in ranks]


def test_column_median_equals_numpy() -> None:
    rng = np.random.default_rng(5)
    for rows in (1, 2, 3, 18, 19):
        x = rng.random((rows, 8)) * 3
        assert np.array_equal(_column_median(x), np.median(x, axis=0))
