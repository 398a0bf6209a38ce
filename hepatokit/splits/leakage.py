"""Leakage audit: nothing of a test split may be seen, or nearly seen, in another split.

Checks (each finding names the items and the splits):

- ``group_in_several_splits``: a group (patient, slide) with rows in two splits;
- ``id_in_several_splits``: one item id listed twice with different splits;
- ``exact_duplicate``: patches with the same MD5 or pixel SHA-256 in different splits;
- ``near_duplicate``: patches whose 64-bit pHash differ by at most the recipe's radius
  (``dedup.phash_radius``) in different splits (multi-index search, :mod:`.hamming`); when
  the recipe's dedup also requires the dHash (``dedup.dhash``), a pair must agree within
  ``dedup.dhash_radius`` on it too, the same rule the dedup stage applies;
- ``same_patient``: one original patient under several pseudonyms in different splits
  (``BUILD/private/pseudonyms.parquet``; for an imported release the key is (ID, vendor)).

The audit reads only files (``splits.parquet``, ``hashes.parquet`` / the curated table, the
private pseudonym table); hashes missing from both are computed from the patch files.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit.atomic import write_json_atomic, write_text_atomic
from hepatokit.errors import BuildStateError
from hepatokit.recipe import Recipe, read_recipe
from hepatokit.splits.hamming import cross_split_pairs, parse_hex_hashes
from hepatokit.splits.policy import split_policy

__all__ = ["LeakageFinding", "LeakageReport", "audit_leakage", "find_leaks"]

log = logging.getLogger("hepatokit.splits.leakage")
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
        if "phash" in hashes.column_names:
            values, valid = parse_hex_hashes([r["phash"] for r in rows])
            idx = np.flatnonzero(valid)
            names = sorted({split_of[i] for i in ids})
            codes = np.array([names.index(split_of[ids[i]]) for i in idx], dtype=np.int64)
            exact_pairs = {
                tuple(sorted(f.items))
                for f in report.findings
                if f.kind == "exact_duplicate" and len(f.items) == 2
            }
            second = None
            if dhash_radius is not None and "dhash" in hashes.column_names:
                second = parse_hex_hashes([r["dhash"] for r in rows])
            for a, b, dist in cross_split_pairs(values[idx], codes, radius):
                i, j = sorted((ids[idx[a]], ids[idx[b]]))
                if (i, j) in exact_pairs:
                    continue
                if second is not None and not _second_hash_agrees(
                    second, idx[a], idx[b], dhash_radius
                ):
                    continue
                report.findings.append(
                    LeakageFinding(
                        "near_duplicate",
                        (i, j),
                        (split_of[i], split_of[j]),
                        f"pHash distance {dist} ≤ {radius}",
                    )
                )
            rule = f"pHash ≤ {radius} bits" + (
                f", dHash ≤ {dhash_radius}" if second is not None else ""
            )
            report.checks[f"near ({rule})"] = int(idx.size)
    if pseudonyms is not None and pseudonyms.num_rows:
        report.findings += _patient_findings(pseudonyms, split_of)
        report.checks["subjects with an original id"] = pseudonyms.num_rows
    return report


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


# ------------------------------------------------------------------------------ build audit
def _read(path: Path, columns: Sequence[str] | None = None) -> pa.Table | None:
    if not path.is_file():
        return None
    table = pq.read_table(path)
    if columns is not None:
        table = table.select([c for c in columns if c in table.column_names])
    return table


def _patch_hashes(build: Path, ids: set[str]) -> pa.Table | None:
    """Hashes of the split patches: ``hashes.parquet``, else the curated table, else the files."""
    rows: dict[str, dict[str, Any]] = {}
    for name in ("curated.parquet", "hashes.parquet"):  # hashes.parquet wins
        t = _read(build / name, ["id", "md5", "pixel_sha256", "phash", "dhash", "path"])
        if t is None or "id" not in t.column_names:
            continue
        for r in t.to_pylist():
            if str(r["id"]) in ids:
                merged = rows.setdefault(str(r["id"]), {})
                merged.update({k: v for k, v in r.items() if v is not None})
    missing = [i for i in sorted(ids) if "phash" not in rows.get(i, {})]
    if missing:
        _hash_files(build, missing, rows)
    if not rows:
        return None
    cols = ["id", "md5", "pixel_sha256", "phash", "dhash"]
    return pa.table({c: [rows[i].get(c) if c != "id" else i for i in sorted(rows)] for c in cols})


def _raw_root(build: Path) -> Path | None:
    meta = build / "private" / "raw_root.json"
    if not meta.is_file():
        return None
    return Path(json.loads(meta.read_text())["raw_root"])


def _hash_files(build: Path, ids: list[str], rows: dict[str, dict[str, Any]]) -> None:
    """MD5, pHash and dHash of patches whose hashes no table holds (path from the table)."""
    import hashlib

    import imagehash
    from PIL import Image

    root = _raw_root(build)
    for i in ids:
        rel = rows.get(i, {}).get("path")
        if rel is None:
            continue
        for base in (build, root):
            if base is not None and (base / rel).is_file():
                path = base / rel
                break
        else:
            continue
        data = path.read_bytes()
        rows[i]["md5"] = hashlib.md5(data).hexdigest()
        with Image.open(path) as im:
            gray = im.convert("RGB").convert("L")
            rows[i]["phash"] = str(imagehash.phash(gray))
            rows[i]["dhash"] = str(imagehash.dhash(gray))


def audit_leakage(
    *,
    build: str | Path,
    recipe: str | Path | Recipe | None = None,
    radius: int | None = None,
    write_report: bool = True,
) -> LeakageReport:
    """Audit ``BUILD/splits.parquet`` for leakage (see the module docstring).

    Parameters
    ----------
    build
        The build folder (after ``hepatokit split``).
    recipe
        Recipe (default ``BUILD/recipe.yaml`` / the packaged one); gives the pHash radius.
    radius
        Override of the near-duplicate radius in bits.
    write_report
        Write ``BUILD/reports/leakage.md`` and ``leakage.json``.

    Raises
    ------
    BuildStateError
        No ``splits.parquet`` in the build.
    """
    build = Path(build)
    splits = _read(build / "splits.parquet")
    if splits is None:
        raise BuildStateError(
            "no splits.parquet", path=build, hint="run `hepatokit split BUILD` first"
        )
    rec = recipe if isinstance(recipe, Recipe) else _recipe_of(build, recipe)
    default_radius, dhash_radius = _dedup_rule(rec)
    if radius is None:
        radius = default_radius
    hashes = None
    pseudonyms = None
    if rec is None or rec.kind == "patho":
        hashes = _patch_hashes(build, {str(i) for i in splits.column("id").to_pylist()})
    if rec is None or rec.kind == "mri":
        pseudonyms = _read(
            build / "private" / "pseudonyms.parquet",
            ["original_patient_id", "original_key", "subject_id"],
        )
        if pseudonyms is not None and not {"original_patient_id", "subject_id"} <= set(
            pseudonyms.column_names
        ):
            pseudonyms = None
    report = find_leaks(
        splits, hashes=hashes, radius=radius, dhash_radius=dhash_radius, pseudonyms=pseudonyms
    )
    if rec is not None and rec.kind == "mri" and pseudonyms is None:
        report.warnings.append("no private/pseudonyms.parquet: same-patient check skipped")
    if write_report:
        write_text_atomic(build / "reports" / "leakage.md", report.to_markdown())
        write_json_atomic(build / "reports" / "leakage.json", report.to_dict())
    return report


def _recipe_of(build: Path, recipe: str | Path | None) -> Recipe | None:
    # no BUILD/recipe.yaml: the packaged recipe of the build's dataset, as `split` reads it
    default = "lifs" if (build / "subjects.parquet").is_file() else "hepatobench"
    return read_recipe(build, recipe, default=default, stage_kind=False)


def _dedup_rule(recipe: Recipe | None) -> tuple[int, int | None]:
    """``(pHash radius, dHash radius or None)``: the split section's override, else ``dedup``."""
    if recipe is None:
        return DEFAULT_RADIUS, None
    dedup = recipe.data.get("dedup") or {}
    if not isinstance(dedup, dict):
        dedup = {}
    radius = int(dedup.get("phash_radius", DEFAULT_RADIUS))
    dhash = int(dedup.get("dhash_radius", 10)) if dedup.get("dhash") else None
    if recipe.has("split"):
        policy = split_policy(recipe)
        if policy.near_duplicate_radius is not None:
            radius = policy.near_duplicate_radius
    return radius, dhash
