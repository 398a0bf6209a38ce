"""``croissant.json``: Croissant 1.1 metadata with the RAI fields, built with mlcroissant.

One ``cr:FileObject`` per parquet shard (with its sha256), one ``cr:FileSet`` per config
with shards of its own, one ``cr:RecordSet`` per config whose fields read the parquet columns
(embedded files via the ``bytes`` path of their struct) and a ``split`` field taken from the
shard's file name; a config that reads a subset of another config's columns reads that
config's file set.
:func:`check_croissant` validates offline with mlcroissant and adds the checks its validator
lets pass: a name, a license, and a sha256 per file that matches the file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hepatokit.errors import DataFormatError
from hepatokit.publish.sections import CardSection, PublishSection
from hepatokit.recipe import Recipe

__all__ = ["build_croissant", "check_croissant"]

_LICENSES = {
    "cc-by-nc-4.0": "https://creativecommons.org/licenses/by-nc/4.0/",
    "cc-by-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "cc-by-sa-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "cc-by-nc-sa-4.0": "https://creativecommons.org/licenses/by-nc-sa/4.0/",
    "cc0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "apache-2.0": "https://www.apache.org/licenses/LICENSE-2.0",
    "mit": "https://opensource.org/license/mit",
}


def license_url(license_id: str) -> str:
    """The canonical URL of a Hub license id (the id itself if unknown)."""
    return _LICENSES.get(license_id.lower(), license_id)


def _enum_id(name: str, feature: Any) -> str:
    """The record set id of the class enumeration of label column ``name`` (the names'
    digest tells two columns of one name but other classes apart)."""
    digest = hashlib.sha256("\n".join(feature.names).encode()).hexdigest()[:6]
    return f"{name}-classes-{digest}"


def class_enumeration(mlc: Any, feature: Any, *, rs_id: str, names_of: str) -> Any:
    """A ``cr:RecordSet`` with ``dataType: sc:Enumeration``: one record per class
    (``index`` the stored integer, ``name`` the class name) that label fields reference."""
    from rdflib.namespace import SDO

    return mlc.RecordSet(
        id=rs_id,
        name=rs_id,
        description=f"Class names of {names_of} (index as stored → name).",
        data_types=[SDO.Enumeration],
        key=[f"{rs_id}/index"],
        fields=[
            mlc.Field(
                id=f"{rs_id}/index",
                name="index",
                description="Class index as stored in the label column.",
                data_types=[mlc.DataType.INTEGER],
            ),
            mlc.Field(
                id=f"{rs_id}/name",
                name="name",
                description="Class name.",
                data_types=[mlc.DataType.TEXT],
            ),
        ],
        data=[{f"{rs_id}/index": i, f"{rs_id}/name": name} for i, name in enumerate(feature.names)],
    )


def _field_for(mlc: Any, rs_id: str, fs_id: str, name: str, feature: Any) -> Any:
    """A Croissant field reading parquet column ``name`` of the file set ``fs_id``."""
    from datasets import ClassLabel, Image, List, Nifti, Value

    data_type: Any
    description = None
    transforms = []
    references = None
    if isinstance(feature, Image):
        data_type = mlc.DataType.IMAGE_OBJECT
        transforms = [mlc.Transform(json_path="bytes")]
        description = "Embedded image file (original encoding)."
    elif isinstance(feature, Nifti):
        from rdflib.namespace import SDO

        data_type = [SDO.MediaObject, mlc.DataType.TEXT]  # semantic type + the bytes
        transforms = [mlc.Transform(json_path="bytes")]
        description = "Embedded gzip-compressed NIfTI-1 file (application/gzip); null if absent."
    elif isinstance(feature, ClassLabel):
        data_type = mlc.DataType.INTEGER
        names = ", ".join(f"{i}={n}" for i, n in enumerate(feature.names))
        description = f"Class index ({names}); null if unlabelled or withheld."
        references = mlc.Source(field=f"{_enum_id(name, feature)}/index")
    elif isinstance(feature, List):
        data_type = mlc.DataType.TEXT
        description = "List of names."
    elif isinstance(feature, Value) and feature.dtype.startswith(("int", "uint")):
        data_type = mlc.DataType.INTEGER
    elif isinstance(feature, Value) and feature.dtype.startswith("float"):
        data_type = mlc.DataType.FLOAT
    else:
        data_type = mlc.DataType.TEXT
    return mlc.Field(
        id=f"{rs_id}/{name}",
        name=name,
        description=description,
        data_types=data_type if isinstance(data_type, list) else [data_type],
        is_array=True if isinstance(feature, List) else None,
        array_shape="-1" if isinstance(feature, List) else None,
        source=mlc.Source(file_set=fs_id, extract=mlc.Extract(column=name), transforms=transforms),
        references=references,
    )


def build_croissant(
    *,
    recipe: Recipe,
    card: CardSection,
    section: PublishSection,
    features: Mapping[str, Any],
    shards: Mapping[str, Sequence[tuple[str, str, int]]],
    splits: Mapping[str, Sequence[str]],
    subsets: Mapping[str, str] | None = None,
    url: str | None = None,
    missing: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Any]:
    """The Croissant JSON-LD of a published folder.

    Every RAI property the recipe's ``card`` section fills is written; LiFS's
    ``dataCollectionMissingData`` gets the missing-sequence rates (``missing``: split →
    sequence → fraction) after the recipe's text. Class labels reference an enumeration
    record set (``sc:Enumeration``) holding the class names.

    Parameters
    ----------
    features
        config → ``datasets.Features``.
    shards
        config → ``(relative path, sha256, size in bytes)`` of each parquet shard, for the
        configs with shards of their own.
    splits
        config → split names (in order).
    subsets
        config → the config whose shards (file set) it reads its columns from.
    """
    import mlcroissant as mlc

    subsets = subsets or {}
    distribution: list[Any] = []
    record_sets = _enumerations(mlc, features)  # referenced by the label fields: first
    for cfg, feats in features.items():
        owner = subsets.get(cfg)
        fs_id = f"parquet-files-{owner or cfg}"
        if owner is None:
            distribution += _file_set(mlc, cfg, fs_id, shards[cfg])
        record_sets.append(_record_set(mlc, cfg, feats, fs_id, splits[cfg], owner))
    metadata = _metadata(
        mlc, recipe, card, section, url, distribution, record_sets, _missing_text(card, missing)
    )
    return dict(metadata.to_json())


def _enumerations(mlc: Any, features: Mapping[str, Any]) -> list[Any]:
    """One class enumeration record set per distinct label column (see :func:`_enum_id`)."""
    from datasets import ClassLabel

    enums: dict[str, Any] = {}
    for feats in features.values():
        for name, feat in feats.items():
            rs_id = _enum_id(name, feat) if isinstance(feat, ClassLabel) else ""
            if rs_id and rs_id not in enums:
                enums[rs_id] = class_enumeration(mlc, feat, rs_id=rs_id, names_of=f"`{name}`")
    return list(enums.values())


def _file_set(mlc: Any, cfg: str, fs_id: str, shards: Sequence[tuple[str, str, int]]) -> list[Any]:
    """A ``cr:FileObject`` per shard of ``cfg`` (sha256, size), then the config's file set."""
    files: list[Any] = [
        mlc.FileObject(
            id=rel,
            name=rel,
            content_url=rel,
            content_size=f"{size} B",
            encoding_formats=["application/x-parquet"],
            sha256=sha,
        )
        for rel, sha, size in shards
    ]
    files.append(
        mlc.FileSet(
            id=fs_id,
            name=fs_id,
            description=f"Parquet shards of the {cfg!r} config.",
            encoding_formats=["application/x-parquet"],
            includes=[f"data/{cfg}/*.parquet"],
        )
    )
    return files


def _record_set(
    mlc: Any, cfg: str, feats: Any, fs_id: str, splits: Sequence[str], owner: str | None
) -> Any:
    """The record set of ``cfg``: a ``split`` field from the shard's file name, then a field
    per column of the file set ``fs_id`` (``owner``: the config whose shards it reads)."""
    split_names = "|".join(re.escape(s) for s in splits)
    fields = [
        mlc.Field(
            id=f"{cfg}/split",
            name="split",
            description="Split of the row, from its shard's file name.",
            data_types=[mlc.DataType.TEXT],
            source=mlc.Source(
                file_set=fs_id,
                extract=mlc.Extract(file_property=mlc.FileProperty.filename),
                transforms=[mlc.Transform(regex=rf"^({split_names})-\d+-of-\d+\.parquet$")],
            ),
        )
    ]
    fields += [_field_for(mlc, cfg, fs_id, name, feat) for name, feat in feats.items()]
    description = f"Config {cfg!r}." + (
        f" Its columns are read from the shards of {owner!r}." if owner is not None else ""
    )
    return mlc.RecordSet(id=cfg, name=cfg, description=description, fields=fields)


def _missing_text(card: CardSection, missing: Mapping[str, Mapping[str, float]] | None) -> str:
    """The card's missing-data text, then the share of subjects without each sequence."""
    missing_text = card.data_collection_missing_data.strip()
    if missing and "all" in missing:
        rates = ", ".join(f"{seq} {100 * r:.1f} %" for seq, r in missing["all"].items())
        missing_text = (missing_text + " " if missing_text else "") + (
            f"Share of subjects without each sequence: {rates}."
        )
    return missing_text


def _date(text: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(text), dt.time())


def _metadata(
    mlc: Any,
    recipe: Recipe,
    card: CardSection,
    section: PublishSection,
    url: str | None,
    distribution: list[Any],
    record_sets: list[Any],
    missing_text: str,
) -> Any:
    """The ``mlc.Metadata``: the dataset's description, the card's RAI fields, the files."""
    license_id = section.license or str(recipe.data.get("license") or "")
    return mlc.Metadata(
        name=recipe.name,
        description=card.summary.strip() or recipe.description,
        license=[license_url(license_id)] if license_id else None,
        url=url or card.homepage,
        version=str(recipe.data.get("version") or "1.0.0"),
        cite_as=card.citation.strip() or None,
        keywords=list(section.tags) or None,
        creators=[mlc.Organization(name=c) for c in card.creators],
        conforms_to=["http://mlcommons.org/croissant/1.1"],
        distribution=distribution,
        record_sets=record_sets,
        data_collection=card.data_collection.strip() or None,
        data_preprocessing_protocol=list(card.preprocessing) or None,
        data_annotation_protocol=list(card.annotation) or None,
        personal_sensitive_information=list(card.personal_sensitive_information) or None,
        data_biases=list(card.biases) or None,
        data_limitations=list(card.limitations) or None,
        data_use_cases=list(card.use_cases) or None,
        data_release_maintenance_plan=card.maintenance.strip() or None,
        date_published=_date(card.date_published) if card.date_published else None,
        data_collection_type=list(card.data_collection_type) or None,
        data_collection_missing_data=missing_text or None,
        data_collection_raw_data=card.data_collection_raw_data.strip() or None,
        data_collection_timeframe=[_date(d) for d in card.data_collection_timeframe] or None,
        data_imputation_protocol=card.data_imputation_protocol.strip() or None,
        data_manipulation_protocol=card.data_manipulation_protocol.strip() or None,
        data_annotation_platform=list(card.data_annotation_platform) or None,
        data_annotation_analysis=list(card.data_annotation_analysis) or None,
        annotations_per_item=card.annotations_per_item.strip() or None,
        annotator_demographics=list(card.annotator_demographics) or None,
        machine_annotation_tools=list(card.machine_annotation_tools) or None,
        data_social_impact=card.social_impact.strip() or None,
    )


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def check_croissant(path: Path, *, known: Mapping[str, str] | None = None) -> list[str]:
    """Validate ``croissant.json`` offline; return warnings, raise on errors.

    ``known`` (relative path → sha256 just computed from the written file) spares
    re-reading those files.

    Raises
    ------
    DataFormatError
        mlcroissant rejects the file, or a check of ours fails: no name, no license, a
        file without sha256, or a sha256 that does not match the file beside it.
    """
    import mlcroissant as mlc

    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)  # mlcroissant logs its warnings there; we return them
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # rdflib's, not ours
            dataset = mlc.Dataset(jsonld=path)
    except Exception as exc:  # mlcroissant raises ValidationError and friends
        raise DataFormatError(f"mlcroissant rejects it: {exc}", path=path) from exc
    finally:
        absl.setLevel(level)
    found = list(dataset.metadata.ctx.issues.warnings)
    doc = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    if not doc.get("name"):
        problems.append("no name")
    if not doc.get("license"):
        problems.append("no license")
    for item in doc.get("distribution", []):
        if item.get("@type") != "cr:FileObject":
            continue
        sha = item.get("sha256")
        target = path.parent / item.get("contentUrl", "")
        if not sha:
            problems.append(f"{item.get('@id')}: no sha256")
        elif not target.is_file():
            problems.append(f"{item.get('contentUrl')}: listed but not in the folder")
        elif (known or {}).get(item.get("contentUrl", "")) == sha:
            continue
        elif _sha256(target) != sha:
            problems.append(f"{item.get('contentUrl')}: sha256 does not match the file")
    if problems:
        raise DataFormatError("; ".join(problems), path=path, hint="re-run `publish build`")
    return [str(w) for w in found]
