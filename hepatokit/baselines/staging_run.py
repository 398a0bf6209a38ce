"""``hepatokit baseline staging``: train a 3D staging model on a published LiFS dataset.

Reads the track's config of an HF dataset folder with :func:`hepatokit.loaders.load_lifs`,
turns rows into fused volumes with :class:`hepatokit.loaders.LifsVolumeTransform` (RAS,
resampled to the baseline's grid, normalised, missing sequences as zero channels), trains on
``train`` with model selection on ``validation``, and predicts ``test_id`` and ``test_ood``::

    OUT/<model>-<track>/checkpoints/   epoch-NNN.pt (resume), best.pt (selected)
    OUT/<model>-<track>/history.json   per-epoch losses, AUCs, timings (run log)
    OUT/<model>-<track>/run.json       configuration, device, selected epoch
    OUT/<model>-<track>/predictions.csv  this track's rows of the submission
    OUT/volume_cache/                  resampled volumes (when loading with worker processes)
    OUT/grid_cache/                    preprocessed grids, memory-mapped (``cache`` not off)
    OUT/submissions/<model>.csv        the official submission (all tracks run so far):
                                       Case,Setting,Subtask1_prob_S4,Subtask2_prob_S1
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hepatokit.atomic import write_json_atomic
from hepatokit.baselines.devices import cpu_threads, select_device
from hepatokit.baselines.patch_data import open_published
from hepatokit.baselines.staging_config import (
    SETTINGS,
    StagingConfig,
    StagingSection,
    baselines_section,
    with_overrides,
)
from hepatokit.baselines.submission import (
    merge_submissions,
    read_submission,
    submission_frame,
    write_submission,
)
from hepatokit.errors import DataFormatError

if TYPE_CHECKING:
    from hepatokit.recipe import Recipe

__all__ = ["StagingReport", "run_staging"]

log = logging.getLogger("hepatokit.baselines.staging")
TEST_SPLITS = ("test_id", "test_ood")


@dataclass
class StagingReport:
    run_dir: Path
    submission_path: Path
    best_epoch: int
    history: list[dict[str, float]]
    n_predicted: int

    @property
    def submission(self) -> Path:
        """Alias of :attr:`submission_path` (the official CSV of this model)."""
        return self.submission_path


class VolumeSplit:
    """``(volume, label)`` items of one split, with ``labels`` and ``case_ids`` up front.

    ``labelled_only`` keeps the rows with a stage. ``cache`` keeps every transformed volume
    in memory (single-process loading: each volume is decoded and resampled once);
    ``cache_dir`` stores them on disk instead (``<case>-<key>.pt``, written atomically, shared
    by DataLoader workers and later runs), ``key`` naming the dataset and the transform.
    """

    def __init__(
        self,
        dataset: Any,
        transform: Any,
        *,
        labelled_only: bool,
        cache: bool,
        cache_dir: Path | None = None,
        key: str = "",
    ):
        stage = dataset.select_columns(["stage"])["stage"]
        ids = dataset.select_columns(["subject_id"])["subject_id"]
        labels = np.array([-1 if s is None else int(s) for s in stage], dtype=np.int64)
        keep = np.flatnonzero(labels >= 0) if labelled_only else np.arange(len(labels))
        self.dataset = dataset
        self.transform = transform
        self.indices = [int(i) for i in keep]
        self.labels = labels[keep]
        self.case_ids = [str(ids[i]) for i in keep]
        self._cache: dict[int, Any] | None = {} if cache else None
        self.cache_dir = cache_dir
        self.key = key

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        if self._cache is not None and i in self._cache:
            return self._cache[i], int(self.labels[i])
        disk = (
            None if self.cache_dir is None else self.cache_dir / f"{self.case_ids[i]}-{self.key}.pt"
        )
        if disk is not None and disk.is_file():
            image = torch_load(disk)
        else:
            image = self.transform(self.dataset[self.indices[i]])["image"]
            if disk is not None:
                torch_save(image, disk)
        if self._cache is not None:
            self._cache[i] = image
        return image, int(self.labels[i])


def torch_load(path: Path) -> Any:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def torch_save(tensor: Any, path: Path) -> None:
    import torch

    from hepatokit.atomic import atomic_path

    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(tensor.clone(), tmp)


def _volume_key(
    data_id: str | None, dataset: Any, sequences: Any, cfg: StagingConfig, intensity: str
) -> str:
    import json

    text = json.dumps(
        {
            "data": data_id or getattr(dataset, "_fingerprint", None),
            "seq": list(sequences),
            "spacing": list(cfg.spacing),
            "grid": list(cfg.grid),
            "norm": intensity,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _config(section: StagingSection, *, tiny: bool, **overrides: Any) -> StagingConfig:
    base = section.tiny if tiny else section.full
    try:
        return with_overrides(base, **overrides)
    except ValueError as exc:
        raise DataFormatError(f"bad staging configuration: {exc}") from exc


def run_staging(
    *,
    data: str | Path,
    model: str = "resnet3d",
    track: str = "contrast",
    out: str | Path,
    recipe: str | Path | None = None,
    tiny: bool = False,
    epochs: int | None = None,
    batch_size: int | None = None,
    num_workers: int | None = None,
    device: str = "auto",
    amp: bool | None = None,
    seed: int | None = None,
    resume: bool = True,
    cache: str | None = None,
) -> StagingReport:
    """Train, select and predict; see the module docstring.

    Parameters
    ----------
    data:
        Published LiFS dataset folder (HFDIR) or Hub repo id.
    model:
        ``resnet3d`` or ``vit3d``.
    track:
        ``contrast`` (7 sequences) or ``noncontrast`` (T1W, T2W, DWI).
    recipe:
        Recipe whose ``baselines.staging`` section configures the run (default: ``lifs``).
    tiny:
        Use the tiny configuration (CPU tests, the demo) instead of the full one.
    epochs, batch_size, num_workers:
        Override the configuration.
    device, amp:
        ``auto``/``cpu``/``cuda``; autocast override (default: on for CUDA).
    seed:
        Default: the recipe's seed.
    resume:
        Continue from the newest checkpoint of ``OUT/<model>-<track>``.
    cache:
        ``off``/``float32``/``float16``/``uint8``: preprocess once into ``OUT/grid_cache``
        and feed from it (:mod:`hepatokit.baselines.grid_cache`); default: the config's.
    """
    from hepatokit.baselines.staging import load_best_model, train_staging

    rec, section, sequences, cfg = _resolve(
        recipe, track=track, tiny=tiny, epochs=epochs, batch_size=batch_size,
        num_workers=num_workers, cache=cache,
    )  # fmt: skip
    seed = rec.seed if seed is None else seed
    plan = select_device(device, amp=amp)
    splits = _open_splits(data, track)
    split_of = _split_maker(splits, data=data, out=Path(out), sequences=sequences, cfg=cfg,
                            section=section)  # fmt: skip
    train = split_of("train", True)
    val = split_of("validation", True)
    if len(val) == 0:
        raise DataFormatError(
            "the validation split has no labelled case",
            path=str(data),
            hint="model selection needs validation labels",
        )
    run_dir = Path(out) / f"{model}-{track}"
    run = train_staging(train, val, model_name=model, config=cfg, out_dir=run_dir,
                        in_channels=len(sequences), plan=plan, seed=seed,
                        resume=resume)  # fmt: skip
    best = load_best_model(run_dir, plan)
    track_frame = _predict_tests(best, splits, split_of, plan=plan, cfg=cfg, track=track, data=data)
    write_submission(run_dir / "predictions.csv", track_frame)
    write_json_atomic(run_dir / "history.json", run.history)
    record = {"model": model, "track": track, "sequences": list(sequences), "seed": seed,
              "config": asdict(cfg), "tiny": tiny, "device": plan.describe(),
              "best_epoch": run.best_epoch, "best_score": run.best_score, "n_train": len(train),
              "n_validation": len(val), "recipe_sha256": rec.sha256}  # fmt: skip
    write_json_atomic(run_dir / "run.json", record)
    sub_path = _merge_tracks(Path(out), model)
    log.info("%s/%s: best epoch %d, %d test cases predicted → %s",
             model, track, run.best_epoch, len(track_frame), sub_path)  # fmt: skip
    return StagingReport(run_dir=run_dir, submission_path=sub_path, best_epoch=run.best_epoch,
                         history=run.history, n_predicted=len(track_frame))  # fmt: skip


def _resolve(
    recipe: str | Path | None,
    *,
    track: str,
    tiny: bool,
    epochs: int | None,
    batch_size: int | None,
    num_workers: int | None,
    cache: str | None = None,
) -> tuple[Recipe, StagingSection, list[str], StagingConfig]:
    """(recipe, its ``baselines.staging`` section, the track's sequences, the run's config)."""
    from hepatokit.recipe import load_recipe

    rec = load_recipe(recipe or "lifs")
    section = baselines_section(rec).staging
    if track not in SETTINGS:
        raise DataFormatError(f"unknown track {track!r}", hint="contrast or noncontrast")
    sequences = section.tracks.get(track)
    if not sequences:
        raise DataFormatError(f"baselines.staging.tracks has no {track!r}", path=rec.source)
    if num_workers is None:
        from hepatokit.baselines.devices import loader_workers

        num_workers = loader_workers((section.tiny if tiny else section.full).num_workers)
    cfg = _config(section, tiny=tiny, epochs=epochs, batch_size=batch_size,
                  num_workers=num_workers, cache=cache)  # fmt: skip
    return rec, section, sequences, cfg


def _open_splits(data: str | Path, track: str) -> Any:
    """The published dataset's splits of the track; train and validation are required."""
    from hepatokit.loaders import load_lifs

    splits = open_published(load_lifs, data, what="LiFS", track=track)
    missing = [s for s in ("train", "validation", *TEST_SPLITS) if s not in splits]
    if "train" in missing or "validation" in missing:
        raise DataFormatError(
            f"the dataset lacks split(s) {missing}",
            path=str(data),
            hint="publish LiFS with train/validation/test_id/test_ood splits",
        )
    return splits


def _split_maker(
    splits: Any,
    *,
    data: str | Path,
    out: Path,
    sequences: Any,
    cfg: StagingConfig,
    section: StagingSection,
) -> Callable[[str, bool], Any]:
    """``split_of(name, labelled_only)``: a split's fused volumes, through the grid cache
    ``OUT/grid_cache`` (``cfg.cache`` not off), else cached in memory (one process) or in
    ``OUT/volume_cache`` (loader worker processes)."""
    from hepatokit.loaders import LifsVolumeTransform

    transform = LifsVolumeTransform(
        sequences,
        spacing=cfg.spacing,
        spatial_size=cfg.grid,
        normalize=section.intensity,
        missing="zeros",
    )
    # one process: keep volumes in memory; worker processes: share an on-disk cache
    in_memory = cfg.num_workers == 0
    disk = None if in_memory else out / "volume_cache"
    checksums = Path(data) / "checksums.sha256"  # the published folder's content record
    data_id = hashlib.sha256(checksums.read_bytes()).hexdigest() if checksums.is_file() else None

    def split_of(name: str, labelled_only: bool) -> Any:
        ds = splits[name]
        if cfg.cache != "off":
            from hepatokit.baselines.staging_cache import cached_split

            split = VolumeSplit(ds, transform, labelled_only=labelled_only, cache=False)
            return cached_split(split, out / "grid_cache", cfg.cache, name=name,
                                workers=cfg.num_workers)  # fmt: skip
        return VolumeSplit(
            ds,
            transform,
            labelled_only=labelled_only,
            cache=in_memory,
            cache_dir=disk,
            key=_volume_key(data_id, ds, sequences, cfg, section.intensity),
        )

    return split_of


def _predict_tests(
    best: Any,
    splits: Any,
    split_of: Callable[[str, bool], Any],
    *,
    plan: Any,
    cfg: StagingConfig,
    track: str,
    data: str | Path,
) -> pd.DataFrame:
    """This track's submission rows: the selected model's predictions of the test splits."""
    from hepatokit.baselines.staging import predict_staging

    frames = []
    for name in TEST_SPLITS:
        if name not in splits:
            log.warning("%s: no %s split, not predicted", data, name)
            continue
        test = split_of(name, False)
        with cpu_threads(plan, cfg.cpu_threads):
            probs = predict_staging(best, test, plan=plan, batch_size=cfg.batch_size)
        frames.append(submission_frame(test.case_ids, probs, track))
    if not frames:
        return submission_frame([], np.zeros((0, 4)), track)
    return pd.concat(frames, ignore_index=True)


def _merge_tracks(out: Path, model: str) -> Path:
    """Write ``OUT/submissions/<model>.csv`` from every track's predictions so far."""
    sub_path = out / "submissions" / f"{model}.csv"
    parts = [
        read_submission(p)
        for t in SETTINGS
        if (p := out / f"{model}-{t}" / "predictions.csv").is_file()
    ]
    write_submission(sub_path, merge_submissions(parts))
    return sub_path
