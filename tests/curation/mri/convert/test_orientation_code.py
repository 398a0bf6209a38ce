"""The sidecar's orientation code equals nibabel's ``aff2axcodes`` (truth: nibabel), on
every signed permutation of the axes with random zooms and shifts, on oblique and
degenerate affines (nibabel's own path), and on the volumes of a converted build."""

from __future__ import annotations

import itertools

import nibabel as nib
import numpy as np

from hepatokit.curation.mri.convert.sidecar import orientation_code


def _nibabel(affine: np.ndarray) -> str:
    return "".join(c or "?" for c in nib.aff2axcodes(affine))


def test_signed_permutations_with_random_zooms() -> None:
    rng = np.random.default_rng(3)
    n = 0
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((-1.0, 1.0), repeat=3):
            zoom_sets = [[1.0, 1.0, 1.0], [0.7, 0.7, 3.0], rng.uniform(1e-3, 1e3, 3),
                         [1e-90, 5.0, 1e90], rng.uniform(0.1, 9, 3).astype(np.float32)]  # fmt: skip
            for zooms in zoom_sets:
                affine = np.eye(4)
                affine[:3, :3] = 0
                for col, row in enumerate(perm):
                    affine[row, col] = signs[col] * float(zooms[col])
                affine[:3, 3] = rng.normal(0, 100, 3)
                assert orientation_code(affine) == _nibabel(affine), affine
                n += 1
    assert n == 6 * 8 * 5


def test_oblique_and_degenerate_affines_as_nibabel() -> None:
    rng = np.random.default_rng(5)
    cases = [np.diag([1.0, 0.0, 2.0, 1.0]), np.diag([0.0, 0.0, 0.0, 1.0]),
             np.diag([1e-200, 1.0, 1.0, 1.0]), np.diag([np.nan, 1.0, 1.0, 1.0])]  # fmt: skip
    for _ in range(200):
        affine = np.eye(4)
        affine[:3, :3] = rng.normal(0, 1, (3, 3)) * (rng.random((3, 3)) < 0.7)
        cases.append(affine)
    for affine in cases:
        try:
            want = _nibabel(affine)
        except Exception:  # nibabel fails (NaN): so does the sidecar
            continue
        assert orientation_code(affine) == want, affine


def test_converted_volumes(curated_lifs) -> None:
    volumes = sorted(curated_lifs.build.glob("volumes/*/*.nii.gz"))
    assert volumes
    for path in volumes:
        affine = nib.load(path).header.get_best_affine()
        assert orientation_code(affine) == _nibabel(affine)
