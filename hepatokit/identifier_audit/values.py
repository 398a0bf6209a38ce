"""The values the identifier audit looks for: which are skipped (and why), and the rest as
token sequences ("needles") with their origin."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from hepatokit.identifier_audit.normalise import (
    CJK_CHAR,
    by_first,
    match_tokens,
    normalise,
    tokens_of,
    value_forms,
)

__all__ = [
    "MIN_DIGITS",
    "MIN_LENGTH",
    "MIN_LENGTH_PRIVATE",
    "Needles",
    "SkippedValue",
    "mask",
    "prepare_needles",
    "skip_reason",
]

#: default minimum length of a value (characters; a CJK character counts two)
MIN_LENGTH = 4
#: minimum length of a value from an unnamed private element (vendor codes such as ``L7.5``)
MIN_LENGTH_PRIVATE = 6
#: numeric values (digits and separators only) need this many digits (dates have 8)
MIN_DIGITS = 6
#: how many examples of each skip reason the report lists
_EXAMPLES = 20

#: token sequence → ``"<origin>\x1f<value>"`` (the first value that gives the sequence)
Needles = dict[tuple[str, ...], str]


@dataclass(frozen=True)
class SkippedValue:
    """A value the audit does not look for, and why (``value`` masked)."""

    tag: str
    value: str
    reason: str


def mask(value: str) -> str:
    """``value`` shortened to its ends (``"Mül…ohn"``) so that a report leaks nothing."""
    value = value.strip()
    if len(value) <= 4:
        return "…"
    if len(value) <= 6:
        return value[0] + "…" + value[-1]
    return value[:3] + "…" + value[-3:]


@lru_cache(maxsize=1)
def _dictionary_words() -> frozenset[str]:
    """Lower-case words of pydicom's data-dictionary keywords (DICOM's own vocabulary)."""
    from pydicom.datadict import DicomDictionary

    words: set[str] = set()
    for entry in DicomDictionary.values():
        keyword = entry[4]
        words.update(w.lower() for w in re.findall(r"[A-Z][a-z]{2,}", keyword))
    return frozenset(words)


def skip_reason(
    forms: set[tuple[str, ...]],
    tag: str,
    min_length: int,
    min_length_private: int,
    ignored: frozenset[str],
) -> str | None:
    """Why a value with token sequences ``forms`` (from :func:`value_forms`) is not looked
    for, or None when it is."""
    if not forms:
        return "no_letter_or_digit"
    tokens = max(forms, key=len)
    length = sum(2 if CJK_CHAR.fullmatch(t) else len(t) for t in tokens)
    if all(t.replace(".", "").isdigit() for t in tokens):
        digits = sum(len(t.replace(".", "")) for t in tokens)
        return None if digits >= MIN_DIGITS else "numeric_short"
    limit = min_length_private if tag.startswith("(") else min_length
    if length < limit:
        return "too_short"
    if len(tokens) == 1:
        if tokens[0] in ignored:
            return "recipe_or_schema_word"
        if tokens[0] in _dictionary_words():
            return "dictionary_word"
    return None


def _in_public_text(
    identifiers: Mapping[str, str], public_text: Iterable[str], free_text: frozenset[str]
) -> set[str]:
    """The values of private elements and of the ``free_text`` origins whose tokens occur in
    a row inside one of ``public_text`` (technical header text published by design)."""
    weak: dict[tuple[str, ...], list[str]] = {}
    for value, tag in identifiers.items():
        if tag.startswith("(") or tag in free_text:
            for seq in value_forms(value):
                weak.setdefault(seq, []).append(value)
    if not weak:
        return set()
    firsts = by_first(weak)
    out: set[str] = set()
    for text in public_text:
        for form in set(normalise(text)):
            for seq in match_tokens(tokens_of(form), weak, firsts=firsts):
                out.update(weak[seq])
    return out


def prepare_needles(
    identifiers: Mapping[str, str],
    *,
    min_length: int,
    min_length_private: int,
    ignore_text: Iterable[str],
    public_text: Iterable[str] = (),
    free_text_origins: Iterable[str] = (),
) -> tuple[Needles, Counter[str], list[SkippedValue]]:
    """The needles of ``identifiers`` (value → origin), the skipped values counted per reason
    and a few masked examples of each reason.

    A value of a private element (origin ``(gggg,eeee)``) or of a ``free_text_origins``
    origin whose tokens occur in a row inside one of ``public_text`` (the technical header
    text published by design: series descriptions, image types, sequence names...) is
    skipped as ``in_public_header_text``: a vendor's private copy of the image type or the
    sequence name identifies no one. Names, IDs, dates and the other origins are never
    skipped that way."""
    ignored: set[str] = set()
    for text in ignore_text:
        for form in normalise(text):
            ignored.update(tokens_of(form))
    frozen = frozenset(ignored)
    public = _in_public_text(identifiers, public_text, frozenset(free_text_origins))
    needles: Needles = {}
    skipped: Counter[str] = Counter()
    examples: list[SkippedValue] = []
    per_reason: Counter[str] = Counter()
    for value, tag in sorted(identifiers.items()):
        forms = value_forms(value)
        reason = skip_reason(forms, tag, min_length, min_length_private, frozen)
        if reason is None and value in public:
            reason = "in_public_header_text"
        if reason is not None:
            skipped[reason] += 1
            if per_reason[reason] < _EXAMPLES:
                per_reason[reason] += 1
                examples.append(SkippedValue(tag, mask(value), reason))
            continue
        for seq in forms:
            needles.setdefault(seq, f"{tag}\x1f{value}")
    return needles, skipped, examples
