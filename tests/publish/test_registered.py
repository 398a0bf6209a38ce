"""publish with ``publish.registered``: the registration table's transforms become columns."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from hepatokit.errors import BuildStateError
from hepatokit.publish import publish_build

SEQS = ("T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4")


def _rows(hf, config):
    files = sorted((hf / "data" / config).glob("*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def _registered_build(fake_lifs_build, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(fake_lifs_build.build, build)
    recipe = yaml.safe_load((build / "recipe.yaml").read_text())
    recipe["publish"]["registered"] = True
    (build / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    return build


def test_transforms_become_columns(fake_lifs_build, tmp_path):
    build = _registered_build(fake_lifs_build, tmp_path)
    with pytest.raises(BuildStateError, match="mri register"):
        publish_build(build=build, out=tmp_path / "hf0", workers=1)
    rng = np.random.default_rng(4)
    planted, rows = {}, []
    for s in fake_lifs_build.subjects:
        present = [q for q in SEQS if s[f"volume_{q}"]]
        ref = next(q for q in ("GED4", "GED3", "T1W", *SEQS) if q in present)
        for q in present:
            m = np.eye(4)
            if q != ref:
                m[:3, 3] = rng.uniform(-5, 5, 3)
            planted[(s["subject_id"], q)] = m.ravel().tolist()
            rows.append(
                {
                    "subject_id": s["subject_id"], "sequence": q, "reference": ref,
                    "transform": "rigid", "status": "reference" if q == ref else "ok",
                    "matrix_ras": planted[(s["subject_id"], q)],
                }
            )  # fmt: skip
        planted[(s["subject_id"], "ref")] = ref
    (build / "registration").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), build / "registration" / "registration.parquet")
    out = tmp_path / "hf"
    publish_build(build=build, out=out, workers=1)
    published = _rows(out, "contrast")
    assert len(published) == len(fake_lifs_build.subjects)
    for row in published:
        sid = row["subject_id"]
        assert row["registration_reference"] == planted[(sid, "ref")]
        for q in SEQS:
            if row[q] is None:
                assert row[f"transform_{q}"] is None
            else:
                assert row[f"transform_{q}"] == planted[(sid, q)]
    card = (out / "README.md").read_text()
    assert "Registration: every sequence was registered (rigid" in card
    assert f"{len(rows) - len(fake_lifs_build.subjects)} of" in card
