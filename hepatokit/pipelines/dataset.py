"""``hepatokit build RECIPE``: a dataset's whole curation chain, then its split and audits.

The recipe's ``kind`` picks the chain: ``mri`` (LiFS: index → series → convert → QC →
labels) or ``patho`` (HepatoBench: ingest or tile → QC → dedup); both end with the split
and the leakage audit and the PHI audit (MRI: raw header values; histology: slide ids,
file names and image metadata in the build's reports; ``publish build`` audits every
published byte of a histology dataset again).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepatokit.errors import LeakageError, PHIError
from hepatokit.recipe import build_recipe, load_recipe

__all__ = ["BuildSummary", "build_dataset"]

log = logging.getLogger("hepatokit.pipelines.dataset")
#: the packaged recipe of each kind (a stage's default)
_PACKAGED = {"mri": "lifs", "patho": "hepatobench"}


@dataclass
class BuildSummary:
    """What a build made: the curation summary, split result and audit outcomes."""

    kind: str
    out: Path
    curation: Any
    split: Any
    leakage: Any
    phi: Any = None
    manifest: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        m = self.manifest
        return (
            f"{self.kind} build at {self.out}: {m.get('inputs')} inputs, {m.get('kept')} kept, "
            f"{m.get('excluded')} excluded; split + audits passed"
        )


def build_dataset(
    *,
    recipe: str | os.PathLike[str],
    raw: str | os.PathLike[str],
    out: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    demo_key: bool = False,
    key_file: str | os.PathLike[str] | None = None,
    mpp: float | None = None,
    force_mpp: bool = False,
    strict_audits: bool = True,
    break_lock: bool = False,
) -> BuildSummary:
    """Run every curation stage of ``recipe`` on ``raw`` into ``out``, then split and audit.

    Parameters
    ----------
    recipe
        Recipe path or packaged name (``lifs``, ``hepatobench``).
    raw
        Raw input: a DICOM tree (mri) or a patch / slide folder (patho).
    labels
        Clinical label CSV (mri only).
    demo_key
        MRI only: use the built-in de-identification key (synthetic data only; real data
        needs ``HEPATOKIT_DEID_KEY`` or a key file).
    key_file
        File holding the de-identification key (else ``HEPATOKIT_DEID_KEY``); histology:
        the key of the slide pseudonyms (else the build's own random key, see
        :mod:`hepatokit.pseudonyms`).
    mpp, force_mpp
        Histology slides: level-0 µm/px for slides without resolution metadata; with
        ``force_mpp`` for every slide.
    strict_audits
        Raise if the leakage or PHI audit finds anything (the CLI's exit 1).
    break_lock
        Break a lock left by a run on another host (see :mod:`hepatokit.buildlock`; a
        stale lock of this host is always broken, a live run's never).

    Raises
    ------
    BuildLockedError
        Another run is writing ``out``.
    """
    from hepatokit.buildlock import build_lock

    with build_lock(out, break_lock=break_lock):
        return _build_dataset(recipe=recipe, raw=raw, out=out, labels=labels, workers=workers,
                              executor=executor, demo_key=demo_key, key_file=key_file, mpp=mpp,
                              force_mpp=force_mpp, strict_audits=strict_audits)  # fmt: skip


def _build_dataset(
    *,
    recipe: str | os.PathLike[str],
    raw: str | os.PathLike[str],
    out: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None,
    workers: int | None,
    executor: Executor | None,
    demo_key: bool,
    key_file: str | os.PathLike[str] | None,
    mpp: float | None,
    strict_audits: bool,
    force_mpp: bool = False,
) -> BuildSummary:
    from hepatokit.manifest import Manifest
    from hepatokit.splits import audit_leakage, split_build

    recipe = recipe if isinstance(recipe, str) else Path(recipe)
    out = Path(out)
    # the recipe resolved and snapshotted (BUILD/recipe.yaml) once, here at the edge
    rec = build_recipe(out, recipe, default=_PACKAGED[load_recipe(recipe).kind])
    phi: Any = None
    if rec.kind == "mri":
        from hepatokit.curation.mri import audit_phi
        from hepatokit.pipelines.lifs import build_lifs

        curation: Any = build_lifs(recipe=recipe, raw=raw, labels=labels, out=out, workers=workers,
                              executor=executor, demo_key=demo_key, key_file=key_file)  # fmt: skip
    else:
        from hepatokit.pipelines.hepatobench import build_hepatobench

        curation = build_hepatobench(recipe=recipe, raw=raw, out=out, workers=workers,
                                     executor=executor, mpp=mpp,
                                     force_mpp=force_mpp, key_file=key_file)  # fmt: skip
    split = split_build(build=out, recipe=rec)
    leakage = audit_leakage(build=out, recipe=rec)
    from hepatokit.contracts.common import PHI_AUDIT_JSON, PHI_AUDIT_MD
    from hepatokit.report import build_report

    # before the PHI audit, which also reads the page (and links to the audit's report)
    build_report(build=out, recipe=rec, pending=(PHI_AUDIT_JSON, PHI_AUDIT_MD))
    if rec.kind == "mri":
        phi = audit_phi(build=out, raw=raw, workers=workers, executor=executor)
    else:
        from hepatokit.publish.histology_audit import audit_histology_phi

        phi = audit_histology_phi(build=out, workers=workers, executor=executor)
    summary = Manifest(out).check().as_dict()
    result = BuildSummary(rec.kind, out, curation, split, leakage, phi, summary)
    if strict_audits and not leakage.ok:
        raise LeakageError(f"the split of {out} leaks", hint=f"see {out}/reports")
    if strict_audits and phi is not None and not phi.ok:
        raise PHIError(f"PHI found in the outputs of {out}", hint=f"see {out}/reports")
    return result
