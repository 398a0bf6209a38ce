"""Fixtures of the LiFS curation tests: one curated build of the ``mri_raw`` studies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

TEST_KEY = "hepatokit-tests-secret-key-0123456789"


@dataclass
class CuratedLifs:
    """A build of ``mri_raw`` (read-only for tests: copy before modifying)."""

    raw: Path  # mri_raw/dicom
    root: Path  # mri_raw
    build: Path
    key_file: Path
    truth: dict[str, Any]
    summary: Any

    def table(self, name: str) -> pd.DataFrame:
        """A build table with missing values as None (not NaN)."""
        df = pd.read_parquet(self.build / name).astype(object)
        return df.where(df.notna(), None)

    def raw_path_of(self) -> dict[str, str]:
        """item_id → raw path of every kept image (only in private/: names carry PHI)."""
        phi = pd.read_parquet(self.build / "private" / "instances_phi.parquet")
        return dict(zip(phi["item_id"], phi["path"], strict=True))

    def series_of_unit(self) -> dict[str, dict[str, Any]]:
        """unit_id → the series.parquet row holding the unit's first file."""
        path_of = self.raw_path_of()
        by_path = {}
        for row in self.table("series.parquet").to_dict("records"):
            for item in row["item_ids"]:
                by_path[path_of[item]] = row
        return {u["unit_id"]: by_path[u["files"][0]] for u in self.truth["units"]}

    def subject_of_patient(self) -> dict[str, str]:
        p = pd.read_parquet(self.build / "private" / "pseudonyms.parquet")
        return dict(zip(p["original_patient_id"], p["subject_id"], strict=True))


@pytest.fixture(scope="session")
def deid_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("deid_key") / "key.txt"
    path.write_text(TEST_KEY)
    return path


@pytest.fixture(scope="session")
def curated_lifs(
    mri_raw: Path, deid_key_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> CuratedLifs:
    """index → series → convert → qc → labels over ``mri_raw`` with 2 workers."""
    from hepatokit.pipelines import build_lifs

    build = tmp_path_factory.mktemp("lifs_build") / "build"
    summary = build_lifs(
        recipe="lifs",
        raw=mri_raw / "dicom",
        labels=mri_raw / "clinical_labels.csv",
        out=build,
        workers=2,
        key_file=deid_key_file,
    )
    truth = json.loads((mri_raw / "truth.json").read_text())
    return CuratedLifs(mri_raw / "dicom", mri_raw, build, deid_key_file, truth, summary)


@pytest.fixture(scope="session")
def raw_phi_values(curated_lifs: CuratedLifs) -> dict[str, str]:
    """PHI values of the raw headers of ``mri_raw`` (collected once)."""
    from hepatokit.curation.mri.deid.phi_audit import collect_phi_values

    return collect_phi_values(curated_lifs.raw, workers=2)
