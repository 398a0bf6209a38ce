"""Leakage audit of a build: nothing of a test split may be seen, or nearly seen, in another
split.

The checks (:mod:`hepatokit.splits.leaks`, each finding names the items and the splits):
a group (patient, slide) or an item id in two splits; exact duplicates (same MD5 or pixel
SHA-256) and near duplicates (64-bit pHash within the recipe's radius,
``dedup.phash_radius``; when the recipe computes the dHash, ``features.dhash``, a pair
must agree within ``dedup.dhash_radius`` on it too, the same rule the dedup stage
applies) in different splits; one original patient under several pseudonyms in different
splits (``BUILD/private/pseudonyms.parquet``; for an imported release the key is (ID,
vendor)).

The audit reads only files (``splits.parquet``, ``hashes.parquet`` / the curated table, the
private pseudonym table); hashes missing from both are computed from the patch files.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit.atomic import write_json_atomic, write_text_atomic
from hepatokit.contracts import check_schema, read_kind
from hepatokit.contracts.common import LEAKAGE_JSON, LEAKAGE_MD, RAW_ROOT, SPLITS
from hepatokit.contracts.hepatobench import CURATED, HASHES
from hepatokit.contracts.items import raw_patch_paths
from hepatokit.contracts.lifs import PSEUDONYMS
from hepatokit.errors import BuildStateError
from hepatokit.recipe import Recipe, read_recipe
from hepatokit.splits.leaks import DEFAULT_RADIUS, LeakageReport, find_leaks
from hepatokit.splits.policy import split_policy

__all__ = ["audit_leakage"]

log = logging.getLogger("hepatokit.splits.leakage")


def _read(
    path: Path, columns: Sequence[str] | None = None, *, contract: str | None = None
) -> pa.Table | None:
    """The table at ``path`` (those of ``columns`` it has), or None; checked against table
    ``contract`` of the build contract when given."""
    if not path.is_file():
        return None
    table = pq.read_table(path)
    if contract is not None:
        check_schema(table.schema, contract, path=path)
    if columns is not None:
        table = table.select([c for c in columns if c in table.column_names])
    return table


def _patch_hashes(build: Path, ids: set[str]) -> pa.Table | None:
    """Hashes of the split patches: ``hashes.parquet``, else the curated table, else the files."""
    rows: dict[str, dict[str, Any]] = {}
    for name in (CURATED, HASHES):  # hashes.parquet wins
        cols = ["id", "md5", "pixel_sha256", "phash", "dhash", "path"]
        t = _read(build / name, cols, contract=name)
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
    meta = build / RAW_ROOT
    if not meta.is_file():
        return None
    return Path(json.loads(meta.read_text())["raw_root"])


def _hash_files(build: Path, ids: list[str], rows: dict[str, dict[str, Any]]) -> None:
    """MD5, pHash and dHash of patches whose hashes no table holds (path from the table)."""
    import imagehash
    from PIL import Image

    root = _raw_root(build)
    raw = raw_patch_paths(build)  # the tables hold neutral names, the raw paths are private
    for i in ids:
        rel = raw.get(i) or rows.get(i, {}).get("path")
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
    splits = _read(build / SPLITS)
    if splits is None:
        raise BuildStateError(f"no {SPLITS}", path=build, hint="run `hepatokit split BUILD` first")
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
            build / PSEUDONYMS,
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
        write_text_atomic(build / LEAKAGE_MD, report.to_markdown())
        write_json_atomic(build / LEAKAGE_JSON, report.to_dict())
    return report


def _recipe_of(build: Path, recipe: str | Path | None) -> Recipe | None:
    # no BUILD/recipe.yaml: the packaged recipe of the build's dataset, as `split` reads it
    return read_recipe(build, recipe, default=read_kind(build), stage_kind=False)


def _dedup_rule(recipe: Recipe | None) -> tuple[int, int | None]:
    """``(pHash radius, dHash radius or None)``: the split section's override, else ``dedup``."""
    if recipe is None:
        return DEFAULT_RADIUS, None
    dedup = recipe.data.get("dedup") or {}
    if not isinstance(dedup, dict):
        dedup = {}
    features = recipe.data.get("features") or {}
    if not isinstance(features, dict):
        features = {}
    radius = int(dedup.get("phash_radius", DEFAULT_RADIUS))
    wants = features.get("dhash", dedup.get("dhash"))  # dedup.dhash: its place in older recipes
    dhash = int(dedup.get("dhash_radius", 10)) if wants else None
    if recipe.has("split"):
        policy = split_policy(recipe)
        if policy.near_duplicate_radius is not None:
            radius = policy.near_duplicate_radius
    return radius, dhash
