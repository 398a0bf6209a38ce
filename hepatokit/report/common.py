"""Sections shared by both datasets: the curation funnel, the splits, links to other reports."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hepatokit.contracts.common import REPORT_PAGE, REPORT_PIX, REPORT_SCREENSHOTS
from hepatokit.manifest import Manifest
from hepatokit.report.html import anchor, esc, section, table

__all__ = ["ROWS_LISTED", "funnel_section", "links_section", "splits_section"]

#: manifest rows listed under one funnel entry (the rest are counted, not listed)
ROWS_LISTED = 300


@dataclass(frozen=True)
class _Summary:
    inputs: int
    kept: int
    excluded: int


def funnel_section(build: Path) -> tuple[str, dict[str, Any] | None]:
    """The funnel (inputs → excluded by stage and reason → kept) from ``BUILD/manifest``;
    every count links to the rows it counts (item id, kind, stage, reason: no source path,
    which may name a patient). Returns the HTML and the numbers shown."""
    manifest = Manifest(build)
    if not manifest.stages():
        return section("funnel", "Curation funnel", "<p>No manifest in this build.</p>"), None
    # final outcomes as Manifest.final() defines them (an item's first exclusion, in stage
    # order, wins), computed on columns: the ledgers of a 150k-item build are 500k rows
    df = (
        manifest.rows()
        .select(["item_id", "kind", "stage", "outcome", "reason"])
        .to_pandas(types_mapper=None)
    )
    first = df.drop_duplicates("item_id", keep="first")
    gone = df[df["outcome"] == "excluded"].drop_duplicates("item_id", keep="first")
    inputs, n_excluded = len(first), len(gone)
    kept_kinds = first.loc[~first["item_id"].isin(gone["item_id"]), "kind"]
    kept_by_kind: Counter[str] = Counter(kept_kinds.astype(str).tolist())
    gone = gone.assign(family=gone["reason"].astype(str).str.split(":", n=1).str[0])
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {
        (str(stage), str(reason)): part.drop(columns="family").to_dict("records")
        for (stage, reason), part in gone.groupby(["stage", "family"], sort=False)
    }
    summary = _Summary(inputs, inputs - n_excluded, n_excluded)
    rows_html = [
        '<tr class="inputs"><th>inputs</th><td></td>'
        f'<td class="n" data-funnel="inputs">{summary.inputs}</td></tr>'
    ]
    details = []
    for stage in manifest.stages():
        reasons = sorted(
            (r for s, r in groups if s == stage), key=lambda r: -len(groups[(stage, r)])
        )
        for reason in reasons:
            items = groups[(stage, reason)]
            rid = anchor("rows", stage, reason)
            rows_html.append(
                f'<tr class="excluded"><th>excluded at <code>{esc(stage)}</code></th>'
                f"<td><code>{esc(reason)}</code></td>"
                f'<td class="n"><a href="#{rid}" data-funnel="excluded" data-stage="{esc(stage)}"'
                f' data-reason="{esc(reason)}">{len(items)}</a></td></tr>'
            )
            listed = sorted(items, key=lambda r: r["item_id"])[:ROWS_LISTED]
            more = len(items) - len(listed)
            body = table(
                ["item id", "kind", "stage", "reason"],
                [[r["item_id"], r["kind"], r["stage"], r["reason"]] for r in listed],
                cls="rows",
            )
            if more:
                body += (
                    f"<p>… and {more} more (see <code>manifest/{esc(stage)}.parquet</code>).</p>"
                )
            details.append(
                f'<details id="{rid}"><summary>{esc(stage)} / {esc(reason)}: {len(items)} '
                f"item(s)</summary>{body}</details>"
            )
    rows_html.append(
        '<tr class="kept"><th>kept</th><td>'
        + esc(", ".join(f"{k}: {n}" for k, n in sorted(kept_by_kind.items())))
        + f'</td><td class="n" data-funnel="kept">{summary.kept}</td></tr>'
    )
    body = (
        '<table class="funnel"><thead><tr><th>step</th><th>reason</th><th>items</th></tr></thead>'
        f"<tbody>{''.join(rows_html)}</tbody></table>"
        f"<p>Invariant: inputs ({summary.inputs}) = kept ({summary.kept}) + excluded "
        f'(<span data-funnel="excluded-total">{summary.excluded}</span>). Click a count to see '
        "its rows.</p>" + "".join(details)
    )
    numbers = {
        "inputs": summary.inputs,
        "kept": summary.kept,
        "excluded": summary.excluded,
        "excluded_by_stage": {f"{s}/{r}": len(v) for (s, r), v in groups.items()},
    }
    return section("funnel", "Curation funnel", body), numbers


def splits_section(
    split_of: dict[str, str], label_of: dict[str, str | None], domain_of: dict[str, str] | None
) -> str:
    """Per split: the label mix and (when there is one) the domain mix."""
    if not split_of:
        return section("splits", "Splits", "<p>No <code>splits.parquet</code> yet.</p>")
    splits = sorted(set(split_of.values()), key=_split_order)
    by_label = Counter((sp, str(label_of.get(i))) for i, sp in split_of.items())
    labels = sorted({lab for _, lab in by_label})
    label_rows = []
    for s in splits:
        per = [by_label.get((s, lab), 0) for lab in labels]
        label_rows.append([s, *per, sum(per)])
    body = "<h3>Label mix per split</h3>" + table(["split", *labels, "total"], label_rows)
    if domain_of:
        by_dom = Counter((sp, domain_of.get(i) or "?") for i, sp in split_of.items())
        domains = sorted({d for _, d in by_dom})
        dom_rows = []
        for s in splits:
            per = [by_dom.get((s, d), 0) for d in domains]
            dom_rows.append([s, *per, sum(per)])
        body += "<h3>Domain mix per split</h3>" + table(["split", *domains, "total"], dom_rows)
    return section("splits", "Splits", body)


def _split_order(name: str) -> tuple[int, str]:
    order = ["train", "validation", "test", "test_id", "test_ood"]
    return (order.index(name) if name in order else len(order), name)


def links_section(
    reports: Path, evaluations: Sequence[str | Path] = (), pending: Sequence[str] = ()
) -> str:
    """Links to the other reports of the build (stage reports, audits) and to the reports
    of evaluations (``evaluations``: files or folders, linked by relative path);
    ``pending``: reports (relative to ``reports``) the caller writes after the page, linked
    whether an earlier run left them or not."""
    found = sorted(
        {
            p.relative_to(reports).as_posix()
            for p in reports.rglob("*")
            if p.is_file()
            and p.suffix in {".md", ".html", ".json", ".csv"}
            and p.name != PurePosixPath(REPORT_PAGE).name
            and PurePosixPath(REPORT_PIX).name not in p.relative_to(reports).parts
            and PurePosixPath(REPORT_SCREENSHOTS).name not in p.relative_to(reports).parts
        }
        | set(pending)
    )
    evals = []
    for item in map(Path, evaluations):
        files = sorted(item.rglob("*")) if item.is_dir() else [item]
        evals += [
            os.path.relpath(f, reports).replace(os.sep, "/")
            for f in files
            if f.is_file() and f.suffix in {".md", ".html"}
        ]
    if not found and not evals:
        return section("reports", "Other reports", "<p>None yet.</p>")
    items = "".join(f'<li><a href="{esc(rel)}">{esc(rel)}</a></li>' for rel in found)
    body = f"<ul>{items}</ul>"
    if evals:
        body += (
            "<h3>Evaluations</h3><ul>"
            + "".join(f'<li><a href="{esc(rel)}">{esc(rel)}</a></li>' for rel in evals)
            + "</ul>"
        )
    return section("reports", "Other reports", body)
