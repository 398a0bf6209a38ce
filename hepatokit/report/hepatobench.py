"""HepatoBench sections of the report: what QC removed (per reason, worst first, with
scores), duplicate clusters side by side with their distances, class × slide × split counts
and a random sample per class. Patches appear by content id only."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from hepatokit.contracts.common import RAW_ROOT
from hepatokit.contracts.hepatobench import CLUSTERS as CLUSTERS_TABLE, CURATED, PATCHES, QC, TILES
from hepatokit.contracts.items import raw_patch_paths
from hepatokit.contracts.tables import check_schema, read_table
from hepatokit.pseudonyms import PublicSlideIds
from hepatokit.report.html import esc, figure, section, table
from hepatokit.report.thumbs import ThumbCache, patch_thumb

__all__ = ["QC_WORST", "hepatobench_sections"]

#: QC reason → its scores as (column, the recipe's ``qc`` threshold key, True if higher is
#: worse); a patch's badness is its worst score relative to that score's threshold
QC_WORST = {
    "background": [("background", "background_max", True)],
    "stain": [("stain", "stain_max", True)],
    "pen": [("pen", "pen_max", True), ("ink", "ink_max", True)],
    "blur": [("sharpness", "sharpness_min", False)],
}
#: thumbnails per QC reason, duplicate clusters shown, sample per class
PER_REASON, CLUSTERS, PER_CLASS = 24, 24, 12


def _columns(path: Path, columns: list[str], contract: str) -> dict[str, list[Any]]:
    """The ``columns`` (those present) of a parquet file as lists; empty if no file. Those
    of table ``contract``'s contract must be there with their type."""
    if not path.is_file():
        return {}
    schema = pq.read_schema(path)
    check_schema(schema, contract, path=path, columns=columns)
    names = set(schema.names)
    return pq.read_table(path, columns=[c for c in columns if c in names]).to_pydict()


def _read(path: Path, columns: list[str] | None = None) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    names = set(pq.read_schema(path).names)
    cols = None if columns is None else [c for c in columns if c in names]
    return pq.read_table(path, columns=cols).to_pylist()


class _Patches:
    """Where each patch id's file is (raw root for ingested patches, BUILD for tiles) and
    its content key (MD5)."""

    def __init__(self, build: Path):
        self.build = build
        raw = build / RAW_ROOT
        self.raw_root = Path(json.loads(raw.read_text())["raw_root"]) if raw.is_file() else None
        self.rows: dict[str, tuple[str | None, str | None, str]] = {}  # id → path, md5, under
        for name, under in ((TILES, "build"), (PATCHES, "raw")):
            cols = _columns(build / name, ["id", "path", "md5"], name)
            if cols:
                md5 = cols.get("md5") or [None] * len(cols["id"])
                sources = raw_patch_paths(build) if under == "raw" else {}
                self.rows.update(
                    (i, (sources.get(i, p), m, under))
                    for i, p, m in zip(cols["id"], cols["path"], md5, strict=True)
                )

    def file(self, pid: str) -> Path | None:
        row = self.rows.get(pid)
        if row is None or row[0] is None:
            return None
        if row[2] == "build":
            return self.build / row[0]
        return None if self.raw_root is None else self.raw_root / row[0]

    def thumb(self, thumbs: ThumbCache, pid: str, md5: str | None = None) -> str | None:
        path = self.file(pid)
        if path is None or not path.is_file():
            return None
        key = md5 or (self.rows.get(pid) or (None, None, ""))[1]
        if not key:
            st = path.stat()
            key = f"{path}:{st.st_size}:{st.st_mtime_ns}"
        return thumbs.get(f"patch:{key}:96:v1", lambda: patch_thumb(path))


def _qc_gallery(build: Path, patches: _Patches, thumbs: ThumbCache, limits: dict[str, Any]) -> str:
    rows = []
    if (build / QC).is_file():
        qc = read_table(build, QC)
        rows = qc.filter(pc.is_valid(qc.column("qc_reason"))).to_pylist()  # the removed only
    if not rows:
        return section("qc", "What QC removed", "<p>No patch was removed by QC.</p>")
    by_reason: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_reason[str(r["qc_reason"]).split(":", 1)[0]].append(r)
    blocks = []
    for reason in sorted(by_reason, key=lambda k: -len(by_reason[k])):
        scores = QC_WORST.get(reason, [(reason, "", True)])

        def badness(r: dict[str, Any], scores: list[tuple[str, str, bool]] = scores) -> float:
            worst = float("-inf")
            for col, limit_key, higher in scores:
                v, limit = r.get(col), limits.get(limit_key)
                if not isinstance(v, int | float):
                    continue
                ratio = v / limit if isinstance(limit, int | float) and limit else v
                worst = max(worst, ratio if higher else -ratio)
            return worst

        items = sorted(by_reason[reason], key=lambda r: (-badness(r), r["id"]))

        def caption(r: dict[str, Any], scores: list[tuple[str, str, bool]] = scores) -> str:
            parts = [
                f"{esc(col)} {r[col]:.3g}"
                for col, _, _ in scores
                if isinstance(r.get(col), int | float)
            ]
            return "<br>".join([esc(r["id"][:8]), *parts])

        figs = "".join(
            figure(patches.thumb(thumbs, r["id"]), caption(r), alt=f"{reason} {r['id']}")
            for r in items[:PER_REASON]
        )
        col = " / ".join(c for c, _, _ in scores)
        more = len(items) - min(len(items), PER_REASON)
        tail = f"<p>… and {more} more.</p>" if more else ""
        blocks.append(
            f'<div class="gallery" id="qc-{esc(reason)}"><h3>{esc(reason)}: {len(items)} removed '
            f'(worst first by {esc(col)})</h3><div class="row">{figs}</div>{tail}</div>'
        )
    return section("qc", "What QC removed", "".join(blocks))


def _dedup_gallery(build: Path, patches: _Patches, thumbs: ThumbCache) -> str:
    rows = _read(build / CLUSTERS_TABLE)
    if not rows:
        return section("dedup", "Duplicate clusters", "<p>No duplicate was found.</p>")
    clusters: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        clusters[r["cluster_id"]].append(r)
    order = sorted(clusters, key=lambda c: (-len(clusters[c]), str(c)))
    blocks = []
    for cid in order[:CLUSTERS]:
        members = sorted(
            clusters[cid],
            key=lambda r: (r["id"] != r.get("representative"), r.get("distance") or 0),
        )
        figs = []
        for r in members:
            role = "kept" if r["id"] == r.get("representative") else (r.get("reason") or "removed")
            role = role.split(":", 1)[0]
            dist = r.get("distance")
            caption = f"{esc(r['id'][:8])}<br>{esc(role)}" + (
                f" · {esc(r.get('link') or '')} d={dist}"
                if dist is not None and role != "kept"
                else ""
            )
            figs.append(figure(patches.thumb(thumbs, r["id"]), caption, alt=f"cluster {cid}"))
        blocks.append(
            f'<div class="cluster"><h3>cluster {esc(cid)} · {len(members)} patches</h3>'
            f'<div class="row">{"".join(figs)}</div></div>'
        )
    more = len(order) - min(len(order), CLUSTERS)
    tail = f"<p>… and {more} more clusters.</p>" if more else ""
    intro = "Kept representative first, then each removed patch with its pHash distance."
    return section("dedup", "Duplicate clusters", "".join(blocks) + tail, intro=intro)


def _counts(
    curated: dict[str, list[Any]], classes: list[str], split_of: dict[str, str], build: Path
) -> str:
    public = PublicSlideIds(build)  # slides as published (pseudonyms; an old build's keyed)
    counts: Counter[tuple[str, str, str]] = Counter(
        zip(
            [split_of.get(i, "none") for i in curated.get("id", [])],
            ["none" if s is None else public(str(s)) for s in curated.get("slide_id", [])],
            map(str, curated.get("class", [])),
            strict=True,
        )
    )
    rows = []
    for split, slide in sorted({(s, sl) for s, sl, _ in counts}):
        per = [counts[(split, slide, c)] for c in classes]
        rows.append([split, slide, *per, sum(per)])
    body = table(["split", "slide", *classes, "total"], rows, cls="counts")
    return section("counts", "Class × slide × split", body)


def _sample(
    curated: dict[str, list[Any]],
    classes: list[str],
    patches: _Patches,
    thumbs: ThumbCache,
    seed: int,
) -> str:
    rng = random.Random(seed)
    by_class: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    md5s = curated.get("md5") or [None] * len(curated.get("id", []))
    for pid, cls, md5 in zip(curated.get("id", []), curated.get("class", []), md5s, strict=True):
        by_class[str(cls)].append((pid, md5))
    blocks = []
    for cls in classes:
        ids = sorted(by_class.get(cls, []))
        pick = rng.sample(ids, min(PER_CLASS, len(ids)))
        figs = "".join(
            figure(patches.thumb(thumbs, pid, md5), esc(pid[:8]), alt=f"{cls} {pid}")
            for pid, md5 in pick
        )
        blocks.append(
            f'<div class="gallery"><h3>{esc(cls)} ({len(ids)} kept)</h3><div class="row">{figs}'
            "</div></div>"
        )
    return section("sample", "Random sample per class", "".join(blocks), intro=f"Seed {seed}.")


def hepatobench_sections(
    build: Path,
    thumbs: ThumbCache,
    classes: list[str],
    split_of: dict[str, str],
    seed: int,
    qc_limits: dict[str, Any] | None = None,
) -> tuple[list[tuple[str, str, str]], dict[str, str | None]]:
    """``(id, title, html)`` of every HepatoBench section, and id → class of the kept patches."""
    patches = _Patches(build)
    curated = _columns(build / CURATED, ["id", "class", "slide_id", "md5"], CURATED)
    out = [
        ("qc", "QC removals", _qc_gallery(build, patches, thumbs, qc_limits or {})),
        ("dedup", "Duplicates", _dedup_gallery(build, patches, thumbs)),
        ("counts", "Counts", _counts(curated, classes, split_of, build)),
        ("sample", "Sample", _sample(curated, classes, patches, thumbs, seed)),
    ]
    return out, dict(zip(curated.get("id", []), curated.get("class", []), strict=True))
