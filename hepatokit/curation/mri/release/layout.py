"""The folder layout of the released LiFS data (CARE-Liver 2025), parsed without reading images.

::

    LiQA_training_data/Vendor_A/<ID>-A-S<k>/T1.nii.gz T2.nii.gz DWI_800.nii.gz GED1…4.nii.gz
                                             [mask_GED4.nii.gz]
    LiQA_val/Data/Vendor_B1/<ID>-B1/…            (no stage suffix)
    <test>/…/Vendor_C/<ID>-C/…                   (Vendor C only in the test set)

A case is keyed by (ID, vendor folder): IDs repeat across vendors. The release split
(``train`` / ``validation`` / ``test``) comes from the folder names above the vendor folder.
A missing sequence is an absent file; names vary (``T2WI`` for ``T2``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MASK",
    "VENDOR_FOLDERS",
    "ReleaseCase",
    "ReleaseLayout",
    "VendorInfo",
    "scan_release",
    "sequence_of",
]

MASK = "mask_GED4"


@dataclass(frozen=True)
class VendorInfo:
    """Pseudonyms of a vendor folder (the release's folders are already pseudonymous)."""

    vendor: str
    scanner: str
    center: str | None


#: vendor folder code → published vendor / scanner / center. Vendor B is two scanners (B1,
#: B2); the three training scanners come from two centers (A → Center 1, B → Center 2);
#: Vendor C is the held-out (OOD) vendor and center.
VENDOR_FOLDERS: dict[str, VendorInfo] = {
    "A": VendorInfo("Vendor A", "A", "Center 1"),
    "B1": VendorInfo("Vendor B", "B1", "Center 2"),
    "B2": VendorInfo("Vendor B", "B2", "Center 2"),
    "C": VendorInfo("Vendor C", "C", "Center 3"),
}

_VENDOR_DIR = re.compile(r"^Vendor_(?P<code>[A-Za-z][A-Za-z0-9]*)$")
_CASE_DIR = re.compile(
    r"^(?P<id>[A-Za-z0-9_]+?)-(?P<code>[A-Za-z][A-Za-z0-9]*)(?:-(?P<stage>[Ss][1-4]))?$"
)
_NIFTI = re.compile(r"^(?P<stem>.+?)\.nii(?:\.gz)?$", re.IGNORECASE)
#: file stem (case-insensitive) → sequence; first match wins
_SEQUENCE_NAMES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^t1(?:w|wi)?$", re.I), "T1W"),
    (re.compile(r"^t2(?:w|wi)?$", re.I), "T2W"),
    (re.compile(r"^dwi(?:[_-]?b?\d+)?$", re.I), "DWI"),
    (re.compile(r"^ged([1-4])$", re.I), "GED{0}"),
    (re.compile(r"^mask[_-]?ged4$", re.I), MASK),
)
_SPLIT_WORDS = (("train", "train"), ("val", "validation"), ("test", "test"))


def sequence_of(file_name: str) -> str | None:
    """``T2WI.nii.gz`` → ``T2W``; ``mask_GED4.nii.gz`` → ``mask_GED4``; unknown → None."""
    m = _NIFTI.match(file_name)
    if not m:
        return None
    stem = m.group("stem")
    for pattern, name in _SEQUENCE_NAMES:
        hit = pattern.match(stem)
        if hit:
            return name.format(*hit.groups())
    return None


def _release_split(parts: tuple[str, ...]) -> str | None:
    """The nearest folder name above the vendor folder that says train / val / test."""
    for part in reversed(parts):
        low = part.lower()
        for word, split in _SPLIT_WORDS:
            if word in low:
                return split
    return None


@dataclass(frozen=True)
class ReleaseCase:
    """One case folder: ``<ID>-<V>[-S<k>]`` under ``Vendor_<V>``."""

    case_id: str
    vendor_code: str
    stage: str | None
    release_split: str | None
    folder: str  # relative to the release root
    files: tuple[str, ...]  # relative paths of the files directly in the folder
    name_mismatch: bool = False  # the folder's vendor code differs from its vendor folder

    @property
    def original_patient_id(self) -> str:
        """The identity of the case in the release: ``<ID>-<vendor code>``."""
        return f"{self.case_id}-{self.vendor_code}"

    @property
    def original_key(self) -> str:
        return f"{self.vendor_code}\x1f{self.case_id}"


@dataclass
class ReleaseLayout:
    """Every file under the root: in a case, or unplaced (with the reason)."""

    cases: list[ReleaseCase] = field(default_factory=list)
    unplaced: list[tuple[str, str, str]] = field(default_factory=list)  # (path, reason, detail)


def _vendor_code(parts: tuple[str, ...]) -> tuple[int, str] | None:
    for i in range(len(parts) - 1, -1, -1):
        m = _VENDOR_DIR.match(parts[i])
        if m:
            return i, m.group("code")
    return None


def scan_release(root: str | os.PathLike[str]) -> ReleaseLayout:
    """Walk ``root`` (sorted, deterministic) and group its files into release cases.

    Files outside ``Vendor_<V>/<case>/``, in a folder whose name is not ``<ID>-<V>[-S<k>]``,
    or deeper inside a case folder are returned in ``unplaced`` with a reason.
    """
    root = Path(root)
    layout = ReleaseLayout()
    by_case: dict[str, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = Path(dirpath).relative_to(root)
        for name in sorted(filenames):
            rel = (rel_dir / name).as_posix()
            parts = rel_dir.parts
            found = _vendor_code(parts)
            if found is None:
                layout.unplaced.append((rel, "unknown_file", "not inside a Vendor_<V>/ folder"))
                continue
            i, _ = found
            depth = len(parts) - i - 1
            if depth != 1:
                detail = "directly in the vendor folder" if depth == 0 else "below a case folder"
                layout.unplaced.append((rel, "unknown_file", detail))
                continue
            by_case.setdefault(Path(*parts).as_posix(), []).append(rel)
    for folder in sorted(by_case):
        parts = Path(folder).parts
        found = _vendor_code(parts)
        assert found is not None
        i, code = found
        m = _CASE_DIR.match(parts[-1])
        if m is None:
            for rel in by_case[folder]:
                layout.unplaced.append(
                    (rel, "unrecognised_case_folder", f"{parts[-1]!r} is not <ID>-<V>[-S<k>]")
                )
            continue
        stage = m.group("stage")
        layout.cases.append(
            ReleaseCase(
                case_id=m.group("id"),
                vendor_code=code,
                stage=stage.upper() if stage else None,
                release_split=_release_split((root.name, *parts[:i])),
                folder=folder,
                files=tuple(by_case[folder]),
                name_mismatch=m.group("code").upper() != code.upper(),
            )
        )
    return layout
