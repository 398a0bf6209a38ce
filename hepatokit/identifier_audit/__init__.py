"""Find identifying values (PHI) in a folder that is published or shared: the audit engine.

Both datasets use it: the MRI PHI audit (values collected from the raw DICOM headers) and the
histology audit (file names, slide ids, metadata) call :func:`audit_identifiers` with their
values. It looks for them with precision as well as recall:

* **Decoded text, not bytes.** Every file is turned into the text a reader would see: Parquet
  cells (strings, nested values, column names, schema metadata; binary cells by what they
  hold), JSON strings (keys and values, never the ``\\uXXXX`` escapes), NIfTI header text
  fields and extensions (not the voxels), image metadata (PNG text chunks, EXIF, TIFF
  descriptions, JPEG comments), tar members, DICOM headers (decoded by pydicom, and the
  printable runs of the file without its pixel data); plain text
  as UTF-8; for any other binary, its printable runs. Gzip is inflated first. The relative
  path of every file is scanned too (folder names carry patient names).
* **Numbers hepatokit computes are fields, not text.** The values of a numeric field (a
  Parquet integer / float / decimal column, the numbers nested in a column's cells, the
  numbers of a JSON file) are not searched one by one for digits-only values (a numeric
  patient name, ID or accession, a date as ``20240315``): there they are sizes, counts and
  measurements, and at LiFS scale one of them met a numeric patient name. Such a field is
  reported whole when more than half of its distinct values are identifiers (a column of
  IDs or dates stored as numbers). Everywhere else (string cells, JSON strings and keys,
  paths, text files, CSV, NIfTI / DICOM / image text) every value is looked for.
* **Unicode-aware.** Text and values are NFKC-normalised and case-folded, and compared both
  with and without diacritics (``MÜLLERSOHN`` finds ``Müllersohn`` and ``Mullersohn``).
* **Whole tokens.** Text is split into tokens (letters and digits; ``_``, ``^``, spaces and
  punctuation separate; a run of digits joined by dots, such as a UID or ``7.5``, is one
  token; each CJK / kana / hangul character is its own token, as those scripts have no
  spaces). A value matches where its tokens occur in a row, so ``Normal`` does not match
  ``normalize``, ``dicom`` does not match ``ImageOrientationPatientDICOM``, ``Field`` does not
  match ``field_strength``... and a date does not match inside a UID.
* **Skipped values, each recorded with its reason** in the report: too short (fewer than
  ``min_length`` characters, CJK characters counting two; ``min_length_private`` for values
  from unnamed private tags, whose tag label starts with ``(``), numeric with fewer than six
  digits, no letter or digit at all, a single dictionary word (DICOM's own vocabulary:
  the words of pydicom's data-dictionary keywords) or a word of the recipe / schema text the
  caller passes in ``ignore_text``; and a value of a private element or of a free-text origin
  whose tokens occur in a row inside the technical header text published by design
  (``public_text``: a Siemens private copy of the image type or of the sequence name, an SR
  text equal to a series description) — names, IDs and dates are never skipped that way.

``exclude`` folders (default ``private/``) are never scanned: they are never published.
Any hit makes the audit fail. The report (``reports/phi_audit.json`` and ``.md`` by default)
shows masked values only.

Modules by job: :mod:`~hepatokit.identifier_audit.normalise` (Unicode folding, tokens,
matching), :mod:`~hepatokit.identifier_audit.values` (which values are looked for, which
skipped), :mod:`~hepatokit.identifier_audit.decode` (a file's text),
:mod:`~hepatokit.identifier_audit.scan` (the folder walk and the hits) and
:mod:`~hepatokit.identifier_audit.report`.
"""

from hepatokit.identifier_audit.decode import file_texts
from hepatokit.identifier_audit.normalise import match_tokens, normalise, tokens_of
from hepatokit.identifier_audit.report import (
    IdentifierAuditResult,
    IdentifierHit,
    write_report as write_report,
)
from hepatokit.identifier_audit.scan import audit_identifiers
from hepatokit.identifier_audit.values import (
    MIN_DIGITS as MIN_DIGITS,
    MIN_LENGTH as MIN_LENGTH,
    MIN_LENGTH_PRIVATE as MIN_LENGTH_PRIVATE,
    SkippedValue,
)

__all__ = [
    "IdentifierAuditResult",
    "IdentifierHit",
    "SkippedValue",
    "audit_identifiers",
    "file_texts",
    "match_tokens",
    "normalise",
    "tokens_of",
]
