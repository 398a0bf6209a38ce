"""Unicode normalisation and whole-token matching of the identifier audit.

Text and values are NFKC-normalised and case-folded, and compared both with and without
diacritics; text is split into tokens and a value matches where its tokens occur in a row
(rules in :mod:`hepatokit.identifier_audit`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["CJK_CHAR", "by_first", "match_tokens", "normalise", "tokens_of", "value_forms"]

_CJK = "\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|\d+(?:\.\d+)+|[^\W_{_CJK}]+")
#: one CJK / kana / hangul character (a token of its own, counted two towards a value's length)
CJK_CHAR = re.compile(rf"[{_CJK}]")


def normalise(text: str) -> tuple[str, str]:
    """``text`` NFKC-normalised and case-folded, and the same without diacritics."""
    if text.isascii():
        low = text.lower()
        return low, low
    folded = unicodedata.normalize("NFKC", text).casefold()
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c)
    )
    return folded, unicodedata.normalize("NFKC", stripped)


def tokens_of(text: str) -> list[str]:
    """The tokens of already-normalised text (see :mod:`hepatokit.identifier_audit`)."""
    return _TOKEN.findall(text)


def value_forms(value: str) -> set[tuple[str, ...]]:
    """The token sequences of a value (with and without diacritics)."""
    return {tuple(tokens_of(form)) for form in normalise(value)} - {()}


def by_first(needles: Iterable[tuple[str, ...]]) -> dict[str, list[tuple[str, ...]]]:
    """The needles (token tuples) indexed by their first token."""
    firsts: dict[str, list[tuple[str, ...]]] = {}
    for n in needles:
        firsts.setdefault(n[0], []).append(n)
    return firsts


def match_tokens(
    tokens: Sequence[str],
    needles: Iterable[tuple[str, ...]],
    *,
    firsts: Mapping[str, list[tuple[str, ...]]] | None = None,
) -> list[tuple[str, ...]]:
    """The needles (token tuples) that occur as consecutive tokens in ``tokens``
    (``firsts``: the needles indexed by first token, to reuse over many texts)."""
    if firsts is None:
        firsts = by_first(needles)
    common = set(tokens) & firsts.keys()
    if not common:
        return []
    found: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()
    for i, tok in enumerate(tokens):
        if tok not in common:
            continue
        for n in firsts[tok]:
            if n not in seen and tuple(tokens[i : i + len(n)]) == n:
                seen.add(n)
                found.append(n)
    return found
