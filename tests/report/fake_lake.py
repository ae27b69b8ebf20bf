"""Build a small fake lake with runs, history, manifests, quarantine and marts.

Everything is written by hand here (JSON, DuckDB SQL), independent of the report code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

PREVIOUS_RUN = "20240501T060000Z-aaaaaa"
FAILED_RUN = "20240502T060000Z-bbbbbb"
SUCCESS_RUN = "20240503T060000Z-cccccc"

# PII that must never appear in the report.
QUARANTINED_USERS = [
    # user_id, first, last, email, phone, licence, expiry, creation, active, reason
    (
        "U900",
        "Zelda",
        "Quarantino",
        "zelda.quarantino@example.com",
        "555-0199-8888",
        "DLQX998877",
        "2030-01-01",
        "not-a-date",
        "1",
        "INVALID_DATE",
    ),
    (
        "U901",
        "Yorick",
        "Maskworthy",
        "yorick.maskworthy@example.org",
        "555-0111-2222",
        "DLQY112233",
        "2031-02-02",
        "2024-01-01",
        "maybe",
        "INVALID_BOOLEAN",
    ),
]
MALFORMED_USER_LINE = "U902,Xavier,Hiddenfield,xavier.hiddenfield@example.net,555-0123"

ASL = {
    "Comment": "Test copy of the car-rental pipeline",
    "StartAt": "PrepareRun",
    "States": {
        "PrepareRun": {"Type": "Pass", "Next": "ProcessData"},
        "ProcessData": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "VehicleLocationJob",
                    "States": {
                        "VehicleLocationJob": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::emr-serverless:startJobRun.sync",
                            "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "VehicleJobFailed"}],
                            "Next": "CrawlVehicleLocation",
                        },
                        "CrawlVehicleLocation": {"Type": "Task", "Resource": "x", "End": True},
                        "VehicleJobFailed": {"Type": "Fail", "Error": "VehicleJobFailed"},
                    },
                },
                {
                    "StartAt": "UserTransactionJob",
                    "States": {
                        "UserTransactionJob": {
                            "Type": "Task",
                            "Resource": "x",
                            "Next": "WaitCrawl",
                        },
                        "WaitCrawl": {"Type": "Wait", "Seconds": 5, "Next": "GetCrawler"},
                        "GetCrawler": {"Type": "Task", "Resource": "x", "Next": "CrawlDone?"},
                        "CrawlDone?": {
                            "Type": "Choice",
                            "Choices": [
                                {"Variable": "$.s", "StringEquals": "READY", "Next": "UserDone"}
                            ],
                            "Default": "WaitCrawl",
                        },
                        "UserDone": {"Type": "Succeed"},
                    },
                },
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "NotifyFailure"}],
            "Next": "RunDbtBuild",
        },
        "RunDbtBuild": {
            "Type": "Task",
            "Resource": "arn:aws:states:::codebuild:startBuild.sync",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "NotifyFailure"}],
            "Next": "PipelineSucceeded",
        },
        "PipelineSucceeded": {"Type": "Succeed"},
        "NotifyFailure": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Next": "PipelineFailed",
        },
        "PipelineFailed": {"Type": "Fail", "Error": "PipelineFailed"},
    },
}


class History:
    """Append GetExecutionHistory-shaped events with increasing ids and timestamps."""

    def __init__(self, start: datetime):
        self.events: list[dict] = []
        self.now = start

    def add(self, etype: str, seconds: float = 0.0, prev: int | None = None, **details) -> int:
        self.now += timedelta(seconds=seconds)
        event = {
            "id": len(self.events) + 1,
            "previousEventId": prev if prev is not None else len(self.events),
            "timestamp": self.now.isoformat(),
            "type": etype,
        }
        event.update(details)
        self.events.append(event)
        return event["id"]

    def enter(self, state_type: str, name: str, seconds: float = 0.1) -> int:
        return self.add(
            f"{state_type}StateEntered",
            seconds,
            stateEnteredEventDetails={"name": name, "input": "{}"},
        )

    def exit(self, state_type: str, name: str, seconds: float) -> int:
        return self.add(
            f"{state_type}StateExited",
            seconds,
            stateExitedEventDetails={"name": name, "output": "{}"},
        )

    def task(
        self,
        name: str,
        seconds: float,
        fail_first: int = 0,
        fail_all: bool = False,
        error: str = "SparkJobFailed",
        cause: str = "",
    ) -> None:
        self.enter("Task", name)
        attempts = fail_first + 1 if not fail_all else fail_first
        for attempt in range(attempts):
            self.add("TaskScheduled", 0.1)
            self.add("TaskStarted", 0.1)
            failing = fail_all or attempt < fail_first
            if failing:
                self.add(
                    "TaskFailed",
                    seconds / attempts,
                    taskFailedEventDetails={"error": error, "cause": cause},
                )
            else:
                self.add("TaskSucceeded", seconds / attempts)
        self.exit("Task", name, 0.1)


def _write_json(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")


def _history_success(start: datetime, vlp_seconds: float) -> History:
    h = History(start)
    h.add("ExecutionStarted", 0, executionStartedEventDetails={"input": "{}"})
    h.enter("Pass", "PrepareRun")
    h.exit("Pass", "PrepareRun", 0.2)
    h.enter("Parallel", "ProcessData")
    h.task("VehicleLocationJob", vlp_seconds, fail_first=1, cause="executor lost")
    h.task("CrawlVehicleLocation", 4)
    h.task("UserTransactionJob", 30)
    for _ in range(2):
        h.enter("Wait", "WaitCrawl")
        h.exit("Wait", "WaitCrawl", 5)
        h.task("GetCrawler", 1)
        h.enter("Choice", "CrawlDone?")
        h.exit("Choice", "CrawlDone?", 0.1)
    h.enter("Succeed", "UserDone")
    h.exit("Succeed", "UserDone", 0.1)
    h.exit("Parallel", "ProcessData", 0.2)
    h.task("RunDbtBuild", 20)
    h.enter("Succeed", "PipelineSucceeded")
    h.exit("Succeed", "PipelineSucceeded", 0.1)
    h.add("ExecutionSucceeded", 0.1, executionSucceededEventDetails={"output": "{}"})
    return h


DBT_CAUSE = "dbt build failed: 1 test failed: assert_revenue_reconciles"


def _history_failed(start: datetime) -> History:
    """VehicleLocationJob retried then succeeded; RunDbtBuild failed and was caught."""
    h = History(start)
    h.add("ExecutionStarted", 0, executionStartedEventDetails={"input": "{}"})
    h.enter("Pass", "PrepareRun")
    h.exit("Pass", "PrepareRun", 0.2)
    h.enter("Parallel", "ProcessData")
    h.task("VehicleLocationJob", 70, fail_first=1, cause="executor lost")
    h.task("CrawlVehicleLocation", 4)
    h.task("UserTransactionJob", 33)
    h.enter("Wait", "WaitCrawl")
    h.exit("Wait", "WaitCrawl", 5)
    h.task("GetCrawler", 1)
    h.enter("Choice", "CrawlDone?")
    h.exit("Choice", "CrawlDone?", 0.1)
    h.enter("Succeed", "UserDone")
    h.exit("Succeed", "UserDone", 0.1)
    h.exit("Parallel", "ProcessData", 0.2)
    h.task("RunDbtBuild", 25, fail_first=1, fail_all=True, error="DbtTestsFailed", cause=DBT_CAUSE)
    h.task("NotifyFailure", 0.5)
    h.enter("Fail", "PipelineFailed")
    h.add(
        "ExecutionFailed",
        0.1,
        executionFailedEventDetails={"error": "PipelineFailed", "cause": DBT_CAUSE},
    )
    return h


def _execution(run_id: str, history: History, status: str, error=None, cause=None) -> dict:
    return {
        "executionArn": f"arn:aws:states:local:000000000000:execution:CarRentalDataPipeline:{run_id}",
        "name": run_id,
        "status": status,
        "startDate": history.events[0]["timestamp"],
        "stopDate": history.events[-1]["timestamp"],
        "input": json.dumps({"run_id": run_id}),
        "output": None if error else "{}",
        "error": error,
        "cause": cause,
    }


def _manifest(job: str, run_id: str, raw: Path, inputs: dict, outputs: dict, total: float) -> dict:
    return {
        "job": job,
        "run_id": run_id,
        "status": "SUCCEEDED",
        "mode": "full",
        "engine": "spark",
        "started_at": "2024-05-02T06:00:01+00:00",
        "finished_at": "2024-05-02T06:01:10+00:00",
        "inputs": {
            ds: {
                "files": [str(raw / ds / f"{ds}.csv")],
                "rows_read": r,
                "valid": v,
                "rejected": r - v,
                "rejected_by_reason": reasons,
            }
            for ds, (r, v, reasons) in inputs.items()
        },
        "outputs": {t: {"rows": n, "uri": f"lake/{t}"} for t, n in outputs.items()},
        "timings_seconds": {
            "read": total * 0.3,
            "validate": total * 0.3,
            "write": total * 0.4,
            "total": total,
        },
        "reconciled": True,
        "error": None,
    }


def write_manifests(lake: Path, run_id: str, scale: float = 1.0) -> None:
    raw = lake / "data" / "raw"
    vlp = _manifest(
        "vehicle_location_performance",
        run_id,
        raw,
        {
            "vehicles": (50, 50, {}),
            "locations": (25, 25, {}),
            "rental_transactions": (1000, 990, {"NEGATIVE_AMOUNT": 6, "END_BEFORE_START": 4}),
        },
        {"location_performance": 25, "vehicle_type_performance": 6, "rentals_fact": 990},
        60 * scale,
    )
    uta = _manifest(
        "user_transaction_analysis",
        run_id,
        raw,
        {
            "users": (40, 37, {"INVALID_DATE": 1, "INVALID_BOOLEAN": 1, "MALFORMED_ROW": 1}),
            "rental_transactions": (1000, 990, {"NEGATIVE_AMOUNT": 6, "END_BEFORE_START": 4}),
        },
        {
            "user_transaction_summary": 37,
            "overall_transaction_statistics": 1,
            "top_users_by_spending": 37,
        },
        30 * scale,
    )
    _write_json(lake / "runs" / run_id / "manifests" / "vehicle_location_performance.json", vlp)
    _write_json(lake / "runs" / run_id / "manifests" / "user_transaction_analysis.json", uta)


def write_quarantine(lake: Path, run_id: str) -> None:
    folder = (
        lake
        / "data"
        / "quarantine"
        / "users"
        / "job=user_transaction_analysis"
        / f"run_id={run_id}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(
        "create table q (dataset varchar, job varchar, run_id varchar, source_file varchar, "
        "reason_code varchar, reason_codes varchar[], reason_detail varchar, raw_record varchar, "
        "user_id varchar, first_name varchar, last_name varchar, email varchar, "
        "phone_number varchar, driver_license_number varchar, driver_license_expiry varchar, "
        "creation_date varchar, is_active varchar)"
    )
    for u in QUARANTINED_USERS:
        raw_record = ",".join(u[:9])
        con.execute(
            "insert into q values ('users', 'user_transaction_analysis', ?, "
            "'file:///lake/data/raw/users/users.csv', ?, [?], ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, u[9], u[9], f"bad value for user {u[0]}", raw_record, *u[:9]],
        )
    con.execute(
        "insert into q (dataset, job, run_id, source_file, reason_code, reason_codes, "
        "reason_detail, raw_record) values ('users', 'user_transaction_analysis', ?, "
        "'users.csv', 'MALFORMED_ROW', ['MALFORMED_ROW'], 'expected 9 fields, got 5', ?)",
        [run_id, MALFORMED_USER_LINE],
    )
    con.execute(f"copy q to '{folder / 'part-00000.parquet'}' (format parquet)")
    con.close()


def write_dbt_results(lake: Path, run_id: str, failing: bool = True) -> None:
    def node(uid: str, status: str, failures=None, message=None) -> dict:
        return {
            "unique_id": uid,
            "status": status,
            "execution_time": 0.42,
            "failures": failures,
            "message": message,
            "thread_id": "Thread-1",
        }

    _write_json(
        lake / "runs" / run_id / "dbt" / "run_results.json",
        {
            "metadata": {"dbt_version": "1.11.0"},
            "elapsed_time": 12.5,
            "results": [
                node("model.carrental.location_leaderboard", "success"),
                node("model.carrental.business_kpis", "success"),
                node("test.carrental.not_null_location_leaderboard_location_id.abc123", "pass", 0),
                node("test.carrental.unique_location_leaderboard_location_id.def456", "pass", 0),
                node(
                    "test.carrental.assert_revenue_reconciles.0a1b2c",
                    "fail" if failing else "pass",
                    2 if failing else 0,
                    "Got 2 results, configured to fail if != 0" if failing else None,
                ),
            ],
        },
    )


# Marts: 25 locations with revenue 100 * location_id, so the top 20 are ids 25..6.
LOCATION_COUNT = 25
TOTAL_REVENUE = 12345.67


def write_warehouse(lake: Path) -> None:
    con = duckdb.connect(str(lake / "warehouse.duckdb"))
    con.execute("create schema car_rental_analytics")
    con.execute(
        "create table car_rental_analytics.location_leaderboard as "
        "select i as location_id, 'Branch ' || i as location_name, 'City' || (i % 5) as city, "
        "'CA' as state, cast(100 * i as decimal(18, 2)) as total_revenue, "
        "cast(i * 3 as bigint) as total_rentals "
        f"from range(1, {LOCATION_COUNT + 1}) as t(i)"
    )
    con.execute(
        "create table car_rental_analytics.vehicle_type_mix as select * from (values "
        "('economy', 3000.00, 120, 20.5), ('suv', 4500.00, 80, 30.25), "
        "('luxury', 2500.00, 10, 48.0)) as t(vehicle_type, total_revenue, total_rentals, "
        "avg_rental_duration_hours)"
    )
    con.execute(
        "create table car_rental_analytics.daily_business_metrics as "
        "select date '2024-01-01' + cast(i as integer) as rental_date, "
        "cast(200 + 10 * i as decimal(18,2)) as total_revenue, cast(5 + i % 4 as bigint) "
        "as total_rentals from range(0, 30) as t(i)"
    )
    con.execute(
        "create table car_rental_analytics.customer_value_segments as select * from (values "
        "('U1', 'high', 1500.0), ('U2', 'high', 1200.0), ('U3', 'medium', 500.0), "
        "('U4', 'low', 50.0), ('U5', 'low', 20.0), ('U6', 'low', 10.0)) "
        "as t(user_id, value_segment, total_spending)"
    )
    con.execute(
        "create table car_rental_analytics.business_kpis as select "
        f"cast({TOTAL_REVENUE} as decimal(18,2)) as total_revenue, cast(990 as bigint) as "
        "total_rentals, cast(37 as bigint) as active_users, cast(48 as bigint) as "
        "vehicles_rented, 12.47 as avg_rental_value, 26.5 as avg_rental_duration_hours"
    )
    con.close()


def build_fake_lake(lake: Path) -> Path:
    """Three runs: an old success, a failed run (dbt) and a later success."""
    raw = lake / "data" / "raw"
    for ds in ("vehicles", "locations", "users", "rental_transactions"):
        (raw / ds).mkdir(parents=True, exist_ok=True)
        (raw / ds / f"{ds}.csv").write_text("header\n", encoding="utf-8")

    t0 = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
    prev = _history_success(t0, vlp_seconds=50)
    _write_json(lake / "runs" / PREVIOUS_RUN / "history.json", {"events": prev.events})
    _write_json(
        lake / "runs" / PREVIOUS_RUN / "execution.json", _execution(PREVIOUS_RUN, prev, "SUCCEEDED")
    )
    write_manifests(lake, PREVIOUS_RUN, scale=0.8)

    failed = _history_failed(t0 + timedelta(days=1))
    _write_json(lake / "runs" / FAILED_RUN / "history.json", {"events": failed.events})
    _write_json(
        lake / "runs" / FAILED_RUN / "execution.json",
        _execution(FAILED_RUN, failed, "FAILED", "PipelineFailed", DBT_CAUSE),
    )
    write_manifests(lake, FAILED_RUN)
    write_quarantine(lake, FAILED_RUN)
    write_dbt_results(lake, FAILED_RUN)

    ok = _history_success(t0 + timedelta(days=2), vlp_seconds=64)
    _write_json(lake / "runs" / SUCCESS_RUN / "history.json", {"events": ok.events})
    _write_json(
        lake / "runs" / SUCCESS_RUN / "execution.json", _execution(SUCCESS_RUN, ok, "SUCCEEDED")
    )
    write_manifests(lake, SUCCESS_RUN)
    write_quarantine(lake, SUCCESS_RUN)
    write_dbt_results(lake, SUCCESS_RUN, failing=False)
    write_warehouse(lake)
    return lake


def write_asl(path: Path) -> Path:
    _write_json(path, ASL)
    return path
