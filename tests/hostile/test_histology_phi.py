"""Defect 1: identifiers planted in histology file names and image metadata never reach a
published byte; the build and the publish step both audit for them."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import zlib

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from hepatokit import build_dataset
from hepatokit.errors import PHIError
from hepatokit.publish import publish_build
from hepatokit.publish.histology_audit import audit_histology_phi
from tests.curation.patho.helpers import he_patch
from tests.hostile.helpers import jpeg_bytes, patch_tree, png_bytes, tiff_bytes

# (where it is planted, the identifier)
PLANTED = {
    "file name": "SMITHJOHN-S21-4455",
    "png tEXt": "DOEJANE-MRN-77123",
    "png iTXt": "MÜLLERSOHN-Zürich",
    "exif": "ROEMARY-ACC99881",
    "jpeg comment": "QUIXOTEDON-PAT-5521",
    "tiff description": "TIFFNAME-XYZ-77",
}


def _hostile_tree(root):
    patch_tree(root, n_slides=10, per_slide=3)
    v = PLANTED
    (root / "TUM" / f"{v['file name']}_0001.png").write_bytes(png_bytes(he_patch(901)))
    (root / "TUM" / f"{v['file name']}_0002.png").write_bytes(png_bytes(he_patch(902)))
    (root / "FIB" / "slide01_meta.png").write_bytes(
        png_bytes(he_patch(903), text={"Patient": v["png tEXt"]}, itxt=v["png iTXt"])
    )
    (root / "INF" / "slide02_exif.jpg").write_bytes(
        jpeg_bytes(he_patch(904), description=v["exif"], comment=v["jpeg comment"])
    )
    (root / "TUM" / "slide03_desc.tif").write_bytes(
        tiff_bytes(he_patch(905), description=v["tiff description"])
    )


def _variants(value: str) -> list[bytes]:
    out = set()
    for form in (value, value.upper(), value.lower(), value.casefold()):
        for enc in ("utf-8", "utf-16-le", "latin-1"):
            with contextlib.suppress(UnicodeEncodeError):
                out.add(form.encode(enc))
    # the ASCII-only part of a value with diacritics ("MÜLLERSOHN-Zürich" → "LLERSOHN")
    out.add(value.split("Ü")[-1].split("-")[0].encode() if "Ü" in value else value.encode())
    return sorted(out)


def _all_streams(folder):
    """Every published file's bytes, plus what they hold decoded: parquet cells, zlib
    streams of PNG chunks (found independently of hepatokit's own parsers)."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        yield path, data
        if path.suffix == ".parquet":
            for row in pq.read_table(path).to_pylist():
                for value in row.values():
                    if isinstance(value, dict) and isinstance(value.get("bytes"), bytes):
                        img = value["bytes"]
                        yield path, img
                        yield path, _inflate_all(img)
                    else:
                        yield path, str(value).encode("utf-8")


def _inflate_all(data: bytes) -> bytes:
    out = []
    for start in range(len(data) - 1):
        if data[start] == 0x78:  # zlib header
            try:
                out.append(zlib.decompressobj().decompress(data[start : start + (1 << 20)]))
            except zlib.error:
                continue
    return b"".join(out)


def _sources(build):
    """The raw paths ingest kept aside (the build's tables hold neutral names)."""
    return pq.read_table(build / "private" / "patch_sources.parquet").to_pylist()


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    base = tmp_path_factory.mktemp("histo_phi")
    raw, build, hf = base / "raw", base / "build", base / "hf"
    _hostile_tree(raw)
    summary = build_dataset(recipe="hepatobench", raw=raw, out=build, workers=1)
    result = publish_build(build=build, out=hf, workers=1)
    return raw, build, hf, summary, result


def test_planted_identifiers_reach_no_published_byte(published):
    _raw, build, hf, _summary, _ = published
    # the planted files were kept (else the test proves nothing)
    ids = set(pq.read_table(build / "curated.parquet").column("id").to_pylist())
    kept = [r["path"] for r in _sources(build) if r["id"] in ids]
    for name in ("slide01_meta.png", "slide02_exif.jpg", "slide03_desc.tif", "SMITHJOHN"):
        assert any(name in p for p in kept), name
    for path, stream in _all_streams(hf):
        low = stream.lower()
        for where, value in PLANTED.items():
            for needle in _variants(value):
                assert needle.lower() not in low, f"{where} {value!r} found in {path}"


def test_published_images_carry_no_metadata_and_keep_pixels(published):
    raw, build, hf, _, _ = published
    curated = {r["id"]: r for r in pq.read_table(build / "curated.parquet").to_pylist()}
    raw_paths = {r["id"]: r["path"] for r in _sources(build)}
    n = 0
    for path in sorted((hf / "data").rglob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            img = row["image"]["bytes"]
            with Image.open(io.BytesIO(img)) as im:
                assert set(im.info) <= {
                    "jfif",
                    "jfif_version",
                    "jfif_unit",
                    "jfif_density",
                    "dpi",
                    "transparency",
                }, im.info
                assert not dict(im.getexif())
                assert not getattr(im, "text", {})
                pixels = np.asarray(im)
            with Image.open(raw / raw_paths[row["id"]]) as src:
                assert np.array_equal(pixels, np.asarray(src.convert(im.mode)))
            assert row["image"]["path"].split(".")[0] == row["id"]
            n += 1
    assert n == len(curated)


def test_slide_ids_are_keyed_pseudonyms_kept_in_private(published):
    _raw, build, hf, _, _ = published
    pub = set()
    for path in sorted((hf / "data").rglob("*.parquet")):
        pub |= set(pq.read_table(path).column("slide_id").to_pylist())
    mapping = pq.read_table(build / "private" / "slide_pseudonyms.parquet").to_pylist()
    assert {m["slide_pseudonym"] for m in mapping} == pub
    assert PLANTED["file name"] in {m["original_slide_id"] for m in mapping}
    assert all(s.startswith("slide-") and len(s) == 22 for s in pub)
    # the pseudonyms publish has always published: HMAC of the original id, the build's key
    key = (build / "private" / "deid_key").read_bytes().strip()
    for m in mapping:
        mac = hmac.new(key, b"slide\x1f" + m["original_slide_id"].encode(), hashlib.sha256)
        assert m["slide_pseudonym"] == "slide-" + mac.hexdigest()[:16]


def test_build_and_publish_audits_ran_and_pass(published):
    _, build, hf, summary, _ = published
    assert summary.phi is not None and summary.phi.ok
    audit = audit_histology_phi(build=build, published=hf, report=False)
    assert audit.ok and audit.images_checked > 0
    assert audit.values >= len(PLANTED) - 1  # slide id + stems + metadata values collected


def test_audit_finds_a_planted_leak(published, tmp_path):
    """The audit is not blind: a card that names the slide, and an image with its comment
    put back, are both found."""
    import shutil

    _, build, hf, _, _ = published
    leaky = tmp_path / "hf"
    shutil.copytree(hf, leaky)
    readme = leaky / "README.md"
    readme.write_text(readme.read_text() + "\nslide smithjohn-s21-4455 was hard\n")
    audit = audit_histology_phi(build=build, published=leaky, report=False)
    assert [h.tag for h in audit.hits] == ["slide_id"]
    # an unnormalised Unicode form is found too (NFKC + casefold)
    readme.write_text("ＭÜＬＬＥＲＳＯＨＮ-ZÜRICH\n")
    audit = audit_histology_phi(build=build, published=leaky, report=False)
    assert [h.tag for h in audit.hits] == ["image_metadata"]


def test_publish_refuses_when_the_audit_finds_a_value(published, tmp_path, monkeypatch):
    _, build, _, _, _ = published
    from hepatokit.publish import build as publish_mod

    monkeypatch.setattr(
        "hepatokit.publish.histology_audit.histology_phi_values",
        lambda b: {"liver histology tissue classification": "slide_id"},  # in the card
    )
    with pytest.raises(PHIError, match="identifying value"):
        publish_mod.publish_build(build=build, out=tmp_path / "hf2", workers=1)
