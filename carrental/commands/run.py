"""`carrental run`: execute the CarRentalDataPipeline state machine locally (or on AWS)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import typer

from carrental import console
from carrental.errors import CarrentalError, InputError, UsageError, check_run_id

MODES = ("full", "incremental")
ENGINES = ("spark", "duckdb")
TARGETS = ("local", "aws")

HELP = """Run the whole pipeline: the three Spark jobs (validate_inputs, then the two KPI
jobs), both crawlers, dbt build (the quality gate) and the validation queries, by executing
the same Step Functions definition that AWS runs.

Writes runs/<run_id>/history.json (state-by-state events), execution.json,
alerts.jsonl (on failure) and the run report. Exits non-zero with the Fail state's
error and cause: 3 when a job stopped on a bad input file, else 1. Waits are shortened
locally by CARRENTAL_WAIT_FACTOR (default 0.01).

Examples:

  carrental run --lake-dir lake --generate-if-empty 20000

  carrental run --lake-dir lake --run-id backfill-2024-05 --mode full

  carrental run --lake-dir lake --from-state RunDbtBuild

  carrental run --target aws --stack-name carrental --region eu-west-1
"""


def _raw_is_empty(lake: Path) -> bool:
    raw = lake / "data" / "raw"
    if not raw.is_dir():
        return True
    return not any(p.is_file() and not p.name.startswith(".") for p in raw.rglob("*"))


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise UsageError(f"--{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _check_from_state(from_state: str | None) -> None:
    """An unknown --from-state is a UsageError naming it and the valid states, raised before
    the lock, the data, Java or the run record are touched."""
    from orchestration.executor import DEFINITION_PATH, DefinitionError, check_from_state

    try:
        check_from_state(from_state)
    except DefinitionError as exc:
        raise UsageError(str(exc), hint=f"the states of {DEFINITION_PATH.name}, in order") from None


#: reads one job manifest: ``(runs root from the job's --runs-root, run id, job)`` to
#: ``(where it is, its text)``; raises OSError (or ValueError) when it cannot
ManifestReader = Callable[[str, str, str], tuple[str, str]]


def _utc_second(value: object) -> str | None:
    """An ISO timestamp (``Z``, an offset such as boto3's local time, or none: UTC) as UTC
    to the second, ``YYYY-MM-DDTHH:MM:SS``; None when it is not one."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _input_file_failure(events: list[dict], read: ManifestReader) -> tuple[str, dict] | None:
    """``(manifest location, error)`` when a Spark job of this execution stopped on a bad input
    file (the job exits 3 and its manifest's error is an ``InputFileError``), else None.

    The history says which jobs this execution started (each ``TaskScheduled`` of an EMR task
    carries the entry point, its ``--run-id`` and ``--runs-root``); the job's manifest says why
    it failed. A manifest older than the task is another attempt's and does not count.
    """
    for event in events:
        details = event.get("taskScheduledEventDetails") or {}
        if event.get("type") != "TaskScheduled" or details.get("resourceType") != (
            "emr-serverless"
        ):
            continue
        try:
            driver = json.loads(details.get("parameters") or "{}")["JobDriver"]["SparkSubmit"]
            args = list(driver.get("EntryPointArguments") or [])
            job = PurePosixPath(driver["EntryPoint"]).stem
            job_run_id = args[args.index("--run-id") + 1]
            runs_root = args[args.index("--runs-root") + 1]
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            continue
        try:
            location, text = read(runs_root, job_run_id, job)
            data = json.loads(text)
        except (OSError, ValueError):  # missing or unreadable: not this job's answer
            continue
        error = data.get("error") if isinstance(data, dict) else None
        scheduled = _utc_second(event.get("timestamp"))  # to the second, as the manifest
        started = _utc_second(data.get("started_at")) if isinstance(data, dict) else None
        if (
            isinstance(error, dict)
            and error.get("type") == "InputFileError"
            and data.get("status") == "FAILED"
            and scheduled is not None
            and started is not None
            and started >= scheduled
        ):
            return location, error
    return None


def _local_manifests(lake: Path) -> ManifestReader:
    """The local executor's jobs write ``s3://<local bucket>/runs`` under ``<lake>/runs``."""

    def read(runs_root: str, run_id: str, job: str) -> tuple[str, str]:
        path = lake / "runs" / run_id / "manifests" / f"{job}.json"
        return str(path), path.read_text(encoding="utf-8")

    return read


def _s3_manifests(region: str | None) -> ManifestReader:
    """An AWS execution's jobs write their manifests under the ``--runs-root`` S3 prefix."""
    from spark_ingest.manifest import manifest_uri

    clients: list[Any] = []  # made on the first read: most failed runs have no job to look up

    def read(runs_root: str, run_id: str, job: str) -> tuple[str, str]:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        uri = manifest_uri(runs_root, run_id, job)  # the path the job wrote
        scheme, _, rest = uri.partition("://")
        bucket, _, key = rest.partition("/")
        if scheme not in ("s3", "s3a") or not bucket or not key:
            raise ValueError(f"{uri}: not an S3 object")
        if not clients:
            clients.append(boto3.Session(region_name=region or None).client("s3"))
        try:
            body = clients[0].get_object(Bucket=bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as exc:  # no such key, no access, no network
            raise OSError(f"{uri}: {exc}") from exc
        return uri, body.decode("utf-8")

    return read


def _build_report(lake: Path, run_id: str) -> Any:
    try:
        module = importlib.import_module("carrental.report")
    except ImportError:
        return None
    build = getattr(module, "build_report", None)
    if build is None:
        try:
            build = importlib.import_module("carrental.report.render").build_report
        except (ImportError, AttributeError):
            return None
    try:
        return build(lake, run_id)
    except Exception as exc:  # the report is a bonus; the run's verdict stands
        console.warn(f"could not build the run report: {type(exc).__name__}: {exc}")
        return None


def _generate(lake: Path, transactions: int) -> None:
    from carrental.generate import generate

    console.info(f"raw folder is empty: generating {transactions} sample rentals into {lake}")
    generate(lake, transactions)


def _refuse_local_only_options(given: dict[str, Any]) -> None:
    """--target aws runs the deployed state machine from its start on EMR Serverless with the
    raw data already in S3: the options that only the local executor understands are errors,
    never silently dropped."""
    passed = [option for option, value in given.items() if value is not None]
    if passed:
        raise UsageError(
            f"{', '.join(passed)} cannot be used with --target aws",
            hint="they apply to the local executor only; on AWS the state machine always "
            "starts at its first state, runs Spark on EMR Serverless and reads data/raw in S3",
        )


def _run_aws(
    stack_name: str | None, region: str | None, run_id: str | None, mode: str, lake_dir: str
) -> None:
    if run_id is not None:
        check_run_id(run_id)  # before boto3 or any AWS call
    if not stack_name:
        raise UsageError(
            "--target aws needs --stack-name", hint="the stack `carrental deploy` made"
        )
    from orchestration.aws.remote import run_remote

    result = run_remote(
        stack_name=stack_name, region=region, run_id=run_id, mode=mode, lake_dir=lake_dir
    )
    status = result.get("status") if isinstance(result, dict) else None
    if isinstance(result, dict) and result.get("name"):
        # history.json + execution.json were copied into <lake>/runs/<run_id>/: report on them
        report = _build_report(Path(lake_dir).resolve(), result["name"])
        if report:
            result = {**result, "report": str(report)}
            console.info(f"report       {report}")
    console.result(
        result if isinstance(result, dict) else {"result": result},
        f"AWS execution: {status or result}",
    )
    if status and status != "SUCCEEDED":
        error = result.get("error") or status
        bad_input = _input_file_failure(_history(lake_dir, result), _s3_manifests(region))
        if bad_input is not None:  # exit 3, as a local run and `carrental spark`
            manifest, details = bad_input
            raise InputError(
                f"the AWS execution ended {status}: {error}: {details.get('message') or details}",
                hint=f"a bad input file: fix or replace it in S3 and re-run; the job's "
                f"manifest: {manifest}",
            )
        raise CarrentalError(f"the AWS execution ended {status}: {error}: {result.get('cause')}")


def _history(lake_dir: str, result: dict) -> list[dict]:
    """The events ``run_remote`` copied to ``<lake>/runs/<run id>/history.json``, or []."""
    if not result.get("name"):
        return []
    path = Path(lake_dir).resolve() / "runs" / str(result["name"]) / "history.json"
    try:
        events = json.loads(path.read_text(encoding="utf-8")).get("events")
    except (OSError, ValueError, AttributeError):
        return []
    return events if isinstance(events, list) else []


def run_pipeline(
    lake_dir: str,
    *,
    run_id: str | None = None,
    from_state: str | None = None,
    mode: str = "incremental",
    engine: str = "spark",
    generate_if_empty: int | None = None,
) -> dict[str, Any]:
    """The local run behind the command; returns the summary payload or raises CarrentalError."""
    from carrental.lock import LakeLock
    from orchestration.executor import DefinitionError, run_local
    from orchestration.executor.progress import ConsoleProgress
    from spark_ingest.layout import new_run_id

    if "://" in lake_dir:
        raise UsageError(
            f"the local executor needs a local lake folder, not {lake_dir}",
            hint="use --target aws --stack-name S to run on AWS Step Functions",
        )
    run_id = check_run_id(run_id) if run_id else new_run_id()
    _check_from_state(from_state)
    lake = Path(lake_dir).resolve()
    if lake.exists() and not lake.is_dir():
        raise UsageError(f"--lake-dir {lake} is not a folder")
    if not lake.exists():
        if not generate_if_empty:
            raise UsageError(
                f"lake folder {lake} does not exist",
                hint="pass --generate-if-empty N to create sample data, or `carrental generate`",
            )
        lake.mkdir(parents=True)

    with LakeLock(lake, run_id):
        if generate_if_empty and _raw_is_empty(lake):
            _generate(lake, generate_if_empty)
        if engine == "spark":
            from carrental.java import ensure_java

            ensure_java()
        console.info(f"run [bold]{run_id}[/bold] on {lake} (mode {mode}, engine {engine})")
        try:
            result = run_local(
                lake,
                run_id,
                mode=mode,
                engine=engine,
                from_state=from_state,
                listener=ConsoleProgress(),
            )
        except DefinitionError as exc:
            raise UsageError(str(exc)) from exc

    run_dir = lake / "runs" / run_id
    report = _build_report(lake, run_id)
    payload: dict[str, Any] = {
        "run_id": run_id,
        "status": result.status,
        "error": result.error,
        "cause": result.cause,
        "lake_dir": str(lake),
        "processed": str(lake / "data" / "processed"),
        "quarantine": str(lake / "data" / "quarantine"),
        "warehouse": str(lake / "warehouse.duckdb"),
        "run_record": str(run_dir),
        "history": str(run_dir / "history.json"),
        "report": str(report) if report else None,
        "validation": (result.output or {}).get("validation") if result.output else None,
    }
    lines = [
        f"outputs      {payload['processed']}",
        f"quarantine   {payload['quarantine']}",
        f"warehouse    {payload['warehouse']}",
        f"dbt docs     carrental dbt --lake-dir {lake_dir} -- docs generate  (or: make docs)",
        f"run record   {payload['run_record']}  (history.json, execution.json)",
    ]
    if report:
        lines.append(f"report       {report}")
    if result.status == "SUCCEEDED":
        human = (
            "[bold green]pipeline SUCCEEDED[/bold green] run " + run_id + "\n" + "\n".join(lines)
        )
        console.result(payload, human)
        return payload
    console.result(
        payload, "[bold red]pipeline FAILED[/bold red] run " + run_id + "\n" + "\n".join(lines)
    )
    hint = (
        f"alerts in {run_dir / 'alerts.jsonl'}; states in {run_dir / 'history.json'}; "
        "fix the cause and re-run, or resume with --from-state"
    )
    bad_input = _input_file_failure(result.events, _local_manifests(lake))
    if bad_input is not None:  # exit 3, as `carrental spark` for the same job
        manifest, error = bad_input
        raise InputError(
            f"pipeline failed: {result.error}: {error.get('message') or error}",
            hint=f"a bad input file: fix or replace it and re-run; the job's manifest: {manifest}",
        )
    cause = result.cause or ""
    if len(cause) > 2000:
        cause = cause[:2000] + " …"
    raise CarrentalError(f"pipeline failed: {result.error}: {cause}", hint=hint)


def register(app: typer.Typer) -> None:
    @app.command(
        "run",
        help=HELP,
        short_help="Run the whole pipeline: the same state machine AWS runs, locally or on AWS.",
    )
    def run_command(
        lake_dir: str = typer.Option("lake", "--lake-dir", help="The lake folder (local target)."),
        run_id: str | None = typer.Option(
            None, "--run-id", help="Run id (default: new, sortable)."
        ),
        from_state: str | None = typer.Option(
            None,
            "--from-state",
            help="Start at this top-level state (earlier tasks skipped; local target).",
        ),
        mode: str = typer.Option(
            "incremental", "--mode", help="incremental (default: new raw files only) | full"
        ),
        engine: str | None = typer.Option(
            None, "--engine", help="spark (default) | duckdb (local target)."
        ),
        generate_if_empty: int | None = typer.Option(
            None,
            "--generate-if-empty",
            help="Generate N sample rentals when data/raw is empty (local target).",
        ),
        target: str = typer.Option("local", "--target", help="local | aws"),
        stack_name: str | None = typer.Option(None, "--stack-name", help="AWS stack (aws target)."),
        region: str | None = typer.Option(None, "--region", help="AWS region (aws target)."),
    ) -> None:
        _choice("mode", mode, MODES)
        _choice("target", target, TARGETS)
        if target == "aws":
            _refuse_local_only_options(
                {
                    "--from-state": from_state,
                    "--engine": engine,
                    "--generate-if-empty": generate_if_empty,
                }
            )
            _run_aws(stack_name, region, run_id, mode, lake_dir)
            return
        engine = _choice("engine", engine or "spark", ENGINES)
        if generate_if_empty is not None and generate_if_empty <= 0:
            raise UsageError("--generate-if-empty must be a positive number of rentals")
        run_pipeline(
            lake_dir,
            run_id=run_id,
            from_state=from_state,
            mode=mode,
            engine=engine,
            generate_if_empty=generate_if_empty,
        )
