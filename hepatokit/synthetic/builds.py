"""Fake BUILD folders with planted truth, written directly (no curation code involved).

``make_fake_lifs_build`` / ``make_fake_hepatobench_build`` write small builds that follow
``docs/contracts.md``: the publish and loader tests assert against their planted truth, and
the benchmarks scale them up. The raw names and ``private/`` tables carry ``PHI_MARKERS``, which
no published byte may contain.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit.contracts import start_build
from hepatokit.contracts.common import PRIVATE, RAW_ROOT, RECIPE, SPLITS
from hepatokit.contracts.hepatobench import CURATED
from hepatokit.contracts.lifs import (
    INSTANCES_PHI,
    PSEUDONYMS,
    SEQUENCES,
    SUBJECTS,
    SUBJECTS_SCHEMA,
    subject_dir,
    volume_file,
)
from hepatokit.manifest import Manifest, ManifestRow, excluded, kept, stable_id
from hepatokit.recipe import recipe_path

LIFS_SEQUENCES = SEQUENCES
HB_CLASSES = ("TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE")
#: strings planted in BUILD/private and raw names: none may reach a published folder
PHI_MARKERS = ("DOE^JOHN", "PHIMARK-19650101", "St-Elsewhere-Hospital", "patientSMITH")

_VENDORS = {
    # vendor: (center, scanner, field strength, split plan)
    "Vendor A": ("Center 1", "A1.5T", 1.5, ("train", "train", "validation", "test_id")),
    "Vendor B": ("Center 2", "B3T", 3.0, ("train", "train", "validation", "test_id")),
    "Vendor C": ("Center 3", "C3T", 3.0, ("test_ood", "test_ood", "test_ood")),
}


@dataclass
class FakeLifsBuild:
    """A fake LiFS build; ``subjects`` are the rows of ``subjects.parquet`` + their split."""

    build: Path
    raw_root: Path
    subjects: list[dict] = field(default_factory=list)
    phi: tuple[str, ...] = PHI_MARKERS

    def split_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.subjects:
            out[s["split"]] = out.get(s["split"], 0) + 1
        return out


@dataclass
class FakeHepatoBuild:
    """A fake HepatoBench build; ``patches`` are the curated rows + their split."""

    build: Path
    raw_root: Path
    patches: list[dict] = field(default_factory=list)
    phi: tuple[str, ...] = PHI_MARKERS


def _write_private(build: Path, raw_root: Path, extra: dict[str, pa.Table]) -> None:
    (build / PRIVATE).mkdir(parents=True, exist_ok=True)
    (build / RAW_ROOT).write_text(json.dumps({"raw_root": str(raw_root)}))
    for name, table in extra.items():
        pq.write_table(table, build / name)


def _lifs_missing(i: int) -> set[str]:
    """Planted missing sequences of subject ``i``."""
    if i % 5 == 1:
        return {"GED1", "GED2", "GED3", "GED4"}
    if i % 5 == 2:
        return {LIFS_SEQUENCES[i % 7]}
    if i % 5 == 3:
        return {"DWI", "T2W"}
    return set()


_LIFS_AFFINE = np.array([[-0.9, 0, 0, 40.0], [0, -0.9, 0, 30.0], [0, 0, 2.5, -20.0], [0, 0, 0, 1]])


def make_fake_lifs_build(
    root: Path, *, per_vendor: int = 1, shape: tuple[int, int, int] = (10, 9, 6), seed: int = 0
) -> FakeLifsBuild:
    """Write a LiFS build under ``root/build`` (raw root ``root/raw``, only named).

    ``per_vendor`` repeats each vendor's split plan (A, B: train, train, validation, test_id;
    C: three test_ood). Volumes are int16 with a non-RAS (LPS-like) affine; some sequences
    are missing (see ``_lifs_missing``), every third complete subject has a liver mask, one
    DWI is 4D with a trailing singleton axis.
    """
    rng = np.random.default_rng(seed)
    build, raw_root = root / "build", root / "raw"
    build.mkdir(parents=True, exist_ok=True)
    (build / RECIPE).write_bytes(recipe_path("lifs").read_bytes())
    fake = FakeLifsBuild(build=build, raw_root=raw_root)
    rows, split_rows, pseudonyms, index_rows, label_rows = [], [], [], [], []
    i = 0
    for vendor, (center, scanner, tesla, plan) in _VENDORS.items():
        for split in plan * per_vendor:
            sid = stable_id("subject", str(seed), str(i))
            row = _lifs_subject(sid, i, split, vendor, (center, scanner, tesla))
            index_rows += _write_lifs_volumes(build, row, i, shape, rng)
            rows.append(row)
            split_rows.append({"id": sid, "group": sid, "split": split})
            pseudonyms.append({"original_patient_id": f"PHIMARK-19650101-{i}", "subject_id": sid})
            label_rows.append(
                kept(
                    stable_id("label", str(i)),
                    kind="label_row",
                    stage="labels",
                    source="labels.csv",
                )
            )
            fake.subjects.append({**row, "split": split})
            i += 1
    _record_lifs_manifest(build, index_rows, label_rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=SUBJECTS_SCHEMA), build / SUBJECTS)
    pq.write_table(pa.Table.from_pylist(split_rows), build / SPLITS)
    _write_private(
        build,
        raw_root,
        {
            PSEUDONYMS: pa.Table.from_pylist(pseudonyms),
            INSTANCES_PHI: pa.table(
                {"PatientName": ["DOE^JOHN"], "InstitutionName": ["St-Elsewhere-Hospital"]}
            ),
        },
    )
    start_build(build, "lifs")
    return fake


def _lifs_subject(
    sid: str, i: int, split: str, vendor: str, site: tuple[str, str, float]
) -> dict[str, Any]:
    """The ``subjects.parquet`` row of subject ``i`` (volume columns filled when written)."""
    center, scanner, tesla = site
    stage = f"S{1 + i % 4}" if not (split == "validation" and i % 2) else None
    missing = _lifs_missing(i)
    return {
        "subject_id": sid,
        "center": center,
        "vendor": vendor,
        "scanner": scanner,
        "field_strength": tesla,
        "stage": stage,
        "cirrhosis": None if stage is None else int(stage == "S4"),
        "significant_fibrosis": None if stage is None else int(stage != "S1"),
        "sequences": [s for s in LIFS_SEQUENCES if s not in missing],
        "mask_GED4": None,
    }


def _lifs_sidecar(seq: str, k: int, tesla: float) -> dict[str, Any]:
    """The JSON sidecar of sequence ``seq`` (``k``: its position in ``LIFS_SEQUENCES``)."""
    return {
        "Modality": "MR",
        "Sequence": seq,
        "MagneticFieldStrength": tesla,
        "EchoTime": round(0.002 + 0.001 * k, 4),
        "RepetitionTime": round(0.004 + 0.5 * (seq == "T2W"), 4),
        "SeriesDescription": f"{seq.lower()}_protocol",
    }


def _write_lifs_volumes(
    build: Path, row: dict[str, Any], i: int, shape: tuple[int, int, int], rng: np.random.Generator
) -> list[ManifestRow]:
    """Write subject ``i``'s volumes, sidecars and mask; fill the ``volume_*`` and
    ``mask_GED4`` columns of ``row``; return the index ledger rows of its raw files."""
    import nibabel as nib

    sid, vendor = row["subject_id"], row["vendor"]
    missing = _lifs_missing(i)
    (build / subject_dir(sid)).mkdir(parents=True, exist_ok=True)
    index_rows = []
    for k, seq in enumerate(LIFS_SEQUENCES):
        if seq in missing:
            row[f"volume_{seq}"] = None
            continue
        data = rng.integers(0, 800, size=shape, dtype=np.int16) + np.int16(100 * k)
        if seq == "DWI" and i == 0:
            data = data[..., None]  # 4D with a trailing singleton axis
        rel = volume_file(sid, seq)
        img = nib.Nifti1Image(data, _LIFS_AFFINE)
        img.header.set_xyzt_units("mm", "sec")
        nib.save(img, build / rel)
        sidecar = _lifs_sidecar(seq, k, row["field_strength"])
        (build / rel.replace(".nii.gz", ".json")).write_text(json.dumps(sidecar))
        if seq == "DWI":
            (build / rel.replace(".nii.gz", ".bval")).write_text("0 800\n")
        row[f"volume_{seq}"] = rel
        for part in range(2):
            raw_rel = f"{vendor[-1]}/{i}/{seq}/{part}.dcm"
            index_rows.append(
                kept(stable_id("file", raw_rel), kind="file", stage="index", source=raw_rel)
            )
    if not missing and i % 3 == 0:
        mask = (rng.random(shape) > 0.5).astype(np.uint8)
        rel = volume_file(sid, "mask_GED4")
        nib.save(nib.Nifti1Image(mask, _LIFS_AFFINE), build / rel)
        row["mask_GED4"] = rel
    return index_rows


def _record_lifs_manifest(
    build: Path, index_rows: list[ManifestRow], label_rows: list[ManifestRow]
) -> None:
    """The ledger, with planted exclusions: corrupt files, a localizer, an unlabelled row."""
    for j in range(3):
        raw_rel = f"junk/{j}.dcm"
        index_rows.append(
            excluded(
                stable_id("file", raw_rel),
                kind="file",
                stage="index",
                reason="corrupt",
                source=raw_rel,
            )
        )
    loc = "A/0/localizer/0.dcm"
    index_rows.append(kept(stable_id("file", loc), kind="file", stage="index", source=loc))
    label_rows.append(
        excluded(stable_id("label", "999"), kind="label_row", stage="labels", reason="no_images")
    )
    manifest = Manifest(build)
    manifest.record("index", index_rows, introduces=True)
    manifest.record(
        "series",
        [
            excluded(
                stable_id("file", loc), kind="file", stage="series", reason="unclassified_series"
            )
        ],
    )
    manifest.record("labels", label_rows, introduces=True)


def _patch_image(cls_index: int, size: int, rng: np.random.Generator):
    from PIL import Image

    base = np.array([(40 * cls_index) % 255, 120, 255 - 30 * cls_index], dtype=np.float64)
    arr = base + rng.normal(0, 25, size=(size, size, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


_HB_SLIDE_SPLIT = {"s0": "train", "s1": "train", "s2": "train", "s3": "validation",
                   "s4": "test", "s5": "test", "wsi0": "train"}  # fmt: skip


def make_fake_hepatobench_build(
    root: Path, *, per_class: int = 5, size: int = 24, seed: int = 0
) -> FakeHepatoBuild:
    """Write a HepatoBench build under ``root/build`` with raw patches under ``root/raw``.

    ``per_class`` patches per class in class folders (PNG, every third one JPEG, file names
    carrying a PHI marker), spread over six slides; plus four tiles of one tiled slide under
    ``BUILD/tiles/`` with coordinates. Slide-level splits: s0–s2 + the tiled slide train,
    s3 validation, s4–s5 test.
    """
    rng = np.random.default_rng(seed)
    build, raw_root = root / "build", root / "raw"
    build.mkdir(parents=True, exist_ok=True)
    (build / RECIPE).write_bytes(recipe_path("hepatobench").read_bytes())
    fake = FakeHepatoBuild(build=build, raw_root=raw_root)
    rows: list[dict[str, Any]] = []
    ingest_rows: list[ManifestRow] = []
    tile_rows: list[ManifestRow] = []
    n = 0
    for c, cls in enumerate(HB_CLASSES):
        for k in range(per_class):
            fmt = "JPEG" if n % 3 == 0 else "PNG"
            data = _encoded(_patch_image(c, size, rng), fmt)
            rel = f"{cls}/patientSMITH_{cls}_{k:03d}.{'jpg' if fmt == 'JPEG' else 'png'}"
            _write(raw_root / rel, data)
            rows.append(_patch_row(data, rel, cls, f"s{n % 6}", fmt, None))
            ingest_rows.append(kept(rows[-1]["id"], kind="patch", stage="ingest", source=rel))
            n += 1
    for t, (x, y) in enumerate([(0, 0), (150, 0), (0, 150), (150, 150)]):
        data = _encoded(_patch_image(t % 2, size, rng), "PNG")
        rel = f"tiles/wsi0/{x}_{y}.png"
        _write(build / rel, data)
        rows.append(_patch_row(data, rel, HB_CLASSES[t % 2], "wsi0", "PNG", (x, y)))
        tile_rows.append(kept(rows[-1]["id"], kind="tile", stage="tile", source=rel))
    fake.patches = [
        {**r, "class": r["class"] or r["label"], "split": _HB_SLIDE_SPLIT[r["slide_id"]]}
        for r in rows
    ]
    _record_hepatobench_manifest(build, ingest_rows, tile_rows, first_id=rows[0]["id"])
    pq.write_table(pa.Table.from_pylist(rows), build / CURATED)
    splits = [
        {"id": r["id"], "group": r["slide_id"], "split": _HB_SLIDE_SPLIT[r["slide_id"]]}
        for r in rows
    ]
    pq.write_table(pa.Table.from_pylist(splits), build / SPLITS)
    slides_phi = pa.table({"name": ["DOE^JOHN"]})
    _write_private(build, raw_root, {f"{PRIVATE}/slides_phi.parquet": slides_phi})
    start_build(build, "hepatobench")
    return fake


def _encoded(img: Any, fmt: str) -> bytes:
    """``img`` saved as ``fmt`` (JPEG at quality 90)."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _write(location: Path, data: bytes) -> None:
    location.parent.mkdir(parents=True, exist_ok=True)
    location.write_bytes(data)


def _patch_row(
    img_bytes: bytes, rel: str, cls: str, slide: str, fmt: str, xy: tuple[int, int] | None
) -> dict[str, Any]:
    """The ``curated.parquet`` row of a patch (``xy`` None) or of a tile at ``xy``: the tile
    stage's rows carry the class as ``label``."""
    import imagehash
    from PIL import Image

    img = Image.open(io.BytesIO(img_bytes))
    pid = stable_id("patch", rel) if xy is None else stable_id("tile", slide, *map(str, xy))
    row = {
        "id": pid, "path": rel, "class": cls, "slide_id": slide,
        "width": img.width, "height": img.height, "mode": img.mode,
        "bytes": len(img_bytes), "md5": hashlib.md5(img_bytes).hexdigest(), "format": fmt,
        "x": None if xy is None else xy[0], "y": None if xy is None else xy[1],
        "phash": str(imagehash.phash(img)), "blur_score": 100.0, "tissue_fraction": 0.9,
        "label": None,
    }  # fmt: skip
    if xy is not None:
        row["class"], row["label"] = None, cls
    return row


def _record_hepatobench_manifest(
    build: Path, ingest_rows: list[ManifestRow], tile_rows: list[ManifestRow], *, first_id: str
) -> None:
    """The ledger, with planted exclusions: a corrupt file, a blurred patch, an exact
    duplicate (of ``first_id``)."""
    excl_ids = [stable_id("patch", f"TUM/bad_{j}.png") for j in range(3)]
    for j, pid in enumerate(excl_ids):
        src = f"TUM/bad_{j}.png"
        if j:
            ingest_rows.append(kept(pid, kind="patch", stage="ingest", source=src))
        else:
            ingest_rows.append(excluded(pid, kind="patch", stage="ingest", reason="corrupt"))
    manifest = Manifest(build)
    manifest.record("ingest", ingest_rows, introduces=True)
    manifest.record("tile", tile_rows, introduces=True)
    manifest.record("qc", [excluded(excl_ids[1], kind="patch", stage="qc", reason="blur")])
    manifest.record(
        "dedup",
        [excluded(excl_ids[2], kind="patch", stage="dedup", reason=f"duplicate_of:{first_id}")],
    )
