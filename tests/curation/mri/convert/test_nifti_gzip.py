"""Deterministic gzip of curated volumes: ISA-L for fast levels, zlib for the rest."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from hepatokit.curation.mri.deid.nifti_scrub import gzip_backend, gzip_deterministic


@pytest.mark.parametrize("level", [0, 1, 3, 6, 9])
def test_gzip_is_deterministic_standard_and_anonymous(level: int) -> None:
    rng = np.random.default_rng(level)
    data = (rng.normal(100, 20, size=200_000).astype(np.int16)).tobytes() + bytes(50_000)
    first, second = gzip_deterministic(data, level=level), gzip_deterministic(data, level=level)
    assert first == second
    assert gzip.decompress(first) == data
    assert first[:3] == b"\x1f\x8b\x08"
    flags, mtime = first[3], int.from_bytes(first[4:8], "little")
    assert mtime == 0 and not flags & 0x08  # no time stamp, no file name
    if level >= 1:
        assert len(first) < len(data)


def test_backend_names_the_compressor() -> None:
    assert gzip_backend(1).startswith("isal-") and gzip_backend(6).startswith("zlib-")
    assert gzip_backend(1) != gzip_backend(2)
