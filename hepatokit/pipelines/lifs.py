"""``build_lifs``: the whole LiFS curation chain, index → series → convert → qc → labels."""

from __future__ import annotations

import logging
import os
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from hepatokit.curation.mri import INDEX_WORKER_MODULES
from hepatokit.curation.mri.config import mri_config
from hepatokit.curation.mri.convert.stage import ConvertSummary, convert_volumes
from hepatokit.curation.mri.index.stage import IndexSummary, index_dicom
from hepatokit.curation.mri.labels.stage import LabelsSummary, join_labels
from hepatokit.curation.mri.qc.stage import VolumeQCSummary, qc_volumes
from hepatokit.curation.mri.series.stage import SeriesSummary, recognise_series
from hepatokit.manifest import Manifest, ManifestSummary
from hepatokit.parallel import start_pool
from hepatokit.recipe import build_recipe

__all__ = ["LifsBuildSummary", "build_lifs"]

log = logging.getLogger("hepatokit.pipelines.lifs")


@dataclass(frozen=True)
class LifsBuildSummary:
    """The summaries of every stage plus the manifest check."""

    index: IndexSummary
    series: SeriesSummary
    convert: ConvertSummary
    qc: VolumeQCSummary
    labels: LabelsSummary | None
    manifest: ManifestSummary


def build_lifs(
    *,
    recipe: str | os.PathLike[str] | None,
    raw: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    workers: int | None = None,
    executor: Executor | None = None,
    dask_address: str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    demo_key: bool = False,
) -> LifsBuildSummary:
    """Run the LiFS curation of ``raw`` into ``out`` (every stage resumable).

    Parameters
    ----------
    recipe
        Recipe path or name (None: ``BUILD/recipe.yaml`` or the packaged ``lifs``).
    raw
        DICOM root. ``labels``: the clinical CSV (None: no ``labels`` stage, no subjects table).
    workers, executor, dask_address
        Parallelism: one executor (local pool or Dask) is shared by all stages.
    key_file, demo_key
        Pseudonym key source (see :func:`hepatokit.curation.mri.deid.keys.load_deid_key`).
    """
    out = Path(out)
    with start_pool(
        executor=executor, workers=workers, dask_address=dask_address, preload=INDEX_WORKER_MODULES
    ) as pool:
        return _build(recipe, raw, labels, out, workers, pool, key_file, demo_key)


def _build(
    recipe: str | os.PathLike[str] | None,
    raw: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None,
    out: Path,
    workers: int | None,
    executor: Executor | None,
    key_file: str | os.PathLike[str] | None,
    demo_key: bool,
) -> LifsBuildSummary:
    """:func:`build_lifs` once its executor is settled (None: inline), under the build lock."""
    from hepatokit.buildlock import build_lock

    with build_lock(out):
        rec = build_recipe(out, None if recipe is None else os.fspath(recipe), default="lifs")
        cfg, sha = mri_config(rec), rec.sha256  # every MRI section checked before any work
        idx = index_dicom(
            raw=raw,
            out=out,
            index=cfg.index,
            deid=cfg.deid,
            recipe_sha256=sha,
            workers=workers,
            executor=executor,
            key_file=key_file,
            demo_key=demo_key,
        )
        ser = recognise_series(build=out, series=cfg.series, recipe_sha256=sha)
        seqs = cfg.sequences
        conv = convert_volumes(
            build=out,
            convert=cfg.convert,
            sequences=seqs,
            recipe_sha256=sha,
            workers=workers,
            executor=executor,
        )
        qc = qc_volumes(
            build=out,
            qc=cfg.qc,
            sequences=seqs,
            recipe_sha256=sha,
            workers=workers,
            executor=executor,
        )
        lab = None
        if labels is not None:
            lab = join_labels(
                build=out,
                labels=labels,
                labels_config=cfg.labels,
                deid=cfg.deid,
                sequences=seqs,
                recipe_sha256=sha,
            )
        summary = Manifest(out).check()
    log.info(
        "LiFS build: %d inputs, %d kept, %d excluded",
        summary.inputs,
        summary.kept,
        summary.excluded,
    )
    return LifsBuildSummary(idx, ser, conv, qc, lab, summary)
