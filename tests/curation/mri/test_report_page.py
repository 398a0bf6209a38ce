"""The report page of the curated LiFS build: mid-slice strips of every volume, the
missing-modality matrix as subjects.parquet says, the manifest's funnel, no PHI."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import pyarrow.parquet as pq
from PIL import Image

from tests.report.page_checks import manifest_truth, parse_page


def test_lifs_report_page(curated_lifs, raw_phi_values, tmp_path: Path) -> None:
    from hepatokit.report import build_report

    build = tmp_path / "build"  # a copy: the session's build is read-only for tests
    shutil.copytree(curated_lifs.build, build, ignore=shutil.ignore_patterns("private"))
    shutil.copytree(curated_lifs.build / "private", build / "private")
    result = build_report(build=build)
    page = build / "reports" / "index.html"
    parsed = parse_page(page)
    assert parsed.funnel == manifest_truth(build)
    assert {"funnel", "volumes", "missing", "series", "volume-qc", "splits"} <= set(parsed.sections)
    html = page.read_text()
    subjects = pq.read_table(build / "subjects.parquet").to_pylist()
    seqs = ["T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4"]
    volumes = [(s, q) for s in subjects for q in seqs if s[f"volume_{q}"]]
    assert volumes
    # one axial thumbnail per volume (+ coronal), each shaped like the volume's RAS slice
    assert html.count(">axial</figcaption>") == len(volumes)
    subj, seq = volumes[0]
    img = nib.as_closest_canonical(nib.load(build / subj[f"volume_{seq}"]))
    x, y = img.shape[:2]
    zx, zy = (float(v) for v in img.header.get_zooms()[:2])
    start = html.index(f'id="sub-{subj["subject_id"]}"')
    src = html[html.index('<img src="', start) + 10 :].split('"', 1)[0]
    with Image.open(page.parent / src) as thumb:
        w, h = thumb.size
    assert abs(w / h - (x * zx) / (y * zy)) < 0.05
    # the missing-modality matrix counts what subjects.parquet lacks
    matrix = html[html.index('class="matrix"') :]
    assert matrix.count('class="absent"') == sum(
        1 for s in subjects for q in seqs if not s[f"volume_{q}"]
    )
    assert f"sub-{subj['subject_id']}" in html and subj["vendor"] in html
    for value in raw_phi_values:  # no identifying value of the raw headers
        if len(value) >= 4:
            assert value not in html, value
    assert str(curated_lifs.raw) not in html and len(result.images) >= len(volumes)
