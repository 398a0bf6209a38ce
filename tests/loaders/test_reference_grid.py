"""``grid="reference"``: every sequence resampled into the reference sequence's grid.

Truth: the planted phantom (a bright spleen at a known world position) and the planted
rigid transform of ``tests.curation.mri.planted_rigid``; the reference resampling is
SimpleITK's own ``Resample`` of the same volume through the same transform.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from hepatokit.loaders.lifs_torch import LifsVolumeTransform
from tests.curation.mri import planted_rigid as pr

SPACING = (3.0, 3.0, 3.0)
SIZE = (64, 56, 54)


def _centroid(volume: np.ndarray, threshold: float) -> np.ndarray:
    idx = np.argwhere(volume > threshold)
    assert len(idx) > 20
    return idx.mean(axis=0)


def _example(truth: np.ndarray, *, stored: bool) -> dict:
    moved = pr.pair(truth, invert=False, seed=1)
    still = pr.pair(np.eye(4), invert=False, seed=2)
    return {
        "subject_id": "s",
        "GED4": moved.fixed,  # the reference, on the fixed grid
        "GED1": moved.moving,  # moved anatomy, other scanner grid
        "T1W": still.moving,  # same anatomy, other scanner grid, not moved
        "T2W": None,
        "transform_GED1": truth.ravel().tolist() if stored else None,
        "registration_reference": "GED4",
    }


def test_channels_overlay_on_the_reference_grid() -> None:
    truth = pr.rigid((0.3, 1.0, 0.2), 8.0, (12.0, -9.0, 6.0))
    t = LifsVolumeTransform(
        ("T1W", "T2W", "GED1", "GED4"),
        spacing=SPACING,
        spatial_size=SIZE,
        normalize="none",
        grid="reference",
    )
    out = t(_example(truth, stored=True))
    image = out["image"].numpy()
    assert image.shape == (4, *SIZE)
    assert out["mask"].tolist() == [True, False, True, True]
    assert not image[1].any()
    spleen = 100 + 320 * 0.8  # body + most of the spleen's signal
    ref_c = _centroid(image[3], spleen)
    for ch in (0, 2):  # T1W (scanner frames agree) and GED1 (through the stored transform)
        assert np.abs(_centroid(image[ch], spleen) - ref_c).max() <= 1.0
    # without the stored transform the moved sequence does not overlay
    raw = t(_example(truth, stored=False))["image"].numpy()
    assert np.abs(_centroid(raw[2], spleen) - ref_c).max() > 2.0


def _sitk_image(img) -> sitk.Image:
    from hepatokit.curation.mri.register.images import to_sitk

    return to_sitk(img)


def test_resampling_matches_simpleitk() -> None:
    truth = pr.rigid((1.0, -0.5, 0.2), 6.0, (-8.0, 5.0, 10.0))
    ex = _example(truth, stored=True)
    t = LifsVolumeTransform(
        ("GED1", "GED4"), spacing=SPACING, spatial_size=SIZE, normalize="none", grid="reference"
    )
    affine, shape = t.reference_grid(ex["GED4"])
    ours = t.on_grid(ex["GED1"], affine, ex["transform_GED1"]).numpy()
    # the same grid and transform in SimpleITK (LPS world)
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    aff = flip @ np.asarray(affine, dtype=np.float64)
    spacing = np.linalg.norm(aff[:3, :3], axis=0)
    grid = sitk.Image([int(n) for n in shape], sitk.sitkFloat32)
    grid.SetSpacing(spacing.tolist())
    grid.SetDirection((aff[:3, :3] / spacing).ravel().tolist())
    grid.SetOrigin(aff[:3, 3].tolist())
    m = flip @ truth @ flip
    tx = sitk.AffineTransform(3)
    tx.SetMatrix(m[:3, :3].ravel().tolist())
    tx.SetTranslation(m[:3, 3].tolist())
    ref = sitk.Resample(_sitk_image(ex["GED1"]), grid, tx, sitk.sitkLinear, 0.0)
    expected = sitk.GetArrayFromImage(ref).transpose(2, 1, 0)
    assert ours.shape == expected.shape
    inside = expected > 0  # away from the field-of-view border (zero padding on both sides)
    rel = np.abs(ours - expected)[inside].mean() / expected[inside].mean()
    assert rel < 0.01, rel
    assert np.corrcoef(ours.ravel(), expected.ravel())[0, 1] > 0.999


def test_reference_fallback_and_missing_reference() -> None:
    truth = np.eye(4)
    ex = _example(truth, stored=False)
    ex.pop("registration_reference")
    ex["GED4"] = None  # falls back to GED3 → T1W
    t = LifsVolumeTransform(
        ("T1W", "GED1"), spacing=SPACING, spatial_size=SIZE, normalize="zscore", grid="reference"
    )
    out = t(ex)["image"].numpy()
    assert out.shape == (2, *SIZE)
    assert abs(out[0].mean()) < 1e-3 and abs(out[0].std() - 1) < 1e-2  # zscore on the grid
    t = LifsVolumeTransform(("GED1",), grid="reference", reference=("GED4",))
    from hepatokit.errors import DataFormatError

    with pytest.raises(DataFormatError, match="reference"):
        t(ex)
