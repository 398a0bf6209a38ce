"""The stages check the tables of the build contract where they write and read them: a table
with a missing or wrong-typed column is a DataFormatError naming the file and the column."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hepatokit.contracts import hepatobench, lifs, write_table
from hepatokit.errors import DataFormatError


def _broken(schema: pa.Schema, column: str, new_type: pa.DataType | None) -> pa.Table:
    """One all-null row of ``schema`` with ``column`` dropped (``new_type`` None) or retyped."""
    fields = [f for f in schema if f.name != column]
    if new_type is not None:
        fields.append(pa.field(column, new_type))
    return pa.Table.from_pylist([{}], schema=pa.schema(fields))


def _plant(build: Path, name: str, table: pa.Table) -> Path:
    path = build / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def _assert_names(err: pytest.ExceptionInfo[DataFormatError], path: Path, column: str) -> None:
    text = str(err.value)
    assert str(path) in text, text
    assert f"'{column}'" in text, text


def test_patho_qc_checks_match_the_contract() -> None:
    from hepatokit.curation.patho.qc.measures import QC_CHECKS

    assert tuple(QC_CHECKS) == hepatobench.QC_CHECK_NAMES


@pytest.mark.parametrize(
    ("name", "schema", "column", "new_type"),
    [
        (hepatobench.QC, hepatobench.QC_SCHEMA, "qc_reason", None),
        (hepatobench.TILES, hepatobench.TILES_SCHEMA, "x", pa.string()),
        (lifs.VOLUME_QC, lifs.VOLUME_QC_SCHEMA, "flags", pa.string()),
        (lifs.REGISTRATION, lifs.REGISTRATION_SCHEMA, "matrix_ras", None),
    ],
)
def test_write_refuses_a_table_off_contract(
    tmp_path: Path, name: str, schema: pa.Schema, column: str, new_type: pa.DataType | None
) -> None:
    with pytest.raises(DataFormatError) as err:
        write_table(tmp_path, name, _broken(schema, column, new_type))
    _assert_names(err, tmp_path / name, column)
    assert not (tmp_path / name).exists()


def test_dedup_refuses_a_qc_table_without_its_reason(tmp_path: Path) -> None:
    from hepatokit.curation.patho.dedup.stage import dedup_patches

    path = _plant(tmp_path, hepatobench.QC, _broken(hepatobench.QC_SCHEMA, "qc_reason", None))
    with pytest.raises(DataFormatError) as err:
        dedup_patches(build=tmp_path)
    _assert_names(err, path, "qc_reason")


def test_patho_qc_refuses_a_tile_table_of_another_type(tmp_path: Path) -> None:
    from hepatokit.curation.patho.qc.stage import qc_patches

    table = _broken(hepatobench.TILES_SCHEMA, "slide_id", pa.int64())
    path = _plant(tmp_path, hepatobench.TILES, table)
    with pytest.raises(DataFormatError) as err:
        qc_patches(build=tmp_path)
    _assert_names(err, path, "slide_id")


def test_labels_and_register_refuse_a_volume_qc_table_off_contract(tmp_path: Path) -> None:
    from hepatokit.curation.mri.labels.stage import _volumes
    from hepatokit.curation.mri.register.stage import _subject_volumes

    write_table(tmp_path, lifs.VOLUMES, lifs.VOLUME_SCHEMA.empty_table())
    path = _plant(tmp_path, lifs.VOLUME_QC, _broken(lifs.VOLUME_QC_SCHEMA, "qc_reason", pa.int64()))
    for read in (lambda: _volumes(tmp_path), lambda: _subject_volumes(tmp_path, lifs.SEQUENCES)):
        with pytest.raises(DataFormatError) as err:
            read()
        _assert_names(err, path, "qc_reason")


def test_publish_refuses_a_registration_table_off_contract(tmp_path: Path) -> None:
    """Each reader checks the columns it reads."""
    from hepatokit.publish.lifs import _registration_meta, _registrations
    from hepatokit.publish.lifs_registered import _resampled

    for read, column in (
        (_registrations, "matrix_ras"),
        (_registration_meta, "status"),
        (_resampled, "resampled_path"),
    ):
        table = _broken(lifs.REGISTRATION_SCHEMA, column, pa.int64())
        path = _plant(tmp_path, lifs.REGISTRATION, table)
        with pytest.raises(DataFormatError) as err:
            read(tmp_path)
        _assert_names(err, path, column)


# -- curated and hashes, checked wherever they are read --------------------------------------
def test_features_refuse_a_hash_table_off_contract(tmp_path: Path) -> None:
    from hepatokit.curation.patho.features.table import ensure_features

    path = _plant(tmp_path, hepatobench.HASHES, _broken(hepatobench.HASH_SCHEMA, "md5", pa.int64()))
    items = pa.table({c: pa.array([], pa.string()) for c in ("id", "path", "kind")})
    with pytest.raises(DataFormatError) as err:
        ensure_features(tmp_path, items)
    _assert_names(err, path, "md5")


@pytest.mark.parametrize(
    ("name", "schema", "column"),
    [
        (hepatobench.CURATED, hepatobench.CURATED_SCHEMA, "path"),
        (hepatobench.HASHES, hepatobench.HASH_SCHEMA, "phash"),
    ],
)
def test_leakage_audit_refuses_hash_sources_off_contract(
    tmp_path: Path, name: str, schema: pa.Schema, column: str
) -> None:
    from hepatokit.splits.leakage import _patch_hashes

    path = _plant(tmp_path, name, _broken(schema, column, pa.int64()))
    with pytest.raises(DataFormatError) as err:
        _patch_hashes(tmp_path, {"p1"})
    _assert_names(err, path, column)


def test_split_and_publish_refuse_a_curated_table_off_contract(tmp_path: Path) -> None:
    from hepatokit.publish.hepatobench import collect_hepatobench
    from hepatokit.publish.sections import publish_section
    from hepatokit.recipe import load_recipe
    from hepatokit.splits.policy import SplitPolicy
    from hepatokit.splits.stage import _read_table

    path = _plant(tmp_path, hepatobench.CURATED, pa.table({"id": ["p1"], "group": ["g"]}))
    rec = load_recipe("hepatobench")
    reads = (
        lambda: _read_table(tmp_path, "patho", SplitPolicy(group="group")),
        lambda: collect_hepatobench(
            tmp_path, rec, publish_section(rec), withhold_test_labels=False
        ),
    )
    for read in reads:
        with pytest.raises(DataFormatError) as err:
            read()
        _assert_names(err, path, "path")
    # a table named by the recipe's split.table is the recipe's, not the contract's
    other = _plant(tmp_path, "mine.parquet", pa.table({"id": ["p1"], "group": ["g"]}))
    table, _ = _read_table(tmp_path, "patho", SplitPolicy(group="group", table=other.name))
    assert table.column("id").to_pylist() == ["p1"]


def test_fake_builds_record_their_kind_in_build_json(tmp_path: Path) -> None:
    """The kind comes from build.json, not from the fallback guess on subjects.parquet."""
    from hepatokit.contracts import read_kind
    from hepatokit.synthetic.builds import make_fake_hepatobench_build, make_fake_lifs_build

    lifs_build = make_fake_lifs_build(tmp_path / "lifs").build
    (lifs_build / lifs.SUBJECTS).unlink()  # the guess would now say hepatobench
    assert read_kind(lifs_build) == "lifs"
    hb_build = make_fake_hepatobench_build(tmp_path / "hb").build
    _plant(hb_build, lifs.SUBJECTS, lifs.SUBJECTS_SCHEMA.empty_table())  # the guess: lifs
    assert read_kind(hb_build) == "hepatobench"


def test_report_refuses_tables_off_contract(tmp_path: Path) -> None:
    """The curation report checks the columns it shows."""
    from hepatokit.report.hepatobench import _Patches
    from hepatokit.report.lifs import _volume_qc

    path = _plant(tmp_path, lifs.VOLUME_QC, _broken(lifs.VOLUME_QC_SCHEMA, "flags", pa.string()))
    with pytest.raises(DataFormatError) as err:
        _volume_qc(tmp_path)
    _assert_names(err, path, "flags")
    path = _plant(tmp_path, hepatobench.TILES, _broken(hepatobench.TILES_SCHEMA, "path", None))
    with pytest.raises(DataFormatError) as err:
        _Patches(tmp_path)
    _assert_names(err, path, "path")
