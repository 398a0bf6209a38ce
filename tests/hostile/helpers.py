"""Hostile raw trees for the tests of this folder: small, made here, with planted truth."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from tests.curation.patho.helpers import he_patch

CLASSES = ["TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE"]


def png_bytes(
    arr: np.ndarray, text: dict[str, str] | None = None, itxt: str | None = None
) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    if itxt:
        info.add_itxt("Description", itxt)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def jpeg_bytes(arr: np.ndarray, *, description: str = "", comment: str = "") -> bytes:
    exif = Image.Exif()
    if description:
        exif[0x010E] = description  # ImageDescription
        exif[0x013B] = description  # Artist
    buf = io.BytesIO()
    Image.fromarray(arr).save(
        buf, format="JPEG", quality=92, exif=exif.tobytes(), comment=comment.encode("utf-8")
    )
    return buf.getvalue()


def tiff_bytes(arr: np.ndarray, *, description: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="TIFF", description=description)
    return buf.getvalue()


def patch_tree(root: Path, n_slides: int = 10, per_slide: int = 3, seed: int = 0) -> list[str]:
    """A class-folder tree of clean PNG patches: ``ROOT/<CLASS>/slideNN_<k>.png``; the
    relative paths written."""
    rels = []
    for s in range(n_slides):
        cls = CLASSES[s % 3]
        for k in range(per_slide):
            rel = f"{cls}/slide{s:02d}_{k}.png"
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png_bytes(he_patch(seed * 1000 + s * 10 + k)))
            rels.append(rel)
    return rels


def run_cli(*args: str, timeout: float = 120, cwd: Path | None = None) -> tuple[int, str]:
    """``hepatokit ARGS`` in a fresh process, bounded by ``timeout`` seconds (a hang fails
    the test instead of stalling the suite); exit code and output."""
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "from hepatokit.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "250"},
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def manifest_rows(build: Path) -> list[dict]:
    """Rows of the build's final manifest (source, status, reason, detail). A histology
    ledger names each raw file by a neutral name (``stored_source``); ``source`` is its raw
    path from ``BUILD/private/patch_sources.parquet``, for the tests to find it."""
    from hepatokit.contracts.items import raw_patch_paths
    from hepatokit.manifest import Manifest

    raw = raw_patch_paths(build)
    rows = Manifest(build).final().to_pylist()
    for r in rows:
        r["stored_source"] = r["source"]
        if r["item_id"] in raw:
            assert r["source"] != raw[r["item_id"]] or not raw[r["item_id"]], r
            r["source"] = raw[r["item_id"]]
    return rows


def assert_balanced(build: Path) -> dict:
    """``inputs == kept + excluded`` checked by the manifest itself; its counts."""
    from hepatokit.manifest import Manifest

    summary = Manifest(build).check().as_dict()
    assert summary["inputs"] == summary["kept"] + summary["excluded"], summary
    return summary
