"""Ingest's decisions on hand-made entries and per-file results, no files."""

from __future__ import annotations

from hepatokit.curation.patho.ingest.discover import PatchEntry
from hepatokit.curation.patho.ingest.rows import class_map, ingest_rows, pre_exclusions
from hepatokit.manifest import stable_id

CLASSES = ("TUM", "FIB")


def _ok(md5: str, **extra: object) -> dict:
    return {"reason": None, "bytes": 100, "md5": md5, "width": 150, "height": 150,
            "mode": "RGB", "format": "PNG", "resized": False, "pixel_sha256": "p" + md5,
            "phash": "0" * 16, "dhash": None, "scores": {"sharpness": 1.0}, **extra}  # fmt: skip


def test_class_map_aliases_case_insensitive() -> None:
    m = class_map(CLASSES, {"Tumor": "TUM", "stroma": "STR"})  # STR is no recipe class
    assert m == {"tum": "TUM", "fib": "FIB", "tumor": "TUM"}


def test_pre_exclusions_and_rows() -> None:
    entries = [
        PatchEntry("README.txt", None, None, "no_class_folder", "file directly in ROOT"),
        PatchEntry("tumor/s1_a.png", "tumor", "s1"),
        PatchEntry("NOR/s2_b.png", "NOR", "s2"),  # not a recipe class
        PatchEntry("FIB/s3_c.png", "FIB", "s3"),
        PatchEntry("FIB/s3_d.jpg", "FIB", "s3", id_extra="7"),
    ]
    mapping = class_map(CLASSES, {"tumor": "TUM"})
    pre = pre_exclusions(entries, mapping, CLASSES)
    assert pre == {
        0: ("no_class_folder", "file directly in ROOT"),
        2: ("unknown_class", "label 'NOR' is not one of TUM, FIB"),
    }
    results = {
        1: _ok("m1", meta=["Patient: X"]),
        3: {"reason": "corrupt", "detail": "truncated", "bytes": 10, "md5": "m3"},
        4: _ok("m4", resized=True),
    }
    slides = {"s1": "slide-k1", "s2": "slide-k2", "s3": "slide-k3"}  # original → pseudonym
    out = ingest_rows(entries, pre, {0: 12, 2: None}, results, mapping, {".png", ".jpg"},
                      slides)  # fmt: skip
    assert out.kept == 2 and out.excluded == {"no_class_folder": 1, "unknown_class": 1,
                                              "corrupt": 1}  # fmt: skip
    ids = [stable_id("patch", e.rel) for e in entries[:4]] + [
        stable_id("patch", entries[4].rel, "7")
    ]
    assert [p["id"] for p in out.patches] == ids
    assert [p["class"] for p in out.patches] == [None, "TUM", None, "FIB", "FIB"]
    assert [p["ingest_reason"] for p in out.patches] == [
        "no_class_folder", None, "unknown_class", "corrupt", None,
    ]  # fmt: skip
    assert out.patches[0]["bytes"] == 12 and out.patches[2]["bytes"] is None
    # the rows hold the slide pseudonym only, the raw path only in the private rows
    assert [p["slide_id"] for p in out.patches] == [None, "slide-k1", "slide-k2", "slide-k3",
                                                     "slide-k3"]  # fmt: skip
    assert [s["path"] for s in out.sources] == [e.rel for e in entries]
    assert [h["id"] for h in out.hashes] == [ids[1], ids[4]]
    assert [s["id"] for s in out.scores] == [ids[1], ids[4]]
    assert out.metadata == [{"id": ids[1], "value": "Patient: X"}]
    ledger = {r.item_id: r for r in out.ledger}
    assert ledger[ids[1]].checksum == "md5:m1" and ledger[ids[1]].outcome == "kept"
    assert ledger[ids[4]].detail == "resized"
    assert (ledger[ids[3]].reason, ledger[ids[3]].detail) == ("corrupt", "truncated")
    assert ledger[ids[0]].checksum is None and ledger[ids[0]].size == 12
