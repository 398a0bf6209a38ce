"""Planted PHI of the synthetic MRI studies: distinctive names, IDs, dates, sites.

Every value is a distinctive string (e.g. ``QUILLBANE^ODALYS^X7Q``, ``PID40213QX``,
``ACC83920417Z``) so that a byte scan of curated outputs finds it when it leaked and never
matches by chance. Dates are 8-digit ``YYYYMMDD`` strings and listed separately.
"""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hepatokit.synthetic.mri_protocols import SCANNERS

__all__ = ["PatientPHI", "make_patient_phi", "make_sites"]

_FAMILY = (
    "QUILLBANE",
    "MARROWICK",
    "TENNIFORD",
    "VOSSBERGH",
    "ULLASTRE",
    "KEMPWHISTLE",
    "DRAVENHOLT",
    "OSSINGTEW",
    "PRYVALLE",
    "ZORNACKER",
    "BLISSWORTHY",
    "FENNIMARSH",
    "GRAULECKI",
    "HOBSWAITE",
)
_GIVEN = (
    "ODALYS",
    "BRANWEN",
    "CASIMIRO",
    "DELPHINA",
    "EZEKYEL",
    "FIORAVANTE",
    "GWENLLIAN",
    "HALVARD",
    "ISOLDINE",
    "JORUNDUR",
    "KESTRELLA",
    "LEOFRIC",
    "MIRABETH",
    "NIKODEMA",
)
_CENTERS = {
    "center1": ("QUILLFEATHER HEPATOLOGY INSTITUTE", "17 Marrowgate Lane, Vellmoor 40912"),
    "center2": ("ST. ORVANDEL LIVER CLINIC", "4 Brindlecombe Road, Ostrayne 77120"),
    "center3": ("KESSELWYCK UNIVERSITY HOSPITAL", "221 Tamsforth Avenue, Ulmbridge 55031"),
}


def _code(rng: np.random.Generator, n: int = 3) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(alphabet[int(k)] for k in rng.integers(len(alphabet), size=n))


def make_sites(rng: np.random.Generator) -> dict[str, Any]:
    """Institution, address, station names and device serials per center/scanner (PHI)."""
    sites: dict[str, Any] = {"centers": {}, "scanners": {}}
    for key, (name, address) in _CENTERS.items():
        sites["centers"][key] = {
            "institution_name": name,
            "institution_address": address,
            "performing_physicians": [f"PERFDR^{g}^{_code(rng)}" for g in _GIVEN[:2]],
            "operators": [f"TECH^{g}^{_code(rng)}" for g in _GIVEN[2:4]],
        }
    for key, sc in SCANNERS.items():
        sites["scanners"][key] = {
            "station_name": f"MRST{_code(rng, 4)}{key.replace('.', '')}",
            "device_serial_number": f"SN{int(rng.integers(10**6, 10**7))}{_code(rng, 2)}",
            "center": sc.center,
        }
    return sites


@dataclass
class PatientPHI:
    """Identifying values of one patient and study (all planted in the DICOM headers)."""

    patient_id: str
    name: str
    birth_date: str
    sex: str
    accession_number: str
    study_id: str
    study_date: str
    study_time_s: float
    referring_physician: str
    performing_physician: str
    operator: str
    institution_name: str
    institution_address: str
    private_text: str
    study_comment: str
    biopsy_date: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def scan_values(self) -> list[str]:
        """The distinctive strings a PHI byte scan must find if they leak."""
        return sorted(
            {
                self.patient_id,
                self.name,
                self.name.replace("^", " "),
                self.accession_number,
                self.study_id,
                self.referring_physician,
                self.performing_physician,
                self.operator,
            }
        )


def make_patient_phi(
    rng: np.random.Generator, index: int, center: str, sites: dict[str, Any]
) -> PatientPHI:
    """Draw one patient's PHI; ``index`` makes the IDs unique within a run."""
    family = _FAMILY[int(rng.integers(len(_FAMILY)))]
    given = _GIVEN[int(rng.integers(len(_GIVEN)))]
    name = f"{family}^{given}^{_code(rng)}{index:03d}"
    pid = f"PID{int(rng.integers(10000, 99999))}{index:04d}{_code(rng, 2)}"
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 55)))
    study = dt.date(2019, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 5)))
    biopsy = study + dt.timedelta(days=int(rng.integers(-60, 60)))
    c = sites["centers"][center]
    referring = f"REFDR^{_GIVEN[int(rng.integers(len(_GIVEN)))]}^{_code(rng)}"
    return PatientPHI(
        patient_id=pid,
        name=name,
        birth_date=birth.strftime("%Y%m%d"),
        sex=str(rng.choice(["F", "M"])),
        accession_number=f"ACC{int(rng.integers(10**7, 10**8))}{_code(rng, 1)}",
        study_id=f"STU{int(rng.integers(10**5, 10**6))}{_code(rng, 1)}",
        study_date=study.strftime("%Y%m%d"),
        study_time_s=float(7 * 3600 + int(rng.integers(0, 9 * 3600))),
        referring_physician=referring,
        performing_physician=c["performing_physicians"][int(rng.integers(2))],
        operator=c["operators"][int(rng.integers(2))],
        institution_name=c["institution_name"],
        institution_address=c["institution_address"],
        private_text=f"{name} / {pid}",
        study_comment=f"Referred by {referring} for {name.replace('^', ' ')}: fibrosis staging",
        biopsy_date=biopsy.strftime("%Y%m%d"),
    )
