"""Rewrite a dcm2niix NIfTI without its identifying header text, byte-deterministically.

dcm2niix puts the acquisition time into ``descrip`` (``TE=…;Time=093512.000``) and
ImageComments into ``aux_file``, even with ``-ba y``. :func:`scrub_nifti` keeps the header
geometry and the voxel bytes exactly as dcm2niix wrote them, blanks ``descrip``,
``aux_file``, ``db_name`` and ``intent_name``, drops header extensions, optionally keeps only
some volumes of a 4D image (DWI b-value policy), and gzips with ``mtime=0`` and no file name,
so the same input always gives the same bytes.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import io
import zlib
from collections.abc import Sequence
from functools import lru_cache

import nibabel as nib
import numpy as np

from hepatokit.errors import DataFormatError

__all__ = ["DESCRIP", "ISAL_LEVELS", "gzip_backend", "gzip_deterministic", "scrub_nifti"]

#: the ``descrip`` written into every curated NIfTI
DESCRIP = b"hepatokit curated"


#: compression levels done by ISA-L's igzip (``isal``): ~4× faster than zlib's level 1 at
#: about its ratio; higher levels use zlib (smaller files, much slower)
ISAL_LEVELS = range(0, 4)


@lru_cache(maxsize=16)
def gzip_backend(level: int) -> str:
    """Which compressor (and version) writes level ``level``: part of the convert resume key,
    since another compressor gives other (equally valid) bytes."""
    if level in ISAL_LEVELS:
        return f"isal-{importlib.metadata.version('isal')}-{level}"
    return f"zlib-{zlib.ZLIB_RUNTIME_VERSION}-{level}"


def gzip_deterministic(data: bytes, *, level: int = 6) -> bytes:
    """gzip ``data`` with a zero timestamp and no file name (same bytes every run).

    Levels 0–3 go through ISA-L (``isal.igzip``), 4–9 through zlib (see :data:`ISAL_LEVELS`).
    """
    if level in ISAL_LEVELS:
        from isal import igzip

        return bytes(igzip.compress(data, compresslevel=level, mtime=0))
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=level, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def scrub_nifti(raw: bytes, *, keep_volumes: Sequence[int] | None = None) -> bytes:
    """The scrubbed single-file NIfTI-1 (uncompressed bytes) of dcm2niix output ``raw``.

    Parameters
    ----------
    raw
        An uncompressed ``.nii`` file (``.nii.gz`` is accepted and inflated).
    keep_volumes
        Indices along the 4th axis to keep (None: all). One index left → a 3D image.
    """
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(raw), check=False)
    except Exception as exc:
        raise DataFormatError(f"dcm2niix wrote an unreadable NIfTI header: {exc}") from exc
    if hdr["sizeof_hdr"] != 348:
        raise DataFormatError("expected a NIfTI-1 file from dcm2niix")
    dims = [int(d) for d in hdr["dim"][1 : int(hdr["dim"][0]) + 1]]
    bytes_per_voxel = int(hdr["bitpix"]) // 8
    offset = int(hdr["vox_offset"])
    n_bytes = int(np.prod(dims)) * bytes_per_voxel
    data = raw[offset : offset + n_bytes]
    if len(data) != n_bytes:
        raise DataFormatError(f"NIfTI data is short: {len(data)} of {n_bytes} bytes")
    if keep_volumes is not None:
        nvol = dims[3] if len(dims) >= 4 else 1
        if any(not 0 <= i < nvol for i in keep_volumes) or not keep_volumes:
            raise DataFormatError(f"volumes {list(keep_volumes)} not in a {nvol}-volume image")
        per = int(np.prod(dims[:3])) * bytes_per_voxel
        data = b"".join(data[i * per : (i + 1) * per] for i in keep_volumes)
        dim = hdr["dim"].copy()
        if len(keep_volumes) == 1:
            dim[0], dim[4] = 3, 1
        else:
            dim[0], dim[4] = max(4, int(dim[0])), len(keep_volumes)
        hdr["dim"] = dim
    for key, value in (("descrip", DESCRIP), ("aux_file", b""), ("db_name", b"")):
        hdr[key] = value
    hdr["intent_name"] = b""
    hdr["vox_offset"] = 352
    hdr.extensions.clear()
    return hdr.binaryblock + b"\x00\x00\x00\x00" + data
