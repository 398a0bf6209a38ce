"""A damaged JPEG 2000 slice that a decoder still reads is excluded at index (``corrupt``,
naming what is wrong with the codestream), tested on pydicom's real JPEG 2000 files."""

from __future__ import annotations

import struct

import numpy as np
import pydicom
import pydicom.data
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import generate_uid

from hepatokit.curation.mri.dicom.j2k import codestream_problem
from hepatokit.curation.mri.dicom.tags import read_header
from tests.hostile.helpers import assert_balanced, run_cli

#: valid JPEG 2000 files shipped with pydicom (one wraps its codestream in a JP2 file, one
#: pads its fragment with FF, one is RGB)
GOOD = ("MR_small_jp2klossless.dcm", "JPEG2000.dcm", "693_J2KI.dcm", "examples_jpeg2k.dcm",
        "SC_rgb_gdcm_KY.dcm", "GDCMJ2K_TextGBR.dcm", "J2K_pixelrep_mismatch.dcm")  # fmt: skip


def _testfile(name):
    path = pydicom.data.get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is not in this pydicom")
    return path


def _codestream(ds):
    return next(generate_frames(ds.PixelData, number_of_frames=1))


def _damaged(cs: bytes) -> dict[str, bytes]:
    """Planted damage, each kind a decoder may not notice."""
    sod = cs.index(b"\xff\x93") + 2
    sot = cs.index(b"\xff\x90")
    out = {}
    out["cut_short"] = cs[: len(cs) * 2 // 3]
    psot = struct.unpack_from(">I", cs, sot + 6)[0]
    out["tile_part_length"] = cs[: sot + 6] + struct.pack(">I", psot + 40) + cs[sot + 10 :]
    mid = (sod + len(cs)) // 2
    out["marker_in_data"] = cs[:mid] + b"\xff\xa5" + cs[mid + 2 :]
    out["siz_width"] = cs[:11] + bytes([cs[11] ^ 0x01]) + cs[12:]  # Xsiz's low byte
    spliced = cs[:mid] + bytes(range(255, -1, -1)) + cs[mid + 256 :]  # foreign bytes, same length
    out["spliced"] = spliced
    return out


@pytest.mark.parametrize("name", GOOD)
def test_real_jpeg2000_files_pass_the_codestream_check(name):
    path = _testfile(name)
    assert read_header(path).reason is None


def test_a_file_that_no_decoder_reads_is_flagged():
    path = _testfile("JPEG2000-embedded-sequence-delimiter.dcm")
    record = read_header(path)
    assert record.reason == "corrupt" and "JPEG 2000 frame 1 of 1: SIZ says" in record.detail


def test_planted_codestream_damage_is_excluded_at_index(tmp_path):
    src = pydicom.dcmread(_testfile("MR_small_jp2klossless.dcm"))
    cs = _codestream(src)
    args = {"rows": src.Rows, "cols": src.Columns, "bits_allocated": src.BitsAllocated}
    assert codestream_problem(cs, **args) is None
    raw = tmp_path / "raw" / "P1"
    raw.mkdir(parents=True)
    src.save_as(raw / "clean.dcm")
    damaged = _damaged(cs)
    for kind, data in damaged.items():
        assert codestream_problem(data, **args), kind
        ds = pydicom.dcmread(_testfile("MR_small_jp2klossless.dcm"))
        ds.SOPInstanceUID = generate_uid(entropy_srcs=[kind])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PixelData = encapsulate([data + b"\x00" * (len(data) % 2)])
        ds.save_as(raw / f"{kind}.dcm")
    build = tmp_path / "build"
    code, out = run_cli("--workers", "1", "mri", "index", str(tmp_path / "raw"), "--out",
                        str(build), "--demo-key", timeout=120)  # fmt: skip
    assert code == 0 and "Traceback" not in out, out
    from hepatokit.curation.mri.index.stage import raw_sources
    from tests.hostile.helpers import manifest_rows

    raw_of = raw_sources(build)
    rows = {raw_of[r["item_id"]]: r for r in manifest_rows(build)}
    assert rows["P1/clean.dcm"]["outcome"] == "kept"
    for kind in damaged:
        row = rows[f"P1/{kind}.dcm"]
        assert row["reason"] == "corrupt", (kind, row)
        assert row["detail"].startswith("JPEG 2000 frame 1 of 1: "), (kind, row)
    assert_balanced(build)


def test_damage_inside_the_entropy_coded_data_is_what_the_check_cannot_see():
    """The limit, stated by measurement: single bit flips in the packet data mostly keep the
    codestream's frame intact (no checksum in JPEG 2000); volume QC is the net for those."""
    cs = _codestream(pydicom.dcmread(_testfile("MR_small_jp2klossless.dcm")))
    sod = cs.index(b"\xff\x93") + 2
    rng = np.random.default_rng(0)
    caught = 0
    for _ in range(100):
        b = bytearray(cs)
        k = int(rng.integers(sod, len(cs) - 2))
        b[k] ^= 1 << int(rng.integers(0, 8))
        caught += codestream_problem(bytes(b), rows=64, cols=64, bits_allocated=16) is not None
    assert caught < 20  # a flip is caught only when it makes a marker code
