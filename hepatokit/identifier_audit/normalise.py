"""Unicode normalisation and whole-token matching of the identifier audit.

Text and values are NFKC-normalised and case-folded, and compared both with and without
diacritics; text is split into tokens and a value matches where its tokens occur in a row
(rules in :mod:`hepatokit.identifier_audit`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "CJK_CHAR",
    "Firsts",
    "by_first",
    "match_tokens",
    "normalise",
    "tokens_of",
    "value_forms",
]

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


#: first token → needle length → needle → its rank in the order the needles were given
Firsts = Mapping[str, Mapping[int, Mapping[tuple[str, ...], int]]]


def by_first(
    needles: Iterable[tuple[str, ...]],
) -> dict[str, dict[int, dict[tuple[str, ...], int]]]:
    """The needles (token tuples) indexed by their first token, then by their length.

    Each token where a needle may start is checked against one set per needle length, not
    against every needle sharing its first token: a histology build's needles are its patch
    file stems, and every one of a synthetic build's starts with ``slide``
    (``slide-003_0a1b2c3d4e``); scanning that list at every ``slide`` token cost 7.4 s CPU
    of a 3k build's audit (32 M comparisons; it grows with the square of the build's size).
    """
    firsts: dict[str, dict[int, dict[tuple[str, ...], int]]] = {}
    for rank, n in enumerate(needles):
        firsts.setdefault(n[0], {}).setdefault(len(n), {}).setdefault(n, rank)
    return firsts


def match_tokens(
    tokens: Sequence[str],
    needles: Iterable[tuple[str, ...]],
    *,
    firsts: Firsts | None = None,
) -> list[tuple[str, ...]]:
    """The needles (token tuples) that occur as consecutive tokens in ``tokens``, in the
    order of their first occurrence (at one position: in the needles' order); ``firsts``:
    the needles indexed by :func:`by_first`, to reuse over many texts."""
    if firsts is None:
        firsts = by_first(needles)
    common = set(tokens) & firsts.keys()
    if not common:
        return []
    found: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()
    for i in [i for i, tok in enumerate(tokens) if tok in common]:
        here: list[tuple[int, tuple[str, ...]]] = []
        for length, group in firsts[tokens[i]].items():
            seq = tuple(tokens[i : i + length])
            rank = group.get(seq)
            if rank is not None and seq not in seen:
                here.append((rank, seq))
        here.sort()
        for _, seq in here:
            seen.add(seq)
            found.append(seq)
    return found
