"""The recipe a build runs with is snapshotted once, at the edge.

A stage run alone with ``--recipe`` records that recipe as ``BUILD/recipe.yaml``; commands
that only read a build (``split``, ``audit leakage``, ``report``, ``publish build``) use a
given ``--recipe`` without touching the build's copy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from hepatokit.cli import app
from hepatokit.recipe import recipe_path

runner = CliRunner()


def _custom_recipe(tmp_path: Path, name: str) -> Path:
    """The packaged hepatobench recipe under another name (the name shows which one ran)."""
    text = recipe_path("hepatobench").read_text()
    assert text.count("name: hepatobench\n") == 1
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace("name: hepatobench\n", f"name: {name}\n"))
    return path


def _run(*argv: str | Path) -> int:
    res = runner.invoke(app, ["-q", "--workers", "1", *map(str, argv)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    return res.exit_code


@pytest.fixture
def hb_build(fake_hepatobench_build, tmp_path: Path) -> Path:
    build = tmp_path / "build"
    shutil.copytree(fake_hepatobench_build.build, build)
    return build


def test_read_only_commands_use_a_given_recipe_and_keep_the_snapshot(hb_build, tmp_path):
    snapshot = (hb_build / "recipe.yaml").read_bytes()
    custom = _custom_recipe(tmp_path, "site-b")

    assert _run("split", hb_build, "--recipe", custom) == 0
    meta = pq.read_schema(hb_build / "splits.parquet").metadata[b"hepatokit.split"]
    assert json.loads(meta)["recipe"] == "site-b"  # the given recipe was used ...
    assert (hb_build / "recipe.yaml").read_bytes() == snapshot  # ... and not recorded

    assert _run("audit", "leakage", hb_build, "--recipe", custom) in (0, 1)
    assert _run("report", hb_build, "--recipe", custom) == 0
    assert "<code>site-b</code>" in (hb_build / "reports" / "index.html").read_text()
    assert _run("publish", "build", hb_build, "--out", tmp_path / "hf", "--recipe", custom) == 0
    assert (tmp_path / "hf" / "README.md").is_file()
    assert (hb_build / "recipe.yaml").read_bytes() == snapshot


def test_a_read_only_command_on_a_build_without_recipe_writes_none(hb_build, tmp_path):
    (hb_build / "recipe.yaml").unlink()
    assert _run("split", hb_build, "--recipe", _custom_recipe(tmp_path, "site-c")) == 0
    assert not (hb_build / "recipe.yaml").exists()


def test_a_stage_run_alone_snapshots_its_recipe(tmp_path):
    from hepatokit.synthetic.patho import generate_patches

    raw = tmp_path / "raw"
    generate_patches(raw, patches=24, seed=1, workers=1)
    build = tmp_path / "build"
    first = _custom_recipe(tmp_path, "site-d")
    assert _run("patho", "ingest", raw / "patches", "--out", build, "--recipe", first) == 0
    assert (build / "recipe.yaml").read_bytes() == first.read_bytes()

    second = _custom_recipe(tmp_path, "site-e")
    assert _run("patho", "qc", build, "--recipe", second) == 0
    assert (build / "recipe.yaml").read_bytes() == second.read_bytes()
    assert _run("patho", "qc", build) == 0  # no --recipe: the snapshot is kept as is
    assert (build / "recipe.yaml").read_bytes() == second.read_bytes()
