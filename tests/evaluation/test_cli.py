"""The `hepatokit evaluate` commands: thin wrappers, exit codes, reports on disk."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from hepatokit.cli.app import app
from tests.evaluation.conftest import TABLE3_DIR, need

runner = CliRunner()


def test_evaluate_lifs_exit_codes(lifs_case, tmp_path):
    args = [
        "evaluate",
        "lifs",
        "--truth",
        str(lifs_case["truth"]),
        "--submissions",
        str(lifs_case["submissions"]),
        "--bootstrap",
        "20",
        "--no-plots",
    ]
    ok = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "a" / "leaderboard.md").is_file()
    assert "majority collapse" in ok.output
    (lifs_case["submissions"] / "zz_bad.csv").write_text("Case,Setting\n")
    partial = runner.invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert partial.exit_code == 1
    assert "zz_bad" in partial.output and (tmp_path / "b" / "report.md").is_file()


def test_evaluate_summarize(tmp_path):
    folder = need(TABLE3_DIR)
    result = runner.invoke(
        app,
        [
            "evaluate",
            "summarize",
            str(folder / "results.csv"),
            "--factors",
            str(folder / "factors.csv"),
            "--out",
            str(tmp_path / "s"),
            "--no-plots",
        ],
    )
    assert result.exit_code == 0, result.output
    best = pd.read_csv(tmp_path / "s" / "best_median.csv").set_index("cell")
    assert best.loc["Contrast/ID/1", "best_method"] == "SJTU1"
    missing = runner.invoke(
        app, ["evaluate", "summarize", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "s2")]
    )
    assert missing.exit_code == 2 and "not found" in missing.output


def test_evaluate_hepatobench_with_explicit_classes(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    names = np.array(["a", "b", "c"])
    pd.DataFrame({"id": np.arange(60).astype(str), "label": names[y]}).to_csv(
        tmp_path / "truth.csv", index=False
    )
    pd.DataFrame({"id": np.arange(60).astype(str), "pred": names[y]}).to_csv(
        tmp_path / "enc.csv", index=False
    )
    result = runner.invoke(
        app,
        [
            "evaluate",
            "hepatobench",
            "--truth",
            str(tmp_path / "truth.csv"),
            "--predictions",
            str(tmp_path / "enc.csv"),
            "--classes",
            "a,b,c",
            "--out",
            str(tmp_path / "r"),
            "--bootstrap",
            "10",
            "--no-plots",
        ],
    )
    assert result.exit_code == 0, result.output
    comp = pd.read_csv(tmp_path / "r" / "comparison.csv")
    assert comp.loc[0, "accuracy"] == 1.0


def test_evaluation_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, hepatokit.evaluation, hepatokit.cli.evaluate; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
