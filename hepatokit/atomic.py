"""Atomic file writes: temp file in the same folder + fsync + rename.

A reader (or a resumed run) therefore sees either the old file or the complete new one,
never a half-written file. Every stage writes through these helpers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_path",
    "atomic_write",
    "remove_stale_temps",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_parquet_atomic",
    "write_text_atomic",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike[str], *, suffix: str = "", durable: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Use it when another library writes the file (nibabel, pyarrow, matplotlib): pass it the
    yielded path. ``suffix`` keeps an extension the writer needs (``.nii.gz``, ``.png``).
    On an exception the temporary file is removed and ``path`` is untouched.
    ``durable=False`` skips the fsyncs (still atomic: readers and killed runs never see a
    partial file); for many small files of a stage that flushes once at its end.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        tmp.chmod(_FILE_MODE)  # mkstemp creates 0600; give the file the usual permissions
        tmp.replace(target)
        if durable:
            _fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb", *, durable: bool = True, **kwargs: Any
) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; it replaces ``path`` atomically when closed."""
    if "w" not in mode:
        raise ValueError(f"atomic_write needs a write mode, got {mode!r}")
    with atomic_path(path, durable=durable) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh
        fh.flush()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically and return the path (``durable=False``: see
    :func:`_write_lean`)."""
    if durable or not _write_lean(os.fspath(path), data):
        with atomic_write(path, "wb", durable=durable) as fh:
            fh.write(data)
    return Path(path)


def _write_lean(target: str, data: bytes) -> bool:
    """``data`` to ``target`` through a temporary file beside it, renamed onto it, without
    fsync, in 4 system calls instead of :func:`atomic_path`'s ~9 (``mkstemp``, close,
    reopen, chmod): ~150 against ~300 µs of CPU a file on ext4 (process time, 2,000 files;
    the MRI convert stage writes 4 files a volume). The temporary name
    ``.<name>.<8 digits>.tmp`` is one :func:`remove_stale_temps` knows; the mode is
    ``0o666`` less the umask, as :func:`atomic_path` gives. False (nothing written) when the
    folder is missing or a killed run of the same pid left that name: the caller then takes
    the general path."""
    head, name = os.path.split(target)
    tmp = os.path.join(head, f".{name}.{os.getpid() % 10**8:08d}.tmp")  # noqa: PTH118
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except (FileExistsError, FileNotFoundError):
        return False
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, target)  # noqa: PTH105 (hot: os calls on a str)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # noqa: PTH108
        raise
    return True


def write_text_atomic(path: str | os.PathLike[str], text: str, *, durable: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (``\\n`` line ends) and return the path."""
    return write_bytes_atomic(path, text.encode("utf-8"), durable=durable)


def write_json_atomic(
    path: str | os.PathLike[str], obj: Any, *, indent: int = 2, durable: bool = True
) -> Path:
    """Write ``obj`` as sorted, indented JSON (byte-stable across runs) atomically."""
    text = json.dumps(obj, indent=indent, sort_keys=True, ensure_ascii=False, default=str)
    return write_text_atomic(path, text + "\n", durable=durable)


def write_parquet_atomic(path: str | os.PathLike[str], table: Any, **kwargs: Any) -> Path:
    """Write a ``pyarrow.Table`` (or pandas DataFrame) to parquet atomically.

    Options are fixed (zstd, no pandas index) so that the same table gives the same bytes.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    kwargs.setdefault("compression", "zstd")
    with atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(table, tmp, **kwargs)
    return Path(path)


#: names of :func:`atomic_path`'s temporary files (``.<name>.<random>.tmp<suffix>``)
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z0-9.]+)?$")


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files a killed run left under ``folder`` (a run killed between
    creating a temporary file and renaming it leaves ``.<name>.<random>.tmp<suffix>``).
    Call it only while holding the folder's lock (another live writer's temporary files
    look the same). Returns what was removed."""
    removed: list[Path] = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            if _TEMP_NAME.match(name):
                path = Path(dirpath) / name
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
    return sorted(removed)
