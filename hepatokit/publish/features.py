"""The ``datasets.Features`` of each published dataset (column names, types, label order)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import Features

__all__ = [
    "CIRRHOSIS_NAMES",
    "LIFS_STAGES",
    "SIGNIFICANT_FIBROSIS_NAMES",
    "hepatobench_features",
    "lifs_features",
    "meta_column",
]

#: Scheuer stages, in label-index order
LIFS_STAGES = ("S1", "S2", "S3", "S4")
#: ``cirrhosis``: index 1 (positive) = S4
CIRRHOSIS_NAMES = ("S1-S3", "S4")
#: ``significant_fibrosis``: index 1 (positive) = S2–S4
SIGNIFICANT_FIBROSIS_NAMES = ("S1", "S2-S4")


def meta_column(sequence: str) -> str:
    """Name of the column holding a sequence's sidecar metadata (JSON text)."""
    return f"{sequence}_meta"


def lifs_features(
    sequences: Sequence[str],
    *,
    with_mask: bool,
    stages: Sequence[str] = LIFS_STAGES,
    registered: bool = False,
) -> Features:
    """Features of one LiFS config: one row per subject.

    Columns: ``subject_id``, ``center``, ``vendor``, ``scanner``, ``field_strength`` (T),
    ``stage`` / ``cirrhosis`` / ``significant_fibrosis`` (ClassLabel, null when unlabelled or
    withheld), ``sequences`` (every sequence present for the subject, recipe order, also
    those of other configs), then per sequence a nullable ``Nifti`` column with the
    embedded ``.nii.gz`` bytes and ``<SEQ>_meta`` (the curated sidecar as sorted JSON, null
    when the sequence is missing); ``mask_GED4`` if ``with_mask``. With ``registered``:
    ``registration_reference`` and per sequence ``transform_<SEQ>`` (16 float64, the 4×4
    world RAS matrix reference point → sequence point, row-major).
    """
    from datasets import ClassLabel, Features, List, Nifti, Value

    cols: dict[str, object] = {
        "subject_id": Value("string"),
        "center": Value("string"),
        "vendor": Value("string"),
        "scanner": Value("string"),
        "field_strength": Value("float64"),
        "stage": ClassLabel(names=list(stages)),
        "cirrhosis": ClassLabel(names=list(CIRRHOSIS_NAMES)),
        "significant_fibrosis": ClassLabel(names=list(SIGNIFICANT_FIBROSIS_NAMES)),
        "sequences": List(Value("string")),
    }
    if registered:
        cols["registration_reference"] = Value("string")
    for seq in sequences:
        cols[seq] = Nifti()
        cols[meta_column(seq)] = Value("string")
        if registered:
            cols[f"transform_{seq}"] = List(Value("float64"))
    if with_mask:
        cols["mask_GED4"] = Nifti()
    return Features(cols)


def hepatobench_features(classes: Sequence[str], *, tiled: bool) -> Features:
    """Features of HepatoBench: one row per patch.

    ``image`` (``Image``, original encoded bytes), ``label`` (ClassLabel in the recipe's
    order), ``slide_id``, ``x`` / ``y`` (level-0 pixel coordinates of a tile, if ``tiled``),
    ``width`` / ``height`` (px), ``md5`` (of the image bytes), ``phash`` (16 hex chars).
    """
    from datasets import ClassLabel, Features, Image, Value

    cols: dict[str, object] = {
        "id": Value("string"),
        "image": Image(),
        "label": ClassLabel(names=list(classes)),
        "slide_id": Value("string"),
    }
    if tiled:
        cols["x"] = Value("int64")
        cols["y"] = Value("int64")
    cols.update(
        {
            "width": Value("int32"),
            "height": Value("int32"),
            "md5": Value("string"),
            "phash": Value("string"),
        }
    )
    return Features(cols)
