import numpy as np
import pytest
from sklearn.metrics import f1_score

from hepatokit.baselines.embeddings import embed_images
from hepatokit.baselines.encoders import load_encoder
from hepatokit.baselines.heads import LinearHead, load_head, save_head
from hepatokit.baselines.linear_probe import ProbeSettings, regularisation_c, train_linear_probe
from hepatokit.errors import DataFormatError

from .planted import CLASSES, colour_patches


@pytest.fixture(scope="module")
def embedded():
    enc = load_encoder("builtin:tiny-cnn")
    tr_img, tr_y = colour_patches(280, seed=10)
    va_img, va_y = colour_patches(70, seed=11)
    te_img, te_y = colour_patches(140, seed=12)
    return enc, [
        (embed_images(enc, im), y) for im, y in ((tr_img, tr_y), (va_img, va_y), (te_img, te_y))
    ]


def _macro_f1(y, pred):
    return f1_score(y, pred, average="macro", labels=range(len(CLASSES)), zero_division=0)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lbfgs", "adamw"])
def test_probe_beats_majority_and_loss_decreases(embedded, method):
    enc, ((xtr, ytr), (xva, yva), (xte, yte)) = embedded
    head = train_linear_probe(
        xtr,
        ytr,
        val_x=xva,
        val_y=yva,
        classes=CLASSES,
        encoder_spec=enc.spec,
        encoder_identity=enc.identity,
        settings=ProbeSettings(method=method),
    )
    majority = np.full_like(yte, np.bincount(ytr).argmax())
    f1 = _macro_f1(yte, head.predict(xte))
    assert f1 > _macro_f1(yte, majority) + 0.3
    assert head.info["final_loss"] < head.info["initial_loss"]
    probs = head.predict_proba(xte)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-9)


def test_lbfgs_protocol_matches_the_uni_objective(embedded):
    _enc, ((xtr, ytr), _, _) = embedded
    head = train_linear_probe(
        xtr,
        ytr,
        classes=CLASSES,
        encoder_spec="s",
        encoder_identity="i",
        settings=ProbeSettings(max_iter=50),
    )
    # the loss it reports is CE + 0.5 * ||W||_F / C at the returned weights
    z = xtr.astype(np.float64) @ head.weight.T + head.bias
    z -= z.max(1, keepdims=True)
    ce = -(z[np.arange(len(ytr)), ytr] - np.log(np.exp(z).sum(1))).mean()
    c = regularisation_c(xtr.shape[1], len(CLASSES))
    assert c == xtr.shape[1] * 7 / 100
    expected = ce + 0.5 * np.linalg.norm(head.weight) / c
    assert head.info["final_loss"] == pytest.approx(expected, rel=1e-4)
    # zero init → the first evaluated loss is log(K)
    assert head.info["initial_loss"] == pytest.approx(np.log(len(CLASSES)), rel=1e-6)


def test_probe_is_deterministic(embedded):
    _enc, ((xtr, ytr), _, _) = embedded
    kw = dict(
        classes=CLASSES, encoder_spec="s", encoder_identity="i", settings=ProbeSettings(max_iter=30)
    )
    a = train_linear_probe(xtr, ytr, **kw)
    b = train_linear_probe(xtr, ytr, **kw)
    np.testing.assert_array_equal(a.weight, b.weight)


def test_head_roundtrip_and_encoder_check(tmp_path, embedded):
    enc, ((xtr, ytr), _, (xte, _)) = embedded
    head = train_linear_probe(
        xtr,
        ytr,
        classes=CLASSES,
        encoder_spec=enc.spec,
        encoder_identity=enc.identity,
        settings=ProbeSettings(max_iter=20),
    )
    p1 = save_head(head, tmp_path / "h.npz")
    p2 = save_head(head, tmp_path / "h2.npz")
    assert p1.read_bytes() == p2.read_bytes()  # byte-stable
    loaded = load_head(p1)
    loaded.check_encoder(enc)
    np.testing.assert_array_equal(loaded.predict_proba(xte), head.predict_proba(xte))
    assert loaded.classes == CLASSES and loaded.info["method"] == "lbfgs"
    other = LinearHead(
        weight=head.weight,
        bias=head.bias,
        classes=CLASSES,
        encoder_spec="hf:x",
        encoder_identity="0" * 64,
    )
    with pytest.raises(DataFormatError, match="trained on encoder"):
        other.check_encoder(enc)
    with pytest.raises(DataFormatError):
        head.predict(np.zeros((2, 3)))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataFormatError):
        load_head(tmp_path / "junk.npz")
    with pytest.raises(DataFormatError, match="not found"):
        load_head(tmp_path / "none.npz")


def test_bad_labels_are_rejected():
    with pytest.raises(DataFormatError):
        train_linear_probe(
            np.zeros((3, 4)),
            np.array([0, 1, 9]),
            classes=("a", "b"),
            encoder_spec="s",
            encoder_identity="i",
        )
