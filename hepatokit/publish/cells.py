"""The cells of a planned row that are filled at write time: :class:`EmbeddedFile` (a file's
bytes) and :class:`DigestOf` (the MD5 of another cell's published bytes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["DigestOf", "EmbeddedFile"]


@dataclass(frozen=True)
class EmbeddedFile:
    """A file whose bytes go into a ``{"bytes", "path"}`` struct cell.

    ``source`` is read at write time and never stored; ``name`` is the public file name kept
    in the cell's ``path`` (it carries the extension that tells readers the encoding).
    """

    source: str
    name: str
    md5: str | None = None
    nbytes: int | None = None  # the file's size if the collector already knows it
    #: an image published without its metadata: its PIL format (see
    #: :func:`hepatokit.imagemeta.scrub_image`); None = the bytes as they are
    scrub_format: str | None = None

    def size(self) -> int:
        return self.nbytes if self.nbytes is not None else Path(self.source).stat().st_size


@dataclass(frozen=True)
class DigestOf:
    """A cell holding the MD5 of the bytes another (embedded) column of the row publishes:
    known only once the file has been read (and scrubbed) at write time."""

    column: str
