"""Series decisions on hand-written instance rows (no file read): splits, phases from the
bolus time (across midnight too), repeats."""

from __future__ import annotations

from hepatokit.curation.mri.config import PhaseWindow, SeriesConfig
from hepatokit.curation.mri.series.parts import describe_parts, split_series
from hepatokit.curation.mri.series.phases import resolve_phases, resolve_repeats, wrap_seconds

AXIAL = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
CORONAL = [1.0, 0.0, 0.0, 0.0, 0.0, -1.0]
SPLIT = ["orientation", "matrix", "acquisition_number", "temporal_position"]


def _image(n: int, **kw) -> dict:
    row = {
        "item_id": f"i{n}", "path": f"p{n:03d}", "subject_id": "S", "series_uid": "1.2",
        "center": "Center 1", "vendor": "Vendor A", "scanner": "A3T", "field_strength": 3.0,
        "series_number": 5, "instance_number": n, "series_description": "t2 haste",
        "protocol_name": "", "modality": "MR", "image_type": "ORIGINAL\\PRIMARY",
        "sequence_name": "", "scanning_sequence": "SE", "sequence_variant": "",
        "echo_time": 90.0, "repetition_time": 1500.0, "flip_angle": 150.0, "b_value": None,
        "contrast_agent": None, "orientation": AXIAL, "position": [0.0, 0.0, float(n % 4)],
        "rows": 256, "columns": 256, "acquisition_number": 1, "temporal_position": None,
        "slices": 1, "frames": 1, "t_acq": 36000.0, "t_bolus": None,
    }  # fmt: skip
    row.update(kw)
    return row


def test_orientations_and_a_minority_matrix_are_split():
    group = [_image(i) for i in range(6)] + [_image(6, orientation=CORONAL)]
    group += [_image(7, rows=128, columns=128)]
    parts = split_series(group, SPLIT)
    assert [(key, [r["item_id"] for r in rows], reason) for key, rows, reason in parts] == [
        ("o0", ["i6"], None),  # orientation keys in text order: coronal's "…0.000,-1.000" first
        ("o1;m=128x128", ["i7"], "odd_matrix"),
        ("o1", ["i0", "i1", "i2", "i3", "i4", "i5"], None),
    ]


def test_repeated_volumes_split_only_when_they_cover_the_same_slices():
    same = [_image(i, acquisition_number=1 + i // 4) for i in range(8)]
    parts = split_series(same, SPLIT)
    assert [key for key, _, _ in parts] == ["acq=1", "acq=2"]
    moved = [_image(i, acquisition_number=1 + i // 4, position=[0.0, 0.0, float(i)])
             for i in range(8)]  # fmt: skip
    assert [key for key, _, _ in split_series(moved, SPLIT)] == [""]
    assert [key for key, _, _ in split_series(same, ["orientation", "matrix"])] == [""]


def _dynamic(t: float, n: int) -> list[dict]:
    return [_image(n * 10 + i, series_uid=f"1.{n}", t_acq=t, series_description="vibe dyn",
                   scanning_sequence="GR", echo_time=1.5, repetition_time=4.0, flip_angle=10.0,
                   contrast_agent="Gd") for i in range(4)]  # fmt: skip


def _cfg(**kw) -> SeriesConfig:
    rules = [{"label": "dynamic", "description": "(?i)dyn"}, {"label": "T2W", "te": [60, None]}]
    from hepatokit.curation.mri.config import Rule

    windows = [PhaseWindow("GED1", 10, 40), PhaseWindow("GED2", 40, 90)]
    return SeriesConfig(rules=[Rule(**r) for r in rules], phases=windows, **kw)


def test_phases_from_the_bolus_time_across_midnight():
    assert wrap_seconds(10.0 - 86390.0) == 20.0
    cfg = _cfg()
    bolus = 86390.0  # 23:59:50; the arterial series 20 s later is at 00:00:10
    instances = [dict(r, t_bolus=bolus) for r in _dynamic(10.0, 1) + _dynamic(86400.0 - 60, 2)]
    instances += [dict(r, t_bolus=bolus) for r in _dynamic(50.0, 3)]
    rows = describe_parts(cfg, instances)
    assert [r["label"] for r in rows] == ["dynamic"] * 3
    resolve_phases(cfg, rows, instances)
    got = {r["series_uid"]: (r["label"], r["seconds_after_injection"]) for r in rows}
    assert got == {"1.1": ("GED1", 20.0), "1.2": ("T1W", -50.0), "1.3": ("GED2", 60.0)}
    assert {r["timing_source"] for r in rows} == {"ContrastBolusStartTime"}


def test_repeat_rule_keeps_last_or_first():
    instances = [_image(i, series_uid="1.7", t_acq=100.0) for i in range(4)]
    instances += [_image(10 + i, series_uid="1.8", t_acq=200.0) for i in range(4)]
    for rule, kept_uid in (("last", "1.8"), ("first", "1.7")):
        cfg = _cfg(repeat=rule)
        rows = describe_parts(cfg, [dict(r) for r in instances])
        resolve_repeats(cfg, rows)
        kept = [r for r in rows if r["label"] == "T2W"]
        assert [r["series_uid"] for r in kept] == [kept_uid]
        other = next(r for r in rows if r is not kept[0])
        assert other["reason"] == f"repeat_of:{kept[0]['series_id']}"
