"""Recognition rules: match a series' features against the recipe's ordered rules.

A series is summarised into :class:`SeriesFeatures` (text of SeriesDescription + ProtocolName,
ImageType, sequence tags, median TE/TR/flip, its b-values, contrast agent presence). The rules
of the overrides that apply to its scanner, then vendor, then center come first, then the
general rules; the first rule whose every condition holds decides (a sequence label, or an
ignore reason). Nothing matched → ignored as ``other``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from hepatokit.curation.mri.config import Rule, SeriesConfig
from hepatokit.recipe import bounded_search

__all__ = ["Decision", "SeriesFeatures", "decide", "rules_for"]


@dataclass(frozen=True)
class SeriesFeatures:
    """What the rules look at (values are medians / the most common value of the series)."""

    modality: str | None
    description: str  # "SeriesDescription | ProtocolName"
    image_type: str
    sequence_name: str
    scanning_sequence: str
    sequence_variant: str
    te: float | None
    tr: float | None
    flip: float | None
    b_values: tuple[float, ...]
    contrast: bool
    ti: float | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome of matching: a label or an ignore reason, why, and how sure.

    ``confidence`` (0–1) reflects the kind of evidence: standard physics tags (TE / TR / TI,
    b-values, ImageType) count more than a description keyword; an optional condition whose
    value was absent lowers it; no rule at all is least sure.
    """

    label: str | None
    ignore: str | None
    evidence: str
    confidence: float = 0.5


@lru_cache(maxsize=512)
def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _in_range(value: float | None, bounds: Sequence[float | None] | None) -> bool:
    if bounds is None:
        return True
    if value is None:
        return False
    lo = bounds[0] if len(bounds) > 0 else None
    hi = bounds[1] if len(bounds) > 1 else None
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _why(rule: Rule, f: SeriesFeatures) -> list[str] | None:
    """The conditions of ``rule`` that hold, as evidence text; None if one fails."""
    ev: list[str] = []
    text_checks = (
        ("modality", rule.modality, f.modality or "", True),
        ("description", rule.description, f.description, True),
        ("description", rule.not_description, f.description, False),
        ("image_type", rule.image_type, f.image_type, True),
        ("image_type", rule.not_image_type, f.image_type, False),
        ("sequence_name", rule.sequence_name, f.sequence_name, True),
        ("scanning_sequence", rule.scanning_sequence, f.scanning_sequence, True),
        ("sequence_variant", rule.sequence_variant, f.sequence_variant, True),
    )
    for name, pattern, value, want in text_checks:
        if pattern is None:
            continue
        found = bounded_search(_rx(pattern), value, key=f"series rule {name}") is not None
        if found != want:
            return None
        ev.append(f"{name}{'~' if want else '!~'}/{pattern}/ ({value!r})")
    optional = set(rule.optional)
    for name, key, bounds, number in (
        ("TE", "te", rule.te, f.te),
        ("TR", "tr", rule.tr, f.tr),
        ("flip", "flip", rule.flip, f.flip),
        ("TI", "ti", rule.ti, f.ti),
        ("b_max", "b", rule.b_value_max, max(f.b_values) if f.b_values else None),
    ):
        if bounds is None:
            continue
        if number is None and key in optional:
            ev.append(f"{name} absent (optional)")
            continue
        if not _in_range(number, bounds):
            return None
        ev.append(f"{name}={number:g} in {list(bounds)}")
    if rule.b_values_min_count is not None:
        if len(f.b_values) < rule.b_values_min_count:
            return None
        ev.append(f"{len(f.b_values)} b-values")
    if rule.contrast is not None:
        if f.contrast != rule.contrast:
            return None
        ev.append("contrast agent present" if f.contrast else "no contrast agent")
    return ev


def rules_for(
    config: SeriesConfig, *, center: str | None, vendor: str | None, scanner: str | None
) -> list[tuple[str, Rule]]:
    """The ordered rules for one series' site.

    An override applies when every selector it gives (center / vendor / scanner) equals the
    series' pseudonym; scanner overrides come first, then vendor, then center ones (recipe
    order within each), then the general rules.
    """
    site = {"center": center, "vendor": vendor, "scanner": scanner}

    def rank(ov: object) -> int:
        if getattr(ov, "scanner", None) is not None:
            return 0
        return 1 if getattr(ov, "vendor", None) is not None else 2

    applicable = [
        (k, ov)
        for k, ov in enumerate(config.overrides)
        if all(getattr(ov, s) is None or getattr(ov, s) == v for s, v in site.items())
    ]
    out: list[tuple[str, Rule]] = []
    for k, ov in sorted(applicable, key=lambda kv: (rank(kv[1]), kv[0])):
        out.extend((f"overrides[{k}].rules[{i}]", r) for i, r in enumerate(ov.rules))
    out.extend((f"rules[{i}]", r) for i, r in enumerate(config.rules))
    return out


def decide(rules: Sequence[tuple[str, Rule]], features: SeriesFeatures) -> Decision:
    """First matching rule → a label or an ignore reason (``other`` when none matches)."""
    for where, rule in rules:
        ev = _why(rule, features)
        if ev is None:
            continue
        what = f"label={rule.label}" if rule.label else f"ignore={rule.ignore}"
        return Decision(
            rule.label, rule.ignore, f"{where} {what}: " + "; ".join(ev), _confidence(ev)
        )
    return Decision(None, "other", "no rule matched", 0.5)


_PHYSICS = ("TE=", "TR=", "TI=", "b_max=", "b-values", "image_type~", "modality~")


def _confidence(evidence: list[str]) -> float:
    """Physics / standard-tag evidence → 0.95; a description keyword alone → 0.6; each
    absent optional value costs 0.05."""
    physics = sum(any(e.startswith(p) for p in _PHYSICS) for e in evidence)
    score = 0.95 if physics else 0.6
    if physics and any(e.startswith(("description~", "sequence_name~")) for e in evidence):
        score = 0.95
    score -= 0.05 * sum(e.endswith("absent (optional)") for e in evidence)
    return round(max(score, 0.1), 2)
