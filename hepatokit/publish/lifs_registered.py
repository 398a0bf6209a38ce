"""LiFS publish, ``publish.registered_volumes``: one more config, ``registered``, with every
sequence resampled onto its subject's reference grid by ``mri register --resample``.

The config's volumes are the registration's resampled files (the reference sequence: its
curated volume), so all channels of a row share one voxel grid and overlay without any
further resampling; its ``transform_<SEQ>`` cells are the identity (the registration is
already applied: applying the stored transforms of the as-acquired configs again would move
the volumes twice). Needs ``publish.registered`` (the reference and transforms of the other
configs) and a registration run with ``--resample``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepatokit.contracts import read_table
from hepatokit.contracts.lifs import REGISTRATION
from hepatokit.errors import BuildStateError
from hepatokit.publish.cells import EmbeddedFile
from hepatokit.publish.features import lifs_features, meta_column
from hepatokit.publish.sections import PublishSection

__all__ = ["REGISTERED_CONFIG", "add_registered_config", "registration_rows"]

REGISTERED_CONFIG = "registered"
_IDENTITY = np.eye(4).ravel().tolist()


def registration_rows(build: Path, columns: list[str]) -> list[dict[str, Any]]:
    """The ``columns`` of ``mri register``'s table, checked against its contract."""
    return read_table(build, REGISTRATION, columns=columns).to_pylist()


def _resampled(build: Path) -> dict[tuple[str, str], str]:
    """(subject, sequence) → the resampled volume (build-relative) of the registration table."""
    table = registration_rows(build, ["subject_id", "sequence", "resampled_path"])
    return {
        (r["subject_id"], r["sequence"]): r["resampled_path"]
        for r in table
        if r.get("resampled_path")
    }


def _row(
    scalars: dict[str, Any],
    files: dict[str, Any],
    sequences: Sequence[str],
    paths: Any,
    build: Path,
) -> tuple[dict[str, Any], list[str]]:
    """One subject's row of the config and the sequences without a resampled volume."""
    sid, ref = scalars["subject_id"], scalars.get("registration_reference")
    row = {**scalars, "sequences": files["_present"]}
    missing = []
    for seq in sequences:
        cell = files[seq]
        if cell is not None and seq != ref:
            rel = paths.get((sid, seq))
            if rel is None or not (build / rel).is_file():
                missing.append(f"sub-{sid} {seq}")
            cell = (
                None if rel is None else EmbeddedFile(str(build / rel), f"sub-{sid}_{seq}.nii.gz")
            )
        row[seq] = cell
        row[meta_column(seq)] = files[meta_column(seq)]
        row[f"transform_{seq}"] = None if cell is None else _IDENTITY
    return row, missing


def add_registered_config(
    plan: tuple[dict[str, Any], dict[str, Any], dict[str, list[str]]],
    meta: dict[str, Any],
    base_rows: Sequence[tuple[str, dict[str, Any], dict[str, Any]]],
    *,
    build: Path,
    sequences: Sequence[str],
    stages: Sequence[str],
    section: PublishSection,
) -> None:
    """Add the ``registered`` config to ``plan`` (rows per split, features, embedded columns,
    in place) and to ``meta``.

    Raises
    ------
    BuildStateError
        ``publish.registered`` is off, or a registered sequence has no resampled volume.
    """
    if not section.registered:
        raise BuildStateError(
            "publish.registered_volumes needs publish.registered (the reference and transforms)",
            hint="set publish.registered: true",
        )
    configs, features, embedded = plan
    paths = _resampled(build)
    per_split: dict[str, list[dict[str, Any]]] = {s: [] for s in section.splits or []}
    missing: list[str] = []
    for split, scalars, files in base_rows:
        row, absent = _row(scalars, files, sequences, paths, build)
        missing += absent
        per_split.setdefault(split, []).append(row)
    if missing:
        raise BuildStateError(
            f"{len(missing)} registered sequence(s) have no resampled volume; first: {missing[0]}",
            path=build / REGISTRATION,
            hint="run `hepatokit mri register BUILD --resample` (or set registered_volumes: false)",
        )
    configs[REGISTERED_CONFIG] = per_split
    features[REGISTERED_CONFIG] = lifs_features(
        list(sequences), with_mask=False, stages=stages, registered=True
    )
    embedded[REGISTERED_CONFIG] = list(sequences)
    meta["configs"][REGISTERED_CONFIG] = list(sequences)
    if meta.get("registration") is not None:
        meta["registration"]["resampled_config"] = REGISTERED_CONFIG
