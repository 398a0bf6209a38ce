"""Small HTML helpers of the report page (escaped text, tables, figures)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["anchor", "esc", "figure", "section", "table"]


def esc(value: Any) -> str:
    """``value`` as escaped HTML text (``None`` → empty)."""
    return "" if value is None else html.escape(str(value), quote=True)


def anchor(*parts: Any) -> str:
    """An element id made of ``parts`` (letters, digits, ``-``)."""
    return "-".join(re.sub(r"[^A-Za-z0-9]+", "_", str(p)).strip("_") or "x" for p in parts)


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    cls: str = "",
    raw: bool = False,
) -> str:
    """An HTML table; cells are escaped unless ``raw`` (then they are HTML already)."""
    cell = (lambda v: "" if v is None else str(v)) if raw else esc
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def figure(src: str | None, caption: str, *, alt: str, cls: str = "thumb") -> str:
    """A thumbnail with its caption below it (never over it); a missing image is a grey box."""
    img = (
        f'<img src="{esc(src)}" alt="{esc(alt)}">'
        if src
        else f'<div class="missing" title="{esc(alt)}">—</div>'
    )
    return f'<figure class="{esc(cls)}">{img}<figcaption>{caption}</figcaption></figure>'


def section(sid: str, title: str, body: str, *, intro: str = "") -> str:
    """A page section with its id (the table of contents links to it)."""
    note = f'<p class="intro">{intro}</p>' if intro else ""
    return f'<section id="{esc(sid)}"><h2>{esc(title)}</h2>{note}{body}</section>'
