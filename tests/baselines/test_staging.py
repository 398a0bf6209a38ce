import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from hepatokit.baselines.devices import DevicePlan
from hepatokit.baselines.staging import (
    class_weights,
    load_best_model,
    predict_staging,
    train_staging,
)
from hepatokit.baselines.staging_config import TINY, StagingConfig, with_overrides
from hepatokit.baselines.staging_models import build_staging_model
from hepatokit.errors import BuildStateError

from .planted import VolumeSet

CFG = with_overrides(TINY, epochs=4, batch_size=8, grid=(16, 16, 8), vit_patch=(8, 8, 8))


@pytest.fixture(scope="module")
def data():
    return (
        VolumeSet(64, 0, grid=CFG.grid, missing=0.2),
        VolumeSet(24, 1, grid=CFG.grid),
        VolumeSet(40, 2, grid=CFG.grid),
    )


def test_class_weights_are_inverse_frequency():
    w = class_weights(np.array([0, 0, 0, 1, 3, 3]))
    assert w[2] == 0.0
    np.testing.assert_allclose(w[[0, 1, 3]], [6 / 9, 6 / 3, 6 / 6])
    # weighted counts are balanced
    counts = np.bincount([0, 0, 0, 1, 3, 3], minlength=4)
    np.testing.assert_allclose((w * counts)[[0, 1, 3]], 2.0)


@pytest.mark.slow
def test_resnet3d_learns_planted_signal_and_writes_checkpoints(tmp_path, data):
    train, val, test = data
    run = train_staging(
        train, val, model_name="resnet3d", config=CFG, out_dir=tmp_path, in_channels=3, seed=0
    )
    losses = [h["train_loss"] for h in run.history]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert run.best_path.is_file() and 0 <= run.best_epoch < 4
    assert len(list((tmp_path / "checkpoints").glob("epoch-*.pt"))) == 2  # keep_last
    probs = predict_staging(load_best_model(tmp_path), test)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    auc = roc_auc_score(test.labels == 3, probs[:, 3])
    assert auc > 0.6


@pytest.mark.slow
def test_resume_continues_from_checkpoint_and_matches_uninterrupted(tmp_path, data):
    train, val, _ = data
    cfg3 = with_overrides(CFG, epochs=3)
    full = train_staging(
        train,
        val,
        model_name="resnet3d",
        config=cfg3,
        out_dir=tmp_path / "full",
        in_channels=3,
        seed=1,
    )
    first = train_staging(
        train,
        val,
        model_name="resnet3d",
        config=cfg3,
        stop_after=2,
        out_dir=tmp_path / "split",
        in_channels=3,
        seed=1,
    )
    assert first.epochs_run == 2
    second = train_staging(
        train,
        val,
        model_name="resnet3d",
        config=cfg3,
        out_dir=tmp_path / "split",
        in_channels=3,
        seed=1,
    )
    assert second.resumed_from == 1 and second.epochs_run == 1
    assert [h["epoch"] for h in second.history] == [0, 1, 2]
    for a, b in zip(full.history, second.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
    # a finished run does nothing more
    again = train_staging(
        train,
        val,
        model_name="resnet3d",
        config=cfg3,
        out_dir=tmp_path / "split",
        in_channels=3,
        seed=1,
    )
    assert again.epochs_run == 0
    # another config in the same folder is refused
    with pytest.raises(BuildStateError):
        train_staging(
            train,
            val,
            model_name="vit3d",
            config=cfg3,
            out_dir=tmp_path / "split",
            in_channels=3,
            seed=1,
        )


@pytest.mark.slow
def test_vit3d_trains_with_cpu_bf16_autocast_and_channels_last(tmp_path, data):
    train, val, test = data
    plan = DevicePlan(device="cpu", amp=True, channels_last=True)
    run = train_staging(
        train,
        val,
        model_name="vit3d",
        config=with_overrides(CFG, epochs=2),
        out_dir=tmp_path,
        in_channels=3,
        plan=plan,
    )
    assert all(math.isfinite(h["train_loss"]) for h in run.history)
    probs = predict_staging(load_best_model(tmp_path, plan), test, plan=plan)
    assert probs.shape == (len(test), 4) and np.isfinite(probs).all()


def test_models_are_seeded_and_reject_unknown_names():
    a = build_staging_model("resnet3d", in_channels=2, n_classes=4, config=CFG, seed=5)
    b = build_staging_model("resnet3d", in_channels=2, n_classes=4, config=CFG, seed=5)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    with pytest.raises(Exception, match="unknown staging model"):
        build_staging_model("unet", in_channels=2, n_classes=4, config=CFG)


def test_config_validation():
    with pytest.raises(ValueError, match="divisible"):
        StagingConfig(grid=(30, 32, 16), vit_patch=(8, 8, 8))
    with pytest.raises(ValueError, match="3 values"):
        StagingConfig(grid=(32, 32))
