"""``mri series``: group instances into series, split mixed ones, recognise each.

1. Group by SeriesInstanceUID (never by SeriesNumber + ProtocolName: that merges series).
2. Split: parts of different orientation or matrix are separated and only the largest part
   is kept (the others: ``split_remainder``); parts of different AcquisitionNumber or
   TemporalPositionIdentifier are separate volumes (dynamic phases) when each covers the same
   slice positions with the same b-values.
3. Recognise each part with the recipe's rules (:mod:`.series_rules`); a ``dynamic`` label is
   resolved into a contrast phase from the seconds between its first acquisition and
   ContrastBolusStartTime, or, when that is absent, from the first post-contrast series
   (assumed ``first_post_contrast_s`` after injection).
4. A sequence seen twice for one subject: the recipe's ``repeat`` rule keeps one, the others
   are ignored as ``repeat_of:<series_id>``.

Writes ``BUILD/series.parquet`` and the ``series`` ledger (each kept file: kept, or excluded
with its series' reason).
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit.atomic import write_parquet_atomic, write_text_atomic
from hepatokit.curation.mri.config import SeriesConfig, mri_config
from hepatokit.curation.mri.dicom.tags import seconds_of_day
from hepatokit.curation.mri.series.rules import SeriesFeatures, decide, rules_for
from hepatokit.errors import BuildStateError
from hepatokit.manifest import Manifest, excluded, kept, provenance, stable_id
from hepatokit.recipe import build_recipe

__all__ = ["SERIES_SCHEMA", "SeriesSummary", "recognise_series"]

log = logging.getLogger("hepatokit.curation.mri.series.stage")

SERIES_SCHEMA = pa.schema(
    [
        ("series_id", pa.string()),
        ("subject_id", pa.string()),
        ("center", pa.string()),
        ("vendor", pa.string()),
        ("scanner", pa.string()),
        ("field_strength", pa.float64()),
        ("series_uid", pa.string()),
        ("part", pa.string()),
        ("series_number", pa.int64()),
        ("series_description", pa.string()),
        ("protocol_name", pa.string()),
        ("image_type", pa.string()),
        ("echo_time", pa.float64()),
        ("repetition_time", pa.float64()),
        ("flip_angle", pa.float64()),
        ("b_values", pa.list_(pa.float64())),
        ("contrast", pa.bool_()),
        ("n_images", pa.int64()),
        ("rows", pa.int64()),
        ("columns", pa.int64()),
        ("seconds_after_injection", pa.float64()),
        ("timing_source", pa.string()),
        ("label", pa.string()),
        ("reason", pa.string()),
        ("evidence", pa.string()),
        ("confidence", pa.float64()),
        ("item_ids", pa.list_(pa.string())),
    ]
)


@dataclass(frozen=True)
class SeriesSummary:
    """Counts of ``recognise_series``: parts, labelled (kept) ones, and by label / reason."""

    series: int
    labelled: int
    by_label: dict[str, int]
    by_reason: dict[str, int]
    series_path: Path


Rows = list[dict[str, Any]]


def _present(values: list[Any]) -> list[Any]:
    return [v for v in values if v is not None and v == v and v != ""]  # drops None / NaN / ""


def _mode(rows: Rows, key: str) -> Any:
    values = _present([r[key] for r in rows])
    return Counter(values).most_common(1)[0][0] if values else None


def _median(rows: Rows, key: str) -> float | None:
    values = _present([r[key] for r in rows])
    return float(np.median(np.asarray(values, dtype=float))) if values else None


def _orientation_key(iop: Any) -> str:
    return "none" if iop is None else ",".join(f"{v:.3f}" for v in iop)


def _by(rows: Rows, key: Any) -> dict[Any, Rows]:
    out: dict[Any, Rows] = {}
    for r in rows:
        out.setdefault(key(r), []).append(r)
    return out


def _split(group: Rows, by: list[str]) -> list[tuple[str, Rows, str | None]]:
    """Parts of one series: ``(part key, rows, exclusion reason or None)``.

    Orientations → independent parts (a 3-plane localizer gives three); within one
    orientation, images of a minority matrix → ``odd_matrix`` (a stray re-acquisition);
    repeated volumes over AcquisitionNumber / TemporalPositionIdentifier → one part each
    (only when every one covers the same slice positions with the same b-values).
    """
    if "orientation" in by:
        groups = _by(group, lambda r: _orientation_key(r["orientation"]))
        if len(groups) > 1:
            out: list[tuple[str, Rows, str | None]] = []
            rest = [b for b in by if b != "orientation"]
            for n, key in enumerate(sorted(groups)):
                for part, rows, reason in _split(groups[key], rest):
                    out.append((f"o{n}" + (f";{part}" if part else ""), rows, reason))
            return out
    parts: list[tuple[str, Rows, str | None]] = []
    if "matrix" in by:
        groups = _by(group, lambda r: f"{r['rows']}x{r['columns']}")
        if len(groups) > 1:
            largest = min(groups, key=lambda k: (-len(groups[k]), k))
            parts = [(f"m={k}", groups[k], "odd_matrix") for k in sorted(groups) if k != largest]
            group = groups[largest]
    for column, name in (("acquisition_number", "acq"), ("temporal_position", "tp")):
        if column not in by:
            continue
        values = [r[column] for r in group]
        if any(v is None or v != v for v in values) or len(set(values)) < 2:
            continue
        sub = _by(group, lambda r, c=column: r[c])

        def signature(rows: Rows) -> tuple[frozenset[tuple[float, ...]], frozenset[float]]:
            pos = frozenset(
                tuple(round(x, 2) for x in r["position"]) for r in rows if r["position"] is not None
            )
            return pos, frozenset(_present([r["b_value"] for r in rows]))

        sigs = {v: signature(rows) for v, rows in sub.items()}
        first = next(iter(sigs.values()))
        if all(len(sig[0]) > 1 and sig == first for sig in sigs.values()):
            return parts + [(f"{name}={v}", sub[v], None) for v in sorted(sub)]
    return [*parts, ("", group, None)]


def _features(rows: Rows) -> SeriesFeatures:
    desc = f"{_mode(rows, 'series_description') or ''} | {_mode(rows, 'protocol_name') or ''}"
    return SeriesFeatures(
        modality=_mode(rows, "modality"),
        description=desc,
        image_type=_mode(rows, "image_type") or "",
        sequence_name=_mode(rows, "sequence_name") or "",
        scanning_sequence=_mode(rows, "scanning_sequence") or "",
        sequence_variant=_mode(rows, "sequence_variant") or "",
        te=_median(rows, "echo_time"),
        tr=_median(rows, "repetition_time"),
        flip=_median(rows, "flip_angle"),
        b_values=tuple(
            sorted({round(float(b), 1) for b in _present([r["b_value"] for r in rows])})
        ),
        contrast=any(str(a).strip() for a in _present([r["contrast_agent"] for r in rows])),
        ti=_median(rows, "inversion_time") if "inversion_time" in rows[0] else None,
    )


def _load(build: Path) -> Rows:
    inst_path = build / "instances.parquet"
    phi_path = build / "private" / "instances_phi.parquet"
    if not inst_path.is_file() or not phi_path.is_file():
        raise BuildStateError(
            "no instances.parquet in the build", path=build, hint="run `hepatokit mri index` first"
        )
    rows = pq.read_table(inst_path).to_pylist()
    phi = pq.read_table(
        phi_path, columns=["item_id", "acquisition_time", "series_time", "contrast_start_time"]
    ).to_pylist()
    times = {p["item_id"]: p for p in phi}
    for r in rows:
        p = times.get(r["item_id"], {})
        t_acq = seconds_of_day(p.get("acquisition_time"))
        r["t_acq"] = t_acq if t_acq is not None else seconds_of_day(p.get("series_time"))
        r["t_bolus"] = seconds_of_day(p.get("contrast_start_time"))
    return rows


def _wrap(dt: float) -> float:
    """Seconds difference across midnight (-12 h..+12 h)."""
    return (dt + 43200.0) % 86400.0 - 43200.0


def recognise_series(
    *, build: str | os.PathLike[str], recipe: str | os.PathLike[str] | None = None
) -> SeriesSummary:
    """Group, split and recognise the series of ``build`` (after ``mri index``).

    Returns
    -------
    SeriesSummary
        Counts; the table is written to ``BUILD/series.parquet``.
    """
    build = Path(build)
    rec = build_recipe(build, None if recipe is None else os.fspath(recipe), default="lifs")
    cfg = mri_config(rec).series
    instances = _load(build)
    rows: list[dict[str, Any]] = []
    groups = _by(instances, lambda r: (r["subject_id"], r["series_uid"] or ""))
    for (sid, uid), group in sorted(groups.items()):
        group.sort(
            key=lambda r: (r["instance_number"] is None, r["instance_number"] or 0, r["path"])
        )
        for part, prow, reason in _split(group, list(cfg.split_by)):
            rows.append(_describe(cfg, str(sid), str(uid), part, prow, reason))
    _resolve_phases(cfg, rows, instances)
    _resolve_repeats(cfg, rows)
    for r in rows:
        r.pop("_t", None)
        r.pop("_post", None)
    table = pa.Table.from_pylist(
        sorted(rows, key=lambda r: (r["subject_id"], r["series_id"])), schema=SERIES_SCHEMA
    )
    path = write_parquet_atomic(build / "series.parquet", table)
    _write_report(build, rows)
    ledger = []
    for r in rows:
        for item in r["item_ids"]:
            if r["label"] is not None:
                ledger.append(kept(item, kind="file", stage="series", detail=r["label"]))
            else:
                ledger.append(
                    excluded(
                        item,
                        kind="file",
                        stage="series",
                        reason=r["reason"],
                        detail=f"series {r['series_id']}: {r['evidence']}"[:500],
                    )
                )
    Manifest(build).record(
        "series", ledger, provenance_info=provenance(stage="mri.series", recipe_sha256=rec.sha256)
    )
    labels = Counter(r["label"] for r in rows if r["label"])
    reasons = Counter((r["reason"] or "").split(":")[0] for r in rows if not r["label"])
    log.info("series: %d parts, %d labelled %s", len(rows), sum(labels.values()), dict(labels))
    return SeriesSummary(len(rows), sum(labels.values()), dict(labels), dict(reasons), path)


def _write_report(build: Path, rows: list[dict[str, Any]]) -> None:
    """``reports/series.csv`` (every decision, least confident first) and ``series.md``."""
    import csv
    import io

    ordered = sorted(
        rows,
        key=lambda r: (r["confidence"] if r["confidence"] is not None else 0.0, r["series_id"]),
    )
    buf = io.StringIO()
    fields = ["series_id", "subject_id", "vendor", "label", "reason", "confidence", "evidence"]
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(ordered)
    write_text_atomic(build / "reports" / "series.csv", buf.getvalue())
    labels = Counter(r["label"] for r in rows if r["label"])
    lines = [
        "# Series recognition",
        "",
        f"- series parts: {len(rows)}; labelled: {sum(labels.values())} "
        + ", ".join(f"{k} {v}" for k, v in sorted(labels.items())),
        "- every decision with its evidence: `reports/series.csv` (least confident first)",
        "",
        "## Least confident decisions",
        "",
        "| series | vendor | label / reason | confidence | evidence |",
        "|---|---|---|---|---|",
    ]
    for r in ordered[:50]:
        what = r["label"] or f"({r['reason']})"
        ev = str(r["evidence"]).replace("|", "/")[:300]
        lines.append(f"| {r['series_id']} | {r['vendor']} | {what} | {r['confidence']} | {ev} |")
    write_text_atomic(build / "reports" / "series.md", "\n".join(lines) + "\n")


def _describe(
    cfg: SeriesConfig, sid: str, uid: str, part: str, rows: Rows, reason: str | None
) -> dict[str, Any]:
    f = _features(rows)
    first = rows[0]
    t_values = _present([r["t_acq"] for r in rows])
    row: dict[str, Any] = {
        "series_id": stable_id("series", uid, part),
        "subject_id": sid,
        "center": first["center"],
        "vendor": first["vendor"],
        "scanner": first["scanner"],
        "field_strength": _median(rows, "field_strength"),
        "series_uid": uid,
        "part": part,
        "series_number": first["series_number"],
        "series_description": _mode(rows, "series_description"),
        "protocol_name": _mode(rows, "protocol_name"),
        "image_type": f.image_type,
        "echo_time": f.te,
        "repetition_time": f.tr,
        "flip_angle": f.flip,
        "b_values": list(f.b_values),
        "contrast": f.contrast,
        "n_images": len(rows),
        "rows": first["rows"],
        "columns": first["columns"],
        "seconds_after_injection": None,
        "timing_source": None,
        "label": None,
        "reason": reason,
        "evidence": "",
        "confidence": None,
        "item_ids": [r["item_id"] for r in rows],
        "_t": float(min(t_values)) if t_values else None,
    }
    if reason is not None:
        row["evidence"] = f"part {part}: images with a minority matrix in a series; split off"
        row["confidence"] = 0.9
        return row
    # a mosaic file (Siemens EPI) or an enhanced multi-frame file holds many slices
    slices = sum(int(r.get("slices") or r.get("frames") or 1) for r in rows)
    if slices < cfg.min_images and (f.modality or "") == "MR":
        row["reason"], row["evidence"] = "too_few_images", f"{slices} image(s)"
        row["confidence"] = 0.9
        return row
    rules = rules_for(cfg, center=row["center"], vendor=row["vendor"], scanner=row["scanner"])
    d = decide(rules, f)
    row["label"], row["reason"], row["evidence"] = d.label, d.ignore, d.evidence
    row["confidence"] = d.confidence
    if slices != len(rows):
        row["evidence"] += f"; {slices} images in {len(rows)} file(s) (multi-frame / mosaic)"
    return row


def _resolve_phases(cfg: SeriesConfig, rows: list[dict[str, Any]], instances: Rows) -> None:
    """Turn ``dynamic`` labels into T1W / GED1–4 using acquisition time after injection."""
    bolus = {
        sid: Counter(_present([r["t_bolus"] for r in group])).most_common(1)[0][0]
        for sid, group in _by(instances, lambda r: r["subject_id"]).items()
        if _present([r["t_bolus"] for r in group])
    }
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["label"] == "dynamic":
            by_subject.setdefault(r["subject_id"], []).append(r)
    for sid, dyn in by_subject.items():
        ref: float | None = None
        source = None
        sure = 1.0
        for r in dyn:  # no agent tag (anonymised): a post-contrast description is evidence
            if not _post(r) and _POST_WORDS.search(_text(r)) and not _PRE_WORDS.search(_text(r)):
                r["_post"] = True
                r["evidence"] += "; description says post-contrast (no ContrastBolusAgent)"
                r["_hinted"] = True
        if sid in bolus:
            ref, source = float(bolus[sid]), "ContrastBolusStartTime"
        else:
            post = sorted(
                (r for r in dyn if _post(r) and r["_t"] is not None), key=lambda r: r["_t"]
            )
            if not post:
                post = _multiphase_post(dyn)
                if post:
                    sure = 0.75
                    for r in post:
                        r["_post"] = True
                        r["evidence"] += (
                            "; no contrast tag: one T1 gradient-echo protocol repeated at "
                            "distinct times (multiphase), the first is the pre-contrast mask"
                        )
            if post:
                ref = post[0]["_t"] - cfg.first_post_contrast_s
                source = f"first post-contrast series (assumed at {cfg.first_post_contrast_s:g} s)"
                sure = min(sure, 0.85)
        for r in dyn:
            r["confidence"] = round(
                (r["confidence"] or 0.9) * sure * (0.8 if r.pop("_hinted", False) else 1.0), 2
            )
            if ref is None or r["_t"] is None:
                if not _post(r):
                    r["label"] = cfg.pre_contrast_dynamic
                    r["evidence"] += "; no contrast agent and no timing → pre-contrast"
                else:
                    r["label"], r["reason"] = None, "phase_unknown"
                    r["evidence"] += "; post-contrast but no acquisition/bolus time"
                continue
            t = _wrap(r["_t"] - ref)
            r["seconds_after_injection"] = round(t, 3)
            r["timing_source"] = source
            if t < 0 or (not _post(r) and source != "ContrastBolusStartTime"):
                r["label"] = cfg.pre_contrast_dynamic
                r["evidence"] += f"; {t:+.1f} s from injection ({source}) → pre-contrast"
                continue
            window = next((w for w in cfg.phases if w.start <= t < w.end), None)
            if window is not None and min(t - window.start, window.end - t) < 5.0:
                r["confidence"] = round(r["confidence"] * 0.8, 2)  # near a window's edge
            if window is None:
                r["label"], r["reason"] = None, "phase_unknown"
                r["evidence"] += f"; {t:+.1f} s from injection ({source}) fits no phase window"
            else:
                r["label"] = window.phase
                r["evidence"] += (
                    f"; {t:+.1f} s from injection ({source}) in [{window.start:g}, "
                    f"{window.end:g}) → {window.phase}"
                )


_POST_WORDS = re.compile(
    r"(?i)(^|[^a-z])(art|arterial|portal|pv|venous|ven|delay|delayed|late|transitional|hbp|"
    r"hepatobiliary|post|postcon|\+c|gd|km)([^a-z]|$)"
)
_PRE_WORDS = re.compile(r"(?i)(^|[^a-z])(pre|precon|nativ|native|mask|plain|non.?con)([^a-z]|$)")
_WATER = re.compile(r"(?i)(^|[^a-z])(w|water)([^a-z]|$)")
_NOT_WATER = re.compile(r"(?i)(^|[^a-z])(f|fat|ip|in|opp|op|out|inphase|outphase)([^a-z]|$)")


def _post(r: dict[str, Any]) -> bool:
    """Post-contrast: ContrastBolusAgent present, or inferred (kept in ``_post``)."""
    return bool(r["contrast"] or r.get("_post"))


def _text(r: dict[str, Any]) -> str:
    return f"{r.get('series_description') or ''} | {r.get('protocol_name') or ''}"


def _multiphase_post(dyn: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without any contrast tag: the series of one T1 gradient-echo protocol (same TE / TR /
    matrix) acquired at three or more distinct times are a dynamic study; all but the first
    (the pre-contrast mask) are post-contrast. Returns those, in time order."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in dyn:
        if r["_t"] is None or _PRE_WORDS.search(_text(r)):
            continue
        key = (
            None if r["echo_time"] is None else round(r["echo_time"], 1),
            None if r["repetition_time"] is None else round(r["repetition_time"], 1),
            r["rows"],
            r["columns"],
        )
        groups.setdefault(key, []).append(r)
    best: list[dict[str, Any]] = []
    for members in groups.values():
        times = sorted({round(m["_t"], 0) for m in members})
        if len(times) >= 3:
            first = times[0]
            post = sorted((m for m in members if round(m["_t"], 0) > first), key=lambda m: m["_t"])
            if len(post) > len(best):
                best = post
    return best


def _water_rank(r: dict[str, Any]) -> int:
    """Dixon: the water image (1) before in/opposed-phase and fat images (0); others 1."""
    text = f"{_text(r)} | {r.get('image_type') or ''}"
    if "WATER" in text.upper() or _WATER.search(text.replace("_", " ")):
        return 1
    if "FAT" in text.upper() or _NOT_WATER.search(text.replace("_", " ")):
        return 0
    return 1


def _resolve_repeats(cfg: SeriesConfig, rows: list[dict[str, Any]]) -> None:
    """One series per subject and label; the others become ``repeat_of:<chosen id>``."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if r["label"] is not None:
            groups.setdefault((r["subject_id"], r["label"]), []).append(r)

    dixon = False

    def order(r: dict[str, Any]) -> tuple[Any, ...]:
        t = r["_t"] if r["_t"] is not None else float("-inf")
        num = r["series_number"] if r["series_number"] is not None else -1
        water = _water_rank(r) if dixon else 1
        if cfg.repeat == "first":
            return (water, -t, -num, r["series_id"])
        if cfg.repeat == "most_images":
            return (water, r["n_images"], t, num, r["series_id"])
        return (water, t, num, r["series_id"])

    for (_, label), group in groups.items():
        if len(group) < 2:
            continue
        # a Dixon set (W / F / in / opp of one acquisition): the water image represents it
        dixon = any("WATER" in str(r.get("image_type") or "").upper() for r in group)
        chosen = max(group, key=order)
        for r in group:
            if r is chosen:
                continue
            r["label"], r["reason"] = None, f"repeat_of:{chosen['series_id']}"
            r["evidence"] += f"; {label} repeated: rule '{cfg.repeat}' keeps {chosen['series_id']}"
