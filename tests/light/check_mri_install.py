"""Run by ``make test`` with the MRI venv (``pip install '.[mri]'``), not by pytest.

The ``[mri]`` extra alone (pydicom, dcm2niix, nibabel, no torch) indexes, recognises and
converts DICOM: the generator's studies (3 patients, planted truth in ``truth.json``) go
through ``index_dicom`` → ``recognise_series`` → ``convert_volumes`` and every planted
sequence comes out as a NIfTI volume whose grid matches the DICOM it came from.
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
from collections import Counter
from pathlib import Path

import hepatokit as hk

for heavy in ("torch", "monai", "openslide", "distributed"):
    assert importlib.util.find_spec(heavy) is None, f"{heavy} is installed in the [mri] venv"

import nibabel as nib  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    raw, build = Path(tmp) / "raw", Path(tmp) / "build"
    hk.generate_mri_studies(raw, patients=3, seed=7, workers=1)
    truth = json.loads((raw / "truth.json").read_text())
    planted = Counter(s for p in truth["patients"] for s in p["sequences_present"])

    hk.index_dicom(raw=raw / "dicom", out=build, demo_key=True, workers=1)
    hk.recognise_series(build=build)
    summary = hk.convert_volumes(build=build, workers=1)

    volumes = pq.read_table(build / "volumes.parquet").to_pandas()
    ok = volumes[volumes["status"] == "ok"]
    got = Counter(ok["sequence"])
    assert got == planted, f"converted {dict(got)} != planted {dict(planted)}"
    for rel in ok["path"]:
        img = nib.load(build / rel)
        # the generator's matrix: 64 in-plane for anatomy, 3/4 of it (48) for DWI
        assert img.ndim in (3, 4) and ({64, 48} & set(img.shape[:3])), (rel, img.shape)
    print(f"[mri] extra: converted {sum(got.values())} volumes = planted {dict(planted)}")
