"""Stable item ids and file checksums, as the manifest records them."""

from __future__ import annotations

import hashlib
import os

__all__ = ["file_digest", "stable_id"]


def stable_id(*parts: str, length: int = 16) -> str:
    """A short, deterministic id from text parts (sha256 hex prefix, ``length`` chars)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


def file_digest(path: str | os.PathLike[str], algo: str = "sha256") -> str:
    """``"<algo>:<hex>"`` of a file's bytes, read in 1 MiB blocks."""
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, algo)
    return f"{algo}:{digest.hexdigest()}"
