"""Walking raw trees and reading raw files without losing, hanging on or exhausting anything.

Raw trees come from USB disks, network shares and exports: they hold symlinked folders
(sometimes in loops), folders the user cannot read, FIFOs and device nodes, links to
``/dev/zero``, names that are not UTF-8, and files far larger than what they claim to be.

:func:`walk_tree` lists every entry of a tree once:

* symlinked folders are followed, each real folder once (a link back to a folder already
  walked, a loop, is reported instead of walked again);
* a folder that cannot be listed is reported (``unreadable_dir``), not skipped silently;
* only regular files are data: FIFOs, sockets and devices (also through a link, such as a
  link to ``/dev/zero``) are reported as ``not_regular_file`` and never opened; broken
  links as ``broken_link``;
* a name that is not valid UTF-8 is kept as Python keeps it (``surrogateescape``) to open
  the file, and reported as ``non_utf8_name`` with a printable form (``\\xNN`` escapes):
  tables and manifests hold UTF-8 text only.

:func:`read_bounded` reads a regular file up to a size bound, without ever blocking on a
FIFO (the file is opened non-blocking and checked with ``fstat`` before any read).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "TooLargeError",
    "WalkEntry",
    "display_name",
    "is_utf8_name",
    "read_bounded",
    "walk_tree",
]


@dataclass(frozen=True)
class WalkEntry:
    """One entry of a walked tree.

    ``rel`` is the path relative to the root (``/``-separated; surrogate-escaped when not
    UTF-8: use it to open the file); ``shown`` its printable UTF-8 form (the same unless
    the name is not UTF-8); ``problem`` is None for a regular file, else the reason it is
    not data (``unreadable_dir``, ``not_regular_file``, ``broken_link``, ``non_utf8_name``,
    ``symlink_loop``) with ``detail``.
    """

    rel: str
    shown: str
    size: int
    mtime_ns: int
    problem: str | None = None
    detail: str | None = None


def is_utf8_name(name: str) -> bool:
    """Whether a (surrogate-escaped) file name is valid UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_name(name: str) -> str:
    """A printable UTF-8 form of a surrogate-escaped name (bad bytes as ``\\xNN``)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def walk_tree(root: str | os.PathLike[str]) -> Iterator[WalkEntry]:
    """Every entry under ``root`` (see the module docstring), folders in sorted order."""
    top = os.fspath(root)
    try:
        st = os.stat(top)  # noqa: PTH116 - str paths throughout (surrogate-escaped names)
        seen = {(st.st_dev, st.st_ino)}
    except OSError:
        seen = set()
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        here = os.path.join(top, rel_dir) if rel_dir else top  # noqa: PTH118
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            shown = display_name(rel_dir) or "."
            yield WalkEntry(
                rel_dir or ".",
                shown,
                -1,
                0,
                "unreadable_dir",
                f"folder cannot be listed: {exc.strerror or type(exc).__name__}",
            )
            continue
        subdirs = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            shown = display_name(rel)
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError as exc:
                link = entry.is_symlink()
                yield WalkEntry(
                    rel,
                    shown,
                    -1,
                    0,
                    "broken_link" if link else "unreadable_file",
                    (
                        "link to a missing target"
                        if link
                        else f"cannot stat: {exc.strerror or type(exc).__name__}"
                    ),
                )
                continue
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    yield WalkEntry(
                        rel,
                        shown,
                        -1,
                        0,
                        "symlink_loop",
                        "folder already walked (a symlink to it or a loop)",
                    )
                    continue
                seen.add(key)
                subdirs.append(rel)
                continue
            if not stat.S_ISREG(st.st_mode):
                yield WalkEntry(
                    rel, shown, -1, 0, "not_regular_file", f"{_kind(st.st_mode)}: never read"
                )
                continue
            if not is_utf8_name(rel):
                yield WalkEntry(
                    rel,
                    shown,
                    st.st_size,
                    st.st_mtime_ns,
                    "non_utf8_name",
                    f"file name is not UTF-8 (shown with \\x escapes): {shown}; "
                    "rename it to UTF-8 (e.g. convmv)",
                )
                continue
            yield WalkEntry(rel, shown, st.st_size, st.st_mtime_ns)
        stack.extend(reversed(subdirs))


class TooLargeError(ValueError):
    """A file is larger than the bound its kind allows."""


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of regular file ``path``, at most ``limit`` of them.

    Raises
    ------
    TooLargeError
        The file holds more than ``limit`` bytes.
    OSError
        Not a regular file (``EINVAL``: FIFO, device, socket — never read), or unreadable.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(22, f"{_kind(st.st_mode)}: never read")
        if st.st_size > limit:
            raise TooLargeError(f"{st.st_size} bytes, more than the {limit} allowed")
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise TooLargeError(f"more than the {limit} bytes allowed (the file grew)")
        return b"".join(chunks)
    finally:
        os.close(fd)
