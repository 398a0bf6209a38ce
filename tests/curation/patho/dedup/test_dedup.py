"""Dedup decisions: exact, near, label conflicts, deterministic representatives (properties)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from hepatokit.curation.patho.dedup.exact import DedupInput, decide_duplicates


def _input(rows: list[dict]) -> DedupInput:
    return DedupInput(
        ids=[r["id"] for r in rows],
        paths=[r["path"] for r in rows],
        classes=[r["cls"] for r in rows],
        md5=[r["md5"] for r in rows],
        pixel_sha256=[r["pix"] for r in rows],
        phash=np.array([r["ph"] for r in rows], dtype=np.uint64),
        quality=[r["q"] for r in rows],
    )


def _row(i: int, ph: int, *, cls: str = "TUM", q: float = 1.0, md5: str | None = None,
         pix: str | None = None) -> dict:  # fmt: skip
    return {"id": f"id{i:03d}", "path": f"{cls}/p{i:03d}.png", "cls": cls, "md5": md5 or f"m{i}",
            "pix": pix or f"x{i}", "ph": ph, "q": q}  # fmt: skip


def test_exact_near_conflict() -> None:
    rows = [
        _row(0, 0xF0F0, q=1.0),
        _row(1, 0xFFFF_0000_0000, md5="m0", q=1.0),  # same bytes as 0, far pHash: exact link
        _row(2, 0xF0F1, q=5.0),  # near 0 and best quality → representative
        _row(3, 0x0F0F_0F0F_0F0F_0F0F),  # alone
        _row(4, 0x1234_5678_0000_0000, cls="FIB", pix="x5"),  # same pixels as 5, other class
        _row(5, 0x1234_5678_0000_0000, cls="TUM"),
    ]
    dec = {d.id: d for d in decide_duplicates(_input(rows), radius=2)}
    assert "id003" not in dec
    assert dec["id002"].reason is None
    assert dec["id000"].reason == dec["id001"].reason == "duplicate_of:id002"
    assert dec["id001"].link == "near" and dec["id000"].link == "near"
    assert dec["id004"].reason == dec["id005"].reason == "label_conflict"
    assert dec["id004"].representative is None


def test_path_order_breaks_quality_ties() -> None:
    rows = [_row(2, 0xAA), _row(1, 0xAB), _row(3, 0xAA)]
    dec = {d.id: d for d in decide_duplicates(_input(rows), radius=1)}
    assert dec["id001"].reason is None
    assert dec["id002"].reason == "duplicate_of:id001"


_rows = st.lists(
    st.tuples(st.integers(0, 255), st.sampled_from([0.0, 1.0, 2.0]), st.sampled_from(["A", "B"]),
              st.integers(0, 3)),
    min_size=1, max_size=40,
)  # fmt: skip


def _build(spec: list[tuple[int, float, str, int]]) -> list[dict]:
    # 8-bit pHashes spread over the 64 bits so small radii link only some items
    return [
        _row(
            i,
            int(ph) * 0x0101_0101,
            cls="TUM",
            q=q,
            md5=f"m{m}" if m else None,
        )
        for i, (ph, q, c, m) in enumerate(spec)
    ]


@settings(max_examples=60, deadline=None)
@given(_rows, st.integers(0, 6), st.randoms(use_true_random=False))
def test_representative_independent_of_order(spec, radius, rnd) -> None:  # type: ignore[no-untyped-def]
    rows = _build(spec)
    a = decide_duplicates(_input(rows), radius=radius)
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    b = decide_duplicates(_input(shuffled), radius=radius)
    assert a == b


@settings(max_examples=60, deadline=None)
@given(_rows, st.integers(0, 6), st.booleans())
def test_idempotent(spec, radius, conflicts) -> None:  # type: ignore[no-untyped-def]
    rows = _build(spec)
    if conflicts:
        for k, r in enumerate(rows):
            r["cls"] = "TUM" if k % 3 else "FIB"
    dec = {d.id: d for d in decide_duplicates(_input(rows), radius=radius)}
    survivors = [r for r in rows if dec.get(r["id"]) is None or dec[r["id"]].reason is None]
    assert survivors or all(d.reason == "label_conflict" for d in dec.values())
    again = decide_duplicates(_input(survivors), radius=radius) if survivors else []
    assert [d for d in again if d.reason is not None] == []
