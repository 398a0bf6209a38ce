"""The curation report page of a HepatoBench build made by ``build_dataset`` from the
planted synthetic patches: funnel numbers = the manifest's, every image on disk, galleries
as the build's tables say, thumbnails cached by content, no path or network reference."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image
from typer.testing import CliRunner

from tests.report.page_checks import manifest_truth, parse_page


def test_build_writes_the_page_with_the_manifests_numbers(hb_build: Path) -> None:
    page = hb_build / "reports" / "index.html"
    parsed = parse_page(page)
    assert parsed.funnel == manifest_truth(hb_build)
    assert parsed.funnel["excluded-total"] > 0
    assert {"funnel", "qc", "dedup", "counts", "sample", "splits", "reports"} <= set(
        parsed.sections
    )
    assert not parsed.external  # nothing from the network
    for src in parsed.images:
        assert not src.startswith(("/", "file:")), src
        with Image.open(page.parent / src) as img:
            assert max(img.size) <= 128 and not img.info.get("exif")


def test_galleries_follow_the_build_tables(hb_build: Path) -> None:
    html = (hb_build / "reports" / "index.html").read_text()
    qc = pq.read_table(hb_build / "qc.parquet").to_pylist()
    removed = Counter(r["qc_reason"] for r in qc if r["qc_reason"])
    assert removed  # the planted blur / background / stain / pen patches
    for reason, n in removed.items():
        assert f'id="qc-{reason}"><h3>{reason}: {n} removed' in html
    blur = sorted((r for r in qc if r["qc_reason"] == "blur"), key=lambda r: r["sharpness"])
    if blur:  # worst (least sharp) first
        start = html.index('id="qc-blur"')
        assert html.index(blur[0]["id"][:8], start) < html.index(blur[-1]["id"][:8], start)
    clusters = pq.read_table(hb_build / "clusters.parquet").to_pylist()
    assert html.count('class="cluster"') == min(24, len({c["cluster_id"] for c in clusters}))
    raw_root = json.loads((hb_build / "private" / "raw_root.json").read_text())["raw_root"]
    assert raw_root not in html and str(hb_build) not in html


def test_thumbnails_are_cached_by_content(hb_build: Path, tmp_path: Path) -> None:
    from hepatokit.cli import app

    res = CliRunner().invoke(app, ["report", str(hb_build)])
    assert res.exit_code == 0, res.output
    assert "0 thumbnails made" in res.output.replace("\n", " ")
    thumbs = sorted((hb_build / "reports" / "pix").glob("*.png"))
    srcs = parse_page(hb_build / "reports" / "index.html").images
    assert {f"pix/{p.name}" for p in thumbs} == set(srcs)  # no stale thumbnail left
    res = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert res.exit_code != 0 and "not a build folder" in " ".join(res.output.split())
