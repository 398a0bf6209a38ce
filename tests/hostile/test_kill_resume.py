"""kill -9 in the middle of a build, then the same command again: the build completes
byte-identical to one that was never interrupted (tables, reports; ledger rows equal, their
run provenance aside), with no stray temporary file and no input lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from tests.hostile.helpers import assert_balanced, patch_tree

#: the file whose appearance marks each kill point (the stage after it is running)
KILL_AFTER = ("patches.parquet", "curated.parquet")


def _cmd(raw, out):
    return [sys.executable, "-c", "from hepatokit.cli import main; main()", "--workers", "1",
            "build", "hepatobench", "--raw", str(raw), "--out", str(out)]  # fmt: skip


def _env():
    return {**os.environ, "HEPATOKIT_DEID_KEY": "fixed key: same pseudonyms in every run",
            "COLUMNS": "200"}  # fmt: skip


def _run(raw, out):
    proc = subprocess.run(_cmd(raw, out), env=_env(), capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return proc.stdout + proc.stderr


def _kill_when(raw, out, marker, timeout=300.0):
    """Start a build, SIGKILL it as soon as ``out/marker`` exists; whether it got there."""
    proc = subprocess.Popen(_cmd(raw, out), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if (out / marker).exists():
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                return True
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    return False


def _snapshot(build):
    """Every file of the build: bytes, except the ledgers (rows; their metadata holds the
    run's provenance: times, host)."""
    out = {}
    for path in sorted(p for p in build.rglob("*") if p.is_file()):
        rel = path.relative_to(build).as_posix()
        if rel.startswith("manifest/") and rel.endswith(".parquet"):
            out[rel] = pq.read_table(path).to_pylist()
        else:
            out[rel] = path.read_bytes()
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    base = tmp_path_factory.mktemp("kill")
    raw = base / "raw"
    patch_tree(raw, n_slides=6, per_slide=3)
    _run(raw, base / "clean")
    return raw, _snapshot(base / "clean")


@pytest.mark.parametrize("marker", KILL_AFTER)
def test_killed_build_resumes_byte_identical(reference, tmp_path, marker):
    raw, want = reference
    build = tmp_path / "build"
    assert _kill_when(raw, build, marker), f"the build finished before {marker} appeared"
    assert not (build / "reports" / "index.html").exists()  # it was stopped mid-way
    out = _run(raw, build)  # the same command again
    got = _snapshot(build)
    assert sorted(got) == sorted(want)  # no stray temporary or lock file
    for rel, data in want.items():
        assert got[rel] == data, f"{rel} differs after a kill -9 after {marker}"
    assert "audits passed" in out.replace("\n", " ")
    assert_balanced(build)
