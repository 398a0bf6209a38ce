"""One writer per build folder: ``BUILD/.hepatokit.lock``.

Two runs writing into one build folder at once overwrite each other's tables and scratch
files and both report success on a half-written build. A run that writes a build holds
its lock for the whole run:

* the lock file holds the owner's pid, host and start time (JSON; no command line: it may
  name raw folders), and the
  owner holds an exclusive ``flock`` on it: the kernel drops that lock when the owner
  dies, however it dies, so a lock left behind by a killed run on this host is known to
  be stale without guessing;
* a second run refuses with :class:`BuildLockedError`, naming the owner;
* a stale lock (its process is gone: on this host, no ``flock`` holder and no such pid)
  is reported in the log and broken; a lock written by another host cannot be checked
  from here and is broken only with ``break_lock=True`` (``--break-lock``).

Once the lock is held, the temporary files a killed run left in the folder (see
:func:`hepatokit.atomic.remove_stale_temps`) are removed: no other writer can own them.

The lock is re-entrant within one process (``build`` holds it while it calls the stages
that take it too).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from hepatokit.atomic import remove_stale_temps
from hepatokit.errors import BuildStateError

__all__ = ["LOCK_NAME", "BuildLockedError", "build_lock", "lock_owner", "pid_alive"]

log = logging.getLogger("hepatokit.buildlock")

LOCK_NAME = ".hepatokit.lock"

_held: dict[str, tuple[int, int]] = {}  # resolved build path -> (fd, depth)


class BuildLockedError(BuildStateError):
    """Another run is writing this build folder."""


def lock_owner(build: str | os.PathLike[str]) -> dict[str, object] | None:
    """What the lock file of ``build`` says about its owner (None: no lock file)."""
    path = Path(build) / LOCK_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return None
    except OSError as exc:
        return {"unreadable": str(exc)}
    try:
        info = json.loads(text) if text.strip() else {}
    except ValueError:
        return {"unreadable": "not JSON"}
    return info if isinstance(info, dict) else {"unreadable": "not a JSON object"}


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (one we may not signal counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(info: dict[str, object] | None) -> str:
    if not info:
        return "an unknown process (empty lock file)"
    if "unreadable" in info:
        return f"an unknown process (lock file {info['unreadable']})"
    started = info.get("started")
    when = (
        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(started)))
        if isinstance(started, int | float)
        else "?"
    )
    return f"pid {info.get('pid')} on {info.get('host')} (since {when})"


@contextlib.contextmanager
def build_lock(build: str | os.PathLike[str], *, break_lock: bool = False) -> Iterator[Path]:
    """Hold the lock of ``build`` (created if needed) for the ``with`` block.

    Raises
    ------
    BuildLockedError
        Another live run holds the lock, or a lock from another host (not checkable from
        here) without ``break_lock``.
    """
    folder = Path(build)
    folder.mkdir(parents=True, exist_ok=True)
    key = str(folder.resolve())
    if key in _held:
        fd, depth = _held[key]
        _held[key] = (fd, depth + 1)
        try:
            yield folder / LOCK_NAME
        finally:
            fd, depth = _held[key]
            _held[key] = (fd, depth - 1)
        return
    path = folder / LOCK_NAME
    fd = _acquire(path, folder)
    try:
        _check_previous(folder, lock_owner(folder), break_lock=break_lock)
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": round(time.time(), 3),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
    except BaseException:
        os.close(fd)
        raise
    _held[key] = (fd, 1)
    stale = remove_stale_temps(folder)  # ours alone now: a killed run's half-written files
    if stale:
        log.warning("removed %d temporary file(s) a killed run left in %s", len(stale), folder)
    try:
        yield path
    finally:
        _held.pop(key, None)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)  # releases the flock


def _acquire(path: Path, folder: Path) -> int:
    """An fd of ``path`` with an exclusive flock, on the file the path names now (an owner
    that just finished unlinked the file we opened: try again on the new one)."""
    for _ in range(20):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BuildLockedError(
                f"another run is writing this build: {_describe(lock_owner(folder))}",
                path=folder,
                hint="wait for it to finish, or build into another --out folder",
            ) from None
        try:
            same = path.stat().st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
    raise BuildLockedError("the lock file keeps changing", path=folder, hint="try again")


def _check_previous(folder: Path, info: dict[str, object] | None, *, break_lock: bool) -> None:
    """A lock file nobody holds: left by a run that died (stale) — say so, and break it
    unless it comes from another host (then only with ``break_lock``)."""
    if not info:
        return
    host = info.get("host")
    pid = info.get("pid")
    here = socket.gethostname()
    if host not in (None, here) and not break_lock:
        raise BuildLockedError(
            f"locked by a run on another host: {_describe(info)}; it cannot be checked from {here}",
            path=folder,
            hint=f"if that run is gone, re-run with --break-lock (or delete {folder / LOCK_NAME})",
        )
    if host == here and isinstance(pid, int) and pid != os.getpid() and pid_alive(pid):
        # the pid exists but holds no flock: a reused pid, or an owner whose lock
        # vanished; the flock is the truth on this host
        log.warning("stale lock of %s broken (that process holds no lock)", _describe(info))
        return
    log.warning("stale build lock broken: %s is gone", _describe(info))
