"""``patho dedup``: exact + near-duplicate removal over the patches that passed QC.

Writes ``clusters.parquet`` (cluster_id, id, representative, distance, link, reason), the
``dedup`` manifest ledger, ``curated.parquet`` (the kept items with their table columns,
hashes and QC scores) and ``reports/dedup.md`` + ``reports/dedup_clusters.png`` (a gallery
of the largest clusters).

Read (the passed items, their hashes and scores) → decide
(:func:`~hepatokit.curation.patho.dedup.exact.decide_duplicates` and :func:`dedup_ledger`,
pure) → write. The near-duplicate search runs on the executor the stage is given.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from hepatokit.atomic import write_text_atomic
from hepatokit.contracts import read_table, write_table
from hepatokit.contracts.hepatobench import (
    CLUSTER_SCHEMA,
    CLUSTERS,
    CURATED,
    DEDUP_MD,
    PATCHES,
    QC,
    TILES,
)
from hepatokit.contracts.items import read_items, require
from hepatokit.curation.patho.config import (
    DedupConfig,
    FeaturesConfig,
    features_section,
    stage_provenance,
)
from hepatokit.curation.patho.dedup.exact import DedupDecision, DedupInput, decide_duplicates
from hepatokit.curation.patho.features.hashing import hash_versions, hex_to_uint64
from hepatokit.curation.patho.features.table import ensure_features
from hepatokit.curation.patho.gallery import cluster_gallery
from hepatokit.curation.patho.qc.measures import QC_CHECKS, quality_rank
from hepatokit.manifest import Manifest, ManifestRow, excluded, kept
from hepatokit.recipe import stage_section

__all__ = ["DedupSummary", "dedup_ledger", "dedup_patches"]

STAGE = "dedup"


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


def dedup_patches(
    *,
    build: str | os.PathLike[str],
    dedup: DedupConfig | None = None,
    features: FeaturesConfig | None = None,
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
    dedup, features
        The recipe's ``dedup`` and ``features`` sections; each not given is read from
        ``recipe`` (default ``BUILD/recipe.yaml``, else the packaged hepatobench).
    radius
        pHash Hamming radius in bits (default: ``dedup.phash_radius``).
    workers, executor
        Processes for the feature pass and the near-duplicate search, or an executor
        (process pool, Dask client executor) that runs both, the search split by band.
    gallery
        Write the PNG gallery of the largest clusters.
    """
    build = Path(build)
    rec_path = None if recipe is None else os.fspath(recipe)
    cfg = stage_section(build, dedup, rec_path, default="hepatobench",
                        pick=lambda rec: rec.section("dedup", DedupConfig))  # fmt: skip
    feats = stage_section(build, features, rec_path, default="hepatobench", pick=features_section)
    r = cfg.phash_radius if radius is None else radius
    items, hashes, scores, data = _read_passed(build, feats.dhash, workers, executor)
    decisions = decide_duplicates(
        data,
        radius=r,
        second_radius=cfg.dhash_radius if feats.dhash else None,
        workers=workers,
        executor=executor,
    )
    ledger, kept_ids = dedup_ledger(data.ids, items.column("kind").to_pylist(), decisions)
    summary = _summary(len(data.ids), len(kept_ids), decisions)
    clusters = pa.Table.from_pylist([d.__dict__ for d in decisions], schema=CLUSTER_SCHEMA)
    write_table(build, CLUSTERS, clusters)
    extra = {"phash_radius": r, "dhash": feats.dhash, "hash_versions": hash_versions()}
    info = stage_provenance(build, stage=STAGE, extra=extra)
    Manifest(build).record(STAGE, ledger, provenance_info=info)
    _write_curated(build, kept_ids, hashes, scores)
    _write_report(build, summary, decisions, r)
    if gallery and decisions:
        cluster_gallery(build, decisions, items, max_clusters=cfg.gallery_clusters)
    return summary


def _read_passed(
    build: Path, dhash: bool, workers: int | None, executor: Executor | None
) -> tuple[pa.Table, pa.Table, pa.Table, DedupInput]:
    """The items that passed QC, their hashes and scores (measured where missing), and the
    decision input built from them."""
    require(build, QC, before="dedup (run `patho qc` first)")
    qc = read_table(build, QC)
    passed = set(qc.filter(pc.is_null(qc.column("qc_reason"))).column("id").to_pylist())
    items = read_items(build)
    items = items.filter(pc.is_in(items.column("id"), pa.array(sorted(passed), pa.string())))
    hashes, scores, _ = ensure_features(
        build, items, dhash=dhash, workers=workers, executor=executor
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
        dhash=hex_to_uint64([h[i]["dhash"] for i in ids]) if dhash else None,
    )
    return items, hashes, scores, data


def dedup_ledger(
    ids: Sequence[str], kinds: Sequence[str], decisions: Sequence[DedupDecision]
) -> tuple[list[ManifestRow], list[str]]:
    """The ``dedup`` ledger rows of ``ids`` (in their order) and the ids kept (pure).

    An item in no cluster is kept; a cluster's representative is kept with a note; the
    others are excluded with the decision's reason and how they were linked.
    """
    by_id = {d.id: d for d in decisions}
    rows, kept_ids = [], []
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
    return rows, kept_ids


def _summary(items: int, n_kept: int, decisions: Sequence[DedupDecision]) -> DedupSummary:
    return DedupSummary(
        items=items,
        kept=n_kept,
        clusters=len({d.cluster_id for d in decisions}),
        duplicates=sum(1 for d in decisions if d.reason and d.reason.startswith("duplicate_of")),
        label_conflicts=sum(1 for d in decisions if d.reason == "label_conflict"),
    )


def _write_curated(build: Path, kept_ids: list[str], hashes: pa.Table, scores: pa.Table) -> None:
    """``curated.parquet``: kept rows of patches/tiles + phash (+ dhash) + QC scores."""
    keep = pa.array(sorted(kept_ids), pa.string())
    parts = []
    for name in (PATCHES, TILES):
        if (build / name).is_file():
            t = read_table(build, name)
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
    write_table(build, CURATED, table)


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
    write_text_atomic(build / DEDUP_MD, "\n".join(lines) + "\n")
