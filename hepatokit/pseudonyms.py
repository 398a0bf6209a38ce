"""Keyed pseudonyms for histology: slide ids and file names never stored or published as
they came.

A slide id is often the slide's file name, and a file name is whatever the lab or the
scanner wrote: ``SMITHJOHN-S21-4455_0001.png`` names a patient and an accession number.
The slide id every table of a build holds (and publish publishes) is ``slide-`` +
``HMAC-SHA256(key, "slide" ␟ id)`` (hex prefix): stable for one key, not reversible without
it. Ingest and tile key the ids as they read them; the table linking pseudonyms to the
original ids, ``BUILD/private/slide_pseudonyms.parquet``, is the only place the originals
are kept (:func:`write_slide_pseudonyms`, :func:`slide_originals`).

The key is the same as for MRI subject pseudonyms: an explicit key file (``--key-file``),
else ``$HEPATOKIT_DEID_KEY`` (text), else the file named by ``$HEPATOKIT_DEID_KEY_FILE``.
Without any, a random key is made once per build and kept in ``BUILD/private/deid_key``
(never published): re-running or re-publishing the build gives the same pseudonyms, another
build of the same data gives other ones (give the same key to keep pseudonyms, and with them
the split and shard files, byte-identical across builds; which split each slide goes to does
not depend on the key: the split stage orders slides by their original ids).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from hepatokit.contracts.common import DEID_KEY
from hepatokit.contracts.hepatobench import SLIDE_PSEUDONYM_SCHEMA, SLIDE_PSEUDONYMS
from hepatokit.contracts.tables import read_table, write_table
from hepatokit.errors import DataFormatError, PHIError

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "PublicSlideIds",
    "build_key",
    "record_slide_pseudonyms",
    "slide_originals",
    "slide_pseudonym",
    "write_slide_pseudonyms",
]

log = logging.getLogger("hepatokit.pseudonyms")

KEY_ENV = "HEPATOKIT_DEID_KEY"
KEY_FILE_ENV = "HEPATOKIT_DEID_KEY_FILE"


def build_key(
    build: str | os.PathLike[str], key_file: str | os.PathLike[str] | None = None
) -> bytes:
    """The pseudonym key for ``build``: ``key_file``, else the environment, else the build's
    own private key (made on first use).

    Raises
    ------
    PHIError
        The key file given or named by the environment is missing, unreadable or empty.
    """
    if key_file is None:
        text = os.environ.get(KEY_ENV)
        if text:
            return text.encode("utf-8")
    named = os.fspath(key_file) if key_file is not None else os.environ.get(KEY_FILE_ENV)
    path = Path(named) if named else Path(build) / DEID_KEY
    if path.is_file():
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            raise PHIError(f"cannot read the key file: {exc}", path=path) from exc
        if key:
            return key
        raise PHIError("the key file is empty", path=path, hint="put a long random secret in it")
    if named:
        raise PHIError("the key file does not exist", path=path,
                       hint=f"fix --key-file or ${KEY_FILE_ENV}, or unset it")  # fmt: skip
    key = secrets.token_hex(32).encode("ascii")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    log.warning(
        "no %s and no --key-file: made a random pseudonym key for this build (%s); give a key "
        "to keep slide pseudonyms, and with them the splits, the same in another build folder",
        KEY_ENV, path,
    )  # fmt: skip
    return key


def slide_pseudonym(original: str, key: bytes, *, length: int = 16) -> str:
    """``"slide-"`` + ``HMAC-SHA256(key, "slide" ␟ original)`` as ``length`` hex characters."""
    mac = hmac.new(key, b"slide\x1f" + original.encode("utf-8", "surrogateescape"), hashlib.sha256)
    return "slide-" + mac.hexdigest()[:length]


def write_slide_pseudonyms(
    build: str | os.PathLike[str], stage: str, originals: Iterable[str], key: bytes
) -> dict[str, str]:
    """Key each distinct original slide id of ``stage`` and record the map privately.

    The rows of ``stage`` in ``BUILD/private/slide_pseudonyms.parquet`` are replaced (the
    other stage's kept), sorted, so the same ids and key give the same bytes.

    Returns
    -------
    dict
        original slide id → pseudonym.
    """
    mapping = {o: slide_pseudonym(o, key) for o in sorted(set(originals))}
    return record_slide_pseudonyms(build, stage, mapping)


def record_slide_pseudonyms(
    build: str | os.PathLike[str], stage: str, mapping: Mapping[str, str]
) -> dict[str, str]:
    """Replace ``stage``'s rows of the private map with ``mapping`` (original → pseudonym)."""
    rows = [r for r in _read_rows(Path(build)) if r["stage"] != stage]
    rows += [
        {"slide_pseudonym": p, "original_slide_id": o, "stage": stage} for o, p in mapping.items()
    ]
    rows.sort(key=lambda r: (r["stage"], r["slide_pseudonym"], r["original_slide_id"]))
    write_table(build, SLIDE_PSEUDONYMS, pa.Table.from_pylist(rows, schema=SLIDE_PSEUDONYM_SCHEMA))
    return dict(mapping)


def _read_rows(build: Path) -> list[dict[str, str]]:
    """The rows of the private map; none when the build has no map, or one written before
    slide ids were keyed at ingest (``slide_pseudonym, slide_id``: it is rewritten)."""
    path = build / SLIDE_PSEUDONYMS
    if not path.is_file():
        return []
    if "original_slide_id" not in pq.read_schema(path).names:
        return []
    try:
        return read_table(build, SLIDE_PSEUDONYMS).to_pylist()
    except (OSError, pa.ArrowException) as exc:  # a damaged parquet file
        raise DataFormatError(
            f"unreadable slide pseudonym map: {exc}", path=path,
            hint="re-run ingest / tile (the map is rewritten from the raw names)",
        ) from exc  # fmt: skip


def slide_originals(build: str | os.PathLike[str]) -> dict[str, str]:
    """pseudonym → original slide id, from ``BUILD/private/slide_pseudonyms.parquet`` (empty
    for a build without one: its tables hold the original ids)."""
    return {r["slide_pseudonym"]: r["original_slide_id"] for r in _read_rows(Path(build))}


class PublicSlideIds:
    """The slide ids of a build's tables as they may be shown or published.

    A build keyed at ingest / tile holds pseudonyms: they pass as they are. A value the
    private map does not know is an original id (a build made before slide ids were keyed
    at ingest, or written by another tool): it is keyed here with the build's key, as
    publish always did, so an original id never passes through.
    """

    def __init__(self, build: str | os.PathLike[str]):
        self.build = Path(build)
        self.known = set(slide_originals(self.build))
        self.added: dict[str, str] = {}  # original → pseudonym, keyed here
        self._key: bytes | None = None

    def __call__(self, value: str) -> str:
        if value in self.known:
            return value
        found = self.added.get(value)
        if found is None:
            if self._key is None:
                self._key = build_key(self.build)
            found = self.added[value] = slide_pseudonym(value, self._key)
        return found

    def save(self, stage: str = "publish") -> None:
        """Record the ids keyed here in the private map (nothing to do when none were)."""
        if self.added:
            record_slide_pseudonyms(self.build, stage, self.added)
