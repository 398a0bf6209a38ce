"""Errors over tracebacks: every command run with missing or wrong arguments, a missing
build folder, a build of the other dataset or an unwritable output path exits with a
message (exit code 2) that names the problem, never with a Python traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hepatokit.cli import app

runner = CliRunner()


def _commands() -> list[tuple[list[str], object]]:
    out: list[tuple[list[str], object]] = []

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in sorted(subs.items()):
                walk(sub, [*path, name])
        else:
            out.append((path, cmd))

    walk(typer.main.get_command(app), [])
    return out


COMMANDS = _commands()
IDS = [" ".join(p) for p, _ in COMMANDS]


def _invoke(argv: list[str | Path]):
    res = runner.invoke(app, ["-q", *map(str, argv)])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"traceback from {argv}: {res.exception!r}\n{res.output}")
    return res


def test_every_command_is_probed():
    assert len(COMMANDS) >= 25 and "mri index" in IDS and "baseline probe" in IDS


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=IDS)
def test_missing_arguments_give_usage_not_traceback(path, cmd):
    required = [p for p in cmd.params if p.required]  # type: ignore[attr-defined]
    if not required:
        pytest.skip("no required argument")
    res = _invoke(path)
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "Missing" in text and "for help" in text


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=IDS)
def test_missing_paths_give_a_message(path, cmd, tmp_path):
    if path[0] in ("synth", "demo"):
        pytest.skip("writes new data: nothing needs to exist")
    argv: list[str | Path] = list(path)
    for i, p in enumerate(cmd.params):  # type: ignore[attr-defined]
        missing = tmp_path / f"missing{i}"  # each its own: an output folder is made
        if not p.required:
            continue
        if type(p).__name__.endswith("Argument"):
            argv.append(missing)
        else:
            argv += [p.opts[0], missing]
    res = _invoke(argv)
    assert res.exit_code != 0, res.output
    assert "error" in res.output.lower()


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    from hepatokit.synthetic.builds import make_fake_hepatobench_build, make_fake_lifs_build

    root = tmp_path_factory.mktemp("two_builds")
    return make_fake_lifs_build(root / "l").build, make_fake_hepatobench_build(root / "h").build


@pytest.mark.parametrize(
    ("argv", "dataset"),
    [
        (["mri", "series"], "hepatobench"),
        (["mri", "convert"], "hepatobench"),
        (["mri", "qc"], "hepatobench"),
        (["patho", "qc"], "lifs"),
        (["patho", "dedup"], "lifs"),
        (["patho", "qc-calibrate"], "lifs"),
    ],
)
def test_a_build_of_the_other_dataset_is_named(argv, dataset, two_builds, tmp_path):
    lifs, hepatobench = two_builds
    build = tmp_path / "b"
    shutil.copytree(hepatobench if dataset == "hepatobench" else lifs, build)
    before = sorted(p.relative_to(build) for p in build.rglob("*"))
    res = _invoke([*argv, build])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    want = "LiFS (MRI) builds" if argv[0] == "mri" else "HepatoBench (histology) builds"
    assert f"this command works on {want}" in text
    assert sorted(p.relative_to(build) for p in build.rglob("*")) == before  # untouched


def test_a_recipe_over_the_other_dataset_build_is_refused(two_builds, tmp_path):
    lifs, _ = two_builds
    build = tmp_path / "b"
    shutil.copytree(lifs, build)
    res = _invoke(["split", build, "--recipe", "hepatobench"])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "this is a LiFS (MRI) build; the recipe 'hepatobench' is for HepatoBench" in text


def test_a_folder_given_as_recipe(tmp_path):
    res = _invoke(["build", tmp_path, "--raw", tmp_path, "--out", tmp_path / "o"])
    assert res.exit_code == 2
    assert "is not a recipe file" in " ".join(res.output.split())


@pytest.mark.parametrize(
    "argv",
    [
        ["synth", "patho", "{blocked}"],
        ["publish", "build", "{lifs}", "--out", "{blocked}"],
        ["patho", "ingest", "{raw}", "--out", "{blocked}"],
    ],
    ids=["synth", "publish", "ingest"],
)
def test_an_unwritable_output_path_is_named(argv, two_builds, tmp_path):
    """An output under a regular file (permissions do not stop root; this does)."""
    lifs, _ = two_builds
    afile = tmp_path / "afile"
    afile.write_text("in the way")
    raw = tmp_path / "raw" / "TUM"
    raw.mkdir(parents=True)
    shutil.copy(next(lifs.parent.parent.glob("h/raw/*/*.png")), raw / "a.png")
    subst = {"{blocked}": str(afile / "out"), "{lifs}": str(lifs), "{raw}": str(raw.parent)}
    res = _invoke([subst.get(a, a) for a in argv])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert str(afile) in text and "Not a directory" in text
    assert "hint: a part of the path is a file, not a folder" in text


def test_quant_names_a_missing_slide(tmp_path):
    res = _invoke(["quant", tmp_path / "nope.svs", "--encoder", "builtin:tiny-cnn",
                   "--head", tmp_path / "h.pt", "--out", tmp_path / "q"])  # fmt: skip
    assert res.exit_code == 2
    assert "slide not found" in res.output
