"""Defect 13: recipe regexes compiled at load (file and key named), bounded at match time;
inverted / overlapping phase windows refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from hepatokit.curation.mri.config import mri_config
from hepatokit.errors import RecipeError
from hepatokit.recipe import bounded_search, load_recipe, recipe_path
from tests.hostile.helpers import patch_tree, run_cli


def _recipe(tmp_path: Path, name: str, edit) -> Path:
    data = yaml.safe_load(recipe_path(name).read_text())
    edit(data)
    path = tmp_path / f"{name}-edited.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_invalid_rule_regex_names_file_and_key(tmp_path):
    def edit(d):
        d["series"]["rules"][2]["description"] = "(?i)(loc|scout"

    path = _recipe(tmp_path, "lifs", edit)
    with pytest.raises(RecipeError) as err:
        mri_config(load_recipe(path))
    text = str(err.value)
    assert str(path) in text
    assert "series.rules[2].description: not a valid regular expression" in text
    assert "missing ), unterminated subpattern" in text


def test_invalid_slide_regex_fails_before_any_work(tmp_path):
    path = _recipe(tmp_path, "hepatobench", lambda d: d["ingest"].update(slide_id_regex="[a-"))
    root = tmp_path / "raw"
    patch_tree(root, n_slides=1, per_slide=1)
    code, out = run_cli("patho", "ingest", str(root), "--out", str(tmp_path / "b"),
                        "--recipe", str(path))  # fmt: skip
    assert code == 2 and "Traceback" not in out, out
    assert "ingest.slide_id_regex: not a valid regular expression" in out
    assert "hepatobench-edited.yaml" in out


@pytest.mark.parametrize(
    ("phases", "message"),
    [
        ([{"phase": "GED1", "start": 45, "end": 10}], "start \\(45 s\\) must be before end"),
        ([{"phase": "GED1", "start": 10, "end": 10}], "inverted or empty window"),
        (
            [{"phase": "GED1", "start": 10, "end": 60}, {"phase": "GED2", "start": 45, "end": 120}],
            "overlap",
        ),
    ],
)
def test_bad_phase_windows_are_refused(tmp_path, phases, message):
    path = _recipe(tmp_path, "lifs", lambda d: d["series"].update(phases=phases))
    with pytest.raises(RecipeError, match=message) as err:
        mri_config(load_recipe(path))
    assert "series.phases" in str(err.value) or "phases:" in str(err.value)


def test_catastrophic_regex_is_bounded():
    start = time.monotonic()
    with pytest.raises(RecipeError, match=r"ingest\.slide_id_regex.*catastrophic"):
        bounded_search(r"^(a+)+$", "a" * 40 + "!", key="ingest.slide_id_regex", seconds=0.2)
    assert time.monotonic() - start < 5  # unbounded, this search runs for hours
    assert bounded_search(r"(a+)+$", "aaa", key="k").group(0) == "aaa"


def test_catastrophic_slide_regex_stops_ingest_with_a_message(tmp_path):
    path = _recipe(tmp_path, "hepatobench",
                   lambda d: d["ingest"].update(slide_id_regex=r"(\w+\w?)+_$"))  # fmt: skip
    root = tmp_path / "raw"
    (root / "TUM").mkdir(parents=True)
    (root / "TUM" / ("a" * 40 + "_0.png")).write_bytes(b"")
    code, out = run_cli("patho", "ingest", str(root), "--out", str(tmp_path / "b"),
                        "--recipe", str(path), timeout=60)  # fmt: skip
    assert code == 2 and "Traceback" not in out, out
    assert "ingest.slide_id_regex" in out and "catastrophic backtracking" in out
