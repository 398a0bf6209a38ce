"""The plan of a synthetic patch set: which file is what (classes, slides, planted kinds).

Made up front in one process from the seed (cheap: no pixels); the files are materialised
later, in parallel, by :mod:`hepatokit.synthetic.patho_planted`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from typing import Any

import numpy as np

from hepatokit.errors import HepatokitError
from hepatokit.synthetic.patho_planted import (
    OFF_STAIN_VARIANTS,
    PEN_COLOURS,
    PatchSpec,
    near_dup_params,
)
from hepatokit.synthetic.tissue import CLASSES

__all__ = ["CLASS_PROPORTIONS", "SLIDE_REGEX", "UNKNOWN_CLASS_FOLDER", "plan_patches"]

#: Share of each class among clean patches (HepatoBench-like: REA rare, STE/TUM/FIB common).
CLASS_PROPORTIONS: dict[str, float] = {
    "TUM": 0.20,
    "FIB": 0.19,
    "INF": 0.10,
    "NEC": 0.08,
    "NOR": 0.17,
    "REA": 0.011,
    "STE": 0.249,
}
MIN_PER_CLASS = 8
SLIDE_REGEX = r"(?P<slide_id>slide-\d+)_"
UNKNOWN_CLASS_FOLDER = "OTHER"
_KIND_CODES = {
    k: i
    for i, k in enumerate(
        [
            "clean",
            "exact_dup_of",
            "reencoded_of",
            "near_dup_of",
            "blur",
            "background",
            "off_stain",
            "pen",
            "corrupt",
            "wrong_size",
            "not_image",
            "label_conflict",
            "unknown_class",
        ]
    )
}
_EXT = {"PNG": "png", "PNG9": "png", "JPEG": "jpg", "TIFF": "tif", "TIFF_LZW": "tiff"}
_NOT_IMAGES = (
    (".DS_Store", "Bud1\x00\x00\x00\x00 finder metadata"),
    ("Thumbs.db", "thumbnail cache"),
    ("notes.txt", "slides re-scanned on 2021-03-02; patches reviewed by pathologist\n"),
    ("labels.csv", "file,label\nslide-001_a.png,TUM\n"),
)


def _planted_counts(n: int) -> dict[str, int]:
    """How many of each planted kind for ``n`` clean patches (minimums keep tests meaningful)."""

    def share(p: float, lo: int) -> int:
        # the minimum keeps recall/precision tests meaningful from ~200 clean patches on;
        # tiny sets (unit tests) get a few of each kind
        return max(min(lo, max(2, n // 20)), round(n * p))

    return {
        "exact_dup_of": share(0.02, 10),
        "reencoded_of": share(0.01, 6),
        "near_dup_of": share(0.03, 24),
        "blur": share(0.015, 15),
        "background": share(0.015, 15),
        "off_stain": share(0.015, 15),
        "pen": share(0.01, 15),
        "corrupt": share(0.002, 4),
        "wrong_size": share(0.002, 5),
        "label_conflict": share(0.001, 2),  # pairs
        "unknown_class": 3,
    }


def _largest_remainder(total: int, weights: dict[Any, float], minimum: int) -> dict[Any, int]:
    """Integer counts summing to ``total``, proportional to ``weights``, each ≥ ``minimum``
    (when ``total`` allows it)."""
    raw = {k: total * w for k, w in weights.items()}
    counts = {k: max(minimum, int(v)) for k, v in raw.items()}
    order = sorted(raw, key=lambda k: (-(raw[k] - int(raw[k])), str(k)))
    i = 0
    while sum(counts.values()) < total:
        counts[order[i % len(order)]] += 1
        i += 1
    while sum(counts.values()) > total:
        big = max(counts, key=lambda k: (counts[k], str(k)))
        if counts[big] <= minimum:
            break
        counts[big] -= 1
    return counts


class _Planner:
    def __init__(self, patches: int, seed: int):
        self.seed = seed
        self.rng = np.random.default_rng([seed, 101])
        self.n_slides = max(12, round(patches / 50))
        self.digits = max(3, len(str(self.n_slides)))
        self.serial = 0
        self.names: set[str] = set()
        self.hosts: dict[str, np.ndarray] = {}

    def slide_name(self, index: int) -> str:
        return f"slide-{index + 1:0{self.digits}d}"

    def spec(self, kind: str, cls: str, slide: int | None, fmt: str, **kw: Any) -> PatchSpec:
        self.serial += 1
        seed = (self.seed, _KIND_CODES[kind], self.serial)
        name = kw.pop("name", None)
        if name is None:
            digest = hashlib.sha256(f"{self.seed}:{self.serial}".encode()).hexdigest()[:10]
            stem = f"{self.slide_name(slide)}_{digest}" if slide is not None else digest
            name = f"{stem}.{_EXT.get(fmt, fmt)}"
        path = f"{cls}/{name}"
        if path in self.names:
            raise HepatokitError(f"internal error: file name collision {path}")
        self.names.add(path)
        return PatchSpec(
            path=path,
            folder_class=cls,
            slide_id=None if slide is None else self.slide_name(slide),
            kind=kind,
            seed=seed,
            fmt=fmt,
            tissue=kw.pop("tissue", cls),
            slide_index=0 if slide is None else slide,
            base_seed=self.seed,
            **kw,
        )

    def host_slide(self, cls: str) -> int:
        return int(self.rng.choice(self.hosts[cls]))

    def clean_format(self) -> str:
        u = self.rng.random()
        return "PNG" if u < 0.9 else ("JPEG" if u < 0.95 else "TIFF")


def plan_patches(patches: int, seed: int) -> list[PatchSpec]:
    """Every file of the set, in write order (clean first, then planted items)."""
    pl = _Planner(patches, seed)
    rng = pl.rng
    counts = _largest_remainder(patches, CLASS_PROPORTIONS, MIN_PER_CLASS)
    specs: list[PatchSpec] = []
    for cls in CLASSES:
        k = min(pl.n_slides, max(6, math.ceil(pl.n_slides * 0.35)))
        pl.hosts[cls] = np.sort(rng.choice(pl.n_slides, k, replace=False))
        weights = rng.dirichlet(np.full(k, 2.0))
        per = _largest_remainder(counts[cls], dict(enumerate(weights)), 0)
        for host, n in zip(pl.hosts[cls].tolist(), per.values(), strict=True):
            specs.extend(pl.spec("clean", cls, host, pl.clean_format()) for _ in range(n))
    clean = list(specs)
    planted = _planted_counts(len(clean))
    n_sources = planted["exact_dup_of"] + planted["reencoded_of"] + planted["near_dup_of"]
    pool = [clean[i] for i in rng.permutation(len(clean))[:n_sources].tolist()]

    def other_slide(src: PatchSpec) -> int:
        return src.slide_index if rng.random() < 0.6 else pl.host_slide(src.folder_class)

    for _ in range(planted["exact_dup_of"]):
        src = pool.pop()
        specs.append(
            pl.spec("exact_dup_of", src.folder_class, other_slide(src), src.fmt, source=src)
        )
    for _ in range(planted["reencoded_of"]):
        src = pool.pop()
        fmt = "TIFF" if src.fmt != "TIFF" else "PNG"
        fmt = "PNG9" if src.fmt == "PNG" and rng.random() < 0.3 else fmt
        specs.append(pl.spec("reencoded_of", src.folder_class, other_slide(src), fmt, source=src))
    for _ in range(planted["near_dup_of"]):
        src = pool.pop()
        params = near_dup_params(rng)
        fmt = "JPEG" if "quality" in params else "PNG"
        specs.append(
            pl.spec(
                "near_dup_of", src.folder_class, other_slide(src), fmt, source=src, params=params
            )
        )
    specs.extend(_qc_failures(pl, planted))
    specs.extend(_bad_files(pl, planted))
    return specs


def _random_class(rng: np.random.Generator) -> str:
    p = np.array([CLASS_PROPORTIONS[c] for c in CLASSES]) ** 0.5
    return CLASSES[int(rng.choice(len(CLASSES), p=p / p.sum()))]


def _qc_failures(pl: _Planner, planted: dict[str, int]) -> list[PatchSpec]:
    rng = pl.rng
    out: list[PatchSpec] = []
    for i in range(planted["blur"]):
        cls = _random_class(rng)
        sigma = round(float(rng.uniform(2.0, 4.0)), 3)
        out.append(
            pl.spec(
                "blur", cls, pl.host_slide(cls), "PNG" if i % 5 else "JPEG", params={"sigma": sigma}
            )
        )
    for _ in range(planted["background"]):
        cls = _random_class(rng)
        frac = round(float(rng.uniform(0.04, 0.22)), 3)
        out.append(
            pl.spec("background", cls, pl.host_slide(cls), "PNG", params={"tissue_fraction": frac})
        )
    for i in range(planted["off_stain"]):
        cls = _random_class(rng)
        variant = OFF_STAIN_VARIANTS[i % len(OFF_STAIN_VARIANTS)]
        out.append(
            pl.spec("off_stain", cls, pl.host_slide(cls), "PNG", params={"variant": variant})
        )
    colours = sorted(PEN_COLOURS)
    for i in range(planted["pen"]):
        cls = _random_class(rng)
        params = {
            "color": colours[i % len(colours)],
            "opacity": round(float(rng.uniform(0.85, 0.97)), 3),
        }
        out.append(pl.spec("pen", cls, pl.host_slide(cls), "PNG", params=params))
    return out


def _bad_files(pl: _Planner, planted: dict[str, int]) -> list[PatchSpec]:
    rng = pl.rng
    out: list[PatchSpec] = []
    variants = [
        ("truncated", "PNG"),
        ("garbage", "PNG"),
        ("empty", "PNG"),
        ("truncated", "JPEG"),
        ("bad_header", "PNG"),
        ("truncated", "TIFF"),
    ]
    for i in range(planted["corrupt"]):
        cls = _random_class(rng)
        variant, fmt = variants[i % len(variants)]
        out.append(pl.spec("corrupt", cls, pl.host_slide(cls), fmt, params={"variant": variant}))
    sizes = [(224, 224), (149, 150), (150, 149), (300, 300), (128, 128)]
    for i in range(planted["wrong_size"]):
        cls = _random_class(rng)
        size = sizes[i % len(sizes)]
        out.append(
            pl.spec("wrong_size", cls, pl.host_slide(cls), "PNG", params={"size": list(size)})
        )
    for i, (name, content) in enumerate(_NOT_IMAGES):
        cls = CLASSES[(i * 3) % len(CLASSES)]
        out.append(
            pl.spec(
                "not_image", cls, None, "bin", name=name, params={"content": content}, tissue=None
            )
        )
    for i in range(planted["label_conflict"]):
        a, b = rng.choice(len(CLASSES), 2, replace=False).tolist()
        cls_a, cls_b = CLASSES[a], CLASSES[b]
        slide = pl.host_slide(cls_a)
        first = pl.spec("label_conflict", cls_a, slide, "PNG")
        same_name = first.path.split("/", 1)[1] if i % 2 == 0 else None
        second = pl.spec("label_conflict", cls_b, slide, "PNG", tissue=cls_a, name=same_name)
        # both copies hold the same bytes: the second is rendered from the first's seed
        second = replace(second, seed=first.seed, params={"conflict_with": first.path})
        first = replace(first, params={"conflict_with": second.path})
        out.extend([first, second])
    for _ in range(planted["unknown_class"]):
        cls = _random_class(rng)
        out.append(
            pl.spec("unknown_class", UNKNOWN_CLASS_FOLDER, pl.host_slide(cls), "PNG", tissue=cls)
        )
    return out
