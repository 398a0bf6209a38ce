"""The MRI sections of a recipe (``index``, ``series``, ``convert``, ``deid``, ``mri_qc``,
``labels``) as validated dataclasses; see ``recipes/lifs.yaml`` and ``docs/lifs_curation.md``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Literal

from hepatokit.contracts.lifs import SEQUENCES
from hepatokit.errors import RecipeError
from hepatokit.recipe import Recipe, check_regex

__all__ = [
    "SIDECAR_DROPPED",
    "ConvertConfig",
    "DeidConfig",
    "IndexConfig",
    "LabelsConfig",
    "MriConfig",
    "Override",
    "PhaseWindow",
    "Pseudonym",
    "Rule",
    "ScannerPseudonym",
    "SeriesConfig",
    "VolumeQCConfig",
    "deid_section",
    "index_section",
    "mri_config",
    "recipe_sequences",
    "series_section",
]


@dataclass(frozen=True)
class IndexConfig:
    """``index``: the header index."""

    cache: bool = True  # reuse rows of unchanged files (path + size + mtime)


#: the fields of a :class:`Rule` that are regexes (compiled when the recipe is loaded)
_RULE_REGEXES = (
    "modality", "description", "not_description", "image_type", "not_image_type",
    "sequence_name", "scanning_sequence", "sequence_variant",
)  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """One recognition rule: every condition given must hold (regexes use ``re.search``).

    ``label`` is a sequence name or ``dynamic`` (post-contrast T1: phase from timing);
    ``ignore`` is a reason instead (``localizer``, ``derived``, ``other``...). Labels are
    checked against the recipe's own ``sequences`` by :func:`series_section`.
    """

    label: str | None = None
    ignore: str | None = None
    modality: str | None = None
    description: str | None = None  # SeriesDescription + " | " + ProtocolName
    not_description: str | None = None
    image_type: str | None = None
    not_image_type: str | None = None
    sequence_name: str | None = None
    scanning_sequence: str | None = None
    sequence_variant: str | None = None
    te: list[float | None] | None = None  # [min, max] ms, None = open
    tr: list[float | None] | None = None
    flip: list[float | None] | None = None
    b_value_max: list[float | None] | None = None  # range of the series' largest b-value
    b_values_min_count: int | None = None  # at least this many distinct b-values
    contrast: bool | None = None  # ContrastBolusAgent present
    ti: list[float | None] | None = None  # inversion time range, ms
    #: numeric conditions (``te``, ``tr``, ``flip``, ``ti``) that hold when the value is absent
    #: (Type 3 tags such as FlipAngle are often stripped by anonymisers): optional evidence
    optional: list[Literal["te", "tr", "flip", "ti"]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in _RULE_REGEXES:
            check_regex(getattr(self, name), name)
        if (self.label is None) == (self.ignore is None):
            raise ValueError("a rule needs exactly one of 'label' or 'ignore'")


@dataclass(frozen=True)
class Override:
    """Rules tried before the general ones for one center / vendor / scanner pseudonym."""

    rules: list[Rule]
    center: str | None = None
    vendor: str | None = None
    scanner: str | None = None


@dataclass(frozen=True)
class PhaseWindow:
    """A contrast phase: seconds after injection in ``[start, end)``."""

    phase: str
    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(
                f"phase {self.phase!r}: start ({self.start:g} s) must be before end "
                f"({self.end:g} s): an inverted or empty window matches nothing"
            )
        if self.start < 0:
            raise ValueError(f"phase {self.phase!r}: start ({self.start:g} s) is negative")


@dataclass(frozen=True)
class SeriesConfig:
    """``series``: grouping, splitting and recognition."""

    split_by: list[Literal["orientation", "matrix", "acquisition_number", "temporal_position"]] = (
        field(
            default_factory=lambda: [
                "orientation",
                "matrix",
                "acquisition_number",
                "temporal_position",
            ]
        )
    )
    rules: list[Rule] = field(default_factory=list)
    overrides: list[Override] = field(default_factory=list)
    phases: list[PhaseWindow] = field(default_factory=list)
    first_post_contrast_s: float = 25.0  # assumed delay of the first post-contrast series
    pre_contrast_dynamic: str = "T1W"  # label of a `dynamic` series acquired before injection
    repeat: Literal["last", "first", "most_images"] = "last"
    min_images: int = 3  # fewer images → ignored as `too_few_images`

    def __post_init__(self) -> None:
        windows = sorted(self.phases, key=lambda w: (w.start, w.end))
        for a, b in itertools.pairwise(windows):
            if b.start < a.end:
                raise ValueError(
                    f"phases: windows {a.phase!r} [{a.start:g}, {a.end:g}) and {b.phase!r} "
                    f"[{b.start:g}, {b.end:g}) overlap: a series would get either phase"
                )


#: dcm2niix sidecar keys never published, with the reason (docs/lifs_curation.md lists them;
#: every other dcm2niix key identifies no one and may be added to ``convert.sidecar_keys``)
SIDECAR_DROPPED: dict[str, str] = {
    "PatientName": "direct identifier (PS3.15 Basic Profile: remove)",
    "PatientID": "direct identifier (Basic Profile: remove); the subject id is a keyed pseudonym",
    "PatientBirthDate": "date (Basic Profile: remove)",
    "PatientSex": "patient characteristic (Retain Patient Characteristics not implemented)",
    "PatientAge": "patient characteristic (Retain Patient Characteristics not implemented)",
    "PatientWeight": "patient characteristic (Retain Patient Characteristics not implemented)",
    "PatientSize": "patient characteristic (Retain Patient Characteristics not implemented)",
    "SAR": "computed from the patient's weight (a patient characteristic)",
    "AccessionNumber": "identifies the examination (Basic Profile: remove)",
    "StudyID": "identifies the examination (Basic Profile: remove)",
    "StudyInstanceUID": "links back to the source examination (Retain UIDs Option not implemented)",
    "SeriesInstanceUID": "links back to the source series (Retain UIDs Option not implemented)",
    "ReferringPhysicianName": "names a person (Basic Profile: remove)",
    "OperatorsName": "names a person (Basic Profile: remove)",
    "InstitutionName": "institution identity (Retain Institution Identity Option not "
    "implemented); the center is a pseudonym",
    "InstitutionAddress": "institution identity (Retain Institution Identity not implemented)",
    "InstitutionalDepartmentName": "institution identity (Retain Institution Identity Option not "
    "implemented)",
    "StationName": "device identity (Retain Device Identity Option not implemented)",
    "DeviceSerialNumber": "device identity (Retain Device Identity Option not implemented)",
    "Manufacturer": "device identity: replaced by the vendor pseudonym",
    "ManufacturersModelName": "device identity: replaced by the scanner pseudonym",
    "SoftwareVersions": "narrows the device down to a site (device identity)",
    "CoilString": "coil names give the vendor (and often the site) away",
    "PulseSequenceDetails": "vendor sequence paths give the vendor away",
    "AcquisitionDateTime": "date (Basic Profile: remove; no date is shifted, none is kept)",
    "AcquisitionTime": "time of day (removed; only seconds after injection are published)",
    "ContentTime": "time of day (removed)",
    "SeriesDescription": "free text typed at the scanner (Clean Descriptors: not published)",
    "ProtocolName": "free text typed at the scanner (Clean Descriptors: not published)",
    "StudyDescription": "free text typed at the scanner (Clean Descriptors: not published)",
    "BidsGuess": "dcm2niix's guess of a BIDS name, built from the series description",
    "ImageComments": "free text (Clean Descriptors: not published)",
    "ProcedureStepDescription": "free text (Clean Descriptors: not published)",
    "ContrastBolusVolume": "dosed by body weight (a patient characteristic)",
}


@dataclass(frozen=True)
class ConvertConfig:
    """``convert``: dcm2niix and the curated sidecar."""

    dwi_b_values: Literal["all"] | list[float] = "all"
    dwi_b_tolerance: float = 25.0
    timeout_s: float = 600.0
    gzip_level: int = 1  # 0–3: ISA-L (~4× zlib level 1 at its ratio); 4–9: zlib
    sidecar_keys: list[str] = field(
        default_factory=lambda: [
            "Modality",
            "MagneticFieldStrength",
            "ImagingFrequency",
            "MRAcquisitionType",
            "ScanningSequence",
            "SequenceVariant",
            "ScanOptions",
            "SliceThickness",
            "SpacingBetweenSlices",
            "EchoTime",
            "RepetitionTime",
            "InversionTime",
            "FlipAngle",
            "PhaseEncodingDirection",
            "PartialFourier",
            "PercentPhaseFOV",
            "PixelBandwidth",
            "ImageType",
            "ImageOrientationPatientDICOM",
            "ConversionSoftware",
            "ConversionSoftwareVersion",
            "SliceTiming",
            "EchoTrainLength",
            "EchoNumber",
            "AcquisitionMatrixPE",
            "ReconMatrixPE",
            "BaseResolution",
            "ParallelReductionFactorInPlane",
            "EffectiveEchoSpacing",
            "TotalReadoutTime",
            "InPlanePhaseEncodingDirectionDICOM",
            "MTState",
            "SpoilingState",
            "DiffusionScheme",
            "ContrastBolusAgent",
            "ContrastBolusRoute",
            "BodyPartExamined",
            "SeriesNumber",
            "PatientPosition",
        ]
    )


@dataclass(frozen=True)
class Pseudonym:
    """A regex on the real value → the published pseudonym."""

    match: str
    pseudonym: str

    def __post_init__(self) -> None:
        check_regex(self.match, "match")


@dataclass(frozen=True)
class ScannerPseudonym:
    """A scanner: vendor pseudonym + model regex + field strength (T) → pseudonym."""

    pseudonym: str
    vendor: str | None = None
    model: str | None = None
    field_strength: float | None = None

    def __post_init__(self) -> None:
        check_regex(self.model, "model")


@dataclass(frozen=True)
class DeidConfig:
    """``deid``: pseudonyms. The HMAC key itself never appears in a recipe."""

    key_env: str = "HEPATOKIT_DEID_KEY"
    key_file_env: str = "HEPATOKIT_DEID_KEY_FILE"
    subject_id_length: int = 16
    subject_key: Literal["patient_id", "institution+patient_id"] = "patient_id"
    vendors: list[Pseudonym] = field(default_factory=list)
    scanners: list[ScannerPseudonym] = field(default_factory=list)
    centers: list[Pseudonym] = field(default_factory=list)


@dataclass(frozen=True)
class VolumeQCConfig:
    """``mri_qc``: per-volume checks; ``fail_on`` checks exclude the volume."""

    min_slices: int = 8
    min_coverage_mm: float = 60.0
    max_slice_gap_ratio: float = 0.2  # |gap - median| / median above this → irregular
    percentiles: list[float] = field(default_factory=lambda: [1.0, 50.0, 99.0])
    fail_on: list[str] = field(
        default_factory=lambda: ["non_finite", "empty", "constant", "corrupt_slice"]
    )


@dataclass(frozen=True)
class LabelsConfig:
    """``labels``: the clinical CSV and the stage mapping."""

    id_column: str = "patient_id"
    stage_column: str = "stage"
    center_column: str | None = None  # needed with deid.subject_key institution+patient_id
    stage_pattern: str = r"^\s*(?:S|F|STAGE\s*)?([1-4])\s*$"  # group 1 → S<n>
    stage_map: dict[str, str] = field(default_factory=dict)  # extra exact spellings
    cirrhosis: list[str] = field(default_factory=lambda: ["S4"])
    significant_fibrosis: list[str] = field(default_factory=lambda: ["S2", "S3", "S4"])

    def __post_init__(self) -> None:
        check_regex(self.stage_pattern, "stage_pattern")


@dataclass(frozen=True)
class MriConfig:
    """All MRI sections of one recipe."""

    sequences: tuple[str, ...]
    index: IndexConfig
    series: SeriesConfig
    convert: ConvertConfig
    deid: DeidConfig
    qc: VolumeQCConfig
    labels: LabelsConfig


def recipe_sequences(recipe: Recipe) -> tuple[str, ...]:
    """The recipe's ``sequences`` (the contract's default :data:`SEQUENCES` when it declares
    none)."""
    return tuple(str(s) for s in recipe.data.get("sequences") or SEQUENCES)


def index_section(recipe: Recipe) -> IndexConfig:
    """The validated ``index`` section (what ``mri index`` needs besides ``deid``)."""
    return recipe.section("index", IndexConfig)


def deid_section(recipe: Recipe) -> DeidConfig:
    """The validated ``deid`` section (pseudonyms)."""
    return recipe.section("deid", DeidConfig)


def series_section(recipe: Recipe) -> SeriesConfig:
    """The validated ``series`` section; every rule's label must be one of the recipe's
    ``sequences`` or ``dynamic`` (the error names the file and the rule's key)."""
    cfg = recipe.section("series", SeriesConfig)
    allowed = (*recipe_sequences(recipe), "dynamic")
    located = [(f"series.rules[{i}]", r) for i, r in enumerate(cfg.rules)] + [
        (f"series.overrides[{i}].rules[{j}]", r)
        for i, o in enumerate(cfg.overrides)
        for j, r in enumerate(o.rules)
    ]
    for where, rule in located:
        if rule.label is not None and rule.label not in allowed:
            raise RecipeError(
                f"{where}.label: {rule.label!r} is not one of the recipe's sequences "
                f"({', '.join(allowed)})",
                path=recipe.source,
                hint="add it to the recipe's `sequences:` list, or fix the rule's label",
            )
    return cfg


def mri_config(recipe: Recipe) -> MriConfig:
    """Validate the MRI sections of ``recipe`` (errors name the file and the key)."""
    return MriConfig(
        sequences=recipe_sequences(recipe),
        index=index_section(recipe),
        series=series_section(recipe),
        convert=recipe.section("convert", ConvertConfig),
        deid=deid_section(recipe),
        qc=recipe.section("mri_qc", VolumeQCConfig),
        labels=recipe.section("labels", LabelsConfig),
    )
