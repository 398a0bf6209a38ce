"""``load_lifs`` / ``load_hepatobench``: ``datasets.load_dataset`` with the checks a benchmark
needs (the right configs, label names in the published order), and ``dataset_meta``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hepatokit.errors import DataFormatError, HepatokitError

__all__ = ["LIFS_TRACKS", "dataset_meta", "load_hepatobench", "load_lifs"]

LIFS_TRACKS = ("contrast", "noncontrast")
LIFS_STAGES = ("S1", "S2", "S3", "S4")


def _features_of(ds: Any) -> Any:
    if hasattr(ds, "features") and ds.features is not None:
        return ds.features
    first = next(iter(ds.values()))  # DatasetDict / IterableDatasetDict
    return first.features


def _check_labels(ds: Any, column: str, expected: Sequence[str] | None, where: str) -> None:
    features = _features_of(ds)
    if features is None or column not in features:
        raise DataFormatError(f"no {column!r} column", path=where)
    names = list(getattr(features[column], "names", []))
    if expected is not None and names != list(expected):
        raise DataFormatError(
            f"label names of {column!r} are {names}, expected {list(expected)} (in this order)",
            path=where,
            hint="the dataset was not published by hepatokit with this recipe",
        )


def load_lifs(
    path_or_repo: str | Path,
    track: str = "contrast",
    split: str | None = None,
    streaming: bool = False,
    **kwargs: Any,
) -> Any:
    """Load a published LiFS dataset (a local folder or a Hub repo id).

    Parameters
    ----------
    track
        ``contrast`` (T1W, T2W, DWI, GED1–GED4) or ``noncontrast`` (T1W, T2W, DWI).
    split
        ``train``, ``validation``, ``test_id``, ``test_ood``; None → all (a dict).
    streaming
        Return ``IterableDataset`` (s) instead of memory-mapped ``Dataset`` (s).
    kwargs
        Passed to ``datasets.load_dataset`` (``cache_dir``, ``token``, ...).

    Returns
    -------
    ``Dataset`` / ``DatasetDict`` / ``IterableDataset`` / ``IterableDatasetDict``; sequence
    columns decode to nibabel images (None when missing).
    """
    if track not in LIFS_TRACKS:
        raise HepatokitError(f"unknown track {track!r}", hint=f"one of {', '.join(LIFS_TRACKS)}")
    from datasets import load_dataset

    ds = load_dataset(str(path_or_repo), track, split=split, streaming=streaming, **kwargs)
    _check_labels(ds, "stage", LIFS_STAGES, str(path_or_repo))
    return ds


def load_hepatobench(
    path_or_repo: str | Path,
    split: str | None = None,
    streaming: bool = False,
    classes: Sequence[str] | None = ("TUM", "FIB", "INF", "NEC", "NOR", "REA", "STE"),
    **kwargs: Any,
) -> Any:
    """Load a published HepatoBench dataset; ``classes`` is the label order it must have
    (None: accept any). Other arguments as :func:`load_lifs`."""
    from datasets import load_dataset

    ds = load_dataset(str(path_or_repo), split=split, streaming=streaming, **kwargs)
    _check_labels(ds, "label", classes, str(path_or_repo))
    return ds


def dataset_meta(path_or_repo: str | Path, **kwargs: Any) -> dict[str, Any]:
    """``dataset_meta.json`` of a published dataset (local folder, else downloaded)."""
    local = Path(path_or_repo) / "dataset_meta.json"
    if local.is_file():
        return dict(json.loads(local.read_text(encoding="utf-8")))
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(str(path_or_repo), "dataset_meta.json", repo_type="dataset", **kwargs)
    return dict(json.loads(Path(path).read_text(encoding="utf-8")))
