"""Defect 11 (histology, slide ids): a slide id read from a patch file name
(``ingest.slide_id_regex``) or a whole-slide file name is keyed at ingest / tile time; the
original is only in ``BUILD/private/``. Planted identifiers (one of them non-ASCII) are found
nowhere else in the build, in no file or folder name, and in no published byte, while the
split, the leakage audit, the report and publish work on the pseudonyms."""

from __future__ import annotations

import contextlib
import html
import json
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import tifffile

from hepatokit import build_dataset
from hepatokit.publish import publish_build
from hepatokit.splits import audit_leakage
from tests.curation.patho.helpers import he_patch, slide_ids
from tests.hostile.helpers import png_bytes, run_cli

#: slide ids the default ``slide_id_regex`` reads from the file names (``<slide>_<n>.png``)
SLIDES = ("SMITHJOHN-S21-4455", "MÜLLERSOHN-S22-0007")
#: the class folder each planted slide's patches are in
CLASS_OF = {SLIDES[0]: "TUM", SLIDES[1]: "FIB"}
PER_SLIDE = 4


def _tree(root: Path) -> None:
    """Twelve clean slides ``slideNN_k.png`` and the two planted ones, 4 patches each."""
    for s in range(12):
        cls = ("TUM", "FIB", "INF")[s % 3]
        for k in range(PER_SLIDE):
            path = root / cls / f"slide{s:02d}_{k}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png_bytes(he_patch(s * 10 + k)))
    for j, slide in enumerate(SLIDES):
        for k in range(PER_SLIDE):
            path = root / CLASS_OF[slide] / f"{slide}_{k:04d}.png"
            path.write_bytes(png_bytes(he_patch(500 + 10 * j + k)))


def _needles(value: str) -> list[str]:
    """The forms a leak could take once text is decoded and folded: as is, without its
    diacritics, and the ASCII-only run around them (``LLERSOHN-S22-0007``)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))
    forms = {value, plain, value.split("Ü")[-1]}
    return sorted({unicodedata.normalize("NFKC", f).casefold() for f in forms})


def _byte_needles(value: str) -> list[bytes]:
    out = set()
    for form in (value, value.upper(), value.lower()):
        for enc in ("utf-8", "utf-16-le", "latin-1"):
            with contextlib.suppress(UnicodeEncodeError):
                out.add(form.lower().encode(enc))
    return sorted(out)


def _decoded(path: Path) -> str:
    """The text a file holds, decoded the way a reader sees it (parquet cells and metadata,
    JSON strings unescaped, HTML entities resolved)."""
    data = path.read_bytes()
    parts: list[str] = []
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        parts.append(str(table.schema))
        for meta in (table.schema.metadata or {}).values():
            parts.append(meta.decode("utf-8", "replace"))
        for row in table.to_pylist():
            for value in row.values():
                if isinstance(value, dict):  # an embedded image: its name; bytes scanned raw
                    parts.append(str({k: v for k, v in value.items() if k != "bytes"}))
                    if isinstance(value.get("bytes"), bytes):
                        parts.append(value["bytes"].decode("latin-1"))
                else:
                    parts.append(str(value))
    else:
        text = data.decode("utf-8", "replace")
        parts.append(text)
        if path.suffix == ".json":
            with contextlib.suppress(ValueError):
                parts.append(json.dumps(json.loads(text), ensure_ascii=False))
        if path.suffix in (".html", ".md", ".svg"):
            parts.append(html.unescape(text))
    return unicodedata.normalize("NFKC", "\n".join(parts)).casefold()


def _leaks(folder: Path, values: tuple[str, ...], *, skip_private: bool) -> list[str]:
    """Every place (a path's name, raw bytes, decoded text) a value is found under
    ``folder`` outside ``private/`` (when ``skip_private``)."""
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if skip_private and rel.parts[0] == "private":
            continue
        name = unicodedata.normalize("NFKC", rel.as_posix()).casefold()
        for value in values:
            if any(n in name for n in _needles(value)):
                found.append(f"{value!r} in the name {rel}")
        if not path.is_file():
            continue
        low = path.read_bytes().lower()
        text = _decoded(path)
        for value in values:
            if any(n in low for n in _byte_needles(value)):
                found.append(f"{value!r} in the bytes of {rel}")
            if any(n in text for n in _needles(value)):
                found.append(f"{value!r} in the text of {rel}")
    return found


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("slide_ids")
    raw, build, hf = base / "raw", base / "build", base / "hf"
    _tree(raw)
    build_dataset(recipe="hepatobench", raw=raw, out=build, workers=1)
    publish_build(build=build, out=hf, workers=1)
    return raw, build, hf


def test_the_scan_is_not_blind(tmp_path: Path) -> None:
    """The checker finds each planted value in a parquet cell, an escaped JSON string, an
    HTML entity and a folder name (else a pass below would prove nothing)."""
    import pyarrow as pa

    pq.write_table(pa.table({"slide_id": [SLIDES[0].lower()]}), tmp_path / "a.parquet")
    (tmp_path / "b.json").write_text(json.dumps({"x": SLIDES[1]}))  # "M\u00dcLLERSOHN"
    (tmp_path / "c.html").write_text("<p>M&Uuml;LLERSOHN-S22-0007</p>")
    (tmp_path / "SMITHJOHN-S21-4455").mkdir()
    found = _leaks(tmp_path, SLIDES, skip_private=True)
    assert any("a.parquet" in f and SLIDES[0] in f for f in found)
    assert any("b.json" in f and SLIDES[1] in f for f in found)
    assert any("c.html" in f and SLIDES[1] in f for f in found)
    assert any("the name SMITHJOHN" in f for f in found)


def test_no_planted_slide_id_outside_private_or_in_the_dataset(published) -> None:
    _raw, build, hf = published
    # the planted slides were ingested, kept and published (else nothing is proved)
    originals = slide_ids(build)
    assert set(SLIDES) <= set(originals)
    curated = set(pq.read_table(build / "curated.parquet").column("slide_id").to_pylist())
    published_ids: set[str] = set()
    for path in sorted((hf / "data").rglob("*.parquet")):
        published_ids |= set(pq.read_table(path).column("slide_id").to_pylist())
    for slide in SLIDES:
        assert originals[slide] in curated and originals[slide] in published_ids
    assert _leaks(build, SLIDES, skip_private=False)  # private/ holds them (not blind)
    assert _leaks(build, SLIDES, skip_private=True) == []
    assert _leaks(hf, SLIDES, skip_private=False) == []


def test_every_table_holds_the_pseudonyms(published) -> None:
    """patches / curated / splits hold the same keyed ids the private map gives, and
    publish publishes exactly those (the value publish has always published)."""
    _raw, build, hf = published
    pseudonyms = set(slide_ids(build).values())
    for name in ("patches.parquet", "curated.parquet"):
        ids = set(pq.read_table(build / name).column("slide_id").to_pylist()) - {None}
        assert ids == pseudonyms, name
    groups = set(pq.read_table(build / "splits.parquet").column("group").to_pylist())
    assert groups <= pseudonyms and len(groups) == len(pseudonyms)
    published_ids: set[str] = set()
    for path in sorted((hf / "data").rglob("*.parquet")):
        published_ids |= set(pq.read_table(path).column("slide_id").to_pylist())
    assert published_ids == pseudonyms
    # a slide's patches share its pseudonym and its split
    patches = pq.read_table(build / "patches.parquet").to_pylist()
    split = {r["id"]: r["split"] for r in pq.read_table(build / "splits.parquet").to_pylist()}
    for slide in SLIDES:
        mine = [r["id"] for r in patches if r["slide_id"] == slide_ids(build)[slide]]
        assert len(mine) == PER_SLIDE and len({split[i] for i in mine}) == 1


def test_report_and_leakage_audit_work_on_pseudonyms(published, tmp_path: Path) -> None:
    _raw, build, _hf = published
    pseudo = slide_ids(build)[SLIDES[0]]
    page = (build / "reports" / "index.html").read_text(encoding="utf-8")
    assert pseudo in page  # the class × slide × split table names the slide's pseudonym
    assert json.loads((build / "reports" / "leakage.json").read_text())["ok"] is True
    # a slide cut across two splits is found, and named by its pseudonym only
    leaky = tmp_path / "build"
    shutil.copytree(build, leaky)
    splits = pq.read_table(leaky / "splits.parquet")
    rows = splits.to_pylist()
    mine = [r for r in rows if r["group"] == pseudo]
    other = next(s for s in sorted({r["split"] for r in rows}) if s != mine[0]["split"])
    mine[0]["split"] = other
    pq.write_table(type(splits).from_pylist(rows, schema=splits.schema), leaky / "splits.parquet")
    report = audit_leakage(build=leaky)
    hits = [f for f in report.findings if f.kind == "group_in_several_splits"]
    assert [f.items for f in hits] == [(pseudo,)]
    assert _leaks(leaky / "reports", SLIDES, skip_private=False) == []
    assert pseudo in (leaky / "reports" / "leakage.md").read_text(encoding="utf-8")


def test_same_key_same_bytes_and_resume(tmp_path: Path) -> None:
    """Two builds of the same patches with the same key file: byte-identical slide ids,
    splits and private map; a re-run of the build reuses the ingest cache and rewrites the
    same bytes; another key gives other pseudonyms of the same originals."""
    raw = tmp_path / "raw"
    _tree(raw)
    key = tmp_path / "key"
    key.write_text("a long random secret shared by both builds\n")
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out in (a, b):
        build_dataset(recipe="hepatobench", raw=raw, out=out, workers=1, key_file=key)
    for name in ("splits.parquet", "patches.parquet", "private/slide_pseudonyms.parquet"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    before = (a / "splits.parquet").read_bytes()
    build_dataset(recipe="hepatobench", raw=raw, out=a, workers=1, key_file=key)
    assert (a / "splits.parquet").read_bytes() == before
    assert not (a / "private" / "deid_key").exists()  # the key file was used, none made
    other = tmp_path / "other-key"
    other.write_text("another secret\n")
    build_dataset(recipe="hepatobench", raw=raw, out=c, workers=1, key_file=other,
                  strict_audits=False)  # fmt: skip
    assert set(slide_ids(c)) == set(slide_ids(a))
    assert not set(slide_ids(c).values()) & set(slide_ids(a).values())


def test_tile_names_slides_by_pseudonym(tmp_path: Path) -> None:
    """``patho tile``: tile folders, tables, ledger and console name a slide by its keyed
    pseudonym; the WSI file name (non-ASCII too) is in ``private/`` only."""
    slides = tmp_path / "slides"
    slides.mkdir()
    img = np.tile(he_patch(1, size=256), (4, 4, 1))
    img[:, :300] = 245  # some glass
    names = {SLIDES[0]: f"{SLIDES[0]}.tif", SLIDES[1]: f"{SLIDES[1]}.tif"}
    for name in names.values():
        tifffile.imwrite(slides / name, img, tile=(256, 256), photometric="rgb")
    build = tmp_path / "build"
    code, out = run_cli("--workers", "1", "patho", "tile", str(slides), "--out", str(build),
                        "--mpp", "0.5")  # fmt: skip
    assert code == 0 and "2 tiled" in out, out
    folded = unicodedata.normalize("NFKC", out).casefold()
    for slide in SLIDES:
        assert not any(n in folded for n in _needles(slide)), out
    assert _leaks(build, SLIDES, skip_private=True) == []
    mapping = slide_ids(build)
    assert set(mapping) == set(names.values())  # the private map gives the file back
    tiles = pq.read_table(build / "tiles.parquet").to_pylist()
    assert {r["slide_id"] for r in tiles} == set(mapping.values())
    for r in tiles:
        assert r["path"].startswith(f"tiles/{r['slide_id']}/") and (build / r["path"]).is_file()
    folders = {p.name for p in (build / "tiles").iterdir()}
    assert folders == set(mapping.values())
    # resume: a second run re-tiles nothing (same key: same folders, markers found)
    stamps = {p: p.stat().st_mtime_ns for p in (build / "tiles").rglob("*.png")}
    code, out = run_cli("--workers", "1", "patho", "tile", str(slides), "--out", str(build),
                        "--mpp", "0.5")  # fmt: skip
    assert code == 0
    assert {p: p.stat().st_mtime_ns for p in (build / "tiles").rglob("*.png")} == stamps


def test_build_audit_scans_the_tables_too(published, tmp_path: Path) -> None:
    """The histology PHI audit of a build looks at its tables, not only its reports: an
    original slide id put back into ``patches.parquet`` (or a ledger) fails it."""
    import pyarrow as pa

    from hepatokit.publish.histology_audit import audit_histology_phi

    _raw, build, _hf = published
    assert audit_histology_phi(build=build, report=False).ok
    copy = tmp_path / "build"
    shutil.copytree(build, copy)
    table = pq.read_table(copy / "patches.parquet")
    back = {p: o for o, p in slide_ids(copy).items()}
    column = pa.array([back.get(s, s) for s in table.column("slide_id").to_pylist()], pa.string())
    index = table.column_names.index("slide_id")
    pq.write_table(table.set_column(index, "slide_id", column), copy / "patches.parquet")
    audit = audit_histology_phi(build=copy, report=False)
    assert {h.file for h in audit.hits} == {"patches.parquet"}
    assert {h.tag for h in audit.hits} == {"slide_id"} and len(audit.hits) >= len(SLIDES)
