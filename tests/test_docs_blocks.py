"""Every ``docs/*.md`` code block marked ``<!-- runnable -->`` runs as written, each in a
fresh process (the README's Python block has its own test)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKED = re.compile(r"<!-- runnable -->\s*\n```python\n(.*?)```", re.S)


def runnable_blocks() -> list[tuple[str, str]]:
    out = []
    for doc in sorted((ROOT / "docs").glob("*.md")):
        for i, block in enumerate(MARKED.findall(doc.read_text())):
            out.append((f"{doc.name}#{i + 1}", block))
    return out


BLOCKS = runnable_blocks()


def test_some_blocks_are_marked():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_marked_block_runs(where, code, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, f"{where}:\n{proc.stderr[-3000:]}"
