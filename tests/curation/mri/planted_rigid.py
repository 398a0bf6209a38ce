"""Volumes moved by planted rigid transforms (truth for the registration tests and bench).

The phantom is a function of world position (RAS mm): a body ellipsoid with an
off-centre liver, spleen, kidney and spine of different signal, so that any rotation or
translation changes the image. ``pair`` samples it on a fixed grid and, on a different grid
(other voxel size, orientation, field of view), the same anatomy moved by a planted
transform ``P``, optionally with a T2-like intensity inversion. The volume registration
should find ``P``: ``moving(P @ x) == fixed(x)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np

_ORGANS = (
    # centre (RAS mm), radii (mm), added signal
    ((-25.0, 5.0, 5.0), (38.0, 30.0, 28.0), 160.0),  # liver
    ((42.0, 18.0, 0.0), (15.0, 24.0, 20.0), 320.0),  # spleen
    ((30.0, -28.0, -22.0), (12.0, 12.0, 18.0), 240.0),  # kidney
    ((-5.0, -42.0, 0.0), (9.0, 9.0, 200.0), 420.0),  # spine (a long cylinder-like ellipsoid)
    ((-30.0, 20.0, 22.0), (8.0, 8.0, 8.0), -120.0),  # a vessel / lesion in the liver
)


def _inside(points: np.ndarray, centre, radii, edge: float = 2.0) -> np.ndarray:
    d = (points - np.asarray(centre)) / np.asarray(radii)
    r = np.sqrt((d**2).sum(-1))
    return 1.0 / (1.0 + np.exp((r - 1.0) * min(radii) / edge))


def phantom(points: np.ndarray) -> np.ndarray:
    """Signal at RAS points ``(..., 3)``."""
    body = _inside(points, (0.0, 0.0, 0.0), (82.0, 64.0, 70.0))
    value = 100.0 * body
    for centre, radii, signal in _ORGANS:
        value = value + signal * _inside(points, centre, radii) * body
    return value


def grid_points(affine: np.ndarray, shape) -> np.ndarray:
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def rotation(axis, degrees: float) -> np.ndarray:
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a)
    t = np.radians(degrees)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k


def rigid(axis, degrees: float, translation) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rotation(axis, degrees)
    m[:3, 3] = translation
    return m


FIXED_AFFINE = np.array([[3.0, 0, 0, -96.0], [0, 3.0, 0, -84.0], [0, 0, 4.0, -80.0], [0, 0, 0, 1]])
FIXED_SHAPE = (64, 56, 40)
# another scanner frame: LPS-like axes, other voxel size and field of view
MOVING_AFFINE = np.array(
    [[-2.5, 0, 0, 110.0], [0, -2.5, 0, 95.0], [0, 0, 5.0, -85.0], [0, 0, 0, 1]]
)
MOVING_SHAPE = (88, 76, 34)


@dataclass
class Pair:
    fixed: nib.Nifti1Image
    moving: nib.Nifti1Image
    truth: np.ndarray  # RAS, fixed point -> moving point


def image(
    values: np.ndarray, affine: np.ndarray, rng: np.random.Generator | None
) -> nib.Nifti1Image:
    if rng is not None:
        values = values + rng.normal(0, 4.0, values.shape)
    return nib.Nifti1Image(np.clip(values, 0, None).astype(np.float32), affine)


def pair(
    truth: np.ndarray,
    *,
    invert: bool = True,
    seed: int = 0,
    moving_affine: np.ndarray = MOVING_AFFINE,
    moving_shape: tuple[int, int, int] = MOVING_SHAPE,
) -> Pair:
    """Fixed on ``FIXED_AFFINE``; moving on ``MOVING_AFFINE`` showing the anatomy moved by
    ``truth`` (its world point ``truth @ x`` shows what the fixed shows at ``x``)."""
    rng = np.random.default_rng(seed)
    fixed = phantom(grid_points(FIXED_AFFINE, FIXED_SHAPE))
    y = grid_points(moving_affine, moving_shape)
    inv = np.linalg.inv(truth)
    moved = phantom(y @ inv[:3, :3].T + inv[:3, 3])
    if invert:  # T2-like: bright becomes dark inside the body, air stays dark
        body = moved > 50
        moved = np.where(body, 700.0 - moved, moved)
    return Pair(image(fixed, FIXED_AFFINE, rng), image(moved, moving_affine, rng), truth)


def cases(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` planted transforms: rotations up to 10°, translations up to 20 mm."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        axis = rng.normal(size=3)
        t = rng.normal(size=3)
        t = t / np.linalg.norm(t) * rng.uniform(0, 20)
        out.append(rigid(axis, rng.uniform(0, 10), t))
    return out


def errors(found: np.ndarray, truth: np.ndarray, at=(0.0, 0.0, 0.0)) -> tuple[float, float]:
    """(mm at the point ``at`` — the anatomy's centre —, degrees) between two transforms."""
    p = np.append(np.asarray(at, dtype=float), 1.0)
    mm = float(np.linalg.norm((found @ p)[:3] - (truth @ p)[:3]))
    r = found[:3, :3] @ truth[:3, :3].T
    deg = float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))))
    return mm, deg
