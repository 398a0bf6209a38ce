"""De-identification: keyed subject pseudonyms and center / vendor / scanner pseudonyms.

Subject ids are ``HMAC-SHA256(key, "subject" ␟ original_id)`` (hex prefix): stable for one key,
not reversible without it, and different for another key. The key comes from the
environment variable ``HEPATOKIT_DEID_KEY`` (text) or from a key file named by
``HEPATOKIT_DEID_KEY_FILE`` or given explicitly; it is never written anywhere by hepatokit.
For synthetic data only, ``demo_key=True`` uses a fixed, public key (:data:`DEMO_KEY`).

The tables that link pseudonyms to real values live in ``BUILD/private/`` only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hepatokit.curation.mri.config import DeidConfig
from hepatokit.errors import PHIError
from hepatokit.recipe import bounded_search

__all__ = [
    "DEMO_KEY",
    "SitePseudonymizer",
    "load_deid_key",
    "subject_pseudonym",
]

log = logging.getLogger("hepatokit.curation.mri.deid.keys")

#: the public key of ``--demo-key`` (synthetic data only: anyone can recompute these ids)
DEMO_KEY = b"hepatokit-demo-key:synthetic-data-only"


def load_deid_key(
    *,
    config: DeidConfig | None = None,
    key_file: str | os.PathLike[str] | None = None,
    demo_key: bool = False,
) -> bytes:
    """The HMAC key: explicit key file, else ``$HEPATOKIT_DEID_KEY``, else the key-file env.

    Raises
    ------
    PHIError
        No key anywhere (and ``demo_key`` not set), or an empty/unreadable key file.
    """
    cfg = config or DeidConfig()
    if key_file is not None:
        return _read_key_file(Path(key_file))
    text = os.environ.get(cfg.key_env)
    if text:
        return text.encode("utf-8")
    path = os.environ.get(cfg.key_file_env)
    if path:
        return _read_key_file(Path(path))
    if demo_key:
        log.warning("using the public demo de-identification key: synthetic data only")
        return DEMO_KEY
    raise PHIError(
        "no de-identification key: subject pseudonyms need a secret key",
        hint=(
            f"export {cfg.key_env}=<a long random secret> (e.g. `openssl rand -hex 32`), "
            f"or {cfg.key_file_env}=<path to a file holding it>, or pass --key-file; "
            "for synthetic data only, --demo-key uses a public key"
        ),
    )


def _read_key_file(path: Path) -> bytes:
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise PHIError(f"cannot read the key file: {exc}", path=path) from exc
    if not key:
        raise PHIError("the key file is empty", path=path, hint="put a long random secret in it")
    return key


def subject_pseudonym(original_id: str, key: bytes, *, length: int = 16) -> str:
    """``HMAC-SHA256(key, "subject" ␟ original_id)`` as ``length`` hex characters."""
    mac = hmac.new(key, b"subject\x1f" + original_id.encode("utf-8"), hashlib.sha256)
    return mac.hexdigest()[:length]


def subject_key(patient_id: str, institution: str | None, mode: str) -> str:
    """The original subject key: the patient ID, or institution + patient ID (IDs that
    repeat across hospitals are different people)."""
    if mode == "institution+patient_id":
        return f"{institution or ''}\x1f{patient_id}"
    return patient_id


@dataclass
class SitePseudonymizer:
    """Map real Manufacturer / model / InstitutionName to the recipe's pseudonyms.

    Unmatched vendors become ``Vendor ?<n>`` and unmatched institutions ``Center <n>``, numbered
    in order of the HMAC of the real value (stable for a key, reveals no name). Unmatched
    scanners become ``<vendor letter><field strength>T``.
    """

    config: DeidConfig
    key: bytes

    def __post_init__(self) -> None:
        self._auto_centers: dict[str, str] = {}
        self._auto_vendors: dict[str, str] = {}

    def prepare(self, sites: Iterable[tuple[str | None, str | None]]) -> SitePseudonymizer:
        """Number unmatched vendors and institutions; ``sites``: (institution, manufacturer)
        of every image. Unmatched institutions are numbered after the recipe's centers, in
        order of the first vendor pseudonym they use, then of the keyed hash of their name."""
        pairs = {(i or "", m or "") for i, m in sites}
        vendors = sorted(
            {m for _, m in pairs if _first(self.config.vendors, m) is None},
            key=lambda v: self._mac("vendor", v),
        )
        for i, value in enumerate(vendors, start=1):
            self._auto_vendors[value] = f"Vendor ?{i}"
        first_vendor: dict[str, str] = {}
        for inst, manu in pairs:
            v = self.vendor(manu)
            if _first(self.config.centers, inst) is None:
                first_vendor[inst] = min(first_vendor.get(inst, v), v)
        used = {p.pseudonym for p in self.config.centers}
        n = 1

        def rank(inst: str) -> tuple[bool, str, str]:  # recipe vendors first, then by hash
            v = first_vendor[inst]
            return (v.startswith("Vendor ?"), v, self._mac("center", inst))

        for value in sorted(first_vendor, key=rank):
            while f"Center {n}" in used:
                n += 1
            self._auto_centers[value] = f"Center {n}"
            used.add(f"Center {n}")
        return self

    def _mac(self, kind: str, value: str) -> str:
        return hmac.new(self.key, f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()

    def center(self, institution: str | None) -> str:
        hit = _first(self.config.centers, institution or "")
        if hit is not None:
            return hit
        return self._auto_centers.get(institution or "", "Center ?")

    def vendor(self, manufacturer: str | None) -> str:
        hit = _first(self.config.vendors, manufacturer or "")
        if hit is not None:
            return hit
        return self._auto_vendors.get(manufacturer or "", "Vendor ?")

    def scanner(self, vendor: str, model: str | None, field_strength: float | None) -> str:
        for s in self.config.scanners:
            if s.vendor is not None and s.vendor != vendor:
                continue
            if s.model is not None and not bounded_search(
                s.model, model or "", key="deid.scanners.model"
            ):
                continue
            if s.field_strength is not None and (
                field_strength is None or abs(field_strength - s.field_strength) > 0.26
            ):
                continue
            return s.pseudonym
        letter = vendor.removeprefix("Vendor ").strip() or "?"
        fs = "?" if field_strength is None else f"{round(field_strength, 1):g}"
        return f"{letter}{fs}T"


def _first(rules: Iterable[object], value: str) -> str | None:
    for rule in rules:
        if bounded_search(rule.match, value, key="deid pseudonym match"):  # type: ignore[attr-defined]
            return rule.pseudonym  # type: ignore[attr-defined]
    return None
