"""publish push (dry run, refusal without a token, tampered folder) and the CLI."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from hepatokit.cli import app
from hepatokit.errors import DataFormatError, HepatokitError
from hepatokit.publish import publish_push

runner = CliRunner()


@pytest.fixture
def no_token(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "hf_home" / "token"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_dry_run_lists_every_file(fake_lifs_published, no_token):
    hf, result = fake_lifs_published
    plan = publish_push(hf_dir=hf, repo_id="lab/lifs", dry_run=True)
    assert sorted(plan.files) == sorted(result.files)
    assert plan.total_bytes == sum((hf / f).stat().st_size for f in result.files)
    assert not plan.uploaded


def test_push_refuses_without_token(fake_lifs_published, no_token):
    hf, _ = fake_lifs_published
    with pytest.raises(HepatokitError, match="no Hugging Face token"):
        publish_push(hf_dir=hf, repo_id="lab/lifs")
    with pytest.raises(HepatokitError, match="ORG/NAME"):
        publish_push(hf_dir=hf, repo_id="lifs", dry_run=True)


def test_push_refuses_tampered_folder(fake_lifs_published, tmp_path, no_token):
    hf, _ = fake_lifs_published
    copy = tmp_path / "hf"
    shutil.copytree(hf, copy)
    (copy / "notes.txt").write_text("added by hand")
    with pytest.raises(DataFormatError, match="not listed"):
        publish_push(hf_dir=copy, repo_id="lab/lifs", dry_run=True)


def test_cli_build_and_push(fake_hepatobench_build, tmp_path, no_token):
    out = tmp_path / "hf"
    res = runner.invoke(
        app,
        [
            "--workers",
            "1",
            "publish",
            "build",
            str(fake_hepatobench_build.build),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "config default" in res.output and (out / "README.md").is_file()
    res = runner.invoke(app, ["publish", "push", str(out), "--repo", "lab/hb", "--dry-run"])
    assert res.exit_code == 0 and "README.md" in res.output and "dry run" in res.output
    res = runner.invoke(app, ["publish", "push", str(out), "--repo", "lab/hb"])
    assert res.exit_code == 2 and "no Hugging Face token" in res.output
    res = runner.invoke(app, ["publish", "build", str(tmp_path / "nope"), "--out", str(out)])
    assert res.exit_code == 2 and "not found" in res.output
