"""Recipe regular expressions: checked when a recipe is validated, matched with a time bound.

A recipe may hold regexes (series rules, scanner models, slide ids); a pattern that backtracks
catastrophically on one value would stop a stage for minutes, so every match goes through
:func:`bounded_search`. :mod:`hepatokit.recipe` re-exports these names.
"""

from __future__ import annotations

import re
import signal
import threading
from typing import Any

from hepatokit.errors import RecipeError

__all__ = ["MATCH_MAX_CHARS", "MATCH_SECONDS", "bounded_search", "check_regex"]

#: the longest one regex of a recipe may take on one value (catastrophic backtracking)
MATCH_SECONDS = 1.0
#: values longer than this are cut before matching (a path, a description: never longer)
MATCH_MAX_CHARS = 4096


def check_regex(pattern: str | None, key: str) -> None:
    """Compile ``pattern`` (a recipe value at ``key``) or raise a ``ValueError`` naming the key
    and the problem; :func:`parse_dataclass` adds the recipe file and the section."""
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise ValueError(
            f"{key}: not a valid regular expression ({exc.msg}{where}): {pattern!r}"
        ) from exc


class _Overtime(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Overtime


def bounded_search(
    pattern: str | re.Pattern[str],
    text: str,
    *,
    key: str,
    seconds: float = MATCH_SECONDS,
    flags: int = 0,
) -> re.Match[str] | None:
    """``re.search`` with a time bound: a recipe regex that backtracks catastrophically on a
    value stops the stage with a :class:`RecipeError` naming ``key``, instead of running for
    minutes. The bound uses ``SIGALRM`` (the regex engine checks signals while matching), so
    it applies in the main thread of a process (stages and pool workers); elsewhere the
    search runs unbounded. ``text`` is cut to :data:`MATCH_MAX_CHARS`.

    Raises
    ------
    RecipeError
        The match took longer than ``seconds``.
    """
    rx = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, flags)
    text = text[:MATCH_MAX_CHARS]
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getitimer(signal.ITIMER_REAL)[0]
    ):
        return rx.search(text)
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return rx.search(text)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Overtime:
        raise RecipeError(
            f"{key}: the regular expression {rx.pattern!r} took more than {seconds:g} s on "
            f"one value of {len(text)} characters (catastrophic backtracking)",
            hint="simplify it: avoid nested repeats such as (a+)+ or (.*)*; anchor it",
        ) from None
    finally:
        signal.signal(signal.SIGALRM, previous)
