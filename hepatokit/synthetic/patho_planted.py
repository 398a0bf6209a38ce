"""Pixels and bytes of every synthetic patch: clean renders, derived copies and planted failures.

Everything here is a pure function of a :class:`PatchSpec` (its seed and its source's spec), so
a worker can materialise any file without seeing the others, and the same spec always gives the
same bytes (Pillow encoders with fixed options, no timestamps).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from hepatokit.synthetic.tissue import Stain, compose_rgb, render_densities, slide_stain

__all__ = [
    "MAX_NEAR_DUP_DISTANCE",
    "PatchSpec",
    "decode",
    "encode",
    "materialize",
    "near_dup_params",
    "realize",
    "stain_of_slide",
]

PATCH = 150
OFF_STAIN_VARIANTS = ("pale", "hematoxylin_only", "magenta")
#: Planted near duplicates are within this pHash (imagehash, 64-bit) distance of their source;
#: an edit that moves the hash further is re-drawn (see :func:`realize`).
MAX_NEAR_DUP_DISTANCE = 8
PEN_COLOURS = {"blue": (35, 60, 165), "green": (40, 135, 70), "black": (28, 28, 34)}


@dataclass(frozen=True)
class PatchSpec:
    """One file to write.

    ``path`` is relative to the class-folder root (``<CLASS>/<name>``); ``tissue`` is the class
    whose texture is rendered (it differs from the folder class only for label conflicts);
    ``slide_index`` picks the stain; ``source`` is the spec a derived file copies.
    """

    path: str
    folder_class: str
    slide_id: str | None
    kind: str
    seed: tuple[int, ...]
    fmt: str
    tissue: str | None = None
    slide_index: int = 0
    base_seed: int = 0
    source: PatchSpec | None = None
    params: dict[str, Any] = field(default_factory=dict)


def stain_of_slide(base_seed: int, slide_index: int) -> Stain:
    """The stain of one slide (same for every patch of the slide)."""
    return slide_stain(np.random.default_rng([base_seed, 7, slide_index]))


def encode(rgb: np.ndarray, fmt: str, *, quality: int = 92) -> bytes:
    """Encode ``(H, W, 3) uint8`` pixels; options fixed so bytes are reproducible.

    ``fmt``: ``PNG`` (zlib level 6), ``PNG9`` (PNG, level 9: other bytes, same pixels),
    ``JPEG`` (4:4:4, given quality), ``TIFF`` (Adobe deflate), ``TIFF_LZW``.
    """
    img = Image.fromarray(rgb, "RGB")
    buf = io.BytesIO()
    if fmt == "PNG":
        img.save(buf, "PNG", compress_level=6)
    elif fmt == "PNG9":
        img.save(buf, "PNG", compress_level=9)
    elif fmt == "JPEG":
        img.save(buf, "JPEG", quality=quality, subsampling=0)
    elif fmt == "TIFF":
        img.save(buf, "TIFF", compression="tiff_adobe_deflate")
    elif fmt == "TIFF_LZW":
        img.save(buf, "TIFF", compression="tiff_lzw")
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    """Decoded RGB pixels ``(H, W, 3) uint8`` of encoded bytes."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB")).copy()


def _render(spec: PatchSpec, *, width: int = PATCH, height: int = PATCH) -> np.ndarray:
    rng = np.random.default_rng(list(spec.seed))
    assert spec.tissue is not None
    stain = stain_of_slide(spec.base_seed, spec.slide_index)
    hd, e = render_densities(spec.tissue, rng, height, width)
    if spec.kind == "off_stain":
        stain, hd, e = _off_stain(spec.params["variant"], stain, hd, e)
    if spec.kind == "background":
        hd, e = _background(rng, hd, e, spec.params["tissue_fraction"])
    rgb = compose_rgb(hd, e, stain, rng)
    if spec.kind == "blur":
        img = Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(spec.params["sigma"]))
        rgb = np.asarray(img).copy()
    if spec.kind == "pen":
        rgb = _pen(rng, rgb, spec.params)
    return rgb


def _off_stain(
    variant: str, stain: Stain, hd: np.ndarray, e: np.ndarray
) -> tuple[Stain, np.ndarray, np.ndarray]:
    """Extreme stain failures: washed out, hematoxylin only (no eosin), magenta over-stain."""
    if variant == "pale":  # washed out: mean density brought down to 0.16 (clean ≈ 0.5–1.5)
        f = min(0.45, 0.16 / max(float((hd + e).mean()), 1e-3))
        return stain, hd * f, e * f
    if variant == "hematoxylin_only":
        return stain, hd * 1.6 + 0.35, e * 0.0
    if variant == "magenta":
        mag = Stain(stain.h_vec, (0.02, 0.80, 0.60), 0.3, 2.8, stain.white)
        return mag, hd, e + 0.25
    raise ValueError(f"unknown off-stain variant {variant!r}")


def _background(
    rng: np.random.Generator, hd: np.ndarray, e: np.ndarray, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Keep a tissue fragment covering ``fraction`` of the patch; the rest is empty glass."""
    h, w = hd.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = (xx - w / 2) * np.cos(ang) + (yy - h / 2) * np.sin(ang)
    grid = rng.uniform(-1, 1, (6, 6)).astype(np.float32)
    wobble = np.asarray(Image.fromarray(grid).resize((w, h), Image.Resampling.BICUBIC))
    field_ = ramp / w + 0.35 * wobble
    cut = np.quantile(field_, 1.0 - fraction)
    tissue = field_ >= cut
    return hd * tissue, e * tissue


def _pen(rng: np.random.Generator, rgb: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """A felt-pen ink stroke (thick curved line) blended over the tissue."""
    h, w = rgb.shape[:2]
    for _ in range(20):
        mask = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(mask)
        t = np.linspace(0, 1, 24)
        p0, p1, p2 = (rng.uniform(-20, w + 20, 2) for _ in range(3))
        pts = (1 - t)[:, None] ** 2 * p0 + 2 * ((1 - t) * t)[:, None] * p1 + t[:, None] ** 2 * p2
        width = int(rng.integers(12, 30))
        draw.line([tuple(p) for p in pts.tolist()], fill=255, width=width, joint="curve")
        cover = np.asarray(mask, np.float32) / 255.0
        if 0.12 <= cover.mean() <= 0.45:
            break
    cover = np.asarray(mask.filter(ImageFilter.GaussianBlur(1.2)), np.float32) / 255.0
    alpha = cover[..., None] * params["opacity"]
    ink = np.asarray(PEN_COLOURS[params["color"]], np.float32)
    # ink absorbs on top of the stain: multiply transmissions
    out = rgb.astype(np.float32) * (1 - alpha) + (rgb.astype(np.float32) * ink / 255.0) * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _near_duplicate(rgb: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """Apply the planted small edits (crop+resize, shift, brightness) to the source pixels."""
    out = rgb
    if "crop" in p:
        left, top, right, bottom = p["crop"]
        img = Image.fromarray(out).crop((left, top, PATCH - right, PATCH - bottom))
        out = np.asarray(img.resize((PATCH, PATCH), Image.Resampling.LANCZOS)).copy()
    if "shift" in p:
        dx, dy = p["shift"]
        padded = np.pad(out, ((abs(dy), abs(dy)), (abs(dx), abs(dx)), (0, 0)), mode="edge")
        y0, x0 = abs(dy) - dy, abs(dx) - dx
        out = padded[y0 : y0 + PATCH, x0 : x0 + PATCH]
    if "brightness" in p:
        out = np.clip(out.astype(np.float32) * (1 + p["brightness"]) + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out)


def near_dup_params(rng: np.random.Generator) -> dict[str, Any]:
    """Random near-duplicate edits: crop 0–3 px per side + resize back, or a 1–3 px shift;
    brightness ±2–5 %; JPEG re-encoding at quality 88–95 (``quality``). At least one edit."""
    params: dict[str, Any] = {}
    while not params:
        if rng.random() < 0.5:
            params["crop"] = [int(v) for v in rng.integers(0, 4, 4)]
            if sum(params["crop"]) == 0:
                params["crop"][int(rng.integers(0, 4))] = int(rng.integers(1, 4))
        elif rng.random() < 0.5:
            sign = rng.choice([-1, 1], 2)
            params["shift"] = [int(v) for v in sign * rng.integers(1, 4, 2)]
        if rng.random() < 0.5:
            b = float(rng.uniform(0.02, 0.05)) * float(rng.choice([-1, 1]))
            params["brightness"] = round(b, 4)
        if rng.random() < 0.5 or not params:
            params["quality"] = int(rng.integers(88, 96))
    return params


def _phash_bits(rgb: np.ndarray) -> np.ndarray:
    import imagehash

    return np.asarray(imagehash.phash(Image.fromarray(rgb)).hash).ravel()


def _realize_near_dup(spec: PatchSpec) -> tuple[bytes, dict[str, Any]]:
    """Near duplicate within :data:`MAX_NEAR_DUP_DISTANCE` of its source (edits re-drawn up
    to 12 times from the spec's seed, keeping the planned format; finally a JPEG re-encode at
    quality 95, or a 2 % brightness change for PNG)."""
    assert spec.source is not None
    src = decode(materialize(spec.source))
    src_bits = _phash_bits(src)
    rng = np.random.default_rng([*spec.seed, 1])
    params = dict(spec.params)
    jpeg = spec.fmt == "JPEG"
    for attempt in range(13):
        if attempt == 12:  # fallback edits that barely move the hash
            params = {"quality": 95} if jpeg else {"brightness": 0.02}
        data = encode(_near_duplicate(src, params), spec.fmt, quality=params.get("quality", 92))
        dist = int((_phash_bits(decode(data)) != src_bits).sum())
        if dist <= MAX_NEAR_DUP_DISTANCE:
            break
        params = near_dup_params(rng)
        if jpeg:
            params.setdefault("quality", int(rng.integers(88, 96)))
        else:
            params.pop("quality", None)
            params = params or {"brightness": round(float(rng.uniform(0.02, 0.05)), 4)}
    return data, {**params, "phash_distance": dist}


def realize(spec: PatchSpec) -> tuple[bytes, dict[str, Any]]:
    """Bytes of ``spec`` plus facts learnt while making them (final near-dup edits, pHash
    distance to the source) for ``truth.json``."""
    if spec.kind == "near_dup_of":
        return _realize_near_dup(spec)
    return materialize(spec), {}


def materialize(spec: PatchSpec) -> bytes:
    """The bytes of the file ``spec`` describes (deterministic)."""
    kind = spec.kind
    if kind in ("clean", "blur", "background", "off_stain", "pen", "label_conflict"):
        return encode(_render(spec), spec.fmt, quality=spec.params.get("quality", 92))
    if kind == "unknown_class":
        return encode(_render(spec), spec.fmt)
    if kind == "wrong_size":
        w, h = spec.params["size"]
        return encode(_render(spec, width=w, height=h), spec.fmt)
    if kind == "exact_dup_of":
        assert spec.source is not None
        return materialize(spec.source)
    if kind == "reencoded_of":
        assert spec.source is not None
        return encode(decode(materialize(spec.source)), spec.fmt)
    if kind == "near_dup_of":
        return _realize_near_dup(spec)[0]
    if kind == "corrupt":
        return _corrupt(spec)
    if kind == "not_image":
        return spec.params["content"].encode("utf-8")
    raise ValueError(f"unknown patch kind {kind!r}")


def _corrupt(spec: PatchSpec) -> bytes:
    variant = spec.params["variant"]
    rng = np.random.default_rng(list(spec.seed))
    if variant == "garbage":
        return rng.integers(0, 256, 2048, dtype=np.uint8).tobytes()
    if variant == "empty":
        return b""
    full = encode(_render(spec), spec.fmt)
    if variant == "truncated":
        return full[: len(full) // 3]
    if variant == "bad_header":
        return b"\x00" * 16 + full[16:]
    raise ValueError(f"unknown corrupt variant {variant!r}")
