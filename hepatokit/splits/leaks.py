"""Leakage findings from tables (pure): what :func:`hepatokit.splits.leakage.audit_leakage`
reports.

Checks (each finding names the items and the splits):

- ``group_in_several_splits``: a group (patient, slide) with rows in two splits;
- ``id_in_several_splits``: one item id listed twice with different splits;
- ``exact_duplicate``: patches with the same MD5 or pixel SHA-256 in different splits;
- ``near_duplicate``: patches whose 64-bit pHash differ by at most a radius in different
  splits (multi-index search, :mod:`.hamming`); with a dHash radius, a pair must agree
  within it on the dHash too, the same rule the dedup stage applies;
- ``same_patient``: one original patient under several pseudonyms in different splits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from hepatokit.splits.hamming import cross_split_pairs, parse_hex_hashes

__all__ = ["DEFAULT_RADIUS", "LeakageFinding", "LeakageReport", "find_leaks"]

#: pHash Hamming radius (bits) of a near duplicate when the recipe gives none
DEFAULT_RADIUS = 6


@dataclass(frozen=True)
class LeakageFinding:
    """One leak: its kind, the items (ids, groups or patients) and the splits involved."""

    kind: str
    items: tuple[str, ...]
    splits: tuple[str, ...]
    detail: str = ""

    def line(self) -> str:
        items = ", ".join(self.items)
        return f"{self.kind}: {items} in {' / '.join(self.splits)}" + (
            f" ({self.detail})" if self.detail else ""
        )


@dataclass
class LeakageReport:
    """All findings of an audit; ``ok`` when there are none."""

    findings: list[LeakageFinding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checks: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for f in self.findings:
            out[f.kind] += 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "counts": self.counts(),
            "checks": self.checks,
            "warnings": self.warnings,
            "findings": [asdict(f) for f in self.findings],
        }

    def to_markdown(self, limit: int = 200) -> str:
        lines = ["# Leakage audit", ""]
        lines.append("**Result: no leakage.**" if self.ok else f"**{len(self.findings)} leak(s).**")
        lines += ["", "| check | examined |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in self.checks.items()]
        if self.findings:
            lines += ["", "| kind | count |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in self.counts().items()]
            lines += ["", "## Findings", ""]
            lines += [f"- {f.line()}" for f in self.findings[:limit]]
            if len(self.findings) > limit:
                lines.append(f"- … {len(self.findings) - limit} more (see leakage.json)")
        if self.warnings:
            lines += ["", "## Warnings", ""] + [f"- {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"


def _group_findings(splits: pa.Table) -> list[LeakageFinding]:
    out = []
    for key, kind in (("group", "group_in_several_splits"), ("id", "id_in_several_splits")):
        seen: dict[str, set[str]] = defaultdict(set)
        for k, s in zip(
            splits.column(key).to_pylist(), splits.column("split").to_pylist(), strict=True
        ):
            seen[str(k)].add(str(s))
        out += [
            LeakageFinding(kind, (k,), tuple(sorted(v)))
            for k, v in sorted(seen.items())
            if len(v) > 1
        ]
    return out


def _exact_findings(
    ids: list[str], split_of: dict[str, str], digests: list[str | None], what: str
) -> list[LeakageFinding]:
    by_digest: dict[str, list[str]] = defaultdict(list)
    for i, d in zip(ids, digests, strict=True):
        if d:
            by_digest[d].append(i)
    out = []
    for d, members in sorted(by_digest.items()):
        splits = {split_of[m] for m in members}
        if len(splits) > 1:
            out.append(
                LeakageFinding(
                    "exact_duplicate",
                    tuple(sorted(members)),
                    tuple(sorted(splits)),
                    f"same {what} {d[:12]}",
                )
            )
    return out


def find_leaks(
    splits: pa.Table,
    *,
    hashes: pa.Table | None = None,
    radius: int = DEFAULT_RADIUS,
    dhash_radius: int | None = None,
    pseudonyms: pa.Table | None = None,
) -> LeakageReport:
    """Audit an assignment (pure function of tables).

    Parameters
    ----------
    splits
        ``id``, ``group``, ``split`` (the ``splits.parquet`` contract).
    hashes
        Optional per-patch hashes: ``id`` and any of ``md5``, ``pixel_sha256``, ``phash``.
    radius
        pHash Hamming radius (bits) of a near duplicate.
    dhash_radius
        If given, a near pair must also have dHashes (``dhash`` column) within this radius;
        pairs where either dHash is missing are kept (the conservative choice).
    pseudonyms
        Optional ``original_patient_id`` (or ``original_key``) ↔ ``subject_id`` table (MRI).
    """
    report = LeakageReport()
    report.findings += _group_findings(splits)
    report.checks["groups"] = len(set(splits.column("group").to_pylist()))
    split_of = {
        str(i): str(s)
        for i, s in zip(
            splits.column("id").to_pylist(), splits.column("split").to_pylist(), strict=True
        )
    }
    if hashes is not None and hashes.num_rows:
        _hash_checks(report, hashes, split_of, radius, dhash_radius)
    if pseudonyms is not None and pseudonyms.num_rows:
        report.findings += _patient_findings(pseudonyms, split_of)
        report.checks["subjects with an original id"] = pseudonyms.num_rows
    return report


def _hash_checks(
    report: LeakageReport,
    hashes: pa.Table,
    split_of: dict[str, str],
    radius: int,
    dhash_radius: int | None,
) -> None:
    """Exact (MD5, pixel SHA-256) and near (pHash, with the dHash rule) duplicates across
    splits, added to ``report``."""
    rows = [r for r in hashes.to_pylist() if str(r["id"]) in split_of]
    ids = [str(r["id"]) for r in rows]
    missing = len(split_of) - len(set(ids))
    if missing:
        report.warnings.append(
            f"{missing} split item(s) have no hashes: not checked for duplicates"
        )
    for col, what in (("md5", "MD5"), ("pixel_sha256", "pixel SHA-256")):
        if col in hashes.column_names:
            report.findings += _exact_findings(ids, split_of, [r[col] for r in rows], what)
            report.checks[f"exact ({col})"] = len(ids)
    if "phash" not in hashes.column_names:
        return
    exact_pairs = {
        tuple(sorted(f.items))
        for f in report.findings
        if f.kind == "exact_duplicate" and len(f.items) == 2
    }
    second = None
    if dhash_radius is not None and "dhash" in hashes.column_names:
        second = parse_hex_hashes([r["dhash"] for r in rows])
    found, examined = _near_findings(
        ids, split_of, [r["phash"] for r in rows], radius, second, dhash_radius, exact_pairs
    )
    report.findings += found
    rule = f"pHash ≤ {radius} bits" + (f", dHash ≤ {dhash_radius}" if second is not None else "")
    report.checks[f"near ({rule})"] = examined


def _near_findings(
    ids: list[str],
    split_of: dict[str, str],
    phashes: list[str | None],
    radius: int,
    second: tuple[np.ndarray, np.ndarray] | None,
    dhash_radius: int | None,
    exact_pairs: set[tuple[str, ...]],
) -> tuple[list[LeakageFinding], int]:
    """Pairs of items in different splits whose pHashes differ by at most ``radius`` bits
    (and, ``second`` given, whose dHashes agree within ``dhash_radius``), except pairs
    already found exact; and the number of items with a valid pHash."""
    values, valid = parse_hex_hashes(phashes)
    idx = np.flatnonzero(valid)
    names = sorted({split_of[i] for i in ids})
    codes = np.array([names.index(split_of[ids[i]]) for i in idx], dtype=np.int64)
    out = []
    for a, b, dist in cross_split_pairs(values[idx], codes, radius):
        i, j = sorted((ids[idx[a]], ids[idx[b]]))
        if (i, j) in exact_pairs:
            continue
        if second is not None and not _second_hash_agrees(second, idx[a], idx[b], dhash_radius):
            continue
        out.append(
            LeakageFinding(
                "near_duplicate",
                (i, j),
                (split_of[i], split_of[j]),
                f"pHash distance {dist} ≤ {radius}",
            )
        )
    return out, int(idx.size)


def _second_hash_agrees(
    second: tuple[np.ndarray, np.ndarray], a: int, b: int, radius: int | None
) -> bool:
    values, valid = second
    if radius is None or not (valid[a] and valid[b]):
        return True
    return int(np.bitwise_count(values[a] ^ values[b])) <= radius


def _patient_findings(pseudonyms: pa.Table, split_of: dict[str, str]) -> list[LeakageFinding]:
    subjects: dict[str, set[str]] = defaultdict(set)
    # ``original_key`` (site + patient id, where ids repeat across sites) wins when present
    key = "original_key" if "original_key" in pseudonyms.column_names else "original_patient_id"
    for orig, sid in zip(
        pseudonyms.column(key).to_pylist(),
        pseudonyms.column("subject_id").to_pylist(),
        strict=True,
    ):
        if orig is None or sid is None or str(sid) not in split_of:
            continue
        subjects[" ".join(str(orig).split()).casefold()].add(str(sid))
    out = []
    for n, (_, sids) in enumerate(sorted(subjects.items())):
        splits = {split_of[s] for s in sids}
        if len(sids) > 1 and len(splits) > 1:
            # the original id is PHI: the finding names the pseudonyms only
            out.append(
                LeakageFinding(
                    "same_patient",
                    tuple(sorted(sids)),
                    tuple(sorted(splits)),
                    f"original patient #{n}",
                )
            )
    return out
