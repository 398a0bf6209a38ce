"""``patho dedup``: exact + near-duplicate removal over the patches that passed QC.

Writes ``clusters.parquet`` (cluster_id, id, representative, distance, link, reason), the
``dedup`` manifest ledger, ``curated.parquet`` (the kept items with their table columns,
hashes and QC scores) and ``reports/dedup.md`` + ``reports/dedup_clusters.png`` (a gallery
of the largest clusters).
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hepatokit.atomic import write_parquet_atomic, write_text_atomic
from hepatokit.curation.patho.config import DedupConfig
from hepatokit.curation.patho.dedup.exact import DedupDecision, DedupInput, decide_duplicates
from hepatokit.curation.patho.features.hashing import hash_versions, hex_to_uint64
from hepatokit.curation.patho.features.table import ensure_features
from hepatokit.curation.patho.gallery import cluster_gallery
from hepatokit.curation.patho.layout import (
    CLUSTERS,
    CURATED,
    PATCHES,
    QC,
    TILES,
    read_items,
    require,
)
from hepatokit.curation.patho.qc.measures import QC_CHECKS, quality_rank
from hepatokit.manifest import Manifest, excluded, kept, provenance
from hepatokit.recipe import build_recipe

__all__ = ["DedupSummary", "run_dedup"]

STAGE = "dedup"
CLUSTER_SCHEMA = pa.schema(
    [
        ("cluster_id", pa.string()),
        ("id", pa.string()),
        ("representative", pa.string()),
        ("distance", pa.int32()),
        ("link", pa.string()),
        ("reason", pa.string()),
    ]
)


@dataclass(frozen=True)
class DedupSummary:
    """Counts of one dedup run."""

    items: int
    kept: int
    clusters: int
    duplicates: int
    label_conflicts: int

    def __str__(self) -> str:
        return (
            f"{self.items} items: {self.kept} kept, {self.clusters} clusters, "
            f"{self.duplicates} duplicates removed, {self.label_conflicts} label conflicts"
        )


def run_dedup(
    *,
    build: str | os.PathLike[str],
    recipe: str | os.PathLike[str] | None = None,
    radius: int | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    gallery: bool = True,
) -> DedupSummary:
    """Remove exact and near duplicates among the items that passed QC.

    Parameters
    ----------
    build
        Build folder after ``patho qc``.
    radius
        pHash Hamming radius in bits (default: the recipe's ``dedup.phash_radius``).
    workers, executor
        Processes for the feature pass and the near-duplicate search, or an executor
        (process pool, Dask client executor) that runs both, the search split by band.
    gallery
        Write the PNG gallery of the largest clusters.
    """
    build = Path(build)
    rec = build_recipe(build, None if recipe is None else Path(recipe), default="hepatobench")
    cfg = rec.section("dedup", DedupConfig)
    r = cfg.phash_radius if radius is None else radius
    qc = pq.read_table(require(build, QC, before="dedup (run `patho qc` first)"))
    passed = set(qc.filter(pc.is_null(qc.column("qc_reason"))).column("id").to_pylist())
    items = read_items(build)
    items = items.filter(pc.is_in(items.column("id"), pa.array(sorted(passed), pa.string())))
    hashes, scores, _ = ensure_features(
        build, items, dhash=cfg.dhash, workers=workers, executor=executor
    )
    ids = items.column("id").to_pylist()
    h = {row["id"]: row for row in hashes.to_pylist()}
    s = {row["id"]: row for row in scores.to_pylist()}
    data = DedupInput(
        ids=ids,
        paths=items.column("path").to_pylist(),
        classes=items.column("class").to_pylist(),
        md5=[h[i]["md5"] for i in ids],
        pixel_sha256=[h[i]["pixel_sha256"] for i in ids],
        phash=hex_to_uint64([h[i]["phash"] for i in ids]),
        quality=[quality_rank(s[i]) for i in ids],
        dhash=hex_to_uint64([h[i]["dhash"] for i in ids]) if cfg.dhash else None,
    )
    decisions = decide_duplicates(
        data,
        radius=r,
        second_radius=cfg.dhash_radius if cfg.dhash else None,
        workers=workers,
        executor=executor,
    )
    clusters = pa.Table.from_pylist([d.__dict__ for d in decisions], schema=CLUSTER_SCHEMA)
    write_parquet_atomic(build / CLUSTERS, clusters)

    by_id = {d.id: d for d in decisions}
    kinds = items.column("kind").to_pylist()
    rows = []
    kept_ids = []
    for item_id, kind in zip(ids, kinds, strict=True):
        d = by_id.get(item_id)
        if d is None or d.reason is None:
            kept_ids.append(item_id)
            detail = None if d is None else f"representative of cluster {d.cluster_id}"
            rows.append(kept(item_id, kind=kind, stage=STAGE, detail=detail))
        else:
            rows.append(
                excluded(item_id, kind=kind, stage=STAGE, reason=d.reason,
                         detail=f"cluster {d.cluster_id}, {d.link}, phash distance {d.distance}")
            )  # fmt: skip
    extra = {"phash_radius": r, "dhash": cfg.dhash, "hash_versions": hash_versions()}
    info = provenance(stage=STAGE, recipe_sha256=rec.sha256, seed=rec.seed, extra=extra)
    Manifest(build).record(STAGE, rows, provenance_info=info)
    _write_curated(build, kept_ids, hashes, scores)
    summary = DedupSummary(
        items=len(ids),
        kept=len(kept_ids),
        clusters=len({d.cluster_id for d in decisions}),
        duplicates=sum(1 for d in decisions if d.reason and d.reason.startswith("duplicate_of")),
        label_conflicts=sum(1 for d in decisions if d.reason == "label_conflict"),
    )
    _write_report(build, summary, decisions, r)
    if gallery and decisions:
        cluster_gallery(build, decisions, items, max_clusters=cfg.gallery_clusters)
    return summary


def _write_curated(build: Path, kept_ids: list[str], hashes: pa.Table, scores: pa.Table) -> None:
    """``curated.parquet``: kept rows of patches/tiles + phash (+ dhash) + QC scores."""
    keep = pa.array(sorted(kept_ids), pa.string())
    parts = []
    for name in (PATCHES, TILES):
        if (build / name).is_file():
            t = pq.read_table(build / name)
            if "ingest_reason" in t.column_names:
                t = t.drop_columns(["ingest_reason"])
            parts.append(t.filter(pc.is_in(t.column("id"), keep)))
    table = parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="default")
    extra = hashes.select(["id", "phash", "dhash", "pixel_sha256"])
    if "md5" not in table.column_names:
        extra = hashes.select(["id", "md5", "phash", "dhash", "pixel_sha256"])
    table = table.join(extra, "id", join_type="left outer")
    table = table.join(scores.select(["id", *QC_CHECKS]), "id", join_type="left outer")
    table = table.sort_by([("path", "ascending")])
    write_parquet_atomic(build / CURATED, table)


def _write_report(
    build: Path, summary: DedupSummary, decisions: list[DedupDecision], r: int
) -> None:
    sizes = Counter(d.cluster_id for d in decisions)
    links = Counter(d.link for d in decisions if d.reason and d.reason.startswith("duplicate_of"))
    hist = Counter(sizes.values())
    lines = [
        "# Dedup report",
        "",
        f"- pHash radius: {r} bits (64-bit imagehash pHash); versions: {hash_versions()}",
        f"- {summary}",
        f"- removed as exact duplicates: {links.get('exact', 0)}; as near duplicates: "
        f"{links.get('near', 0)}",
        "",
        "| cluster size | clusters |",
        "|---:|---:|",
        *[f"| {k} | {v} |" for k, v in sorted(hist.items())],
        "",
        "Gallery of the largest clusters: `dedup_clusters.png`.",
    ]
    write_text_atomic(build / "reports" / "dedup.md", "\n".join(lines) + "\n")
