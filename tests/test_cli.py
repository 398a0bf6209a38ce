"""The CLI: --help shows the flow, every family is registered, errors exit 2."""

from __future__ import annotations

from typer.testing import CliRunner

from hepatokit.cli import app

runner = CliRunner()


def test_help_shows_flow_and_groups():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for word in ("mri index", "patho dedup", "publish build", "synth", "evaluate", "audit"):
        assert word in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("hepatokit ")


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, hepatokit.cli; print('torch' in sys.modules, 'datasets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
