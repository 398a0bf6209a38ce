"""``mri register``: planted rigid transforms are recovered; flags; the stage's outputs.

Truth is the transform the test planted (``planted_rigid``): the moving volume shows the
phantom moved by it, on another scanner grid, with a T2-like intensity inversion.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import SimpleITK as sitk
from typer.testing import CliRunner

from hepatokit.cli import app
from hepatokit.curation.mri.register.config import RegisterConfig
from hepatokit.curation.mri.register.estimate import register_rigid
from hepatokit.curation.mri.register.stage import register_sequences
from hepatokit.curation.mri.register.transforms import lps_to_ras
from hepatokit.errors import DependencyMissingError
from tests.curation.mri import planted_rigid as pr

SEQS = ("T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4")


@pytest.mark.slow
def test_recovers_planted_rigid_transforms() -> None:
    """Rotations ≤ 10°, translations ≤ 20 mm, inverted contrast: ≥ 95 % within 1 mm / 1°."""
    results = []
    for i, truth in enumerate(pr.cases(20, seed=11)):
        p = pr.pair(truth, invert=True, seed=i)
        r = register_rigid(fixed=p.fixed, moving=p.moving)
        assert r.status == "ok", r.flags
        mm, deg = pr.errors(r.matrix, truth)
        results.append(mm <= 1.0 and deg <= 1.0)
        assert r.metric_after is not None and r.metric_before is not None
        assert r.metric_after > r.metric_before  # mutual information: higher is better
    assert sum(results) >= 19, results


def test_aligned_pair_stays_at_identity() -> None:
    p = pr.pair(np.eye(4), invert=True, seed=3)
    r = register_rigid(fixed=p.fixed, moving=p.moving)
    assert r.status == "ok"
    mm, deg = pr.errors(r.matrix, np.eye(4))  # at the anatomy's centre, as for the others
    assert mm <= 0.5 and deg <= 0.5, (mm, deg)


def test_fine_in_plane_thick_slices_moving() -> None:
    """A moving volume finer than the working grid in-plane only (1.25 mm, 5 mm slices)."""
    truth = pr.rigid((0.2, 0.4, 1.0), 5.0, (6.0, -9.0, 4.0))
    aff = np.array([[-1.25, 0, 0, 110.0], [0, -1.25, 0, 95.0], [0, 0, 5.0, -85.0], [0, 0, 0, 1]])
    p = pr.pair(truth, seed=2, moving_affine=aff, moving_shape=(176, 152, 34))
    r = register_rigid(fixed=p.fixed, moving=p.moving)
    assert r.status == "ok"
    mm, deg = pr.errors(r.matrix, truth)
    assert mm <= 1.0 and deg <= 1.0, (mm, deg)


def test_affine_is_right_or_flagged() -> None:
    """Affine has 12 degrees of freedom; a result that scales the anatomy (mutual
    information can reward shrinking) must be flagged, never silently kept."""
    for i, truth in enumerate(pr.cases(2, seed=5)):
        p = pr.pair(truth, seed=i)
        r = register_rigid(fixed=p.fixed, moving=p.moving, transform="affine")
        if r.status == "ok":
            mm, deg = pr.errors(r.matrix, truth)
            assert mm <= 2.0 and deg <= 2.0, (mm, deg)
        else:
            assert np.array_equal(r.matrix, np.eye(4)) and r.flags


def test_affine_recovers_planted_scale_and_shear() -> None:
    """Planted affines (scales 0.95-1.05, shears up to 0.04, rotations up to 6°, shifts up to
    ~15 mm) with an inverted contrast: every point of a 100 × 80 × 80 mm box around the
    anatomy lands within 2 mm of where the truth sends it (the box's centre within 1 mm)."""
    rng = np.random.default_rng(21)
    box = np.array([[x, y, z, 1.0] for x in (-50, 50) for y in (-40, 40) for z in (-40, 40)])
    for i in range(6):
        linear = np.diag(rng.uniform(0.95, 1.05, 3))
        linear[0, 1], linear[1, 2] = rng.uniform(-0.04, 0.04, 2)
        shear = np.eye(4)
        shear[:3, :3] = linear
        motion = pr.rigid(rng.normal(size=3), rng.uniform(0, 6), rng.normal(size=3) * 5)
        truth = motion @ shear
        p = pr.pair(truth, invert=True, seed=i)
        r = register_rigid(fixed=p.fixed, moving=p.moving, transform="affine")
        assert r.status == "ok", r.flags
        worst = np.linalg.norm((box @ (r.matrix - truth).T)[:, :3], axis=1).max()
        assert worst <= 2.0 and pr.errors(r.matrix, truth)[0] <= 1.0, (i, worst)


def test_blank_and_tiny_moving_are_flagged() -> None:
    p = pr.pair(np.eye(4), seed=0)
    blank = nib.Nifti1Image(np.zeros(pr.MOVING_SHAPE, np.float32), pr.MOVING_AFFINE)
    r = register_rigid(fixed=p.fixed, moving=blank)
    assert (r.status, r.flags) == ("flagged", ("blank_moving",))
    assert np.array_equal(r.matrix, np.eye(4))
    tiny = nib.Nifti1Image(np.ones((3, 3, 3), np.float32), pr.MOVING_AFFINE)
    r = register_rigid(fixed=p.fixed, moving=tiny)
    assert (r.status, r.flags) == ("flagged", ("tiny_moving",))
    r = register_rigid(fixed=blank, moving=p.moving)
    assert r.flags == ("blank_reference",)


def test_translation_beyond_the_bound_is_flagged_with_identity() -> None:
    truth = pr.rigid((0, 0, 1), 3.0, (14.0, -6.0, 4.0))
    p = pr.pair(truth, seed=1)
    r = register_rigid(fixed=p.fixed, moving=p.moving, config=RegisterConfig(max_translation_mm=8))
    assert r.status == "flagged" and r.flags == ("translation",)
    assert np.array_equal(r.matrix, np.eye(4))
    assert r.found is not None
    mm, deg = pr.errors(r.found, truth)  # what it found was right; the bound flags it
    assert mm <= 1.0 and deg <= 1.0


def _build(tmp_path: Path) -> tuple[Path, dict[str, dict[str, np.ndarray]]]:
    """Three subjects: full (GED4 ref), without GED4 (GED3 ref, a blank DWI), without any
    reference; planted transforms per (subject, sequence)."""
    build = tmp_path / "build"
    build.mkdir()
    (build / "recipe.yaml").write_text(Path("recipes/lifs.yaml").read_text())
    truth: dict[str, dict[str, np.ndarray]] = {}
    rows = []
    plan = {
        "s1": {"GED4": None, "T2W": pr.rigid((1, 0, 0), 6, (8, -5, 3)), "T1W": np.eye(4)},
        "s2": {"GED3": None, "GED1": pr.rigid((0, 1, 1), -4, (-10, 2, 6)), "DWI": "blank"},
        "s3": {"T2W": None},
    }
    for k, (sid, seqs) in enumerate(plan.items()):
        row = {"subject_id": sid, **{f"volume_{s}": None for s in SEQS}, "mask_GED4": None}
        truth[sid] = {}
        for j, (seq, t) in enumerate(seqs.items()):
            rel = f"volumes/sub-{sid}/sub-{sid}_{seq}.nii.gz"
            (build / rel).parent.mkdir(parents=True, exist_ok=True)
            if t is None:
                img = pr.pair(np.eye(4), seed=k).fixed
            elif isinstance(t, str):
                img = nib.Nifti1Image(np.zeros(pr.MOVING_SHAPE, np.float32), pr.MOVING_AFFINE)
            else:
                img = pr.pair(t, invert=seq == "T2W", seed=10 * k + j).moving
                truth[sid][seq] = t
            nib.save(img, build / rel)
            row[f"volume_{seq}"] = rel
        row["sequences"] = [s for s in SEQS if row[f"volume_{s}"]]
        rows.append(row)
    pq.write_table(pa.Table.from_pylist(rows), build / "subjects.parquet")
    return build, truth


def test_stage_writes_transforms_table_and_figures(tmp_path: Path) -> None:
    build, truth = _build(tmp_path)
    s = register_sequences(build=build, workers=1, resample=True)
    assert (s.subjects, s.no_reference, s.skipped) == (3, 1, 0)
    assert (s.ok, s.flagged) == (3, 1)
    table = pq.read_table(build / "registration" / "registration.parquet").to_pylist()
    by = {(r["subject_id"], r["sequence"]): r for r in table}
    assert by[("s1", "GED4")]["status"] == "reference"
    assert by[("s2", "GED3")]["status"] == "reference"  # fallback GED4 → GED3
    assert by[("s2", "DWI")]["status"] == "flagged" and by[("s2", "DWI")]["flags"] == [
        "blank_moving"
    ]
    assert by[("s3", "T2W")]["status"] == "no_reference"
    for sid, seqs in truth.items():
        for seq, t in seqs.items():
            r = by[(sid, seq)]
            assert r["status"] == "ok"
            m = np.asarray(r["matrix_ras"]).reshape(4, 4)
            mm, deg = pr.errors(m, t)
            assert mm <= 1.0 and deg <= 1.0, (sid, seq, mm, deg)
            # the .tfm is the same transform, in ITK's LPS world
            tx = sitk.ReadTransform(str(build / r["tfm_path"]))
            p_ras = np.array([20.0, -15.0, 10.0])
            p_lps = p_ras * [-1, -1, 1]
            q_lps = np.asarray(tx.TransformPoint(p_lps.tolist()))
            assert np.allclose(q_lps * [-1, -1, 1], (m @ np.append(p_ras, 1))[:3], atol=1e-3)
            assert np.allclose(lps_to_ras(lps_to_ras(m)), m)
            # resampled volume lies on the reference grid
            ref = nib.load(build / f"volumes/sub-{sid}/sub-{sid}_{r['reference']}.nii.gz")
            res = nib.load(build / r["resampled_path"])
            assert res.shape == ref.shape and np.allclose(res.affine, ref.affine, atol=1e-4)
    assert (build / "reports" / "registration" / "sub-s1.png").is_file()
    assert (build / "reports" / "registration" / "sub-s2.png").is_file()
    # resumable: nothing changed → nothing recomputed; a changed input → that subject only
    s2 = register_sequences(build=build, workers=1, resample=True)
    assert s2.skipped == 3 and s2.ok == 3
    assert pq.read_table(build / "registration" / "registration.parquet").to_pylist() == table
    state = build / "registration" / "sub-s1" / "registration.json"
    assert json.loads(state.read_text())["rows"][0]["sequence"] == "GED4"
    nib.save(pr.pair(np.eye(4), seed=5).fixed, build / "volumes/sub-s1/sub-s1_GED4.nii.gz")
    assert register_sequences(build=build, workers=1, resample=True).skipped == 2


def test_cli_reference_option_and_missing_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build, _ = _build(tmp_path)
    res = CliRunner().invoke(
        app, ["-q", "-w", "1", "mri", "register", str(build), "--reference", "T2W"]
    )
    assert res.exit_code == 0, res.output
    table = pq.read_table(build / "registration" / "registration.parquet").to_pylist()
    refs = {r["subject_id"]: r["reference"] for r in table}
    assert refs == {"s1": "T2W", "s2": "GED3", "s3": "T2W"}
    monkeypatch.setitem(sys.modules, "SimpleITK", None)
    with pytest.raises(DependencyMissingError, match=r"hepatokit\[mri\]"):
        register_sequences(build=build, workers=1)
