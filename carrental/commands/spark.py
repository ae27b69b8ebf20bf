"""`carrental spark`: run one of the Spark jobs locally through spark-submit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from carrental import console
from carrental.errors import CarrentalError, InputError, UsageError, check_run_id
from carrental.paths import local_folder
from spark_ingest.layout import SPARK_JOBS, VALIDATE_JOB, new_run_id, runs_uri

SPARK_HELP = """Run a Spark job (spark-submit, local[2]) against a lake folder.

JOB is vehicle_location_performance or user_transaction_analysis (the KPI jobs), or \
validate_inputs (hyphens work too). A KPI job reads LAKE/data/raw, quarantines bad rows \
under LAKE/data/quarantine, publishes its tables under LAKE/data/processed/JOB/ and writes \
LAKE/runs/RUN_ID/manifests/JOB.json. With --inputs validated it reads instead what \
validate_inputs checked in the same run (same --run-id), as `carrental run` does. Its log \
is kept in LAKE/runs/RUN_ID/logs/JOB.log.

Exit codes: 0 success, 1 any other failure (including zero valid rentals), 2 bad arguments \
(unknown job, mode, engine or inputs, invalid run id, a URI as --lake-dir), 3 bad input file \
(missing file or column, unreadable header), 4 Java missing.

Examples:

  carrental spark vehicle_location_performance --lake-dir lake

  carrental spark user-transaction-analysis --lake-dir lake --run-id 20240501T060000Z-demo

  carrental spark validate-inputs --lake-dir lake --run-id r1 && \
carrental spark vehicle-location-performance --lake-dir lake --run-id r1 --inputs validated

  carrental --json spark vehicle-location-performance --lake-dir lake | jq .outputs
"""

EXIT_INPUT = 3
#: `carrental spark` runs spark-submit in local mode on a local folder; the jobs read s3:// on
#: EMR Serverless, where the deployed state machine passes them the bucket's URIs.
LOCAL_ONLY_HINT = (
    "carrental spark runs Spark locally on a local folder; on AWS the jobs run on EMR "
    "Serverless: carrental run --target aws --stack-name S"
)


def resolve_job(name: str) -> str:
    """Accept ``vehicle_location_performance`` and ``vehicle-location-performance``."""
    job = name.strip().replace("-", "_")
    if job not in SPARK_JOBS:
        raise UsageError(f"unknown job {name!r}", hint=f"choose one of: {', '.join(SPARK_JOBS)}")
    return job


def _error_line(output: str) -> str | None:
    """The message of the job's last structured ``job_failed`` log line, if any.

    spark-submit forwards the Python driver's stderr to its own stdout, so callers pass both.
    """
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith("{") and '"job_failed"' in line:
            try:
                payload = json.loads(line)
            except ValueError:
                continue
            return payload.get("message") or payload.get("type")
    return None


def _summary(manifest: dict[str, Any]) -> str:
    lines = [f"{manifest['job']} {manifest['status']} run_id={manifest['run_id']}"]
    for dataset, info in manifest.get("inputs", {}).items():
        lines.append(
            f"  {dataset:<20} read {info['rows_read']:>10,}  valid {info['valid']:>10,}"
            f"  rejected {info['rejected']:>8,}"
        )
    for table, info in manifest.get("outputs", {}).items():
        lines.append(f"  -> {table:<32} {info['rows']:>10,} rows")
    total = manifest.get("timings_seconds", {}).get("total")
    if total is not None:
        lines.append(f"  job time {total:.1f} s")
    return "\n".join(lines)


def run_spark_job(
    job: str,
    lake_dir: Path,
    run_id: str | None = None,
    mode: str = "incremental",
    engine: str = "spark",
    inputs: str = "raw",
) -> dict[str, Any]:
    """Run ``job`` and return its manifest; raise CarrentalError on failure."""
    from carrental.java import ensure_java
    from carrental.progress import SparkProgress
    from spark_ingest.submit import submit_job

    job = resolve_job(job)
    run_id = check_run_id(run_id) if run_id else new_run_id()
    if not (lake_dir / "data" / "raw").is_dir():
        raise InputError(
            f"no raw data under {lake_dir / 'data' / 'raw'}",
            hint=f"generate some: carrental generate --lake-dir {lake_dir} --transactions 20000",
        )
    if inputs == "validated" and job == VALIDATE_JOB:
        raise UsageError(f"{VALIDATE_JOB} reads the raw files", hint="drop --inputs validated")
    if engine == "spark":
        ensure_java()
    console.info(f"running {job} (run {run_id}) ...")
    with SparkProgress(job) as progress:
        extra = ["--inputs", inputs] if job != VALIDATE_JOB else []
        proc = submit_job(
            job, lake_dir, run_id, mode=mode, engine=engine, extra_args=extra, on_line=progress
        )
    manifest_path = Path(runs_uri(str(lake_dir.resolve()), run_id)) / "manifests" / f"{job}.json"
    log_path = Path(runs_uri(str(lake_dir.resolve()), run_id)) / "logs" / f"{job}.log"
    if proc.returncode != 0:
        message = (
            _error_line(f"{proc.stdout}\n{proc.stderr}")
            or f"spark-submit exited with {proc.returncode}"
        )
        error_cls = InputError if proc.returncode == EXIT_INPUT else CarrentalError
        raise error_cls(f"{job} failed: {message}", hint=f"full log: {log_path}")
    return json.loads(manifest_path.read_text(encoding="utf-8"))


def register(app: typer.Typer) -> None:
    @app.command("spark", help=SPARK_HELP)
    def spark(
        job: Annotated[
            str,
            typer.Argument(
                help="vehicle_location_performance, user_transaction_analysis or validate_inputs"
            ),
        ],
        # str, not Path: a Path turns s3://bucket into s3:/bucket (see carrental.paths).
        lake_dir: Annotated[
            str, typer.Option("--lake-dir", help="Local lake folder.", metavar="<path>")
        ],
        run_id: Annotated[
            str | None, typer.Option("--run-id", help="Run id (default: a new sortable id).")
        ] = None,
        mode: Annotated[
            str, typer.Option("--mode", help="incremental (default: new raw files only) or full.")
        ] = "incremental",
        engine: Annotated[
            str,
            typer.Option(
                "--engine", help="spark, or duckdb: the same job code on DuckDB (sqlframe)."
            ),
        ] = "spark",
        inputs: Annotated[
            str,
            typer.Option(
                "--inputs",
                help="raw (default): validate the raw files; validated: read what "
                "validate_inputs checked in this run (same --run-id).",
            ),
        ] = "raw",
    ) -> None:
        if inputs not in ("raw", "validated"):
            raise UsageError(f"unknown inputs {inputs!r}", hint="use --inputs raw or validated")
        if mode not in ("full", "incremental"):
            raise UsageError(f"unknown mode {mode!r}", hint="use --mode full or --mode incremental")
        if engine not in ("spark", "duckdb"):
            raise UsageError(f"unknown engine {engine!r}", hint="use --engine spark or duckdb")
        lake = local_folder(lake_dir, hint=LOCAL_ONLY_HINT)
        manifest = run_spark_job(job, lake, run_id, mode, engine, inputs)
        console.result(manifest, _summary(manifest))
