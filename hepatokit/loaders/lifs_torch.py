"""LiFS for torch: NIfTI cells → RAS, resampled, normalised volumes stacked as channels.

``datasets``' ``with_format("torch")`` cannot turn a ``Nifti`` cell into a tensor; the
:class:`LifsVolumeTransform` can: it takes a row (decoded nibabel images, or the raw
``{"bytes", "path"}`` cells) and returns ``image`` ``[C, X, Y, Z]`` float32 on the recipe
grid, ``mask`` ``[C]`` (1 = sequence present) and ``label``. With ``grid="sequence"`` (the
default) each sequence is reoriented, resampled and cropped in its own space; with
``grid="reference"`` every sequence is resampled into the grid of the subject's reference
sequence (its ``registration_reference``, else the first present of ``reference``),
applying the stored registration (``transform_<SEQ>``: 4×4 RAS matrix, reference point →
sequence point) when the dataset carries one, so that the channels overlay. Use it per
example, or per batch with ``ds.with_transform(transform.batch)``. :class:`LifsVolumes`
wraps a ``Dataset`` for a ``DataLoader``; :func:`iterable_lifs` does the same for a
streaming ``IterableDataset``. torch and MONAI are imported on first use only.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from hepatokit.contracts.lifs import SEQUENCES
from hepatokit.errors import DataFormatError

__all__ = [
    "LIFS_TRACK_SEQUENCES",
    "LifsVolumeTransform",
    "LifsVolumes",
    "iterable_lifs",
    "nifti_from_cell",
]

LIFS_TRACK_SEQUENCES = {
    "contrast": SEQUENCES,
    "noncontrast": ("T1W", "T2W", "DWI"),
}
Missing = Literal["zeros", "drop", "error"]
Grid = Literal["sequence", "reference"]
#: reference sequences tried in order when a row names none (as the ``register`` recipe)
DEFAULT_REFERENCE = ("GED4", "GED3", "T1W")
Target = Literal["stage", "cirrhosis", "significant_fibrosis"]


def nifti_from_cell(cell: Any) -> Any:
    """A nibabel image from a decoded cell (returned as is), a ``{"bytes", "path"}`` cell or
    raw bytes (gzip or not); None stays None."""
    import nibabel as nib

    if cell is None or isinstance(cell, nib.spatialimages.SpatialImage):
        return cell
    data = cell.get("bytes") if isinstance(cell, dict) else cell
    if data is None:
        path = cell.get("path") if isinstance(cell, dict) else None
        if path is None:
            return None
        return nib.load(path)
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return nib.Nifti1Image.from_bytes(data)


class LifsVolumeTransform:
    """Turn a LiFS row into ``{"image", "mask", "label"}`` tensors.

    Parameters
    ----------
    sequences
        Channels, in order (e.g. ``LIFS_TRACK_SEQUENCES["contrast"]``).
    spacing
        Target voxel size in mm (x, y, z) after RAS reorientation.
    spatial_size
        Output grid in voxels (x, y, z): centre crop / zero pad after resampling.
    normalize
        ``zscore`` (per channel, over the volume), ``percentile`` (1–99 % → 0–1, clipped),
        or ``none``.
    missing
        ``zeros``: a missing sequence is a zero channel with ``mask`` 0; ``drop``: a row
        missing any sequence gives None (the wrappers skip it); ``error``: raise.
    target
        Which label column is ``label`` (``-1`` when null: unlabelled or withheld).
    grid
        ``sequence``: each sequence on its own RAS grid (crop / pad about its own centre);
        ``reference``: every sequence resampled (MONAI ``SpatialResample``) into the
        reference sequence's grid — RAS, ``spacing``, ``spatial_size`` — through the row's
        stored transform when present; intensities are normalised on that final grid.
    reference
        Reference sequences, in order of preference, for ``grid="reference"`` when the row
        has no ``registration_reference``.
    """

    def __init__(
        self,
        sequences: Sequence[str],
        *,
        spacing: Sequence[float] = (2.0, 2.0, 2.0),
        spatial_size: Sequence[int] = (96, 96, 64),
        normalize: Literal["zscore", "percentile", "none"] = "zscore",
        missing: Missing = "zeros",
        target: Target = "stage",
        grid: Grid = "sequence",
        reference: Sequence[str] = DEFAULT_REFERENCE,
    ):
        if missing not in ("zeros", "drop", "error"):
            raise ValueError(f"missing must be zeros, drop or error, got {missing!r}")
        if grid not in ("sequence", "reference"):
            raise ValueError(f"grid must be sequence or reference, got {grid!r}")
        self.grid = grid
        self.reference = tuple(reference)
        self.sequences = tuple(sequences)
        self.spacing = tuple(float(s) for s in spacing)
        self.spatial_size = tuple(int(s) for s in spatial_size)
        self.normalize = normalize
        self.missing = missing
        self.target = target
        self._pipeline: Any = None
        self._geometry: Any = None

    def _normalizer(self) -> Any:
        from monai.transforms import NormalizeIntensity, ScaleIntensityRangePercentiles

        if self.normalize == "zscore":
            return NormalizeIntensity(channel_wise=True)
        if self.normalize == "percentile":
            return ScaleIntensityRangePercentiles(
                lower=1, upper=99, b_min=0.0, b_max=1.0, clip=True
            )
        return None

    def _compose(self) -> Any:
        from monai.transforms import (
            Compose,
            NormalizeIntensity,
            Orientation,
            ResizeWithPadOrCrop,
            ScaleIntensityRangePercentiles,
            Spacing,
        )

        steps: list[Any] = [
            Orientation(axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S"))),
            Spacing(pixdim=self.spacing, mode="bilinear"),
        ]
        if self.normalize == "zscore":
            steps.append(NormalizeIntensity(channel_wise=True))
        elif self.normalize == "percentile":
            steps.append(
                ScaleIntensityRangePercentiles(lower=1, upper=99, b_min=0.0, b_max=1.0, clip=True)
            )
        steps.append(ResizeWithPadOrCrop(self.spatial_size))
        return Compose(steps)

    def volume(self, cell: Any) -> Any:
        """One sequence on the grid: ``[X, Y, Z]`` float32 tensor (RAS, resampled, normalised)."""
        import torch

        if self._pipeline is None:
            self._pipeline = self._compose()
        out = self._pipeline(_meta(cell))
        return torch.as_tensor(out, dtype=torch.float32)[0]

    def reference_grid(self, cell: Any) -> tuple[Any, tuple[int, ...]]:
        """The grid of ``grid="reference"`` for a reference volume: (4×4 RAS affine, shape):
        the reference reoriented to RAS, at ``spacing``, cropped / padded to
        ``spatial_size`` about its centre."""
        from monai.transforms import Compose, Orientation, ResizeWithPadOrCrop, Spacing

        if self._geometry is None:
            self._geometry = Compose(
                [
                    Orientation(axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S"))),
                    Spacing(pixdim=self.spacing, mode="nearest"),
                    ResizeWithPadOrCrop(self.spatial_size),
                ]
            )
        out = self._geometry(_meta(cell))
        return out.affine.clone(), tuple(int(n) for n in out.shape[1:])

    def on_grid(self, cell: Any, affine: Any, transform: Any = None) -> Any:
        """One sequence resampled into the grid ``affine`` (``spatial_size``), through
        ``transform`` (4×4 RAS, grid point → sequence point; None: the scanner frames),
        normalised: ``[X, Y, Z]`` float32."""
        import torch
        from monai.transforms import SpatialResample

        meta = _meta(cell)
        if transform is not None:
            m = np.asarray(transform, dtype=np.float64).reshape(4, 4)
            # a voxel u of the sequence shows the point inv(m) @ A u of the reference space
            meta.affine = torch.as_tensor(np.linalg.inv(m), dtype=torch.float64) @ meta.affine
        out = SpatialResample(mode="bilinear", padding_mode="zeros", dtype=np.float32)(
            meta, dst_affine=affine, spatial_size=self.spatial_size
        )
        norm = self._normalizer()
        if norm is not None:
            out = norm(out)
        return torch.as_tensor(out, dtype=torch.float32)[0]

    def _reference_of(self, example: dict[str, Any]) -> str | None:
        named = example.get("registration_reference")
        if named and example.get(named) is not None:
            return str(named)
        return next((s for s in self.reference if example.get(s) is not None), None)

    def __call__(self, example: dict[str, Any]) -> dict[str, Any] | None:
        """``{"image": [C, X, Y, Z], "mask": [C], "label": int, "subject_id": str}`` or
        None (``missing="drop"`` and a sequence is missing)."""
        import torch

        absent = [s for s in self.sequences if example.get(s) is None]
        if absent and self.missing == "drop":
            return None
        if absent and self.missing == "error":
            raise DataFormatError(
                f"subject {example.get('subject_id')}: missing {', '.join(absent)}",
                hint="use missing='zeros' (zero channels + mask) or missing='drop'",
            )
        channels = []
        ref = self._reference_of(example) if self.grid == "reference" else None
        if self.grid == "reference" and ref is None and len(absent) < len(self.sequences):
            raise DataFormatError(
                f"subject {example.get('subject_id')}: none of the reference sequences "
                f"{', '.join(self.reference)} is present",
                hint="pass reference=[...] with a sequence every subject has, or grid='sequence'",
            )
        grid = None if ref is None else self.reference_grid(example[ref])[0]
        for seq in self.sequences:
            cell = example.get(seq)
            if cell is None:
                channels.append(torch.zeros(self.spatial_size, dtype=torch.float32))
            elif grid is None:
                channels.append(self.volume(cell))
            else:
                tx = None if seq == ref else example.get(f"transform_{seq}")
                channels.append(self.on_grid(cell, grid, tx))
        label = example.get(self.target)
        return {
            "image": torch.stack(channels),
            "mask": torch.tensor([s not in absent for s in self.sequences], dtype=torch.bool),
            "label": -1 if label is None else int(label),
            "subject_id": example.get("subject_id"),
        }

    def batch(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """The batched form for ``Dataset.with_transform`` (rows dropped by ``drop`` give
        None entries)."""
        n = len(next(iter(batch.values())))
        rows = [self({k: v[i] for k, v in batch.items()}) for i in range(n)]
        keys = ("image", "mask", "label", "subject_id")
        return {k: [None if r is None else r[k] for r in rows] for k in keys}


def _meta(cell: Any) -> Any:
    """A cell → ``MetaTensor`` ``[1, X, Y, Z]`` float32 with the NIfTI affine (3D; of a 4D
    volume the last frame)."""
    import torch
    from monai.data import MetaTensor

    img = nifti_from_cell(cell)
    data = np.asarray(img.get_fdata(dtype=np.float32))
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 4:  # multi-frame (e.g. several b-values): the last frame
        data = data[..., -1]
    if data.ndim != 3:
        raise DataFormatError(f"expected a 3D volume, got shape {data.shape}")
    return MetaTensor(
        torch.from_numpy(np.ascontiguousarray(data))[None],
        affine=torch.as_tensor(img.affine, dtype=torch.float64),
    )


def _as_tuple(out: dict[str, Any], return_mask: bool) -> tuple[Any, ...]:
    if return_mask:
        return out["image"], out["label"], out["mask"]
    return out["image"], out["label"]


class LifsVolumes:
    """A map-style dataset for ``torch.utils.data.DataLoader`` over a LiFS ``Dataset``.

    Items are ``(image, label)``, or ``(image, label, mask)`` when ``return_mask`` (default:
    on for ``missing="zeros"``). With ``missing="drop"`` the subjects missing a sequence of
    the track are left out up front (read from the ``sequences`` column, no decoding).
    ``track`` picks the channels (default: the Nifti columns of the dataset).
    """

    def __init__(
        self,
        dataset: Any,
        *,
        track: str | None = None,
        transform: LifsVolumeTransform | None = None,
        return_mask: bool | None = None,
        **transform_options: Any,
    ):
        if transform is None:
            seqs = LIFS_TRACK_SEQUENCES[track] if track else _nifti_columns(dataset)
            transform = LifsVolumeTransform(seqs, **transform_options)
        self.dataset = dataset
        self.transform = transform
        self.return_mask = transform.missing == "zeros" if return_mask is None else return_mask
        self.indices = list(range(len(dataset)))
        if transform.missing == "drop":
            wanted = set(transform.sequences)
            present = dataset.select_columns(["sequences"])["sequences"]
            self.indices = [i for i, seqs in enumerate(present) if wanted <= set(seqs)]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        out = self.transform(self.dataset[self.indices[index]])
        assert out is not None  # incomplete subjects were filtered for "drop"
        return _as_tuple(out, self.return_mask)


def _nifti_columns(dataset: Any) -> tuple[str, ...]:
    from datasets import Nifti

    cols = [c for c, f in dataset.features.items() if isinstance(f, Nifti) and c != "mask_GED4"]
    if not cols:
        raise DataFormatError("the dataset has no NIfTI sequence columns")
    return tuple(cols)


def iterable_lifs(
    dataset: Any,
    *,
    track: str | None = None,
    transform: LifsVolumeTransform | None = None,
    return_mask: bool | None = None,
    **transform_options: Any,
) -> Any:
    """A ``torch.utils.data.IterableDataset`` over a streaming LiFS ``IterableDataset``.

    Rows are dealt round-robin to the DataLoader's workers, and each worker decodes only
    its own rows (the NIfTI cells are read undecoded), so ``num_workers=2`` yields every
    subject exactly once.
    """
    from hepatokit.loaders.torch_iter import RoundRobinStream

    if transform is None:
        seqs = LIFS_TRACK_SEQUENCES[track] if track else _nifti_columns(dataset)
        transform = LifsVolumeTransform(seqs, **transform_options)
    mask = transform.missing == "zeros" if return_mask is None else return_mask

    def convert(row: dict[str, Any]) -> tuple[Any, ...] | None:
        out = transform(row)
        return None if out is None else _as_tuple(out, mask)

    return RoundRobinStream(dataset.decode(False), convert)
