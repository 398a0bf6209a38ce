"""``recognise_series`` takes its typed ``series`` section; rule labels are checked against
the recipe's own ``sequences`` (not a fixed list). Truth: the planted units of ``mri_raw``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from hepatokit.curation.mri.config import mri_config, series_section
from hepatokit.curation.mri.series.stage import recognise_series
from hepatokit.errors import RecipeError
from hepatokit.recipe import load_recipe, recipe_path


def _lifs_with(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(recipe_path("lifs").read_text())
    edit(data)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _dwi_to(label: str):
    def edit(d):
        for rule in d["series"]["rules"]:
            if rule.get("label") == "DWI":
                rule["label"] = label

    return edit


def _copy_index(curated_lifs, tmp_path: Path) -> Path:
    build = tmp_path / "build"
    for rel in ("instances.parquet", "private/instances_phi.parquet", "manifest/index.parquet"):
        (build / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(curated_lifs.build / rel, build / rel)
    return build


def test_label_outside_the_recipe_sequences_names_file_and_key(tmp_path):
    path = _lifs_with(tmp_path, _dwi_to("FLAIR"))
    with pytest.raises(RecipeError) as err:
        series_section(load_recipe(path))
    text = str(err.value)
    assert str(path) in text
    assert (
        "series.rules[" in text and "].label: 'FLAIR' is not one of the recipe's sequences" in text
    )
    with pytest.raises(RecipeError, match="FLAIR"):
        mri_config(load_recipe(path))


def test_label_declared_in_sequences_is_accepted(tmp_path):
    def edit(d):
        _dwi_to("ADC")(d)
        d["sequences"] = [*d["sequences"], "ADC"]
        d["series"]["overrides"] = [{"vendor": "Vendor A", "rules": [{"label": "ADC",
                                     "description": "(?i)never-matches-anything"}]}]  # fmt: skip

    rec = load_recipe(_lifs_with(tmp_path, edit))
    cfg = series_section(rec)
    assert "ADC" in {r.label for r in cfg.rules}
    assert mri_config(rec).sequences[-1] == "ADC"


def test_given_section_is_used_and_no_recipe_read(curated_lifs, tmp_path):
    """With the section given, nothing comes from a recipe: the build gets no snapshot, and
    the recipe's own DWI rules relabelled ADC label exactly the planted DWI units ADC."""
    build = _copy_index(curated_lifs, tmp_path)
    rec = load_recipe(
        _lifs_with(
            tmp_path, lambda d: (_dwi_to("ADC")(d), d.update(sequences=[*d["sequences"], "ADC"]))
        )
    )
    s = recognise_series(build=build, series=series_section(rec), recipe="no-such-recipe")
    assert not (build / "recipe.yaml").exists()
    by_unit = {}
    path_of = curated_lifs.raw_path_of()
    rows = pq.read_table(build / "series.parquet").to_pylist()
    for row in rows:
        for item in row["item_ids"]:
            by_unit[path_of[item]] = row
    dwi = [u for u in curated_lifs.truth["units"] if u["expected_label"] == "DWI"]
    assert dwi and all(by_unit[u["files"][0]]["label"] == "ADC" for u in dwi)
    assert s.by_label["ADC"] == len(dwi) and "DWI" not in s.by_label
    original = pq.read_table(curated_lifs.build / "series.parquet").to_pylist()
    relabel = {"DWI": "ADC"}
    assert [
        (r["series_id"], relabel.get(r["label"], r["label"]), r["reason"]) for r in original
    ] == [(r["series_id"], r["label"], r["reason"]) for r in rows]
