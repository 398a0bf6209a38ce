"""Run the dcm2niix binary of the pip package on exactly a given list of DICOM files."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from hepatokit.buildlock import pid_alive
from hepatokit.errors import DependencyMissingError

__all__ = [
    "build_scratch",
    "dcm2niix_binary",
    "dcm2niix_version",
    "remove_dead_scratch",
    "run_dcm2niix",
    "run_dcm2niix_many",
    "scratch_dir",
]


def dcm2niix_binary() -> str:
    """Path of the dcm2niix executable (the pip package's binary, else one on PATH)."""
    try:
        import dcm2niix

        path = str(dcm2niix.bin)
        if Path(path).is_file():
            return path
    except ImportError:
        pass
    found = shutil.which("dcm2niix")
    if found is None:
        raise DependencyMissingError(
            "dcm2niix is not installed", hint="pip install dcm2niix (ships the binary)"
        )
    return found


def scratch_dir() -> str | None:
    """Where temporary symlinks and raw dcm2niix output go: ``$HEPATOKIT_SCRATCH``, else
    ``/dev/shm`` when writable (memory: no disk metadata cost), else the system temp dir."""
    env = os.environ.get("HEPATOKIT_SCRATCH")
    if env:
        return env
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return str(shm)
    return None


def build_scratch(build: str | os.PathLike[str]) -> str:
    """A scratch folder of this run's own for one build:
    ``hepatokit-<hash of the build path>-<host>-<pid>``. Folders of earlier runs of the same
    build whose process is gone (a killed run) are removed; those of live runs, and of
    other builds, are not touched (two runs never share or wipe each other's scratch).
    The folder exists on return, also when an earlier stage of this process removed it."""
    folder = _build_scratch(os.fspath(build))
    Path(folder).mkdir(parents=True, exist_ok=True)
    return folder


def remove_dead_scratch(build: str | os.PathLike[str]) -> list[Path]:
    """Remove the scratch folders that earlier runs of ``build`` on this host left behind
    (their process is gone: a run killed before it removed its own); those of live runs and
    of other builds are not touched. A stage calls it also when it has nothing to convert:
    a run killed after its last volume, before its clean-up, leaves a folder that no later
    run would otherwise remove (in ``/dev/shm`` it holds memory until a reboot).
    Returns the folders removed."""
    base, prefix = _scratch_prefix(os.fspath(build))
    removed = []
    for old in sorted(base.glob(prefix + "*")):
        pid = old.name[len(prefix) :]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old)
    return removed


def _scratch_prefix(build: str) -> tuple[Path, str]:
    """The folder scratch folders go to and the name prefix of those of ``build`` on this
    host (``hepatokit-<hash of the build path>-<host>-``)."""
    import hashlib
    import socket

    base = Path(scratch_dir() or tempfile.gettempdir())
    digest = hashlib.sha256(str(Path(build).resolve()).encode()).hexdigest()[:12]
    host = "".join(c for c in socket.gethostname() if c.isalnum())[:32] or "host"
    return base, f"hepatokit-{digest}-{host}-"


@lru_cache(maxsize=1)
def _build_scratch(build: str) -> str:
    remove_dead_scratch(build)
    base, prefix = _scratch_prefix(build)
    folder = base / f"{prefix}{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


@lru_cache(maxsize=1)
def dcm2niix_version() -> str:
    try:
        return importlib.metadata.version("dcm2niix")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


_FLAGS = ("-b", "y", "-ba", "y", "-z", "n", "-w", "1", "-v", "0")


def _run(cmd: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)


def _tail(proc: subprocess.CompletedProcess[str]) -> str:
    return " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])


def _link_all(files: Sequence[str | os.PathLike[str]], folder: str) -> None:
    """Symlink ``files`` into ``folder`` as ``000000.dcm``, ``000001.dcm``, … (os calls:
    thousands per subject)."""
    cwd = str(Path.cwd())
    for k, f in enumerate(files):
        target = os.path.join(cwd, f)  # noqa: PTH118 (as Path.absolute(): no normalising)
        os.symlink(target, os.path.join(folder, f"{k:06d}.dcm"))  # noqa: PTH118, PTH211


def run_dcm2niix(
    files: Sequence[str | os.PathLike[str]],
    out_dir: Path,
    *,
    timeout_s: float = 600.0,
    scratch: str | None = None,
) -> list[Path]:
    """Convert exactly ``files`` (symlinked into a temp folder) into ``out_dir``.

    Flags ``-b y -ba y -z n`` (never ``-i y``: it drops derived images such as Siemens
    TRACEW diffusion). Returns the NIfTI files dcm2niix wrote (``vol*.nii``), sorted. Raises
    RuntimeError with dcm2niix's last output lines if it fails or writes nothing.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hk-dcm-", dir=scratch or scratch_dir()) as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        _link_all(files, str(src))
        cmd = [dcm2niix_binary(), *_FLAGS, "-d", "0", "-f", "vol", "-o", str(out_dir), str(src)]
        proc = _run(cmd, timeout_s)
    niftis = sorted(out_dir.glob("vol*.nii"))
    if proc.returncode != 0 or not niftis:
        raise RuntimeError(
            f"dcm2niix exit {proc.returncode}, {len(niftis)} volume(s): {_tail(proc)}"
        )
    return niftis


def run_dcm2niix_many(
    groups: Mapping[str, Sequence[str | os.PathLike[str]]],
    out_dir: Path,
    *,
    timeout_s: float = 600.0,
    scratch: str | None = None,
) -> dict[str, list[Path]]:
    """Convert several series in one dcm2niix process (its start-up dominates small series).

    ``groups`` maps each SeriesInstanceUID to exactly the files of that series; the UIDs
    must be distinct (dcm2niix keeps different UIDs apart, and names each output after its
    UID with ``-f %j``). Each series' files sit in their own folder. Returns UID → the NIfTI
    files written for it (empty list: dcm2niix wrote none for that series).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hk-dcm-", dir=scratch or scratch_dir()) as tmp:
        src = Path(tmp) / "in"
        for g, files in enumerate(groups.values()):
            folder = src / f"{g:04d}"
            folder.mkdir(parents=True)
            _link_all(files, str(folder))
        cmd = [dcm2niix_binary(), *_FLAGS, "-d", "1", "-f", "%j", "-o", str(out_dir), str(src)]
        proc = _run(cmd, timeout_s)
    written = sorted(out_dir.glob("*.nii"))
    out: dict[str, list[Path]] = {}
    for uid in groups:
        out[uid] = [
            p
            for p in written
            if p.stem == uid
            or (
                p.stem.startswith(uid)
                and not (p.stem[len(uid)].isdigit() or p.stem[len(uid)] == ".")
            )
        ]
    if proc.returncode != 0 and not written:
        raise RuntimeError(f"dcm2niix exit {proc.returncode}: {_tail(proc)}")
    return out
