"""The per-file work of ingest: read the bytes once (bounded), decode once, measure.

:func:`analyse_file` is the picklable work item run on the stage's executor; it returns the
file's row (size, MD5, decoded size / mode / format, hashes, QC scores, metadata text) or
its rejection (``missing``, ``too_large``, ``corrupt``, ``not_image``, ``wrong_size``...).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepatokit.curation.patho.features.analysis import PatchRejected, analyse_patch_bytes
from hepatokit.imagemeta import metadata_text, metadata_values
from hepatokit.safeio import TooLargeError, read_bounded

__all__ = ["FileTask", "analyse_file"]


@dataclass(frozen=True)
class FileTask:
    """One file to read and decode, and the options that decide its outcome."""

    path: str
    expected_size: tuple[int, int] | None
    size_policy: str
    dhash: bool
    image_extensions: frozenset[str]
    max_bytes: int


def analyse_file(task: FileTask) -> dict[str, Any]:
    """Per-file worker: read bytes once, decode once, return the row or the rejection."""
    try:
        data = read_bounded(task.path, task.max_bytes)
    except FileNotFoundError:
        return {"reason": "missing", "detail": "file listed but not found", "bytes": None}
    except TooLargeError as exc:
        return {"reason": "too_large", "detail": f"{exc} (ingest.max_file_mb)", "bytes": None}
    except OSError as exc:
        reason = "not_regular_file" if exc.errno == 22 else "unreadable"
        return {"reason": reason, "detail": exc.strerror or type(exc).__name__, "bytes": None}
    try:
        a = analyse_patch_bytes(
            data, expected_size=task.expected_size, size_policy=task.size_policy, dhash=task.dhash
        )
    except PatchRejected as rej:
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        reason, detail = rej.reason, rej.detail
        if reason == "not_image" and Path(task.path).suffix.lower() in task.image_extensions:
            reason = "corrupt"  # named as an image, holds no decodable image
            detail = "empty file" if not data else f"image extension but {detail}"
        return {"reason": reason, "detail": detail, "bytes": len(data), "md5": md5}
    return {
        "reason": None,
        "bytes": len(data),
        "md5": a.hashes.md5,  # of the same bytes (computed once per file)
        # text the file's metadata holds (removed at publish; the PHI audit looks for it)
        "meta": metadata_values(data) if metadata_text(data) else [],
        "width": a.width,
        "height": a.height,
        "mode": a.mode,
        "format": a.format,
        "resized": a.resized,
        "pixel_sha256": a.hashes.pixel_sha256,
        "phash": a.hashes.phash,
        "dhash": a.hashes.dhash,
        "scores": a.scores.as_dict(),
    }
