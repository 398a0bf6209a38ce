"""Patch splits for the linear probe: images + ids + MD5 cache keys + label indices.

A published HepatoBench folder is opened with :func:`hepatokit.loaders.load_hepatobench`
(a ``split → datasets.Dataset`` mapping with columns ``id``, ``image``, ``label``
(ClassLabel), ``md5``); in-memory data can be given directly as :class:`PatchSplit` objects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepatokit.errors import DataFormatError

__all__ = ["PatchSplit", "load_patch_splits", "open_published"]

SPLIT_ALIASES = {"val": "validation", "valid": "validation", "test_id": "test"}


@dataclass
class PatchSplit:
    """One split. ``images[i]`` is an image (or a row holding it under ``image_key``).

    ``labels``: int64 ``[N]`` indices into the class list, -1 where unlabelled.
    ``md5s``: the content key of each image (the cache key).
    """

    images: Any
    ids: list[str]
    md5s: list[str]
    labels: np.ndarray
    image_key: Any = None

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n = len(self.images)
        if not (len(self.ids) == len(self.md5s) == len(self.labels) == n):
            raise DataFormatError(
                f"split sizes disagree: {n} images, {len(self.ids)} ids, "
                f"{len(self.md5s)} md5s, {len(self.labels)} labels"
            )


def open_published(loader: Any, data: str | Path, *, what: str, **kwargs: Any) -> Any:
    """Call a ``hepatokit.loaders`` function; turn ``datasets``' own errors (missing folder,
    no data files) into a :class:`DataFormatError` naming the folder."""
    from hepatokit.errors import HepatokitError

    try:
        return loader(data, **kwargs)
    except HepatokitError:
        raise
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise DataFormatError(
            f"cannot open the published {what} dataset: {type(exc).__name__}: {exc}",
            path=data,
            hint=f"give the folder written by `hepatokit publish build` for {what}",
        ) from exc


def _md5_of(image: Any) -> str:
    """MD5 of an image's encoded bytes when known, else of its pixels (fallback key)."""
    path = getattr(image, "filename", None)
    if path and Path(path).is_file():
        return hashlib.md5(Path(path).read_bytes()).hexdigest()
    return hashlib.md5(np.asarray(image).tobytes()).hexdigest()


def _from_hf(ds: Any, names: Sequence[str]) -> PatchSplit:
    cols = set(ds.column_names)
    missing = {"image", "label"} - cols
    if missing:
        raise DataFormatError(f"HepatoBench split lacks column(s) {sorted(missing)}")
    labels = [(-1 if v is None else int(v)) for v in ds["label"]]
    ids = [str(v) for v in ds["id"]] if "id" in cols else [str(i) for i in range(len(ds))]
    if "md5" in cols:
        md5s = [str(v) for v in ds["md5"]]
    else:
        md5s = [_md5_of(ds[i]["image"]) for i in range(len(ds))]
    return PatchSplit(images=ds, ids=ids, md5s=md5s, labels=np.asarray(labels), image_key="image")


def _class_names(ds: Any) -> list[str] | None:
    feature = getattr(ds, "features", {}).get("label") if hasattr(ds, "features") else None
    names = getattr(feature, "names", None)
    return list(names) if names else None


def load_patch_splits(
    data: str | Path | Mapping[str, Any],
    *,
    classes: Sequence[str] | None = None,
) -> tuple[dict[str, PatchSplit], tuple[str, ...]]:
    """``split → PatchSplit`` and the class names, from an HFDIR or in-memory splits.

    Raises
    ------
    DataFormatError
        No class names known, missing columns, or an unreadable dataset folder.
    """
    if isinstance(data, Mapping):
        raw: Mapping[str, Any] = data
    else:
        from hepatokit.loaders import load_hepatobench

        raw = open_published(load_hepatobench, data, what="HepatoBench", classes=classes)
    splits: dict[str, PatchSplit] = {}
    names = list(classes) if classes else None
    for split, ds in raw.items():
        key = SPLIT_ALIASES.get(str(split), str(split))
        if isinstance(ds, PatchSplit):
            splits[key] = ds
            continue
        names = names or _class_names(ds)
        if names is None:
            raise DataFormatError(
                f"split {split!r}: no class names (label is not a ClassLabel)",
                hint="pass classes=...",
            )
        splits[key] = _from_hf(ds, names)
    if names is None:
        raise DataFormatError("class names unknown", hint="pass classes=... with PatchSplits")
    return splits, tuple(names)
