"""End to end: a small generated lake through `carrental run` (real Spark, crawler, dbt, DuckDB).

Slow: every run spark-submits both jobs. The tests share one lake (module fixture) and run in
file order: good run -> repeat -> transient retry -> failing dbt test -> Spark job raising ->
corrupt vehicles.csv -> killed run + recovery. Each failure test restores what it broke.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

TRANSACTIONS = 300
JOB_TABLES = {
    "vehicle_location_performance": (
        "location_performance",
        "vehicle_type_performance",
        "rentals_fact",
    ),
    "user_transaction_analysis": (
        "user_transaction_summary",
        "overall_transaction_statistics",
        "top_users_by_spending",
    ),
}
MARTS = (
    "location_leaderboard",
    "vehicle_type_mix",
    "customer_value_segments",
    "daily_business_metrics",
    "business_kpis",
)


def _missing_requirements() -> str | None:
    from carrental.errors import CarrentalError
    from carrental.java import ensure_java

    try:
        ensure_java()
    except CarrentalError as exc:
        return f"no usable Java: {exc.message}"
    return None


_REASON = _missing_requirements()
if _REASON:
    pytestmark.append(pytest.mark.skip(reason=_REASON))


def carrental(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "CARRENTAL_WAIT_FACTOR": "0", "COLUMNS": "200"}
    return subprocess.run(
        [_cli(), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def _cli() -> str:
    return str(Path(sys.executable).with_name("carrental"))


def _normalise(rows: list[tuple]) -> list[tuple]:
    """Sort rows; round doubles to 9 places (parallel float sums differ in the last bit)."""
    fixed = [tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows]
    return sorted(fixed, key=repr)


def snapshot_outputs(lake: Path) -> dict[str, list[tuple]]:
    """Every processed table's rows, sorted (read like a consumer: glob of the published dir)."""
    import duckdb

    out = {}
    con = duckdb.connect()
    for job, tables in JOB_TABLES.items():
        for table in tables:
            pattern = lake / "data/processed" / job / table / "**/*.parquet"
            rows = con.execute(
                f"select * from read_parquet('{pattern}', hive_partitioning = true)"
            ).fetchall()
            out[table] = _normalise(rows)
    con.close()
    return out


def snapshot_marts(lake: Path) -> dict[str, list[tuple]]:
    import duckdb

    con = duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True)
    try:
        return {
            mart: _normalise(con.execute(f"select * from car_rental_analytics.{mart}").fetchall())
            for mart in MARTS
        }
    finally:
        con.close()


def raw_rentals(lake: Path) -> list[dict]:
    rows = []
    for path in sorted((lake / "data/raw/rental_transactions").glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            rows.extend(csv.DictReader(fh))
    return rows


def execution(lake: Path, run_id: str) -> dict:
    return json.loads((lake / "runs" / run_id / "execution.json").read_text())


def alerts(lake: Path, run_id: str) -> list[dict]:
    path = lake / "runs" / run_id / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    from carrental.generate import generate

    lake = tmp_path_factory.mktemp("e2e") / "lake"
    generate(lake, TRANSACTIONS)
    return lake


@pytest.fixture(scope="module")
def good(lake) -> dict:
    proc = carrental("run", "--lake-dir", str(lake), "--run-id", "e2e-1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {
        "proc": proc,
        "outputs": snapshot_outputs(lake),
        "marts": snapshot_marts(lake),
    }


def test_full_run_publishes_outputs_marts_validation_and_run_record(lake, good):
    proc = good["proc"]
    assert "pipeline SUCCEEDED" in proc.stdout
    record = execution(lake, "e2e-1")
    assert record["status"] == "SUCCEEDED"
    validation = record["output"]["validation"]
    assert validation["row_counts"]["all_tables_non_empty"] == "true"
    assert validation["reconciliation"]["reconciled"] == "true"
    # independent expectation from the raw CSV (the generator's default data is clean)
    raw = raw_rentals(lake)
    assert int(validation["reconciliation"]["fact_rentals"]) == len(raw)
    expected_revenue = sum(float(row["total_amount"]) for row in raw)
    assert float(validation["reconciliation"]["fact_revenue"]) == pytest.approx(expected_revenue)
    assert all(good["marts"][mart] for mart in MARTS)
    history = json.loads((lake / "runs/e2e-1/history.json").read_text())["events"]
    assert history[-1]["type"] == "ExecutionSucceeded"
    for job in JOB_TABLES:
        manifest = json.loads((lake / f"runs/e2e-1/manifests/{job}.json").read_text())
        assert manifest["status"] == "SUCCEEDED"
    assert not (lake / ".carrental.lock").exists()


def test_repeat_run_gives_identical_outputs(lake, good):
    proc = carrental("run", "--lake-dir", str(lake), "--run-id", "e2e-2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert snapshot_outputs(lake) == good["outputs"]
    assert snapshot_marts(lake) == good["marts"]


def test_transient_error_recovers_by_retry_visible_in_history(lake, good):
    from orchestration.executor import run_local
    from orchestration.executor.bindings import ATHENA_START_QUERY, LocalBindings
    from orchestration.executor.interpreter import TaskFailure

    real = LocalBindings(lake, "e2e-retry")
    failures = {"left": 1}

    def flaky(params, ctx):
        if failures["left"]:
            failures["left"] -= 1
            raise TaskFailure("Athena.TooManyRequestsException", "Rate exceeded")
        return real.athena_start_query(params, ctx)

    def results(params, ctx):
        return real.athena_get_results(params, ctx)

    from orchestration.executor.bindings import ATHENA_GET_RESULTS

    result = run_local(
        lake,
        "e2e-retry",
        from_state="RunRowCountsQuery",
        handler_overrides={ATHENA_START_QUERY: flaky, ATHENA_GET_RESULTS: results},
        wait_factor=0,
    )
    assert result.status == "SUCCEEDED", result.cause
    events = json.loads((lake / "runs/e2e-retry/history.json").read_text())["events"]
    retries = [
        e["taskScheduledEventDetails"]["retry"]
        for e in events
        if e["type"] == "TaskScheduled" and "retry" in e["taskScheduledEventDetails"]
    ]
    assert len(retries) == 1
    assert retries[0]["attempt"] == 1
    assert retries[0]["afterError"] == "Athena.TooManyRequestsException"
    assert 0 <= retries[0]["backoffSeconds"] <= 5  # IntervalSeconds 5, FULL jitter


def test_failing_dbt_test_stops_at_the_quality_gate(lake, good):
    """Duplicate a location_performance file: the key's unique test must fail dbt build."""
    from orchestration.executor import run_local

    table = lake / "data/processed/vehicle_location_performance/location_performance"
    source = sorted(p for p in table.rglob("*.parquet") if not p.name.startswith(("_", ".")))[0]
    injected = source.with_name("part-injected-duplicate.parquet")
    shutil.copy(source, injected)
    try:
        result = run_local(lake, "e2e-dbt", from_state="RunDbtBuild", wait_factor=0)
    finally:
        injected.unlink()
    assert result.status == "FAILED"
    assert result.error == "DataQualityGateFailed"
    assert "CodeBuild.BuildFailed" in result.cause
    assert "location" in result.cause  # the failed node names the model/test
    [alert] = alerts(lake, "e2e-dbt")
    assert "DataQualityGateFailed" in alert["message"] and "e2e-dbt" in alert["message"]


def test_spark_job_that_raises_fails_its_branch_only(lake, good):
    from orchestration.executor import run_local
    from orchestration.executor.bindings import EMR_START_JOB_RUN, LocalBindings

    real = LocalBindings(lake, "e2e-raise")

    def vehicle_job_raises(params, ctx):
        if params["JobDriver"]["SparkSubmit"]["EntryPoint"].endswith(
            "vehicle_location_performance.py"
        ):
            raise RuntimeError("injected crash in the Spark driver")
        return real.emr_start_job_run(params, ctx)

    try:
        result = run_local(
            lake,
            "e2e-raise",
            handler_overrides={EMR_START_JOB_RUN: vehicle_job_raises},
            wait_factor=0,
        )
    finally:
        real.close()  # the driver its Spark task started
    assert result.error == "VehicleLocationJobFailed"
    assert "injected crash" in result.cause
    [alert] = alerts(lake, "e2e-raise")
    assert "VehicleLocationJob" in alert["message"] and "injected crash" in alert["message"]
    events = json.loads((lake / "runs/e2e-raise/history.json").read_text())["events"]
    entered = {
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    }
    assert "RunCrawlers" not in entered and "RunDbtBuild" not in entered
    assert snapshot_marts(lake) == good["marts"]  # the last good marts are untouched


def test_corrupt_vehicles_csv_fails_before_touching_outputs(lake, good):
    folder = lake / "data/raw/vehicles"
    originals = {p: p.read_bytes() for p in folder.glob("*.csv")}
    path = sorted(originals)[0]
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    drop = rows[0].index("brand")
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([r[:drop] + r[drop + 1 :] for r in rows])
    try:
        proc = carrental("run", "--lake-dir", str(lake), "--run-id", "e2e-corrupt")
    finally:
        for p, data in originals.items():
            p.write_bytes(data)
    assert proc.returncode == 3  # a bad input file, as `carrental spark` exits for it
    record = execution(lake, "e2e-corrupt")
    assert record["error"] == "ValidateInputsFailed"  # validated once: no KPI job started
    assert record["error"] in proc.stderr
    assert path.name in proc.stderr and "brand" in proc.stderr  # the file and the column
    texts = " ".join(a["message"] for a in alerts(lake, "e2e-corrupt"))
    assert "vehicles" in texts and "brand" in texts
    assert snapshot_outputs(lake) == good["outputs"]
    assert snapshot_marts(lake) == good["marts"]


def test_killed_run_leaves_outputs_readable_and_next_run_completes(lake, good):
    env = {**os.environ, "CARRENTAL_WAIT_FACTOR": "0"}
    victim = subprocess.Popen(
        [_cli(), "run", "--lake-dir", str(lake), "--run-id", "e2e-killed"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    logs = lake / "runs/e2e-killed/logs"
    deadline = time.monotonic() + 600
    while not logs.exists() and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.5)
    time.sleep(5)  # let spark-submit get going
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(60)
    assert (lake / ".carrental.lock").exists()  # left behind by the killed run
    assert snapshot_outputs(lake) == good["outputs"]  # still readable, still the last good
    proc = carrental("run", "--lake-dir", str(lake), "--run-id", "e2e-after-kill")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "stale" in proc.stderr
    assert snapshot_outputs(lake) == good["outputs"]
    assert snapshot_marts(lake) == good["marts"]


def test_duckdb_engine_runs_the_same_state_machine_to_the_same_marts(lake, good):
    """`carrental run --engine duckdb`: the same state machine, the jobs on DuckDB (sqlframe),
    then the same crawler and dbt build; the tables and marts equal the Spark run's."""
    proc = carrental("run", "--lake-dir", str(lake), "--run-id", "e2e-duckdb", "--engine", "duckdb")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert execution(lake, "e2e-duckdb")["status"] == "SUCCEEDED"
    for job in JOB_TABLES:
        manifest = json.loads((lake / f"runs/e2e-duckdb/manifests/{job}.json").read_text())
        assert (manifest["engine"], manifest["status"]) == ("duckdb", "SUCCEEDED")
    assert snapshot_outputs(lake) == good["outputs"]
    assert snapshot_marts(lake) == good["marts"]
