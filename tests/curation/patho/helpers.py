"""Hand-made H&E-like images for the unit tests (no synthetic generator involved)."""

from __future__ import annotations

import numpy as np

H_VEC = np.array([0.650, 0.704, 0.286]) / np.linalg.norm([0.650, 0.704, 0.286])
E_VEC = np.array([0.072, 0.990, 0.105]) / np.linalg.norm([0.072, 0.990, 0.105])


def he_patch(
    seed: int, size: int = 150, *, h_scale: float = 1.0, e_scale: float = 1.0
) -> np.ndarray:
    """An H&E-like patch: eosin stroma with texture + round haematoxylin nuclei."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    e = 0.25 + 0.1 * np.sin(xx / rng.uniform(3, 7) + rng.uniform(0, 6)) * np.cos(yy / 5.0)
    e = e + rng.normal(0, 0.03, (size, size))
    h = np.zeros((size, size))
    for _ in range(rng.integers(25, 45)):
        cx, cy = rng.uniform(0, size, 2)
        r = rng.uniform(3, 5)
        h += 0.9 * ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)
    od = h_scale * h[..., None] * H_VEC + e_scale * np.clip(e, 0, None)[..., None] * E_VEC
    rgb = 245.0 * np.power(10.0, -od)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def slide_ids(build) -> dict[str, str]:
    """The build's slide pseudonyms by original slide id (a tiled slide: its file's path),
    from ``BUILD/private/slide_pseudonyms.parquet``."""
    import pyarrow.parquet as pq

    rows = pq.read_table(build / "private" / "slide_pseudonyms.parquet").to_pylist()
    return {r["original_slide_id"]: r["slide_pseudonym"] for r in rows}
