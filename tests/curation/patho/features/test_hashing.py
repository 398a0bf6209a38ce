"""Hashes of one decode: imagehash-identical pHash, pixel hash equal across lossless formats."""

from __future__ import annotations

import io

import imagehash
import numpy as np
import pytest
from PIL import Image

from hepatokit.curation.patho.features import hashing
from hepatokit.curation.patho.features.analysis import PatchRejected, analyse_patch_bytes
from hepatokit.curation.patho.features.hashing import (
    hamming,
    hash_versions,
    hex_to_uint64,
    image_hashes,
    phash_hex,
    uint64_to_hex,
)
from tests.curation.patho.helpers import he_patch


def _encode(rgb: np.ndarray, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **kw)
    return buf.getvalue()


def _resize_cases() -> list[Image.Image]:
    """Grey images of many sizes and contents: noise, black/white, smooth, H&E-like."""
    rng = np.random.default_rng(7)
    sizes = [(150, 150), (120, 120), (224, 224), (151, 149), (33, 33), (32, 32), (16, 16)]
    sizes += [(31, 45), (45, 31), (5, 300), (300, 5), (1, 1), (1, 150), (150, 1), (64, 100)]
    images = []
    for w, h in sizes:
        images.append(Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)))
        images.append(Image.fromarray(rng.choice(np.array([0, 255], np.uint8), (h, w))))
        yy, xx = np.mgrid[0:h, 0:w]
        wave = 128 + 100 * np.sin(xx / rng.uniform(1, 20) + yy / rng.uniform(1, 20))
        images.append(Image.fromarray(np.clip(wave, 0, 255).astype(np.uint8)))
    images += [
        Image.fromarray(he_patch(s, size=n)).convert("L") for s in range(20) for n in (150, 96)
    ]
    return images


def test_fast_lanczos_resize_is_pillows_bit_for_bit() -> None:
    for img in _resize_cases():
        assert hashing._lanczos_32_for(img.width, img.height) is not None, img.size  # fast path
        expected = np.asarray(img.resize((32, 32), Image.Resampling.LANCZOS))
        assert np.array_equal(hashing._lanczos_32(img), expected), img.size


def test_phash_hex_is_imagehash_phash() -> None:
    rng = np.random.default_rng(3)
    images = [Image.fromarray(he_patch(s)).convert("L") for s in range(40)]
    images += [Image.fromarray(rng.integers(0, 256, (150, 150), dtype=np.uint8))]
    images += [Image.new("L", (150, 150), v) for v in (0, 128, 255)]  # flat: ties → fallback
    images += [Image.fromarray(np.tile(np.arange(150, dtype=np.uint8), (150, 1)))]
    images += _resize_cases()
    for img in images:
        assert phash_hex(img) == str(imagehash.phash(img))


def test_phash_falls_back_to_pillow_resize_when_weights_disagree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exact = hashing._lanczos_weights
    monkeypatch.setattr(hashing, "_lanczos_weights", lambda n, m: exact(n, m) * 1.01)
    hashing._lanczos_32_for.cache_clear()
    try:
        assert hashing._lanczos_32_for(150, 150) is None
        for s in range(5):
            img = Image.fromarray(he_patch(s)).convert("L")
            assert phash_hex(img) == str(imagehash.phash(img))
    finally:
        hashing._lanczos_32_for.cache_clear()


def test_lossless_reencoding_keeps_pixel_hash_changes_md5() -> None:
    rgb = he_patch(1)
    png = _encode(rgb, "PNG", compress_level=6)
    png9 = _encode(rgb, "PNG", compress_level=9)
    tif = _encode(rgb, "TIFF", compression="tiff_adobe_deflate")
    jpg = _encode(rgb, "JPEG", quality=90)
    a = [analyse_patch_bytes(d).hashes for d in (png, png9, tif, jpg)]
    assert len({h.md5 for h in a}) == 4
    assert a[0].pixel_sha256 == a[1].pixel_sha256 == a[2].pixel_sha256 != a[3].pixel_sha256
    assert a[0].phash == a[1].phash == a[2].phash
    assert hamming(a[0].phash, a[3].phash) <= 4
    assert len(a[0].phash) == 16


def test_dhash_optional_and_versions() -> None:
    rgb = he_patch(2)
    img = Image.fromarray(rgb)
    data = _encode(rgb, "PNG")
    assert image_hashes(img, data).dhash is None
    h = image_hashes(img, data, dhash=True)
    assert h.dhash == str(imagehash.dhash(img))
    assert set(hash_versions()) >= {"imagehash", "pillow"}


def test_hex_uint64_roundtrip() -> None:
    hexes = ["0000000000000000", "ffffffffffffffff", "8000000000000001", "0123456789abcdef"]
    assert uint64_to_hex(hex_to_uint64(hexes)) == hexes


def test_rejections() -> None:
    rgb = he_patch(4)
    png = _encode(rgb, "PNG")
    for data, reason in [
        (b"hello, this is text", "not_image"),
        (png[: len(png) // 3], "corrupt"),
        (_encode(he_patch(4, size=120), "PNG"), "wrong_size"),
    ]:
        try:
            analyse_patch_bytes(data, expected_size=(150, 150))
        except PatchRejected as rej:
            assert rej.reason == reason
        else:  # pragma: no cover - the assertion below reports it
            raise AssertionError(f"expected {reason}")
    resized = analyse_patch_bytes(
        _encode(he_patch(4, size=120), "PNG"), expected_size=(150, 150), size_policy="resize"
    )
    assert resized.resized and (resized.width, resized.height) == (120, 120)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert (
        analyse_patch_bytes(_encode(rgba, "PNG")).hashes.phash
        == analyse_patch_bytes(png).hashes.phash
    )


def test_rejection_detail_is_the_same_on_every_run() -> None:
    # Pillow names the stream it could not identify (`<_io.BytesIO object at 0x7f…>`): the
    # address differs per run, and the detail lands in the ingest cache and the ledger.
    details = set()
    for _ in range(3):
        try:
            analyse_patch_bytes(b"II*\x00" + bytes(range(1, 200)))
        except PatchRejected as rej:
            assert rej.reason == "corrupt"
            details.add(rej.detail)
    assert len(details) == 1
    (detail,) = details
    assert "TIFF" in detail and " at 0x" not in detail
