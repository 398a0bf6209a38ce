"""README card (DatasetCard parses it, YAML has configs + dataset_info) and Croissant."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from hepatokit.errors import DataFormatError
from hepatokit.publish.card import render_template
from hepatokit.publish.croissant import check_croissant


def test_dataset_card_parses_with_configs_and_splits(fake_lifs_build, fake_lifs_published):
    from huggingface_hub import DatasetCard

    hf, _ = fake_lifs_published
    card = DatasetCard.load(hf / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "cc-by-nc-4.0"
    assert data["pretty_name"].startswith("LiFS")
    assert "image-classification" in data["task_categories"] and "mri" in data["tags"]
    configs = {c["config_name"]: c for c in data["configs"]}
    assert set(configs) == {"contrast", "noncontrast"}
    splits = [f["split"] for f in configs["contrast"]["data_files"]]
    assert splits == ["train", "validation", "test_id", "test_ood"]
    infos = {i["config_name"]: i for i in data["dataset_info"]}
    counts = fake_lifs_build.split_counts()
    for info in infos.values():
        assert {s["name"]: s["num_examples"] for s in info["splits"]} == counts
        assert all(s["num_bytes"] > 0 for s in info["splits"])
    names = infos["contrast"]["features"][5]["dtype"]["class_label"]["names"]
    assert names == {"0": "S1", "1": "S2", "2": "S3", "3": "S4"}


def test_card_body_reports_statistics(fake_lifs_build, fake_lifs_published):
    hf, _ = fake_lifs_published
    body = (hf / "README.md").read_text()
    # funnel from the manifest: 3 corrupt files, 1 localizer, 1 label row without images
    assert "excluded at `index` | `corrupt` | 3" in body
    assert "excluded at `series` | `unclassified_series` | 1" in body
    assert "Seed: `2025`" in body
    assert (
        "images/class_distribution.png" in body
        and (hf / "images" / "missing_sequences.png").is_file()
    )
    n = len(fake_lifs_build.subjects)
    missing_t2 = sum(s["volume_T2W"] is None for s in fake_lifs_build.subjects)
    assert f"{100 * missing_t2 / n:.1f} %" in body
    a_train_s1 = sum(
        s["split"] == "train" and s["vendor"] == "Vendor A" and s["stage"] == "S1"
        for s in fake_lifs_build.subjects
    )
    row = next(ln for ln in body.splitlines() if ln.startswith("| train | Vendor A |"))
    assert row.split("|")[3].strip() == str(a_train_s1)
    for section in ("De-identification", "Intended use", "Limitations", "Citation"):
        assert f"## {section}" in body


def test_unknown_placeholder_is_an_error():
    assert render_template("a {{ x }} b", {"x": "1"}, source="t") == "a 1 b"
    with pytest.raises(DataFormatError, match="typo"):
        render_template("{{ typo }}", {"x": "1"}, source="t")


@pytest.mark.slow
@pytest.mark.parametrize("which", ["fake_lifs_published", "fake_hepatobench_published"])
def test_croissant_validates_offline(which, request):
    hf, _ = request.getfixturevalue(which)
    doc = json.loads((hf / "croissant.json").read_text())
    assert doc["conformsTo"] == "http://mlcommons.org/croissant/1.1"
    for key in ("rai:dataCollection", "rai:dataBiases", "rai:dataLimitations",
                "rai:personalSensitiveInformation", "rai:dataUseCases",
                "rai:dataReleaseMaintenancePlan", "rai:dataPreprocessingProtocol",
                "rai:dataAnnotationProtocol"):  # fmt: skip
        assert doc.get(key), key
    files = [d for d in doc["distribution"] if d["@type"] == "cr:FileObject"]
    assert files and all(len(f["sha256"]) == 64 for f in files)
    assert check_croissant(hf / "croissant.json") == []  # not even a recommendation
    cli = shutil.which("mlcroissant") or str(
        __import__("pathlib").Path(sys.executable).parent / "mlcroissant"
    )
    out = subprocess.run([cli, "validate", "--jsonld", str(hf / "croissant.json")],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "warning" not in (out.stdout + out.stderr).lower(), out.stderr[-2000:]


def test_croissant_own_checks_catch_tampering(fake_hepatobench_published, tmp_path):
    hf, _ = fake_hepatobench_published
    copy = tmp_path / "hf"
    shutil.copytree(hf, copy)
    doc = json.loads((copy / "croissant.json").read_text())
    first = next(d for d in doc["distribution"] if d["@type"] == "cr:FileObject")
    (copy / first["contentUrl"]).write_bytes(b"changed")
    with pytest.raises(DataFormatError, match="sha256 does not match"):
        check_croissant(copy / "croissant.json")
    doc.pop("license")
    (copy / "croissant.json").write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match="no license"):
        check_croissant(copy / "croissant.json")
