"""Small builds shaped exactly like docs/contracts.md, for the split and audit tests.

The curation stages write these files in real builds; the tests here construct them directly
(with known ground truth) so the split stage is tested on its contract alone.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path

import imagehash
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from hepatokit.contracts.hepatobench import HASH_SCHEMA
from hepatokit.contracts.lifs import subjects_schema
from hepatokit.manifest import stable_id

SEQUENCES = ["T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4"]
#: training-like counts per vendor and stage, plus an OOD vendor
LIFS_COUNTS = {
    "Vendor A": [22, 10, 5, 15],
    "Vendor B": [17, 16, 8, 51],
    "Vendor C": [8, 6, 6, 8],
}
CLASSES = ["TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE"]


def lifs_rows(counts: dict[str, list[int]] = LIFS_COUNTS, *, seed: int = 0) -> list[dict]:
    """Rows of a subjects.parquet (contract columns), subject ids as 16-hex pseudonyms."""
    rng = random.Random(seed)
    rows = []
    for v_index, (vendor, per_stage) in enumerate(counts.items()):
        for k, n in enumerate(per_stage):
            for i in range(n):
                sid = stable_id("subject", vendor, str(k), str(i), str(seed))
                stage = f"S{k + 1}"
                present = [s for s in SEQUENCES if rng.random() > 0.1]
                row = {
                    "subject_id": sid,
                    "center": f"Center {v_index + 1}",
                    "vendor": vendor,
                    "scanner": f"{vendor[-1]}1",
                    "field_strength": 3.0 if vendor != "Vendor B" else 1.5,
                    "stage": stage,
                    "cirrhosis": int(stage == "S4"),
                    "significant_fibrosis": int(stage != "S1"),
                    "sequences": present,
                    "mask_GED4": None,
                }
                for s in SEQUENCES:
                    row[f"volume_{s}"] = (
                        f"volumes/sub-{sid}/sub-{sid}_{s}.nii.gz" if s in present else None
                    )
                rows.append(row)
    return rows


def write_lifs_build(build: Path, rows: list[dict] | None = None) -> list[dict]:
    """``BUILD/subjects.parquet`` + ``BUILD/private/pseudonyms.parquet``."""
    rows = lifs_rows() if rows is None else rows
    schema = subjects_schema(tuple(SEQUENCES))
    build.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), build / "subjects.parquet")
    (build / "private").mkdir(exist_ok=True)
    pseudo = [
        {"original_patient_id": f"PAT{n:04d}", "subject_id": r["subject_id"]}
        for n, r in enumerate(rows)
    ]
    pq.write_table(pa.Table.from_pylist(pseudo), build / "private" / "pseudonyms.parquet")
    return rows


def _texture(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A smooth random RGB texture (low frequencies dominate, so pHash is stable)."""
    coarse = rng.random((8, 8, 3))
    img = Image.fromarray((coarse * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
    return np.asarray(img).astype(np.float64)


def png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def patch_row(root: Path, rel: str, data: bytes, cls: str, slide: str) -> dict:
    """Write a patch file under ``root`` and return its curated.parquet row."""
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(data)
    with Image.open(io.BytesIO(data)) as im:
        phash = str(imagehash.phash(im.convert("RGB")))
        w, h = im.size
    return {
        "id": stable_id("patch", rel),
        "path": rel,
        "class": cls,
        "slide_id": slide,
        "width": w,
        "height": h,
        "mode": "RGB",
        "bytes": len(data),
        "md5": hashlib.md5(data).hexdigest(),
        "format": "PNG",
        "phash": phash,
    }


def write_patho_build(
    build: Path, raw: Path, *, slides: int = 20, per_slide: int = 4, seed: int = 0
) -> list[dict]:
    """Raw class folders + ``curated.parquet`` + ``hashes.parquet`` + ``private/raw_root.json``."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(slides):
        for p in range(per_slide):
            cls = CLASSES[(s + (p % 2)) % len(CLASSES)]
            rel = f"{cls}/slide-{s:03d}_{p:02d}.png"
            rows.append(patch_row(raw, rel, png_bytes(_texture(rng)), cls, f"slide-{s:03d}"))
    write_patho_tables(build, raw, rows)
    return rows


def write_patho_tables(build: Path, raw: Path, rows: list[dict]) -> None:
    build.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), build / "curated.parquet")
    hashes = [
        {"id": r["id"], "md5": r["md5"], "pixel_sha256": None, "phash": r["phash"]} for r in rows
    ]
    # as ingest writes it: every column of the contract (here no pixel hash, no dhash)
    pq.write_table(pa.Table.from_pylist(hashes, schema=HASH_SCHEMA), build / "hashes.parquet")
    (build / "private").mkdir(exist_ok=True)
    (build / "private" / "raw_root.json").write_text(json.dumps({"raw_root": str(raw)}))
