"""``build`` with one worker (no executor: everything inline) curates the same build as with
a process pool (it used to recurse forever), and ``build --key-file`` keys the pseudonyms."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from hepatokit.cli import app


def test_one_worker_cli_build_equals_pooled_build(curated_lifs, tmp_path, monkeypatch):
    monkeypatch.delenv("HEPATOKIT_DEID_KEY", raising=False)
    out = tmp_path / "build"
    res = CliRunner().invoke(
        app,
        ["-q", "--workers", "1", "build", "lifs", "--raw", str(curated_lifs.raw),
         "--labels", str(curated_lifs.root / "clinical_labels.csv"), "--out", str(out),
         "--key-file", str(curated_lifs.key_file)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    pooled = curated_lifs.summary.manifest
    said = " ".join(res.output.split())  # the console wraps lines at its width
    assert f"{pooled.inputs} inputs" in said and "audits passed" in said
    # the same key file: the same pseudonyms, series and volumes as the 2-worker build
    for table in ("private/pseudonyms.parquet", "series.parquet", "volumes.parquet"):
        one = pd.read_parquet(out / table)
        two = pd.read_parquet(curated_lifs.build / table)
        key = one.columns[0]
        pd.testing.assert_frame_equal(
            one.sort_values(key).reset_index(drop=True),
            two.sort_values(key).reset_index(drop=True),
            check_like=True,
        )
