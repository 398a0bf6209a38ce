"""``checksums.sha256``: one ``<sha256>  <relative path>`` line per file (``sha256sum -c``
format), sorted by path; the checksum file itself and hidden folders are not listed."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from hepatokit.atomic import write_text_atomic
from hepatokit.errors import DataFormatError

__all__ = ["CHECKSUM_FILE", "folder_files", "sha256_file", "verify_checksums", "write_checksums"]

CHECKSUM_FILE = "checksums.sha256"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_files(folder: Path) -> list[str]:
    """Relative POSIX paths of the files a published folder consists of (sorted)."""
    out = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if not path.is_file() or any(p.startswith(".") for p in rel.parts):
            continue
        if rel.as_posix() != CHECKSUM_FILE:
            out.append(rel.as_posix())
    return sorted(out)


def write_checksums(folder: Path, known: Mapping[str, str] | None = None) -> Path:
    """Write ``folder/checksums.sha256``; ``known`` (relative path → sha256) skips rehashing."""
    known = known or {}
    lines = [
        f"{known.get(rel) or sha256_file(folder / rel)}  {rel}" for rel in folder_files(folder)
    ]
    return write_text_atomic(folder / CHECKSUM_FILE, "\n".join(lines) + "\n")


def verify_checksums(folder: Path) -> int:
    """Check every listed file and that no file is unlisted; return the number checked.

    Raises
    ------
    DataFormatError
        Missing checksum file, a missing/changed file, or a file that is not listed.
    """
    path = folder / CHECKSUM_FILE
    if not path.is_file():
        raise DataFormatError(
            "no checksums.sha256", path=folder, hint="run `hepatokit publish build` first"
        )
    listed: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            sha, rel = line.split("  ", 1)
            listed[rel] = sha
    problems = [rel for rel in folder_files(folder) if rel not in listed]
    problems = [f"{rel}: not listed" for rel in problems]
    for rel, sha in listed.items():
        if not (folder / rel).is_file():
            problems.append(f"{rel}: missing")
        elif sha256_file(folder / rel) != sha:
            problems.append(f"{rel}: changed")
    if problems:
        raise DataFormatError(
            f"{len(problems)} checksum problem(s): {'; '.join(problems[:3])}",
            path=folder,
            hint="re-run `hepatokit publish build` to regenerate the folder",
        )
    return len(listed)
