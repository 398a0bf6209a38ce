"""publish build on a fake HepatoBench build: bytes kept, label order, tiles, errors."""

from __future__ import annotations

import hashlib
import io
import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from hepatokit.errors import DataFormatError
from hepatokit.imagemeta import metadata_text
from hepatokit.publish import publish_build

CLASSES = ["TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE"]


def _pixels(data):
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def _all_rows(hf):
    out = {}
    for f in sorted((hf / "data" / "default").glob("*.parquet")):
        split = f.name.split("-")[0]
        out.update({r["id"]: (split, r) for r in pq.read_table(f).to_pylist()})
    return out


def test_rows_keep_original_bytes_labels_and_coordinates(
    fake_hepatobench_build, fake_hepatobench_published
):
    hf, result = fake_hepatobench_published
    planted = {p["id"]: p for p in fake_hepatobench_build.patches}
    rows = _all_rows(hf)
    assert set(rows) == set(planted)
    counts = {}
    for pid, (split, row) in rows.items():
        p = planted[pid]
        counts[split] = counts.get(split, 0) + 1
        assert split == p["split"]
        assert row["label"] == CLASSES.index(p["class"])
        base = (
            fake_hepatobench_build.build if p["x"] is not None else fake_hepatobench_build.raw_root
        )
        raw_bytes = (base / p["path"]).read_bytes()
        published = row["image"]["bytes"]
        # same pixels, no metadata (PIL decodes both independently of hepatokit)
        assert np.array_equal(_pixels(published), _pixels(raw_bytes))
        assert metadata_text(published) == []
        ext = "jpg" if p["format"] == "JPEG" else "png"
        assert row["image"]["path"] == f"{pid}.{ext}"  # no raw file name (PHI) kept
        assert (row["x"], row["y"]) == (p["x"], p["y"])
        assert row["md5"] == hashlib.md5(published).hexdigest() and row["phash"] == p["phash"]
    assert result.counts == {"default": counts}


def test_meta_and_card(fake_hepatobench_build, fake_hepatobench_published):
    hf, _ = fake_hepatobench_published
    meta = json.loads((hf / "dataset_meta.json").read_text())
    assert meta["classes"] == CLASSES
    assert meta["patch_size_px"] == 150 and meta["magnification"] == "20x"
    n_train = sum(p["split"] == "train" for p in fake_hepatobench_build.patches)
    assert meta["splits"]["default"]["train"] == n_train
    tum_train = sum(
        p["split"] == "train" and p["class"] == "TUM" for p in fake_hepatobench_build.patches
    )
    assert meta["class_counts"]["train"]["TUM"] == tum_train
    funnel = meta["curation_funnel"]
    assert funnel["inputs"] == funnel["kept"] + funnel["excluded"]
    assert funnel["by_reason"] == {"blur": 1, "corrupt": 1, "duplicate_of": 1}
    card = (hf / "README.md").read_text()
    assert "not for diagnosis" in card and "cc-by-nc-4.0" in card
    assert "excluded at `dedup` | `duplicate_of` | 1" in card
    assert "patientSMITH" not in card


def test_changed_patch_is_refused(fake_hepatobench_build, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(fake_hepatobench_build.raw_root, raw)
    victim = next(p for p in fake_hepatobench_build.patches if p["x"] is None)
    original = (raw / victim["path"]).read_bytes()
    (raw / victim["path"]).write_bytes(b"not the curated bytes")
    with pytest.raises(DataFormatError, match="size differs"):
        publish_build(
            build=fake_hepatobench_build.build, out=tmp_path / "hf", raw_root=raw, workers=1
        )
    # same size, other bytes: the MD5 check sees it (every patch is read whole to be scrubbed)
    (raw / victim["path"]).write_bytes(bytes(255 - b for b in original))
    with pytest.raises(DataFormatError, match="md5"):
        publish_build(
            build=fake_hepatobench_build.build, out=tmp_path / "hf", raw_root=raw, workers=1
        )
    with pytest.raises(DataFormatError, match="md5"):
        publish_build(
            build=fake_hepatobench_build.build,
            out=tmp_path / "hf",
            raw_root=raw,
            verify_md5=True,
            workers=1,
        )
    (raw / victim["path"]).unlink()
    with pytest.raises(DataFormatError, match="not found"):
        publish_build(
            build=fake_hepatobench_build.build, out=tmp_path / "hf", raw_root=raw, workers=1
        )


def test_withheld_hepatobench_truth(fake_hepatobench_build, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(fake_hepatobench_build.build, build)
    result = publish_build(build=build, out=tmp_path / "hf", withhold_test_labels=True, workers=1)
    lines = result.truth_path.read_text().splitlines()
    assert lines[0] == "id,split,label"
    tests = {p["id"]: p["class"] for p in fake_hepatobench_build.patches if p["split"] == "test"}
    assert {ln.split(",")[0]: ln.split(",")[2] for ln in lines[1:]} == tests
    rows = _all_rows(tmp_path / "hf")
    assert all(r["label"] is None for s, r in rows.values() if s == "test")


def _hmac_pseudonym(key: bytes, original: str) -> str:
    """The slide pseudonym, computed here (HMAC-SHA256 of ``"slide" ␟ id``, 16 hex)."""
    import hmac

    mac = hmac.new(key, b"slide\x1f" + original.encode(), hashlib.sha256)
    return "slide-" + mac.hexdigest()[:16]


def test_old_build_with_original_slide_ids_is_keyed_at_publish(
    fake_hepatobench_build, fake_hepatobench_published
):
    """A build whose tables still hold original slide ids (made before ingest keyed them):
    publish keys each with the build's key (the pseudonyms it always published), never
    passes one through, and records the map in private/."""
    import os

    hf, _ = fake_hepatobench_published
    build = fake_hepatobench_build.build
    env = os.environ.get("HEPATOKIT_DEID_KEY")
    key = env.encode() if env else (build / "private" / "deid_key").read_bytes().strip()
    originals = {p["id"]: p["slide_id"] for p in fake_hepatobench_build.patches}
    rows = _all_rows(hf)
    assert rows and all(
        row["slide_id"] == _hmac_pseudonym(key, originals[pid]) for pid, (_, row) in rows.items()
    )
    assert not {row["slide_id"] for _, row in rows.values()} & set(originals.values())
    mapping = pq.read_table(build / "private" / "slide_pseudonyms.parquet").to_pylist()
    assert {(m["original_slide_id"], m["slide_pseudonym"]) for m in mapping} == {
        (o, _hmac_pseudonym(key, o)) for o in set(originals.values())
    }
    assert {m["stage"] for m in mapping} == {"publish"}


def test_build_keyed_at_ingest_publishes_its_pseudonyms_as_they_are(
    fake_hepatobench_build, tmp_path
):
    """Tables holding pseudonyms the private map knows: published as they are, not keyed a
    second time (whatever key is in force now)."""
    import pyarrow as pa

    from hepatokit.pseudonyms import record_slide_pseudonyms

    build = tmp_path / "build"
    shutil.copytree(fake_hepatobench_build.build, build)
    curated = pq.read_table(build / "curated.parquet")
    originals = sorted(set(curated.column("slide_id").to_pylist()))
    keyed = {o: f"slide-{i:016x}" for i, o in enumerate(originals)}  # any pseudonyms
    column = pa.array([keyed[s] for s in curated.column("slide_id").to_pylist()], pa.string())
    index = curated.column_names.index("slide_id")
    pq.write_table(curated.set_column(index, "slide_id", column), build / "curated.parquet")
    (build / "private" / "slide_pseudonyms.parquet").unlink(missing_ok=True)
    record_slide_pseudonyms(build, "ingest", keyed)
    publish_build(
        build=build, out=tmp_path / "hf", raw_root=fake_hepatobench_build.raw_root, workers=1
    )
    rows = _all_rows(tmp_path / "hf")
    assert {row["slide_id"] for _, row in rows.values()} == set(keyed.values())
