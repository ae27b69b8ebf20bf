"""Local bindings: each AWS resource answered by a local engine, in the AWS response shape."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import types
from decimal import Decimal

import duckdb
import pytest

from orchestration.executor.bindings import (
    LocalBindings,
    athena_result_set,
    parse_entry_point_arguments,
)
from orchestration.executor.definition import iter_states
from orchestration.executor.interpreter import CancelToken, TaskContext, TaskFailure


def ctx(name="S"):
    return TaskContext("r", name, "exec", 0, None, CancelToken())


@pytest.fixture
def lake(tmp_path):
    """A tiny warehouse: 3 rentals (10.00 + 20.50 + 5.25 = 35.75), every table non-empty."""
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("create schema car_rental_db; create schema car_rental_analytics")
    for table in (
        "location_performance",
        "vehicle_type_performance",
        "user_transaction_summary",
        "top_users_by_spending",
    ):
        con.execute(f"create table car_rental_db.{table} as select 1 as x")
    con.execute(
        "create table car_rental_db.rentals_fact as select * from (values "
        "('r1', 10.00::decimal(12,2)), ('r2', 20.50::decimal(12,2)), ('r3', 5.25::decimal(12,2)))"
        " as t(rental_id, total_amount)"
    )
    con.execute(
        "create table car_rental_db.overall_transaction_statistics as select "
        "35.75::decimal(18,2) as overall_total_revenue, 3::bigint as overall_total_transactions"
    )
    for table in ("location_leaderboard", "vehicle_type_mix", "customer_value_segments"):
        con.execute(f"create table car_rental_analytics.{table} as select 1 as x")
    con.execute("create table car_rental_analytics.daily_business_metrics as select 1 as x")
    con.execute(
        "create table car_rental_analytics.business_kpis as select "
        "35.75::decimal(18,2) as total_revenue, 3::bigint as total_rentals"
    )
    con.close()
    return tmp_path


def query(bindings: LocalBindings, state: dict) -> dict:
    started = bindings.athena_start_query(state["Parameters"], ctx())
    query_id = started["QueryExecution"]["QueryExecutionId"]
    return bindings.athena_get_results({"QueryExecutionId": query_id, "MaxResults": 2}, ctx())


def states_by_name(definition):
    return {name: state for _, name, state in iter_states(definition)}


def test_validation_queries_run_on_duckdb_in_athena_shape(definition, lake):
    bindings = LocalBindings(lake, "run-1")
    states = states_by_name(definition)
    rows = query(bindings, states["RunRowCountsQuery"])["ResultSet"]["Rows"]
    header = [c["VarCharValue"] for c in rows[0]["Data"]]
    values = dict(zip(header, [c["VarCharValue"] for c in rows[1]["Data"]], strict=True))
    assert values["rentals_fact_rows"] == "3"
    assert values["business_kpis_rows"] == "1"
    assert values["all_tables_non_empty"] == "true"
    # the ResultSelector picks columns by position: they must line up with the header
    selector = states["GetRowCountsResults"]["ResultSelector"]
    assert [k[:-2] for k in selector] == header

    rows = query(bindings, states["RunReconciliationQuery"])["ResultSet"]["Rows"]
    header = [c["VarCharValue"] for c in rows[0]["Data"]]
    values = dict(zip(header, [c["VarCharValue"] for c in rows[1]["Data"]], strict=True))
    assert values["fact_rentals"] == "3" and values["kpi_rentals"] == "3"
    assert Decimal(values["fact_revenue"]) == Decimal("35.75")
    assert values["reconciled"] == "true"
    assert [k[:-2] for k in states["GetReconciliationResults"]["ResultSelector"]] == header


def test_reconciliation_detects_a_mismatch_and_empty_tables(definition, lake):
    con = duckdb.connect(str(lake / "warehouse.duckdb"))
    con.execute("update car_rental_analytics.business_kpis set total_revenue = 35.70")
    con.execute("delete from car_rental_db.location_performance")
    con.close()
    bindings = LocalBindings(lake, "run-1")
    states = states_by_name(definition)
    rows = query(bindings, states["RunReconciliationQuery"])["ResultSet"]["Rows"]
    assert rows[1]["Data"][-1]["VarCharValue"] == "false"
    rows = query(bindings, states["RunRowCountsQuery"])["ResultSet"]["Rows"]
    assert rows[1]["Data"][-1]["VarCharValue"] == "false"


def test_failing_query_is_a_task_failure(lake):
    bindings = LocalBindings(lake, "run-1")
    with pytest.raises(TaskFailure) as info:
        bindings.athena_start_query({"QueryString": "select * from nope.nope"}, ctx())
    assert info.value.error == "States.TaskFailed"
    assert "nope" in info.value.cause


def test_query_connection_is_read_only(lake):
    bindings = LocalBindings(lake, "run-1")
    with pytest.raises(TaskFailure):
        bindings.athena_start_query({"QueryString": "create table t as select 1"}, ctx())


def test_athena_result_set_null_cells_have_no_value():
    shaped = athena_result_set(["a", "b"], [(1, None)])
    assert shaped["ResultSet"]["Rows"] == [
        {"Data": [{"VarCharValue": "a"}, {"VarCharValue": "b"}]},
        {"Data": [{"VarCharValue": "1"}, {}]},
    ]


def test_sns_alert_goes_to_stderr_jsonl_and_webhook(tmp_path, monkeypatch):
    received: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    monkeypatch.setenv("CARRENTAL_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_port}/")
    printed: list[str] = []
    bindings = LocalBindings(tmp_path, "run-9", alert_printer=printed.append)
    bindings.sns_publish({"TopicArn": "t", "Subject": "S", "Message": "run run-9 failed"}, ctx())
    thread.join(10)
    server.server_close()
    line = json.loads((tmp_path / "runs/run-9/alerts.jsonl").read_text().splitlines()[0])
    assert line["message"] == "run run-9 failed" and line["run_id"] == "run-9"
    assert printed == ["ALERT S: run run-9 failed"]
    assert received and received[0]["subject"] == "S"


def test_emr_binding_maps_the_bucket_and_arguments(definition, tmp_path, monkeypatch):
    import spark_ingest.submit as submit

    seen = {}

    def fake_submit(job, lake_dir, run_id, **kwargs):
        seen.update(job=job, lake=lake_dir, run_id=run_id, **kwargs)
        return subprocess.CompletedProcess([], 0, "", "")

    monkeypatch.setattr(submit, "submit_job", fake_submit)
    states = states_by_name(definition)
    params = json.loads(json.dumps(states["UserTransactionJob"]["Parameters"]))
    driver = params["JobDriver"]["SparkSubmit"]
    driver["EntryPointArguments"] = [
        "--raw-root", "s3://local-lake/data/raw", "--processed-root",
        "s3://local-lake/data/processed", "--run-id", "r-7", "--mode", "incremental",
    ]  # fmt: skip
    out = LocalBindings(tmp_path, "r-7", engine="duckdb").emr_start_job_run(params, ctx())
    assert seen["job"] == "user_transaction_analysis"
    assert seen["lake"] == tmp_path.resolve()
    assert (seen["run_id"], seen["mode"], seen["engine"]) == ("r-7", "incremental", "duckdb")
    assert seen["timeout"] == 60 * 60
    assert out["JobRunId"]

    def failing_submit(job, lake_dir, run_id, **kwargs):
        return subprocess.CompletedProcess([], 1, "", "Traceback\nValueError: bad things")

    monkeypatch.setattr(submit, "submit_job", failing_submit)
    with pytest.raises(TaskFailure) as info:
        LocalBindings(tmp_path, "r-7").emr_start_job_run(params, ctx())
    assert info.value.error == "States.TaskFailed"
    assert "ValueError: bad things" in info.value.cause


def test_emr_binding_refuses_foreign_buckets(tmp_path):
    bindings = LocalBindings(tmp_path, "r")
    with pytest.raises(TaskFailure):
        bindings.to_local("s3://someone-else/data/raw")
    assert bindings.to_local("s3://local-lake/data/raw") == tmp_path.resolve() / "data/raw"
    assert parse_entry_point_arguments(["--run-id", "x"]) == {"run_id": "x"}


def test_codebuild_binding_runs_dbt_build_and_names_failed_nodes(tmp_path, monkeypatch):
    calls = []

    def run_dbt(lake_dir, args, *, target="local", run_id=None, capture=True, on_line=None):
        calls.append((lake_dir, args, run_id))
        return types.SimpleNamespace(
            returncode=1, stdout="...", failed_nodes=["test.carrental.not_null_x"], run_results=None
        )

    fake = types.ModuleType("carrental.dbt_runner")
    fake.run_dbt = run_dbt
    monkeypatch.setitem(sys.modules, "carrental.dbt_runner", fake)
    params = {
        "ProjectName": "p",
        "EnvironmentVariablesOverride": [{"Name": "RUN_ID", "Type": "PLAINTEXT", "Value": "r-3"}],
    }
    with pytest.raises(TaskFailure) as info:
        LocalBindings(tmp_path, "r-3").codebuild_start_build(params, ctx())
    assert info.value.error == "CodeBuild.BuildFailed"
    assert "test.carrental.not_null_x" in info.value.cause
    assert calls == [(tmp_path.resolve(), ["build"], "r-3")]


def test_glue_bindings_answer_in_get_crawler_shape(tmp_path, monkeypatch):
    import carrental.catalog as catalog

    def crawl(lake_dir, crawler=None, tables=None, *, run_id=None):
        return {
            "Crawler": {"Name": crawler, "State": "READY", "LastCrawl": {"Status": "FAILED"}},
            "Tables": [],
        }

    monkeypatch.setattr(catalog, "crawl", crawl)
    bindings = LocalBindings(tmp_path, "r")
    with pytest.raises(TaskFailure):
        bindings.glue_get_crawler({"Name": "c"}, ctx())
    assert bindings.glue_start_crawler({"Name": "c"}, ctx()) == {}
    got = bindings.glue_get_crawler({"Name": "c"}, ctx())
    assert got == {"Crawler": {"Name": "c", "State": "READY", "LastCrawl": {"Status": "FAILED"}}}


MACHINE = "arn:aws:states:local:000000000000:stateMachine:CarRentalDataPipeline"
LIST_PARAMS = {"StateMachineArn": MACHINE, "StatusFilter": "RUNNING", "MaxResults": 100}


@pytest.fixture
def lock_holder(tmp_path):
    """Another process holding the lake's lock (as a ``carrental run`` in progress does)."""
    script = (
        "import sys\n"
        "from carrental.lock import LakeLock\n"
        f"with LakeLock({str(tmp_path)!r}, 'run-in-progress'):\n"
        "    print('locked', flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    yield holder
    holder.communicate("\n", timeout=30)


def test_run_guard_lists_this_run_alone_on_a_free_or_own_lake(tmp_path):
    from carrental.lock import LakeLock

    bindings = LocalBindings(tmp_path, "r1")
    this_run = {
        "ExecutionArn": MACHINE.replace(":stateMachine:", ":execution:") + ":exec",
        "Name": "exec",
        "StateMachineArn": MACHINE,
        "Status": "RUNNING",
    }
    assert bindings.sfn_list_executions(LIST_PARAMS, ctx()) == {"Executions": [this_run]}
    with LakeLock(tmp_path, "r1"):  # held by this process: the run itself
        assert bindings.sfn_list_executions(LIST_PARAMS, ctx()) == {"Executions": [this_run]}
    # a damaged lock file names no live run: the lock itself takes it over as stale
    damaged = {"pid": "twelve", "host": socket.gethostname(), "run_id": "old"}
    (tmp_path / ".carrental.lock").write_text(json.dumps(damaged))
    assert bindings.sfn_list_executions(LIST_PARAMS, ctx()) == {"Executions": [this_run]}
    with LakeLock(tmp_path, "r2") as lock:
        assert lock.took_over == damaged


def test_run_guard_stops_a_second_executor_on_a_locked_lake(tmp_path, lock_holder, definition):
    """The real definition, its guard answered by the local binding: another live process
    holds the lake's lock, so this execution is not the oldest and no job starts."""
    from asl_fakes import Fakes

    from orchestration.executor.bindings import EMR_START_JOB_RUN, SFN_LIST_EXECUTIONS
    from orchestration.executor.interpreter import Executor

    bindings = LocalBindings(tmp_path, "second")
    listed = bindings.sfn_list_executions(LIST_PARAMS, ctx())["Executions"]
    assert [e["Name"] for e in listed] == ["exec", "run-in-progress"]  # newest first
    fakes = Fakes()
    handlers = {**fakes.handlers(), SFN_LIST_EXECUTIONS: bindings.sfn_list_executions}
    result = Executor(definition, handlers, wait_factor=0, sleep=lambda s: None).run({}, "second")
    assert (result.status, result.error) == ("FAILED", "RunAlreadyInProgress")
    assert "run-in-progress" in json.loads(result.cause)["IsOldestRun"]["Cause"]
    assert not [p for r, p in fakes.calls if r == EMR_START_JOB_RUN]
