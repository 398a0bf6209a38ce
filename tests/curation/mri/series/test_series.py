"""Series recognition against the planted truth (all vendors' naming, phases, repeats)."""

from __future__ import annotations

from collections import Counter

import pytest

from hepatokit.curation.mri.config import Override, Rule, SeriesConfig
from hepatokit.curation.mri.series.rules import SeriesFeatures, decide, rules_for


def test_every_unit_recognised(curated_lifs) -> None:
    by_unit = curated_lifs.series_of_unit()
    sub_of = curated_lifs.subject_of_patient()
    wrong = []
    for u in curated_lifs.truth["units"]:
        row = by_unit[u["unit_id"]]
        assert row["subject_id"] == sub_of[u["patient_id"]]
        if u["expected_label"]:
            ok = row["label"] == u["expected_label"]
        elif u["ignore_reason"] == "repeat":
            kept = by_unit[u["repeat_of"]]
            ok = row["label"] is None and row["reason"] == f"repeat_of:{kept['series_id']}"
        else:
            ok = row["label"] is None and row["reason"] == u["ignore_reason"]
        if not ok:
            wrong.append((u["unit_id"], u["role"], row["label"], row["reason"], row["evidence"]))
        assert row["evidence"], u["unit_id"]
    assert not wrong


def test_units_are_split_exactly(curated_lifs) -> None:
    """Each unit's files form one series part, and no part mixes units."""
    path_of = curated_lifs.raw_path_of()
    unit_of = {f: u["unit_id"] for u in curated_lifs.truth["units"] for f in u["files"]}
    for row in curated_lifs.table("series.parquet").to_dict("records"):
        assert len({unit_of[path_of[i]] for i in row["item_ids"]}) == 1, row["series_id"]
    assert len(curated_lifs.table("series.parquet")) == len(curated_lifs.truth["units"])


def test_phases_for_every_vendor_and_timing(curated_lifs) -> None:
    by_unit = curated_lifs.series_of_unit()
    vendors: Counter[str] = Counter()
    fallback = 0
    for u in curated_lifs.truth["units"]:
        if u["expected_label"] in ("GED1", "GED2", "GED3", "GED4"):
            row = by_unit[u["unit_id"]]
            vendors[row["vendor"]] += 1
            assert row["seconds_after_injection"] is not None
            if row["timing_source"] == "ContrastBolusStartTime":
                assert row["seconds_after_injection"] == pytest.approx(
                    u["seconds_after_injection"], abs=1.0
                )
            else:
                fallback += 1
    assert set(vendors) == {"Vendor A", "Vendor B", "Vendor C"}
    assert fallback > 0  # the no-ContrastBolusStartTime patient was timed by the fallback


def _features(**kw) -> SeriesFeatures:
    base = dict(
        modality="MR",
        description="x | x",
        image_type="ORIGINAL\\PRIMARY",
        sequence_name="",
        scanning_sequence="SE",
        sequence_variant="",
        te=90.0,
        tr=2000.0,
        flip=90.0,
        b_values=(),
        contrast=False,
    )
    return SeriesFeatures(**{**base, **kw})


def test_overrides_come_first_and_match_site() -> None:
    cfg = SeriesConfig(
        rules=[Rule(label="T2W", te=[60, 250])],
        overrides=[
            Override(vendor="Vendor B", rules=[Rule(ignore="other", description="(?i)x")]),
            Override(scanner="B3T", rules=[Rule(label="DWI", description="(?i)x")]),
        ],
    )
    f = _features()
    assert decide(rules_for(cfg, center=None, vendor="Vendor A", scanner="A3T"), f).label == "T2W"
    d = decide(rules_for(cfg, center=None, vendor="Vendor B", scanner="B1"), f)
    assert d.ignore == "other" and d.evidence.startswith("overrides[0]")
    assert decide(rules_for(cfg, center=None, vendor="Vendor B", scanner="B3T"), f).label == "DWI"
    assert (
        decide(rules_for(cfg, center=None, vendor=None, scanner=None), _features(te=5.0)).ignore
        == "other"
    )
