"""End to end: a published LiFS folder with a planted stage signal → trained → submission."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from tests.fixtures.builds import REPO, make_fake_lifs_build


def _plant_signal(build, seed=0):
    """Reassign splits at random (ID vendors) and add a stage-dependent blob to every volume."""
    import nibabel as nib

    rng = np.random.default_rng(seed)
    subjects = pq.read_table(build / "subjects.parquet").to_pylist()
    splits = []
    for s in subjects:
        if s["vendor"] == "Vendor C":
            split = "test_ood"
        else:
            split = rng.choice(["train"] * 5 + ["validation"] * 2 + ["test_id"] * 3)
            if s["stage"] is None:  # unlabelled validation rows of the fake build
                split = "validation"
        splits.append({"id": s["subject_id"], "group": s["subject_id"], "split": str(split)})
        stage = 0 if s["stage"] is None else int(s["stage"][1]) - 1
        for key, rel in s.items():
            if not key.startswith("volume_") or rel is None:
                continue
            img = nib.load(build / rel)
            data = np.asarray(img.dataobj).astype(np.float32)
            grid = np.stack(
                np.meshgrid(*[np.linspace(-1, 1, n) for n in data.shape[:3]], indexing="ij")
            )
            blob = np.exp(-(grid**2).sum(0) / 0.4)
            if data.ndim == 4:
                blob = blob[..., None]
            data = data + 500.0 * stage * blob
            nib.save(nib.Nifti1Image(data.astype(np.int16), img.affine), build / rel)
    pq.write_table(pa.Table.from_pylist(splits), build / "splits.parquet")
    return {s["subject_id"]: s for s in subjects}, {r["id"]: r["split"] for r in splits}


@pytest.fixture(scope="module")
def planted_lifs(tmp_path_factory):
    from hepatokit.publish import publish_build

    root = tmp_path_factory.mktemp("planted_lifs")
    fake = make_fake_lifs_build(root, per_vendor=10, shape=(16, 16, 8), seed=3)
    subjects, split_of = _plant_signal(fake.build)
    hf = root / "hf"
    publish_build(build=fake.build, out=hf, workers=1)
    # a recipe whose tiny grid fits the fake volumes (16 × 0.9 mm × 8 × 2.5 mm)
    recipe = yaml.safe_load((REPO / "recipes" / "lifs.yaml").read_text())
    tiny = recipe["baselines"]["staging"]["tiny"]
    tiny.update(grid=[16, 16, 8], spacing=[0.9, 0.9, 2.5], vit_patch=[8, 8, 8])
    path = root / "lifs_test.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return hf, path, subjects, split_of


@pytest.mark.slow
def test_staging_baseline_end_to_end_beats_chance_and_resumes(tmp_path, planted_lifs):
    from hepatokit.baselines.staging_run import run_staging

    hf, recipe, subjects, split_of = planted_lifs
    out = tmp_path / "staging"
    report = run_staging(
        data=hf,
        model="resnet3d",
        track="noncontrast",
        out=out,
        recipe=recipe,
        tiny=True,
        device="cpu",
        seed=0,
    )
    sub = pd.read_csv(report.submission_path, dtype={"Case": str})
    assert list(sub.columns) == ["Case", "Setting", "Subtask1_prob_S4", "Subtask2_prob_S1"]
    assert set(sub["Setting"]) == {"NonContrast"}
    tests = {sid for sid, sp in split_of.items() if sp in ("test_id", "test_ood")}
    assert set(sub["Case"]) == tests
    assert sub[["Subtask1_prob_S4", "Subtask2_prob_S1"]].stack().between(0, 1).all()
    losses = [h["train_loss"] for h in report.history]
    assert losses[-1] < losses[0]
    test_id = sub[sub["Case"].map(split_of) == "test_id"]
    y = [subjects[c]["stage"] == "S4" for c in test_id["Case"]]
    assert roc_auc_score(y, test_id["Subtask1_prob_S4"]) > 0.6
    # the contrast track is merged into the same submission file; a rerun resumes (no work)
    second = run_staging(
        data=hf,
        model="resnet3d",
        track="noncontrast",
        out=out,
        recipe=recipe,
        tiny=True,
        device="cpu",
        seed=0,
    )
    assert second.history == report.history
    assert pd.read_csv(second.submission_path, dtype={"Case": str}).equals(sub)


@pytest.mark.slow
def test_staging_contrast_vit3d_merges_tracks(tmp_path, planted_lifs):
    from hepatokit.baselines.staging_run import run_staging
    from hepatokit.evaluation.submission import read_submission

    hf, recipe, _, split_of = planted_lifs
    out = tmp_path / "s"
    for track in ("contrast", "noncontrast"):
        run_staging(
            data=hf,
            model="vit3d",
            track=track,
            out=out,
            recipe=recipe,
            tiny=True,
            epochs=1,
            device="cpu",
        )
    sub = pd.read_csv(out / "submissions" / "vit3d.csv", dtype={"Case": str})
    assert sub.groupby("Setting").size().to_dict() == {
        "Contrast": len([s for s in split_of.values() if s.startswith("test")]),
        "NonContrast": len([s for s in split_of.values() if s.startswith("test")]),
    }
    # the evaluator reads it
    cases = set(sub["Case"])
    read_submission(out / "submissions" / "vit3d.csv", cases=cases)


@pytest.mark.slow
def test_loader_workers_share_an_on_disk_volume_cache(tmp_path, planted_lifs):
    from hepatokit.baselines.staging_run import run_staging

    hf, recipe, _, _ = planted_lifs
    kw = dict(
        data=hf,
        model="resnet3d",
        track="noncontrast",
        recipe=recipe,
        tiny=True,
        epochs=1,
        device="cpu",
        seed=0,
    )
    with_workers = run_staging(out=tmp_path / "w", num_workers=2, **kw)
    cached = sorted((tmp_path / "w" / "volume_cache").glob("*.pt"))
    n_test = len(pd.read_csv(with_workers.submission_path))
    assert len(cached) > n_test  # labelled train/validation volumes + every test volume
    inline = run_staging(out=tmp_path / "i", num_workers=0, **kw)
    a = pd.read_csv(with_workers.submission_path)
    b = pd.read_csv(inline.submission_path)
    pd.testing.assert_frame_equal(a, b, atol=1e-5)


@pytest.mark.slow
def test_grid_cache_trains_as_the_uncached_run_and_a_later_run_hits(tmp_path, planted_lifs):
    from hepatokit.baselines.staging_run import run_staging

    hf, recipe, _, _ = planted_lifs
    kw = dict(
        data=hf,
        model="resnet3d",
        track="noncontrast",
        recipe=recipe,
        tiny=True,
        epochs=2,
        device="cpu",
        seed=0,
    )
    timings = ("epoch_seconds", "samples_per_second", "peak_memory_bytes")

    def rows(report):
        return [{k: v for k, v in h.items() if k not in timings} for h in report.history]

    plain = run_staging(out=tmp_path / "plain", **kw)
    cached = run_staging(out=tmp_path / "cached", cache="float32", **kw)
    assert rows(cached) == rows(plain)  # float32 is lossless: the same training, value for value
    sub = pd.read_csv(cached.submission_path)
    pd.testing.assert_frame_equal(sub, pd.read_csv(plain.submission_path))
    folder = tmp_path / "cached" / "grid_cache"
    entries = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.npy")}
    assert len(entries) > len(sub)  # labelled train/validation volumes + every test volume
    # a later run of the same data and grid reads every entry, computes none
    again = run_staging(out=tmp_path / "cached", cache="float32", resume=False, **kw)
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("*.npy")} == entries
    assert rows(again) == rows(plain)
    # another dtype is another key (a lossy dtype trains exactly as the volumes rounded to it:
    # test_grid_cache; AdamW's first steps amplify any input change, so no loss tolerance here)
    run_staging(out=tmp_path / "cached", cache="float16", resume=False, **kw)
    assert len(list(folder.glob("*.npy"))) == 2 * len(entries)
