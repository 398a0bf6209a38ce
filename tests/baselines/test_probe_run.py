import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from hepatokit.baselines.heads import load_head
from hepatokit.baselines.linear_probe import ProbeSettings
from hepatokit.baselines.patch_data import PatchSplit
from hepatokit.baselines.probe_run import encoder_slug, run_probe
from hepatokit.errors import DataFormatError

from .planted import CLASSES, colour_patches

# the protocol's 1000 L-BFGS iterations are tested in test_linear_probe; fewer here
FAST = ProbeSettings(max_iter=150)


def _split(n, seed, prefix):
    images, labels = colour_patches(n, seed=seed)
    ids = [f"{prefix}{i:04d}" for i in range(n)]
    md5s = [hashlib.md5(im.tobytes()).hexdigest() for im in images]
    return PatchSplit(images=images, ids=ids, md5s=md5s, labels=labels)


@pytest.fixture(scope="module")
def splits():
    return {
        "train": _split(210, 20, "tr"),
        "validation": _split(60, 21, "va"),
        "test": _split(120, 22, "te"),
    }


@pytest.mark.slow
def test_probe_run_writes_heads_predictions_metrics_and_reuses_cache(tmp_path, splits):
    out = tmp_path / "probe"
    report = run_probe(
        data=splits,
        encoders=["builtin:tiny-cnn"],
        out=out,
        classes=CLASSES,
        device="cpu",
        bootstrap=50,
        settings=FAST,
    )
    (o,) = report.outcomes
    assert o.metrics["macro_f1"] > 0.5
    assert o.intervals["macro_f1"][0] <= o.metrics["macro_f1"] <= o.intervals["macro_f1"][1]
    pred = pd.read_csv(o.predictions_path)
    assert list(pred.columns) == ["id", "pred", *[f"prob_{c}" for c in CLASSES]]
    assert pred["id"].tolist() == splits["test"].ids
    assert set(pred["pred"]) <= set(CLASSES)
    head = load_head(o.head_path)
    assert head.encoder_spec == "builtin:tiny-cnn" and head.classes == CLASSES
    log = json.loads((out / "logs" / "builtin-tiny-cnn.embedding.json").read_text())
    assert log["train"]["computed"] == 210
    comparison = (out / "comparison.csv").read_bytes()
    metrics = (out / "metrics" / "builtin-tiny-cnn.json").read_bytes()

    # second run, same encoder: everything from the cache, identical results
    import hepatokit.baselines.embeddings as emb

    calls = []
    original = emb._run_encoder
    emb._run_encoder = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        run_probe(
            data=splits,
            encoders=["builtin:tiny-cnn"],
            out=out,
            classes=CLASSES,
            device="cpu",
            bootstrap=50,
            settings=FAST,
        )
    finally:
        emb._run_encoder = original
    assert calls == []
    log = json.loads((out / "logs" / "builtin-tiny-cnn.embedding.json").read_text())
    assert {v["computed"] for v in log.values()} == {0.0}
    assert (out / "comparison.csv").read_bytes() == comparison
    assert (out / "metrics" / "builtin-tiny-cnn.json").read_bytes() == metrics


def test_probe_beats_majority_on_macro_f1(tmp_path, splits):
    report = run_probe(
        data=splits,
        encoders=["builtin:tiny-cnn"],
        out=tmp_path,
        classes=CLASSES,
        device="cpu",
        bootstrap=0,
        settings=FAST,
    )
    from sklearn.metrics import f1_score

    y = splits["test"].labels
    majority = np.full_like(y, np.bincount(splits["train"].labels).argmax())
    assert report.outcomes[0].metrics["macro_f1"] > f1_score(y, majority, average="macro")


def test_probe_run_errors(tmp_path, splits):
    with pytest.raises(DataFormatError, match="no encoder"):
        run_probe(data=splits, encoders=[], out=tmp_path, classes=CLASSES)
    with pytest.raises(DataFormatError, match="train and test"):
        run_probe(
            data={"train": splits["train"]},
            encoders=["builtin:tiny-cnn"],
            out=tmp_path,
            classes=CLASSES,
        )


def test_encoder_slug():
    assert encoder_slug("hf:MahmoodLab/UNI") == "hf-MahmoodLab-UNI"
    assert encoder_slug("torchscript:/a/b/enc.pt") == "torchscript-enc"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_several_encoders_one_comparison_and_the_evaluator_scores_it(tmp_path, splits):
    import torch

    from hepatokit.baselines.encoders import build_tiny_cnn
    from hepatokit.evaluation.hepatobench import evaluate_hepatobench

    script = tmp_path / "other.pt"
    torch.jit.script(build_tiny_cnn(seed=7).eval()).save(str(script))
    encoders = ["builtin:tiny-cnn", f"torchscript:{script}"]
    out = tmp_path / "probe"
    report = run_probe(
        data=splits,
        encoders=encoders,
        out=out,
        classes=CLASSES,
        device="cpu",
        bootstrap=0,
        settings=FAST,
    )
    assert set(report.heads) == set(encoders)
    table = pd.read_csv(out / "comparison.csv")
    assert table["encoder"].tolist() == encoders
    assert "| torchscript:" in (out / "comparison.md").read_text()
    scored = evaluate_hepatobench(
        truth=out / "test_truth.csv",
        predictions=out / "predictions",
        out=tmp_path / "report",
        classes=CLASSES,
        n_bootstrap=20,
        plots=False,
    )
    assert set(scored.reports) == {"builtin-tiny-cnn", "torchscript-other"}
    ours = report.outcomes[0].metrics["macro_f1"]
    assert scored.reports["builtin-tiny-cnn"].metrics["macro_f1"] == pytest.approx(ours)
