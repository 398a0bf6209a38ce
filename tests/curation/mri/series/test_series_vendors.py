"""Series recognition in each vendor family's naming and tag habits, with and without the
tags anonymisers strip (planted truth: :mod:`.vendor_protocols`). ≥ 95 % right per variant."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import pytest

from hepatokit.curation.mri.index.stage import index_dicom
from hepatokit.curation.mri.series.stage import recognise_series
from tests.curation.mri.vendor_protocols import VARIANTS, VENDORS, write_study


@pytest.fixture(scope="module")
def recognised(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, dict]:
    root = tmp_path_factory.mktemp("vendors")
    raw = root / "raw"
    truth: dict[str, str | None] = {}
    variant_of: dict[str, tuple[str, str]] = {}
    for vendor in (*VENDORS, "ge_mprage"):
        for variant in VARIANTS:
            patient = f"{vendor}-{variant}"
            truth.update(write_study(raw, vendor, variant, patient))
            variant_of[patient] = (vendor, variant)
    key = root / "key"
    key.write_text("k")
    build = root / "build"
    index_dicom(raw=raw, out=build, workers=1, key_file=key)
    recognise_series(build=build)
    series = pd.read_parquet(build / "series.parquet")
    phi = pd.read_parquet(build / "private" / "instances_phi.parquet")
    raw_of = dict(zip(phi["item_id"], phi["path"], strict=True))
    rows = []
    for r in series.to_dict("records"):
        files = [raw_of[i] for i in r["item_ids"]]
        labels = {truth[f] for f in files}
        assert len(labels) == 1, (r["series_description"], labels)  # parts split exactly
        patient = files[0].split("/")[0]
        vendor, variant = variant_of[patient]
        rows.append(
            {
                "vendor": vendor,
                "variant": variant,
                "key": files[0].split("/")[1] + "/" + files[0].split("/")[2][:3],
                "truth": labels.pop(),
                "label": r["label"],
                "reason": r["reason"],
                "confidence": r["confidence"],
                "evidence": r["evidence"],
            }
        )
    return pd.DataFrame(rows), {"build": build}


def test_accuracy_per_vendor_variant(recognised) -> None:
    table, _ = recognised
    table["right"] = [
        (t == lab) if not pd.isna(t) else pd.isna(lab)
        for t, lab in zip(table["truth"], table["label"], strict=True)
    ]
    acc = table.groupby(["vendor", "variant"])["right"].mean()
    wrong = table[~table["right"]][["vendor", "variant", "key", "truth", "label", "reason"]]
    print("\nrecognition accuracy per vendor variant:\n" + acc.to_string())
    assert (acc >= 0.95).all(), wrong.to_string()
    assert len(acc) == (len(VENDORS) + 1) * len(VARIANTS)


def test_dixon_dynamic_phases_stay_phases(recognised) -> None:
    """Siemens VIBE Dixon after injection: GED1–4 from the water series, not T1W, and the
    phases never become ``repeat_of`` one another."""
    table, _ = recognised
    siemens = table[(table["vendor"] == "siemens") & (table["variant"] == "full")]
    labelled = siemens[siemens["label"].notna()]
    assert sorted(labelled["label"]) == ["DWI", "GED1", "GED2", "GED3", "GED4", "T1W", "T2W"]
    water = labelled[labelled["key"].str.contains("vibe")]
    assert all(k.endswith("_W/tpN") for k in water["key"])
    repeats = siemens[siemens["reason"].fillna("").str.startswith("repeat_of")]
    assert len(repeats) == 15  # F / in / opp of each of the 5 acquisitions


def test_evidence_and_confidence(recognised) -> None:
    table, info = recognised
    assert table["confidence"].between(0, 1).all()
    by_variant = defaultdict(list)
    for r in table[table["label"].fillna("").str.startswith("GED")].to_dict("records"):
        by_variant[r["variant"]].append(r["confidence"])
    # timing from ContrastBolusStartTime is surer than an assumed first post-contrast series
    assert min(by_variant["full"]) > max(by_variant["no_contrast_tags"])
    report = (info["build"] / "reports" / "series.md").read_text()
    assert "confidence" in report
    shown = [float(x) for x in pd.read_csv(info["build"] / "reports" / "series.csv")["confidence"]]
    assert shown == sorted(shown)  # low-confidence decisions first


def test_no_flip_angle_still_dynamic(recognised) -> None:
    table, _ = recognised
    no_flip = table[table["variant"] == "no_flip"]
    assert {"GED1", "GED2", "GED3", "GED4"} <= set(no_flip["label"].dropna())
    assert no_flip["evidence"].str.contains("flip absent").any()
