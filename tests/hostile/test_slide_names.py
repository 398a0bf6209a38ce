"""Defect 11 (histology): whole-slide file names never reach the console, the ledger or the
build's tables (only ``private/``)."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import tifffile

from tests.curation.patho.helpers import he_patch
from tests.hostile.helpers import run_cli

NAMES = ("SMITHJOHN-S21-4455", "DOEJANE-S22-0001")


def test_slide_file_names_stay_private(tmp_path):
    slides = tmp_path / "slides"
    slides.mkdir()
    img = np.tile(he_patch(1, size=256), (4, 4, 1))
    img[:, :300] = 245  # some glass
    tifffile.imwrite(slides / f"{NAMES[0]}.tif", img, tile=(256, 256), photometric="rgb")
    (slides / f"{NAMES[1]}.svs").write_bytes(b"II*\x00" + bytes(100))  # corrupt
    build = tmp_path / "build"
    code, out = run_cli("--workers", "1", "patho", "tile", str(slides), "--out", str(build),
                        "--mpp", "0.5")  # fmt: skip
    assert code == 0 and "Traceback" not in out, out
    assert "1 tiled" in out and "corrupt=1" in out
    for name in NAMES:
        assert name not in out
        for path in build.rglob("*"):
            if path.is_file() and "private" not in path.relative_to(build).parts:
                assert name.encode() not in path.read_bytes(), path
    private = pq.read_table(build / "private" / "slides.parquet").column("file").to_pylist()
    assert sorted(private) == sorted([f"{NAMES[0]}.tif", f"{NAMES[1]}.svs"])
