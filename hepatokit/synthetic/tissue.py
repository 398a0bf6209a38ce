"""H&E-like tissue textures for the seven HepatoBench classes.

A texture is rendered as two stain *density* maps (hematoxylin ``H`` and eosin ``E``, in
optical-density units per stain) and turned into RGB with the Beer–Lambert law
``I = I0 · exp(-(H·h + E·e))`` with per-slide stain vectors ``h``, ``e`` (Ruifrok & Johnston
vectors, perturbed per slide) — so stain variation between slides and off-stain failures are
physical, and colour-deconvolution QC sees what it would see on real scans.

Geometry is random per patch (positions, orientations, sizes), so distinct patches have
distinct perceptual hashes. Feature sizes are in pixels at 20× (0.5 µm/px) and multiplied by
``scale`` (2 for a 40× slide), so a 300 px tile of a 40× slide resized to 150 px looks like a
20× patch.

Class textures: TUM dense large pleomorphic dark nuclei in thick trabeculae; FIB wavy pink
collagen with sparse spindle nuclei; INF crowded small round dark lymphocytes; NEC pale
eosinophilic granular debris with nuclear dust; NOR hepatocyte cords (polygonal cells, one
round nucleus) between white sinusoids; REA small ductules (rings of cuboidal nuclei around a
lumen) in loose inflamed stroma; STE hepatocytes with large round white fat vacuoles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from hepatokit.synthetic import tissue_shapes as shapes

__all__ = [
    "CLASSES",
    "Stain",
    "compose_rgb",
    "default_stain",
    "render_densities",
    "render_tissue",
    "slide_stain",
]

CLASSES: tuple[str, ...] = ("TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE")

_H_REF = np.array([0.650, 0.704, 0.286])
_E_REF = np.array([0.12, 0.95, 0.28])

Array = np.ndarray


@dataclass(frozen=True)
class Stain:
    """Stain appearance of one slide.

    ``h_vec``/``e_vec``: unit optical-density vectors (R, G, B) of hematoxylin and eosin;
    ``h_scale``/``e_scale``: multipliers of the densities (staining strength);
    ``white``: the RGB of empty glass (I0, 0–255).
    """

    h_vec: tuple[float, float, float]
    e_vec: tuple[float, float, float]
    h_scale: float = 1.0
    e_scale: float = 1.0
    white: tuple[float, float, float] = (244.0, 243.0, 246.0)


def default_stain() -> Stain:
    """The reference stain (unperturbed Ruifrok vectors, neutral white)."""
    h = _H_REF / np.linalg.norm(_H_REF)
    e = _E_REF / np.linalg.norm(_E_REF)
    return Stain(_tuple3(h), _tuple3(e))


def slide_stain(rng: np.random.Generator) -> Stain:
    """A plausible per-slide stain: vectors jittered, strengths 0.85–1.2, white 234–250."""
    h = np.clip(_H_REF + rng.normal(0, 0.035, 3), 0.05, None)
    e = np.clip(_E_REF + rng.normal(0, 0.035, 3), 0.02, None)
    base = rng.uniform(236, 249)
    white = np.clip(base + rng.normal(0, 2.0, 3), 228, 252)
    return Stain(
        _tuple3(h / np.linalg.norm(h)),
        _tuple3(e / np.linalg.norm(e)),
        h_scale=float(rng.uniform(0.85, 1.2)),
        e_scale=float(rng.uniform(0.85, 1.2)),
        white=_tuple3(white),
    )


def _tuple3(v: Array) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


def compose_rgb(
    h_density: Array, e_density: Array, stain: Stain, rng: np.random.Generator, noise: float = 2.5
) -> Array:
    """Beer–Lambert RGB (``uint8``, shape ``(H, W, 3)``) of two density maps of shape ``(H, W)``."""
    hv = np.asarray(stain.h_vec, np.float32) * np.float32(stain.h_scale)
    ev = np.asarray(stain.e_vec, np.float32) * np.float32(stain.e_scale)
    od = h_density[..., None] * hv + e_density[..., None] * ev
    rgb = np.asarray(stain.white, np.float32) * np.exp(-od)
    if noise > 0:
        rgb += rng.standard_normal(rgb.shape, dtype=np.float32) * np.float32(noise)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- classes


def _hepatocytes(
    rng: np.random.Generator, h: int, w: int, s: float, *, tumor: bool
) -> tuple[Array, Array]:
    spacing = (rng.uniform(15, 19) if tumor else rng.uniform(21, 27)) * s
    sx, sy, d1, d2 = shapes.voronoi(rng, h, w, spacing)
    membrane = np.clip(1.0 - (d2 - d1) / (3.0 * s), 0, 1) ** 2
    period = (rng.uniform(70, 110) if tumor else rng.uniform(40, 56)) * s
    phase = shapes.bands(rng, h, w, period, rng.uniform(6, 14) * s, s)
    sin_w = (rng.uniform(3.0, 4.5) if tumor else rng.uniform(4.5, 7.5)) * s / period
    sinusoid = np.clip(1.0 - np.abs(phase - 0.5) / (sin_w / 2), 0, 1) ** 0.5
    cyto = (0.42 if tumor else 0.5) + 0.1 * shapes.texture(rng, h, w, 1.2 * s)
    cyto = cyto * (1 + 0.12 * shapes.smooth(rng, h, w, 50 * s))
    e = cyto + 0.35 * membrane
    hd = (0.16 if tumor else 0.04) + 0.04 * shapes.texture(rng, h, w, 2.0 * s)
    keep = np.ones(len(sx), bool)
    ix = np.clip(sx.astype(int), 0, w - 1)
    iy = np.clip(sy.astype(int), 0, h - 1)
    keep &= sinusoid[iy, ix] < 0.2
    jx = sx[keep] + rng.normal(0, 1.2 * s, keep.sum()).astype(np.float32)
    jy = sy[keep] + rng.normal(0, 1.2 * s, keep.sum()).astype(np.float32)
    if tumor:
        nuc = shapes.round_nuclei(rng, h, w, jx, jy, (5.0 * s, 8.5 * s), (1.4, 2.0), (0.65, 1.0))
        nx, ny = jx + rng.normal(0, 1.5 * s, len(jx)), jy + rng.normal(0, 1.5 * s, len(jy))
        nucleoli = shapes.round_nuclei(rng, h, w, nx, ny, (0.9 * s, 1.5 * s), (0.8, 1.2))
        nuc = nuc + nucleoli * (nuc > 0)
    else:
        nuc = shapes.round_nuclei(rng, h, w, jx, jy, (3.8 * s, 5.2 * s), (0.95, 1.35), (0.85, 1.0))
        pick = rng.random(len(jx)) < 0.08  # binucleate hepatocytes
        nuc = shapes.ellipses(
            h,
            w,
            jx[pick] + 7 * s,
            jy[pick],
            np.full(pick.sum(), 4.0 * s, np.float32),
            np.full(pick.sum(), 3.8 * s, np.float32),
            np.zeros(pick.sum(), np.float32),
            np.full(pick.sum(), 1.1, np.float32),
            canvas=nuc,
        )
    nuc = gaussian_filter(nuc, 0.6 * s) * (1 + 0.25 * shapes.texture(rng, h, w, 0.8 * s))
    # sinusoidal lining cells: flat elongated nuclei along the sinusoids
    n_lin = shapes.count(6 if not tumor else 3, h, w, s)
    lx, ly = shapes.uniform_points(rng, h, w, n_lin * 6)
    on = sinusoid[np.clip(ly.astype(int), 0, h - 1), np.clip(lx.astype(int), 0, w - 1)] > 0.6
    lx, ly = lx[on][:n_lin], ly[on][:n_lin]
    lining = shapes.ellipses(
        h,
        w,
        lx,
        ly,
        rng.uniform(3.5 * s, 5 * s, len(lx)).astype(np.float32),
        rng.uniform(1.0 * s, 1.6 * s, len(lx)).astype(np.float32),
        rng.uniform(0, np.pi, len(lx)).astype(np.float32),
        rng.uniform(1.2, 1.6, len(lx)).astype(np.float32),
    )
    open_ = 1.0 - sinusoid
    hd = hd * open_ + nuc * open_ + lining
    e = (
        e * open_
        + 0.05
        + 0.15 * sinusoid * (rng.random() < 0.5) * (shapes.smooth(rng, h, w, 6 * s) > 0.5)
    )
    return hd.astype(np.float32), e.astype(np.float32)


def _tum(rng: np.random.Generator, h: int, w: int, s: float) -> tuple[Array, Array]:
    return _hepatocytes(rng, h, w, s, tumor=True)


def _nor(rng: np.random.Generator, h: int, w: int, s: float) -> tuple[Array, Array]:
    return _hepatocytes(rng, h, w, s, tumor=False)


def _ste(rng: np.random.Generator, h: int, w: int, s: float) -> tuple[Array, Array]:
    hd, e = _hepatocytes(rng, h, w, s, tumor=False)
    target = rng.uniform(0.3, 0.6)
    n = shapes.count(60, h, w, s)
    cx, cy = shapes.uniform_points(rng, h, w, n)
    r = (rng.uniform(7, 21, n) * s).astype(np.float32)
    order = np.argsort(-r)
    cx, cy, r = cx[order], cy[order], r[order]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    fat = np.zeros((h, w), bool)
    rim = np.zeros((h, w), np.float32)
    fat_px, goal = 0, target * h * w
    for i in range(n):
        if fat_px >= goal:
            break
        x0, x1 = int(max(0, cx[i] - r[i] - 2)), int(min(w, cx[i] + r[i] + 3))
        y0, y1 = int(max(0, cy[i] - r[i] - 2)), int(min(h, cy[i] + r[i] + 3))
        if x0 >= x1 or y0 >= y1:
            continue
        d = np.hypot(xx[y0:y1, x0:x1] - cx[i], yy[y0:y1, x0:x1] - cy[i])
        window = fat[y0:y1, x0:x1]
        if window[d < r[i] + s].any():
            continue  # vacuoles touch but do not overlap
        fat_px += int((d < r[i]).sum())
        window |= d < r[i]
        rim[y0:y1, x0:x1] = np.maximum(rim[y0:y1, x0:x1], np.clip(1 - np.abs(d - r[i]) / s, 0, 1))
    keep = ~fat
    hd = hd * keep + 0.25 * rim
    e = e * keep + 0.03 * fat + 0.3 * rim
    return hd.astype(np.float32), e.astype(np.float32)


def _fib(rng: np.random.Generator, h: int, w: int, s: float) -> tuple[Array, Array]:
    lam = rng.uniform(5, 11) * s
    phase = shapes.bands(rng, h, w, lam, rng.uniform(10, 24) * s, s)
    fibres = (0.5 + 0.5 * np.cos(2 * np.pi * phase)) ** 1.5
    bundle = 0.5 + 0.5 * shapes.smooth(rng, h, w, 30 * s)
    e = 0.22 + 0.55 * fibres * bundle + 0.08 * shapes.texture(rng, h, w, 0.8 * s)
    clefts = (shapes.smooth(rng, h, w, 22 * s) < -0.35) & (np.cos(2 * np.pi * phase) < -0.6)
    e = np.where(clefts, e * 0.3, e)
    n = shapes.count(rng.uniform(8, 18), h, w, s)
    cx, cy = shapes.uniform_points(rng, h, w, n)
    theta = rng.uniform(0, np.pi) + rng.normal(0, 0.25, n)
    grad = np.arctan2(*np.gradient(gaussian_filter(phase, 2 * s)))  # fibres run across grad
    ix, iy = np.clip(cx.astype(int), 0, w - 1), np.clip(cy.astype(int), 0, h - 1)
    theta = np.where(rng.random(n) < 0.8, grad[iy, ix] + np.pi / 2, theta).astype(np.float32)
    nuc = shapes.ellipses(
        h,
        w,
        cx,
        cy,
        rng.uniform(5 * s, 9 * s, n).astype(np.float32),
        rng.uniform(1.2 * s, 2.1 * s, n).astype(np.float32),
        theta,
        rng.uniform(1.3, 1.7, n).astype(np.float32),
    )
    lx, ly = shapes.uniform_points(rng, h, w, shapes.count(rng.uniform(0, 6), h, w, s))
    lymph = shapes.round_nuclei(rng, h, w, lx, ly, (2.6 * s, 3.4 * s), (1.6, 2.0))
    hd = 0.03 + gaussian_filter(nuc + lymph, 0.5 * s)
    return hd.astype(np.float32), e.astype(np.float32)


def _inf(rng: np.random.Generator, h: int, w: int, s: float) -> tuple[Array, Array]:
    e = 0.24 + 0.08 * shapes.smooth(rng, h, w, 25 * s) + 0.06 * shapes.texture(rng, h, w, 1.0 * s)
    n = shapes.count(rng.uniform(140, 260), h, w, s)
    k = max(1, shapes.count(rng.uniform(2, 5), h, w, s))
    centres_x, centres_y = shapes.uniform_points(rng, h, w, k)
    which = rng.integers(0, k, n)
    clustered = rng.random(n) < 0.65
    ux, uy = shapes.uniform_points(rng, h, w, n)
    cx = np.where(clustered, centres_x[which] + rng.normal(0, 28 * s, n), ux).astype(np.float32)
    cy = np.where(clustered, centres_y[which] + rng.normal(0, 28 * s, n), uy).astype(np.float32)
    nuc = shapes.round_nuclei(rng, h, w, cx, cy, (2.5 * s, 3.8 * s), (1.6, 2.2), (0.85, 1.0))
    nuc = gaussian_filter(nuc, 0.5 * s) * (1 + 0.15 * shapes.texture(rng, h, w, 0.7 * s))
    hd = 0.05 + nuc
    return hd.astype(np.float32), e.astype(np.float32)


def _nec(rng: np.random.Generator, h: int, w: int, s: float) -> tuple[Array, Array]:
    blot = shapes.smooth(rng, h, w, 7 * s)
    e = (
        0.42
        + 0.16 * blot
        + 0.1 * shapes.texture(rng, h, w, 0.9 * s)
        + 0.1 * shapes.smooth(rng, h, w, 35 * s)
    )
    hd = 0.1 + 0.07 * shapes.smooth(rng, h, w, 12 * s)
    n = shapes.count(rng.uniform(40, 110), h, w, s)
    cx, cy = shapes.uniform_points(rng, h, w, n)
    dust = shapes.round_nuclei(rng, h, w, cx, cy, (0.7 * s, 2.0 * s), (1.0, 1.9), (0.5, 1.0))
    gx, gy = shapes.uniform_points(rng, h, w, shapes.count(rng.uniform(8, 20), h, w, s))
    ghosts = shapes.round_nuclei(rng, h, w, gx, gy, (4 * s, 6 * s), (0.18, 0.32))
    hd = hd + gaussian_filter(dust, 0.4 * s) + gaussian_filter(ghosts, 1.0 * s)
    for _ in range(int(rng.integers(0, 3))):  # cracks in the necrotic debris
        phase = shapes.bands(rng, h, w, rng.uniform(60, 140) * s, 12 * s, s)
        crack = np.abs(phase - 0.5) < 0.8 * s / 100
        e = np.where(crack, 0.05, e)
        hd = np.where(crack, 0.0, hd)
    return np.clip(hd, 0, None).astype(np.float32), np.clip(e, 0, None).astype(np.float32)


def _rea(rng: np.random.Generator, h: int, w: int, s: float) -> tuple[Array, Array]:
    phase = shapes.bands(rng, h, w, rng.uniform(7, 12) * s, rng.uniform(10, 20) * s, s)
    e = (
        0.22
        + 0.22 * (0.5 + 0.5 * np.cos(2 * np.pi * phase))
        + 0.07 * shapes.texture(rng, h, w, 1.0 * s)
    )
    hd = np.full((h, w), 0.05, np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    n_ducts = shapes.count(rng.uniform(5, 9), h, w, s)
    placed: list[tuple[float, float, float]] = []
    nx_all: list[Array] = []
    ny_all: list[Array] = []
    na_all: list[Array] = []
    for _ in range(n_ducts * 8):
        if len(placed) >= n_ducts:
            break
        lumen = rng.uniform(2.5, 5.5) * s
        outer = lumen + rng.uniform(6.5, 8.5) * s
        cx, cy = rng.uniform(-5, w + 5), rng.uniform(-5, h + 5)
        if any(np.hypot(cx - px, cy - py) < outer + po + 3 * s for px, py, po in placed):
            continue
        placed.append((cx, cy, outer))
        x0, x1 = int(max(0, cx - outer - 1)), int(min(w, cx + outer + 2))
        y0, y1 = int(max(0, cy - outer - 1)), int(min(h, cy + outer + 2))
        epi = 0.5 + 0.08 * rng.standard_normal()
        if x0 < x1 and y0 < y1:
            d = np.hypot(xx[y0:y1, x0:x1] - cx, yy[y0:y1, x0:x1] - cy)
            ew, hw = e[y0:y1, x0:x1], hd[y0:y1, x0:x1]
            ew[(d >= lumen) & (d < outer)] = epi
            ew[d < lumen] = 0.03
            hw[d < outer] = 0.08
        k = int(rng.integers(6, 11))
        ang = rng.uniform(0, 2 * np.pi) + np.arange(k) * 2 * np.pi / k
        rad = lumen + 3.3 * s
        nx_all.append((cx + rad * np.cos(ang)).astype(np.float32))
        ny_all.append((cy + rad * np.sin(ang)).astype(np.float32))
        na_all.append((ang + np.pi / 2).astype(np.float32))  # flattened along the ring
    if nx_all:
        nx, ny, ang = np.concatenate(nx_all), np.concatenate(ny_all), np.concatenate(na_all)
        nuc = shapes.ellipses(
            h,
            w,
            nx,
            ny,
            rng.uniform(2.6 * s, 3.3 * s, len(nx)).astype(np.float32),
            rng.uniform(2.0 * s, 2.5 * s, len(nx)).astype(np.float32),
            ang.astype(np.float32),
            rng.uniform(1.3, 1.7, len(nx)).astype(np.float32),
        )
        hd = hd + gaussian_filter(nuc, 0.5 * s)
    lx, ly = shapes.uniform_points(rng, h, w, shapes.count(rng.uniform(10, 35), h, w, s))
    hd = hd + gaussian_filter(
        shapes.round_nuclei(rng, h, w, lx, ly, (2.5 * s, 3.4 * s), (1.6, 2.0)), 0.5
    )
    sx, sy = shapes.uniform_points(rng, h, w, shapes.count(rng.uniform(3, 8), h, w, s))
    spindle = shapes.ellipses(
        h,
        w,
        sx,
        sy,
        rng.uniform(5 * s, 8 * s, len(sx)).astype(np.float32),
        rng.uniform(1.3 * s, 2 * s, len(sx)).astype(np.float32),
        rng.uniform(0, np.pi, len(sx)).astype(np.float32),
        rng.uniform(1.2, 1.6, len(sx)).astype(np.float32),
    )
    return (hd + spindle).astype(np.float32), e.astype(np.float32)


_RENDERERS: dict[str, Callable[[np.random.Generator, int, int, float], tuple[Array, Array]]] = {
    "TUM": _tum,
    "FIB": _fib,
    "INF": _inf,
    "NEC": _nec,
    "NOR": _nor,
    "REA": _rea,
    "STE": _ste,
}


def render_densities(
    cls: str, rng: np.random.Generator, height: int, width: int, scale: float = 1.0
) -> tuple[Array, Array]:
    """Hematoxylin and eosin density maps (float32, ``(height, width)``) of one class texture.

    Parameters
    ----------
    cls
        One of :data:`CLASSES`.
    scale
        Pixels per 20×-pixel: 1 at 0.5 µm/px, 2 at 0.25 µm/px (40×).
    """
    try:
        fn = _RENDERERS[cls]
    except KeyError:
        raise ValueError(f"unknown tissue class {cls!r}; expected one of {CLASSES}") from None
    hd, e = fn(rng, height, width, scale)
    field = 1.0 + 0.12 * shapes.smooth(rng, height, width, 60 * scale)  # section thickness
    return np.clip(hd * field, 0, None), np.clip(e * field, 0, None)


def render_tissue(
    cls: str,
    rng: np.random.Generator,
    stain: Stain,
    height: int = 150,
    width: int = 150,
    scale: float = 1.0,
) -> Array:
    """An RGB ``uint8`` image ``(height, width, 3)`` of class ``cls`` stained with ``stain``."""
    hd, e = render_densities(cls, rng, height, width, scale)
    return compose_rgb(hd, e, stain, rng)
