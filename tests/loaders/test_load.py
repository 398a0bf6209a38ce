"""load_lifs / load_hepatobench on published fake builds: splits, decoding, streaming."""

from __future__ import annotations

import io
import shutil

import nibabel as nib
import numpy as np
import pytest
from PIL import Image as PILImage

from hepatokit.errors import DataFormatError, HepatokitError
from hepatokit.loaders import dataset_meta, load_hepatobench, load_lifs

SEQS = ("T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4")


@pytest.mark.parametrize("track", ["contrast", "noncontrast"])
def test_load_dataset_gives_four_splits(fake_lifs_build, fake_lifs_published, track, tmp_path):
    import datasets

    hf, _ = fake_lifs_published
    ds = datasets.load_dataset(str(hf), track, cache_dir=str(tmp_path))
    assert {s: len(d) for s, d in ds.items()} == fake_lifs_build.split_counts()
    assert list(ds) == ["train", "validation", "test_id", "test_ood"]
    assert ds["train"].features["stage"].names == ["S1", "S2", "S3", "S4"]
    assert ds["train"].features["cirrhosis"].names == ["S1-S3", "S4"]


def test_decoded_volume_equals_curated(fake_lifs_build, fake_lifs_published, tmp_path):
    hf, _ = fake_lifs_published
    moved = tmp_path / "moved"
    shutil.copytree(hf, moved)  # nothing points to the original folder or to BUILD
    ds = load_lifs(moved, "contrast", cache_dir=str(tmp_path / "cache"))
    planted = {s["subject_id"]: s for s in fake_lifs_build.subjects}
    n_missing = n_checked = 0
    for d in ds.values():
        for row in d:
            subj = planted[row["subject_id"]]
            for seq in SEQS:
                rel = subj[f"volume_{seq}"]
                if rel is None:
                    assert row[seq] is None
                    n_missing += 1
                    continue
                ref = nib.load(fake_lifs_build.build / rel)
                assert np.array_equal(np.asanyarray(row[seq].dataobj), np.asanyarray(ref.dataobj))
                assert np.array_equal(row[seq].affine, ref.affine)
                n_checked += 1
    assert n_missing > 0 and n_checked > 0


def test_streaming(fake_lifs_build, fake_lifs_published):
    hf, _ = fake_lifs_published
    stream = load_lifs(hf, "noncontrast", split="test_ood", streaming=True)
    rows = list(stream)
    assert len(rows) == fake_lifs_build.split_counts()["test_ood"]
    assert all(isinstance(r["T1W"], nib.Nifti1Image) for r in rows if r["T1W"] is not None)
    assert "GED1" not in rows[0]


def test_hepatobench_bytes_and_label_order(
    fake_hepatobench_build, fake_hepatobench_published, tmp_path
):
    from datasets import Image

    hf, _ = fake_hepatobench_published
    ds = load_hepatobench(hf, cache_dir=str(tmp_path))
    assert ds["train"].features["label"].names == ["TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE"]
    planted = {p["id"]: p for p in fake_hepatobench_build.patches}
    total = 0
    for split, d in ds.items():
        raw = d.cast_column("image", Image(decode=False))
        for row in raw:
            p = planted[row["id"]]
            base = (
                fake_hepatobench_build.build
                if p["x"] is not None
                else fake_hepatobench_build.raw_root
            )
            # published images are re-encoded from pixels (metadata dropped): same pixels
            with (
                PILImage.open(io.BytesIO(row["image"]["bytes"])) as got,
                PILImage.open(base / p["path"]) as want,
            ):
                assert np.array_equal(np.asarray(got), np.asarray(want)), row["id"]
            assert split == p["split"]
            total += 1
    assert total == len(planted)
    img = ds["train"][0]["image"]
    assert img.size == (24, 24)
    stream = load_hepatobench(hf, split="test", streaming=True)
    assert sum(1 for _ in stream) == sum(p["split"] == "test" for p in planted.values())


def test_loader_checks(fake_lifs_published, fake_hepatobench_published, tmp_path):
    hf, _ = fake_lifs_published
    with pytest.raises(HepatokitError, match="unknown track"):
        load_lifs(hf, "t2only")
    hb, _ = fake_hepatobench_published
    with pytest.raises(DataFormatError, match="expected"):
        load_hepatobench(
            hb,
            split="train",
            classes=sorted(["TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE"]),
            cache_dir=str(tmp_path),
        )
    assert dataset_meta(hf)["loader_grid"]["spacing_mm"] == [2.0, 2.0, 2.0]
