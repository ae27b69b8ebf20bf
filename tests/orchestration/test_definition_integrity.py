"""Structure of the CarRentalDataPipeline definition (the file AWS and the executor both run)."""

from __future__ import annotations

import json
import re

import pytest

from orchestration.executor.bindings import LOCAL_BINDINGS, LOCAL_SUBSTITUTIONS
from orchestration.executor.definition import (
    DEFINITION_PATH,
    PLACEHOLDERS,
    iter_states,
    load_text,
    placeholders_in,
)

RAW = json.loads(load_text())

# Error names that describe a deterministic failure: retrying cannot help.
DETERMINISTIC = {
    "States.ALL",
    "States.TaskFailed",
    "States.Runtime",
    "States.Permissions",
    "States.DataLimitExceeded",
    "States.ResultPathMatchFailure",
    "CodeBuild.BuildFailed",
    "Glue.CrawlFailed",
    "Glue.EntityNotFoundException",
    "ValidateInputsFailed",
    "VehicleLocationJobFailed",
    "UserTransactionJobFailed",
    "VehicleLocationCrawlerFailed",
    "UserTransactionCrawlerFailed",
    "DataQualityGateFailed",
    "ValidationQueryFailed",
    "RunAlreadyInProgress",
    "RunGuardFailed",
}
TRANSIENT = re.compile(
    r"Throttl|TooManyRequests|InternalServer|InternalService|InternalError|OperationTimeout"
    r"|CrawlerRunning|AccountLimitExceeded|^States\.Timeout$"
)
FAIL_ERRORS = {
    "ValidateInputsFailed",
    "VehicleLocationJobFailed",
    "UserTransactionJobFailed",
    "VehicleLocationCrawlerFailed",
    "UserTransactionCrawlerFailed",
    "DataQualityGateFailed",
    "ValidationQueryFailed",
    "RunAlreadyInProgress",
    "RunGuardFailed",
}


def _scopes(machine: dict):
    yield machine
    for state in machine["States"].values():
        for branch in state.get("Branches", ()):
            yield from _scopes(branch)


def _targets(state: dict) -> list[str]:
    out = [state["Next"]] if "Next" in state else []
    out += [c["Next"] for c in state.get("Catch", [])]
    out += [c["Next"] for c in state.get("Choices", [])]
    if "Default" in state:
        out.append(state["Default"])
    return out


def test_file_is_named_and_parses():
    assert DEFINITION_PATH.name == "car_rental_pipeline.asl.json"
    assert RAW["StartAt"] in RAW["States"]


@pytest.mark.parametrize("scope", list(_scopes(RAW)), ids=lambda s: s["StartAt"])
def test_every_next_exists_and_no_state_is_unreachable(scope):
    states = scope["States"]
    assert scope["StartAt"] in states
    seen, todo = set(), [scope["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for target in _targets(states[name]):
            assert target in states, f"{name} -> missing state {target}"
            todo.append(target)
    assert set(states) == seen, f"unreachable: {sorted(set(states) - seen)}"


def test_state_names_are_unique_across_branches():
    names = [name for _, name, _ in iter_states(RAW)]
    assert len(names) == len(set(names))


def test_every_non_terminal_state_has_a_way_on():
    for _, name, state in iter_states(RAW):
        if state["Type"] in ("Succeed", "Fail"):
            continue
        if state["Type"] == "Choice":
            assert state.get("Choices") and "Default" in state, name
        else:
            assert ("Next" in state) != bool(state.get("End")), name


def test_every_task_has_retry_and_catch():
    tasks = [(n, s) for _, n, s in iter_states(RAW) if s["Type"] == "Task"]
    assert len(tasks) >= 11
    for name, state in tasks:
        assert state.get("Retry"), f"{name} has no Retry"
        assert state.get("Catch"), f"{name} has no Catch"
        assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"]), name


def test_retry_lists_only_transient_errors_with_backoff_and_jitter():
    for _, name, state in iter_states(RAW):
        for retrier in state.get("Retry", []):
            for error in retrier["ErrorEquals"]:
                assert error not in DETERMINISTIC, f"{name} retries deterministic {error}"
                assert TRANSIENT.search(error), f"{name} retries {error}: not a transient name"
            assert retrier["BackoffRate"] > 1
            assert retrier["MaxDelaySeconds"] >= retrier["IntervalSeconds"]
            assert retrier["JitterStrategy"] == "FULL"


def test_every_placeholder_is_a_known_one_and_bound_locally():
    used = placeholders_in(load_text())
    assert used == set(PLACEHOLDERS)
    assert set(LOCAL_SUBSTITUTIONS) == set(PLACEHOLDERS)


def test_every_resource_has_a_local_binding():
    resources = {s["Resource"] for _, _, s in iter_states(RAW) if s["Type"] == "Task"}
    assert resources == set(LOCAL_BINDINGS)


#: the errors a Parallel branch ends with (a Pass state) and its Check… Choice re-raises
BRANCH_ERRORS = {
    "VehicleLocationJobFailed",
    "UserTransactionJobFailed",
    "VehicleLocationCrawlerFailed",
    "UserTransactionCrawlerFailed",
}


def test_fail_states_carry_the_specific_error_names_after_a_notify_task():
    fails = {s.get("Error") for _, _, s in iter_states(RAW) if s["Type"] == "Fail"}
    assert fails >= FAIL_ERRORS - BRANCH_ERRORS | {"PipelineFailed"}
    states = {n: s for _, n, s in iter_states(RAW)}
    for error in BRANCH_ERRORS:
        record = states[f"Record{error.removesuffix('Failed')}Failure"]
        assert record["Type"] == "Pass" and record["End"] is True
        assert record["Parameters"] == {
            "failed": True,
            "Error": error,
            "Cause.$": "States.JsonToString($.failure)",
        }
    for error in FAIL_ERRORS:
        notify = states[f"Notify{error}"]
        assert notify["Resource"] == "arn:aws:states:::sns:publish"
        ends = f"Record{error.removesuffix('Failed')}Failure" if error in BRANCH_ERRORS else error
        assert notify["Next"] == ends
        message = notify["Parameters"]["Message.$"]
        for needle in ("$.args.run_id", "$.failure", error):
            assert needle in message


@pytest.mark.parametrize(
    ("parallel", "check", "result", "picked", "fail", "default"),
    [
        (
            "RunSparkJobs",
            "CheckSparkJobs",
            "spark_jobs",
            "failed_job",
            "SparkJobsFailed",
            "RunCrawlers",
        ),
        (
            "RunCrawlers",
            "CheckCrawlers",
            "crawlers",
            "failed_crawler",
            "CrawlersFailed",
            "RunDbtBuild",
        ),
    ],
)
def test_a_failed_branch_does_not_stop_its_parallel(parallel, check, result, picked, fail, default):
    """A failed branch would stop the Parallel state: Step Functions would cancel the other
    KPI job's EMR run, or stop polling the other crawler, and that one's failure would go
    unreported. Each branch ends in a Pass state instead, and the Check… Choice re-raises the
    first failed branch's error through a Fail state once both have ended."""
    states = RAW["States"]
    branches = states[parallel]
    for branch in branches["Branches"]:
        assert not [n for n, s in branch["States"].items() if s["Type"] == "Fail"]
    assert branches["Next"] == check and branches["ResultPath"] == f"$.{result}"
    assert [c["Next"] for c in branches["Catch"]] == ["NotifyPipelineFailed"]
    choice = states[check]
    assert choice["Default"] == default and len(choice["Choices"]) == 2
    for i, rule in enumerate(choice["Choices"]):
        assert rule == {"Variable": f"$.{result}[{i}].failed", "IsPresent": True} | {
            "Next": rule["Next"]
        }
        pick = states[rule["Next"]]
        # not "$.spark_jobs[i].Error": moto's interpreter gives a list for an indexed path
        assert pick["Parameters"] == {"branch.$": f"States.ArrayGetItem($.{result}, {i})"}
        assert (pick["ResultPath"], pick["Next"]) == (f"$.{picked}", fail)
    assert (states[fail]["ErrorPath"], states[fail]["CausePath"]) == (
        f"$.{picked}.branch.Error",
        f"$.{picked}.branch.Cause",
    )


def test_top_level_parallels_catch_everything():
    for name in ("RunSparkJobs", "RunCrawlers"):
        catches = RAW["States"][name]["Catch"]
        assert catches[-1]["ErrorEquals"] == ["States.ALL"]
        assert catches[-1]["Next"] == "NotifyPipelineFailed"


def test_validation_runs_once_before_both_kpi_jobs():
    """ValidateInputs runs after the input is normalised and the run guard, and before
    RunSparkJobs; if it fails, its Catch alerts and fails the run, so neither KPI job starts."""
    states = RAW["States"]
    assert states["MergeInput"]["Next"] == "ListRunningExecutions"
    validate = states["ValidateInputs"]
    assert validate["Next"] == "RunSparkJobs"
    assert [c["Next"] for c in validate["Catch"]] == ["NotifyValidateInputsFailed"]
    assert states["NotifyValidateInputsFailed"]["Next"] == "ValidateInputsFailed"
    assert states["ValidateInputsFailed"]["Type"] == "Fail"
    branches = [b["StartAt"] for b in states["RunSparkJobs"]["Branches"]]
    assert branches == ["VehicleLocationJob", "UserTransactionJob"]


def test_no_job_starts_before_the_run_guard_lets_the_run_through():
    """Every way from the start to ValidateInputs (the first job) passes the guard: an empty
    list of running executions, or this execution being the oldest of them. The guard's other
    ways end in their own Fail states after an alert."""
    states = RAW["States"]
    into_validate = {
        (name, target)
        for name, state in states.items()
        for target in _targets(state)
        if target == "ValidateInputs"
    }
    assert into_validate == {("AnyRunListed", "ValidateInputs"), ("IsOldestRun", "ValidateInputs")}
    [empty] = states["AnyRunListed"]["Choices"]
    assert (empty["Variable"], empty["NumericEquals"]) == ("$.concurrency.count", 0)
    [oldest] = states["IsOldestRun"]["Choices"]
    assert oldest["StringEqualsPath"] == "$.concurrency.this_run"
    assert states["FindOldestRun"]["Parameters"]["this_run.$"] == "$$.Execution.Name"
    assert oldest["Variable"] == "$.concurrency.oldest.Name"
    listing = states["ListRunningExecutions"]
    assert listing["Parameters"]["StateMachineArn.$"] == "$$.StateMachine.Id"
    assert listing["Parameters"]["StatusFilter"] == "RUNNING"
    assert states["IsOldestRun"]["Default"] == "OlderRunStillRunning"
    assert states["OlderRunStillRunning"]["Next"] == "NotifyRunAlreadyInProgress"
    assert [c["Next"] for c in listing["Catch"]] == ["NotifyRunGuardFailed"]


def test_emr_tasks_match_the_job_cli():
    states = {n: s for _, n, s in iter_states(RAW)}
    for task, job, inputs in (
        ("ValidateInputs", "validate_inputs", ""),
        ("VehicleLocationJob", "vehicle_location_performance", ", '--inputs', 'validated'"),
        ("UserTransactionJob", "user_transaction_analysis", ", '--inputs', 'validated'"),
    ):
        params = states[task]["Parameters"]
        assert states[task]["Resource"] == "arn:aws:states:::emr-serverless:startJobRun.sync"
        assert params["ClientToken.$"] == "States.UUID()"
        assert isinstance(params["ExecutionTimeoutMinutes"], int)
        driver = params["JobDriver"]["SparkSubmit"]
        assert driver["EntryPoint"] == f"s3://${{DataBucket}}/${{ArtifactsPrefix}}/jobs/{job}.py"
        assert (
            "--py-files s3://${DataBucket}/${ArtifactsPrefix}/spark_ingest.zip"
            in (driver["SparkSubmitParameters"])
        )
        assert driver["EntryPointArguments.$"] == (
            "States.Array('--raw-root', 's3://${DataBucket}/data/raw', "
            "'--processed-root', 's3://${DataBucket}/data/processed', "
            "'--quarantine-root', 's3://${DataBucket}/data/quarantine', "
            "'--run-id', $.args.run_id, '--runs-root', 's3://${DataBucket}/runs', "
            f"'--mode', $.args.mode{inputs})"
        )
        log_uri = params["ConfigurationOverrides"]["MonitoringConfiguration"][
            "S3MonitoringConfiguration"
        ]["LogUri"]
        assert log_uri.startswith("s3://${DataBucket}/")


def test_crawler_choice_fails_on_failed_or_cancelled_and_bounds_polls():
    states = {n: s for _, n, s in iter_states(RAW)}
    for prefix in ("VehicleLocation", "UserTransaction"):
        choice = json.dumps(states[f"Check{prefix}Crawler"])
        assert "LastCrawl.Status" in choice
        assert '"FAILED"' in choice and '"CANCELLED"' in choice
        assert "NumericGreaterThanEquals" in choice
        assert states[f"Check{prefix}Crawler"]["Default"] == f"{prefix}CrawlerCrawlFailed"


def test_dbt_task_is_codebuild_with_run_id_override():
    task = RAW["States"]["RunDbtBuild"]
    assert task["Resource"] == "arn:aws:states:::codebuild:startBuild.sync"
    assert task["Parameters"]["ProjectName"] == "${DbtCodeBuildProject}"
    override = task["Parameters"]["EnvironmentVariablesOverride"][0]
    assert override["Name"] == "RUN_ID" and override["Value.$"] == "$.args.run_id"
