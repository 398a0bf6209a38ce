"""The preprocessed-grid cache: hits, misses and invalidation, each dtype's error bound
against the volumes themselves, resumability, and training through the cache equal to
training on the same (quantised) volumes without it."""

import numpy as np
import pytest
import torch

from hepatokit.baselines.grid_cache import (
    CachedVolumes,
    GridCache,
    cache_volumes,
    quantisation_bound,
)
from hepatokit.baselines.staging import train_staging
from hepatokit.baselines.staging_config import TINY, with_overrides
from hepatokit.baselines.staging_feed import augment_batch, batch_order
from hepatokit.errors import DataFormatError

from .planted import VolumeSet

CFG = with_overrides(TINY, epochs=2, batch_size=8, grid=(16, 16, 8), vit_patch=(8, 8, 8))
PARAMS = {"grid": [16, 16, 8], "spacing": [1.0, 1.0, 1.0]}


class Tensors(torch.utils.data.Dataset):
    """``(volume, label)`` over given volumes (the truth the cache is compared with)."""

    def __init__(self, volumes, labels):
        self.volumes = torch.as_tensor(np.asarray(volumes, dtype=np.float32))
        self.labels = np.asarray(labels)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.volumes[i], int(self.labels[i])


@pytest.fixture(scope="module")
def data():
    return VolumeSet(24, 0, grid=CFG.grid, missing=0.2), VolumeSet(12, 1, grid=CFG.grid)


def _files(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.npy")}


def test_hits_misses_and_invalidation_by_content_params_and_dtype(tmp_path, data):
    train, _ = data
    first = GridCache(tmp_path, dtype="float16", params=PARAMS)
    cache_volumes(train, first)
    assert (first.misses, first.hits) == (len(train), 0)
    before = _files(tmp_path)
    assert len(before) == len(train)

    again = GridCache(tmp_path, dtype="float16", params=dict(PARAMS))  # a later run
    cached = cache_volumes(train, again)
    assert (again.misses, again.hits) == (0, len(train))
    assert _files(tmp_path) == before  # nothing rewritten
    np.testing.assert_array_equal(cached.labels, train.labels)

    edited = train.volumes.clone()
    edited[5, 0, 3, 3, 3] += 1.0  # one source volume changes
    third = GridCache(tmp_path, dtype="float16", params=PARAMS)
    cached = cache_volumes(Tensors(edited, train.labels), third)
    assert (third.misses, third.hits) == (1, len(train) - 1)
    assert float(cached[5][0][0, 3, 3, 3]) == pytest.approx(float(edited[5, 0, 3, 3, 3]), 1e-3)

    for changed in (
        GridCache(tmp_path, dtype="float16", params={**PARAMS, "grid": [16, 16, 16]}),
        GridCache(tmp_path, dtype="uint8", params=PARAMS),
    ):
        cache_volumes(train, changed)
        assert (changed.misses, changed.hits) == (len(train), 0)


@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8"])
def test_cached_grid_equals_the_volumes_within_the_dtype_bound(tmp_path, data, dtype):
    rng = np.random.default_rng(4)
    # percentile-normalised volumes are 0–1; one channel left at zero (a missing sequence)
    vols = rng.uniform(0, 1, size=(6, 3, *CFG.grid)).astype(np.float32)
    vols[2, 1] = 0.0
    vols[3] *= 40.0  # and one beyond 0–1 (zscore-like range)
    cached = cache_volumes(Tensors(vols, np.zeros(6)), GridCache(tmp_path, dtype=dtype, params={}))
    for i in range(len(vols)):
        got = cached[i][0].numpy()
        err = np.abs(got - vols[i]).reshape(3, -1).max(1)
        if dtype == "float32":
            np.testing.assert_array_equal(got, vols[i])
        elif dtype == "float16":  # numpy's own rounding is the truth
            np.testing.assert_array_equal(got, vols[i].astype(np.float16).astype(np.float32))
        else:  # half a step of (max - min) / 255 per channel
            span = vols[i].reshape(3, -1).max(1) - vols[i].reshape(3, -1).min(1)
            assert (err <= span / 510 + 1e-6).all()
            assert err.max() > span.max() / 510 / 4  # really quantised
        assert (err <= quantisation_bound(vols[i], dtype)).all()
    np.testing.assert_array_equal(cached[2][0].numpy()[1], 0.0)  # a zero channel stays zero
    # whole-batch gather + decode gives the per-item volumes
    raw, lo, step, _ = cached.gather([3, 0, 2])
    assert raw.dtype == {"float32": torch.float32, "float16": torch.float16}.get(dtype, torch.uint8)
    batch = cached.decode(raw, lo, step)
    for j, i in enumerate([3, 0, 2]):
        torch.testing.assert_close(batch[j], cached[i][0], rtol=0, atol=0)


def test_a_killed_build_resumes_with_the_missing_entries_only(tmp_path, data):
    train, _ = data

    class Dies(Tensors):
        def __getitem__(self, i):
            if i == 7:
                raise KeyboardInterrupt  # the run is killed while computing item 7
            return super().__getitem__(i)

    cache = GridCache(tmp_path, dtype="uint8", params=PARAMS)
    keys = [f"case-{i}" for i in range(len(train))]
    with pytest.raises(KeyboardInterrupt):
        cache_volumes(Dies(train.volumes, train.labels), cache, source_key=keys.__getitem__)
    assert len(list(tmp_path.glob("*.scale.npy"))) == 7
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # only whole entries
    resumed = GridCache(tmp_path, dtype="uint8", params=PARAMS)
    cache_volumes(train, resumed, source_key=keys.__getitem__)
    assert (resumed.hits, resumed.misses) == (7, len(train) - 7)


def test_float16_refuses_volumes_beyond_its_range(tmp_path):
    vols = np.full((1, 1, 4, 4, 4), 1e5, dtype=np.float32)
    with pytest.raises(DataFormatError, match="float16"):
        cache_volumes(Tensors(vols, [0]), GridCache(tmp_path, dtype="float16", params={}))


def _train(train, val, out, **kw):
    cfg = with_overrides(CFG, **kw)
    run = train_staging(train, val, model_name="resnet3d", config=cfg, out_dir=out,
                        in_channels=3, seed=3)  # fmt: skip
    state = torch.load(out / "checkpoints" / "best.pt", weights_only=False)["model"]
    timings = ("epoch_seconds", "samples_per_second", "peak_memory_bytes")
    rows = [{k: v for k, v in h.items() if k not in timings} for h in run.history]
    return rows, state


def _assert_same_training(a, b):
    assert a[0] == b[0]  # losses, AUCs, accuracies, learning rates: every value equal
    for name, tensor in a[1].items():
        assert torch.equal(tensor, b[1][name]), name


@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8"])
def test_training_through_the_cache_equals_training_on_the_quantised_volumes(tmp_path, data, dtype):
    train, val = data
    cache = GridCache(tmp_path / "cache", dtype=dtype, params=PARAMS)
    c_train, c_val = cache_volumes(train, cache), cache_volumes(val, cache)
    assert isinstance(c_train, CachedVolumes)
    # the truth: the same volumes quantised by themselves, through the plain DataLoader path
    if dtype == "float32":
        q_train, q_val = train, val
    elif dtype == "float16":
        q_train, q_val = (Tensors(d.volumes.half().float(), d.labels) for d in (train, val))
    else:  # uint8: the bound holds (test above); train on exactly those values
        q_train, q_val = (
            Tensors(np.stack([c[i][0].numpy() for i in range(len(c))]), c.labels)
            for c in (c_train, c_val)
        )
    _assert_same_training(
        _train(c_train, c_val, tmp_path / "cached"), _train(q_train, q_val, tmp_path / "plain")
    )


def test_device_augmentation_is_seeded_and_flips_and_scales_each_sample(tmp_path, data):
    train, val = data
    x = train.volumes[:5].clone()
    got = augment_batch(x, torch.Generator().manual_seed(9))
    g = torch.Generator().manual_seed(9)  # the same draws, applied sample by sample in numpy
    flips = (torch.rand((5, 3), generator=g) < 0.5).numpy()
    gains = (1.0 + (torch.rand((5, 3), generator=g) * 2.0 - 1.0) * 0.1).numpy()
    for i in range(5):
        want = x[i].numpy()
        for axis in range(3):
            if flips[i, axis]:
                want = np.flip(want, axis=1 + axis)
        want = want * gains[i][:, None, None, None]
        np.testing.assert_allclose(got[i].numpy(), want, rtol=1e-6)
    assert flips.any() and not flips.all()
    # same seed → the same training result; another seed → another
    cache = GridCache(tmp_path / "cache", dtype="float16", params=PARAMS)
    c_train, c_val = cache_volumes(train, cache), cache_volumes(val, cache)
    a = _train(c_train, c_val, tmp_path / "a", augment=True)
    b = _train(c_train, c_val, tmp_path / "b", augment=True)
    _assert_same_training(a, b)
    plain = _train(c_train, c_val, tmp_path / "c")
    assert a[0][0]["train_loss"] != plain[0][0]["train_loss"]


def test_batch_order_is_the_seeded_dataloader_order(data):
    train, _ = data
    dl = torch.utils.data.DataLoader(
        train, batch_size=5, shuffle=True, generator=torch.Generator().manual_seed(11)
    )
    order = batch_order(len(train), 5, shuffle=True, seed=11)
    batches = list(dl)
    assert len(batches) == len(order)
    for (x, _), b in zip(batches, order, strict=True):
        assert torch.equal(x, train.volumes[b])
    assert sorted(i for b in order for i in b) == list(range(len(train)))


def test_worker_processes_fill_the_missing_entries_like_the_serial_build(tmp_path, data):
    train, _ = data
    keys = [f"case-{i}" for i in range(len(train))]
    serial = GridCache(tmp_path / "serial", dtype="uint8", params=PARAMS)
    a = cache_volumes(train, serial, source_key=keys.__getitem__)
    half = GridCache(tmp_path / "workers", dtype="uint8", params=PARAMS)
    cache_volumes(Tensors(train.volumes[:10], train.labels[:10]), half, source_key=keys.__getitem__)
    pooled = GridCache(tmp_path / "workers", dtype="uint8", params=PARAMS)
    b = cache_volumes(train, pooled, source_key=keys.__getitem__, workers=2)
    assert (pooled.hits, pooled.misses) == (10, len(train) - 10)  # resumed: the rest only
    for p in (tmp_path / "serial").glob("*.npy"):
        assert p.read_bytes() == (tmp_path / "workers" / p.name).read_bytes()
    raw_a, raw_b = a.gather(list(range(len(a)))), b.gather(list(range(len(b))))
    for x, y in zip(raw_a, raw_b, strict=True):
        assert torch.equal(x, y)
