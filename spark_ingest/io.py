"""Input discovery, file-level checks and the typed-once CSV read.

Files are listed through the Hadoop FileSystem API, so the same code works for local paths
and ``s3://`` on EMR (on the DuckDB engine: the local file system, and
:func:`spark_ingest.duckdb_engine.read_raw` reads the CSV). Every file of every dataset is
checked (name, size, header) BEFORE any output is written; a problem raises
:class:`~spark_ingest.errors.InputFileError`.
"""

from __future__ import annotations

import csv
import os
import zlib

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_ingest.contract import CORRUPT_RECORD, SOURCE_FILE, Dataset
from spark_ingest.duckdb_engine import is_duckdb
from spark_ingest.duckdb_engine import local_path as duckdb_local_path
from spark_ingest.duckdb_engine import read_raw as duckdb_read_raw
from spark_ingest.errors import InputFileError

ACCEPTED_SUFFIXES = (".csv", ".csv.gz")
HEADER_PROBE_BYTES = 64 * 1024
OTHER_DELIMITERS = (";", "\t", "|")
UTF8_BOM = "\ufeff"


def to_uri(path: str) -> str:
    """A local path becomes an absolute path; URIs (``s3://``, ``file:``) pass through."""
    return path if "://" in path or path.startswith("file:") else os.path.abspath(path)


def _fs_and_path(spark: SparkSession, uri: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(to_uri(uri))
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def exists(spark: SparkSession, uri: str) -> bool:
    """The file or folder ``uri`` exists (Hadoop FileSystem: local paths and ``s3://``)."""
    fs, path = _fs_and_path(spark, uri)
    return bool(fs.exists(path))


def _listing(spark: SparkSession, folder: str) -> list[tuple[str, str, bool, int]] | None:
    """(name, URI, is a folder, size) of every entry of ``folder``; None when it is missing.

    Hadoop FileSystem on Spark (local paths and ``s3://``); the local file system on the
    DuckDB engine, with URIs in the ``file:/...`` form the Hadoop listing gives.
    """
    if is_duckdb(spark):
        path = duckdb_local_path(folder)
        if not os.path.isdir(path):
            return None
        return [
            (entry.name, f"file:{entry.path}", entry.is_dir(), entry.stat().st_size)
            for entry in os.scandir(path)
        ]
    fs, path = _fs_and_path(spark, folder)
    if not fs.exists(path):
        return None
    return [
        (s.getPath().getName(), str(s.getPath()), s.isDirectory(), s.getLen())
        for s in fs.listStatus(path)
    ]


def _head(spark: SparkSession, uri: str, size: int) -> bytes:
    """The first ``size`` bytes of the file ``uri``."""
    if is_duckdb(spark):
        with open(duckdb_local_path(uri), "rb") as handle:
            return handle.read(size)
    fs, path = _fs_and_path(spark, uri)
    stream = fs.open(path)
    try:
        return bytes(stream.readNBytes(size))
    finally:
        stream.close()


def _local(uri: str) -> str | None:
    """The file system path of a local path or ``file:`` URI, else None (``s3://``)."""
    if uri.startswith("file:"):
        return duckdb_local_path(uri)
    return None if "://" in uri else os.path.abspath(uri)


def read_text(spark: SparkSession, uri: str) -> str | None:
    """The UTF-8 text of the file ``uri``, or None when it does not exist."""
    path = _local(uri)
    if path is not None:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
    fs, hpath = _fs_and_path(spark, uri)
    if not fs.exists(hpath):
        return None
    stream = fs.open(hpath)
    try:
        return bytes(stream.readAllBytes()).decode("utf-8")
    finally:
        stream.close()


def write_text(spark: SparkSession, uri: str, text: str, tag: str) -> None:
    """Replace the file ``uri`` with ``text``: written beside it as ``<uri>.<tag>.tmp``, then
    renamed over it (atomic locally; on S3 a reader may briefly find no file)."""
    data = text.encode("utf-8")
    path = _local(uri)
    if path is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(f"{path}.{tag}.tmp", "wb") as handle:
            handle.write(data)
        os.replace(f"{path}.{tag}.tmp", path)
        return
    fs, hpath = _fs_and_path(spark, uri)
    _, tmp = _fs_and_path(spark, f"{uri}.{tag}.tmp")
    stream = fs.create(tmp, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()
    if fs.exists(hpath):
        fs.delete(hpath, False)
    if not fs.rename(tmp, hpath):
        raise OSError(f"could not rename {tmp} to {hpath}")


def list_input_files(spark: SparkSession, dataset: str, folder: str) -> list[str]:
    """The ``*.csv`` / ``*.csv.gz`` files under ``folder`` (sorted), or raise InputFileError.

    Names starting with ``_`` or ``.`` are ignored (``_SUCCESS``, ``.crc``, editor files).
    """
    expected = "a folder holding one or more *.csv or *.csv.gz files"
    entries = _listing(spark, folder)
    if entries is None:
        raise InputFileError(dataset, folder, None, expected, "the dataset folder is missing")
    files: list[str] = []
    for name, uri, is_folder, size in entries:
        if name.startswith(("_", ".")) or is_folder:
            continue
        lower = name.lower()
        if not lower.endswith(ACCEPTED_SUFFIXES):
            problem = (
                "unsupported compression"
                if ".csv." in lower
                else "unexpected file type in the dataset folder"
            )
            raise InputFileError(dataset, uri, None, "*.csv or *.csv.gz", problem)
        if size == 0:
            raise InputFileError(dataset, uri, None, "a header row", "the file is empty (0 bytes)")
        files.append(uri)
    if not files:
        raise InputFileError(dataset, folder, None, expected, "no input files found")
    return sorted(files)


def read_header_line(spark: SparkSession, dataset: str, uri: str) -> str:
    """The first line of ``uri`` (gunzipped when ``.gz``), decoded as UTF-8 without a BOM."""
    data = _head(spark, uri, HEADER_PROBE_BYTES)
    if uri.lower().endswith(".gz"):
        try:
            data = zlib.decompressobj(wbits=31).decompress(data, HEADER_PROBE_BYTES)
        except zlib.error as exc:
            raise InputFileError(
                dataset, uri, None, "a gzip-compressed CSV", f"unreadable gzip data ({exc})"
            ) from None
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            dataset,
            uri,
            None,
            "a UTF-8 header row",
            f"the header is not valid UTF-8 ({exc.reason})",
        ) from None
    return text.lstrip(UTF8_BOM)


def check_header(dataset: Dataset, uri: str, header_line: str) -> None:
    """Raise InputFileError unless ``header_line`` is exactly the contract's columns."""
    expected = dataset.column_names
    expected_text = ",".join(expected)
    if not header_line.strip():
        raise InputFileError(dataset.name, uri, None, expected_text, "the header row is empty")
    actual = [name.strip() for name in next(csv.reader([header_line]))]
    if len(actual) == 1 and len(expected) > 1:
        for delimiter in OTHER_DELIMITERS:
            if delimiter in header_line:
                raise InputFileError(
                    dataset.name,
                    uri,
                    None,
                    "comma-separated columns " + expected_text,
                    f"wrong delimiter {delimiter!r}: the header parses to one column",
                )
    if actual == expected:
        return
    missing = [name for name in expected if name not in actual]
    extra = [name for name in actual if name not in expected]
    if missing and extra:
        problem = f"column {missing[0]!r} is missing; found {extra[0]!r} instead (renamed?)"
        raise InputFileError(dataset.name, uri, missing[0], expected_text, problem)
    if missing:
        raise InputFileError(
            dataset.name, uri, missing[0], expected_text, f"column {missing[0]!r} is missing"
        )
    if extra:
        raise InputFileError(
            dataset.name, uri, extra[0], expected_text, f"unexpected extra column {extra[0]!r}"
        )
    if len(actual) != len(set(actual)):
        dup = next(name for name in actual if actual.count(name) > 1)
        raise InputFileError(dataset.name, uri, dup, expected_text, f"column {dup!r} is repeated")
    position = next(i for i, (a, e) in enumerate(zip(actual, expected, strict=True)) if a != e)
    raise InputFileError(
        dataset.name,
        uri,
        expected[position],
        expected_text,
        f"columns are reordered: position {position + 1} holds {actual[position]!r}, "
        f"expected {expected[position]!r}",
    )


def check_dataset_files(spark: SparkSession, dataset: Dataset, folder: str) -> list[str]:
    """List the dataset's files and check each header; return the file URIs."""
    files = list_input_files(spark, dataset.name, folder)
    for uri in files:
        check_header(dataset, uri, read_header_line(spark, dataset.name, uri))
    return files


#: Datasets read line by line (``multiLine=False``): the CSV reader can then split a big file
#: across tasks. Rentals have no legitimate embedded newlines (ids, timestamps, numbers), so a
#: record broken by a newline becomes MALFORMED_ROW fragments. The small dimension files keep
#: ``multiLine=True``: quoted newlines in names and addresses are legitimate there.
LINE_DELIMITED_DATASETS = frozenset({"rental_transactions"})


def read_raw(spark: SparkSession, dataset: Dataset, files: list[str]) -> DataFrame:
    """One read of all ``files``: every contract column as string, plus lineage columns.

    Adds ``source_file`` (the file URI) and ``_corrupt_record`` (the raw text of a row Spark
    could not split into exactly the contract's columns: too few AND too many tokens both land
    here). The row's raw text is :func:`spark_ingest.validate.raw_record`.
    """
    if is_duckdb(spark):
        return duckdb_read_raw(spark, dataset, files)
    schema = T.StructType(
        [*dataset.raw_schema.fields, T.StructField(CORRUPT_RECORD, T.StringType(), True)]
    )
    df = (
        spark.read.schema(schema)
        .options(
            header=True,
            enforceSchema=True,  # the header was checked by check_header, names bound by position
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=CORRUPT_RECORD,
            multiLine=dataset.name not in LINE_DELIMITED_DATASETS,
            quote='"',
            escape='"',
            encoding="UTF-8",
        )
        .csv(files)
    )
    return df.select(
        *dataset.column_names,
        F.col(CORRUPT_RECORD),
        source_file_name(F.col("_metadata.file_path")).alias(SOURCE_FILE),
    )


def source_file_name(file_path: Column) -> Column:
    """The file's URI as listed, from Spark's ``_metadata.file_path``, which Hadoop gives
    percent-encoded (``a b.csv`` as ``a%20b.csv``; a ``%`` always as ``%25``, a ``+`` as
    itself): the quarantine names the file as it is called, and the duplicate-key winner is
    chosen by the name the DuckDB engine sees too. ``+`` is escaped first, as the decoder
    would read it as a space."""
    return F.url_decode(F.replace(file_path, F.lit("+"), F.lit("%2B")))
