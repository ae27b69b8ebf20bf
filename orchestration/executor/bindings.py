"""Local bindings: each ``Resource`` of the definition -> a local handler.

==========================================================  ==========================================
AWS resource (Task ``Resource``)                            local handler
==========================================================  ==========================================
``arn:aws:states:::aws-sdk:sfn:listExecutions``             the runs of this lake: this one, and the run
                                                            holding the lake's lock if that is another
                                                            live process (``carrental.lock``)
``arn:aws:states:::emr-serverless:startJobRun.sync``        ``spark_ingest.submit.submit_job``: the same
                                                            entry script with the same arguments
                                                            (``s3://<DataBucket>/`` -> the lake
                                                            folder) in the run's one local driver
                                                            (``spark_ingest.local_driver``; Spark
                                                            or DuckDB), progress on stderr
``arn:aws:states:::aws-sdk:glue:startCrawler``              ``carrental.catalog.crawl`` (runs now)
``arn:aws:states:::aws-sdk:glue:getCrawler``                the last crawl's GetCrawler-shaped answer
``arn:aws:states:::codebuild:startBuild.sync``              ``carrental.dbt_runner.run_dbt(lake,
                                                            ["build"])`` (target local), one line
                                                            per node on stderr
``arn:aws:states:::athena:startQueryExecution.sync``        the query on ``<lake>/warehouse.duckdb``
                                                            (read-only DuckDB connection)
``arn:aws:states:::athena:getQueryResults``                 the rows in GetQueryResults shape
``arn:aws:states:::sns:publish``                            stderr + ``runs/<run_id>/alerts.jsonl`` +
                                                            optional webhook ``CARRENTAL_ALERT_WEBHOOK``
==========================================================  ==========================================

The engine modules are imported lazily, inside the handlers, so tests can replace any handler.
"""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from orchestration.executor.interpreter import (
    RUN_GUARD_RESOURCE,
    Handler,
    TaskContext,
    TaskFailure,
    now_iso,
)

SFN_LIST_EXECUTIONS = RUN_GUARD_RESOURCE
EMR_START_JOB_RUN = "arn:aws:states:::emr-serverless:startJobRun.sync"
GLUE_START_CRAWLER = "arn:aws:states:::aws-sdk:glue:startCrawler"
GLUE_GET_CRAWLER = "arn:aws:states:::aws-sdk:glue:getCrawler"
CODEBUILD_START_BUILD = "arn:aws:states:::codebuild:startBuild.sync"
ATHENA_START_QUERY = "arn:aws:states:::athena:startQueryExecution.sync"
ATHENA_GET_RESULTS = "arn:aws:states:::athena:getQueryResults"
SNS_PUBLISH = "arn:aws:states:::sns:publish"

ALERT_WEBHOOK_ENV = "CARRENTAL_ALERT_WEBHOOK"

#: One DuckDB warehouse file per lake: the two crawler branches run in parallel threads and
#: would conflict on its catalog ("write-write conflict"), so warehouse access is serialised.
WAREHOUSE_LOCK = threading.Lock()
LOCAL_BUCKET = "local-lake"

#: Placeholder values for a local run (the AWS values come from CloudFormation).
LOCAL_SUBSTITUTIONS: dict[str, str] = {
    "DataBucket": LOCAL_BUCKET,
    "ArtifactsPrefix": "artifacts/local",
    "EmrApplicationId": "local-emr-serverless",
    "EmrJobRoleArn": "arn:aws:iam::000000000000:role/local-emr-job",
    "VehicleLocationCrawlerName": "vehicle_location_performance_crawler",
    "UserTransactionCrawlerName": "user_transaction_analysis_crawler",
    "AlertTopicArn": "arn:aws:sns:local:000000000000:carrental-alerts",
    "AthenaWorkGroup": "local",
    "AthenaResultsPrefix": "athena-results",
    "DbtCodeBuildProject": "local-dbt",
    "GlueDatabase": "car_rental_db",
    "AnalyticsDatabase": "car_rental_analytics",
}

#: The documented registry: resource -> name of the LocalBindings method that serves it.
LOCAL_BINDINGS: dict[str, str] = {
    SFN_LIST_EXECUTIONS: "sfn_list_executions",
    EMR_START_JOB_RUN: "emr_start_job_run",
    GLUE_START_CRAWLER: "glue_start_crawler",
    GLUE_GET_CRAWLER: "glue_get_crawler",
    CODEBUILD_START_BUILD: "codebuild_start_build",
    ATHENA_START_QUERY: "athena_start_query",
    ATHENA_GET_RESULTS: "athena_get_results",
    SNS_PUBLISH: "sns_publish",
}


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _tail(text: str, lines: int = 15) -> str:
    """The last ``lines`` lines of ``text`` without terminal colour codes."""
    return "\n".join(_ANSI.sub("", text or "").strip().splitlines()[-lines:])


def parse_entry_point_arguments(args: list[str]) -> dict[str, str]:
    """``['--run-id', 'x', '--mode', 'full']`` -> ``{'run_id': 'x', 'mode': 'full'}``."""
    out: dict[str, str] = {}
    it = iter(args)
    for flag in it:
        if not flag.startswith("--"):
            raise TaskFailure("States.TaskFailed", f"unexpected job argument {flag!r}")
        out[flag[2:].replace("-", "_")] = next(it, "")
    return out


class LocalBindings:
    """Handlers that run each Task on this machine against ``lake_dir``."""

    def __init__(
        self,
        lake_dir: str | Path,
        run_id: str,
        *,
        engine: str = "spark",
        bucket: str = LOCAL_BUCKET,
        webhook: str | None = None,
        alert_printer: Callable[[str], None] | None = None,
    ):
        self.lake = Path(lake_dir).resolve()
        self.run_id = run_id
        self.engine = engine
        self.bucket = bucket
        self.webhook = webhook if webhook is not None else os.environ.get(ALERT_WEBHOOK_ENV)
        self._alert_printer = alert_printer
        self._crawls: dict[str, dict] = {}
        self._queries: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._driver = None  # the run's local driver, started by the first Spark task

    def handlers(self) -> dict[str, Handler]:
        return {resource: getattr(self, method) for resource, method in LOCAL_BINDINGS.items()}

    @property
    def run_dir(self) -> Path:
        return self.lake / "runs" / self.run_id

    def to_local(self, uri: str) -> Path:
        """``s3://<bucket>/a/b`` -> ``<lake>/a/b``; other buckets are an error."""
        prefix = f"s3://{self.bucket}"
        if not (uri == prefix or uri.startswith(prefix + "/")):
            raise TaskFailure("States.TaskFailed", f"{uri} is outside s3://{self.bucket}/")
        rest = uri[len(prefix) :].strip("/")
        return self.lake / rest if rest else self.lake

    def close(self) -> None:
        """Stop the run's local driver, if a Spark task started one."""
        if self._driver is not None:
            self._driver.close()

    # ---- Step Functions -----------------------------------------------------------------

    def sfn_list_executions(self, params: dict, ctx: TaskContext) -> dict:
        """The RUNNING executions on this lake, newest first, in ListExecutions' shape: this
        one, and before it (older) the run that holds the lake's lock when that is another
        live process. ``carrental run`` takes the lock before it starts, so there the list
        is this run alone; a second executor on the same lake without the lock is stopped
        here, as a second execution is on AWS."""
        from carrental.lock import LOCK_NAME, live_pid, read_lock

        machine = params["StateMachineArn"]
        prefix = machine.replace(":stateMachine:", ":execution:", 1)
        running = [{"ExecutionArn": f"{prefix}:{ctx.execution_name}", "Name": ctx.execution_name}]
        holder = read_lock(self.lake / LOCK_NAME)
        pid = live_pid(holder)
        if holder and pid not in (None, os.getpid()):
            name = str(holder.get("run_id") or f"pid-{pid}")
            running.append({"ExecutionArn": f"{prefix}:{name}", "Name": name})
        for execution in running:
            execution.update(StateMachineArn=machine, Status="RUNNING")
        return {"Executions": running}

    # ---- EMR Serverless -----------------------------------------------------------------

    def emr_start_job_run(self, params: dict, ctx: TaskContext) -> dict:
        from carrental.progress import SparkProgress
        from spark_ingest.layout import SPARK_JOBS
        from spark_ingest.local_driver import LocalDriver
        from spark_ingest.submit import submit_job

        driver = params["JobDriver"]["SparkSubmit"]
        job = PurePosixPath(driver["EntryPoint"]).stem
        if job not in SPARK_JOBS:
            raise TaskFailure(
                "States.TaskFailed", f"unknown job entry point {driver['EntryPoint']}"
            )
        args = parse_entry_point_arguments(list(driver.get("EntryPointArguments", [])))
        expected = {"raw_root": "data/raw", "processed_root": "data/processed"}
        for key, rel in expected.items():
            if key in args and self.to_local(args[key]) != self.lake / rel:
                raise TaskFailure("States.TaskFailed", f"--{key} {args[key]} does not map to {rel}")
        run_id = args.get("run_id", self.run_id)
        timeout = params.get("ExecutionTimeoutMinutes")
        with self._lock:
            if self._driver is None:
                self._driver = LocalDriver(self.engine)
        with SparkProgress(job) as progress:  # the two jobs run in parallel: lines say which
            proc = submit_job(
                job,
                self.lake,
                run_id,
                mode=args.get("mode", "incremental"),
                engine=self.engine,
                extra_args=["--inputs", args["inputs"]] if "inputs" in args else [],
                timeout=float(timeout) * 60 if timeout else None,
                on_line=progress,
                driver=self._driver,
            )
        job_run_id = f"local-{job}-{run_id}"
        if proc.returncode != 0:
            raise TaskFailure(
                "States.TaskFailed",
                json.dumps(
                    {
                        "JobRunId": job_run_id,
                        "State": "FAILED",
                        "StateDetails": f"{job} exited with code {proc.returncode}: "
                        + self._job_error(job, run_id, proc),
                        "Log": str(self.lake / "runs" / run_id / "logs" / f"{job}.log"),
                    }
                ),
            )
        return {
            "ApplicationId": params.get("ApplicationId"),
            "JobRunId": job_run_id,
            "Name": params.get("Name"),
            "JobRun": {"State": "SUCCESS", "JobRunId": job_run_id},
        }

    def _job_error(self, job: str, run_id: str, proc) -> str:
        """The manifest's error (type, message, dataset, file, column) or the stderr tail."""
        manifest = self.lake / "runs" / run_id / "manifests" / f"{job}.json"
        try:
            error = json.loads(manifest.read_text(encoding="utf-8")).get("error")
        except (OSError, ValueError):
            error = None
        if isinstance(error, dict) and error.get("message"):
            where = ", ".join(
                f"{key}={error[key]}" for key in ("dataset", "file", "column") if error.get(key)
            )
            return f"{error.get('type')}: {error['message']}" + (f" ({where})" if where else "")
        return _tail(proc.stderr)

    # ---- Glue ----------------------------------------------------------------------------

    def glue_start_crawler(self, params: dict, ctx: TaskContext) -> dict:
        from carrental.catalog import crawl

        name = params["Name"]
        with WAREHOUSE_LOCK:
            result = crawl(self.lake, crawler=name, run_id=self.run_id)
        with self._lock:
            self._crawls[name] = result
        return {}

    def glue_get_crawler(self, params: dict, ctx: TaskContext) -> dict:
        name = params["Name"]
        with self._lock:
            result = self._crawls.get(name)
        if result is None:
            raise TaskFailure("Glue.EntityNotFoundException", f"crawler {name} was never started")
        return {"Crawler": result["Crawler"]}

    # ---- CodeBuild (dbt) -------------------------------------------------------------------

    def codebuild_start_build(self, params: dict, ctx: TaskContext) -> dict:
        from carrental.dbt_runner import run_dbt
        from carrental.progress import DbtProgress

        overrides = {
            e["Name"]: e.get("Value") for e in params.get("EnvironmentVariablesOverride", [])
        }
        run_id = overrides.get("RUN_ID") or self.run_id
        result = run_dbt(self.lake, ["build"], run_id=run_id, on_line=DbtProgress())
        build_id = f"{params.get('ProjectName', 'dbt')}:{run_id}"
        if result.returncode != 0:
            failed = ", ".join(result.failed_nodes) or "(see the dbt log)"
            raise TaskFailure(
                "CodeBuild.BuildFailed",
                f"dbt build failed (exit {result.returncode}); failed nodes: {failed}. "
                + _tail(result.stdout, 8),
            )
        return {"Build": {"Id": build_id, "BuildStatus": "SUCCEEDED", "ProjectName": build_id}}

    # ---- Athena ----------------------------------------------------------------------------

    def athena_start_query(self, params: dict, ctx: TaskContext) -> dict:
        import duckdb

        warehouse = self.lake / "warehouse.duckdb"
        query = params["QueryString"]
        if not warehouse.exists():
            raise TaskFailure("States.TaskFailed", f"no warehouse at {warehouse}")
        try:
            with WAREHOUSE_LOCK:
                con = duckdb.connect(str(warehouse), read_only=True)
                try:
                    cursor = con.execute(query)
                    columns = [d[0] for d in cursor.description]
                    rows = cursor.fetchall()
                finally:
                    con.close()
        except duckdb.Error as exc:
            raise TaskFailure(
                "States.TaskFailed",
                json.dumps({"Status": {"State": "FAILED", "StateChangeReason": str(exc)}}),
            ) from exc
        query_id = str(uuid.uuid4())
        with self._lock:
            self._queries[query_id] = {"columns": columns, "rows": rows}
        return {
            "QueryExecution": {
                "QueryExecutionId": query_id,
                "Query": query,
                "Status": {"State": "SUCCEEDED"},
                "WorkGroup": params.get("WorkGroup"),
            }
        }

    def athena_get_results(self, params: dict, ctx: TaskContext) -> dict:
        query_id = params["QueryExecutionId"]
        with self._lock:
            stored = self._queries.get(query_id)
        if stored is None:
            raise TaskFailure("Athena.InvalidRequestException", f"unknown query {query_id}")
        return athena_result_set(stored["columns"], stored["rows"], params.get("MaxResults"))

    # ---- SNS -------------------------------------------------------------------------------

    def sns_publish(self, params: dict, ctx: TaskContext) -> dict:
        alert = {
            "time": now_iso(),
            "run_id": self.run_id,
            "topic": params.get("TopicArn"),
            "subject": params.get("Subject"),
            "message": params.get("Message"),
        }
        text = f"ALERT {alert['subject']}: {alert['message']}"
        if self._alert_printer:
            self._alert_printer(text)
        else:
            from carrental import console

            console.err.print(f"[bold red]{text}[/bold red]", markup=True, highlight=False)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self._lock, (self.run_dir / "alerts.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(alert) + "\n")
        if self.webhook:
            self._post_webhook(alert)
        return {"MessageId": str(uuid.uuid4())}

    def _post_webhook(self, alert: dict) -> None:
        request = urllib.request.Request(
            self.webhook,
            data=json.dumps(alert).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10):  # user-configured URL
                pass
        except OSError as exc:
            from carrental import console

            console.warn(f"alert webhook {self.webhook} failed: {exc}")


def _cell(value: Any) -> dict:
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"VarCharValue": "true" if value else "false"}
    return {"VarCharValue": str(value)}


def athena_result_set(
    columns: list[str], rows: list[tuple], max_results: int | None = None
) -> dict:
    """Athena GetQueryResults shape: first row is the header, NULL cells have no VarCharValue."""
    body = [{"Data": [_cell(v) for v in row]} for row in rows]
    all_rows = [{"Data": [{"VarCharValue": c} for c in columns]}, *body]
    if max_results:
        all_rows = all_rows[: int(max_results)]
    return {
        "ResultSet": {
            "Rows": all_rows,
            "ResultSetMetadata": {
                "ColumnInfo": [{"Name": c, "Label": c, "Type": "varchar"} for c in columns]
            },
        },
        "UpdateCount": 0,
    }
