"""LiFS sections of the report: mid-slice strips, missing-modality matrix, series
recognition, volume QC flags, registration overlays. Subjects appear by pseudonym only."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from hepatokit.contracts import read_table
from hepatokit.contracts.lifs import REGISTRATION, REGISTRATION_REPORTS, SERIES, SUBJECTS, VOLUME_QC
from hepatokit.report.html import esc, figure, section, table
from hepatokit.report.thumbs import ThumbCache, mid_slices

__all__ = ["lifs_sections"]

#: series decisions listed (lowest confidence first)
SERIES_LISTED = 200


def _read(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist() if path.is_file() else []


def _checked(build: Path, name: str, columns: list[str]) -> list[dict[str, Any]]:
    """The ``columns`` of table ``name`` (checked against its contract); empty if absent."""
    return read_table(build, name, columns=columns).to_pylist() if (build / name).is_file() else []


def _volume_key(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _strips(build: Path, subjects: list[dict[str, Any]], seqs: list[str], thumbs: ThumbCache,
            split_of: dict[str, str]) -> str:  # fmt: skip
    cache: dict[str, dict[str, bytes]] = {}
    blocks = []
    for subj in subjects:
        sid = subj["subject_id"]
        figs = []
        for seq in seqs:
            rel = subj.get(f"volume_{seq}")
            vol = build / rel if rel else None
            if vol is None or not vol.is_file():
                figs.append(figure(None, f"{esc(seq)}<br>missing", alt=f"{seq} missing"))
                continue
            key = _volume_key(vol)
            views = ["axial", "coronal"]
            for view in views:

                def make(view: str = view, vol: Path = vol, key: str = key) -> bytes | None:
                    if key not in cache:
                        cache.clear()  # one volume at a time
                        cache[key] = mid_slices(vol)
                    return cache[key].get(view)

                src = thumbs.get(f"nifti:{key}:{view}:v1", make)
                if src is not None:
                    figs.append(figure(src, f"{esc(seq)}<br>{view}", alt=f"{seq} {view}"))
        meta = " · ".join(
            esc(v)
            for v in (
                subj.get("vendor"),
                subj.get("center"),
                subj.get("scanner"),
                f"stage {subj.get('stage') or '?'}",
                split_of.get(sid, "no split"),
            )
        )
        blocks.append(
            f'<div class="strip" id="sub-{esc(sid)}"><h3>sub-{esc(sid)} '
            f'<span class="meta">{meta}</span></h3><div class="row">{"".join(figs)}</div></div>'
        )
    intro = (
        "Mid-slices of every curated volume in RAS (axial; coronal when the volume has more than "
        "one slice), windowed 1–99 %. Radiological view: the patient's right on the left."
    )
    return section("volumes", "Volumes per subject", "".join(blocks), intro=intro)


def _missing_matrix(subjects: list[dict[str, Any]], seqs: list[str]) -> str:
    rows = []
    ordered = sorted(subjects, key=lambda s: (str(s.get("vendor")), s["subject_id"]))
    for subj in ordered:
        cells = "".join(
            '<td class="present" title="present">■</td>'
            if subj.get(f"volume_{seq}")
            else '<td class="absent" title="missing">✕</td>'
            for seq in seqs
        )
        rows.append(
            f'<tr><th><a href="#sub-{esc(subj["subject_id"])}">sub-{esc(subj["subject_id"])}</a>'
            f"</th><td>{esc(subj.get('vendor'))}</td>{cells}</tr>"
        )
    totals = "".join(
        f"<td>{sum(1 for s in subjects if not s.get(f'volume_{seq}'))}</td>" for seq in seqs
    )
    head = "".join(f"<th>{esc(s)}</th>" for s in seqs)
    body = (
        '<p class="legend"><span class="present">■</span> sequence present '
        '<span class="absent">✕</span> missing (not acquired, not recognised or excluded by QC)'
        "</p>"
        f'<table class="matrix"><thead><tr><th>subject</th><th>vendor</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody><tfoot><tr><th>missing</th><td></td>{totals}</tr>"
        "</tfoot></table>"
    )
    return section("missing", "Missing modalities", body)


def _confidence(row: dict[str, Any]) -> float:
    """The decision's confidence: the series table's own (``mri series``), else how much
    evidence it rests on: the conditions that held (``;``-separated in the evidence), one
    less when the contrast timing was assumed, none without a rule."""
    if row.get("confidence") is not None:
        return float(row["confidence"])
    evidence = str(row.get("evidence") or "")
    if not re.match(r"rules\[\d+\]", evidence):
        return 0
    score = evidence.count(";") + 1.0
    if "assumed" in str(row.get("timing_source") or ""):
        score -= 1
    return score


def _series(build: Path) -> str:
    rows = _read(build / SERIES)
    if not rows:
        return section("series", "Series recognition", "<p>No <code>series.parquet</code>.</p>")
    rows.sort(key=lambda r: (_confidence(r), str(r.get("subject_id")), str(r.get("series_id"))))
    shown = rows[:SERIES_LISTED]
    body = table(
        ["confidence", "subject", "series", "decision", "evidence", "timing"],
        [
            [
                _confidence(r),
                f"sub-{r.get('subject_id')}",
                r.get("series_id"),
                r.get("label") or f"ignored: {r.get('reason')}",
                r.get("evidence"),
                r.get("timing_source"),
            ]
            for r in shown
        ],
        cls="series",
    )
    more = len(rows) - len(shown)
    note = f"<p>… and {more} more with more evidence.</p>" if more else ""
    intro = (
        "Every series decision with the rule and tag values it rests on; the lowest confidence "
        "(a description keyword alone, assumed contrast timing, no rule) first."
    )
    return section("series", "Series recognition", body + note, intro=intro)


def _volume_qc(build: Path) -> str:
    cols = ["subject_id", "sequence", "qc_reason", "flags", "coverage_mm", "slice_gap_ratio"]
    rows = [r for r in _checked(build, VOLUME_QC, cols) if r.get("flags") or r.get("qc_reason")]
    if not rows:
        body = "<p>No volume was flagged.</p>"
    else:
        body = table(
            ["subject", "sequence", "excluded", "flags", "coverage (mm)", "slice gap ratio"],
            [
                [
                    f"sub-{r.get('subject_id')}",
                    r.get("sequence"),
                    r.get("qc_reason") or "",
                    ", ".join(r.get("flags") or []),
                    r.get("coverage_mm"),
                    r.get("slice_gap_ratio"),
                ]
                for r in sorted(rows, key=lambda r: (r.get("qc_reason") is None, r["subject_id"]))
            ],
        )
    return section("volume-qc", "Volume QC flags", body)


def _registration(build: Path, reports: Path) -> str:
    pngs = sorted((build / REGISTRATION_REPORTS).glob("sub-*.png"))
    if not pngs:
        return ""
    cols = ["subject_id", "sequence", "status", "reason"]
    flagged = [r for r in _checked(build, REGISTRATION, cols) if r.get("status") == "flagged"]
    figs = "".join(
        figure(p.relative_to(reports).as_posix(), esc(p.stem), alt=p.stem, cls="overlay")
        for p in pngs
    )
    note = (
        table(
            ["subject", "sequence", "why flagged"],
            [[f"sub-{r.get('subject_id')}", r.get("sequence"), r.get("reason")] for r in flagged],
        )
        if flagged
        else "<p>No registration was flagged.</p>"
    )
    return section("registration", "Registration overlays", note + figs)


def lifs_sections(
    build: Path, reports: Path, thumbs: ThumbCache, sequences: list[str], split_of: dict[str, str]
) -> list[tuple[str, str, str]]:
    """``(id, title, html)`` of every LiFS section."""
    subjects = sorted(
        _read(build / SUBJECTS),
        key=lambda s: (split_of.get(s["subject_id"], "~"), s["subject_id"]),
    )
    out = [
        ("volumes", "Volumes", _strips(build, subjects, sequences, thumbs, split_of)),
        ("missing", "Missing modalities", _missing_matrix(subjects, sequences)),
        ("series", "Series recognition", _series(build)),
        ("volume-qc", "Volume QC", _volume_qc(build)),
    ]
    reg = _registration(build, reports)
    if reg:
        out.append(("registration", "Registration", reg))
    return out
