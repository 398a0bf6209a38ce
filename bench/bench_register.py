"""Registration speed and accuracy: ``mri register`` on 7-sequence subjects (issue 16).

Each subject has the seven LiFS sequences at LiFS's typical matrix sizes (``--scale 1``;
``--scale 0.5`` halves every matrix and doubles the voxel size), written as int16 NIfTI in
scanner-like frames; every sequence but GED4 (the reference) shows the phantom of
``tests/curation/mri/planted_rigid.py`` moved by a planted rigid transform (≤ 5°, ≤ 10 mm,
breath-hold-like), T2W and DWI with an inverted contrast. The stage runs on 1 and on 2
workers (SimpleITK 1 thread each); it reports CPU seconds per subject (the workers' own
process time, summed per subject), wall seconds, and the accuracy against the planted
transforms (mm at the anatomy's centre, degrees).

Same-process reference ratios (the machine may be loaded by other jobs): the CPU time of
(a) a plain ``sitk.Resample`` of the subject's six sequences onto the reference's full grid
and (b) SimpleITK's textbook registration (its notebooks' settings: Mattes 50 bins, 1 %
random samples, gradient descent, 100 iterations, pyramid 4/2/1 with 2/1/0 mm smoothing, on
the full-resolution volumes) of one pair, × 6.

    PYTHONPATH=. .venv/bin/python bench/bench_register.py [--subjects 4] [--scale 1]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hepatokit.curation.mri.register.images import to_sitk
from hepatokit.curation.mri.register.stage import register_sequences
from hepatokit.progress import configure_progress
from tests.curation.mri import planted_rigid as pr

SEQS = ("T1W", "T2W", "DWI", "GED1", "GED2", "GED3", "GED4")
#: typical LiFS matrices (x, y, slices) and voxel sizes (mm)
TYPICAL = {
    "T1W": ((256, 208, 60), (1.5, 1.5, 4.0)),
    "T2W": ((320, 320, 36), (1.2, 1.2, 6.0)),
    "DWI": ((128, 104, 36), (3.0, 3.0, 6.0)),
    **{g: ((288, 240, 72), (1.3, 1.3, 3.0)) for g in ("GED1", "GED2", "GED3", "GED4")},
}
ANATOMY_SCALE = 2.0  # the phantom body is made twice as large (a real abdomen)


def _affine(shape, spacing) -> np.ndarray:
    """LPS-like scanner frame (x, y flipped in RAS), centred on the origin."""
    aff = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    aff[:3, 3] = -aff[:3, :3] @ ((np.asarray(shape) - 1) / 2)
    return aff


def make_build(root: Path, subjects: int, scale: float, seed: int = 0) -> dict:
    """A build with ``subjects.parquet`` + NIfTI volumes; returns the planted transforms."""
    rng = np.random.default_rng(seed)
    build = root / "build"
    build.mkdir(parents=True)
    truth: dict[tuple[str, str], np.ndarray] = {}
    rows = []
    for i in range(subjects):
        sid = f"bench{i:03d}"
        row: dict = {"subject_id": sid, "sequences": list(SEQS), "mask_GED4": None}
        for seq in SEQS:
            shape, spacing = TYPICAL[seq]
            shape = tuple(max(8, round(n * scale)) for n in shape)
            spacing = tuple(s / scale for s in spacing)
            aff = _affine(shape, spacing)
            p = np.eye(4)
            if seq != "GED4":
                axis = rng.normal(size=3)
                t = rng.normal(size=3)
                p = pr.rigid(axis, rng.uniform(0, 5), t / np.linalg.norm(t) * rng.uniform(0, 10))
            truth[(sid, seq)] = p
            inv = np.linalg.inv(p)
            y = pr.grid_points(aff, shape)
            values = pr.phantom((y @ inv[:3, :3].T + inv[:3, 3]) / ANATOMY_SCALE)
            if seq in ("T2W", "DWI"):
                values = np.where(values > 50, 700.0 - values, values)
            values = values + rng.normal(0, 4.0, values.shape)
            rel = f"volumes/sub-{sid}/sub-{sid}_{seq}.nii.gz"
            (build / rel).parent.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(np.clip(values, 0, 4000).astype(np.int16), aff), build / rel)
            row[f"volume_{seq}"] = rel
        rows.append(row)
    pq.write_table(pa.Table.from_pylist(rows), build / "subjects.parquet")
    return truth


def run(build: Path, workers: int) -> tuple[float, list[dict]]:
    shutil.rmtree(build / "registration", ignore_errors=True)
    shutil.rmtree(build / "reports", ignore_errors=True)
    t = time.perf_counter()
    register_sequences(build=build, workers=workers)
    wall = time.perf_counter() - t
    return wall, pq.read_table(build / "registration" / "registration.parquet").to_pylist()


def references(build: Path) -> tuple[float, float]:
    """CPU s of (a) plain resampling of one subject's six sequences to the reference grid and
    (b) one textbook SimpleITK registration × 6."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    sid = "bench000"
    vol = {s: to_sitk(build / f"volumes/sub-{sid}/sub-{sid}_{s}.nii.gz") for s in SEQS}
    t = time.process_time()
    for s in SEQS[:-1]:
        sitk.Resample(vol[s], vol["GED4"], sitk.Transform(), sitk.sitkLinear, 0.0)
    resample = time.process_time() - t
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(0.01, 1)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsGradientDescent(
        learningRate=1.0,
        numberOfIterations=100,
        convergenceMinimumValue=1e-6,
        convergenceWindowSize=10,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([4, 2, 1])
    reg.SetSmoothingSigmasPerLevel([2, 1, 0])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    init = sitk.CenteredTransformInitializer(
        vol["GED4"],
        vol["GED1"],
        sitk.Euler3DTransform(),
        sitk.CenteredTransformInitializerFilter.GEOMETRY,
    )
    reg.SetInitialTransform(init, inPlace=False)
    t = time.process_time()
    reg.Execute(vol["GED4"], vol["GED1"])
    textbook = (time.process_time() - t) * 6
    return resample, textbook


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=4)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    configure_progress(quiet=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        truth = make_build(Path(tmp), args.subjects, args.scale)
        build = Path(tmp) / "build"
        print(
            f"made {args.subjects} subjects (scale {args.scale}) in {time.perf_counter() - t:.0f} s"
        )
        resample, textbook = references(build)
        print(f"reference: plain resample of 6 sequences {resample:.2f} CPU-s; "
              f"textbook SimpleITK registration ×6 {textbook:.1f} CPU-s")  # fmt: skip
        for w in (int(x) for x in args.workers.split(",")):
            wall, rows = run(build, w)
            cpu = sum(r["seconds"] for r in rows if r["status"] == "reference") / args.subjects
            pairs = [r for r in rows if r["status"] not in ("reference", "no_reference")]
            errs = [
                pr.errors(
                    np.asarray(r["matrix_ras"]).reshape(4, 4),
                    truth[(r["subject_id"], r["sequence"])],
                )
                for r in pairs
            ]
            good = sum(mm <= 1 and deg <= 1 for mm, deg in errs)
            worst = max(errs, key=lambda e: e[0])
            print(
                f"workers {w}: {cpu:.2f} CPU-s/subject, wall {wall:.1f} s "
                f"({wall / args.subjects:.2f} s/subject); ratio to plain resample "
                f"{cpu / resample:.1f}×, to textbook registration {cpu / textbook:.2f}×; "
                f"pairs ok {sum(r['status'] == 'ok' for r in pairs)}/{len(pairs)}, "
                f"within 1 mm/1° {good}/{len(pairs)}, worst {worst[0]:.2f} mm {worst[1]:.2f}°"
            )


if __name__ == "__main__":
    main()
