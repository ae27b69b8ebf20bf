"""The lake layout: one source of truth for datasets, jobs, tables and prefixes.

The same layout serves a local folder and ``s3://bucket/``::

    <lake>/data/raw/<dataset>/*.csv[.gz]
    <lake>/data/processed/<job>/<table>/
    <lake>/data/processed/validate_inputs/_handover/      the validated inputs of the last run
    <lake>/data/quarantine/<dataset>/job=<job>/run_id=<run_id>/
    <lake>/runs/<run_id>/

Everything that names a prefix (the jobs, the local crawler, the dbt sources,
the CloudFormation template and its contract test) imports it from here.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

RAW_PREFIX = "data/raw"
PROCESSED_PREFIX = "data/processed"
QUARANTINE_PREFIX = "data/quarantine"
RUNS_PREFIX = "runs"

GLUE_DATABASE = "car_rental_db"

DATASETS: tuple[str, ...] = ("vehicles", "locations", "users", "rental_transactions")

VEHICLE_LOCATION_JOB = "vehicle_location_performance"
USER_TRANSACTION_JOB = "user_transaction_analysis"
#: the KPI jobs: each publishes tables (JOB_TABLES) and has a crawler
JOBS: tuple[str, ...] = (VEHICLE_LOCATION_JOB, USER_TRANSACTION_JOB)
#: validates the raw files once per run and hands the result to the KPI jobs
#: (``--inputs validated``); it publishes no table
VALIDATE_JOB = "validate_inputs"
#: every entry script under ``spark_ingest/jobs/``, in the order a pipeline run starts them
SPARK_JOBS: tuple[str, ...] = (VALIDATE_JOB, *JOBS)

RENTALS_FACT = "rentals_fact"

#: job -> the tables it publishes under ``data/processed/<job>/``.
JOB_TABLES: dict[str, tuple[str, ...]] = {
    VEHICLE_LOCATION_JOB: ("location_performance", "vehicle_type_performance", RENTALS_FACT),
    USER_TRANSACTION_JOB: (
        "user_transaction_summary",
        "overall_transaction_statistics",
        "top_users_by_spending",
    ),
    VALIDATE_JOB: (),
}

#: table -> partition columns (hive-style folders ``col=value``).
PARTITION_COLUMNS: dict[str, tuple[str, ...]] = {RENTALS_FACT: ("rental_date",)}

TABLE_JOB: dict[str, str] = {table: job for job, tables in JOB_TABLES.items() for table in tables}

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")


def validate_run_id(run_id: str) -> str:
    """Return ``run_id`` when it is safe as a path segment and a SQL literal, else raise."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise ValueError(
            f"invalid run id {run_id!r}: expected 1-80 characters of letters, digits, "
            "'_', '-' or '.', starting with a letter or digit and without '..'"
        )
    return run_id


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique run id such as ``20240501T060000Z-3f9a1c``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def join(root: str, *parts: str) -> str:
    """Join URI or path segments with ``/`` (works for ``s3://`` and local paths)."""
    out = root.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def raw_uri(lake: str, dataset: str) -> str:
    return join(lake, RAW_PREFIX, dataset)


def processed_uri(lake: str, job: str, table: str | None = None) -> str:
    return join(lake, PROCESSED_PREFIX, job, *([table] if table else []))


def quarantine_uri(lake: str, dataset: str | None = None) -> str:
    return join(lake, QUARANTINE_PREFIX, *([dataset] if dataset else []))


def runs_uri(lake: str, run_id: str | None = None) -> str:
    return join(lake, RUNS_PREFIX, *([validate_run_id(run_id)] if run_id else []))
