"""The README's Python block, run verbatim as a plain script (no ``__main__`` guard) in a
fresh process, on a small synthetic raw export laid out as the block expects."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_readme_has_one_python_block():
    blocks = python_blocks((ROOT / "README.md").read_text())
    assert len(blocks) == 1 and "import hepatokit as hk" in blocks[0]


@pytest.mark.slow
def test_readme_python_block_runs_verbatim(tmp_path):
    from hepatokit.synthetic import generate_mri_studies

    block = python_blocks((ROOT / "README.md").read_text())[0]
    raw = tmp_path / "synthetic"
    generate_mri_studies(raw, patients=14, seed=3, workers=2, matrix=32)
    (tmp_path / "export").mkdir()
    (raw / "dicom").rename(tmp_path / "export" / "dicom")
    (raw / "clinical_labels.csv").rename(tmp_path / "clinical.csv")
    (tmp_path / "readme_example.py").write_text(block)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HEPATOKIT_WORKERS": "2",
           "HEPATOKIT_DEID_KEY": "readme-example-secret-key-0123456789"}  # fmt: skip
    env.pop("HEPATOKIT_MP_CONTEXT", None)
    proc = subprocess.run(
        [sys.executable, "readme_example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "bootstrapping" not in proc.stderr
    # what the block promises: a build, a published dataset, a run, a report
    assert (tmp_path / "build/lifs/manifest").is_dir()
    assert (tmp_path / "hf/lifs/README.md").is_file()
    sub = pd.read_csv(next((tmp_path / "runs/r3d/submissions").glob("*.csv")))
    truth = pd.read_csv(tmp_path / "build/lifs/private/test_truth.csv")
    assert set(sub["Case"].astype(str)) == set(truth["Case"].astype(str))
    results = pd.read_csv(tmp_path / "report/results.csv")
    assert set(results["method"]) == {"resnet3d"}
    assert results.query("metric == 'ACC'")["value"].between(0, 100).all()
