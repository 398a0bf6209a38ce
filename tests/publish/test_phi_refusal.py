"""``publish build`` refuses a build whose PHI audit failed, unless a reason is given."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from hepatokit.cli import app
from hepatokit.errors import PHIError
from hepatokit.identifier_audit import audit_identifiers
from hepatokit.publish import publish_build

runner = CliRunner()


def test_failed_audit_blocks_publish(fake_lifs_build, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(fake_lifs_build.build, build)
    name = "Müllersohn^Jörg"
    values = {name: "PatientName"}
    clean = audit_identifiers(folder=build, identifiers=values, report_dir=build / "reports")
    assert clean.ok  # the fake build itself is clean
    (build / "reports" / "series_notes.md").write_text("t2_haste MÜLLERSOHN JÖRG tra\n")
    audit = audit_identifiers(folder=build, identifiers=values, report_dir=build / "reports")
    assert not audit.ok and audit.hits[0].file == "reports/series_notes.md"

    with pytest.raises(PHIError, match="PHI audit failed"):
        publish_build(build=build, out=tmp_path / "hf", workers=1)
    assert not (tmp_path / "hf").exists()
    res = runner.invoke(
        app, ["-q", "-w", "1", "publish", "build", str(build), "-o", str(tmp_path / "hf")]
    )
    assert res.exit_code != 0 and "--allow-phi-risk" in res.output
    assert not (tmp_path / "hf").exists()

    reason = "ethics board waiver 2026-117: the name is the device's"
    res = runner.invoke(
        app,
        ["-q", "-w", "1", "publish", "build", str(build), "-o", str(tmp_path / "hf"),
         "--allow-phi-risk", reason],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    notes = (build / "private" / "card_notes.md").read_text()
    assert reason in notes and "reports/series_notes.md" in notes
    published = "".join(p.read_text(errors="ignore") for p in (tmp_path / "hf").rglob("*.md"))
    assert reason not in published  # private notes stay private
    record = json.loads((build / "reports" / "phi_audit.json").read_text())
    assert record["ok"] is False and name not in json.dumps(record, ensure_ascii=False)
