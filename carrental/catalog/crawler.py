"""A careful local crawler: one DuckDB view per processed table, with schema history.

It mirrors what a Glue crawler does on AWS:

* the schema is read from the Parquet files (and partition folders become
  partition columns);
* ``_SUCCESS``, ``_temporary`` and hidden files are ignored: views glob
  ``<table>/[!_.]*.parquet`` (or ``<table>/<col>=*/[!_.]*.parquet`` for
  partitioned tables), so nothing below ``_temporary/`` or starting with ``.``/``_``
  is ever read;
* an empty or unreadable table fails the crawl with a message naming the table;
* each crawl's schema is recorded in ``<lake>/catalog/schemas/<table>.json``:
  an added column is accepted and logged, a removed or retyped column fails the
  crawl (the view keeps its previous definition, like SchemaChangePolicy LOG).

Views point at the table folder itself (a symlink swapped atomically on publish),
not at a versioned folder, so readers always see the last published version.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from carrental.errors import EnvironmentProblem, UsageError
from spark_ingest.layout import (
    GLUE_DATABASE,
    JOB_TABLES,
    JOBS,
    PARTITION_COLUMNS,
    TABLE_JOB,
    processed_uri,
    runs_uri,
    validate_run_id,
)

WAREHOUSE_FILE = "warehouse.duckdb"
SCHEMAS_DIR = "catalog/schemas"
HISTORY_LIMIT = 100
#: crawler name -> the job whose processed prefix it crawls (one crawler per job on AWS too).
CRAWLERS: dict[str, str] = {f"{job}_crawler": job for job in JOBS}
ALL_TABLES_CRAWLER = "car_rental_local_crawler"
#: partition column -> DuckDB type (hive folders are strings otherwise).
PARTITION_TYPES: dict[str, str] = {"rental_date": "DATE"}
_GLOB_CHARS = re.compile(r"[*?\[\]{}]")
_SIMPLE_TYPES = {
    "VARCHAR": "string",
    "BIGINT": "bigint",
    "INTEGER": "int",
    "SMALLINT": "smallint",
    "TINYINT": "tinyint",
    "DOUBLE": "double",
    "FLOAT": "float",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "BLOB": "binary",
}


class _TableFailure(Exception):
    """One table could not be crawled; the message names the table."""


def warehouse_path(lake_dir: str | Path) -> Path:
    """``<lake>/warehouse.duckdb``: the local stand-in for the Glue Data Catalog."""
    return Path(lake_dir) / WAREHOUSE_FILE


def crawler_for_table(table: str) -> str:
    """The name of the crawler that owns ``table``."""
    return f"{TABLE_JOB[_check_table(table)]}_crawler"


def glue_type(duckdb_type: str) -> str:
    """DuckDB type name -> the Hive/Glue type name the catalog records."""
    upper = duckdb_type.upper()
    if upper.startswith("DECIMAL"):
        return upper.lower().replace(" ", "")
    if upper in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[upper]
    return duckdb_type.lower()


def _check_table(table: str) -> str:
    if table not in TABLE_JOB:
        raise UsageError(
            f"unknown table {table!r}",
            hint="valid tables: " + ", ".join(TABLE_JOB),
        )
    return table


def _select(crawler: str | None, tables: list[str] | None) -> tuple[str, list[str]]:
    if crawler is not None and crawler not in CRAWLERS:
        raise UsageError(
            f"unknown crawler {crawler!r}", hint="valid crawlers: " + ", ".join(CRAWLERS)
        )
    if tables:
        chosen = [_check_table(t) for t in dict.fromkeys(tables)]
        if crawler is not None:
            foreign = [t for t in chosen if TABLE_JOB[t] != CRAWLERS[crawler]]
            if foreign:
                raise UsageError(
                    f"tables {', '.join(foreign)} are not crawled by {crawler}",
                    hint=f"{crawler} crawls: " + ", ".join(JOB_TABLES[CRAWLERS[crawler]]),
                )
    elif crawler is not None:
        chosen = list(JOB_TABLES[CRAWLERS[crawler]])
    else:
        chosen = list(TABLE_JOB)
    if crawler is None:
        jobs = {TABLE_JOB[t] for t in chosen}
        crawler = f"{jobs.pop()}_crawler" if len(jobs) == 1 else ALL_TABLES_CRAWLER
    return crawler, chosen


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _data_pattern(table_dir: str, table: str) -> str:
    parts = [f"{col}=*" for col in PARTITION_COLUMNS.get(table, ())]
    return "/".join([table_dir, *parts, "[!_.]*.parquet"])


def _view_sql(table: str, pattern: str, columns: list[str] | None = None) -> str:
    """The view over the table's files; ``columns`` pins the crawled schema."""
    projection = ", ".join(_sql_ident(c) for c in columns) if columns else "*"
    partitions = PARTITION_COLUMNS.get(table, ())
    options = ["hive_partitioning = " + ("true" if partitions else "false")]
    if partitions:
        types = ", ".join(
            f"{_sql_string(col)}: {_sql_string(PARTITION_TYPES.get(col, 'VARCHAR'))}"
            for col in partitions
        )
        options.append("hive_types = {" + types + "}")
    return (
        f"create or replace view {_sql_ident(GLUE_DATABASE)}.{_sql_ident(table)} as "
        f"select {projection} from read_parquet({_sql_string(pattern)}, {', '.join(options)})"
    )


def _load_history(path: Path) -> dict[str, Any]:
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"table": path.stem, "database": GLUE_DATABASE, "crawls": []}


def diff_columns(
    table: str, old: list[dict[str, str]], new: list[dict[str, str]]
) -> list[dict[str, Any]]:
    """Schema changes between two crawls, in Glue-ish terms (ADDED/REMOVED/TYPE_CHANGED)."""
    before = {c["name"]: c["type"] for c in old}
    after = {c["name"]: c["type"] for c in new}
    changes: list[dict[str, Any]] = []
    for name, typ in before.items():
        if name not in after:
            changes.append({"Table": table, "Column": name, "Change": "REMOVED", "OldType": typ})
        elif after[name] != typ:
            changes.append(
                {
                    "Table": table,
                    "Column": name,
                    "Change": "TYPE_CHANGED",
                    "OldType": typ,
                    "NewType": after[name],
                }
            )
    for name, typ in after.items():
        if name not in before:
            changes.append({"Table": table, "Column": name, "Change": "ADDED", "NewType": typ})
    return changes


def _crawl_table(
    con: duckdb.DuckDBPyConnection, lake: Path, table: str, run_id: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    job = TABLE_JOB[table]
    table_dir = os.path.abspath(processed_uri(str(lake), job, table))
    if _GLOB_CHARS.search(table_dir):
        raise _TableFailure(f"table {table}: path {table_dir!r} contains glob characters")
    if not os.path.isdir(table_dir):
        raise _TableFailure(f"table {table}: no data folder at {table_dir} (has {job} run?)")
    pattern = _data_pattern(table_dir, table)
    rel = pattern[len(table_dir) + 1 :]
    files = [p for p in Path(table_dir).glob(rel) if p.is_file()]
    if not files:
        raise _TableFailure(f"table {table}: empty, no Parquet data files match {pattern}")
    partitions = PARTITION_COLUMNS.get(table, ())
    con.execute("begin transaction")
    try:
        con.execute(_view_sql(table, pattern))
        described = con.execute(
            f"describe {_sql_ident(GLUE_DATABASE)}.{_sql_ident(table)}"
        ).fetchall()
        rows = con.execute(
            f"select count(*) from {_sql_ident(GLUE_DATABASE)}.{_sql_ident(table)}"
        ).fetchone()[0]
    except duckdb.Error as exc:
        con.execute("rollback")
        first = str(exc).splitlines()[0]
        raise _TableFailure(f"table {table}: unreadable Parquet data ({first})") from exc
    columns = [{"name": name, "type": glue_type(typ)} for name, typ, *_ in described]
    history_path = lake / SCHEMAS_DIR / f"{table}.json"
    history = _load_history(history_path)
    previous = history["crawls"][-1]["columns"] if history["crawls"] else None
    changes = diff_columns(table, previous, columns) if previous is not None else []
    breaking = [c for c in changes if c["Change"] != "ADDED"]
    if breaking:
        con.execute("rollback")
        listed = "; ".join(
            f"{c['Column']} {c['Change'].lower()} ({c.get('OldType')} -> {c.get('NewType', '-')})"
            for c in breaking
        )
        exc = _TableFailure(f"table {table}: incompatible schema change: {listed}")
        exc.changes = changes  # type: ignore[attr-defined]
        raise exc
    # Pin the crawled columns, like a catalog table: a column added later stays
    # invisible until the next crawl accepts it.
    con.execute(_view_sql(table, pattern, [c["name"] for c in columns]))
    con.execute("commit")
    crawled_at = _now()
    history["crawls"].append(
        {
            "crawled_at": crawled_at,
            "run_id": run_id,
            "location": table_dir,
            "columns": columns,
            "partition_keys": list(partitions),
            "changes": changes,
        }
    )
    history["crawls"] = history["crawls"][-HISTORY_LIMIT:]
    history_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = history_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(history, indent=2), encoding="utf-8")
    os.replace(tmp, history_path)
    data_cols = [c for c in columns if c["name"] not in partitions]
    part_cols = [c for c in columns if c["name"] in partitions]
    entry = {
        "Name": table,
        "DatabaseName": GLUE_DATABASE,
        "StorageDescriptor": {
            "Columns": [{"Name": c["name"], "Type": c["type"]} for c in data_cols],
            "Location": table_dir,
        },
        "PartitionKeys": [{"Name": c["name"], "Type": c["type"]} for c in part_cols],
        "Parameters": {"classification": "parquet", "recordCount": str(rows)},
        "UpdateTime": crawled_at,
        "Files": len(files),
    }
    return entry, changes


def crawl(
    lake_dir: str | Path,
    crawler: str | None = None,
    tables: list[str] | None = None,
    *,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Crawl processed tables into ``<lake>/warehouse.duckdb`` (schema ``car_rental_db``).

    Returns ``{"Crawler": {"Name", "State": "READY", "LastCrawl": {"Status", "ErrorMessage",
    "StartTime", "EndTime"}, "Tables": [...], "SchemaChanges": [...]}}``. A table that is
    missing, empty, unreadable or whose schema lost/retyped a column makes the status
    ``FAILED`` (the other tables are still crawled). When ``run_id`` is given the result
    is also saved to ``<lake>/runs/<run_id>/crawl/<crawler>.json``.
    Raises UsageError for bad names and EnvironmentProblem when the warehouse is locked.
    """
    lake_str = str(lake_dir)
    if "://" in lake_str:
        raise UsageError(
            f"the local crawler needs a local lake folder, not {lake_str}",
            hint="on AWS the Glue crawlers do this job",
        )
    if run_id is not None:
        validate_run_id(run_id)
    name, chosen = _select(crawler, tables)
    lake = Path(lake_dir)
    if not lake.is_dir():
        raise UsageError(f"lake folder {lake} does not exist", hint="run `carrental run` first")
    started = _now()
    entries: list[dict[str, Any]] = []
    all_changes: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        con = duckdb.connect(str(warehouse_path(lake)))
    except duckdb.Error as exc:
        raise EnvironmentProblem(
            f"cannot open the warehouse {warehouse_path(lake)}: {str(exc).splitlines()[0]}",
            hint="another process (dbt, docs serve, a notebook) may hold it open; close it",
        ) from exc
    try:
        con.execute("set enable_progress_bar = false")  # stdout is for results
        con.execute(f"create schema if not exists {_sql_ident(GLUE_DATABASE)}")
        for table in chosen:
            try:
                entry, changes = _crawl_table(con, lake, table, run_id)
            except _TableFailure as exc:
                errors.append(str(exc))
                all_changes.extend(getattr(exc, "changes", []))
                continue
            entries.append(entry)
            all_changes.extend(changes)
    finally:
        con.close()
    result = {
        "Crawler": {
            "Name": name,
            "DatabaseName": GLUE_DATABASE,
            "State": "READY",
            "LastCrawl": {
                "Status": "FAILED" if errors else "SUCCEEDED",
                "ErrorMessage": "; ".join(errors) if errors else None,
                "StartTime": started,
                "EndTime": _now(),
            },
            "Tables": entries,
            "SchemaChanges": all_changes,
        }
    }
    if run_id is not None:
        out = Path(runs_uri(lake_str, run_id)) / "crawl" / f"{name}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result
