"""The schema of ``BUILD/subjects.parquet``, LiFS's curated table (docs/contracts.md).

One definition for both producers: the DICOM path (``mri labels``) and the import of the
released folder layout (``mri import-release``, which adds ``release_split``).
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["SEQUENCES", "SUBJECTS_SCHEMA", "subjects_schema"]

#: the LiFS sequences, in the recipe's (and the published columns') order
SEQUENCES = ("T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4")


def subjects_schema(sequences: tuple[str, ...] = SEQUENCES, *, release: bool = False) -> pa.Schema:
    """One row per subject: domain columns, labels, sequences present, one path per sequence.

    ``release=True`` adds ``release_split`` (train / validation / test of the released data).
    """
    fields = [
        ("subject_id", pa.string()),
        ("center", pa.string()),
        ("vendor", pa.string()),
        ("scanner", pa.string()),
        ("field_strength", pa.float64()),
        ("stage", pa.string()),
        ("cirrhosis", pa.int8()),
        ("significant_fibrosis", pa.int8()),
        ("sequences", pa.list_(pa.string())),
        *[(f"volume_{s}", pa.string()) for s in sequences],
        ("mask_GED4", pa.string()),
    ]
    if release:
        fields.append(("release_split", pa.string()))
    return pa.schema(fields)


SUBJECTS_SCHEMA = subjects_schema()
