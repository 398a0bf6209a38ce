"""The identifier (PHI) audit engine: recall on decoded text, precision on whole tokens.

Each precision case is one that stopped real-scanner builds (a short private-tag value inside
compressed bytes, a patient "name" that is a word of the recipe or of a JSON key, a date
inside a UID); each recall case plants a value in a format where a byte search misses it.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import tarfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image, PngImagePlugin

import hepatokit
from hepatokit.identifier_audit import audit_identifiers, match_tokens, normalise, tokens_of


def _audit(folder: Path, values: dict[str, str], **kw):  # type: ignore[no-untyped-def]
    return audit_identifiers(folder=folder, identifiers=values, workers=1, **kw)


def test_exported_keyword_only() -> None:
    assert hepatokit.audit_identifiers is audit_identifiers
    with pytest.raises(TypeError):
        audit_identifiers(".", {})  # type: ignore[misc]


def test_real_scanner_false_positives_are_gone(tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text("qc:\n  normalize: true\n  field_strength: [1.5, 3]\n")
    (tmp_path / "sub-1_T1w.json").write_text(
        json.dumps({"ImageOrientationPatientDICOM": [1, 0, 0], "SeriesDescription": "t1"})
    )
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    compressed = gzip.compress(noise[:1000] + b"xL7.5x" + noise[1000:])
    (tmp_path / "blob.bin.gz").write_bytes(compressed)
    pq.write_table(
        pa.table({"series_uid": ["1.2.840.113619.2.20240315.1.7"], "field_strength": [3.0]}),
        tmp_path / "instances.parquet",
    )
    values = {
        "Normal": "PatientComments",
        "dicom": "PatientName",
        "Field": "PatientName",
        "L7.5": "(0019,10AB)",
        "20240315": "StudyDate",
        "2024-03-15": "StudyDate",
    }
    result = _audit(tmp_path, values, ignore_text=["field_strength normalize"])
    assert result.ok, result.hits
    assert result.values == 3  # Normal, the two date forms; the rest skipped
    assert result.skipped["too_short"] == 1  # L7.5 (private tag)
    assert result.skipped["recipe_or_schema_word"] + result.skipped["dictionary_word"] == 2
    reasons = {s.tag: s.reason for s in result.skipped_examples}
    assert reasons["(0019,10AB)"] == "too_short"


def _png_with_text(text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Description", text, zip=True)
    buf = io.BytesIO()
    Image.new("L", (4, 4)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _nifti_with_descrip(text: str) -> bytes:
    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), np.eye(4))
    img.header["descrip"] = text.encode("utf-8")
    return gzip.compress(img.to_bytes())


def _tar_with(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


PLANTED = {
    "parquet_series_description": lambda v: ("t.parquet", None, f"t2_haste_{v}_tra"),
    "json_escaped": lambda v: ("m.json", json.dumps({"note": f"seen by {v}"}).encode(), None),
    "png_itxt": lambda v: ("i.png", _png_with_text(f"slide of {v}"), None),
    "nifti_descrip": lambda v: ("v.nii.gz", _nifti_with_descrip(f"{v} liver"), None),
    "tar_member_name": lambda v: ("s.tar", _tar_with(f"{v}_0001.png", b"x"), None),
    "folder_name": lambda v: (f"{v}/a.txt", b"nothing here", None),
    "log_upper": lambda v: ("run.log", f"converted {v.upper()} ok\n".encode(), None),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
@pytest.mark.parametrize(
    "value,written",
    [
        ("Müllersohn", "MÜLLERSOHN"),
        ("Müllersohn", "Mullersohn"),
        ("Mullersohn", "MÜLLERSOHN"),
        ("王小东", "患者王小东检查"),
        ("Müllersohn^Jörg", "müllersohn_JÖRG"),
    ],
)
def test_planted_value_is_found(tmp_path: Path, case: str, value: str, written: str) -> None:
    name, data, cell = PLANTED[case](written)
    path = tmp_path / "build" / name
    path.parent.mkdir(parents=True)
    if cell is not None:
        pq.write_table(pa.table({"series_description": ["t1", cell]}), path, compression="zstd")
    else:
        path.write_bytes(data)
    result = _audit(tmp_path / "build", {value: "PatientName"})
    assert not result.ok, case
    expected = name if case != "folder_name" else f"{written[:3]}…{written[-3:]}/a.txt"
    assert [h.file for h in result.hits] == [expected]  # a folder name is masked too
    assert value not in json.dumps(result.to_dict(), ensure_ascii=False)  # masked


def test_private_folder_and_report(tmp_path: Path) -> None:
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "pseudonyms.csv").write_text("Smithson,sub-1\n")
    (tmp_path / "ok.csv").write_text("sub-1\n")
    rep = tmp_path / "reports"
    assert _audit(tmp_path, {"Smithson": "PatientName"}, report_dir=rep).ok
    saved = json.loads((rep / "phi_audit.json").read_text())
    assert saved["ok"] is True and saved["files_scanned"] == 1
    (tmp_path / "leak.md").write_text("Patient: SMITHSON\n")
    result = _audit(tmp_path, {"Smithson": "PatientName", "12": "PatientID"}, report_dir=rep)
    assert not result.ok and result.hits[0].file == "leak.md"
    saved = json.loads((rep / "phi_audit.json").read_text())
    assert saved["ok"] is False and saved["skipped"] == {"numeric_short": 1}
    assert "Smithson" not in (rep / "phi_audit.md").read_text()


def test_dicom_header_bytes_decoded(tmp_path: Path) -> None:
    """A raw DICOM file copied into a build: its GB18030 institution is found (decoded)."""
    import pydicom.data

    src = Path(pydicom.data.get_charset_files("chrX2.dcm")[0])
    (tmp_path / "copied.dcm").write_bytes(src.read_bytes())
    result = _audit(tmp_path, {"王^小东": "PatientName"})
    assert not result.ok


WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(WORDS, min_size=0, max_size=30),
    st.lists(WORDS.filter(lambda w: len(w) >= 2), min_size=1, max_size=3),
    st.integers(min_value=0, max_value=30),
    st.sampled_from([" ", "_", "^", "/", "-", ", ", "\n", "\t"]),
)
def test_token_matching(words: list[str], needle: list[str], at: int, sep: str) -> None:
    """A planted value is found at any token boundary, and never inside a longer word."""
    value = " ".join(needle)
    at = min(at, len(words))
    planted = sep.join([*words[:at], sep.join(n.upper() for n in needle), *words[at:]])
    tokens = tokens_of(normalise(planted)[0])
    key = tuple(needle)
    assert match_tokens(tokens, [key]) == [key]
    glued = sep.join([*words[:at], "x" + "".join(needle) + "y", *words[at:]])
    truth = any(
        tuple(tokens_of(normalise(glued)[0])[i : i + len(key)]) == key
        for i in range(len(tokens_of(glued)))
    )
    assert bool(match_tokens(tokens_of(normalise(glued)[0]), [key])) == truth
    assert value  # the needle is not empty


def _match_by_scan(tokens: list[str], needles: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The definition: at each token in turn, each needle in the order given."""
    found: list[tuple[str, ...]] = []
    for i in range(len(tokens)):
        for n in needles:
            if n not in found and tuple(tokens[i : i + len(n)]) == n:
                found.append(n)
    return found


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from("abcd"), max_size=40),
    st.lists(st.lists(st.sampled_from("abcd"), min_size=1, max_size=4).map(tuple), max_size=12),
)
def test_match_tokens_equals_the_scan(tokens: list[str], needles: list[tuple[str, ...]]) -> None:
    """Needles sharing first tokens, of several lengths, repeated: the same needles in the
    same order as a scan of every needle at every token (the indexed lookup is the fast
    path of the audit)."""
    assert match_tokens(tokens, needles) == _match_by_scan(tokens, needles)


def test_random_text_speed_sanity(tmp_path: Path) -> None:
    """Many values over a large table: finds exactly the planted rows' values."""
    rng = random.Random(1)
    names = [f"{''.join(rng.choices('bcdfghklmnprstvz', k=7))}son" for _ in range(2000)]
    rows = [f"t1_vibe_{i}" for i in range(50_000)]
    rows[123] = f"t1 {names[5]} x"
    rows[40_000] = f"{names[1999].upper()}"
    pq.write_table(pa.table({"d": rows}), tmp_path / "t.parquet")
    result = _audit(tmp_path, dict.fromkeys(names, "PatientName"))
    assert sorted(h.value for h in result.hits) == sorted(
        n[:3] + "…" + n[-3:] for n in (names[5], names[1999])
    )


# ----------------------------------------------------------------------------- pure pieces
@pytest.mark.parametrize(
    "value,tag,reason",
    [
        ("--//--", "PatientName", "no_letter_or_digit"),
        ("12345", "PatientID", "numeric_short"),  # five digits
        ("2024-03-15", "StudyDate", None),  # eight digits
        ("1.2.840.10008", "StudyInstanceUID", None),
        ("Ab", "PatientName", "too_short"),
        ("L7.5x", "(0019,10AB)", "too_short"),  # unnamed private tag: six characters needed
        ("L7.5x", "StationName", None),
        ("王东", "PatientName", None),  # CJK characters count two
        ("Patient", "PatientName", "dictionary_word"),  # a word of pydicom's keywords
        ("normalize", "PatientComments", "recipe_or_schema_word"),
        ("Normalize Smithson", "PatientComments", None),  # two words: looked for
    ],
)
def test_skip_reason(value: str, tag: str, reason: str | None) -> None:
    from hepatokit.identifier_audit.normalise import value_forms
    from hepatokit.identifier_audit.values import skip_reason

    ignored = frozenset({"normalize", "field"})
    assert skip_reason(value_forms(value), tag, 4, 6, ignored) == reason


def test_mask_keeps_only_the_ends() -> None:
    from hepatokit.identifier_audit.values import mask

    assert [mask(v) for v in ("Li", " Smith ", "Müllersohn")] == ["…", "S…h", "Mül…ohn"]


def test_safe_path_masks_only_the_components_holding_a_value() -> None:
    from hepatokit.identifier_audit.normalise import by_first, value_forms
    from hepatokit.identifier_audit.scan import safe_path

    needles = dict.fromkeys(value_forms("Müllersohn^Jörg"), "PatientName\x1fMüllersohn^Jörg")
    rel = "volumes/MULLERSOHN_JORG_2024/t1_MULLERSOHN.nii.gz"
    assert safe_path(rel, needles, by_first(needles)) == (
        "volumes/MUL…024/t1_MULLERSOHN.nii.gz"  # the surname alone is not the value
    )


def test_report_markdown_lists_hits_and_skip_reasons() -> None:
    from hepatokit.identifier_audit import IdentifierAuditResult, IdentifierHit, SkippedValue
    from hepatokit.identifier_audit.report import report_markdown

    hit = IdentifierHit("a/b.json", "PatientName", "Smi…son", "json")
    skip = SkippedValue("PatientID", "…", "numeric_short")
    result = IdentifierAuditResult(3, 2, 99, [hit], {"numeric_short": 1}, [skip])
    text = report_markdown(result)
    assert "- hits: 1 → FAIL" in text
    assert "- values skipped: 1; numeric_short 1" in text
    assert "| a/b.json | PatientName | Smi…son | json |" in text
    assert "| PatientID | … | numeric_short |" in text
    empty = IdentifierAuditResult(0, 0, 0)
    assert "→ PASS" in report_markdown(empty) and "|" not in report_markdown(empty)


def _nifti_cases(folder: Path) -> list[Path]:
    """Gzipped NIfTI files the header-only read must decode as the whole-file read does."""
    data = np.random.default_rng(0).integers(0, 30000, (40, 50, 6), dtype=np.int16)
    out = []
    for i, (cls, endian, ext) in enumerate(
        [
            (nib.Nifti1Image, "<", False),
            (nib.Nifti1Image, ">", True),
            (nib.Nifti2Image, "<", True),
            (nib.Nifti2Image, ">", False),
        ]
    ):
        img = cls(data.astype(data.dtype.newbyteorder(endian)), np.eye(4))
        img.header["descrip"] = f"case {i} Müllersohn".encode()
        if ext:
            img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"comment Hans 1234567"))
        out.append(folder / f"v{i}.nii.gz")
        nib.save(img, out[-1])
    whole = out[1].read_bytes()
    (folder / "cut.nii.gz").write_bytes(whole[:40])  # a stream cut inside the header
    (folder / "plain.nii.gz").write_bytes(gzip.decompress(whole))  # not gzipped
    (folder / "text.nii.gz").write_bytes(gzip.compress(b"Hans Mullersohn " * 40))
    zero = bytearray(gzip.decompress(whole))
    zero[108:112] = np.float32(0).astype(">f4").tobytes()  # vox_offset 0 (a .hdr/.img pair)
    (folder / "zero.nii.gz").write_bytes(gzip.compress(bytes(zero)))
    return [*out, *(folder / f"{n}.nii.gz" for n in ("cut", "plain", "text", "zero"))]


def test_nifti_gz_header_only_read_equals_whole_read(tmp_path: Path) -> None:
    from hepatokit.identifier_audit.decode import _blob_texts, file_texts

    for p in _nifti_cases(tmp_path):
        whole = [("path", p.name), *_blob_texts(p.read_bytes(), name=p.name)]
        assert file_texts(p) == whole, p.name
    # a stream cut in the voxels: its header is read (the whole read saw no gzip, only bytes)
    cut = tmp_path / "short.nii.gz"
    cut.write_bytes((tmp_path / "v1.nii.gz").read_bytes()[:20_000])
    assert file_texts(cut)[1:] == file_texts(tmp_path / "v1.nii.gz")[1:]
    found = _audit(tmp_path, {"Müllersohn": "PatientName", "1234567": "PatientID"})
    assert {(h.file, h.tag) for h in found.hits} >= {
        ("v0.nii.gz", "PatientName"),
        ("v1.nii.gz", "PatientID"),
        ("v2.nii.gz", "PatientID"),
        ("v3.nii.gz", "PatientName"),
    }
