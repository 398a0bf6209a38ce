"""Checks of a report page against the build it shows (truth read from the build's tables
with pyarrow, not through the report code)."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq


class PageParser(HTMLParser):
    """Collects image sources, ``data-funnel`` numbers and section ids of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.funnel: dict[str, int] = {}
        self.sections: list[str] = []
        self.external: list[str] = []
        self._key: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"] or "")
        if tag == "section":
            self.sections.append(a["id"] or "")
        for name in ("src", "href"):
            value = a.get(name) or ""
            if value.startswith(("http:", "https:", "//")):
                self.external.append(value)
        kind = a.get("data-funnel")
        if kind == "excluded":
            self._key = f"{a['data-stage']}/{a['data-reason']}"
        elif kind:
            self._key = kind

    def handle_data(self, data: str) -> None:
        if self._key is not None and data.strip():
            self.funnel[self._key] = int(data.strip())
            self._key = None


def parse_page(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def manifest_truth(build: Path) -> dict[str, int]:
    """inputs / kept / excluded and stage/reason counts of the items' final outcomes, from the
    ledgers themselves: an item is excluded by the first stage (in ledger order) excluding it."""
    files = sorted((build / "manifest").glob("*.parquet"))
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    order = {f.stem: i for i, f in enumerate(files)}
    seq = {}
    for f in files:  # ledgers carry their write order in the schema metadata when present
        meta = pq.read_schema(f).metadata or {}
        for k, v in meta.items():
            if k.decode().endswith("seq"):
                seq[f.stem] = int(v)
    order = {s: (seq.get(s, 0), i) for s, i in order.items()}
    items = {r["item_id"] for r in rows}
    first: dict[str, dict] = {}
    for r in sorted(rows, key=lambda r: order[r["stage"]]):
        if r["outcome"] == "excluded" and r["item_id"] not in first:
            first[r["item_id"]] = r
    out: Counter[str] = Counter()
    for r in first.values():
        out[f"{r['stage']}/{str(r['reason']).split(':', 1)[0]}"] += 1
    return {
        "inputs": len(items),
        "excluded-total": len(first),
        "kept": len(items) - len(first),
        **out,
    }
