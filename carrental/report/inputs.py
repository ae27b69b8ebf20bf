"""Read everything a run left behind, tolerating whatever is missing.

A run that failed early may have no manifests, no dbt results and no marts; every
reader here returns an empty value (and a note saying why) instead of raising.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spark_ingest.layout import DATASETS, JOB_TABLES, JOBS, RENTALS_FACT, validate_run_id

ASL_RELATIVE = Path("orchestration") / "statemachine" / "car_rental_pipeline.asl.json"
ANALYTICS_SCHEMA = "car_rental_analytics"
MARTS = (
    "location_leaderboard",
    "vehicle_type_mix",
    "customer_value_segments",
    "daily_business_metrics",
    "business_kpis",
)
SAMPLE_ROWS_PER_DATASET = 8

# Used only when spark_ingest.contract does not (yet) publish its PII list.
FALLBACK_PII_COLUMNS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "phone_number",
    "driver_license_number",
    "vehicle_license_number",
    "registration_name",
    "permit_license_number",
)


@dataclass
class RunInputs:
    """Everything the report shows, already parsed into plain Python values."""

    lake_dir: Path
    run_id: str
    execution: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    asl: dict[str, Any] | None = None
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    quarantine_samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    quarantine_columns: dict[str, list[str]] = field(default_factory=dict)
    dbt_results: dict[str, Any] | None = None
    marts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    mart_source: str = "none"
    previous_run_id: str | None = None
    previous_execution: dict[str, Any] | None = None
    previous_history: list[dict[str, Any]] = field(default_factory=list)
    previous_manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    pii_columns: tuple[str, ...] = FALLBACK_PII_COLUMNS
    pii_source: str = "local fallback list"
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def read_json(path: Path, notes: list[str] | None = None) -> Any:
    """Parse a JSON file; None (plus a note) when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        if notes is not None:
            notes.append(f"could not read {path.name}: {exc}")
        return None


def parse_time(value: Any) -> datetime | None:
    """ISO strings, epoch seconds/milliseconds or datetimes -> aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        seconds = value / 1000.0 if value > 1e11 else float(value)
        return datetime.fromtimestamp(seconds, tz=UTC)
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return parse_time(float(text))
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def load_pii_columns() -> tuple[tuple[str, ...], str]:
    """The PII column list from spark_ingest.contract when it exists, else the fallback."""
    try:
        from spark_ingest import contract  # type: ignore[attr-defined]
    except Exception:
        return FALLBACK_PII_COLUMNS, "local fallback list (spark_ingest.contract not importable)"
    for name in ("PII_COLUMNS", "PII", "SENSITIVE_COLUMNS"):
        value = getattr(contract, name, None)
        if isinstance(value, dict):
            cols = {str(c) for cols in value.values() for c in cols}
            return tuple(sorted(cols | set(FALLBACK_PII_COLUMNS))), f"spark_ingest.contract.{name}"
        if isinstance(value, list | tuple | set | frozenset):
            cols = {str(c) for c in value}
            return tuple(sorted(cols | set(FALLBACK_PII_COLUMNS))), f"spark_ingest.contract.{name}"
    return FALLBACK_PII_COLUMNS, "local fallback list (no PII list in spark_ingest.contract)"


def find_asl(lake_dir: Path) -> Path | None:
    """The ASL definition: next to the package (repo checkout) or under the lake's cwd."""
    candidates = [
        Path(__file__).resolve().parents[2] / ASL_RELATIVE,
        Path.cwd() / ASL_RELATIVE,
        lake_dir.parent / ASL_RELATIVE,
    ]
    for path in candidates:
        if path.is_file():
            return path
    return None


def list_runs(lake_dir: Path) -> list[str]:
    runs = lake_dir / "runs"
    if not runs.is_dir():
        return []
    out = []
    for child in runs.iterdir():
        if child.is_dir() and not child.name.startswith(("_", ".")):
            try:
                out.append(validate_run_id(child.name))
            except ValueError:
                continue
    return sorted(out)


def load_manifests(run_dir: Path, notes: list[str] | None = None) -> dict[str, dict[str, Any]]:
    manifests: dict[str, dict[str, Any]] = {}
    folder = run_dir / "manifests"
    if not folder.is_dir():
        return manifests
    for path in sorted(folder.glob("*.json")):
        data = read_json(path, notes)
        if isinstance(data, dict):
            manifests[str(data.get("job") or path.stem)] = data
    return manifests


def load_history(run_dir: Path, notes: list[str] | None = None) -> list[dict[str, Any]]:
    data = read_json(run_dir / "history.json", notes)
    events = data.get("events") if isinstance(data, dict) else data
    if not isinstance(events, list):
        return []
    return [event for event in events if isinstance(event, dict)]


def run_start(lake_dir: Path, run_id: str) -> datetime | None:
    execution = read_json(lake_dir / "runs" / run_id / "execution.json")
    if isinstance(execution, dict):
        return parse_time(execution.get("startDate"))
    return None


def previous_run(lake_dir: Path, run_id: str) -> str | None:
    """The latest other run (with an execution.json) that started before this one."""
    this_start = run_start(lake_dir, run_id)
    best: tuple[datetime, str] | None = None
    for other in list_runs(lake_dir):
        if other == run_id or not (lake_dir / "runs" / other / "execution.json").is_file():
            continue
        start = run_start(lake_dir, other)
        if start is None:
            continue
        if this_start is not None and start >= this_start:
            continue
        if this_start is None and other > run_id:
            continue
        if best is None or start > best[0]:
            best = (start, other)
    return best[1] if best else None


# --------------------------------------------------------------------------- parquet


def parquet_files(folder: Path) -> list[str]:
    """All data files under a folder (following the publish symlink), skipping _/. names."""
    root = Path(os.path.realpath(folder))
    if not root.is_dir():
        return []
    files = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(("_", ".")))
        for name in sorted(filenames):
            if name.endswith(".parquet") and not name.startswith(("_", ".")):
                files.append(os.path.join(dirpath, name))
    return files


def _rows(con: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=False)) for row in cursor.fetchall()]


def load_quarantine(
    lake_dir: Path, run_id: str, notes: list[str]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[str]]]:
    """A few quarantined rows per dataset (unmasked; the renderer masks them)."""
    import duckdb

    samples: dict[str, list[dict[str, Any]]] = {}
    columns: dict[str, list[str]] = {}
    base = lake_dir / "data" / "quarantine"
    if not base.is_dir():
        return samples, columns
    con = duckdb.connect()
    try:
        for dataset in sorted(p.name for p in base.iterdir() if p.is_dir()):
            files = []
            for job_dir in sorted((base / dataset).glob("job=*")):
                files += parquet_files(job_dir / f"run_id={run_id}")
            if not files:
                continue
            try:
                cursor = con.execute(
                    "select * from read_parquet(?, hive_partitioning=false, union_by_name=true) "
                    f"order by reason_code, source_file limit {SAMPLE_ROWS_PER_DATASET}",
                    [files],
                )
            except Exception:  # no reason_code/source_file column: plain sample
                try:
                    cursor = con.execute(
                        "select * from read_parquet(?, hive_partitioning=false, "
                        f"union_by_name=true) limit {SAMPLE_ROWS_PER_DATASET}",
                        [files],
                    )
                except Exception as exc:
                    notes.append(f"could not read quarantine sample for {dataset}: {exc}")
                    continue
            names = [d[0] for d in cursor.description]
            columns[dataset] = names
            samples[dataset] = [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]
    finally:
        con.close()
    return samples, columns


# --------------------------------------------------------------------------- marts


def load_marts(lake_dir: Path, notes: list[str]) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """Rows of the dbt marts; falls back to the Spark output tables when they are missing."""
    import duckdb

    marts: dict[str, list[dict[str, Any]]] = {}
    warehouse = lake_dir / "warehouse.duckdb"
    if warehouse.is_file():
        try:
            con = duckdb.connect(str(warehouse), read_only=True)
        except Exception as exc:
            notes.append(f"warehouse.duckdb could not be opened read-only: {exc}")
            con = None
        if con is not None:
            try:
                present = {
                    row[0]
                    for row in con.execute(
                        "select table_name from information_schema.tables where table_schema = ?",
                        [ANALYTICS_SCHEMA],
                    ).fetchall()
                }
                for mart in MARTS:
                    if mart in present:
                        try:
                            marts[mart] = _rows(con, f'select * from {ANALYTICS_SCHEMA}."{mart}"')
                        except Exception as exc:
                            notes.append(f"could not read mart {mart}: {exc}")
            finally:
                con.close()
    if len(marts) == len(MARTS):
        return marts, f"dbt marts ({ANALYTICS_SCHEMA} in warehouse.duckdb)"
    fallback = _processed_fallback(lake_dir, notes, skip=set(marts))
    if not marts and not fallback:
        return {}, "none"
    missing = [m for m in MARTS if m not in marts]
    source = "dbt marts" if marts else ""
    if fallback:
        marts.update(fallback)
        source = (source + " + " if source else "") + "Spark output tables in data/processed"
        notes.append(
            "marts missing from warehouse.duckdb ("
            + ", ".join(missing)
            + "); charts use the Spark output tables instead"
        )
    return marts, source


def _processed_fallback(
    lake_dir: Path, notes: list[str], skip: set[str]
) -> dict[str, list[dict[str, Any]]]:
    """Mart-shaped rows computed from data/processed with DuckDB."""
    import duckdb

    job_of = {table: job for job in JOBS for table in JOB_TABLES[job]}

    def files(table: str) -> list[str]:
        folder = lake_dir / "data" / "processed" / job_of[table] / table
        return parquet_files(folder)

    queries = {
        "location_leaderboard": (
            "location_performance",
            "select location_id, location_name, city, state, "
            "cast(total_revenue_at_location as double) as total_revenue, "
            "total_transactions_at_location as total_rentals "
            "from read_parquet(?, union_by_name=true)",
        ),
        "vehicle_type_mix": (
            "vehicle_type_performance",
            "select vehicle_type, cast(total_revenue_by_vehicle_type as double) as total_revenue, "
            "total_transactions_by_vehicle_type as total_rentals, "
            "avg_rental_duration_hours_by_vehicle_type as avg_rental_duration_hours "
            "from read_parquet(?, union_by_name=true)",
        ),
        "daily_business_metrics": (
            RENTALS_FACT,
            "select rental_date, cast(sum(total_amount) as double) as total_revenue, "
            "count(*) as total_rentals "
            "from read_parquet(?, hive_partitioning=true, union_by_name=true) "
            "group by rental_date order by rental_date",
        ),
        "customer_value_segments": (
            "user_transaction_summary",
            "select case when total_spending >= 1000 then 'high (>= 1000)' "
            "when total_spending >= 300 then 'medium (300-999)' else 'low (< 300)' end "
            "as value_segment, count(*) as customers, "
            "cast(sum(total_spending) as double) as total_spending "
            "from read_parquet(?, union_by_name=true) group by 1 order by 1",
        ),
        "business_kpis": (
            "overall_transaction_statistics",
            "select cast(overall_total_revenue as double) as total_revenue, "
            "overall_total_transactions as total_rentals, "
            "overall_total_unique_users as active_users, "
            "overall_total_unique_vehicles_rented as vehicles_rented, "
            "overall_avg_transaction_value as avg_rental_value "
            "from read_parquet(?, union_by_name=true)",
        ),
    }
    out: dict[str, list[dict[str, Any]]] = {}
    con = duckdb.connect()
    try:
        for mart, (table, sql) in queries.items():
            if mart in skip:
                continue
            found = files(table)
            if not found:
                continue
            try:
                out[mart] = _rows(con, sql, [found])
            except Exception as exc:
                notes.append(f"could not read Spark output {table}: {exc}")
    finally:
        con.close()
    return out


# --------------------------------------------------------------------------- entry


def load_run(
    lake_dir: str | os.PathLike[str], run_id: str, asl_path: str | os.PathLike[str] | None = None
) -> RunInputs:
    lake = Path(lake_dir)
    validate_run_id(run_id)
    inputs = RunInputs(lake_dir=lake, run_id=run_id)
    notes = inputs.notes
    run_dir = lake / "runs" / run_id
    execution = read_json(run_dir / "execution.json", notes)
    inputs.execution = execution if isinstance(execution, dict) else None
    inputs.history = load_history(run_dir, notes)
    asl_file = Path(asl_path) if asl_path else find_asl(lake)
    if asl_file is not None:
        asl = read_json(asl_file, notes)
        inputs.asl = asl if isinstance(asl, dict) else None
    else:
        notes.append(f"state machine definition {ASL_RELATIVE} not found")
    if asl_file is not None and inputs.asl is None:
        notes.append(f"state machine definition {asl_file} could not be read")
    inputs.manifests = load_manifests(run_dir, notes)
    inputs.pii_columns, inputs.pii_source = load_pii_columns()
    inputs.quarantine_samples, inputs.quarantine_columns = load_quarantine(lake, run_id, notes)
    dbt = read_json(run_dir / "dbt" / "run_results.json", notes)
    inputs.dbt_results = dbt if isinstance(dbt, dict) else None
    inputs.marts, inputs.mart_source = load_marts(lake, notes)
    prev = previous_run(lake, run_id)
    if prev:
        inputs.previous_run_id = prev
        prev_dir = lake / "runs" / prev
        prev_exec = read_json(prev_dir / "execution.json")
        inputs.previous_execution = prev_exec if isinstance(prev_exec, dict) else None
        inputs.previous_history = load_history(prev_dir)
        inputs.previous_manifests = load_manifests(prev_dir)
    return inputs


__all__ = ["DATASETS", "MARTS", "RunInputs", "load_run", "parquet_files", "parse_time"]
