"""The same definition through moto's ASL interpreter and through the local executor.

Service tasks are replaced (programmatically) by Pass stand-ins that return what the real
service's ResultSelector would keep, or by a Task that fails for real inside moto (S3
getObject on a missing bucket) for the failure scenarios. The local executor runs the
*original* definition with fake handlers that behave the same. Both must visit the same states
(per branch: Parallel interleaving is not deterministic) and end in the same Fail error.
"""

from __future__ import annotations

import copy
import json
import logging
import time

import pytest
from asl_fakes import Fakes

from orchestration.executor.definition import iter_states
from orchestration.executor.interpreter import Executor, TaskFailure

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

FAILING_RESOURCE = "arn:aws:states:::aws-sdk:s3:getObject"
MOTO_ERROR = "s3.NoSuchBucketException"
ROLE = "arn:aws:iam::123456789012:role/sfn"
OLDER_RUN, NEWER_RUN = "scheduled-older", "manual-newer"

# Scenario -> (stand-in overrides, fake configuration, expected final error)
SCENARIOS = {
    "success": ({}, {}, None),
    "validation_fails": (
        {"ValidateInputs": "fail"},
        {"fail_job": "validate_inputs"},
        "ValidateInputsFailed",
    ),
    "job_a_fails": (
        {"VehicleLocationJob": "fail"},
        {"fail_job": "vehicle_location_performance"},
        "VehicleLocationJobFailed",
    ),
    "job_b_fails": (
        {"UserTransactionJob": "fail"},
        {"fail_job": "user_transaction_analysis"},
        "UserTransactionJobFailed",
    ),
    "both_jobs_fail": (
        {"VehicleLocationJob": "fail", "UserTransactionJob": "fail"},
        {"fail_jobs": ("vehicle_location_performance", "user_transaction_analysis")},
        "VehicleLocationJobFailed",
    ),
    "crawler_failed": (
        {"GetVehicleLocationCrawler": "crawl_failed"},
        {"crawl_status": {"vehicle_location_performance_crawler": "FAILED"}},
        "VehicleLocationCrawlerFailed",
    ),
    "both_crawlers_fail": (
        {"GetVehicleLocationCrawler": "crawl_failed", "GetUserTransactionCrawler": "crawl_failed"},
        {
            "crawl_status": {
                "vehicle_location_performance_crawler": "FAILED",
                "user_transaction_analysis_crawler": "FAILED",
            }
        },
        "VehicleLocationCrawlerFailed",
    ),
    "dbt_gate_fails": ({"RunDbtBuild": "fail"}, {"dbt_fails": True}, "DataQualityGateFailed"),
    "query_fails": ({"RunRowCountsQuery": "fail"}, {"query_fails": True}, "ValidationQueryFailed"),
    "check_false": (
        {"GetRowCountsResults": "false"},
        {"checks_true": False},
        "ValidationQueryFailed",
    ),
    "newer_run_also_running": (
        {"ListRunningExecutions": "newer_run"},
        {"newer_runs": [NEWER_RUN]},
        None,
    ),
    "older_run_still_running": (
        {"ListRunningExecutions": "older_run"},
        {"older_runs": [OLDER_RUN]},
        "RunAlreadyInProgress",
    ),
    "run_guard_fails": ({"ListRunningExecutions": "fail"}, {"list_fails": True}, "RunGuardFailed"),
}


def _running(names: list[str]) -> dict:
    """What ListRunningExecutions' ResultSelector keeps of a ListExecutions answer."""
    arn = "arn:aws:states:us-east-1:123456789012:execution:CarRentalDataPipeline"
    executions = [{"ExecutionArn": f"{arn}:{n}", "Name": n} for n in names]
    return {"executions": executions, "count": len(executions)}


def _stand_in_result(name: str, state: dict, override: str | None, execution: str):
    resource = state["Resource"]
    if resource.endswith("listExecutions"):  # newest first
        newer = [NEWER_RUN] if override == "newer_run" else []
        older = [OLDER_RUN] if override == "older_run" else []
        return _running([*newer, execution, *older])
    if resource.endswith("getCrawler"):
        status = "FAILED" if override == "crawl_failed" else "SUCCEEDED"
        return {"Crawler": {"Name": name, "State": "READY", "LastCrawl": {"Status": status}}}
    if resource.endswith("getQueryResults"):
        keys = [key[:-2] for key in state["ResultSelector"]]
        return {key: "false" if override == "false" else "true" for key in keys}
    return {
        "arn:aws:states:::emr-serverless:startJobRun.sync": {"JobRunId": "jr-1"},
        "arn:aws:states:::codebuild:startBuild.sync": {"BuildId": "b", "BuildStatus": "SUCCEEDED"},
        "arn:aws:states:::athena:startQueryExecution.sync": {"QueryExecutionId": "q-1"},
    }.get(resource, {})


def stand_ins(definition: dict, overrides: dict[str, str], execution: str) -> dict:
    """Copy of ``definition`` whose service Tasks moto cannot run become stand-ins, for an
    execution named ``execution``. (moto runs ``aws-sdk:sfn:listExecutions`` only with the
    API's camelCase parameter names; the definition uses the PascalCase that AWS requires.)"""
    out = copy.deepcopy(definition)

    def visit(machine: dict) -> None:
        for name, state in list(machine["States"].items()):
            for branch in state.get("Branches", ()):
                visit(branch)
            if state["Type"] == "Wait":
                state["Seconds"] = 0
            if state["Type"] != "Task":
                continue
            flow = {k: state[k] for k in ("Next", "End", "OutputPath") if k in state}
            if overrides.get(name) == "fail":
                machine["States"][name] = {
                    "Type": "Task",
                    "Resource": FAILING_RESOURCE,
                    "Parameters": {"Bucket": "carrental-no-such-bucket", "Key": "k"},
                    "Retry": state["Retry"],
                    "Catch": state["Catch"],
                    **flow,
                }
                continue
            machine["States"][name] = {
                "Type": "Pass",
                "Result": _stand_in_result(name, state, overrides.get(name), execution),
                "ResultPath": state.get("ResultPath", "$"),
                **flow,
            }

    visit(out)
    return out


@pytest.fixture(autouse=True)
def _quiet_moto():
    """moto logs every ASL failure with a huge repr; the assertions say what matters."""
    logger = logging.getLogger("moto.stepfunctions")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


def run_moto(definition: dict, name: str) -> tuple[str, str | None, list[str]]:
    with moto.mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name="us-east-1")
        arn = client.create_state_machine(
            name="CarRentalDataPipeline", definition=json.dumps(definition), roleArn=ROLE
        )["stateMachineArn"]
        execution = client.start_execution(stateMachineArn=arn, name=name, input="{}")
        deadline = time.monotonic() + 60
        while True:
            desc = client.describe_execution(executionArn=execution["executionArn"])
            if desc["status"] != "RUNNING" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        events = client.get_execution_history(
            executionArn=execution["executionArn"], maxResults=1000
        )["events"]
    names = [
        e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")
    ]
    return desc["status"], desc.get("error"), names


def by_scope(definition: dict, names: list[str]) -> dict[str, list[str]]:
    scope_of = {name: scope for scope, name, _ in iter_states(definition)}
    out: dict[str, list[str]] = {}
    for name in names:
        out.setdefault(scope_of[name], []).append(name)
    return out


def run_local(definition: dict, scenario_fakes: dict, name: str):
    fakes = Fakes()
    for key, value in scenario_fakes.items():
        setattr(fakes, key, value)
    result = Executor(definition, fakes.handlers(), wait_factor=0, sleep=lambda s: None).run(
        {}, name
    )
    names = [
        e["stateEnteredEventDetails"]["name"]
        for e in result.events
        if e["type"].endswith("StateEntered")
    ]
    return result.status, result.error, names


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_moto_and_local_executor_agree(definition, scenario):
    overrides, scenario_fakes, expected_error = SCENARIOS[scenario]
    moto_status, moto_error, moto_names = run_moto(
        stand_ins(definition, overrides, scenario), scenario
    )
    local_status, local_error, local_names = run_local(definition, scenario_fakes, scenario)

    expected_status = "SUCCEEDED" if expected_error is None else "FAILED"
    assert (moto_status, moto_error) == (expected_status, expected_error)
    assert (local_status, local_error) == (expected_status, expected_error)

    # a failed KPI job or crawl ends its own branch: the other branch always runs to its
    # end, in both
    recorded = {f"Record{job}Failure" for job in overrides if job.endswith("Job")} | {
        f"Record{name.removeprefix('Get')}Failure"
        for name, how in overrides.items()
        if how == "crawl_failed"
    }
    for names in (moto_names, local_names):
        if "RunSparkJobs" in names:
            assert {"VehicleLocationJob", "UserTransactionJob"} <= set(names)
        if "RunCrawlers" in names:
            assert {"CheckVehicleLocationCrawler", "CheckUserTransactionCrawler"} <= set(names)
        assert {n for n in names if n.startswith("Record")} == recorded

    moto_scopes = by_scope(definition, moto_names)
    local_scopes = by_scope(definition, local_names)
    failing = set(overrides)
    for scope in set(moto_scopes) | set(local_scopes):
        ours, theirs = local_scopes.get(scope, []), moto_scopes.get(scope, [])
        if scope and failing and not failing & set(theirs):
            # a sibling of the failing branch may be cancelled at any point: prefix only
            shorter, longer = sorted((ours, theirs), key=len)
            assert longer[: len(shorter)] == shorter, scope
        else:
            assert ours == theirs, scope


def test_stand_in_failure_routes_through_catch_in_both(definition):
    """The local executor also runs the stand-in definition itself with the same result."""
    stand_in = stand_ins(definition, {"RunDbtBuild": "fail"}, "x")

    def no_such_bucket(params, ctx):
        raise TaskFailure(MOTO_ERROR, "The specified bucket does not exist")

    result = Executor(stand_in, {FAILING_RESOURCE: no_such_bucket}, wait_factor=0).run({}, "x")
    assert result.error == "DataQualityGateFailed"
    assert json.loads(result.cause)["RunDbtBuild"]["Error"] == MOTO_ERROR
    _, moto_error, moto_names = run_moto(stand_in, "x")
    local_names = [
        e["stateEnteredEventDetails"]["name"]
        for e in result.events
        if e["type"].endswith("StateEntered")
    ]
    assert moto_error == "DataQualityGateFailed"
    assert by_scope(definition, moto_names) == by_scope(definition, local_names)
