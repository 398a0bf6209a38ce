"""Defect 4: two runs into one build folder. One refuses with a clear message naming the
owner; the other completes identical to a solo run; stale locks are reported and broken."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time

import pytest

from hepatokit import build_dataset
from hepatokit.buildlock import LOCK_NAME, BuildLockedError, build_lock
from tests.hostile.helpers import patch_tree

TABLES = ("curated.parquet", "splits.parquet", "patches.parquet", "qc.parquet")


def _cli(*args, env=None):
    cmd = [sys.executable, "-c", "from hepatokit.cli import main; main()", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {}), "COLUMNS": "200"})  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def deid_key():
    """One de-identification key for the solo and the concurrent builds, as a curator keeps one
    key per dataset: slide pseudonyms, and with them the slide-level splits, follow the key
    (without one, each build folder makes its own random key)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HEPATOKIT_DEID_KEY", "build-lock-test-" + "5" * 48)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("lock") / "raw"
    patch_tree(root, n_slides=12, per_slide=6)
    return root


@pytest.fixture(scope="module")
def key(raw):
    """One pseudonym key for the solo and the concurrent build: slide ids are keyed at
    ingest, and two build folders are byte-identical only with the same key (without one,
    each folder makes its own)."""
    path = raw.parent / "deid_key"
    path.write_text("one key for the solo and the concurrent build\n")
    return path


@pytest.fixture(scope="module")
def solo(raw, key, tmp_path_factory):
    out = tmp_path_factory.mktemp("solo") / "build"
    build_dataset(recipe="hepatobench", raw=raw, out=out, workers=1, key_file=key)
    return out


def test_a_second_run_refuses_while_the_first_holds_the_lock(raw, tmp_path):
    out = tmp_path / "build"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom hepatokit.buildlock import build_lock\n"
         f"with build_lock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = _cli("--workers", "1", "build", "hepatobench", "--raw", str(raw), "--out", str(out))
        text, _ = proc.communicate(timeout=120)
        assert proc.returncode == 2, text
        assert "another run is writing this build" in text
        assert f"pid {holder.pid} on {socket.gethostname()}" in text
        assert "Traceback" not in text
        assert not (out / "patches.parquet").exists()  # nothing written by the refused run
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_two_concurrent_builds_one_refuses_other_matches_solo(raw, key, solo, tmp_path):
    out = tmp_path / "build"
    first = _cli("--workers", "1", "build", "hepatobench", "--raw", str(raw), "--out", str(out),
                 "--key-file", str(key))  # fmt: skip
    deadline = time.monotonic() + 120
    while not (out / LOCK_NAME).is_file() or not (out / LOCK_NAME).read_text():
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(BuildLockedError, match=f"pid {first.pid} on"):
        build_dataset(recipe="hepatobench", raw=raw, out=out, workers=1)
    text, _ = first.communicate(timeout=300)
    assert first.returncode == 0, text
    for name in TABLES:
        assert (out / name).read_bytes() == (solo / name).read_bytes(), name
    assert not (out / LOCK_NAME).exists()  # released


def test_stale_lock_of_a_dead_run_is_reported_and_broken(raw, key, solo, tmp_path, caplog):
    out = tmp_path / "build"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / LOCK_NAME).write_text(
        json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": 1.0})
    )
    with caplog.at_level(logging.WARNING, logger="hepatokit.buildlock"):
        build_dataset(recipe="hepatobench", raw=raw, out=out, workers=1, key_file=key)
    assert any("stale" in r.getMessage() and str(dead.pid) in r.getMessage()
               for r in caplog.records)  # fmt: skip
    assert (out / "curated.parquet").read_bytes() == (solo / "curated.parquet").read_bytes()


def test_lock_from_another_host_needs_break_lock(tmp_path):
    out = tmp_path / "build"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere.example", "started": 0}))
    with (
        pytest.raises(BuildLockedError, match=r"another host.*elsewhere\.example") as err,
        build_lock(out),
    ):
        pass
    assert "--break-lock" in str(err.value)
    with build_lock(out, break_lock=True) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
        with build_lock(out):  # re-entrant in one process
            pass
        assert path.is_file()
    assert not path.exists()


def test_taking_the_lock_removes_a_killed_runs_temporary_files(tmp_path, caplog):
    """A run killed while writing ``hashes.parquet`` atomically leaves its temporary file;
    the next run that takes the lock removes it (and only such files)."""
    build = tmp_path / "build"
    (build / "manifest").mkdir(parents=True)
    stray = [build / ".hashes.parquet.25d7hd1t.tmp.parquet", build / "manifest" / ".q.abcdefgh.tmp"]
    for p in stray:
        p.write_bytes(b"half")
    keep = [build / "hashes.parquet", build / "manifest" / "notes.tmp"]
    for p in keep:
        p.write_bytes(b"whole")
    with caplog.at_level(logging.WARNING, logger="hepatokit.buildlock"), build_lock(build):
        assert not any(p.exists() for p in stray)
        assert all(p.exists() for p in keep)
    assert "removed 2 temporary file(s)" in caplog.text
