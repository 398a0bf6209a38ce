"""``decide_qc`` on planted scores: reasons, corrupt items and ledger rows, no files."""

from __future__ import annotations

import dataclasses

from hepatokit.curation.patho.config import PatchQCConfig
from hepatokit.curation.patho.qc.measures import QC_CHECKS
from hepatokit.curation.patho.qc.stage import decide_qc

#: a clean patch: every score well inside the default thresholds
CLEAN = {
    "background": 0.1, "stain": 12.0, "stain_intensity": 1.2, "eosin_fraction": 0.4,
    "eosin_p90": 0.3, "pen": 0.0, "ink": 0.0, "sharpness": 400.0, "blocking": 1.0,
}  # fmt: skip


def _scores(item_id: str, **over: float) -> dict[str, float | str]:
    return {"id": item_id, **CLEAN, **over}


def test_planted_failures_get_their_reason() -> None:
    assert set(CLEAN) == set(QC_CHECKS)
    items = [
        {"id": "a", "kind": "patch", "path": "TUM/a.png", "class": "TUM"},
        {"id": "b", "kind": "patch", "path": "TUM/b.png", "class": "TUM"},
        {"id": "c", "kind": "tile", "path": "tiles/s/0_0.png", "class": None},
        {"id": "d", "kind": "patch", "path": "FIB/d.png", "class": "FIB"},
        {"id": "e", "kind": "patch", "path": "FIB/e.png", "class": "FIB"},
    ]
    scores = {
        "a": _scores("a"),
        "b": _scores("b", background=0.9),  # above background_max 0.7
        "c": _scores("c", sharpness=10.0, pen=0.5),  # blurred and inked: pen comes first
        "d": _scores("d", sharpness=10.0),  # below sharpness_min 80
    }
    decision = decide_qc(items, scores, {"e": "truncated file"}, PatchQCConfig())
    by_id = {r.item_id: r for r in decision.ledger}
    assert [r.item_id for r in decision.ledger] == ["a", "b", "c", "d", "e"]
    assert by_id["a"].outcome == "kept" and by_id["a"].reason is None
    assert (by_id["b"].reason, by_id["c"].reason, by_id["d"].reason) == (
        "background",
        "pen",
        "blur",
    )
    assert (by_id["e"].reason, by_id["e"].source, by_id["e"].detail) == (
        "corrupt", "patch/e.png", "truncated file",  # a neutral name: raw names stay private
    )  # fmt: skip
    assert dict(decision.failed) == {"background": 1, "pen": 1, "blur": 1, "corrupt": 1}
    assert [r["id"] for r in decision.rows] == ["a", "b", "c", "d"]  # no row for corrupt
    assert [r["qc_reason"] for r in decision.rows] == [None, "background", "pen", "blur"]
    assert "sharpness=10" in by_id["d"].detail


def test_order_of_the_section_decides() -> None:
    items = [{"id": "c", "kind": "tile", "path": "t.png", "class": None}]
    scores = {"c": _scores("c", sharpness=10.0, pen=0.5)}
    cfg = dataclasses.replace(PatchQCConfig(), order=["blur", "pen"])
    assert decide_qc(items, scores, {}, cfg).rows[0]["qc_reason"] == "blur"


def test_relative_mode_thresholds_per_class() -> None:
    """A class whose patches are all a little soft gets a lower sharpness floor than the
    fixed one, clamped at the loosest bound (50): its items pass, a far outlier fails."""
    items, scores = [], {}
    for k in range(40):
        i = f"s{k:02d}"
        items.append({"id": i, "kind": "patch", "path": f"STE/{i}.png", "class": "STE"})
        scores[i] = _scores(i, sharpness=70.0 + (k % 5))
    items.append({"id": "z", "kind": "patch", "path": "STE/z.png", "class": "STE"})
    scores["z"] = _scores("z", sharpness=20.0)
    fixed = decide_qc(items, scores, {}, PatchQCConfig())
    assert fixed.failed["blur"] == 41  # below the fixed 80
    rel = decide_qc(items, scores, {}, PatchQCConfig(mode="relative"))
    assert 50.0 <= rel.per_class["STE"].sharpness_min < 70.0
    assert dict(rel.failed) == {"blur": 1}
    assert [r["id"] for r in rel.rows if r["qc_reason"]] == ["z"]
