"""The DuckDB engine: the same job code on DuckDB, through sqlframe (``--engine duckdb``).

``python -m spark_ingest.duckdb_engine <job> --raw-root ... [job arguments]`` activates
sqlframe's DuckDB session BEFORE any ``spark_ingest`` module imports ``pyspark``, so
``pyspark.sql.functions`` and ``DataFrame`` resolve to sqlframe's, then runs the job's own
``main``. Validation (:mod:`spark_ingest.validate`), the partials and KPIs
(:mod:`spark_ingest.transforms`), the manifest and the local publish are the same code on
both engines.

What differs lives here, behind the calls the shared code makes when :func:`is_duckdb` is
true (file listing and header reads in :mod:`spark_ingest.io` use the local file system):

* :func:`read_raw`: DuckDB's CSV reader, with Spark's PERMISSIVE semantics rebuilt from
  DuckDB's reject table (a line with too few or too many fields becomes a row whose
  ``_corrupt_record`` holds the line, its first fields split out as Spark does); a rentals
  file with a record spanning lines is read again line by line, as Spark reads it;
* :func:`cache`: a DataFrame is materialised into a DuckDB table (sqlframe ignores
  ``cache()``, so every action would re-read the CSV); :func:`uncache` drops it again;
* :func:`write_parquet` / :func:`read_parquet`: ``COPY ... (FORMAT parquet, PARTITION_BY)``.

DuckDB's buffer pool is capped (:func:`default_memory_limit`, or the environment variable
``CARRENTAL_DUCKDB_MEMORY_LIMIT``) and spills to a private temporary folder.

Limits (the README's "The DuckDB engine" section lists them): local folders only; every run is a
full run (no incremental state; a Spark incremental run after a DuckDB run starts over with a
full run); a row with bytes that are not UTF-8 is MALFORMED_ROW on both engines, with a
different detail text.
"""

from __future__ import annotations

import atexit
import csv
import gc
import gzip
import importlib
import io
import itertools
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

#: DuckDB reads a local path; the lineage column keeps the URI form Spark's listing gives
FILE_URI_PREFIX = "file:"
_names = itertools.count(1)
#: the attribute naming the DuckDB objects only that frame reads (see :func:`uncache`)
_HOLDS = "_carrental_holds"
#: the raw rows' column holding the number of the file they came from (see :func:`read_raw`)
FILE_NUMBER = "_file_number"
#: DuckDB's buffer pool (its tables and hash tables); it spills beyond this to a temp folder
MEMORY_LIMIT_ENV = "CARRENTAL_DUCKDB_MEMORY_LIMIT"
#: 6 GB runs 10M rentals without spilling (peak RSS 6 GB)
MAX_DEFAULT_MEMORY_MB = 6 * 1024
#: the private folder DuckDB spills to, made in the process's temporary folder (``TMPDIR``)
SPILL_PREFIX = "carrental-duckdb-spill-"
#: Python's cyclic garbage collector, once this engine is active (see :func:`tune_gc`): a
#: young-generation pass per this many new container objects (Python's default is 700), the
#: older generations' thresholds as counts of younger passes (defaults 10 and 10)
GC_THRESHOLDS = (50_000, 20, 100)


def default_memory_limit() -> str:
    """:data:`MAX_DEFAULT_MEMORY_MB`, or half the machine's memory if that is less."""
    physical_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return f"{min(MAX_DEFAULT_MEMORY_MB, physical_mb // 2)}MB"


def is_duckdb(session: Any) -> bool:
    """True for a sqlframe DuckDB session (or a DataFrame of one)."""
    session = getattr(session, "session", session)
    return type(session).__module__.startswith("sqlframe.duckdb")


def local_path(uri: str) -> str:
    if uri.startswith(FILE_URI_PREFIX):
        uri = uri[len(FILE_URI_PREFIX) :]
        while uri.startswith("//"):
            uri = uri[1:]
    if "://" in uri:
        raise ValueError(f"the duckdb engine reads and writes local folders only, not {uri}")
    return os.path.abspath(uri)


def _connection(session: Any):
    return session._conn


def _sql(df: Any) -> str:
    return df.sql(dialect="duckdb", pretty=False, optimize=False)


def _new_table(prefix: str) -> str:
    return f"carrental_{prefix}_{next(_names)}"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _literal(value: str | None) -> str:
    """A text value as a SQL literal. Statements here take no parameters: binding one makes
    DuckDB's Python client import pandas (about 0.3 s per process, measured)."""
    return "null" if value is None else f"{_quote(value)}::varchar"


def _held(df: Any, objects: list[tuple[str, str]]) -> Any:
    """``df``, remembered as the only reader of ``objects`` ((kind, name), dropped in order
    by :func:`uncache`)."""
    setattr(df, _HOLDS, objects)
    return df


def cache(df: Any) -> Any:
    """``df`` materialised once into a DuckDB table, read back as a DataFrame."""
    name = _new_table("cache")
    _connection(df.session).execute(f"create table {name} as {_sql(df)}")
    return _held(df.session.table(name), [("table", name)])


def uncache(df: Any) -> None:
    """Drop the tables behind a frame of :func:`cache` or :func:`read_raw`; a frame computed
    from it must be materialised first. Other frames hold nothing."""
    for kind, name in getattr(df, _HOLDS, []):
        _connection(df.session).execute(f"drop {kind} if exists {name}")
    setattr(df, _HOLDS, [])


def drop_all(session: Any) -> None:
    """Drop every table and view of this module left in the session's connection: between
    the jobs of one process (:mod:`spark_ingest.local_driver`), whose frames are their own."""
    conn = _connection(session)
    left = conn.execute(
        "select 'table', table_name from duckdb_tables() where table_name like 'carrental\\_%' "
        "escape '\\' union all "
        "select 'view', view_name from duckdb_views() where view_name like 'carrental\\_%' "
        "escape '\\'"
    ).fetchall()
    for kind, name in left:
        conn.execute(f"drop {kind} if exists {name}")


def write_parquet(df: Any, uri: str, partitions: tuple[str, ...] = ()) -> None:
    """Overwrite the folder ``uri`` with ``df`` as Parquet (hive-style ``col=value`` folders
    for ``partitions``)."""
    path = local_path(uri)
    if os.path.isdir(path):
        shutil.rmtree(path)
    if partitions:
        target = path
        options = f"format parquet, partition_by ({', '.join(partitions)})"
    else:
        os.makedirs(path, exist_ok=True)
        target = os.path.join(path, "part-00000.parquet")
        options = "format parquet"
    conn = _connection(df.session)
    sql = _sql(df)
    # sqlglot turns Spark's ``cast(... as timestamp)`` into DuckDB's timestamptz; written so,
    # DuckDB readers (the local crawler, dbt) would see another type than for Spark's files
    # (INT96, read as a plain timestamp). The session time zone is UTC, like Spark's.
    query = conn.sql(sql)
    wall_clock = [
        f'cast("{name}" as timestamp) as "{name}"'
        for name, kind in zip(query.columns, query.types, strict=True)
        if str(kind) == "TIMESTAMP WITH TIME ZONE"
    ]
    if wall_clock:
        sql = f"select * replace ({', '.join(wall_clock)}) from ({sql})"
    conn.execute(f"copy ({sql}) to {_quote(target)} ({options})")


def read_parquet(session: Any, uri: str) -> Any:
    path = os.path.join(local_path(uri), "**", "*.parquet")
    return session.sql(f"select * from read_parquet({_quote(path)}, hive_partitioning = true)")


def read_parquet_folders(session: Any, uris: list[str]) -> Any:
    """The rows of every Parquet file under the folders ``uris``, without hive partition
    columns (a ``segment=...`` folder name is not a column of its rows)."""
    globs = ", ".join(_quote(os.path.join(local_path(uri), "**", "*.parquet")) for uri in uris)
    return session.sql(f"select * from read_parquet([{globs}], hive_partitioning = false)")


#: what Java's ``String.trim`` strips (every character up to U+0020): Spark skips a line of a
#: line-delimited file that is nothing but these
JAVA_TRIMMED = "".join(map(chr, range(0x21)))
#: line terminators: stripped from a line DuckDB's reject table gives (it keeps the line break
#: before the line) and from the lines of :func:`_physical_lines`
_TERMINATORS = "\r\n"


def _csv_fields(text: str) -> list[str]:
    """The fields of one line as Spark's CSV parser (univocity; quote and escape ``"``,
    unescaped quotes handled ``STOP_AT_DELIMITER``, outer whitespace kept) splits it: a field
    that starts with a quote runs to the closing quote (``""`` is a quote), and a quote left
    open runs to the end of the line; blanks between the closing quote and the comma are
    dropped, and anything else there makes the field its raw text up to the next comma. A
    quote inside an unquoted field is text. Python's ``csv`` differs on the last two."""
    fields, start, end = [], 0, len(text)
    while True:
        if text.startswith('"', start):
            parts, at = [], start + 1
            while True:
                close = text.find('"', at)
                if close < 0:  # left open: the rest of the line
                    parts.append(text[at:])
                    fields.append("".join(parts))
                    return fields
                if text.startswith('"', close + 1):  # an escaped quote
                    parts.append(text[at : close + 1])
                    at = close + 2
                    continue
                parts.append(text[at:close])
                break
            after = close + 1
            while after < end and text[after] <= " " and text[after] != ",":
                after += 1
            if after == end or text[after] == ",":
                fields.append("".join(parts))
                start = after
            else:  # text after the closing quote: the raw field, up to the next comma
                comma = text.find(",", after)
                stop = end if comma < 0 else comma
                fields.append(text[start:stop])
                start = stop
        else:
            comma = text.find(",", start)
            stop = end if comma < 0 else comma
            fields.append(text[start:stop])
            start = stop
        if start >= end:
            return fields
        start += 1  # past the comma
        if start == end:  # a line ending in a comma ends in an empty field
            fields.append("")
            return fields


def _split_line(text: str, width: int) -> tuple[list[str | None], str | None]:
    """One line as Spark's PERMISSIVE read gives it: ``width`` fields (:func:`_csv_fields`; an
    empty field is null) and no corrupt record, or, for another number of fields, the first
    fields (padded with nulls) and ``text`` itself as the corrupt record."""
    fields = _csv_fields(text)
    values = [value or None for value in fields[:width]]
    padded = [*values, *[None] * (width - len(values))]
    return padded, None if len(fields) == width else text


def _physical_lines(path: str) -> Iterator[str]:
    """The data lines of the file ``path`` as Spark's line-by-line CSV read sees them: split
    at ``\\n``, ``\\r\\n`` and a bare ``\\r`` (Hadoop's line reader; Python's universal
    newlines, read with ``newline=""``), the header (the first line that is not blank) dropped,
    and every blank line (nothing but :data:`JAVA_TRIMMED` characters) skipped. Read as a
    stream: the file is never whole in memory."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        lines = (line.rstrip(_TERMINATORS) for line in text)
        data = (line for line in lines if line.strip(JAVA_TRIMMED))
        next(data, None)  # the header
        yield from data


def _insert_line_by_line(conn: Any, table: str, width: int, files: dict[int, str]) -> None:
    """Insert into ``table`` the rows of ``files`` (file number -> path) read line by line, as
    Spark reads a line-delimited dataset: each physical line one record (see
    :func:`_split_line`). Written to a temporary CSV file DuckDB loads in one statement."""
    fd, staging = tempfile.mkstemp(prefix="carrental-lines-", suffix=".csv")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
            for number, path in files.items():
                for line in _physical_lines(path):
                    fields, corrupt = _split_line(line, width)
                    writer.writerow([*fields, corrupt, number])
        columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width + 1))
        conn.execute(
            f"""
            insert into {table}
            select * from read_csv(
                {_quote(staging)}, header = false, auto_detect = false,
                columns = {{{columns}, 'file_number': 'UINTEGER'}}, delim = ',', quote = '"',
                escape = '"', strict_mode = true, allow_quoted_nulls = true
            )
            """
        )
    finally:
        os.unlink(staging)


def read_raw(session: Any, dataset: Any, files: list[str]) -> Any:
    """:func:`spark_ingest.io.read_raw` on DuckDB: every contract column as text, plus
    ``_corrupt_record`` and ``source_file``, with the same meaning.

    A line-delimited dataset (``io.LINE_DELIMITED_DATASETS``, read by Spark with
    ``multiLine=False``) is read by DuckDB's CSV reader too, and a file in which that reader
    finds a record spanning lines (a field holding a line break: a quoted newline or carriage
    return, or an unterminated quote, which runs on to the end of the file; a reject without
    its line: an unterminated quote in a large file, after which DuckDB drops rows) or which it
    cannot read at all is read again line by line as Spark reads it
    (:func:`_insert_line_by_line`).
    A file without such a record costs one test per field, made while it is read.
    """
    import duckdb

    from spark_ingest.contract import CORRUPT_RECORD, SOURCE_FILE
    from spark_ingest.errors import InputFileError
    from spark_ingest.io import LINE_DELIMITED_DATASETS

    conn = _connection(session)
    names = dataset.column_names
    line_delimited = dataset.name in LINE_DELIMITED_DATASETS
    view, table, rejects, scans = (
        _new_table(f"{kind}_{dataset.name}") for kind in ("raw", "rows", "rej", "scan")
    )
    uri_of = {local_path(uri): uri for uri in files}
    paths = sorted(uri_of)
    number = {path: index for index, path in enumerate(paths)}
    columns = "{" + ", ".join(f"{_quote(name)}: 'VARCHAR'" for name in names) + "}"

    # Spark reads rentals line by line: a record holding a line break is re-read so (the mark)
    breaks = " or ".join(
        f'contains(r."{name}", chr(10)) or contains(r."{name}", chr(13))' for name in names
    )
    corrupt = f"case when {breaks} then '' end" if line_delimited else "null::varchar"
    # each row keeps the number of its file (DuckDB's file_index: its place in the list read),
    # and the view gives its URI from a list: not a 60-byte string per row (0.7 GB at 10M)
    definitions = ", ".join(f'"{name}" varchar' for name in names)
    conn.execute(
        f"create table {table} ({definitions}, {CORRUPT_RECORD} varchar, {FILE_NUMBER} uinteger)"
    )
    broken: set[int] = set()
    try:
        conn.execute(
            f"""
            insert into {table}
            select r.*, {corrupt}, r.file_index::uinteger
            from read_csv(
                [{", ".join(_quote(path) for path in paths)}], header = true,
                auto_detect = false, columns = {columns}, delim = ',', quote = '"',
                escape = '"', strict_mode = true, store_rejects = true,
                rejects_table = {_quote(rejects)}, rejects_scan = {_quote(scans)}
            ) as r
            """
        )
    except duckdb.InvalidInputException:
        # e.g. a bare carriage return outside quotes, which DuckDB's strict reader refuses
        # and Spark's line reader takes as a line break
        if not line_delimited:
            raise
        broken = set(number.values())
        lines = []
        conn.execute(f"drop table if exists {rejects}")
        conn.execute(f"drop table if exists {scans}")
    else:
        # a line with the wrong number of fields is a reject (DuckDB lists one per extra
        # field): Spark keeps it as a row with the line in _corrupt_record and its first
        # fields split out
        lines = conn.execute(
            f"""
            select distinct s.file_path, e.line, e.csv_line, e.error_type
            from {rejects} as e join {scans} as s using (scan_id, file_id)
            order by 1, 2
            """
        ).fetchall()
        conn.execute(f"drop table if exists {rejects}")
        conn.execute(f"drop table if exists {scans}")
        if line_delimited:
            marked = f"select distinct {FILE_NUMBER} from {table} where {CORRUPT_RECORD} = ''"
            broken = {file for (file,) in conn.execute(marked).fetchall()}
    rejected = []
    for path, _line, text, error in lines:
        # DuckDB gives the line with the line break before it (a CRLF file's \n)
        text = text.strip(_TERMINATORS)
        if line_delimited and (not text or "\n" in text or "\r" in text):
            # a record spanning lines, or one DuckDB cannot give (an unterminated quote
            # beyond its first buffer, whose later rows it then drops): the file is read again
            broken.add(number[path])
        elif not line_delimited and error == "UNQUOTED VALUE" and '"' not in text:
            # a quote error reported on a line without a quote: DuckDB lost its place (an
            # unterminated quote in a file of tens of MB) and dropped rows after it, without a
            # reject; a multi-line file cannot be re-read line by line, so the job stops
            raise InputFileError(
                dataset.name,
                uri_of[path],
                None,
                "every quoted field closed by a quote; --engine spark reads such a file, "
                "with the rest of it quarantined as one MALFORMED_ROW",
                "a quote opened and not closed: the DuckDB engine's CSV reader cannot read the "
                "rest of this file as Spark does (it drops rows after it without a reject)",
            )
        elif not line_delimited or text.strip(JAVA_TRIMMED):  # Spark skips a blank line
            rejected.append((number[path], text, error))
    if broken:
        listed = ", ".join(map(str, sorted(broken)))
        conn.execute(f"delete from {table} where {FILE_NUMBER} in ({listed})")
        _insert_line_by_line(conn, table, len(names), {n: paths[n] for n in sorted(broken)})
    rows = []
    for file, text, error in rejected:
        if file not in broken:
            # the corrupt record only for another number of fields than Spark's parser finds
            # (DuckDB's strict reader also rejects a line such as `R6,"U1"x,...`); any other
            # reject (bytes that are not UTF-8, which DuckDB gives back as "?") stays corrupt
            fields, corrupt = _split_line(text, len(names))
            if error != "UNQUOTED VALUE":
                corrupt = text
            rows.append(", ".join([*map(_literal, [*fields, corrupt]), str(file)]))
    if rows:
        conn.execute(f"insert into {table} values {', '.join(f'({row})' for row in rows)}")
    uris = ", ".join(_quote(uri_of[path]) for path in paths)
    conn.execute(
        f"create view {view} as select * exclude ({FILE_NUMBER}), "
        f"[{uris}][{FILE_NUMBER} + 1] as {SOURCE_FILE} from {table}"
    )
    return _held(session.table(view), [("view", view), ("table", table)])


def forget_spark_state(processed_root: str, job: str) -> None:
    """Delete the job's incremental state (:mod:`spark_ingest.state`): once this engine has
    published the tables, the next Spark incremental run must start over with a full run."""
    from spark_ingest.state import STATE_DIR

    shutil.rmtree(os.path.join(local_path(processed_root), job, STATE_DIR), ignore_errors=True)


def duckdb_session() -> Any:
    """The sqlframe DuckDB session of this process (sqlframe must already be active)."""
    from pyspark.sql import SparkSession

    session = SparkSession.builder.getOrCreate()
    if not is_duckdb(session):
        raise RuntimeError(
            "the duckdb engine runs through `python -m spark_ingest.duckdb_engine <job> ...`, "
            "which activates sqlframe before the job code imports pyspark"
        )
    return session


def tune_gc() -> None:
    """Freeze what is alive (the imported modules) and set :data:`GC_THRESHOLDS`.

    sqlframe builds every DataFrame operation by deep-copying sqlglot expression trees: a
    pipeline run allocates about 700,000 container objects, most of them alive until the job
    ends, and with Python's default thresholds the collector scans them again and again. On
    1M rentals the collector took 0.65-0.68 s of the three jobs with the defaults and
    0.24-0.26 s with these settings (``gc.callbacks``, two runs each; bench/README.md,
    2026-12-02, late night). Garbage is still collected: the cycles of a discarded expression
    tree wait for the next young pass, at most 50,000 objects later.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def activate() -> None:
    """Point ``pyspark`` imports at sqlframe's DuckDB engine (before any job import), and tune
    the garbage collector for its plan building (:func:`tune_gc`)."""
    import duckdb
    from sqlframe import activate as activate_sqlframe

    if "spark_ingest.pipeline" in sys.modules:
        raise RuntimeError("sqlframe must be activated before spark_ingest.pipeline is imported")
    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # "Hints are not supported"
    conn = duckdb.connect()
    conn.execute("set preserve_insertion_order = false")
    conn.execute("set TimeZone = 'UTC'")  # as Spark's session (spark_ingest.conf)
    # a bounded buffer pool that spills to a private folder, instead of 80% of the machine
    limit = os.environ.get(MEMORY_LIMIT_ENV) or default_memory_limit()
    spill = tempfile.mkdtemp(prefix=SPILL_PREFIX)
    atexit.register(shutil.rmtree, spill, ignore_errors=True)
    try:
        conn.execute(f"set memory_limit = {_quote(limit)}")
    except duckdb.Error as exc:
        raise ValueError(
            f"{MEMORY_LIMIT_ENV}={limit!r} is not a DuckDB memory size such as '4GB'"
        ) from exc
    conn.execute(f"set temp_directory = {_quote(spill)}")
    activate_sqlframe(engine="duckdb", conn=conn)
    tune_gc()


def main(argv: list[str] | None = None) -> int:
    """``python -m spark_ingest.duckdb_engine <job> [job arguments]``."""
    from spark_ingest.layout import SPARK_JOBS

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in SPARK_JOBS:
        print(
            "usage: python -m spark_ingest.duckdb_engine "
            f"{{{','.join(SPARK_JOBS)}}} [job arguments]",
            file=sys.stderr,
        )
        return 2
    try:
        activate()
    except ValueError as exc:
        print(f"duckdb engine: {exc}", file=sys.stderr)
        return 2
    job = importlib.import_module(f"spark_ingest.jobs.{args[0]}")
    rest = args[1:]
    if "--engine" not in rest:
        rest += ["--engine", "duckdb"]
    return job.main(rest)


if __name__ == "__main__":
    sys.exit(main())
