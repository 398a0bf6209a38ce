"""The dataset-specific values of the card templates (tables, usage snippets, notes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hepatokit.publish.card import markdown_table
from hepatokit.publish.stats import UNLABELLED

__all__ = ["counts_table", "hepatobench_values", "lifs_values", "structure_table"]

_DESCRIPTIONS = {
    "subject_id": "pseudonymous subject id (the `Case` of submissions)",
    "center": "center pseudonym",
    "vendor": "vendor pseudonym (domain)",
    "scanner": "scanner pseudonym",
    "field_strength": "magnetic field strength (T)",
    "stage": "Scheuer fibrosis stage",
    "cirrhosis": "subtask 1: cirrhosis (S4 vs S1–S3)",
    "significant_fibrosis": "subtask 2: significant fibrosis (S2–S4 vs S1)",
    "sequences": "every sequence present for this subject (also those of other configs)",
    "mask_GED4": "liver mask on GED4, when available",
    "id": "patch id (content-derived)",
    "image": "the patch, original encoding",
    "label": "tissue class",
    "slide_id": "slide pseudonym (the split group)",
    "x": "tile x at level 0 (px), tiled slides only",
    "y": "tile y at level 0 (px), tiled slides only",
    "width": "width (px)",
    "height": "height (px)",
    "md5": "MD5 of the image bytes",
    "phash": "perceptual hash (16 hex chars)",
}


def _type_name(feature: Any) -> str:
    from datasets import ClassLabel, Image, List, Nifti, Value

    if isinstance(feature, ClassLabel):
        return "ClassLabel(" + ", ".join(feature.names) + ")"
    if isinstance(feature, Nifti):
        return "Nifti (nullable)"
    if isinstance(feature, Image):
        return "Image"
    if isinstance(feature, List):
        return f"List({_type_name(feature.feature)})"
    if isinstance(feature, Value):
        return str(feature.dtype)
    return type(feature).__name__


def structure_table(features: Any) -> str:
    """Column | type | meaning, for one config's ``datasets.Features``."""
    rows = []
    for name, feat in features.items():
        desc = _DESCRIPTIONS.get(name)
        if desc is None and name.endswith("_meta"):
            desc = f"curated sidecar of {name.removesuffix('_meta')} (JSON text)"
        elif desc is None:
            desc = f"{name} volume (embedded .nii.gz)"
        rows.append([f"`{name}`", _type_name(feat), desc])
    return markdown_table(["column", "type", "meaning"], rows)


def counts_table(
    counts: Mapping[str, Mapping[str, Mapping[str, int]]], *, with_domain: bool
) -> str:
    """Rows split (× domain) with one column per class and a total."""
    names: list[str] = []
    for per_domain in counts.values():
        for per_class in per_domain.values():
            names += [c for c in per_class if c not in names]
    header = ["split", *(["domain"] if with_domain else []), *names, "total"]
    rows = []
    for split, per_domain in counts.items():
        merged: dict[str, Mapping[str, int]] = dict(per_domain)
        if not with_domain:
            merged = {"all": {c: sum(d.get(c, 0) for d in per_domain.values()) for c in names}}
        for dom, per_class in merged.items():
            values = [per_class.get(c, 0) for c in names]
            rows.append([split, *([dom] if with_domain else []), *values, sum(values)])
    return markdown_table(header, rows)


def _labels_note(withheld: bool) -> str:
    if not withheld:
        return "All splits carry their labels."
    return (
        "**Test labels are withheld** (challenge setting): the label columns of the test "
        "splits are null; the organisers keep the truth for the evaluator. Counts of the "
        f"test splits therefore appear as `{UNLABELLED}`."
    )


def lifs_values(
    *,
    repo: str,
    features: Mapping[str, Any],
    counts: Mapping[str, Mapping[str, Mapping[str, int]]],
    missing: Mapping[str, Mapping[str, float]],
    meta: Mapping[str, Any],
) -> dict[str, str]:
    """Placeholder values of ``dataset_cards/lifs.md``."""
    configs = meta["configs"]
    first = next(iter(features))
    seqs = list(meta["sequences"])
    missing_rows = [
        [split, *(f"{100 * rates[s]:.1f} %" for s in seqs)] for split, rates in missing.items()
    ]
    usage = "\n".join(
        [
            "from datasets import load_dataset",
            "",
            f'ds = load_dataset("{repo}", "{first}")  # splits: {", ".join(counts)}',
            f'img = ds["train"][0]["{seqs[0]}"]  # nibabel image (None if missing)',
            "",
            "# torch / MONAI: RAS, resampled, normalised, channels + missing-modality mask",
            "from hepatokit.loaders import load_lifs, LifsVolumes",
            f'train = LifsVolumes(load_lifs("{repo}", track="{first}", split="train"))',
        ]
    )
    return {
        "configs_list": ", ".join(f"`{c}`" for c in configs),
        "usage": usage,
        "structure_table": structure_table(features[first]),
        "labels_note": _labels_note(bool(meta.get("labels_withheld"))),
        "configs_table": markdown_table(
            ["config", "sequences"], [[f"`{c}`", ", ".join(s)] for c, s in configs.items()]
        ),
        "domain_column": str(meta["domain_column"]),
        "counts_table": counts_table(counts, with_domain=True),
        "missing_table": markdown_table(["split", *seqs], missing_rows),
        "registration_note": _registration_note(meta.get("registration")),
    }


def _registration_note(reg: Mapping[str, Any] | None) -> str:
    if not reg:
        return (
            "none. The sequences are stored as acquired, each in its scanner frame; they are "
            "not registered to each other."
        )
    refs = ", ".join(f"{k} {v}" for k, v in sorted(reg["references"].items()))
    return (
        f"every sequence was registered ({', '.join(reg['transform'])}, SimpleITK, Mattes "
        f"mutual information, multi-resolution) to the subject's reference sequence "
        f"(subjects per reference: {refs}); {reg['ok']} of {reg['pairs']} pairs were "
        f"accepted, {reg['flagged']} flagged by QC (metric worse, translation or rotation "
        "beyond the bounds, blank or tiny volume) and keep the identity. The volumes are "
        "stored as acquired; `registration_reference` names the reference and "
        "`transform_<SEQ>` holds the 4×4 world RAS matrix (row-major) mapping a reference "
        'point to the sequence\'s point. `LifsVolumes(..., grid="reference")` resamples '
        "every sequence into the reference grid through it."
        + _resampled_note(reg.get("resampled_config"))
    )


def _resampled_note(config: str | None) -> str:
    if not config:
        return ""
    return (
        f" The config `{config}` holds every sequence already resampled onto its subject's "
        "reference grid (`mri register --resample`, linear interpolation; its "
        "`transform_<SEQ>` cells are the identity): its channels overlay voxel for voxel."
    )


def hepatobench_values(
    *,
    repo: str,
    features: Mapping[str, Any],
    counts: Mapping[str, Mapping[str, Mapping[str, int]]],
    slides: Mapping[str, int],
    meta: Mapping[str, Any],
    classes: Sequence[str],
) -> dict[str, str]:
    """Placeholder values of ``dataset_cards/hepatobench.md``."""
    usage = "\n".join(
        [
            "from datasets import load_dataset",
            "",
            f'ds = load_dataset("{repo}")  # splits: {", ".join(counts)}',
            'ds["train"].features["label"].names  # ' + str(list(classes)),
            "",
            "from hepatokit.loaders import load_hepatobench, HepatoBenchImages",
            f'train = HepatoBenchImages(load_hepatobench("{repo}", split="train"))',
        ]
    )
    first = next(iter(features))
    return {
        "patch_size": f"{meta['patch_size_px']}×{meta['patch_size_px']}",
        "magnification": str(meta.get("magnification") or "unknown magnification"),
        "classes_list": " ".join(f"`{c}`" for c in classes),
        "usage": usage,
        "structure_table": structure_table(features[first]),
        "labels_note": _labels_note(bool(meta.get("labels_withheld"))),
        "counts_table": counts_table(counts, with_domain=False),
        "slides_per_split": ", ".join(f"{s}: {n}" for s, n in slides.items()) + ".",
    }
