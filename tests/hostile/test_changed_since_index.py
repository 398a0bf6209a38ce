"""Defect 6: raw files changed after ``mri index`` are not converted from what is there
now: the series is excluded as ``changed_since_index``, the rest converts as before."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

from hepatokit.curation.mri import convert_volumes, index_dicom, recognise_series
from hepatokit.curation.mri.index.stage import raw_sources
from tests.hostile.helpers import assert_balanced, manifest_rows


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    from hepatokit.synthetic.mri import generate_mri_studies

    base = tmp_path_factory.mktemp("changed")
    generate_mri_studies(base / "gen", patients=2, seed=3, workers=1)
    raw = base / "gen" / "dicom"
    build = base / "build"
    index_dicom(raw=raw, out=build, demo_key=True, workers=1)
    recognise_series(build=build)
    return raw, build


def test_replaced_slice_is_excluded_not_converted(indexed, tmp_path):
    raw0, build0 = indexed
    raw, build = tmp_path / "raw", tmp_path / "build"
    shutil.copytree(raw0, raw, symlinks=True)
    shutil.copytree(build0, build)
    # the index recorded this raw root: point it at the copy
    (build / "private" / "raw_root.json").write_text(f'{{"raw_root": "{raw}"}}')
    series = pd.read_parquet(build / "series.parquet")
    path_of = raw_sources(build)  # raw paths live in private/ only
    labelled = series[series["label"].notna()].sort_values("series_id")
    victim = labelled.iloc[0]
    files = [path_of[i] for i in victim["item_ids"]]
    # a slice replaced by another of the same series (same size: only the mtime tells)
    shutil.copy(raw / files[1], raw / files[0])
    os.utime(raw / files[0], ns=(1_000_000_000, 1_000_000_000))
    # and a file of another series removed
    other = labelled.iloc[1]
    (raw / path_of[other["item_ids"][0]]).unlink()
    summary = convert_volumes(build=build, workers=1)
    vols = pd.read_parquet(build / "volumes.parquet")
    status = dict(zip(vols["series_id"], vols["status"], strict=True))
    assert status[victim["series_id"]] == "changed_since_index"
    assert status[other["series_id"]] == "changed_since_index"
    assert sum(s == "ok" for s in status.values()) == len(labelled) - 2
    assert summary.failed == 2
    rows = {r["item_id"]: r for r in manifest_rows(build)}
    for item in [*victim["item_ids"], *other["item_ids"]]:
        assert rows[item]["reason"] == "changed_since_index"
        assert "re-run `hepatokit mri index`" in rows[item]["detail"]
    assert_balanced(build)
