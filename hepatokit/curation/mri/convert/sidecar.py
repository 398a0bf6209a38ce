"""The curated sidecar of a converted volume and the DWI b-value bookkeeping.

The sidecar is rebuilt, never copied: only the recipe's whitelisted dcm2niix keys (under
``Acquisition``) plus what hepatokit knows from the index (pseudonyms, contrast timing) and
from the NIfTI itself (spacing, shape, orientation code). No dates, no names.
"""

from __future__ import annotations

import io
import re
from typing import Any

import nibabel as nib
import numpy as np

from hepatokit._version import __version__
from hepatokit.curation.mri.config import ConvertConfig
from hepatokit.curation.mri.convert.dcm2niix import dcm2niix_version
from hepatokit.curation.mri.convert.job import ConvertJob

__all__ = [
    "clean_descriptor",
    "curated_sidecar",
    "dwi_b_values",
    "orientation_code",
    "select_b_indices",
]

#: a descriptor published as it is (PS3.15 Clean Descriptors): a short product name or dose
_CLEAN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 .,/()%+\-]{0,47}$")


def clean_descriptor(value: Any) -> str | None:
    """``value`` if it is a short product-like text (letters, digits, units), else ``None``:
    a descriptor typed at the scanner is published only when it cannot carry a name or a
    sentence (PS3.15 Annex E, Clean Descriptors Option)."""
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text if _CLEAN.match(text) and len(text.split()) <= 4 else None


_LABELS = (("L", "R"), ("P", "A"), ("I", "S"))


def orientation_code(affine: Any) -> str:
    """``nib.aff2axcodes(affine)`` as one text, ``?`` for an axis without a code.

    An affine whose 3×3 part has one non-zero entry in each row and column (no obliquity:
    most volumes) is read directly: nibabel's polar decomposition of it is that signed
    permutation, so its codes are the rows and signs of the entries (test against nibabel
    on every signed permutation, random zooms). Why: nibabel's SVD path cost ~190 µs a
    volume, ~8 % of convert's Python time. Anything else goes to nibabel."""
    rzs = np.asarray(affine, dtype=float)[:3, :3]
    size = np.abs(rzs)
    nonzero = size > 0
    if (
        rzs.shape == (3, 3)
        and (nonzero.sum(axis=0) == 1).all()
        and (nonzero.sum(axis=1) == 1).all()
        and ((size[nonzero] > 1e-100) & (size[nonzero] < 1e100)).all()
    ):
        rows = nonzero.argmax(axis=0)
        return "".join(
            _LABELS[r][1] if rzs[r, c] > 0 else _LABELS[r][0] for c, r in enumerate(rows.tolist())
        )
    return "".join(c or "?" for c in nib.aff2axcodes(affine))


def select_b_indices(bvals: list[float], policy: ConvertConfig) -> list[int]:
    if policy.dwi_b_values == "all":
        return list(range(len(bvals)))
    wanted = [float(b) for b in policy.dwi_b_values]
    return [
        i for i, b in enumerate(bvals) if any(abs(b - w) <= policy.dwi_b_tolerance for w in wanted)
    ]


def dwi_b_values(
    from_dcm2niix: list[float], from_index: tuple[float, ...], raw_nii: bytes
) -> tuple[list[float], str]:
    """The b-value of each volume: dcm2niix's, unless it found none (all zero / no .bval)
    while the index read them from a tag it does not know; then the index's, in instance
    order, when their count matches the volumes."""
    if any(b > 0 for b in from_dcm2niix) or not any(b > 0 for b in from_index):
        return from_dcm2niix, "dcm2niix"
    hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(raw_nii[:352]), check=False)
    nvol = int(hdr["dim"][4]) if int(hdr["dim"][0]) >= 4 else 1
    if nvol == len(from_index):
        return list(from_index), "index"
    return from_dcm2niix, "dcm2niix"


def curated_sidecar(
    job: ConvertJob, meta: dict[str, Any], img: Any, bvals: list[float]
) -> dict[str, Any]:
    """The sidecar of ``job``'s volume ``img`` (``meta``: dcm2niix's JSON; EchoTime and
    RepetitionTime in seconds as dcm2niix writes them; ``bvals`` in s/mm², one per volume).

    ``img`` is the volume's NIfTI image or only its header (a ``Nifti1Header``: shape,
    spacing and orientation are all the sidecar needs; the affine is the one nibabel gives
    an image loaded with that header)."""
    s = job.series
    header = img if isinstance(img, nib.Nifti1Header) else img.header
    affine = header.get_best_affine() if img is header else img.affine
    shape = header.get_data_shape() if img is header else img.shape
    zooms = [round(float(z), 6) for z in header.get_zooms()[:3]]
    acquisition = {k: meta[k] for k in job.config.sidecar_keys if k in meta}
    agent = clean_descriptor(s.get("contrast_agent"))
    if (
        "ContrastBolusAgent" in job.config.sidecar_keys
        and agent
        and "ContrastBolusAgent" not in meta
    ):
        acquisition["ContrastBolusAgent"] = agent  # dcm2niix does not write it; the index read it
    if "ContrastBolusAgent" in acquisition:
        acquisition["ContrastBolusAgent"] = clean_descriptor(acquisition["ContrastBolusAgent"])
        if acquisition["ContrastBolusAgent"] is None:
            del acquisition["ContrastBolusAgent"]
    acquisition = dict(sorted(acquisition.items()))
    out: dict[str, Any] = {
        "Sequence": job.sequence,
        "SubjectID": s["subject_id"],
        "SeriesID": s["series_id"],
        "Center": s["center"],
        "Vendor": s["vendor"],
        "Scanner": s["scanner"],
        "MagneticFieldStrength": s["field_strength"],
        "EchoTime": meta.get("EchoTime"),
        "RepetitionTime": meta.get("RepetitionTime"),
        "FlipAngle": meta.get("FlipAngle"),
        "BValues": bvals or None,
        "SecondsAfterInjection": s.get("seconds_after_injection"),
        "ContrastTimingSource": s.get("timing_source"),
        "VoxelSpacing": zooms,
        "Shape": [int(d) for d in shape],
        # a degenerate affine (a collapsed axis) has no code for that axis: "?"
        "OrientationCode": orientation_code(affine),
        "SourceSeriesCount": 1,
        "SourceImageCount": len(job.files),
        "Acquisition": acquisition,
        "BValueSource": meta.get("BValueSource"),
        "HepatokitVersion": __version__,
        "Dcm2niixVersion": dcm2niix_version(),
    }
    if job.sequence is None:
        out["Recognition"] = {"label": s.get("label"), "reason": s.get("reason")}
    return out
