"""Recipes: the reference recipes load; bad recipes give errors naming the file and key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from hepatokit.errors import BuildStateError, RecipeError
from hepatokit.recipe import (
    build_recipe,
    load_recipe,
    parse_dataclass,
    read_recipe,
    recipe_path,
    stage_section,
)


@dataclass(frozen=True)
class Inner:
    radius: int = 4
    method: Literal["phash", "dhash"] = "phash"


@dataclass(frozen=True)
class Section:
    ratios: dict[str, float]
    names: list[str] = field(default_factory=list)
    inner: Inner = field(default_factory=Inner)
    seed: int | None = None


def test_reference_recipes_load():
    lifs = load_recipe("lifs")
    hb = load_recipe("hepatobench")
    assert lifs.kind == "mri" and lifs.classes == ("S1", "S2", "S3", "S4")
    assert hb.kind == "patho" and hb.classes == ("TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE")
    assert len(lifs.sha256) == 64


def test_parse_nested_section():
    got = parse_dataclass(
        Section,
        {"ratios": {"train": 7, "test": 1}, "inner": {"radius": 6}, "names": ["a"]},
        where="split",
    )
    assert got.ratios == {"train": 7.0, "test": 1.0}
    assert got.inner == Inner(radius=6)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "split.ratios: required key is missing"),
        ({"ratios": {"train": "x"}}, "split.ratios.train: expected a number"),
        ({"ratios": {}, "inner": {"method": "ahash"}}, "split.inner.method: expected one of"),
        ({"ratios": {}, "inner": {"radius": 1.5}}, "split.inner.radius: expected an integer"),
        ({"ratios": {}, "ratio": 1}, "split: unknown key(s) ratio"),
    ],
)
def test_errors_name_file_and_key(data, message):
    with pytest.raises(RecipeError) as info:
        parse_dataclass(Section, data, where="split", source="my.yaml")
    assert message in str(info.value)
    assert str(info.value).startswith("my.yaml:")


def test_bad_recipe_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nkind: mri\nsplits: {}\n")
    with pytest.raises(RecipeError, match=r"bad\.yaml: unknown top-level key\(s\): splits"):
        load_recipe(bad)
    bad.write_text("name: x\nkind: ct\n")
    with pytest.raises(RecipeError, match="kind"):
        load_recipe(bad)
    bad.write_text("name: [unclosed\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)
    with pytest.raises(RecipeError, match="recipe not found"):
        load_recipe(tmp_path / "missing.yaml")


def test_build_recipe_is_recorded_and_reused(tmp_path):
    build = tmp_path / "build"
    custom = tmp_path / "mine.yaml"
    custom.write_text(
        recipe_path("hepatobench").read_text().replace("name: hepatobench", "name: mine")
    )
    first = build_recipe(build, custom, default="hepatobench")
    assert (build / "recipe.yaml").is_file() and first.name == "mine"
    again = build_recipe(build, default="hepatobench")
    assert again.name == "mine" and again.sha256 == first.sha256


def test_build_recipe_refuses_the_other_dataset(tmp_path):
    build = tmp_path / "build"
    build_recipe(build, "hepatobench", default="hepatobench")
    with pytest.raises(
        BuildStateError, match=r"HepatoBench \(histology\) build; the recipe 'lifs'"
    ):
        build_recipe(build, "lifs", default="lifs")
    with pytest.raises(BuildStateError, match=r"works on LiFS \(MRI\) builds"):
        build_recipe(build, default="lifs")


def _mine(tmp_path, name="mine"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        recipe_path("hepatobench").read_text().replace("name: hepatobench", f"name: {name}")
    )
    return path


def test_read_recipe_writes_nothing(tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    assert read_recipe(build, _mine(tmp_path), default="hepatobench").name == "mine"
    assert read_recipe(build, default="hepatobench").name == "hepatobench"  # the packaged one
    assert list(build.iterdir()) == []
    build_recipe(build, "hepatobench", default="hepatobench")
    snapshot = (build / "recipe.yaml").read_bytes()
    assert read_recipe(build, _mine(tmp_path, "other"), default="hepatobench").name == "other"
    assert (build / "recipe.yaml").read_bytes() == snapshot
    with pytest.raises(BuildStateError, match="the recipe 'lifs'"):
        read_recipe(build, "lifs", default="lifs")  # the other dataset's recipe, still refused


def test_a_loaded_recipe_is_used_as_is_and_snapshotted_by_its_bytes(tmp_path):
    build = tmp_path / "build"
    mine = _mine(tmp_path)
    rec = load_recipe(mine)
    assert read_recipe(build, rec, default="hepatobench") is rec
    assert build_recipe(build, rec, default="hepatobench") is rec
    assert (build / "recipe.yaml").read_bytes() == mine.read_bytes()


def test_stage_section_uses_a_given_section_and_snapshots_only_when_alone(tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    seen = []

    def pick(rec):
        seen.append(rec.name)
        return rec.seed

    assert stage_section(build, 7, _mine(tmp_path), default="hepatobench", pick=pick) == 7
    assert seen == [] and list(build.iterdir()) == []  # given: nothing read, nothing written
    mine = _mine(tmp_path)
    seed = stage_section(build, None, mine, default="hepatobench", pick=pick)
    assert seed == load_recipe(mine).seed and seen == ["mine"]
    assert (build / "recipe.yaml").read_bytes() == mine.read_bytes()
