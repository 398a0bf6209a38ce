"""Series parts: group instances by SeriesInstanceUID, split mixed series, recognise each part.

Pure functions over instance rows (dicts of ``instances.parquet`` columns plus ``t_acq`` /
``t_bolus``, seconds of the day): no file is read. Never grouped by SeriesNumber +
ProtocolName (that merges series). Parts of different orientation are independent; images
of a minority matrix are split off as ``odd_matrix``; repeated volumes over
AcquisitionNumber / TemporalPositionIdentifier are one part each when every one covers the
same slice positions with the same b-values (dynamic phases).
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from hepatokit.curation.mri.config import SeriesConfig
from hepatokit.curation.mri.series.rules import SeriesFeatures, decide, rules_for
from hepatokit.manifest import stable_id

__all__ = [
    "Rows",
    "describe_part",
    "describe_parts",
    "group_by",
    "present",
    "series_features",
    "split_series",
]

Rows = list[dict[str, Any]]
Part = tuple[str, Rows, str | None]


def present(values: list[Any]) -> list[Any]:
    """``values`` without None, NaN and empty strings."""
    return [v for v in values if v is not None and v == v and v != ""]


def _mode(rows: Rows, key: str) -> Any:
    values = present([r[key] for r in rows])
    return Counter(values).most_common(1)[0][0] if values else None


def _median(rows: Rows, key: str) -> float | None:
    """The median of a column's present values (``np.median``). A column with one value
    on every row (TE / TR / flip of a series: most calls) gives that value without numpy
    (~10 µs a call): the same float, as the mean of two equal finite non-zero values
    is that value (zeros, whose sign the mean may change, and huge values go to numpy)."""
    values = present([r[key] for r in rows])
    if not values:
        return None
    first = values[0]
    if type(first) is float and first and abs(first) < 1e300 and values.count(first) == len(values):
        return first
    return float(np.median(np.asarray(values, dtype=float)))


def _orientation_key(iop: Any) -> str:
    return "none" if iop is None else ",".join(f"{v:.3f}" for v in iop)


def group_by(rows: Rows, key: Callable[[dict[str, Any]], Any]) -> dict[Any, Rows]:
    """``rows`` grouped by ``key(row)``, groups and rows in first-seen order."""
    out: dict[Any, Rows] = {}
    for r in rows:
        out.setdefault(key(r), []).append(r)
    return out


def _signature(rows: Rows) -> tuple[frozenset[tuple[float, ...]], frozenset[float]]:
    """The slice positions and b-values a volume covers."""
    pos = frozenset(
        tuple(round(x, 2) for x in r["position"]) for r in rows if r["position"] is not None
    )
    return pos, frozenset(present([r["b_value"] for r in rows]))


def _volumes(group: Rows, by: list[str]) -> list[Part] | None:
    """One part per AcquisitionNumber / TemporalPositionIdentifier, when each value's images
    cover the same (several) slice positions with the same b-values; else None."""
    for column, name in (("acquisition_number", "acq"), ("temporal_position", "tp")):
        if column not in by:
            continue
        values = [r[column] for r in group]
        if any(v is None or v != v for v in values) or len(set(values)) < 2:
            continue
        sub = group_by(group, operator.itemgetter(column))
        sigs = {v: _signature(rows) for v, rows in sub.items()}
        first = next(iter(sigs.values()))
        if all(len(sig[0]) > 1 and sig == first for sig in sigs.values()):
            return [(f"{name}={v}", sub[v], None) for v in sorted(sub)]
    return None


def split_series(group: Rows, by: list[str]) -> list[Part]:
    """Parts of one series: ``(part key, rows, exclusion reason or None)``.

    Orientations → independent parts (a 3-plane localizer gives three); within one
    orientation, images of a minority matrix → ``odd_matrix`` (a stray re-acquisition);
    repeated volumes over AcquisitionNumber / TemporalPositionIdentifier → one part each
    (only when every one covers the same slice positions with the same b-values).
    """
    if "orientation" in by:
        groups = group_by(group, lambda r: _orientation_key(r["orientation"]))
        if len(groups) > 1:
            out: list[Part] = []
            rest = [b for b in by if b != "orientation"]
            for n, key in enumerate(sorted(groups)):
                for part, rows, reason in split_series(groups[key], rest):
                    out.append((f"o{n}" + (f";{part}" if part else ""), rows, reason))
            return out
    parts: list[Part] = []
    if "matrix" in by:
        groups = group_by(group, lambda r: f"{r['rows']}x{r['columns']}")
        if len(groups) > 1:
            largest = min(groups, key=lambda k: (-len(groups[k]), k))
            parts = [(f"m={k}", groups[k], "odd_matrix") for k in sorted(groups) if k != largest]
            group = groups[largest]
    volumes = _volumes(group, by)
    if volumes is not None:
        return parts + volumes
    return [*parts, ("", group, None)]


def series_features(rows: Rows) -> SeriesFeatures:
    """What the recognition rules look at, summarised over a part's images."""
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
        b_values=tuple(sorted({round(float(b), 1) for b in present([r["b_value"] for r in rows])})),
        contrast=any(str(a).strip() for a in present([r["contrast_agent"] for r in rows])),
        ti=_median(rows, "inversion_time") if "inversion_time" in rows[0] else None,
    )


def _part_row(sid: str, uid: str, part: str, rows: Rows, f: SeriesFeatures) -> dict[str, Any]:
    """The ``series.parquet`` row of a part before recognition (``_t``: its first time)."""
    first = rows[0]
    t_values = present([r["t_acq"] for r in rows])
    return {
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
        "reason": None,
        "evidence": "",
        "confidence": None,
        "item_ids": [r["item_id"] for r in rows],
        "_t": float(min(t_values)) if t_values else None,
    }


def describe_part(
    cfg: SeriesConfig, sid: str, uid: str, part: str, rows: Rows, reason: str | None
) -> dict[str, Any]:
    """A part's row with its decision: split off (``reason``), ``too_few_images``, or the
    label / ignore reason of the first matching rule (``dynamic`` still unresolved)."""
    f = series_features(rows)
    row = _part_row(sid, uid, part, rows, f)
    row["reason"] = reason
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


def describe_parts(cfg: SeriesConfig, instances: Rows) -> Rows:
    """Every part of every series (by subject and SeriesInstanceUID, sorted), described."""
    rows: Rows = []
    groups = group_by(instances, lambda r: (r["subject_id"], r["series_uid"] or ""))
    for (sid, uid), group in sorted(groups.items()):
        group.sort(
            key=lambda r: (r["instance_number"] is None, r["instance_number"] or 0, r["path"])
        )
        for part, prow, reason in split_series(group, list(cfg.split_by)):
            rows.append(describe_part(cfg, str(sid), str(uid), part, prow, reason))
    return rows
