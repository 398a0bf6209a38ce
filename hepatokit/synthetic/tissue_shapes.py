"""Drawing primitives of the synthetic tissue textures (smooth noise, nuclei, cells, bands).

Sizes are in pixels; the texture module scales them. Everything draws from the given
``numpy.random.Generator`` only, so a texture is a pure function of its seed.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter

__all__ = [
    "bands",
    "count",
    "ellipses",
    "grid_points",
    "round_nuclei",
    "smooth",
    "texture",
    "uniform_points",
    "voronoi",
]

Array = np.ndarray


def smooth(rng: np.random.Generator, h: int, w: int, cell: float) -> Array:
    """Smooth noise in [-1, 1] with features about ``cell`` pixels wide (bicubic upsampling)."""
    gh, gw = max(2, int(np.ceil(h / cell)) + 2), max(2, int(np.ceil(w / cell)) + 2)
    grid = rng.uniform(-1, 1, (gh, gw)).astype(np.float32)
    big = Image.fromarray(grid).resize((int(gw * cell), int(gh * cell)), Image.Resampling.BICUBIC)
    oy = int(rng.integers(0, max(1, big.size[1] - h)))
    ox = int(rng.integers(0, max(1, big.size[0] - w)))
    arr = np.asarray(big, np.float32)[oy : oy + h, ox : ox + w]
    return np.clip(arr, -1, 1)


def ellipses(
    h: int,
    w: int,
    cx: Array,
    cy: Array,
    a: Array,
    b: Array,
    theta: Array,
    value: Array,
    canvas: Array | None = None,
    verts: int = 14,
) -> Array:
    """Draw filled rotated ellipses (value per ellipse) into a float32 ``(h, w)`` map."""
    img = Image.fromarray(
        np.zeros((h, w), np.float32) if canvas is None else canvas.astype(np.float32)
    )
    if len(cx):
        draw = ImageDraw.Draw(img)
        t = np.linspace(0, 2 * np.pi, verts, endpoint=False)
        ct, st = np.cos(theta)[:, None], np.sin(theta)[:, None]
        ex, ey = a[:, None] * np.cos(t), b[:, None] * np.sin(t)
        xs = cx[:, None] + ex * ct - ey * st
        ys = cy[:, None] + ex * st + ey * ct
        for i in range(len(cx)):
            draw.polygon(
                list(zip(xs[i].tolist(), ys[i].tolist(), strict=True)), fill=float(value[i])
            )
    return np.asarray(img, np.float32).copy()


def grid_points(
    rng: np.random.Generator, h: int, w: int, spacing: float, jitter: float
) -> tuple[Array, Array]:
    """Jittered grid points (a cheap blue-noise layout) covering a margin around the image."""
    ys = np.arange(-spacing, h + spacing, spacing)
    xs = np.arange(-spacing, w + spacing, spacing)
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    gy = gy + rng.uniform(0, spacing) + rng.normal(0, jitter * spacing, gy.shape)
    gx = gx + rng.uniform(0, spacing) + rng.normal(0, jitter * spacing, gx.shape)
    return gx.ravel().astype(np.float32), gy.ravel().astype(np.float32)


def voronoi(
    rng: np.random.Generator, h: int, w: int, spacing: float
) -> tuple[Array, Array, Array, Array]:
    """Polygonal cells: seeds on a jittered grid, per-pixel distance to nearest and 2nd seed.

    Returns seed x, seed y, ``d1`` and ``d2`` maps (pixels).
    """
    ny, nx = int(np.ceil(h / spacing)) + 2, int(np.ceil(w / spacing)) + 2
    sy = (np.arange(ny)[:, None] - 1 + 0.5 + rng.uniform(-0.38, 0.38, (ny, nx))) * spacing
    sx = (np.arange(nx)[None, :] - 1 + 0.5 + rng.uniform(-0.38, 0.38, (ny, nx))) * spacing
    # distances on a half-resolution grid, upsampled (they are piecewise smooth)
    hh, hw = (h + 1) // 2 + 1, (w + 1) // 2 + 1
    ys = np.arange(hh, dtype=np.float32) * 2
    xs = np.arange(hw, dtype=np.float32) * 2
    ci = np.clip((ys / spacing).astype(int) + 1, 1, ny - 2)[:, None]
    cj = np.clip((xs / spacing).astype(int) + 1, 1, nx - 2)[None, :]
    yy, xx = ys[:, None], xs[None, :]
    best = np.full((2, hh, hw), np.inf, np.float32)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            d = (xx - sx[ci + di, cj + dj]) ** 2 + (yy - sy[ci + di, cj + dj]) ** 2
            closer = d < best[0]
            best[1] = np.where(closer, best[0], np.minimum(best[1], d))
            best[0] = np.where(closer, d, best[0])
    full = []
    for b in np.sqrt(best).astype(np.float32):
        img = Image.fromarray(b).resize((hw * 2, hh * 2), Image.Resampling.BILINEAR)
        full.append(np.asarray(img, np.float32)[:h, :w])
    return sx.ravel().astype(np.float32), sy.ravel().astype(np.float32), full[0], full[1]


def bands(
    rng: np.random.Generator, h: int, w: int, period: float, warp: float, scale: float
) -> Array:
    """Phase in [0, 1) of wavy parallel bands of the given period (pixels), random angle."""
    theta = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = xx * np.cos(theta) + yy * np.sin(theta)
    u = u + warp * smooth(rng, h, w, 40 * scale) + rng.uniform(0, period)
    return np.asarray((u / period) % 1.0, np.float32)


def texture(rng: np.random.Generator, h: int, w: int, sigma: float) -> Array:
    """Fine granular noise in roughly [-1, 1] (cytoplasm granularity, chromatin)."""
    n = gaussian_filter(rng.standard_normal((h, w), dtype=np.float32), sigma, truncate=2.5)
    return n / max(float(n.std()), 1e-6) / 3.0


def round_nuclei(
    rng: np.random.Generator,
    h: int,
    w: int,
    cx: Array,
    cy: Array,
    r: tuple[float, float],
    dark: tuple[float, float],
    ecc: tuple[float, float] = (0.8, 1.0),
) -> Array:
    n = len(cx)
    a = rng.uniform(*r, n).astype(np.float32)
    b = a * rng.uniform(*ecc, n).astype(np.float32)
    theta = rng.uniform(0, np.pi, n).astype(np.float32)
    val = rng.uniform(*dark, n).astype(np.float32)
    return ellipses(h, w, cx, cy, a, b, theta, val)


def uniform_points(rng: np.random.Generator, h: int, w: int, n: int) -> tuple[Array, Array]:
    return (
        rng.uniform(-4, w + 4, n).astype(np.float32),
        rng.uniform(-4, h + 4, n).astype(np.float32),
    )


def count(density: float, h: int, w: int, scale: float) -> int:
    """Objects for a density given per 150×150 px at 20×."""
    return max(0, round(density * h * w / (150.0 * 150.0 * scale * scale)))
