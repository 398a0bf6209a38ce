"""The leakage audit on real H&E (``tests/data/real_he``): near duplicates across splits are
found, distinct real fields are not mistaken for duplicates."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from hepatokit.splits import audit_leakage, split_build
from tests.real_he import real_fields
from tests.splits.tables import CLASSES, patch_row, png_bytes, write_patho_tables


def test_near_duplicate_of_a_real_train_patch_in_test_is_found_and_nothing_else(tmp_path):
    build, raw = tmp_path / "build", tmp_path / "raw"
    fields = [f for f in real_fields() if f.clean][:72]
    rows = []
    for i, f in enumerate(fields):  # 12 "slides" of 6 real fields each
        slide = f"slide-{i // 6:02d}"
        cls = CLASSES[(i // 6) % len(CLASSES)]
        rows.append(patch_row(raw, f"{cls}/{slide}_{i:03d}.png", png_bytes(f.rgb), cls, slide))
    write_patho_tables(build, raw, rows)
    split_build(build=build, recipe="hepatobench")
    report = audit_leakage(build=build)
    assert report.ok, report.findings  # 72 distinct real fields: no false near duplicate

    table = pq.read_table(build / "splits.parquet", columns=["id", "split"])
    split = dict(zip(table["id"].to_pylist(), table["split"].to_pylist(), strict=True))
    source = next(r for r in rows if split[r["id"]] == "train")
    with Image.open(raw / source["path"]) as im:
        rgb = np.asarray(im.convert("RGB"))
    buf = io.BytesIO()  # re-scanned / re-saved: JPEG q85, slightly brighter
    Image.fromarray(np.clip(rgb.astype(int) + 5, 0, 255).astype(np.uint8)).save(
        buf, "JPEG", quality=85
    )
    row = patch_row(raw, "TUM/other-slide_000.jpg", buf.getvalue(), "TUM", "other-slide")
    write_patho_tables(build, raw, [*rows, row])
    splits = pq.read_table(build / "splits.parquet").to_pylist()
    splits.append({"id": row["id"], "group": "other-slide", "split": "test"})
    pq.write_table(pa.Table.from_pylist(splits), build / "splits.parquet")
    report = audit_leakage(build=build)
    near = [f for f in report.findings if f.kind == "near_duplicate"]
    assert [set(f.items) for f in near] == [{source["id"], row["id"]}]
