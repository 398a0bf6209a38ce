"""HepatoBench: the curated ``curated.parquet`` + patch files → rows of the published dataset.

One row per patch; the ``image`` cell holds the patch's pixels without any metadata
(:func:`hepatokit.imagemeta.scrub_image`: PNG, TIFF & co. re-encoded as PNG from the pixels,
JPEG rebuilt from the segments a decoder needs, so the pixels are identical), named
``<id>.<ext>`` so that no raw file name (which may carry a patient or slide name) reaches
the dataset; ``md5`` is that of the published bytes. ``slide_id`` is a keyed pseudonym
(:mod:`hepatokit.pseudonyms`); the table linking it to the build's slide ids is written to
``BUILD/private/slide_pseudonyms.parquet``. The shard writer checks each file's size (and
MD5, ``verify_md5``) against the curated table before scrubbing it.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from hepatokit.atomic import write_parquet_atomic
from hepatokit.errors import BuildStateError, DataFormatError
from hepatokit.imagemeta import published_format
from hepatokit.pseudonyms import build_key, slide_pseudonym
from hepatokit.publish.features import hepatobench_features
from hepatokit.publish.plan import DatasetPlan, is_test_split
from hepatokit.publish.sections import PublishSection
from hepatokit.publish.shards import DigestOf, EmbeddedFile
from hepatokit.publish.splits_table import read_split_assignment
from hepatokit.recipe import Recipe

__all__ = ["collect_hepatobench", "resolve_raw_root"]

log = logging.getLogger("hepatokit.publish.hepatobench")

CONFIG = "default"


def resolve_raw_root(build: Path, raw_root: str | Path | None) -> Path | None:
    """The raw patch root: ``raw_root`` if given, else ``BUILD/private/raw_root.json``."""
    if raw_root is not None:
        return Path(raw_root)
    record = build / "private" / "raw_root.json"
    if record.is_file():
        try:
            return Path(json.loads(record.read_text(encoding="utf-8"))["raw_root"])
        except (ValueError, KeyError) as exc:
            raise DataFormatError(f"unreadable raw root record: {exc}", path=record) from exc
    return None


def _locate(rel: str, bases: Sequence[str]) -> tuple[str, int] | None:
    """A patch file and its size: relative to the first of ``bases`` that has it (the raw
    root for ingested patches, BUILD for tiles). Plain strings: called once per patch."""
    for base in bases:
        path = os.path.join(base, rel)  # noqa: PTH118 (hot loop)
        try:
            return path, os.stat(path).st_size  # noqa: PTH116 (hot loop)
        except OSError:
            continue
    return None


def _format(row: dict[str, Any]) -> str:
    """The patch's PIL format (from ingest; else from the file name's suffix)."""
    if row.get("format"):
        return str(row["format"]).upper()
    suffix = Path(str(row["path"])).suffix.lower()
    return "JPEG" if suffix in (".jpg", ".jpeg", ".jpe", ".jfif") else "PNG"


def _write_pseudonyms(build: Path, slides: dict[str, str]) -> None:
    """``BUILD/private/slide_pseudonyms.parquet``: published pseudonym → the build's id."""
    import pyarrow as pa

    rows = sorted(slides.items(), key=lambda kv: kv[1])
    write_parquet_atomic(
        build / "private" / "slide_pseudonyms.parquet",
        pa.table(
            {
                "slide_pseudonym": pa.array([p for _, p in rows], pa.string()),
                "slide_id": pa.array([s for s, _ in rows], pa.string()),
            }
        ),
    )


def collect_hepatobench(
    build: Path,
    recipe: Recipe,
    section: PublishSection,
    *,
    withhold_test_labels: bool,
    raw_root: str | Path | None = None,
    verify_md5: bool = False,
) -> DatasetPlan:
    """Read ``BUILD/curated.parquet`` + ``splits.parquet`` into a :class:`DatasetPlan`.

    Raises
    ------
    BuildStateError
        ``curated.parquet`` or ``splits.parquet`` missing or disagreeing.
    DataFormatError
        A class outside the recipe's classes, a patch file that cannot be found or whose
        size or MD5 (checked while the shards are written, as every patch is read whole to
        be scrubbed; ``verify_md5`` is kept for the call's signature) differs from the
        curated table's.
    """
    path = build / "curated.parquet"
    if not path.is_file():
        raise BuildStateError(
            "no curated.parquet in the build",
            path=build,
            hint="run `hepatokit patho dedup` (the last curation stage) before publishing",
        )
    curated = pq.read_table(path).to_pylist()
    classes = list(recipe.classes)
    if not classes:
        raise DataFormatError("the recipe lists no classes", path=recipe.source)
    root = resolve_raw_root(build, raw_root)
    split_of = read_split_assignment(build, [r["id"] for r in curated], allowed=section.splits)
    tiled = any(r.get("x") is not None for r in curated)
    bases = [str(b) for b in (root, build) if b is not None]
    features = hepatobench_features(classes, tiled=tiled)
    key = build_key(build)
    pseudonyms: dict[str, str] = {}
    problems: list[str] = []
    per_split: dict[str, list[dict[str, Any]]] = {s: [] for s in section.splits}
    records: list[dict[str, Any]] = []
    truth: list[dict[str, Any]] = []
    sizes: Counter[tuple[int, int]] = Counter()
    for row in sorted(curated, key=lambda r: r["id"]):
        if row["id"] not in split_of:  # left out by the split stage
            continue
        # ingested patches carry ``class``; tiles their region's class as ``label`` (or none)
        cls = row.get("class") if row.get("class") is not None else row.get("label")
        if cls is not None and cls not in classes:
            raise DataFormatError(
                f"patch {row['id']}: class {cls!r} is not one of {', '.join(classes)}",
                path=path,
                hint="fix the recipe's classes or the ingest labels",
            )
        location = _locate(str(row["path"]), bases)
        if location is None:
            problems.append(f"{row['path']}: not found")
            continue
        if row.get("bytes") is not None and int(row["bytes"]) != location[1]:
            problems.append(f"{row['path']}: size differs from the curated table's (changed)")
            continue
        split = split_of[row["id"]]
        label: int | None = None if cls is None else classes.index(cls)
        if withhold_test_labels and is_test_split(split) and cls is not None:
            truth.append({"id": row["id"], "split": split, "label": cls})
            label = None
        fmt = _format(row)
        slide = row.get("slide_id")
        if slide is not None:
            slide = pseudonyms.setdefault(slide, slide_pseudonym(str(slide), key))
        out = {
            "id": row["id"],
            "image": EmbeddedFile(
                location[0],
                f"{row['id']}.{published_format(fmt)}",
                md5=row.get("md5"),  # always: the file is read whole to be scrubbed
                nbytes=location[1],
                scrub_format=fmt,
            ),
            "label": label,
            "slide_id": slide,
            "width": row.get("width"),
            "height": row.get("height"),
            "md5": DigestOf("image"),
            "phash": row.get("phash"),
        }
        if tiled:
            out["x"], out["y"] = row.get("x"), row.get("y")
        per_split.setdefault(split, []).append(out)
        if row.get("width") and row.get("height"):
            sizes[(int(row["width"]), int(row["height"]))] += 1
        records.append(
            {
                "split": split,
                "domain": "all",
                "class": cls if label is not None else None,
                "slide_id": slide,
            }
        )
    if problems:
        raise DataFormatError(
            f"{len(problems)} curated patch file(s) missing or changed (looked under the raw "
            f"root and the build); first: {problems[0]}",
            path=build,
            hint="pass --raw-root (where the patches were ingested from) or re-run ingest",
        )
    _write_pseudonyms(build, pseudonyms)
    (w, h), _ = sizes.most_common(1)[0] if sizes else ((0, 0), 0)
    meta = {
        "classes": classes,
        "patch_size_px": section.patch_size_px or max(w, h),
        "patch_sizes": {f"{a}x{b}": n for (a, b), n in sorted(sizes.items())},
        "magnification": section.magnification,
        "tiled": tiled,
        "slides": len({r["slide_id"] for r in records}),
        "labels_withheld": bool(withhold_test_labels),
    }
    return DatasetPlan(
        name=recipe.name,
        configs={CONFIG: per_split},
        features={CONFIG: features},
        embedded={CONFIG: ["image"]},
        records=records,
        truth_header=("id", "split", "label"),
        truth=truth,
        meta=meta,
    )
