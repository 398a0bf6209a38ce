"""The fast QC scores equal the previous implementation (``oracle_measures``), exactly.

The oracle is the former ``qc_scores`` copied verbatim; the scores are compared as the
dataclasses the build tables are written from (every field, ``==`` on floats), on every
real H&E field of ``tests/data/real_he``, on artefacts planted on them, and on the whole
synthetic raw set. The exact shortcuts of :mod:`hepatokit.curation.patho.qc.masks` are
checked against the scipy / numpy steps they replace.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from hepatokit.curation.patho.qc import masks
from hepatokit.curation.patho.qc.measures import (
    _OD_LUT,
    _column_median,
    _thick,
    qc_scores,
)
from hepatokit.curation.patho.qc.order import median, order_statistics, percentile
from tests.curation.patho.helpers import he_patch
from tests.curation.patho.qc.oracle_measures import _thick as _thick_reference, qc_scores_reference
from tests.real_he import ARTEFACTS, plant, real_fields


def _mismatches(arrays: list[np.ndarray]) -> list[tuple[int, object, object]]:
    out = []
    for i, rgb in enumerate(arrays):
        fast, ref = qc_scores(rgb), qc_scores_reference(rgb)
        if fast != ref:
            out.append((i, fast, ref))
    return out


def test_equal_to_reference_on_every_real_field() -> None:
    fields = [f.rgb for f in real_fields()]
    assert len(fields) >= 349
    assert _mismatches(fields) == []


@pytest.mark.parametrize("kind", sorted(ARTEFACTS))
def test_equal_to_reference_on_artefacts_planted_on_real_tissue(kind: str) -> None:
    rng = np.random.default_rng(100 + sorted(ARTEFACTS).index(kind))
    clean = [f.rgb for f in real_fields() if f.clean]
    planted = [plant(rgb, kind, rng) for rgb in clean[::4]]
    assert _mismatches(planted) == []


def test_equal_to_reference_on_the_synthetic_raw_set(patho_raw: Path) -> None:
    arrays = []
    for path in sorted((patho_raw / "patches").rglob("*"))[::2]:
        try:
            with Image.open(io.BytesIO(path.read_bytes())) as im:
                arrays.append(np.asarray(im.convert("RGB")))
        except Exception:  # the planted corrupt / non-image files
            continue
    assert len(arrays) >= 250
    assert _mismatches(arrays) == []


def test_equal_to_reference_on_edge_cases() -> None:
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
    assert _mismatches(cases) == []


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


def test_channel_sums_equal_the_axis_reductions_on_every_colour() -> None:
    """``mean(axis=1)`` and ``linalg.norm(axis=1)`` of the OD triplets, written as channel
    sums in ``_stain_scores``, give the same floats for all 2²⁴ colours."""
    g, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    for r0 in range(0, 256, 32):
        r = np.repeat(np.arange(r0, r0 + 32), 65536)
        rgb = np.stack([r, np.tile(g.ravel(), 32), np.tile(b.ravel(), 32)], axis=1)
        od = _OD_LUT[rgb.astype(np.uint8)]
        fast_mean = (od[:, 0] + od[:, 1] + od[:, 2]) / np.float32(3)
        assert np.array_equal(fast_mean, od.mean(axis=1))
        t = od.astype(np.float64)
        sq = t * t
        assert np.array_equal(np.sqrt(sq[:, 0] + sq[:, 1] + sq[:, 2]), np.linalg.norm(t, axis=1))


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
        x = rng.random((rows, 8)).astype(np.float32) * np.float32(3)
        got = _column_median(x)
        assert got.dtype == np.float32
        assert np.array_equal(got, np.median(x, axis=0))
