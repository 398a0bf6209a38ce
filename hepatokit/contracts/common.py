"""Files every build has, whatever its dataset (docs/contracts.md, "Common").

Names are relative to the build folder (``BUILD/``) and use ``/``: ``build / RAW_ROOT`` is the
same path as ``build / "private" / "raw_root.json"``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from hepatokit.atomic import write_json_atomic

__all__ = [
    "BUILD_JSON",
    "CARD_NOTES",
    "DEID_KEY",
    "LEAKAGE_JSON",
    "LEAKAGE_MD",
    "MANIFEST_DIR",
    "PHI_AUDIT_JSON",
    "PHI_AUDIT_MD",
    "PRIVATE",
    "QC_DIR",
    "RAW_ROOT",
    "RECIPE",
    "REPORTS",
    "REPORT_PAGE",
    "REPORT_PIX",
    "REPORT_SCREENSHOTS",
    "SPLITS",
    "SPLITS_MD",
    "SPLITS_PNG",
    "SPLITS_SCHEMA",
    "STATE",
    "TEST_TRUTH",
    "manifest_file",
    "read_raw_root",
    "write_raw_root",
]

# -- folders -------------------------------------------------------------------------------
#: never published, skipped by the PHI audit: raw paths, pseudonym keys, withheld truth
PRIVATE = "private"
#: markdown / PNG / HTML reports of every stage
REPORTS = "reports"
#: one ledger per stage: ``manifest/<stage>.parquet`` (:class:`hepatokit.manifest.Manifest`)
MANIFEST_DIR = "manifest"
#: resume records of the stages (internal)
STATE = ".state"
#: quality-control tables and figures (``mri qc``: ``volume_qc.parquet``; ``patho qc`` figures)
QC_DIR = "qc"

# -- files ---------------------------------------------------------------------------------
#: the dataset kind, written once when a build starts (:mod:`hepatokit.contracts.kind`)
BUILD_JSON = "build.json"
#: a copy of the recipe the build started with (:func:`hepatokit.recipe.build_recipe`)
RECIPE = "recipe.yaml"
#: ``id``, ``group``, ``split`` (sorted by id; metadata ``hepatokit.split``)
SPLITS = "splits.parquet"
#: ``{"raw_root": "<absolute path>"}`` of the raw input
RAW_ROOT = f"{PRIVATE}/raw_root.json"
#: the per-build HMAC key of the pseudonyms
DEID_KEY = f"{PRIVATE}/deid_key"
#: the evaluator's truth (``publish --withhold-test-labels``)
TEST_TRUTH = f"{PRIVATE}/test_truth.csv"
#: the curator's notes merged into the dataset card
CARD_NOTES = f"{PRIVATE}/card_notes.md"
#: PHI audit of the build (``audit phi``); publish refuses a build whose audit failed
PHI_AUDIT_MD = f"{REPORTS}/phi_audit.md"
#: the same audit as JSON (its ``passed`` flag is what publish reads)
PHI_AUDIT_JSON = f"{REPORTS}/phi_audit.json"
#: the curation report page (``hepatokit report BUILD``, also written by ``hepatokit build``)
REPORT_PAGE = f"{REPORTS}/index.html"
#: its thumbnails, ``reports/pix/<sha256 of content key>.png``, made once per content
REPORT_PIX = f"{REPORTS}/pix"
#: screenshots the browser test of the report leaves, ``reports/screenshots/<section>.png``
REPORT_SCREENSHOTS = f"{REPORTS}/screenshots"
#: split report (``hepatokit split``)
SPLITS_MD = f"{REPORTS}/splits.md"
#: split report figure
SPLITS_PNG = f"{REPORTS}/splits.png"
#: leakage audit (``hepatokit audit leakage``)
LEAKAGE_MD = f"{REPORTS}/leakage.md"
#: leakage audit as JSON
LEAKAGE_JSON = f"{REPORTS}/leakage.json"


def manifest_file(stage: str) -> str:
    """``manifest/<stage>.parquet``: the ledger of one stage."""
    return f"{MANIFEST_DIR}/{stage}.parquet"


# -- schemas -------------------------------------------------------------------------------
SPLITS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("group", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
    ]
)


# -- small readers / writers ---------------------------------------------------------------
def write_raw_root(build: Path, root: Path) -> None:
    """Record the absolute raw root in ``BUILD/private/raw_root.json`` (never published)."""
    write_json_atomic(Path(build) / RAW_ROOT, {"raw_root": str(root.resolve())})


def read_raw_root(build: Path) -> Path | None:
    """The raw root recorded by the introducing stage, or None."""
    path = Path(build) / RAW_ROOT
    if not path.is_file():
        return None
    return Path(json.loads(path.read_text())["raw_root"])
