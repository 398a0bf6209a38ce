"""Contrast phases and repeats: the decisions taken across a subject's series parts.

A ``dynamic`` label is resolved into a contrast phase from the seconds between the part's
first acquisition and ContrastBolusStartTime, or, when that is absent, from the first
post-contrast series (assumed ``first_post_contrast_s`` after injection). A sequence seen
twice for one subject: the recipe's ``repeat`` rule keeps one, the others are ignored as
``repeat_of:<series_id>``. Pure functions over the part rows of :mod:`.parts` (updated in place).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import Any

from hepatokit.curation.mri.config import PhaseWindow, SeriesConfig
from hepatokit.curation.mri.series.parts import Rows, group_by, present

__all__ = ["multiphase_post", "resolve_phases", "resolve_repeats", "water_rank", "wrap_seconds"]

_POST_WORDS = re.compile(
    r"(?i)(^|[^a-z])(art|arterial|portal|pv|venous|ven|delay|delayed|late|transitional|hbp|"
    r"hepatobiliary|post|postcon|\+c|gd|km)([^a-z]|$)"
)
_PRE_WORDS = re.compile(r"(?i)(^|[^a-z])(pre|precon|nativ|native|mask|plain|non.?con)([^a-z]|$)")
_WATER = re.compile(r"(?i)(^|[^a-z])(w|water)([^a-z]|$)")
_NOT_WATER = re.compile(r"(?i)(^|[^a-z])(f|fat|ip|in|opp|op|out|inphase|outphase)([^a-z]|$)")


def wrap_seconds(dt: float) -> float:
    """Seconds difference across midnight (-12 h..+12 h)."""
    return (dt + 43200.0) % 86400.0 - 43200.0


def _post(r: dict[str, Any]) -> bool:
    """Post-contrast: ContrastBolusAgent present, or inferred (kept in ``_post``)."""
    return bool(r["contrast"] or r.get("_post"))


def _text(r: dict[str, Any]) -> str:
    return f"{r.get('series_description') or ''} | {r.get('protocol_name') or ''}"


def multiphase_post(dyn: Rows) -> Rows:
    """Without any contrast tag: the series of one T1 gradient-echo protocol (same TE / TR /
    matrix) acquired at three or more distinct times are a dynamic study; all but the first
    (the pre-contrast mask) are post-contrast. Returns those, in time order."""
    groups: dict[tuple[Any, ...], Rows] = {}
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
    best: Rows = []
    for members in groups.values():
        times = sorted({round(m["_t"], 0) for m in members})
        if len(times) >= 3:
            first = times[0]
            post = sorted((m for m in members if round(m["_t"], 0) > first), key=lambda m: m["_t"])
            if len(post) > len(best):
                best = post
    return best


def _hint_post(dyn: Rows) -> None:
    """No agent tag (anonymised): a post-contrast description is evidence."""
    for r in dyn:
        if not _post(r) and _POST_WORDS.search(_text(r)) and not _PRE_WORDS.search(_text(r)):
            r["_post"] = True
            r["evidence"] += "; description says post-contrast (no ContrastBolusAgent)"
            r["_hinted"] = True


def _reference(
    cfg: SeriesConfig, dyn: Rows, bolus: float | None
) -> tuple[float | None, str | None, float]:
    """The injection time of a subject's dynamic parts, where it comes from, and how sure."""
    if bolus is not None:
        return float(bolus), "ContrastBolusStartTime", 1.0
    sure = 1.0
    post = sorted((r for r in dyn if _post(r) and r["_t"] is not None), key=lambda r: r["_t"])
    if not post:
        post = multiphase_post(dyn)
        if post:
            sure = 0.75
            for r in post:
                r["_post"] = True
                r["evidence"] += (
                    "; no contrast tag: one T1 gradient-echo protocol repeated at "
                    "distinct times (multiphase), the first is the pre-contrast mask"
                )
    if not post:
        return None, None, sure
    ref = post[0]["_t"] - cfg.first_post_contrast_s
    source = f"first post-contrast series (assumed at {cfg.first_post_contrast_s:g} s)"
    return ref, source, min(sure, 0.85)


def _label_phase(
    cfg: SeriesConfig, r: dict[str, Any], ref: float | None, source: str | None
) -> None:
    """A dynamic part's label from its seconds after injection (or pre-contrast / unknown)."""
    if ref is None or r["_t"] is None:
        if not _post(r):
            r["label"] = cfg.pre_contrast_dynamic
            r["evidence"] += "; no contrast agent and no timing → pre-contrast"
        else:
            r["label"], r["reason"] = None, "phase_unknown"
            r["evidence"] += "; post-contrast but no acquisition/bolus time"
        return
    t = wrap_seconds(r["_t"] - ref)
    r["seconds_after_injection"] = round(t, 3)
    r["timing_source"] = source
    if t < 0 or (not _post(r) and source != "ContrastBolusStartTime"):
        r["label"] = cfg.pre_contrast_dynamic
        r["evidence"] += f"; {t:+.1f} s from injection ({source}) → pre-contrast"
        return
    window: PhaseWindow | None = next((w for w in cfg.phases if w.start <= t < w.end), None)
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


def resolve_phases(cfg: SeriesConfig, rows: Rows, instances: Rows) -> None:
    """Turn ``dynamic`` labels into T1W / GED1–4 using acquisition time after injection."""
    bolus = {
        sid: Counter(present([r["t_bolus"] for r in group])).most_common(1)[0][0]
        for sid, group in group_by(instances, lambda r: r["subject_id"]).items()
        if present([r["t_bolus"] for r in group])
    }
    by_subject: dict[str, Rows] = {}
    for r in rows:
        if r["label"] == "dynamic":
            by_subject.setdefault(r["subject_id"], []).append(r)
    for sid, dyn in by_subject.items():
        _hint_post(dyn)
        ref, source, sure = _reference(cfg, dyn, bolus.get(sid))
        for r in dyn:
            r["confidence"] = round(
                (r["confidence"] or 0.9) * sure * (0.8 if r.pop("_hinted", False) else 1.0), 2
            )
            _label_phase(cfg, r, ref, source)


def water_rank(r: dict[str, Any]) -> int:
    """Dixon: the water image (1) before in/opposed-phase and fat images (0); others 1."""
    text = f"{_text(r)} | {r.get('image_type') or ''}"
    if "WATER" in text.upper() or _WATER.search(text.replace("_", " ")):
        return 1
    if "FAT" in text.upper() or _NOT_WATER.search(text.replace("_", " ")):
        return 0
    return 1


def _repeat_order(cfg: SeriesConfig, r: dict[str, Any], dixon: bool) -> tuple[Any, ...]:
    """The sort key whose maximum the ``repeat`` rule keeps (a Dixon set: water first)."""
    t = r["_t"] if r["_t"] is not None else float("-inf")
    num = r["series_number"] if r["series_number"] is not None else -1
    water = water_rank(r) if dixon else 1
    if cfg.repeat == "first":
        return (water, -t, -num, r["series_id"])
    if cfg.repeat == "most_images":
        return (water, r["n_images"], t, num, r["series_id"])
    return (water, t, num, r["series_id"])


def resolve_repeats(cfg: SeriesConfig, rows: Rows) -> None:
    """One series per subject and label; the others become ``repeat_of:<chosen id>``."""
    groups: dict[tuple[str, str], Rows] = {}
    for r in rows:
        if r["label"] is not None:
            groups.setdefault((r["subject_id"], r["label"]), []).append(r)
    for (_, label), group in groups.items():
        if len(group) < 2:
            continue
        # a Dixon set (W / F / in / opp of one acquisition): the water image represents it
        dixon = any("WATER" in str(r.get("image_type") or "").upper() for r in group)
        chosen = max(group, key=functools.partial(_repeat_order, cfg, dixon=dixon))
        for r in group:
            if r is chosen:
                continue
            r["label"], r["reason"] = None, f"repeat_of:{chosen['series_id']}"
            r["evidence"] += f"; {label} repeated: rule '{cfg.repeat}' keeps {chosen['series_id']}"
