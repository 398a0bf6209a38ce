"""The `baseline` CLI on published folders (the session fixtures of tests/fixtures/builds)."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from hepatokit.cli.app import app


@pytest.mark.slow
def test_cli_probe_on_published_hepatobench(tmp_path, fake_hepatobench_published):
    hf, _ = fake_hepatobench_published
    out = tmp_path / "probe"
    args = [
        "--quiet",
        "baseline",
        "probe",
        "--data",
        str(hf),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--max-iter",
        "100",
        "--bootstrap",
        "20",
        "--loader-workers",
        "0",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(out / "predictions" / "builtin-tiny-cnn.csv")
    assert {"id", "pred", "prob_TUM", "prob_STE"} <= set(pred.columns)
    assert len(pred) > 0
    metrics = json.loads((out / "metrics" / "builtin-tiny-cnn.json").read_text())
    assert "macro_f1" in metrics["metrics"]
    first = json.loads((out / "logs" / "builtin-tiny-cnn.embedding.json").read_text())
    assert first["train"]["computed"] > 0
    # second run: the cache answers everything
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    log = json.loads((out / "logs" / "builtin-tiny-cnn.embedding.json").read_text())
    assert all(v["computed"] == 0 for v in log.values())


def test_cli_rejects_bad_choices(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["baseline", "staging", "--data", str(tmp_path), "--model", "unet"])
    assert res.exit_code != 0 and "resnet3d or vit3d" in res.output
    res = runner.invoke(app, ["baseline", "probe", "--data", str(tmp_path), "--encoder", "bad"])
    assert res.exit_code == 2


def test_cli_missing_dataset_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "baseline",
            "probe",
            "--data",
            str(tmp_path / "none"),
            "--encoder",
            "builtin:tiny-cnn",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code != 0


def test_importing_the_package_and_cli_pulls_no_torch():
    import subprocess
    import sys

    code = (
        "import sys, hepatokit.baselines, hepatokit.cli.app, hepatokit.baselines.heads, "
        "hepatokit.baselines.submission; "
        "print(sorted(m for m in ('torch', 'monai', 'datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_rejects_an_unknown_cache_dtype(tmp_path):
    res = CliRunner().invoke(
        app, ["baseline", "staging", "--data", str(tmp_path), "--cache", "int4"]
    )
    assert res.exit_code != 0 and "float16" in res.output
