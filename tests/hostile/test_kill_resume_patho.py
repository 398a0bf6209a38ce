"""kill -9 anywhere in ``hepatokit build hepatobench`` (ingest → qc → dedup → split →
leakage audit → report → PHI audit) and in ``hepatokit publish build``, then the same
command again: it exits 0, every output is byte-identical to an uninterrupted run's
(build folder and dataset folder), nothing temporary or locked is left, the manifest
balances (inputs = kept + excluded), and the finished work of the killed run is not done
again (thumbnails keep their inode and mtime; the log counts the thumbnails made and the
patches taken from the ingest cache).

The raw tree is ``hepatokit synth patho`` with 40 clean patches (85 files with the planted
bad files, duplicates and QC failures). The kill points (:data:`BUILD_POINTS`,
:data:`PUBLISH_POINTS`; how a run is killed: :mod:`.killpoints`): ingest reading the
patches, its tables written but not its ledger, its ledger but not its cache; QC and dedup
between their table and their ledger, dedup's ledger before the curated table; the split;
thumbnails half made; the PHI audit running and half written; publish after its first
shard, before its checksums, and while it writes its audit of the published files into the
build. Every point is tried in turn (each resumed run is killed at the next point), a few
also each in a fresh run.

Files allowed to differ from the uninterrupted run: none. The ledgers
(``manifest/*.parquet``) are compared by rows, as ``test_kill_resume.py`` and the
determinism tests do: their parquet metadata records each run's provenance (times, host).
"""

from __future__ import annotations

import os
import shutil

import pyarrow.parquet as pq
import pytest

from tests.hostile.helpers import assert_balanced
from tests.hostile.killpoints import (
    AtEvent,
    Outside,
    assert_same_tree,
    assert_stale_locks_broken,
    env,
    kill_at,
    leftovers,
    lock_pids,
    log_number,
    run,
    snapshot,
    stats,
)

PATCHES = 40

#: every kill point of ``build hepatobench``, in the order it reaches them
BUILD_POINTS = {
    "ingest-listing": Outside("recipe.yaml"),
    "ingest-half-read": AtEvent("open", r"/patches/.", nth=40),
    "ingest-before-ledger": AtEvent("rename", r"manifest/ingest\.parquet$"),
    "ingest-before-cache": AtEvent("rename", r"private/cache/ingest\.parquet$"),
    "qc": Outside("manifest/ingest.parquet"),
    "qc-before-ledger": AtEvent("rename", r"manifest/qc\.parquet$"),
    "dedup-before-ledger": AtEvent("rename", r"manifest/dedup\.parquet$"),
    "dedup-before-curated": AtEvent("rename", r"/curated\.parquet$"),
    "split": Outside("curated.parquet"),
    "report-thumbnails": AtEvent("rename", r"reports/pix/.+\.png$", nth=20),
    "phi-audit": Outside("reports/index.html"),
    "phi-audit-report": AtEvent("rename", r"reports/phi_audit\.md$"),
}

#: every kill point of ``publish build``, in the order it reaches them
PUBLISH_POINTS = {
    "publish-first-shard-seen": Outside("data/default/*.parquet"),
    "publish-after-first-shard": AtEvent("rename", r"data/.+\.parquet$", nth=2),
    "publish-before-checksums": AtEvent("rename", r"checksums\.sha256$"),
    "publish-audit-report": AtEvent("rename", r"reports/published/phi_audit\.json$"),
}

#: the points also tried one by one, each in a fresh run (the others only in turn, each in
#: the run resumed after the kill before it: see the tests "in turn")
FRESH = ["ingest-half-read", "dedup-before-curated", "publish-after-first-shard"]


#: the report's log: thumbnails made (the others reused: made by an earlier run, or used
#: twice on the page)
MADE = r"\((\d+) thumbnails made"


def _build_args(raw, build):
    return ["--workers", "1", "build", "hepatobench", "--raw", str(raw), "--out", str(build)]


def _publish_args(build, hf):
    return ["--workers", "1", "publish", "build", str(build), "--out", str(hf)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The raw tree, an uninterrupted build of it and its publication: the build (before
    and after publishing: publish writes its audit into the build) and the dataset."""
    from hepatokit.synthetic.patho import generate_patches

    base = tmp_path_factory.mktemp("kill_patho")
    raw = base / "raw"
    generate_patches(raw, patches=PATCHES, seed=0, workers=1)
    (base / "scratch").mkdir()
    (base / "tmp").mkdir()
    environ = env(base / "scratch", base / "tmp")
    made = log_number(run(_build_args(raw, base / "clean"), environ), MADE)
    built = snapshot(base / "clean")
    shutil.copytree(base / "clean", base / "unpublished")
    run(_publish_args(base / "clean", base / "hf"), environ)
    return {"raw": raw, "built": built, "thumbs": made, "unpublished": base / "unpublished",
            "published_build": snapshot(base / "clean"), "hf": snapshot(base / "hf")}  # fmt: skip


def _folders(tmp_path):
    scratch, tmp = tmp_path / "scratch", tmp_path / "tmp"
    scratch.mkdir()
    tmp.mkdir()
    return env(scratch, tmp), scratch


def _finished(build):
    """What a killed build finished: its thumbnails (inode, mtime), and how many patches'
    results its ingest cache holds."""
    cache = build / "private" / "cache" / "ingest.parquet"
    cached = pq.read_metadata(cache).num_rows if cache.exists() else 0
    return stats(build, r"^reports/pix/"), cached


def _not_redone(build, done, when):
    after = stats(build)
    redone = sorted(rel for rel, st in done.items() if after.get(rel) != st)
    assert redone == [], f"{when}: finished work done again: {redone[:10]}"


def _resume_build(reference, build, scratch, environ, done, cached, where):
    """The same build command again, to the end; then the checks of the module docstring."""
    owners = lock_pids(build)
    out = run(_build_args(reference["raw"], build), environ)
    assert_stale_locks_broken(out, owners)  # the killed run's lock: reported, not blocking
    assert_same_tree(snapshot(build), reference["built"], f"resumed after a kill at {where}")
    assert leftovers(build, scratch) == [], "temporary or lock files left"
    for folder in (scratch, scratch.parent / "tmp"):  # $HEPATOKIT_SCRATCH, $TMPDIR
        assert list(folder.iterdir()) == [], f"{folder.name} is not empty"
    assert_balanced(build)
    # finished work was not done again: the thumbnails made, the patches decoded
    _not_redone(build, done, where)
    assert log_number(out, MADE) == reference["thumbs"] - len(done)
    if cached:
        assert log_number(out, r"ingest: (\d+) unchanged file\(s\) reused") == cached
    else:
        assert "unchanged file(s) reused" not in out


def _resume_publish(reference, build, hf, scratch, environ, where):
    owners = lock_pids(build, hf)
    out = run(_publish_args(build, hf), environ)  # the same command again
    assert_stale_locks_broken(out, owners)  # the killed run's locks: reported, not blocking
    assert_same_tree(snapshot(hf), reference["hf"], f"dataset, after a kill at {where}")
    assert_same_tree(snapshot(build), reference["published_build"], f"build, kill at {where}")
    assert leftovers(build, hf, scratch) == [], "temporary or lock files left"
    for folder in (scratch, scratch.parent / "tmp"):  # $HEPATOKIT_SCRATCH, $TMPDIR
        assert list(folder.iterdir()) == [], f"{folder.name} is not empty"
    assert_balanced(build)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in FRESH if n in BUILD_POINTS])
def test_killed_histology_build_resumes_byte_identical(reference, tmp_path, name):
    build = tmp_path / "build"
    environ, scratch = _folders(tmp_path)
    point = BUILD_POINTS[name]
    assert kill_at(_build_args(reference["raw"], build), environ, build, point), "it finished"
    assert not (build / "reports" / "phi_audit.md").exists()  # stopped before the end
    done, cached = _finished(build)
    _resume_build(reference, build, scratch, environ, done, cached, name)


@pytest.mark.slow
def test_histology_build_killed_at_every_point_in_turn_resumes_byte_identical(reference, tmp_path):
    """Killed at each point of :data:`BUILD_POINTS` in turn (the run resumed after one
    kill is killed at the next), then run to the end."""
    build = tmp_path / "build"
    environ, scratch = _folders(tmp_path)
    done: dict = {}
    cached = 0
    for name, point in BUILD_POINTS.items():
        args = _build_args(reference["raw"], build)
        assert kill_at(args, environ, build, point), f"finished before {name}"
        _not_redone(build, done, f"killed at {name}")
        done, cached = _finished(build)
    _resume_build(reference, build, scratch, environ, done, cached, "every point")


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in FRESH if n in PUBLISH_POINTS])
def test_killed_publish_resumes_byte_identical(reference, tmp_path, name):
    build, hf = tmp_path / "build", tmp_path / "hf"
    shutil.copytree(reference["unpublished"], build)
    environ, scratch = _folders(tmp_path)
    assert kill_at(_publish_args(build, hf), environ, hf, PUBLISH_POINTS[name]), "it finished"
    assert not (build / "reports" / "published" / "phi_audit.md").exists()
    _resume_publish(reference, build, hf, scratch, environ, name)


@pytest.mark.slow
def test_publish_killed_at_every_point_in_turn_resumes_byte_identical(reference, tmp_path):
    build, hf = tmp_path / "build", tmp_path / "hf"
    shutil.copytree(reference["unpublished"], build)
    environ, scratch = _folders(tmp_path)
    for name, point in PUBLISH_POINTS.items():
        assert kill_at(_publish_args(build, hf), environ, hf, point), f"finished before {name}"
    _resume_publish(reference, build, hf, scratch, environ, "every point")


def test_publish_refuses_while_a_run_writes_the_build(reference, tmp_path):
    """``publish build`` takes the build's lock too (it writes its audit into the build):
    while a build runs there, publish refuses with the build's message, writing nothing."""
    import subprocess
    import sys

    build, hf = tmp_path / "build", tmp_path / "hf"
    shutil.copytree(reference["unpublished"], build)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import time\nfrom hepatokit.buildlock import build_lock\n"
         f"with build_lock({str(build)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = subprocess.run(
            [sys.executable, "-c", "from hepatokit.cli import main; main()",
             *_publish_args(build, hf)],
            capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "250"},
        )  # fmt: skip
    finally:
        holder.kill()
        holder.wait(timeout=30)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in text, text
    assert "another run is writing this build" in text and f"pid {holder.pid}" in text
    assert not hf.exists() and not (build / "reports" / "published").exists()
