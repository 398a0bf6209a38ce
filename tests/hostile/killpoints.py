"""kill -9 at chosen points of a real ``hepatokit`` run, for the kill/resume suites.

A run is the real command line in a fresh process group (``start_new_session``); it is
stopped with ``SIGKILL`` sent to the whole group (the CLI, its workers, a running
``dcm2niix``), in one of two ways:

* **from outside** (:class:`Outside`): the test polls the output folder and kills the group
  as soon as a file (or N files matching a pattern) has appeared: what a user's ``kill -9``
  or a lost machine does, somewhere after that point;
* **at an exact file operation** (:class:`AtEvent`): for the points too short to hit by
  polling (between two renames of one stage, between a volume's NIfTI and its sidecar), the
  launcher below installs a Python audit hook (:func:`sys.addaudithook`, test-side only:
  nothing in hepatokit knows about it) that sends ``SIGKILL`` to the run's process group
  when the run is about to do the Nth matching operation: ``rename`` (the atomic writes'
  ``os.replace``, matched on the target), ``open`` of a file, ``popen`` (a subprocess
  start, e.g. dcm2niix), ``rmtree``, ``remove``. The kill is the same ``SIGKILL``, only
  its timing is exact and the same on every machine.

Then the same command runs again to completion, and the suites compare its outputs with
those of an uninterrupted run (:func:`snapshot`), check what the resumed run reused
(:func:`stats`), and that nothing temporary is left (:func:`leftovers`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

#: the launcher: ``python -c LAUNCHER SPEC_JSON HEPATOKIT_ARGS...``; SPEC_JSON is ``{}`` (no
#: kill) or ``{"event": ..., "pattern": ..., "nth": ...}``
LAUNCHER = r"""
import json, os, re, signal, sys
spec = json.loads(sys.argv.pop(1))
if spec:
    import shutil  # noqa: F401  (its audit events are raised by the module)
    names = {"rename": "os.rename", "open": "open", "popen": "subprocess.Popen",
             "rmtree": "shutil.rmtree", "remove": "os.remove"}
    want = names[spec["event"]]
    at = 1 if spec["event"] == "rename" else 0
    pattern = re.compile(spec["pattern"])
    seen = [0]

    def hook(event, args, want=want, at=at, pattern=pattern, nth=spec["nth"], seen=seen):
        if event != want:
            return
        target = args[at]
        if isinstance(target, int):
            return
        try:
            target = os.fsdecode(os.fspath(target))
        except TypeError:
            return
        if pattern.search(target):
            seen[0] += 1
            if seen[0] == nth:
                os.killpg(os.getpgid(0), signal.SIGKILL)

    sys.addaudithook(hook)
from hepatokit.cli import main
main()
"""


@dataclass(frozen=True)
class Outside:
    """Kill from outside once this run has written ``count`` files matching ``glob`` (new
    files, or files it replaced: an earlier run's file does not count)."""

    glob: str
    count: int = 1

    def seen(self, folder: Path) -> dict[str, tuple[int, int]]:
        """(inode, mtime_ns) of the matching files now."""
        got = {}
        for path in folder.glob(self.glob):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            got[path.as_posix()] = (st.st_ino, st.st_mtime_ns)
        return got

    def reached(self, folder: Path, before: Mapping[str, tuple[int, int]]) -> bool:
        now = self.seen(folder)
        return sum(1 for p, st in now.items() if before.get(p) != st) >= self.count


@dataclass(frozen=True)
class AtEvent:
    """Kill when the run is about to do the ``nth`` ``event`` whose path matches ``pattern``
    (a regular expression searched in the path as the run passes it)."""

    event: str
    pattern: str
    nth: int = 1

    def spec(self) -> str:
        return json.dumps({"event": self.event, "pattern": self.pattern, "nth": self.nth})


KillPoint = Outside | AtEvent


def env(scratch: Path, tmp: Path) -> dict[str, str]:
    """The environment of every run: a fixed pseudonym key (the same pseudonyms in every
    run, else each build makes its own), the scratch and temporary folders of this test
    (to check that nothing is left there), no line wrapping of the log."""
    return {**os.environ, "HEPATOKIT_DEID_KEY": "fixed key: same pseudonyms in every run",
            "HEPATOKIT_SCRATCH": str(scratch), "TMPDIR": str(tmp), "COLUMNS": "250",
            "PYTHONHASHSEED": "0"}  # fmt: skip


def _argv(args: Sequence[str], spec: str = "{}") -> list[str]:
    return [sys.executable, "-c", LAUNCHER, spec, *args]


def run(args: Sequence[str], environ: Mapping[str, str], timeout: float = 300) -> str:
    """``hepatokit ARGS`` to completion: it must exit 0 without a traceback; its output."""
    proc = subprocess.run(_argv(args), env=dict(environ), capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Traceback" not in out, out[-3000:]
    return out


def kill_at(
    args: Sequence[str],
    environ: Mapping[str, str],
    folder: Path,
    point: KillPoint,
    timeout: float = 300,
) -> bool:
    """Run ``hepatokit ARGS`` and SIGKILL its process group at ``point`` (``folder``: where
    :class:`Outside` looks); whether it was killed (False: it finished first)."""
    spec = point.spec() if isinstance(point, AtEvent) else "{}"
    before = point.seen(folder) if isinstance(point, Outside) else {}
    proc = subprocess.Popen(_argv(args, spec), env=dict(environ), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        if isinstance(point, AtEvent):
            proc.wait(timeout=timeout)
        else:
            while proc.poll() is None and time.monotonic() < deadline:
                if point.reached(folder, before):
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
                time.sleep(0.005)
            proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    # the rest of the group (a dcm2niix the kill raced with) is gone before the resume
    for _ in range(200):
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    return proc.returncode == -signal.SIGKILL


#: ledgers are compared by rows: their file metadata holds each run's provenance (start and
#: end times, host, versions), which differs between any two runs, killed or not
def _is_ledger(rel: str) -> bool:
    return rel.startswith("manifest/") and rel.endswith(".parquet")


def snapshot(folder: Path) -> dict[str, Any]:
    """Every file under ``folder``: its bytes, a ledger its rows."""
    out: dict[str, Any] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        out[rel] = pq.read_table(path).to_pylist() if _is_ledger(rel) else path.read_bytes()
    return out


#: what a run leaves only while it runs (or when killed): atomic writes' temporary files
#: (``.NAME.RANDOM.tmp[.ext]``), the lock file, a dcm2niix scratch folder
_TRANSIENT = re.compile(r"(^\..+\.tmp(\.[A-Za-z0-9.]+)?$)|(^\.hepatokit\.lock$)|(^hepatokit-)")


def stats(folder: Path, pattern: str = r".") -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of each file (not a transient one) whose relative path matches
    ``pattern``: a file a run rewrote (atomically: a new inode) differs, one it left alone
    does not."""
    rx = re.compile(pattern)
    got: dict[str, tuple[int, int]] = {}
    for path in folder.rglob("*"):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rx.search(rel) and not _TRANSIENT.search(path.name):
            st = path.stat()
            got[rel] = (st.st_ino, st.st_mtime_ns)
    return got


def assert_same_tree(got: Mapping[str, Any], want: Mapping[str, Any], where: str) -> None:
    """``got`` is ``want`` file for file (no file more, none less, no byte different)."""
    extra = sorted(set(got) - set(want))
    missing = sorted(set(want) - set(got))
    assert not extra and not missing, f"{where}: extra {extra[:10]}, missing {missing[:10]}"
    differ = [rel for rel in want if got[rel] != want[rel]]
    assert not differ, f"{where}: {len(differ)} file(s) differ: {differ[:10]}"


def leftovers(*folders: Path) -> list[str]:
    """Temporary files and folders (atomic writes' ``.NAME.RANDOM.tmp*``, scratch folders)
    and lock files under ``folders``."""
    found = []
    for folder in folders:
        if folder.is_dir():
            found += [p.as_posix() for p in folder.rglob("*") if _TRANSIENT.search(p.name)]
    return sorted(found)


def assert_stale_locks_broken(out: str, owners: Sequence[int]) -> None:
    """The run's log reports each lock of ``owners`` (pids: :func:`lock_pids` before it
    ran) as stale and breaks it (instead of refusing to run)."""
    for pid in owners:
        assert re.search(rf"stale (build lock broken: |lock of )pid {pid} on", out), out[-2000:]


def lock_pids(*folders: Path) -> list[int]:
    """The pids the lock files of ``folders`` name: a killed run's. (A run killed after it
    emptied its lock file, while unlocking, leaves none.)"""
    from hepatokit.buildlock import lock_owner

    pids = []
    for folder in folders:
        pid = (lock_owner(folder) or {}).get("pid")
        if isinstance(pid, int):
            pids.append(pid)
    return pids


def log_number(out: str, pattern: str) -> int:
    """The integer group of ``pattern`` in the run's log (one match)."""
    found = re.findall(pattern, out)
    assert len(found) == 1, (pattern, out[-2000:])
    return int(found[0])
