"""``hepatokit demo``: both reference datasets end to end from synthetic raw data.

raw (synthetic) → build (curation, split, audits) → publish (HF dataset) → load back →
baselines (tiny 3D staging, linear probe) → evaluation reports → HepatoQuant on the WSIs,
all under one folder (default ``./hepatokit-demo``), with ``REPORT.md`` linking everything.
Re-running resumes: finished stages are skipped.
"""

from __future__ import annotations

import csv
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepatokit.atomic import write_text_atomic
from hepatokit.contracts.common import PRIVATE, TEST_TRUTH
from hepatokit.contracts.lifs import PSEUDONYMS

__all__ = ["DemoSummary", "run_demo"]

log = logging.getLogger("hepatokit.pipelines.demo")


@dataclass
class DemoSummary:
    """Where the demo wrote what, and how long each step took (seconds)."""

    out: Path
    steps: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"demo written to {self.out} (report: {self.out / 'REPORT.md'})"]
        lines += [f"  {k:<28} {v:6.1f} s" for k, v in self.steps.items()]
        return "\n".join(lines)


def _step(summary: DemoSummary, name: str, fn: Callable[[], Any]) -> Any:
    log.info("demo: %s", name)
    t0 = time.perf_counter()
    value = fn()
    summary.steps[name] = time.perf_counter() - t0
    return value


def run_demo(
    *,
    out: str | Path = "hepatokit-demo",
    seed: int = 0,
    workers: int | None = None,
    patients: int = 36,
    patches: int = 2000,
    slides: int = 2,
    staging_epochs: int | None = None,
) -> DemoSummary:
    """Run the whole flow on synthetic data; returns the summary also written as REPORT.md."""
    from hepatokit.synthetic import generate_mri_studies, generate_patches, generate_wsis

    out = Path(out)
    raw = out / "raw"
    s = DemoSummary(out=out)
    if not _synth_done(raw / "mri", seed=seed, count=("n_patients", patients)):
        _step(s, "synth mri", lambda: generate_mri_studies(raw / "mri", patients=patients,
                                                           seed=seed, workers=workers))  # fmt: skip
    if not _synth_done(raw / "patho", seed=seed, count=("patches", patches)):
        _step(s, "synth patho", lambda: generate_patches(raw / "patho", patches=patches,
                                                         seed=seed, workers=workers))  # fmt: skip
    if not _synth_done(raw / "wsi", seed=seed, count=None):
        _step(s, "synth wsi", lambda: generate_wsis(raw / "wsi", slides=slides, seed=seed,
                                                    workers=workers))  # fmt: skip
    _lifs(s, raw, out / "lifs", workers=workers, seed=seed, epochs=staging_epochs)
    head = _hepatobench(s, raw, out / "hepatobench", workers=workers, seed=seed)
    _quant(s, raw, out / "quant", head=head, workers=workers)
    _regions(s, raw, out / "quant" / "region_model_demo")
    _write_report(s)
    return s


def _synth_done(folder: Path, *, seed: int, count: tuple[str, int] | None) -> bool:
    """A synthetic set is complete when its ``truth.json`` (written last) matches the ask."""
    import json

    truth = folder / "truth.json"
    if not truth.is_file():
        return False
    data = json.loads(truth.read_text())
    if data.get("seed") != seed:
        return False
    return count is None or data.get(count[0], count[1]) == count[1]


# ----------------------------------------------------------------------------- LiFS
def _lifs(s: DemoSummary, raw: Path, root: Path, *, workers: int | None, seed: int,
          epochs: int | None) -> None:  # fmt: skip
    from hepatokit.baselines import run_staging
    from hepatokit.evaluation import evaluate_lifs
    from hepatokit.loaders import load_lifs
    from hepatokit.pipelines.dataset import build_dataset
    from hepatokit.publish import publish_build

    build, hf = root / "build", root / "hf"
    b = _step(s, "lifs build", lambda: build_dataset(
        recipe="lifs", raw=raw / "mri" / "dicom", labels=raw / "mri" / "clinical_labels.csv",
        out=build, workers=workers, demo_key=True))  # fmt: skip
    s.facts["lifs_manifest"] = b.manifest
    _step(s, "lifs publish", lambda: publish_build(build=build, out=hf, withhold_test_labels=True,
                                                   workers=workers))  # fmt: skip
    counts = _step(s, "lifs load back", lambda: {
        track: {k: len(v) for k, v in load_lifs(hf, track=track).items()}
        for track in ("contrast", "noncontrast")})  # fmt: skip
    s.facts["lifs_splits"] = counts["contrast"]
    subs = root / "submissions"
    rows: list[dict[str, str]] = []
    for track in ("contrast", "noncontrast"):
        train = functools.partial(run_staging, data=hf, model="resnet3d", track=track,
                                  out=root / "baselines" / f"resnet3d-{track}", tiny=True,
                                  epochs=epochs, seed=seed)  # fmt: skip
        report = _step(s, f"lifs staging {track}", train)
        with open(report.submission) as fh:
            rows.extend(csv.DictReader(fh))
    _write_csv(subs / "ResNet3D.csv", rows)
    readers = _readers_by_case(raw / "mri" / "readers.csv", build)
    lifs_report = _step(s, "lifs evaluate", lambda: evaluate_lifs(
        truth=build / TEST_TRUTH, submissions=subs, readers=readers,
        out=root / "report", n_bootstrap=200, seed=seed))  # fmt: skip
    s.facts["lifs_report"] = str(root / "report")
    from hepatokit.report import build_report

    _step(s, "lifs report page", lambda: build_report(build=build, evaluations=[root / "report"]))
    s.facts["lifs_leaderboard"] = getattr(lifs_report, "leaderboard_md", None)


def _readers_by_case(readers_csv: Path, build: Path) -> Path:
    """Reader scores keyed by original patient id → the evaluator's ``Case,Reader,score``
    keyed by pseudonym (written under ``private/``: it links to original ids)."""
    import pyarrow.parquet as pq

    pseud = pq.read_table(build / PSEUDONYMS).to_pylist()
    with open(build / TEST_TRUTH) as fh:
        test_cases = {r["Case"] for r in csv.DictReader(fh)}
    by_key = {str(r["original_key"]).split("|")[-1]: r["subject_id"] for r in pseud}
    rows = []
    with open(readers_csv) as fh:
        for r in csv.DictReader(fh):
            case = by_key.get(r["patient_id"])
            if case is None or case not in test_cases:  # readers score the test cases
                continue
            for reader in sorted(k for k in r if k.startswith("reader")):
                rows.append({"Case": case, "Reader": reader, "score": r[reader]})
    path = build / PRIVATE / "readers.csv"
    _write_csv(path, sorted(rows, key=lambda r: (r["Reader"], r["Case"])))
    return path


# ----------------------------------------------------------------------------- HepatoBench
def _hepatobench(s: DemoSummary, raw: Path, root: Path, *, workers: int | None,
                 seed: int) -> Path:  # fmt: skip
    from hepatokit.baselines import ProbeSettings, run_probe
    from hepatokit.loaders import load_hepatobench
    from hepatokit.pipelines.dataset import build_dataset
    from hepatokit.publish import publish_build

    build, hf = root / "build", root / "hf"
    b = _step(s, "hepatobench build", lambda: build_dataset(
        recipe="hepatobench", raw=raw / "patho" / "patches", out=build,
        workers=workers))  # fmt: skip
    s.facts["hepatobench_manifest"] = b.manifest
    _step(s, "hepatobench publish", lambda: publish_build(build=build, out=hf, workers=workers))
    ds = _step(s, "hepatobench load back", lambda: load_hepatobench(hf))
    s.facts["hepatobench_splits"] = {k: len(v) for k, v in ds.items()}
    _step(s, "hepatobench probe", lambda: run_probe(
        data=hf, encoders=["builtin:tiny-cnn"], out=root / "probe", bootstrap=200,
        seed=seed))  # fmt: skip
    s.facts["hepatobench_report"] = str(root / "probe")
    from hepatokit.report import build_report

    _step(s, "hepatobench report page",
          lambda: build_report(build=build, evaluations=[root / "probe"]))  # fmt: skip
    # HepatoQuant's head: class-balanced (REA is ~1 % of the patches), same cached embeddings;
    # the benchmark table above keeps the UNI protocol
    quant_head = _step(s, "hepatoquant head", lambda: run_probe(
        data=hf, encoders=["builtin:tiny-cnn"], out=root / "quant-head", bootstrap=0,
        seed=seed, cache_dir=root / "probe" / "cache",
        settings=ProbeSettings(class_weight="balanced")))  # fmt: skip
    return Path(quant_head.heads["builtin:tiny-cnn"])


# ----------------------------------------------------------------------------- HepatoQuant
def _quant(s: DemoSummary, raw: Path, root: Path, *, head: Path, workers: int | None) -> None:
    from hepatokit.quant import ProbeTileClassifier, quantify_slides

    make = functools.partial(ProbeTileClassifier, "builtin:tiny-cnn", head, "cpu")
    summary = _step(s, "quant", lambda: quantify_slides(
        [raw / "wsi" / "slides"], make_classifier=make, regions=raw / "wsi" / "annotations",
        out=root, workers=1))  # fmt: skip
    s.facts["quant"] = summary


def _regions(s: DemoSummary, raw: Path, root: Path) -> None:
    """A tiny region model: trained on all good slides but the last, scored on every one."""
    import json
    import shutil

    from hepatokit.quant import evaluate_regions
    from hepatokit.quant.segment.data import read_hepatobench_slides
    from hepatokit.quant.segment.predict import predict_regions
    from hepatokit.quant.segment.train import train_region_model

    wsi = raw / "wsi"
    good = [x for x in json.loads((wsi / "truth.json").read_text())["slides"] if x["kind"] == "ok"]
    train = good[:-1] or good
    # the slides behind the HepatoBench patches never become region-model test slides
    table = raw / "patho" / "patches_table.csv"
    bench = read_hepatobench_slides(table) if table.is_file() else set()
    rec = _step(s, "region model", lambda: train_region_model(
        slides=[wsi / g["file"] for g in train], annotations=wsi / "annotations",
        out=root / "model", epochs=8, windows_per_epoch=256, batch_size=32, window=64,
        validation_fraction=0.0, hepatobench_slides=bench, device="cpu", threads=1))  # fmt: skip
    s.facts["regions_hepatobench_overlap"] = sorted(bench & {Path(g["file"]).stem for g in good})
    _step(s, "region predict", lambda: predict_regions(
        [wsi / g["file"] for g in good], model=root / "model", out=root / "predicted",
        device="cpu", threads=1))  # fmt: skip
    truth = root / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    for g in good:
        shutil.copy(wsi / g["annotation"], truth / Path(g["annotation"]).name)
    res = evaluate_regions(pred=root / "predicted", truth=truth, out=root / "evaluation",
                           n_resamples=0)  # fmt: skip
    s.facts["regions"] = {
        name: {"iou": sc.iou, "dice": sc.dice, "role": rec["slides"].get(name, "held out")}
        for name, sc in sorted(res.per_slide.items())
    }


def _regions_table(s: DemoSummary) -> list[str]:
    rows = s.facts.get("regions") or {}
    if not rows:
        return []
    lines = [
        "Regions drawn by a tiny region model (`builtin:seg-cnn`, 1.25×, trained in the demo), "
        "tumor region against the planted polygon (`quant/region_model_demo/`):",
        "",
        "| slide | role | tumor IoU | Dice |",
        "|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['role']} | {r['iou']:.3f} | {r['dice']:.3f} |")
    return lines


# ----------------------------------------------------------------------------- report
def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    import io

    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    write_text_atomic(path, buf.getvalue())


def _include(path: Path) -> str:
    """A report's markdown, its own title demoted one level (or a note if it is missing)."""
    if not path.is_file():
        return f"_({path.name} was not written)_"
    text = path.read_text()
    return "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())


def _quant_table(report_csv: Path) -> list[str]:
    """Headline proportions (by tile count) per slide from HepatoQuant's ``report.csv``."""
    if not report_csv.is_file():
        return []
    with open(report_csv) as fh:
        rows = list(csv.DictReader(fh))
    cols = [
        ("non_tumor", "STE"), ("non_tumor", "REA"), ("non_tumor", "FIB"), ("non_tumor", "INF"),
        ("tumor", "NEC"), ("tumor", "FIB"), ("tumor", "INF"),
    ]  # fmt: skip
    head = "| slide | tiles | " + " | ".join(f"{r} {c}" for r, c in cols) + " |"
    lines = [head, "|---" * (len(cols) + 2) + "|"]
    for row in rows:
        vals = [row.get(f"{r}_{c}_by_count", "") for r, c in cols]
        pct = [f"{100 * float(v):.1f} %" if v else "" for v in vals]
        lines.append(f"| {row['slide_id']} | {row['n_tiles']} | " + " | ".join(pct) + " |")
    return lines


def _write_report(s: DemoSummary) -> None:
    f = s.facts
    lines = [
        "# hepatokit demo",
        "",
        "Synthetic raw data through the whole flow. Timings on this machine:",
        "",
        "| step | seconds |",
        "|---|---|",
        *[f"| {k} | {v:.1f} |" for k, v in s.steps.items()],
        "",
        "## LiFS",
        f"- curation funnel: {f.get('lifs_manifest')}",
        f"- splits (contrast config): {f.get('lifs_splits')}",
        "- dataset: `lifs/hf/` (load with `hepatokit.load_lifs('lifs/hf', track='contrast')`)",
        "- leaderboard and figures: `lifs/report/`",
        "",
        _include(s.out / "lifs" / "report" / "leaderboard.md"),
        "",
        "## HepatoBench",
        f"- curation funnel: {f.get('hepatobench_manifest')}",
        f"- splits: {f.get('hepatobench_splits')}",
        "- dataset: `hepatobench/hf/`; linear probe report: `hepatobench/probe/`",
        "",
        _include(s.out / "hepatobench" / "probe" / "comparison.md"),
        "",
        "## HepatoQuant",
        f"- {f.get('quant')}",
        "- per-slide `report.json`, `tissue_map.png`, `regions.png`: `quant/<slide>/`; all: "
        "`quant/report.csv`",
        "",
        *_quant_table(s.out / "quant" / "report.csv"),
        "",
        *_regions_table(s),
        "",
    ]
    write_text_atomic(s.out / "REPORT.md", "\n".join(lines))
