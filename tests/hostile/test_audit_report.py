"""The published histology PHI audit report is the same for two identical builds: it scans
what is published, never the run's lock file (pid, host, start time)."""

from __future__ import annotations

from hepatokit import build_dataset
from hepatokit.buildlock import LOCK_NAME
from hepatokit.identifier_audit.scan import files_to_scan
from hepatokit.publish import publish_build
from tests.hostile.helpers import patch_tree


def test_two_identical_builds_give_identical_published_audit_reports(tmp_path, monkeypatch):
    monkeypatch.setenv("HEPATOKIT_DEID_KEY", "a fixed test key: same pseudonyms in both builds")
    raw = tmp_path / "raw"
    patch_tree(raw, n_slides=8, per_slide=3)
    reports = []
    for i in (1, 2):
        build, hf = tmp_path / f"build{i}", tmp_path / f"hf{i}"
        build_dataset(recipe="hepatobench", raw=raw, out=build, workers=1)
        result = publish_build(build=build, out=hf, workers=1)
        folder = build / "reports" / "published"
        reports.append({n: (folder / n).read_bytes() for n in ("phi_audit.json", "phi_audit.md")})
        # what was scanned is what was published: no lock file, nothing else
        published = sorted(p for p in hf.rglob("*") if p.is_file())
        assert [p.relative_to(hf).as_posix() for p in published] == result.files
        assert f'"files_scanned": {len(result.files)},' in reports[-1]["phi_audit.json"].decode()
        assert not (hf / LOCK_NAME).exists()
    assert reports[0] == reports[1]


def test_the_scan_skips_a_lock_file_at_any_depth(tmp_path):
    (tmp_path / "data").mkdir()
    for rel in (LOCK_NAME, f"data/{LOCK_NAME}", "README.md", "data/a.parquet"):
        (tmp_path / rel).write_text('{"pid": 4242, "host": "h", "started": 1.5}')
    scanned = [p.relative_to(tmp_path).as_posix() for p in files_to_scan(tmp_path, ())]
    assert scanned == ["README.md", "data/a.parquet"]
