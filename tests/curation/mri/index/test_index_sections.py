"""``index_dicom`` takes its typed ``index`` / ``deid`` sections: called alone it validates
only those; given them, it reads no recipe. Truth: the planted files of ``mri_raw``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from hepatokit.curation.mri.config import deid_section, index_section
from hepatokit.curation.mri.index.stage import index_dicom
from hepatokit.recipe import load_recipe, recipe_path


def _small_raw(curated_lifs, tmp_path: Path) -> tuple[Path, list[str]]:
    unit = next(u for u in curated_lifs.truth["units"] if u["expected_label"] == "T2W")
    raw = tmp_path / "raw"
    for rel in unit["files"]:
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(curated_lifs.raw / rel, raw / rel)
    return raw, sorted(unit["files"])


def test_alone_it_validates_only_its_own_sections(curated_lifs, tmp_path):
    raw, files = _small_raw(curated_lifs, tmp_path)
    data = yaml.safe_load(recipe_path("lifs").read_text())
    data["series"]["not_a_key"] = 1  # a bad section of another stage
    data["mri_qc"] = {"min_slices": "eight"}
    recipe = tmp_path / "other-bad.yaml"
    recipe.write_text(yaml.safe_dump(data))
    s = index_dicom(raw=raw, out=tmp_path / "b", recipe=recipe, workers=1, demo_key=True)
    assert s.files == s.kept == len(files)
    assert (tmp_path / "b" / "recipe.yaml").read_bytes() == recipe.read_bytes()


def test_given_sections_read_no_recipe(curated_lifs, tmp_path):
    raw, files = _small_raw(curated_lifs, tmp_path)
    kw = dict(raw=raw, workers=1, key_file=curated_lifs.key_file)
    lifs = load_recipe("lifs")
    s = index_dicom(out=tmp_path / "given", index=index_section(lifs), deid=deid_section(lifs),
                    recipe="no-such-recipe", **kw)  # fmt: skip
    assert s.kept == len(files)
    assert not (tmp_path / "given" / "recipe.yaml").exists()
    # the same sections as the packaged recipe's: the same table as the recipe path gives
    index_dicom(out=tmp_path / "recipe", recipe="lifs", **kw)
    given = pq.read_table(tmp_path / "given" / "instances.parquet")
    from_recipe = pq.read_table(tmp_path / "recipe" / "instances.parquet")
    assert given.equals(from_recipe)
    ids = set(pq.read_table(curated_lifs.build / "instances.parquet")["item_id"].to_pylist())
    assert set(given["item_id"].to_pylist()) <= ids
