"""Publishing conventions of the Hub: private by default, gated clinical cards, no
placeholder in a published card, Croissant RAI fields and class enumerations, shards with a
page index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hepatokit.cli import app
from hepatokit.errors import HepatokitError, RecipeError
from hepatokit.publish import publish_build, publish_push
from hepatokit.publish.card import GATED_FIELD_TYPES, PLACEHOLDER_PATTERN, check_publishable
from hepatokit.publish.sections import card_section
from hepatokit.recipe import load_recipe, recipe_path

runner = CliRunner()


@pytest.fixture
def no_token(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_push_is_private_unless_public(fake_lifs_published, no_token):
    hf, _ = fake_lifs_published
    assert publish_push(hf_dir=hf, repo_id="lab/lifs", dry_run=True).private
    res = runner.invoke(app, ["publish", "push", str(hf), "--repo", "lab/lifs", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert res.output.rstrip().endswith("→ lab/lifs (private)")
    res = runner.invoke(
        app, ["publish", "push", str(hf), "--repo", "lab/lifs", "--dry-run", "--public"]
    )
    assert res.exit_code == 0 and res.output.rstrip().endswith("→ lab/lifs (public)")


def test_folder_built_for_a_repo_is_pushed_there_only(fake_hepatobench_build, tmp_path, no_token):
    out = tmp_path / "hf"
    publish_build(build=fake_hepatobench_build.build, out=out, workers=1, repo_id="lab/hb")
    readme = (out / "README.md").read_text()
    assert 'load_dataset("lab/hb")' in readme
    croissant = json.loads((out / "croissant.json").read_text())
    assert croissant["url"] == "https://huggingface.co/datasets/lab/hb"
    assert publish_push(hf_dir=out, repo_id="lab/hb", dry_run=True).files
    with pytest.raises(HepatokitError, match="built for 'lab/hb'"):
        publish_push(hf_dir=out, repo_id="lab/other", dry_run=True)


def test_gated_lifs_card_is_hub_metadata_and_renders(fake_lifs_published):
    from huggingface_hub import DatasetCard, DatasetCardData
    from markdown_it import MarkdownIt

    hf, _ = fake_lifs_published
    card = DatasetCard.load(hf / "README.md")
    recipe_card = yaml.safe_load(recipe_path("lifs").read_text())["card"]
    data = card.data.to_dict()
    assert data["extra_gated_prompt"] == " ".join(recipe_card["extra_gated_prompt"].split())
    assert data["extra_gated_fields"] == recipe_card["extra_gated_fields"]
    for kind in data["extra_gated_fields"].values():
        assert kind in GATED_FIELD_TYPES or (kind["type"] == "select" and kind["options"])
    assert any("re-identify" in name for name in data["extra_gated_fields"])
    again = DatasetCardData(**data)  # the Hub's own metadata class takes it as it is
    assert again.to_dict() == data
    html = MarkdownIt("commonmark").enable("table").render(card.text)
    for heading in ("Access", "Quick start", "De-identification", "Citation"):
        assert f"<h2>{heading}</h2>" in html
    assert "<table>" in html and "PS3.15" in html


@pytest.mark.parametrize("which", ["fake_lifs_published", "fake_hepatobench_published"])
def test_no_placeholder_reaches_a_card(which, request):
    hf, result = request.getfixturevalue(which)
    text = (hf / "README.md").read_text()
    assert PLACEHOLDER_PATTERN.search(text) is None
    assert "<org>" not in text and "no citation given" not in text
    recipe_card = yaml.safe_load(recipe_path(result.name).read_text())["card"]
    assert recipe_card["citation"].strip() in text
    assert recipe_card["homepage"] in text and recipe_card["creators"][0] in text
    assert f'load_dataset("./{result.name}"' in text  # no repo id given: the folder itself


def _recipe_with(tmp_path: Path, name: str, **card: object):
    data = yaml.safe_load(recipe_path(name).read_text())
    for key, value in card.items():
        if value is None:
            data["card"].pop(key, None)
        else:
            data["card"][key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    rec = load_recipe(path)
    return rec, card_section(rec)


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("lifs", {"citation": None}, "lacks card.citation"),
        ("hepatobench", {"creators": [], "homepage": None}, "card.creators, card.homepage"),
        ("lifs", {"extra_gated_fields": None}, "lacks card.extra_gated_fields"),
        ("lifs", {"citation": "@misc{x, title={TODO}}"}, "card.citation holds a placeholder"),
        ("hepatobench", {"homepage": "https://huggingface.co/<org>"}, "placeholder"),
        ("lifs", {"extra_gated_fields": {"Name": "textbox"}}, "not a field type"),
    ],
)
def test_card_section_must_be_publishable(tmp_path, name, change, message):
    rec, card = _recipe_with(tmp_path, name)
    check_publishable(rec, card)  # the shipped recipes are publishable
    rec, card = _recipe_with(tmp_path, name, **change)
    with pytest.raises(RecipeError, match=message) as err:
        check_publishable(rec, card)
    assert str(rec.source) in str(err.value)


def test_publish_build_stops_before_work_without_citation(fake_lifs_build, tmp_path):
    import shutil

    build = tmp_path / "build"  # a copy: the stage records the recipe it ran with in BUILD
    shutil.copytree(fake_lifs_build.build, build)
    rec, _ = _recipe_with(tmp_path, "lifs", citation=None)
    with pytest.raises(RecipeError, match=r"card\.citation"):
        publish_build(build=build, out=tmp_path / "hf", recipe=rec.source)
    assert not (tmp_path / "hf").exists()


def test_croissant_rai_fields_and_class_enumeration(fake_lifs_build, fake_lifs_published):
    import mlcroissant as mlc

    hf, _ = fake_lifs_published
    doc = json.loads((hf / "croissant.json").read_text())
    recipe_card = yaml.safe_load(recipe_path("lifs").read_text())["card"]
    assert doc["datePublished"].startswith(recipe_card["date_published"])
    for key in ("rai:dataCollectionType", "rai:dataCollectionRawData",
                "rai:dataImputationProtocol", "rai:dataDataManipulationProtocol",
                "rai:dataAnnotationAnalysis", "rai:annotationsPerItem",
                "rai:machineAnnotationTools", "rai:dataSocialImpact"):  # fmt: skip
        assert doc.get(key), key
    missing = doc["rai:dataCollectionMissingData"]
    published = [s for s in fake_lifs_build.subjects if s.get("split")]
    for seq in ("T1W", "DWI"):
        share = sum(s.get(f"volume_{seq}") is None for s in published) / len(published)
        assert f"{seq} {100 * share:.1f} %" in missing
    enums = [r for r in doc["recordSet"] if r.get("dataType") == "sc:Enumeration"]
    ids = [r["@id"].split("-classes")[0] for r in enums]
    assert ids == ["stage", "cirrhosis", "significant_fibrosis"]
    stage_field = next(f for f in doc["recordSet"][-1]["field"] if f["name"] == "stage")
    assert stage_field["references"]["field"]["@id"] == f"{enums[0]['@id']}/index"
    dataset = mlc.Dataset(jsonld=hf / "croissant.json")
    names = [r[f"{enums[0]['@id']}/name"] for r in dataset.records(record_set=enums[0]["@id"])]
    assert [n.decode() if isinstance(n, bytes) else n for n in names] == ["S1", "S2", "S3", "S4"]


def test_shards_have_a_page_index(fake_lifs_published):
    import pyarrow
    import pyarrow.parquet as pq

    from hepatokit.publish.shards import writer_features

    hf, _ = fake_lifs_published
    shards = sorted((hf / "data").rglob("*.parquet"))
    assert shards
    for shard in shards:
        meta = pq.ParquetFile(shard).metadata
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                col = meta.row_group(g).column(c)
                assert col.has_offset_index, (shard, col.path_in_schema)
                if col.path_in_schema in ("subject_id", "vendor", "stage"):  # with statistics
                    assert col.has_column_index, (shard, col.path_in_schema)
    major = int(pyarrow.__version__.split(".")[0])
    assert writer_features().get("use_content_defined_chunking") is (True if major >= 21 else None)
