"""Keyed pseudonyms for histology: slide ids and file names never published as they came.

A slide id is often the slide's file name, and a file name is whatever the lab or the
scanner wrote: ``SMITHJOHN-S21-4455_0001.png`` publishes a patient name and an accession
number. The published value is ``slide-`` + ``HMAC-SHA256(key, "slide" ␟ id)`` (hex prefix):
stable for one key, not reversible without it. The table linking pseudonyms to the
original ids is written to ``BUILD/private/`` only.

The key is the same as for MRI subject pseudonyms: ``$HEPATOKIT_DEID_KEY`` (text) or the
file named by ``$HEPATOKIT_DEID_KEY_FILE``. Without either, a random key is made once per
build and kept in ``BUILD/private/deid_key`` (never published): re-publishing the build
gives the same pseudonyms, another build of the same data gives other ones (set the
environment key to keep them across builds).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from hepatokit.errors import PHIError

__all__ = ["KEY_ENV", "KEY_FILE_ENV", "build_key", "slide_pseudonym"]

log = logging.getLogger("hepatokit.pseudonyms")

KEY_ENV = "HEPATOKIT_DEID_KEY"
KEY_FILE_ENV = "HEPATOKIT_DEID_KEY_FILE"
PRIVATE_KEY = "private/deid_key"


def build_key(build: str | os.PathLike[str]) -> bytes:
    """The pseudonym key for ``build`` (environment, else the build's own private key).

    Raises
    ------
    PHIError
        The key file named by the environment is unreadable or empty.
    """
    text = os.environ.get(KEY_ENV)
    if text:
        return text.encode("utf-8")
    named = os.environ.get(KEY_FILE_ENV)
    path = Path(named) if named else Path(build) / PRIVATE_KEY
    if path.is_file():
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            raise PHIError(f"cannot read the key file: {exc}", path=path) from exc
        if key:
            return key
        raise PHIError("the key file is empty", path=path, hint="put a long random secret in it")
    if named:
        raise PHIError("the key file named by the environment does not exist", path=path,
                       hint=f"fix ${KEY_FILE_ENV} or unset it")  # fmt: skip
    key = secrets.token_hex(32).encode("ascii")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    log.warning(
        "no %s: made a random pseudonym key for this build (%s); set the variable to keep "
        "slide pseudonyms stable across builds", KEY_ENV, path,
    )  # fmt: skip
    return key


def slide_pseudonym(original: str, key: bytes, *, length: int = 16) -> str:
    """``"slide-"`` + ``HMAC-SHA256(key, "slide" ␟ original)`` as ``length`` hex characters."""
    mac = hmac.new(key, b"slide\x1f" + original.encode("utf-8", "surrogateescape"), hashlib.sha256)
    return "slide-" + mac.hexdigest()[:length]
