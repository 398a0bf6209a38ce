"""One case folder of the released LiFS layout → scrubbed NIfTI volumes + sidecars.

Runs in the workers of ``mri import-release`` (:mod:`.release`): every file of the case gets a
:class:`FileOutcome` (kept, or excluded with a reason code); volumes already written from the
same source file (sidecar ``SourceSHA256``) are not rewritten.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from hepatokit._version import __version__
from hepatokit.atomic import write_bytes_atomic, write_json_atomic
from hepatokit.contracts.lifs import subject_dir, volume_file
from hepatokit.curation.mri.deid.nifti_scrub import gzip_deterministic, scrub_nifti
from hepatokit.curation.mri.release.layout import MASK, ReleaseCase, VendorInfo, sequence_of
from hepatokit.errors import DataFormatError

__all__ = ["CaseJob", "CaseResult", "FileOutcome", "import_case", "read_volume"]


@dataclass(frozen=True)
class CaseJob:
    """What a worker needs to import one case (picklable)."""

    case: ReleaseCase
    subject_id: str
    root: str
    build: str
    sequences: tuple[str, ...]
    info: VendorInfo
    compress_level: int = 6


@dataclass
class FileOutcome:
    """One file of a case: kept (``reason`` None) or excluded with a reason code."""

    rel: str
    size: int
    checksum: str | None
    reason: str | None = None  # None: kept
    detail: str | None = None
    sequence: str | None = None
    output: str | None = None  # relative to BUILD


@dataclass
class CaseResult:
    """The files of a case and the volumes written from them."""

    files: list[FileOutcome] = field(default_factory=list)
    volumes: dict[str, str] = field(default_factory=dict)  # sequence / mask → BUILD-relative path
    squeezed: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- one volume
def read_volume(path: Path, level: int = 6) -> tuple[bytes, bytes, bool, list[int]]:
    """A release volume as scrubbed NIfTI-1: ``(gzipped bytes, header bytes, squeezed, shape)``.

    ``level`` is the gzip level (1 fastest … 9 smallest); the output is deterministic.

    Raises
    ------
    DataFormatError
        Unreadable (``corrupt``) or not a 3D volume (``not_3d``); the message starts with the
        reason code.
    """
    raw = path.read_bytes()
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        nifti1 = raw[:4] in (b"\x5c\x01\x00\x00", b"\x00\x00\x01\x5c")  # sizeof_hdr 348
        img = nib.Nifti1Image.from_bytes(raw) if nifti1 else nib.Nifti2Image.from_bytes(raw)
        shape = [int(d) for d in img.shape]
    except Exception as exc:  # any parse failure of a bad file is the file's problem
        raise DataFormatError(
            f"corrupt: not a readable NIfTI ({type(exc).__name__}: {exc})"
        ) from exc
    if len(shape) < 3 or any(d < 1 for d in shape):
        raise DataFormatError(f"not_3d: shape {shape}")
    squeeze = len(shape) > 3
    if squeeze and any(d != 1 for d in shape[3:]):
        raise DataFormatError(f"not_3d: {len(shape)}D volume of shape {shape} (not a singleton)")
    try:
        if isinstance(img, nib.Nifti2Image):  # rewrite as NIfTI-1 (the curated format)
            data = np.asanyarray(img.dataobj).reshape(shape[:3])
            one = nib.Nifti1Image(data, img.affine, dtype=img.get_data_dtype())
            one.header.set_qform(img.affine, int(img.header["qform_code"]) or 1)
            one.header.set_sform(img.affine, int(img.header["sform_code"]) or 1)
            one.header.set_zooms(img.header.get_zooms()[:3])
            raw, squeeze = one.to_bytes(), False
        body = scrub_nifti(raw, keep_volumes=[0] if squeeze else None)
    except DataFormatError as exc:
        raise DataFormatError(f"corrupt: {exc.message}") from exc
    except Exception as exc:
        raise DataFormatError(f"corrupt: {type(exc).__name__}: {exc}") from exc
    return gzip_deterministic(body, level=level), body[:348], squeeze, shape


def _sidecar(
    job: CaseJob, sequence: str, source: Path, header: bytes, shape: list[int], sha: str
) -> dict[str, Any]:
    hdr = nib.Nifti1Header(header)
    affine = hdr.get_best_affine()
    return {
        "Sequence": sequence,
        "SubjectID": job.subject_id,
        "Center": job.info.center,
        "Vendor": job.info.vendor,
        "Scanner": job.info.scanner,
        "MagneticFieldStrength": None,
        "VoxelSpacing": [round(float(z), 6) for z in hdr.get_zooms()[:3]],
        "Shape": [int(d) for d in hdr.get_data_shape()],
        "SourceShape": shape,
        "OrientationCode": "".join(c or "?" for c in nib.aff2axcodes(affine)),
        "Source": "LiFS release (CARE-Liver)",
        "SourceFileName": source.name,
        "SourceSHA256": sha,
        "ReleaseSplit": job.case.release_split,
        "HepatokitVersion": __version__,
    }


def _sha256(path: Path) -> tuple[str, int]:
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256")
    return digest.hexdigest(), path.stat().st_size


def import_case(job: CaseJob) -> CaseResult:
    """Convert one case folder (runs in a worker)."""
    root, build = Path(job.root), Path(job.build)
    result = CaseResult()
    folder = Path(subject_dir(job.subject_id))
    claimed: dict[str, str] = {}
    order = {s: i for i, s in enumerate((*job.sequences, MASK))}
    # canonical names first (T2 before T2WI), so the variant is the one called a duplicate
    files = sorted(job.case.files, key=lambda r: (len(Path(r).name), Path(r).name))
    for rel in files:
        src = root / rel
        sha, size = _sha256(src)
        out = FileOutcome(rel=rel, size=size, checksum=f"sha256:{sha}")
        result.files.append(out)
        seq = sequence_of(src.name)
        if seq is None or seq not in order:
            out.reason, out.detail = (
                "unknown_file",
                f"{src.name!r} is not a known sequence file name",
            )
            continue
        if seq in claimed:
            out.reason, out.detail = "duplicate_sequence", f"{seq} already read from {claimed[seq]}"
            continue
        target = Path(volume_file(job.subject_id, seq))
        sidecar_path = build / target.with_suffix("").with_suffix(".json")
        if _up_to_date(build / target, sidecar_path, sha):
            squeezed = json.loads(sidecar_path.read_text()).get("SourceShape", [])
            squeezed_4d = len(squeezed) > 3
        else:
            try:
                data, header, squeezed_4d, shape = read_volume(src, job.compress_level)
            except DataFormatError as exc:
                code, _, detail = exc.message.partition(": ")
                out.reason, out.detail = code, detail
                continue
            write_bytes_atomic(build / target, data)
            write_json_atomic(sidecar_path, _sidecar(job, seq, src, header, shape, sha))
        claimed[seq] = src.name
        out.sequence, out.output = seq, target.as_posix()
        result.volumes[seq] = target.as_posix()
        if squeezed_4d:
            result.squeezed.append(seq)
    _remove_stale(build / folder, job.subject_id, set(result.volumes))
    return result


def _up_to_date(volume: Path, sidecar: Path, sha: str) -> bool:
    if not (volume.is_file() and sidecar.is_file()):
        return False
    try:
        return json.loads(sidecar.read_text()).get("SourceSHA256") == sha
    except (OSError, ValueError):
        return False


def _remove_stale(folder: Path, sid: str, keep: set[str]) -> None:
    """Drop this subject's outputs of sequences that are no longer in the release."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        name = path.name
        if not name.startswith(f"sub-{sid}_"):
            continue
        seq = name[len(f"sub-{sid}_") :].split(".", 1)[0]
        if seq not in keep:
            path.unlink()
