"""``read_hepatobench_slides`` on a build whose tables hold keyed slide pseudonyms: the slides
behind HepatoBench are still recognised by their file names (through the private map)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hepatokit.errors import DataFormatError
from hepatokit.pseudonyms import slide_pseudonym, write_slide_pseudonyms
from hepatokit.quant.segment.data import read_hepatobench_slides, split_slides


def _build(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    build = tmp_path / "build"
    key = b"a test key"
    originals = ["wsi-001", "wsi-002", "SMITHJOHN-S21-4455"]
    keyed = write_slide_pseudonyms(build, "ingest", originals, key)
    assert keyed == {o: slide_pseudonym(o, key) for o in originals}
    rows = [keyed[o] for o in originals for _ in range(3)] + [None]
    pq.write_table(pa.table({"slide_id": pa.array(rows, pa.string())}), build / "patches.parquet")
    return build, keyed


def test_pseudonyms_are_read_back_as_the_slides_they_stand_for(tmp_path: Path) -> None:
    build, keyed = _build(tmp_path)
    want = set(keyed)
    assert read_hepatobench_slides(build / "patches.parquet") == want
    assert read_hepatobench_slides(build) == want
    # the pin still works: a HepatoBench slide never becomes a test slide
    split = split_slides([*keyed, "wsi-003", "wsi-004", "wsi-005"], ratios={"train": 1,
                         "test": 1}, hepatobench_slides=read_hepatobench_slides(build))  # fmt: skip
    assert all(split[s] == "train" for s in keyed)


def test_pseudonyms_without_the_private_map_are_refused(tmp_path: Path) -> None:
    build, _ = _build(tmp_path)
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    (alone / "patches.parquet").write_bytes((build / "patches.parquet").read_bytes())
    with pytest.raises(DataFormatError, match="keyed pseudonyms"):
        read_hepatobench_slides(alone / "patches.parquet")
    with pytest.raises(DataFormatError, match="no slide pseudonym map"):
        read_hepatobench_slides(alone)
    # a plain table of slide names is read as before
    (alone / "slides.txt").write_text("wsi-001\nwsi-009.svs\n")
    assert read_hepatobench_slides(alone / "slides.txt") == {"wsi-001", "wsi-009"}
