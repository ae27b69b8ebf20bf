"""The local ASL executor with fake task handlers: control flow, retry, catch, Parallel, Wait."""

from __future__ import annotations

import json
import time

import pytest
from asl_fakes import Fakes, entered

from orchestration.executor import run_local
from orchestration.executor.bindings import (
    CODEBUILD_START_BUILD,
    EMR_START_JOB_RUN,
    GLUE_GET_CRAWLER,
    GLUE_START_CRAWLER,
    SFN_LIST_EXECUTIONS,
    SNS_PUBLISH,
)
from orchestration.executor.definition import DefinitionError, substitute
from orchestration.executor.interpreter import Executor, TaskFailure

VL_CRAWLER = "vehicle_location_performance_crawler"
UT_CRAWLER = "user_transaction_analysis_crawler"


def run(definition, fakes: Fakes, *, sleeps=None, from_state=None, rng=lambda: 0.5):
    sleeps = [] if sleeps is None else sleeps
    executor = Executor(
        definition, fakes.handlers(), wait_factor=0.01, sleep=sleeps.append, rng=rng
    )
    return executor.run({}, "exec-1", from_state=from_state)


def calls_to(fakes: Fakes, resource: str) -> int:
    return sum(1 for r, _ in fakes.calls if r == resource)


def test_success_visits_every_stage_and_captures_validation(definition, fakes):
    result = run(definition, fakes)
    assert result.status == "SUCCEEDED", result.cause
    names = entered(result.events)
    for stage in ("RunSparkJobs", "RunCrawlers", "RunDbtBuild", "CheckValidationResults"):
        assert stage in names
    assert names[-1] == "PipelineSucceeded"
    assert result.output["args"] == {"run_id": "exec-1", "mode": "incremental"}
    assert result.output["validation"]["row_counts"]["all_tables_non_empty"] == "true"
    assert result.output["validation"]["reconciliation"]["reconciled"] == "true"
    assert result.output["dbt"] == {"BuildId": "build-1", "BuildStatus": "SUCCEEDED"}
    assert result.output["crawlers"] == [{"Status": "SUCCEEDED"}] * 2  # each one's LastCrawl
    assert fakes.published() == []


def test_execution_input_overrides_defaults_and_reaches_job_arguments(definition, fakes):
    executor = Executor(definition, fakes.handlers(), wait_factor=0, sleep=lambda s: None)
    result = executor.run({"run_id": "r-42", "mode": "incremental"}, "exec-x")
    assert result.status == "SUCCEEDED"
    emr = [p for r, p in fakes.calls if r == EMR_START_JOB_RUN]
    args = emr[0]["JobDriver"]["SparkSubmit"]["EntryPointArguments"]
    assert args[args.index("--run-id") + 1] == "r-42"
    assert args[args.index("--mode") + 1] == "incremental"
    assert args[args.index("--raw-root") + 1] == "s3://local-lake/data/raw"
    assert len(emr[0]["ClientToken"]) == 36 and emr[0]["ClientToken"] != emr[1]["ClientToken"]
    assert emr[0]["Name"] == "validate_inputs-r-42"  # validated once, before the KPI jobs
    assert {p["Name"] for p in emr[1:]} == {
        "vehicle_location_performance-r-42",
        "user_transaction_analysis-r-42",
    }
    for params in emr[1:]:
        kpi_args = params["JobDriver"]["SparkSubmit"]["EntryPointArguments"]
        assert kpi_args[kpi_args.index("--inputs") + 1] == "validated"
        assert kpi_args[kpi_args.index("--run-id") + 1] == "r-42"  # the validate job's run


def test_validation_failure_stops_both_kpi_jobs(definition, fakes):
    fakes.fail_job = "validate_inputs"
    result = run(definition, fakes)
    assert result.status == "FAILED"
    assert result.error == "ValidateInputsFailed"
    assert "boom" in json.loads(result.cause)["ValidateInputs"]["Cause"]
    [alert] = fakes.published()
    assert "ValidateInputs" in alert["Message"] and "boom" in alert["Message"]
    emr = [p["Name"] for r, p in fakes.calls if r == EMR_START_JOB_RUN]
    assert emr == ["validate_inputs-exec-1"]  # no KPI job started
    assert "RunSparkJobs" not in entered(result.events)


def test_an_older_running_execution_stops_this_one_before_any_job(definition, fakes):
    fakes.older_runs = ["scheduled-0600"]
    result = run(definition, fakes)
    assert (result.status, result.error) == ("FAILED", "RunAlreadyInProgress")
    cause = json.loads(result.cause)["IsOldestRun"]
    assert cause["Error"] == "RunAlreadyInProgress"
    assert "scheduled-0600" in cause["Cause"]
    [listing] = [p for r, p in fakes.calls if r == SFN_LIST_EXECUTIONS]
    assert listing["StatusFilter"] == "RUNNING"
    assert listing["StateMachineArn"].endswith(":stateMachine:CarRentalDataPipeline")
    assert calls_to(fakes, EMR_START_JOB_RUN) == 0
    [alert] = fakes.published()
    assert "RunAlreadyInProgress" in alert["Subject"] and "scheduled-0600" in alert["Message"]


def test_a_newer_running_execution_does_not_stop_the_older_one(definition, fakes):
    fakes.newer_runs = ["manual-1"]
    result = run(definition, fakes)
    assert result.status == "SUCCEEDED", result.cause
    assert calls_to(fakes, EMR_START_JOB_RUN) == 3


def test_an_empty_listing_lets_the_run_through(definition, fakes):
    """ListExecutions is eventually consistent: a run that does not see itself yet sees no
    other run either, and goes on."""
    fakes.list_executions = lambda params, ctx: {"Executions": []}
    result = run(definition, fakes)
    assert result.status == "SUCCEEDED", result.cause
    assert "FindOldestRun" not in entered(result.events)


def test_a_failed_run_guard_alerts_and_starts_no_job(definition, fakes):
    fakes.list_fails = True
    result = run(definition, fakes)
    assert (result.status, result.error) == ("FAILED", "RunGuardFailed")
    assert "states:ListExecutions" in json.loads(result.cause)["ListRunningExecutions"]["Cause"]
    assert calls_to(fakes, SFN_LIST_EXECUTIONS) == 1  # access denied: not retried
    assert calls_to(fakes, EMR_START_JOB_RUN) == 0
    [alert] = fakes.published()
    assert "RunGuardFailed" in alert["Subject"]


def test_job_a_failure_is_caught_alerted_and_named(definition, fakes):
    fakes.fail_job = "vehicle_location_performance"
    result = run(definition, fakes)
    assert result.status == "FAILED"
    assert result.error == "VehicleLocationJobFailed"
    cause = json.loads(result.cause)
    assert cause["VehicleLocationJob"]["Error"] == "States.TaskFailed"
    assert "boom" in cause["VehicleLocationJob"]["Cause"]
    [alert] = fakes.published()
    assert alert["TopicArn"] == "arn:aws:sns:local:000000000000:carrental-alerts"
    assert "exec-1" in alert["Message"] and "VehicleLocationJob" in alert["Message"]
    assert "boom" in alert["Message"]
    assert calls_to(fakes, GLUE_START_CRAWLER) == 0  # nothing downstream ran
    vehicle_calls = [p for r, p in fakes.calls if r == EMR_START_JOB_RUN and "vehicle" in p["Name"]]
    assert len(vehicle_calls) == 1  # deterministic failure: no retry


def test_a_failed_kpi_job_does_not_stop_the_other_one(definition, fakes):
    """Both jobs fail, the user job only after the vehicle job's branch has alerted: a failed
    branch would stop the Parallel state (on AWS: cancel the other EMR run, whose failure
    then goes unreported). Each job ends its own branch, alerts, and the run re-raises the
    first job's error."""
    real = fakes.emr

    def both_fail(params, ctx):
        if "user_transaction" in params["Name"]:
            deadline = time.monotonic() + 10
            while not fakes.published() and time.monotonic() < deadline:
                time.sleep(0.01)
            raise TaskFailure("States.TaskFailed", "user_transaction_analysis FAILED: late")
        if "vehicle_location" in params["Name"]:
            raise TaskFailure("States.TaskFailed", "vehicle_location_performance FAILED: early")
        return real(params, ctx)

    fakes.emr = both_fail
    result = run(definition, fakes)
    assert (result.status, result.error) == ("FAILED", "VehicleLocationJobFailed")
    assert "early" in json.loads(result.cause)["VehicleLocationJob"]["Cause"]
    subjects = sorted(alert["Subject"].rsplit(" ", 1)[1] for alert in fakes.published())
    assert subjects == ["UserTransactionJobFailed", "VehicleLocationJobFailed"]
    assert calls_to(fakes, GLUE_START_CRAWLER) == 0


def test_one_failed_kpi_job_raises_its_own_error(definition, fakes):
    fakes.fail_job = "user_transaction_analysis"
    result = run(definition, fakes)
    assert (result.status, result.error) == ("FAILED", "UserTransactionJobFailed")
    assert "boom" in json.loads(result.cause)["UserTransactionJob"]["Cause"]
    names = entered(result.events)
    assert "PickUserTransactionJobError" in names and "PickVehicleLocationJobError" not in names
    [alert] = fakes.published()
    assert alert["Subject"].endswith("UserTransactionJobFailed")


def test_transient_error_is_retried_with_visible_backoff(definition, fakes):
    failures = {"left": 2}
    real = fakes.emr

    def flaky(params, ctx):
        if "vehicle_location" in params["Name"] and failures["left"]:
            failures["left"] -= 1
            raise TaskFailure("EMRServerless.InternalServerException", "HTTP 500")
        return real(params, ctx)

    handlers = {**fakes.handlers(), EMR_START_JOB_RUN: flaky}
    sleeps: list[float] = []
    executor = Executor(
        definition, handlers, wait_factor=0.01, sleep=sleeps.append, rng=lambda: 0.5
    )
    result = executor.run({}, "exec-1")
    assert result.status == "SUCCEEDED"
    retries = [
        e["taskScheduledEventDetails"]["retry"]
        for e in result.events
        if e["type"] == "TaskScheduled" and "retry" in e["taskScheduledEventDetails"]
    ]
    # IntervalSeconds 30, BackoffRate 2, FULL jitter with rng 0.5: 30*0.5, 60*0.5
    assert retries == [
        {
            "attempt": 1,
            "afterError": "EMRServerless.InternalServerException",
            "backoffSeconds": 15.0,
        },
        {
            "attempt": 2,
            "afterError": "EMRServerless.InternalServerException",
            "backoffSeconds": 30.0,
        },
    ]
    assert sleeps[:2] == pytest.approx([0.15, 0.30])
    assert sum(1 for e in result.events if e["type"] == "TaskFailed") == 2


def test_retry_gives_up_after_max_attempts_and_respects_max_delay(definition, fakes):
    def always_500(params, ctx):
        raise TaskFailure("EMRServerless.ThrottlingException", "slow down")

    handlers = {**fakes.handlers(), EMR_START_JOB_RUN: always_500}
    sleeps: list[float] = []
    executor = Executor(definition, handlers, wait_factor=1, sleep=sleeps.append, rng=lambda: 1.0)
    result = executor.run({}, "exec-1")
    assert result.error == "ValidateInputsFailed"  # the first EMR task: nothing after it ran
    retries = [
        e["taskScheduledEventDetails"]["retry"]["backoffSeconds"]
        for e in result.events
        if e["type"] == "TaskScheduled" and "retry" in e["taskScheduledEventDetails"]
    ]
    # 30, 60, 120 (MaxAttempts 3, MaxDelaySeconds 300 not reached)
    assert retries == [30.0, 60.0, 120.0]


def test_max_delay_caps_backoff():
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "Retry": [
                    {
                        "ErrorEquals": ["X.Throttling"],
                        "IntervalSeconds": 10,
                        "BackoffRate": 3,
                        "MaxAttempts": 3,
                        "MaxDelaySeconds": 25,
                    }
                ],
                "End": True,
            }
        },
    }

    def handler(params, ctx):
        raise TaskFailure("X.Throttling", "")

    sleeps: list[float] = []
    result = Executor(definition, {"r": handler}, wait_factor=1, sleep=sleeps.append).run({}, "e")
    assert sleeps == [10, 25, 25]  # 10, min(30, 25), min(90, 25); no jitter by default
    assert result.error == "X.Throttling"


@pytest.mark.parametrize("which", ["vehicle_location_performance", "user_transaction_analysis"])
def test_crawler_failed_fails_its_branch(definition, fakes, which):
    fakes.crawl_status[f"{which}_crawler"] = "FAILED"
    result = run(definition, fakes)
    prefix = "VehicleLocation" if which.startswith("vehicle") else "UserTransaction"
    assert result.error == f"{prefix}CrawlerFailed"
    assert "Glue.CrawlFailed" in result.cause
    assert f"Pick{prefix}CrawlerError" in entered(result.events)
    assert calls_to(fakes, CODEBUILD_START_BUILD) == 0


def test_a_failed_crawler_does_not_stop_the_other_one(definition, fakes):
    """Both crawls fail, the user one only after the vehicle one's branch has alerted: a failed
    branch would stop the Parallel state and the other crawler's polling, and that crawl's
    failure would go unreported. Each branch alerts and ends; the run re-raises the first
    crawler's error and no dbt build starts."""
    real = fakes.get_crawler

    def late(params, ctx):
        if params["Name"] == UT_CRAWLER:
            deadline = time.monotonic() + 10
            while not fakes.published() and time.monotonic() < deadline:
                time.sleep(0.01)
        return real(params, ctx)

    fakes.get_crawler = late
    fakes.crawl_status = {VL_CRAWLER: "FAILED", UT_CRAWLER: "FAILED"}
    result = run(definition, fakes)
    assert (result.status, result.error) == ("FAILED", "VehicleLocationCrawlerFailed")
    assert "Glue.CrawlFailed" in result.cause
    subjects = sorted(alert["Subject"].rsplit(" ", 1)[1] for alert in fakes.published())
    assert subjects == ["UserTransactionCrawlerFailed", "VehicleLocationCrawlerFailed"]
    assert calls_to(fakes, CODEBUILD_START_BUILD) == 0


def test_crawler_cancelled_also_fails(definition, fakes):
    fakes.crawl_status[VL_CRAWLER] = "CANCELLED"
    assert run(definition, fakes).error == "VehicleLocationCrawlerFailed"


def test_crawler_is_polled_until_ready_with_shortened_waits(definition, fakes):
    fakes.crawl_states[VL_CRAWLER] = ["RUNNING", "RUNNING"]
    sleeps: list[float] = []
    result = run(definition, fakes, sleeps=sleeps)
    assert result.status == "SUCCEEDED"
    gets = [p["Name"] for r, p in fakes.calls if r == GLUE_GET_CRAWLER]
    assert gets.count(VL_CRAWLER) == 3
    assert entered(result.events).count("CountVehicleLocationCrawlerPoll") == 2
    assert sleeps.count(pytest.approx(0.3)) == 4  # 3 VL waits + 1 UT wait, 30 s * 0.01


def test_crawler_poll_limit(definition, fakes):
    fakes.crawl_states[VL_CRAWLER] = ["RUNNING"] * 100
    result = run(definition, fakes)
    assert result.error == "VehicleLocationCrawlerFailed"
    assert "CrawlerPollLimitReached" in result.cause
    gets = [p["Name"] for r, p in fakes.calls if r == GLUE_GET_CRAWLER]
    assert gets.count(VL_CRAWLER) == 61  # counts 0..60 are checked; at 60 it gives up


def test_dbt_gate_failure(definition, fakes):
    fakes.dbt_fails = True
    result = run(definition, fakes)
    assert result.error == "DataQualityGateFailed"
    assert "test.not_null_x" in result.cause
    assert "RunRowCountsQuery" not in entered(result.events)


def test_query_failure_and_false_check(definition, fakes):
    fakes.query_fails = True
    result = run(definition, fakes)
    assert result.error == "ValidationQueryFailed"
    assert "RunRowCountsQuery" in json.loads(result.cause)
    other = Fakes()
    other.checks_true = False
    result = run(definition, other)
    assert result.error == "ValidationQueryFailed"
    assert "CheckValidationResults" in json.loads(result.cause)
    assert "ValidationCheckFalse" in other.published()[0]["Message"]


def test_from_state_skips_earlier_tasks(definition, fakes):
    result = run(definition, fakes, from_state="RunDbtBuild")
    assert result.status == "SUCCEEDED"
    assert calls_to(fakes, SFN_LIST_EXECUTIONS) == 1  # the run guard is never skipped
    assert calls_to(fakes, EMR_START_JOB_RUN) == 0
    assert calls_to(fakes, GLUE_START_CRAWLER) == 0
    assert calls_to(fakes, CODEBUILD_START_BUILD) == 1
    with pytest.raises(DefinitionError, match="not a top-level state"):
        run(definition, fakes, from_state="NoSuchState")


def test_a_resumed_run_still_stops_for_an_older_running_one(definition, fakes):
    fakes.older_runs = ["scheduled-0600"]
    result = run(definition, fakes, from_state="RunDbtBuild")
    assert (result.status, result.error) == ("FAILED", "RunAlreadyInProgress")
    assert calls_to(fakes, CODEBUILD_START_BUILD) == 0


def test_parallel_branch_failure_cancels_siblings():
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Boom",
                        "States": {"Boom": {"Type": "Task", "Resource": "fail", "End": True}},
                    },
                    {
                        "StartAt": "Nap",
                        "States": {
                            "Nap": {"Type": "Wait", "Seconds": 60, "Next": "After"},
                            "After": {"Type": "Task", "Resource": "after", "End": True},
                        },
                    },
                ],
                "End": True,
            }
        },
    }
    called = []

    def fail(params, ctx):
        time.sleep(0.1)
        raise TaskFailure("Boom", "nope")

    handlers = {"fail": fail, "after": lambda p, c: called.append(1)}
    started = time.monotonic()
    result = Executor(definition, handlers, wait_factor=1).run({}, "e")
    assert time.monotonic() - started < 5
    assert result.error == "Boom"
    assert called == []
    assert "WaitStateAborted" in [e["type"] for e in result.events]


def test_choice_rules():
    definition = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.n", "NumericGreaterThan": 5},
                            {"Variable": "$.s", "StringEquals": "x"},
                        ],
                        "Next": "Big",
                    },
                    {"Not": {"Variable": "$.flag", "IsPresent": True}, "Next": "NoFlag"},
                    {"Variable": "$.flag", "BooleanEquals": True, "Next": "Flag"},
                ],
                "Default": "Other",
            },
            "Big": {"Type": "Pass", "Result": "big", "End": True},
            "NoFlag": {"Type": "Pass", "Result": "noflag", "End": True},
            "Flag": {"Type": "Pass", "Result": "flag", "End": True},
            "Other": {"Type": "Fail", "Error": "Other", "Cause": "none matched"},
        },
    }
    executor = Executor(definition, {})
    assert executor.run({"n": 6, "s": "x"}, "e").output == "big"
    assert executor.run({"n": 6, "s": "y"}, "e").output == "noflag"
    assert executor.run({"n": 1, "flag": True}, "e").output == "flag"
    failed = executor.run({"n": 1, "flag": False}, "e")
    assert (failed.error, failed.cause) == ("Other", "none matched")


def test_wait_factor_from_environment(monkeypatch):
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 50, "End": True}}}
    monkeypatch.setenv("CARRENTAL_WAIT_FACTOR", "0.1")
    sleeps: list[float] = []
    Executor(definition, {}, sleep=sleeps.append).run({}, "e")
    assert sleeps == [pytest.approx(5.0)]
    monkeypatch.setenv("CARRENTAL_WAIT_FACTOR", "fast")
    with pytest.raises(DefinitionError):
        Executor(definition, {})


def test_catch_result_path_and_runtime_errors_are_not_caught():
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "ResultSelector": {"x.$": "$.missing"},
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    result = Executor(definition, {"r": lambda p, c: {"present": 1}}).run({"a": 1}, "e")
    assert result.error == "States.Runtime"  # ResultSelector path missing: not catchable

    def bad(params, ctx):
        raise TaskFailure("Some.Error", "why")

    result = Executor(definition, {"r": bad}).run({"a": 1}, "e")
    assert result.output == {"a": 1, "err": {"Error": "Some.Error", "Cause": "why"}}


def test_unknown_resource_and_unbound_placeholder_fail_before_start(definition, fakes):
    definition["States"]["RunDbtBuild"]["Resource"] = "arn:aws:states:::ecs:runTask.sync"
    with pytest.raises(DefinitionError, match=r"ecs:runTask\.sync"):
        Executor(definition, fakes.handlers())
    assert fakes.calls == []
    with pytest.raises(DefinitionError, match="DataBucket"):
        substitute('{"a": "${DataBucket}"}', {})


def test_run_local_writes_history_and_execution_record(tmp_path, fakes):
    fakes.dbt_fails = True
    result = run_local(tmp_path, "run-1", handler_overrides=fakes.handlers(), sleep=lambda s: None)
    assert result.status == "FAILED"
    history = json.loads((tmp_path / "runs/run-1/history.json").read_text())
    types = [e["type"] for e in history["events"]]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionFailed"
    assert [e["id"] for e in history["events"]] == list(range(1, len(types) + 1))
    assert {"TaskScheduled", "TaskSucceeded", "TaskFailed", "ParallelStateStarted"} <= set(types)
    record = json.loads((tmp_path / "runs/run-1/execution.json").read_text())
    assert record["status"] == "FAILED" and record["error"] == "DataQualityGateFailed"
    assert record["name"] == "run-1" and record["input"] == {
        "run_id": "run-1",
        "mode": "incremental",
    }
    assert record["executionArn"].endswith(":execution:CarRentalDataPipeline:run-1")
    for key in ("startDate", "stopDate", "output", "cause"):
        assert key in record
    assert SNS_PUBLISH in {r for r, _ in fakes.calls}
