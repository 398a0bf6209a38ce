"""Slice geometry and the body/liver phantom of the synthetic MRI studies.

Coordinates are DICOM patient coordinates, **LPS** (x to the patient's left, y posterior,
z superior), in millimetres. A series' voxel ``(i, j, k)`` — ``i`` the column index,
``j`` the row index of a slice, ``k`` the slice index along the slice normal
``cross(row_direction, column_direction)`` — lies at ``affine_lps @ [i, j, k, 1]``. Planted
arrays use this ``[i, j, k]`` (+ ``[v]`` for 4D) layout, so ``array[:, :, k].T`` is the
``PixelData`` of slice ``k`` (DICOM pixel data is row-major: ``[row, column]``).

The phantom is a function of world position: an elliptic body with spine, kidneys,
spleen, aorta/IVC, portal vein, gall bladder and a liver whose shape, texture and signal
depend on the fibrosis stage (texture heterogeneity, fibrotic septa, regenerative nodules
and surface nodularity, right-lobe atrophy and caudate hypertrophy, splenomegaly) and on
the sequence; the scanner adds its own intensity curve, coil shading and Rician noise.
Oblique series therefore sample the same anatomy as axial ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hepatokit.synthetic.mri_protocols import SCANNERS

__all__ = [
    "Geometry",
    "anatomy_for",
    "array_sha256",
    "phantom_volume",
    "planted_on_grid",
    "planted_volume",
]

_PLANES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}


def _rotation(axis: str, degrees: float) -> NDArray[np.float64]:
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _ds(value: float, decimals: int) -> float:
    """Round like the DS string the DICOM writer stores (so truth equals the header)."""
    text = f"{value:.{decimals}f}"
    return float(text) + 0.0


@dataclass(frozen=True)
class Geometry:
    """The slice stack of one series (one part of a series).

    ``pixel_spacing`` is DICOM PixelSpacing: (row spacing, column spacing) in mm;
    ``slice_spacing`` the distance between slice centres (SpacingBetweenSlices),
    ``slice_thickness`` ≤ ``slice_spacing``. ``tilt_deg`` rotates the plane about
    ``tilt_axis`` (LPS x/y/z) through ``center``: 0 gives a pure axial/coronal/sagittal stack.
    """

    rows: int
    columns: int
    slices: int
    pixel_spacing: tuple[float, float]
    slice_spacing: float
    slice_thickness: float
    center: tuple[float, float, float]
    plane: str = "axial"
    tilt_axis: str = "x"
    tilt_deg: float = 0.0

    def directions(self) -> tuple[list[float], list[float], list[float]]:
        """Row direction, column direction (as written in ImageOrientationPatient), normal."""
        rot = _rotation(self.tilt_axis, self.tilt_deg)
        r0, c0 = _PLANES[self.plane]
        row = [_ds(v, 8) for v in rot @ np.array(r0)]
        col = [_ds(v, 8) for v in rot @ np.array(c0)]
        normal = np.cross(np.array(row), np.array(col))
        normal = normal / np.linalg.norm(normal)
        return row, col, [float(v) for v in normal]

    def positions(self) -> list[list[float]]:
        """ImagePositionPatient of each slice, in slice-index order (as written, 6 decimals)."""
        row, col, normal = (np.array(v) for v in self.directions())
        rs, cs = self.pixel_spacing
        origin = (
            np.array(self.center)
            - row * cs * (self.columns - 1) / 2
            - col * rs * (self.rows - 1) / 2
            - normal * self.slice_spacing * (self.slices - 1) / 2
        )
        return [
            [_ds(v, 6) for v in origin + normal * self.slice_spacing * k]
            for k in range(self.slices)
        ]

    def affine_lps(self) -> NDArray[np.float64]:
        """4×4 matrix mapping voxel ``(i, j, k, 1)`` to LPS millimetres."""
        row, col, normal = (np.array(v) for v in self.directions())
        rs, cs = self.pixel_spacing
        aff = np.eye(4)
        aff[:3, 0] = row * cs
        aff[:3, 1] = col * rs
        aff[:3, 2] = normal * self.slice_spacing
        aff[:3, 3] = self.positions()[0]
        return aff

    def world_grid(self) -> NDArray[np.float64]:
        """LPS coordinates of every voxel, shape ``(columns, rows, slices, 3)``."""
        aff = self.affine_lps()
        i, j, k = np.meshgrid(
            np.arange(self.columns), np.arange(self.rows), np.arange(self.slices), indexing="ij"
        )
        ijk = np.stack([i, j, k], axis=-1).astype(np.float64)
        return ijk @ aff[:3, :3].T + aff[:3, 3]

    def to_truth(self) -> dict[str, Any]:
        """The JSON form stored in truth.json (``shape`` is ``[columns, rows, slices]``)."""
        row, col, _ = self.directions()
        return {
            "shape": [self.columns, self.rows, self.slices],
            "rows": self.rows,
            "columns": self.columns,
            "slices": self.slices,
            "plane": self.plane,
            "tilt_axis": self.tilt_axis,
            "tilt_deg": self.tilt_deg,
            "oblique": self.tilt_deg != 0.0,
            "pixel_spacing_mm": list(self.pixel_spacing),
            "slice_spacing_mm": self.slice_spacing,
            "slice_thickness_mm": self.slice_thickness,
            "center_lps": list(self.center),
            "image_orientation_patient": row + col,
            "affine_lps": self.affine_lps().round(6).tolist(),
        }

    @classmethod
    def from_truth(cls, g: Mapping[str, Any]) -> Geometry:
        return cls(
            rows=int(g["rows"]),
            columns=int(g["columns"]),
            slices=int(g["slices"]),
            pixel_spacing=(float(g["pixel_spacing_mm"][0]), float(g["pixel_spacing_mm"][1])),
            slice_spacing=float(g["slice_spacing_mm"]),
            slice_thickness=float(g["slice_thickness_mm"]),
            center=tuple(float(v) for v in g["center_lps"]),  # type: ignore[arg-type]
            plane=str(g["plane"]),
            tilt_axis=str(g["tilt_axis"]),
            tilt_deg=float(g["tilt_deg"]),
        )


def anatomy_for(patient_seed: int, stage: int) -> dict[str, Any]:
    """Per-patient anatomy (mm, LPS) drawn from ``patient_seed``; stage changes the shape."""
    rng = np.random.default_rng([patient_seed, 7])
    s = stage - 1
    j = rng.uniform(-1, 1, size=12)
    return {
        "body_radii": [165 + 12 * j[0], 118 + 10 * j[1]],
        "liver_center": [-55 + 6 * j[2], -8 + 5 * j[3], 18 + 6 * j[4]],
        "liver_radii": [92 * (1 - 0.06 * s), 78 + 4 * j[5], 72 + 5 * j[6]],
        "caudate_center": [-5 + 4 * j[7], 20.0, 25.0],
        "caudate_radius": 26 * (1 + 0.15 * s),
        "spleen_center": [88 + 5 * j[8], 55.0, 30.0],
        "spleen_radii": [30 * (1 + 0.1 * s), 52 * (1 + 0.1 * s), 48 * (1 + 0.08 * s)],
        "waves": rng.uniform(-1, 1, size=(8, 3)).tolist(),
        "wave_lengths": rng.uniform(14, 40, size=8).tolist(),
        "wave_phases": rng.uniform(0, 2 * np.pi, size=8).tolist(),
        "nodules": (rng.uniform(-1, 1, size=(30, 3)) * [70, 60, 55]).tolist(),
        "nodule_count": [0, 0, 6, 30][s],
        "stage": stage,
    }


def _waves(x: NDArray[np.float64], an: Mapping[str, Any]) -> NDArray[Any]:
    """The 8 planar sine waves of the liver texture at ``x``, shape ``(..., 8)``."""
    d = np.asarray(an["waves"], dtype=float)
    k = d / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-9)
    k = k * (2 * np.pi / np.asarray(an["wave_lengths"], dtype=float))[:, None]
    return np.sin(x @ k.T + np.asarray(an["wave_phases"], dtype=float))


# signal of each tissue per role: body, liver (S1), liver change per stage, spleen,
# aorta, portal/IVC, kidney, fluid (bile, gall bladder), spine
_SIGNAL: dict[str, tuple[float, ...]] = {
    "localizer": (300, 380, 0, 330, 250, 250, 300, 200, 150),
    "T2W": (330, 210, 28, 430, 30, 40, 380, 1600, 180),
    "T1W": (260, 520, -28, 380, 150, 150, 300, 80, 200),
    "DWI_low": (150, 420, 12, 650, 20, 30, 520, 900, 80),
    "DWI_high": (40, 140, 32, 300, 5, 10, 220, 120, 20),
    "GED1": (300, 600, 18, 920, 1700, 450, 1100, 80, 220),
    "GED2": (320, 820, -45, 800, 900, 1250, 900, 90, 230),
    "GED3": (320, 860, -55, 700, 650, 700, 700, 110, 230),
    "GED4": (300, 1250, -160, 420, 330, 330, 500, 900, 220),
    "adc": (900, 1300, -120, 850, 2400, 2400, 1900, 3000, 600),
    "mrcp": (15, 40, 4, 60, 10, 10, 80, 2000, 10),
}


def _tissue_signal(role: str, b_value: float | None) -> tuple[float, ...]:
    if role == "DWI":
        return _SIGNAL["DWI_low" if (b_value or 0) < 400 else "DWI_high"]
    return _SIGNAL.get(role, _SIGNAL["GED2"])


def _noise_free(x: NDArray[np.float64], an: Mapping[str, Any], role: str, b: float | None) -> Any:
    """Phantom signal (before the scanner's curve and noise) at LPS points ``x[..., 3]``."""
    if role == "subtraction":
        return np.clip(_noise_free(x, an, "GED1", b) - _noise_free(x, an, "T1W", b), 0, None)
    body_r = an["body_radii"]
    sig = _tissue_signal(role, b)
    s = an["stage"] - 1
    px, py, pz = x[..., 0], x[..., 1], x[..., 2]
    out = np.zeros(x.shape[:-1])
    body = (px / body_r[0]) ** 2 + (py / body_r[1]) ** 2 <= 1.0
    out[body] = sig[0]
    spine = (px**2 + (py - body_r[1] + 30) ** 2) <= 22**2
    out[spine & body] = sig[8]
    for sx in (-70.0, 72.0):
        kid = ((px - sx) / 30) ** 2 + ((py - 62) / 28) ** 2 + ((pz + 55) / 50) ** 2 <= 1
        out[kid] = sig[6]
    sc, sr = an["spleen_center"], an["spleen_radii"]
    spleen = sum(((x[..., a] - sc[a]) / sr[a]) ** 2 for a in range(3)) <= 1
    out[spleen] = sig[3]
    lc, lr = an["liver_center"], an["liver_radii"]
    cc = an["caudate_center"]
    # texture only where the liver can be (its ellipsoid grown by the surface roughness)
    near = sum(((x[..., a] - lc[a]) / lr[a]) ** 2 for a in range(3)) <= 1.6
    near |= sum((x[..., a] - cc[a]) ** 2 for a in range(3)) <= an["caudate_radius"] ** 2
    xn = x[near]
    waves = _waves(xn, an)
    rough = 0.045 * s * waves[:, 4:8].sum(axis=-1) / 2
    liver = sum(((xn[:, a] - lc[a]) / lr[a]) ** 2 for a in range(3)) <= 1 + rough
    liver |= sum((xn[:, a] - cc[a]) ** 2 for a in range(3)) <= an["caudate_radius"] ** 2
    tex = waves[:, 0:4].sum(axis=-1) / 2
    value = (sig[1] + sig[2] * s) * (1 + (0.02 + 0.05 * s) * tex)
    if s >= 2:  # fibrotic septa: dark on T1/HBP, bright on T2/delayed
        septa = np.abs(waves[:, 2:6].sum(axis=-1) / 2) < 0.08 * s
        value = np.where(septa, value * (1.25 if role in ("T2W", "GED3") else 0.8), value)
    for n in an["nodules"][: an["nodule_count"]]:
        nod = sum((xn[:, a] - (lc[a] + n[a])) ** 2 for a in range(3)) <= 9.0**2
        value = np.where(nod, value * 1.12, value)
    region = out[near]
    region[liver] = value[liver]
    out[near] = region
    gb = ((px + 45) / 16) ** 2 + ((py + 45) / 16) ** 2 + ((pz + 25) / 30) ** 2 <= 1
    out[gb] = sig[7]
    aorta = ((px - 15) ** 2 + (py - 45) ** 2) <= 12**2
    ivc = ((px + 22) ** 2 + (py - 38) ** 2) <= 11**2
    portal = ((py - 5) ** 2 + (pz - lc[2] + 5) ** 2 <= 7**2) & (px > lc[0] - 40) & (px < 0)
    out[aorta] = sig[4]
    out[ivc | portal] = sig[5]
    return out


def phantom_volume(params: Mapping[str, Any], geometry: Geometry) -> NDArray[Any]:
    """The stored pixel values of one planted 3D volume, shape ``(columns, rows, slices)``.

    ``params``: ``patient_seed``, ``stage`` (1–4), ``role``, ``b_value`` (DWI) or None,
    ``scanner`` (key of :data:`SCANNERS`), ``noise_seed``, optionally ``motion`` (a planted
    rigid offset: ``motion["matrix_lps"]`` moves the anatomy). Values are the integers stored in
    PixelData (real value = stored × RescaleSlope + RescaleIntercept of the scanner).
    """
    scanner = SCANNERS[str(params["scanner"])]
    an = anatomy_for(int(params["patient_seed"]), int(params["stage"]))
    x = geometry.world_grid()
    if params.get("motion") is not None:  # the anatomy moved by M: sample it at M⁻¹ x
        inv = np.linalg.inv(np.asarray(params["motion"]["matrix_lps"], dtype=float))
        x = x @ inv[:3, :3].T + inv[:3, 3]
    b = params.get("b_value")
    signal = _noise_free(x, an, str(params["role"]), None if b is None else float(b))
    inside = signal > 0
    signal = 1000.0 * (np.clip(signal, 0, None) / 1000.0) ** scanner.gamma
    signal = scanner.intensity_scale * signal + np.where(inside, scanner.intensity_offset, 0.0)
    signal *= 1 + scanner.bias[0] * x[..., 0] / 100 + scanner.bias[1] * x[..., 1] / 100
    rng = np.random.default_rng(int(params["noise_seed"]))
    sigma = scanner.noise_sigma
    n1 = rng.normal(0, sigma, size=signal.shape)
    n2 = rng.normal(0, sigma, size=signal.shape)
    value = np.hypot(signal + n1, n2)
    if scanner.rescale_slope:
        value = value / scanner.rescale_slope
    top = 2**scanner.bits_stored - 1 if not scanner.pixel_signed else 32767
    dtype = np.int16 if scanner.pixel_signed else np.uint16
    return np.clip(np.rint(value), 0, top).astype(dtype)


def planted_volume(series: Mapping[str, Any]) -> NDArray[Any]:
    """Recompute the planted array of a truth.json series entry (3D, or 4D for DWI).

    Layout ``[i, j, k]`` (column, row, slice; slices in ``k`` order along the normal);
    4D DWI adds a last axis over ``b_values`` in ascending order (the InstanceNumber
    order). Its :func:`array_sha256` equals ``series["pixels"]["sha256"]``.
    """
    geometry = Geometry.from_truth(series["geometry"])
    params = dict(series["pixels"]["params"])
    b_values = params.pop("b_values", None)
    if b_values:
        vols = [
            phantom_volume(
                {**params, "b_value": b, "noise_seed": params["noise_seed"] + v}, geometry
            )
            for v, b in enumerate(b_values)
        ]
        return vols[0] if len(vols) == 1 else np.stack(vols, axis=-1)
    return phantom_volume(params, geometry)


def array_sha256(array: NDArray[Any]) -> str:
    """sha256 of the C-order little-endian bytes of ``array`` (dtype as planted)."""
    data = np.ascontiguousarray(array)
    return hashlib.sha256(data.astype(data.dtype.newbyteorder("<")).tobytes()).hexdigest()


def planted_on_grid(
    series: Mapping[str, Any], affine_ras: NDArray[Any], shape: tuple[int, ...]
) -> NDArray[Any]:
    """The planted array of ``series`` re-indexed onto a NIfTI voxel grid.

    ``affine_ras``/``shape`` are those of a converted volume (e.g. dcm2niix output, which
    flips/permutes axes but never resamples). Returns an array of ``shape[:3]`` (+ the
    planted 4th axis) whose voxel ``[a, b, c]`` is the planted voxel at the same place, to
    compare with ``np.asanyarray(img.dataobj)`` (stored values; see ``rescale_slope``).

    Raises ``ValueError`` when the grids are not the same voxels in another axis order.
    """
    planted = planted_volume(series)
    a_lps = np.asarray(series["geometry"]["affine_lps"], dtype=float)
    a_nii = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(affine_ras, dtype=float)
    t = np.linalg.inv(a_lps) @ a_nii  # NIfTI index -> planted index
    perm = np.rint(t[:3, :3])
    off = np.rint(t[:3, 3])
    if not (np.allclose(t[:3, :3], perm, atol=1e-3) and np.allclose(t[:3, 3], off, atol=1e-2)):
        raise ValueError("the NIfTI grid is not a flip/permutation of the planted grid")
    idx = np.indices(tuple(shape[:3])).reshape(3, -1)
    src = (perm.astype(int) @ idx + off.astype(int)[:, None]).astype(int)
    if (src < 0).any() or any((src[a] >= planted.shape[a]).any() for a in range(3)):
        raise ValueError("the NIfTI grid reaches outside the planted volume")
    out = planted[src[0], src[1], src[2]]
    return out.reshape(*shape[:3], *planted.shape[3:])
