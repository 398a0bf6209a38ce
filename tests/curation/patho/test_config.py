"""The ``features`` section: shared by ingest, qc and dedup; older recipes' ``dedup.dhash``."""

from __future__ import annotations

from pathlib import Path

import pytest

from hepatokit.curation.patho.config import DedupConfig, FeaturesConfig, features_section
from hepatokit.errors import RecipeError
from hepatokit.recipe import load_recipe

HEAD = "name: t\nkind: patho\nclasses: [TUM]\n"


def _recipe(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "r.yaml"
    path.write_text(HEAD + body)
    return load_recipe(path)


def test_packaged_recipe_computes_dhash() -> None:
    rec = load_recipe("hepatobench")
    assert features_section(rec) == FeaturesConfig(dhash=True)
    assert rec.section("dedup", DedupConfig).dhash is None  # no longer kept there


def test_features_section_and_its_default(tmp_path: Path) -> None:
    assert features_section(_recipe(tmp_path, "")) == FeaturesConfig(dhash=False)
    assert features_section(_recipe(tmp_path, "features: {dhash: true}\n")).dhash is True
    with pytest.raises(RecipeError, match=r"features\.dhash: expected true/false"):
        features_section(_recipe(tmp_path, "features: {dhash: 3}\n"))
    with pytest.raises(RecipeError, match="unknown key"):
        features_section(_recipe(tmp_path, "features: {dhsah: true}\n"))


def test_older_recipe_dedup_dhash_still_read(tmp_path: Path) -> None:
    assert features_section(_recipe(tmp_path, "dedup: {dhash: true}\n")).dhash is True
    both = "features: {dhash: true}\ndedup: {dhash: true}\n"
    assert features_section(_recipe(tmp_path, both)).dhash is True
    with pytest.raises(RecipeError, match="disagree"):
        features_section(_recipe(tmp_path, "features: {dhash: false}\ndedup: {dhash: true}\n"))
    with pytest.raises(RecipeError, match=r"dedup\.dhash: expected true/false"):
        features_section(_recipe(tmp_path, "dedup: {dhash: maybe}\n"))
