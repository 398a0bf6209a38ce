"""hepatokit.loaders: published datasets → ``datasets`` objects → torch-ready items.

Importing this package imports neither torch, MONAI nor datasets: they load on first use.
"""

from hepatokit.loaders.hepatobench_torch import (
    HepatoBenchImages,
    HepatoBenchTransform,
    iterable_hepatobench,
)
from hepatokit.loaders.hub import LIFS_TRACKS, dataset_meta, load_hepatobench, load_lifs
from hepatokit.loaders.lifs_torch import (
    LIFS_TRACK_SEQUENCES,
    LifsVolumes,
    LifsVolumeTransform,
    iterable_lifs,
    nifti_from_cell,
)

__all__ = [
    "LIFS_TRACKS",
    "LIFS_TRACK_SEQUENCES",
    "HepatoBenchImages",
    "HepatoBenchTransform",
    "LifsVolumeTransform",
    "LifsVolumes",
    "dataset_meta",
    "iterable_hepatobench",
    "iterable_lifs",
    "load_hepatobench",
    "load_lifs",
    "nifti_from_cell",
]
