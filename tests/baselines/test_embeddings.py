import hashlib

import numpy as np
import pytest
import torch

from hepatokit.baselines.devices import DevicePlan
from hepatokit.baselines.embeddings import EmbeddingCache, embed_dataset, embed_images
from hepatokit.baselines.encoders import load_encoder
from hepatokit.errors import DataFormatError

from .planted import colour_patches


def _md5(img: np.ndarray) -> str:
    return hashlib.md5(img.tobytes()).hexdigest()


class CountingForward:
    """Wrap an encoder's model and count the images it sees."""

    def __init__(self, encoder):
        self.inner = encoder.model
        self.images = 0
        encoder.model = self  # type: ignore[assignment]

    def __call__(self, x):
        self.images += x.shape[0]
        return self.inner(x)

    def to(self, *a, **k):
        self.inner.to(*a, **k)
        return self


def test_second_run_reads_the_cache_and_computes_nothing(tmp_path):
    images, _ = colour_patches(23, seed=0)
    images.append(images[0].copy())  # an exact duplicate: embedded once
    keys = [_md5(im) for im in images]
    cache = EmbeddingCache(tmp_path / "cache")

    enc = load_encoder("builtin:tiny-cnn")
    counter = CountingForward(enc)
    first = embed_dataset(enc, images, keys, cache=cache, batch_size=8)
    assert counter.images == 23 and first.n_computed == 23
    np.testing.assert_array_equal(first.features[0], first.features[-1])

    enc2 = load_encoder("builtin:tiny-cnn")
    counter2 = CountingForward(enc2)
    second = embed_dataset(enc2, images, keys, cache=cache, batch_size=8)
    assert counter2.images == 0
    assert second.n_computed == 0 and second.n_cached == 24
    np.testing.assert_array_equal(first.features, second.features)

    # a new image: only it is computed; the old ones come from the cache
    more, _ = colour_patches(3, seed=9)
    third = embed_dataset(enc2, images + more, keys + [_md5(m) for m in more], cache=cache)
    assert counter2.images == 3 and third.n_computed == 3
    np.testing.assert_allclose(third.features[:24], first.features, rtol=1e-6)


def test_cached_equals_direct_and_workers_give_the_same(tmp_path):
    images, _ = colour_patches(10, seed=1)
    keys = [_md5(im) for im in images]
    enc = load_encoder("builtin:tiny-cnn")
    direct = embed_images(enc, images, batch_size=4)
    res = embed_dataset(
        enc, images, keys, cache=EmbeddingCache(tmp_path), batch_size=3, num_workers=2
    )
    np.testing.assert_allclose(res.features, direct, rtol=1e-5, atol=1e-6)


def test_interrupted_shard_is_ignored(tmp_path):
    images, _ = colour_patches(4, seed=2)
    keys = [_md5(im) for im in images]
    cache = EmbeddingCache(tmp_path)
    enc = load_encoder("builtin:tiny-cnn")
    embed_dataset(enc, images, keys, cache=cache)
    for f in cache.folder(enc.identity).glob("*.keys.txt"):
        f.unlink()  # features written, keys (the commit marker) not
    assert cache.load(enc.identity) == {}
    assert embed_dataset(enc, images, keys, cache=cache).n_computed == 4


def test_bf16_cpu_autocast_path_runs_and_is_close():
    images, _ = colour_patches(6, seed=3)
    enc = load_encoder("builtin:tiny-cnn")
    fp32 = embed_images(enc, images)
    bf16 = embed_images(enc, images, plan=DevicePlan(device="cpu", amp=True))
    assert bf16.dtype == np.float32
    np.testing.assert_allclose(bf16, fp32, rtol=0.1, atol=0.05)


def test_channels_last_path_matches():
    images, _ = colour_patches(5, seed=4)
    enc = load_encoder("builtin:tiny-cnn")
    ref = embed_images(enc, images)
    cl = embed_images(enc, images, plan=DevicePlan(device="cpu", channels_last=True))
    np.testing.assert_allclose(cl, ref, rtol=1e-4, atol=1e-5)


def test_keys_must_align():
    enc = load_encoder("builtin:tiny-cnn")
    with pytest.raises(DataFormatError):
        embed_dataset(enc, [np.zeros((8, 8, 3), np.uint8)], ["a", "b"])


def test_dict_items_with_image_key():
    images, _ = colour_patches(3, seed=5)
    rows = [{"image": torch.from_numpy(im).permute(2, 0, 1), "label": 0} for im in images]
    enc = load_encoder("builtin:tiny-cnn")
    res = embed_dataset(enc, rows, ["a", "b", "c"], image_key="image")
    np.testing.assert_allclose(res.features, embed_images(enc, images), rtol=1e-5, atol=1e-6)
