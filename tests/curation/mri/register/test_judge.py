"""The pure parts of ``mri register``: judging what the optimiser found against the recipe's
bounds, and the caller's options over the section (no image, no file).

Truth is the motion the test builds (``planted_rigid.rigid``: a rotation of a known angle
about a known axis, a known translation), measured at the reference's centre.
"""

from __future__ import annotations

import numpy as np

from hepatokit.curation.mri.register.config import RegisterConfig
from hepatokit.curation.mri.register.estimate import judge
from hepatokit.curation.mri.register.stage import stage_config
from tests.curation.mri import planted_rigid as pr

#: the reference's centre in RAS mm, and the same point in ITK's LPS world
CENTRE_RAS = np.array([12.0, -30.0, 40.0])
CENTRE_LPS = np.array([-12.0, 30.0, 40.0])


def _about_centre(axis, degrees: float, shift) -> np.ndarray:
    """A rotation about the reference's centre, then a translation of ``shift`` mm."""
    to_origin, back = np.eye(4), np.eye(4)
    to_origin[:3, 3], back[:3, 3] = -CENTRE_RAS, CENTRE_RAS + np.asarray(shift, float)
    return back @ pr.rigid(axis, degrees, (0, 0, 0)) @ to_origin


def test_motion_within_bounds_is_kept() -> None:
    found = _about_centre((0, 0, 1), 6.0, (3.0, 4.0, 0.0))
    r = judge(RegisterConfig(), found, CENTRE_LPS, before=0.40, after=0.55, iterations=17)
    assert r.status == "ok" and r.flags == ()
    assert np.array_equal(r.matrix, found)
    assert abs(r.translation_mm - 5.0) < 1e-9  # |(3, 4, 0)| at the centre
    assert abs(r.rotation_deg - 6.0) < 1e-9
    assert r.iterations == 17


def test_rotation_about_the_centre_moves_it_nowhere() -> None:
    r = judge(RegisterConfig(), _about_centre((1, 1, 0), 9.0, (0, 0, 0)), CENTRE_LPS, 0.4, 0.5, 1)
    assert r.translation_mm < 1e-9 and abs(r.rotation_deg - 9.0) < 1e-9


def test_each_bound_flags_and_keeps_the_identity() -> None:
    cfg = RegisterConfig(max_translation_mm=10.0, max_rotation_deg=15.0, metric_tolerance=0.05)
    cases = {
        ("translation",): (_about_centre((0, 0, 1), 0.0, (0, 11.0, 0)), 0.5),
        ("rotation",): (_about_centre((0, 1, 0), 20.0, (0, 0, 0)), 0.5),
        ("metric_worse",): (_about_centre((0, 0, 1), 2.0, (1, 0, 0)), 0.5 * 0.94),
    }
    for flags, (found, after) in cases.items():
        r = judge(cfg, found, CENTRE_LPS, before=0.5, after=after, iterations=3)
        assert (r.status, r.flags) == ("flagged", flags)
        assert np.array_equal(r.matrix, np.eye(4))
        assert r.found is not None and np.array_equal(r.found, found)
    scaled = np.diag([1.2, 1.0, 1.0, 1.0])  # an affine that grows one axis by 20 %
    r = judge(RegisterConfig(max_translation_mm=1e3), scaled, np.zeros(3), 0.5, 0.5, 3)
    assert r.flags == ("scale",)


def test_caller_options_override_the_section() -> None:
    cfg = RegisterConfig(reference=["GED4", "GED3", "T1W"])
    got = stage_config(cfg, reference="T1W", transform="affine", resample=True)
    assert got.reference == ["T1W", "GED4", "GED3"]  # the caller's first, then the fallbacks
    assert (got.transform, got.resample) == ("affine", True)
    assert stage_config(cfg) == cfg
    assert stage_config(cfg, reference=["T2W", "GED3"]).reference == ["T2W", "GED3", "GED4", "T1W"]
