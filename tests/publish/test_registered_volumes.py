"""publish with ``publish.registered_volumes``: a ``registered`` config whose volumes are on
the reference grid. Truth: structures the test planted at known world positions, each
sequence showing them moved by a planted rigid transform on its own scanner grid."""

from __future__ import annotations

import shutil

import datasets
import nibabel as nib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from hepatokit.curation.mri.register.stage import register_sequences
from hepatokit.publish import publish_build
from tests.curation.mri import planted_rigid as pr

SEQS = ("T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4")
LESION = np.array([-30.0, 10.0, 8.0])  # RAS mm, in the reference's (unmoved) world
# half-height of the lesion's edge (liver 250 → lesion 450) in each sequence's contrast
CUT = {"GED4": 350.0, "T1W": float(np.sqrt(350.0)), "T2W": 1000.0 - 1.5 * 350.0}


def _signal(points: np.ndarray) -> np.ndarray:
    """Body 100, an off-centre liver 250, a 12 mm lesion 450 in it (smooth edges)."""
    body = pr._inside(points, (0.0, 0.0, 0.0), (82.0, 64.0, 70.0))
    liver = pr._inside(points, (-25.0, 5.0, 5.0), (38.0, 30.0, 28.0))
    lesion = pr._inside(points, LESION, (12.0, 12.0, 12.0))
    return body * (100.0 + 150.0 * liver + 200.0 * lesion)


def _volume(motion: np.ndarray, affine: np.ndarray, shape, mapping) -> nib.Nifti1Image:
    inv = np.linalg.inv(motion)
    y = pr.grid_points(affine, shape)
    return nib.Nifti1Image(mapping(_signal(y @ inv[:3, :3].T + inv[:3, 3])).astype(np.float32),
                           affine)  # fmt: skip


def _build(fake_lifs_build, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(fake_lifs_build.build, build)
    recipe = yaml.safe_load((build / "recipe.yaml").read_text())
    recipe["publish"].update(registered=True, registered_volumes=True)
    (build / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    table = pq.read_table(build / "subjects.parquet")
    rows = table.to_pylist()
    rng = np.random.default_rng(8)
    contrast = {"GED4": lambda v: v, "T1W": np.sqrt, "T2W": lambda v: 1000.0 - 1.5 * v}
    for row in rows:
        sid = row["subject_id"]
        for seq in SEQS:
            row[f"volume_{seq}"] = None
        for seq, mapping in contrast.items():
            motion = np.eye(4)
            aff, shape = pr.FIXED_AFFINE, pr.FIXED_SHAPE
            if seq != "GED4":  # another grid, moved anatomy
                motion = pr.rigid(rng.normal(size=3), rng.uniform(0, 5), rng.uniform(-8, 8, 3))
                aff, shape = pr.MOVING_AFFINE, pr.MOVING_SHAPE
            rel = f"volumes/sub-{sid}/sub-{sid}_{seq}_planted.nii.gz"
            (build / rel).parent.mkdir(parents=True, exist_ok=True)
            img = _volume(motion, aff, shape, mapping)
            if seq == "T2W":  # inverted inside the body only: air stays dark
                img = nib.Nifti1Image(np.where(img.get_fdata() < 990, img.get_fdata(), 0.0), aff)
            nib.save(img, build / rel)
            row[f"volume_{seq}"] = rel
        row["sequences"] = list(contrast)
        row["mask_GED4"] = None
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), build / "subjects.parquet")
    return build


@pytest.mark.slow
def test_registered_config_overlays_on_the_reference_grid(fake_lifs_build, tmp_path):
    build = _build(fake_lifs_build, tmp_path)
    register_sequences(build=build, workers=1, resample=True)
    out = tmp_path / "hf"
    publish_build(build=build, out=out, workers=1)
    card = (out / "README.md").read_text()
    assert "`registered` holds every sequence already resampled" in card
    ds = datasets.load_dataset(str(out), "registered", split="train", cache_dir=str(tmp_path))
    assert len(ds) > 0
    for row in ds:
        ref = row["GED4"]
        assert row["registration_reference"] == "GED4"
        lesion_vox = np.linalg.inv(ref.affine) @ np.append(LESION, 1.0)
        near = np.linalg.norm(pr.grid_points(ref.affine, ref.shape) - LESION, axis=-1) <= 25
        centroids = {}
        for seq in ("GED4", "T1W", "T2W"):
            img = row[seq]
            assert img.shape == ref.shape and np.allclose(img.affine, ref.affine, atol=1e-4)
            assert row[f"transform_{seq}"] == np.eye(4).ravel().tolist()
            data = img.get_fdata()
            # the lesion: voxels past its half-height edge, within 25 mm of where it is planted
            cut = CUT[seq]
            lesion = near & ((data < cut) if seq == "T2W" else (data > cut))
            centroids[seq] = np.argwhere(lesion).mean(axis=0)
        for seq, c in centroids.items():  # voxel indices of the shared grid
            assert np.abs(c - lesion_vox[:3]).max() <= 1.0, (seq, c, lesion_vox)
            assert np.abs(c - centroids["GED4"]).max() <= 1.0, (seq, c, centroids["GED4"])
