"""A kept image's index columns from in-memory pydicom datasets (no file): enhanced MR
functional groups, Siemens mosaics, identifying values kept apart."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from hepatokit.curation.mri.dicom.columns import (
    MOSAIC_IMAGES,
    functional_groups,
    mosaic_images,
    phi_columns,
    public_columns,
)
from hepatokit.curation.mri.dicom.tags import PHI_COLUMNS, PUBLIC_COLUMNS
from hepatokit.curation.mri.dicom.values import elements_of


def _item(**kw) -> Dataset:
    ds = Dataset()
    for k, v in kw.items():
        setattr(ds, k, v)
    return ds


def _enhanced() -> Dataset:
    shared = _item(
        MREchoSequence=Sequence([_item(EffectiveEchoTime=80.0)]),
        MRTimingAndRelatedParametersSequence=Sequence(
            [_item(RepetitionTime=2000.0, FlipAngle=90.0)]
        ),
        MRModifierSequence=Sequence([_item(InversionRecovery="YES", InversionTimes=[150.0])]),
    )
    frame = _item(MRDiffusionSequence=Sequence([_item(DiffusionBValue=800.0)]))
    return _item(
        Modality="MR", NumberOfFrames=24, Rows=128, Columns=128, EchoPulseSequence="SPIN",
        SharedFunctionalGroupsSequence=Sequence([shared]),
        PerFrameFunctionalGroupsSequence=Sequence([frame]),
        PatientID="P-77", InstitutionName="St Elsewhere", AcquisitionTime="101500",
    )  # fmt: skip


def test_enhanced_mr_values_come_from_the_functional_groups():
    elements = elements_of(_enhanced())
    assert functional_groups(elements) == {
        "echo_time": 80.0, "repetition_time": 2000.0, "flip_angle": 90.0,
        "inversion_time": 150.0, "b_value": 800.0, "_ir": True,
    }  # fmt: skip
    cols = public_columns(elements, "1.2.840.10008.5.1.4.1.1.4.1")
    assert set(cols) == set(PUBLIC_COLUMNS)
    assert (cols["echo_time"], cols["repetition_time"], cols["flip_angle"]) == (80.0, 2000.0, 90.0)
    assert (cols["inversion_time"], cols["b_value"], cols["b_value_source"]) == (
        150.0, 800.0, "standard",
    )  # fmt: skip
    assert cols["scanning_sequence"] == "SE\\IR"  # EchoPulseSequence SPIN + inversion recovery
    assert cols["frames"] == cols["slices"] == 24
    assert not {"P-77", "St Elsewhere"} & {str(v) for v in cols.values()}


def test_top_level_values_win_over_the_groups():
    ds = _enhanced()
    ds.EchoTime = 95.0
    cols = public_columns(elements_of(ds), None)
    assert cols["echo_time"] == 95.0 and cols["repetition_time"] == 2000.0


def test_siemens_mosaic_counts_its_slices():
    ds = _item(Modality="MR", ImageType=["ORIGINAL", "PRIMARY", "M", "MOSAIC"], Rows=384,
               Columns=384)  # fmt: skip
    ds.add_new(MOSAIC_IMAGES & 0xFFFF0000 | 0x0010, "LO", "SIEMENS CSA HEADER")
    ds.add_new(MOSAIC_IMAGES, "US", 36)
    elements = elements_of(ds)
    assert mosaic_images(elements) == 36
    assert public_columns(elements, None)["slices"] == 36
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]  # not a mosaic: the tag is ignored
    assert public_columns(elements_of(ds), None)["slices"] == 1


def test_identifying_values_only_in_phi_columns():
    phi = phi_columns(elements_of(_enhanced()))
    assert set(phi) == set(PHI_COLUMNS)
    assert (phi["patient_id"], phi["institution"], phi["acquisition_time"]) == (
        "P-77", "St Elsewhere", "101500",
    )  # fmt: skip
