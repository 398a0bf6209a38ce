"""kill -9 anywhere in ``hepatokit build lifs``, then the same command again: it exits 0,
every output is byte-identical to an uninterrupted build's, nothing temporary or locked is
left (build folder, dcm2niix scratch folder), the manifest balances (inputs = kept +
excluded), and the finished work of the killed run is not done again (complete volumes and
thumbnails keep their inode and mtime; the log counts the volumes skipped, the thumbnails
made, the headers read).

The raw tree is ``hepatokit synth mri`` with 2 patients (459 files: 14 volumes, the planted
bad files). The kill points (:data:`POINTS`; how a run is killed: :mod:`.killpoints`) cover
each stage and the moments inside one that leave a half-done state: headers half read, the
index's tables written but not its ledger, a dcm2niix run starting, a volume's de-identified
NIfTI written but not its sidecar, k volumes done, every volume written but the scratch
folder not yet removed, volume QC half way, thumbnails half made, the PHI audit running and
half written, and everything done but the lock file. Every point is tried in turn (each
resumed run is killed at the next point, which also kills runs that resume), a few also
each in a fresh build; a full build costs some seconds, so the others are not.

Files allowed to differ from the uninterrupted build: none. The ledgers
(``manifest/*.parquet``) are compared by rows, as ``test_kill_resume.py`` and the
determinism tests do: their parquet metadata records each run's provenance (times, host).
"""

from __future__ import annotations

import re

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

PATIENTS = 2

#: the report's log: thumbnails made (the others reused: made by an earlier run, or used
#: twice on the page)
MADE = r"\((\d+) thumbnails made"

#: every kill point, in the order the build reaches them (name → where it is killed)
POINTS = {
    # index: reading the headers; its tables written but not its ledger
    "index-listing": Outside("recipe.yaml"),
    "index-headers-half-read": AtEvent("open", r"/dicom/.", nth=200),
    "index-before-ledger": AtEvent("rename", r"manifest/index\.parquet$"),
    # series (the index is done)
    "series": Outside("manifest/index.parquet"),
    # convert: a dcm2niix run about to start; a volume's NIfTI de-identified and written,
    # its sidecar not yet; after k volumes; all volumes written, the scratch folder not yet
    # removed; the volumes table written, the ledger not
    "convert-dcm2niix-starting": AtEvent("popen", r"dcm2niix", nth=1),
    "deid-nifti-before-sidecar": AtEvent("rename", r"volumes/.+_[A-Z0-9]+\.json$"),
    "convert-after-3-volumes": Outside("volumes/*/*.nii.gz", count=3),
    "convert-before-scratch-removal": AtEvent("rmtree", r"/hepatokit-[0-9a-f]+-[^/]+-\d+$", nth=2),
    "convert-before-ledger": AtEvent("rename", r"manifest/convert\.parquet$"),
    # volume QC half way (it reads each volume 3 times); labels; split
    "qc-half-way": AtEvent("open", r"volumes/.+\.nii\.gz$", nth=20),
    "labels": Outside("manifest/qc.parquet"),
    "split": Outside("manifest/labels.parquet"),
    # report: thumbnails half made; the PHI audit reading; its report half written
    "report-thumbnails": AtEvent("rename", r"reports/pix/.+\.png$", nth=10),
    "phi-audit": Outside("reports/index.html"),
    "phi-audit-report": AtEvent("rename", r"reports/phi_audit\.md$"),
    # everything written, the lock file not yet removed
    "before-unlock": AtEvent("remove", r"\.hepatokit\.lock$"),
}

#: the points also tried one by one, each in a fresh build (the others only in turn, each
#: in the run resumed after the kill before it: see the last test)
FRESH = ["index-headers-half-read", "deid-nifti-before-sidecar", "convert-after-3-volumes",
         "report-thumbnails"]  # fmt: skip


def _args(raw, build):
    return ["--workers", "1", "build", "lifs", "--raw", str(raw / "dicom"),
            "--labels", str(raw / "clinical_labels.csv"), "--out", str(build)]  # fmt: skip


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The raw tree and an uninterrupted build of it (its snapshot)."""
    from hepatokit.synthetic.mri import generate_mri_studies

    base = tmp_path_factory.mktemp("kill_lifs")
    raw = base / "raw"
    generate_mri_studies(raw, patients=PATIENTS, seed=0, workers=1)
    (base / "scratch").mkdir()
    (base / "tmp").mkdir()
    out = run(_args(raw, base / "clean"), env(base / "scratch", base / "tmp"))
    return raw, snapshot(base / "clean"), log_number(out, MADE)


def _finished(build):
    """What a killed run finished, as (inode, mtime): complete volumes (their resume key is
    written last) with their keys, thumbnails; and whether the index's header cache is
    there."""
    keys = stats(build, r"^\.state/convert/")
    done = {
        rel: st
        for rel, st in stats(build, r"^volumes/|^reports/pix/|^\.state/").items()
        if not rel.startswith("volumes/") or _volume_key(rel) in keys
    }
    return done, (build / "private" / "index_cache.parquet").exists()


def _volume_key(rel: str) -> str:
    """The resume key of the volume a ``volumes/`` file belongs to."""
    stem = re.sub(r"\.(nii\.gz|json|bval|bvec)$", "", rel)
    return ".state/convert/" + stem.replace("/", "__") + ".key"


def _not_redone(build, done, when):
    after = stats(build)
    redone = sorted(rel for rel, st in done.items() if after.get(rel) != st)
    assert redone == [], f"{when}: finished work done again: {redone[:10]}"


def _resume_and_check(reference, build, scratch, environ, done, cached_headers, where):
    """The same command again, to the end; then every check of the module docstring."""
    raw, want, thumbs = reference
    owners = lock_pids(build)
    out = run(_args(raw, build), environ)
    assert_stale_locks_broken(out, owners)  # the killed run's lock: reported, not blocking
    assert_same_tree(snapshot(build), want, f"resumed after a kill at {where}")
    assert leftovers(build, scratch) == [], "temporary or lock files left"
    for folder in (scratch, scratch.parent / "tmp"):  # $HEPATOKIT_SCRATCH, $TMPDIR
        assert list(folder.iterdir()) == [], f"{folder.name} is not empty"
    assert_balanced(build)
    # finished work was not done again: the same files (inode, mtime), the log's counts
    _not_redone(build, done, where)
    assert log_number(out, r"'skipped': (\d+)") == sum(
        1 for rel in done if rel.startswith(".state/convert/")
    )
    assert log_number(out, MADE) == thumbs - sum(
        1 for rel in done if rel.startswith("reports/pix/")
    )
    if cached_headers:
        assert log_number(out, r"(\d+) headers read") == 0


def _folders(tmp_path):
    scratch, tmp = tmp_path / "scratch", tmp_path / "tmp"
    scratch.mkdir()
    tmp.mkdir()
    return env(scratch, tmp), scratch


@pytest.mark.slow
@pytest.mark.parametrize("name", FRESH)
def test_killed_lifs_build_resumes_byte_identical(reference, tmp_path, name):
    raw = reference[0]
    build = tmp_path / "build"
    environ, scratch = _folders(tmp_path)
    assert kill_at(_args(raw, build), environ, build, POINTS[name]), "it finished first"
    assert not (build / "reports" / "phi_audit.md").exists()
    done, cached = _finished(build)
    _resume_and_check(reference, build, scratch, environ, done, cached, name)


@pytest.mark.slow
def test_lifs_build_killed_at_every_point_in_turn_resumes_byte_identical(reference, tmp_path):
    """Killed at each point of :data:`POINTS` in turn (the run resumed after one kill is
    killed at the next point), then run to the end: each resumed run leaves the finished
    work of the runs before it alone; the end is the uninterrupted build."""
    raw = reference[0]
    build = tmp_path / "build"
    environ, scratch = _folders(tmp_path)
    done: dict = {}
    cached = False
    for name, point in POINTS.items():
        assert kill_at(_args(raw, build), environ, build, point), f"finished before {name}"
        _not_redone(build, done, f"killed at {name}")
        done, cached = _finished(build)
    assert (build / "reports" / "phi_audit.md").exists()  # the last point: all but unlock
    _resume_and_check(reference, build, scratch, environ, done, cached, "every point")


def test_dead_runs_scratch_folders_are_removed_and_no_other(tmp_path, monkeypatch):
    """:func:`remove_dead_scratch` (which a convert with nothing to do also calls: see
    ``convert-before-scratch-removal`` above) removes the scratch folder of a run of this
    build that is gone, and keeps a live run's and another build's."""
    import os
    import subprocess

    from hepatokit.curation.mri.convert.dcm2niix import _scratch_prefix, remove_dead_scratch

    monkeypatch.setenv("HEPATOKIT_SCRATCH", str(tmp_path / "scratch"))
    build, other = tmp_path / "build", tmp_path / "other"
    base, prefix = _scratch_prefix(os.fspath(build))
    _, other_prefix = _scratch_prefix(os.fspath(other))
    ended = subprocess.Popen(["true"])
    ended.wait()  # its pid now names no process
    dead = base / f"{prefix}{ended.pid}"
    live = base / f"{prefix}{os.getppid()}"
    foreign = base / f"{other_prefix}{ended.pid}"
    for folder in (dead, live, foreign):
        (folder / "hk-conv-x").mkdir(parents=True)
    assert remove_dead_scratch(build) == [dead]
    assert not dead.exists() and live.is_dir() and foreign.is_dir()
