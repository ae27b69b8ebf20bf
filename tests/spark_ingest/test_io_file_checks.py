"""File-level checks: each problem stops the run naming dataset, file and column."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from spark_ingest import contract as C
from spark_ingest.errors import InputFileError
from spark_ingest.io import check_dataset_files, read_raw

HEADER = ",".join(C.LOCATIONS.column_names)
ROW = "1,Airport,1 Main St,Austin,TX,73301,30.1,-97.7"


def folder_with(tmp_path: Path, name: str, content: bytes) -> Path:
    folder = tmp_path / "locations"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return folder


def check(spark, folder: Path) -> list[str]:
    return check_dataset_files(spark, C.LOCATIONS, str(folder))


def expect_error(spark, folder: Path, *, column: str | None, words: str) -> InputFileError:
    with pytest.raises(InputFileError) as info:
        check(spark, folder)
    err = info.value
    assert err.dataset == "locations"
    assert err.column == column
    assert words in err.problem
    assert "locations" in str(err) and (column is None or column in str(err))
    return err


def test_missing_folder(spark, tmp_path):
    err = expect_error(spark, tmp_path / "locations", column=None, words="missing")
    assert str(tmp_path / "locations") in str(err)


def test_folder_without_csv_files(spark, tmp_path):
    folder = folder_with(tmp_path, "_SUCCESS", b"")
    (folder / ".hidden.csv").write_text(HEADER)
    expect_error(spark, folder, column=None, words="no input files")


def test_empty_file(spark, tmp_path):
    err = expect_error(spark, folder_with(tmp_path, "a.csv", b""), column=None, words="empty")
    assert err.file.endswith("a.csv")


@pytest.mark.parametrize(
    ("header", "column", "words"),
    [
        (HEADER.replace(",latitude", ""), "latitude", "missing"),
        (HEADER.replace("city", "town"), "city", "renamed"),
        (HEADER + ",extra_col", "extra_col", "extra"),
        (HEADER.replace("city,state", "state,city"), "city", "reordered"),
    ],
)
def test_header_mismatch(spark, tmp_path, header, column, words):
    err = expect_error(
        spark,
        folder_with(tmp_path, "a.csv", f"{header}\n{ROW}\n".encode()),
        column=column,
        words=words,
    )
    assert err.file.endswith("a.csv")


def test_semicolon_delimiter(spark, tmp_path):
    content = f"{HEADER.replace(',', ';')}\n{ROW.replace(',', ';')}\n".encode()
    expect_error(spark, folder_with(tmp_path, "a.csv", content), column=None, words="delimiter")


def test_non_utf8_header(spark, tmp_path):
    content = HEADER.replace("location_name", "location_n\xe4me").encode("latin-1") + b"\n"
    expect_error(spark, folder_with(tmp_path, "a.csv", content), column=None, words="UTF-8")


def test_unsupported_compression(spark, tmp_path):
    expect_error(
        spark, folder_with(tmp_path, "a.csv.bz2", b"BZh9..."), column=None, words="compression"
    )


def test_corrupt_gzip(spark, tmp_path):
    expect_error(spark, folder_with(tmp_path, "a.csv.gz", b"not gzip"), column=None, words="gzip")


def test_bom_gzip_and_header_only_files_are_accepted(spark, tmp_path):
    folder = folder_with(tmp_path, "a.csv", ("\ufeff" + f"{HEADER}\r\n{ROW}\r\n").encode())
    (folder / "b.csv.gz").write_bytes(
        gzip.compress(f"{HEADER}\n{ROW.replace('1,', '2,', 1)}\n".encode())
    )
    (folder / "c.csv").write_text(HEADER + "\n")  # header only: valid, 0 rows
    files = check(spark, folder)
    assert [Path(f).name for f in files] == ["a.csv", "b.csv.gz", "c.csv"]
    rows = read_raw(spark, C.LOCATIONS, files).collect()
    assert sorted(row.location_id for row in rows) == ["1", "2"]
    assert all(row._corrupt_record is None for row in rows)
