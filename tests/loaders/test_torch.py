"""Torch datasets: RAS + grid, missing-modality policies, DataLoader with 2 workers."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from hepatokit.errors import DataFormatError
from hepatokit.loaders import (
    HepatoBenchImages,
    HepatoBenchTransform,
    LifsVolumes,
    LifsVolumeTransform,
    iterable_hepatobench,
    iterable_lifs,
    load_hepatobench,
    load_lifs,
    nifti_from_cell,
)

GRID = {"spacing": (1.0, 1.0, 2.5), "spatial_size": (12, 12, 6)}


def test_reorients_to_ras_and_keeps_a_planted_voxel():
    import gzip

    data = np.zeros((8, 6, 4), dtype=np.int16)
    data[1, 2, 3] = 1000
    lps = np.diag([-1.0, -1.0, 2.5, 1.0])  # x and y flipped relative to RAS
    cell = {"bytes": gzip.compress(nib.Nifti1Image(data, lps).to_bytes()), "path": "x.nii.gz"}
    tf = LifsVolumeTransform(["T1W"], spacing=(1, 1, 2.5), spatial_size=(8, 6, 4), normalize="none")
    vol = tf.volume(cell).numpy()
    assert vol.shape == (8, 6, 4)
    assert np.unravel_index(vol.argmax(), vol.shape) == (8 - 1 - 1, 6 - 1 - 2, 3)
    assert nifti_from_cell(None) is None


def test_missing_policies(fake_lifs_build, fake_lifs_published, tmp_path):
    hf, _ = fake_lifs_published
    ds = load_lifs(hf, "contrast", split="train", cache_dir=str(tmp_path))
    zeros = LifsVolumes(ds, track="contrast", **GRID)
    assert len(zeros) == len(ds)
    for i in range(len(zeros)):
        image, label, mask = zeros[i]
        present = ds[i]["sequences"]
        assert image.shape == (7, 12, 12, 6)
        assert mask.tolist() == [
            s in present for s in ("T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4")
        ]
        for c in range(7):
            assert bool(image[c].abs().sum() > 0) == bool(mask[c])
        assert label == (-1 if ds[i]["stage"] is None else ds[i]["stage"])
    complete = [i for i in range(len(ds)) if len(ds[i]["sequences"]) == 7]
    drop = LifsVolumes(ds, track="contrast", missing="drop", **GRID)
    assert len(drop) == len(complete) < len(ds)
    assert len(drop[0]) == 2  # (image, label) without a mask by default
    strict = LifsVolumes(ds, track="contrast", missing="error", **GRID)
    incomplete = next(i for i in range(len(ds)) if i not in complete)
    with pytest.raises(DataFormatError, match="missing"):
        strict[incomplete]
    t = LifsVolumes(ds, track="noncontrast", target="cirrhosis", **GRID)
    assert t[0][0].shape[0] == 3 and t[0][1] == ds[0]["cirrhosis"]


def test_with_transform_makes_nifti_tensors(fake_lifs_published, tmp_path):
    import torch

    hf, _ = fake_lifs_published
    ds = load_lifs(hf, "noncontrast", split="validation", cache_dir=str(tmp_path))
    tf = LifsVolumeTransform(["T1W", "T2W", "DWI"], **GRID)
    batch = ds.with_transform(tf.batch)[:2]
    assert isinstance(batch["image"][0], torch.Tensor) and batch["image"][0].shape == (3, 12, 12, 6)
    assert batch["subject_id"] == ds["subject_id"][:2]


@pytest.mark.slow
def test_dataloader_two_workers_both_loaders(
    fake_lifs_build, fake_lifs_published, fake_hepatobench_published, tmp_path
):
    import torch
    from torch.utils.data import DataLoader

    hf, _ = fake_lifs_published
    ds = load_lifs(hf, "contrast", split="train", cache_dir=str(tmp_path))
    seen = 0
    for image, label, mask in DataLoader(LifsVolumes(ds, **GRID), batch_size=2, num_workers=2):
        assert image.shape[1:] == (7, 12, 12, 6) and mask.shape[1] == 7
        assert torch.all((image.flatten(2).abs().sum(-1) > 0) == mask)
        seen += len(label)
    assert seen == len(ds)
    stream = load_lifs(hf, "noncontrast", split="test_ood", streaming=True)
    got = [
        lab
        for _, lab, _ in DataLoader(
            iterable_lifs(stream, track="noncontrast", **GRID), batch_size=1, num_workers=2
        )
    ]
    assert len(got) == fake_lifs_build.split_counts()["test_ood"]

    hb, _ = fake_hepatobench_published
    train = load_hepatobench(hb, split="train", cache_dir=str(tmp_path))
    labels = []
    for image, label in DataLoader(
        HepatoBenchImages(train, transform=HepatoBenchTransform(32)), batch_size=8, num_workers=2
    ):
        assert image.shape[1:] == (3, 32, 32) and image.dtype == torch.float32
        labels += label.tolist()
    assert sorted(labels) == sorted(train["label"])
    stream = load_hepatobench(hb, split="test", streaming=True)
    n = sum(
        len(lab) for _, lab in DataLoader(iterable_hepatobench(stream), batch_size=4, num_workers=2)
    )
    assert n == sum(1 for _ in stream)
