"""`carrental run --target aws`: start the deployed state machine on moto and follow it."""

from __future__ import annotations

import json
import re
import warnings

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.models import stepfunctions_backends

from orchestration.aws import remote
from orchestration.aws.remote import RemoteRunError, run_remote
from orchestration.aws.template import load_template

from .conftest import REGION, asl_text

ACCOUNT = "123456789012"
STACK = "carrental-remote"


def substituted_definition() -> str:
    """The ASL with every ${Name} replaced the way DefinitionSubstitutions would."""
    subs = load_template()["Resources"]["StateMachine"]["Properties"]["DefinitionSubstitutions"]
    fake = {name: f"fake-{name.lower()}" for name in subs}
    fake["ArtifactsPrefix"] = "artifacts/0123456789abcdef"
    fake["DataBucket"] = "carrental-test-lake"
    text = re.sub(r"\$\{(\w+)\}", lambda m: fake[m.group(1)], asl_text())
    assert "${" not in text
    return text


def _deploy_state_machine(session) -> str:
    """A stack whose StateMachineArn output points at the (substituted) real definition."""
    definition = substituted_definition()
    machine = json.loads(definition)
    assert machine["StartAt"] in machine["States"]
    template = {
        "Resources": {
            "StateMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": "dev-CarRentalDataPipeline",
                    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/dev-carrental-states",
                    "DefinitionString": definition,
                },
            }
        },
        "Outputs": {"StateMachineArn": {"Value": {"Ref": "StateMachine"}}},
    }
    cfn = session.client("cloudformation")
    cfn.create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    arn = cfn.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"][0]["OutputValue"]
    described = session.client("stepfunctions").describe_state_machine(stateMachineArn=arn)
    assert json.loads(described["definition"]) == machine  # the definition loaded intact
    return arn


def _finish_executions_when_polled(monkeypatch, status: str) -> list[float]:
    """moto keeps executions RUNNING; the first poll sleep lets them finish with ``status``."""
    sleeps: list[float] = []

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        for machine in stepfunctions_backends[ACCOUNT][REGION].state_machines:
            for execution in machine.executions:
                execution.status = status

    monkeypatch.setattr(remote.time, "sleep", fake_sleep)
    return sleeps


def test_run_remote_starts_and_follows_an_execution(aws_credentials, monkeypatch, tmp_path):
    sleeps = _finish_executions_when_polled(monkeypatch, "SUCCEEDED")
    lines: list[str] = []
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = boto3.Session(region_name=REGION)
        arn = _deploy_state_machine(session)
        record = run_remote(
            STACK,
            REGION,
            "run-2024-01-01",
            "incremental",
            lake_dir=tmp_path,
            session=session,
            poll_seconds=0.5,
            progress=lines.append,
        )
        executions = session.client("stepfunctions").list_executions(stateMachineArn=arn)
    assert [e["name"] for e in executions["executions"]] == ["run-2024-01-01"]
    assert record["status"] == "SUCCEEDED"
    assert record["name"] == "run-2024-01-01"
    assert record["input"] == {"run_id": "run-2024-01-01", "mode": "incremental"}
    assert sleeps == [0.5]
    assert "-> A State" in lines and "ok A State" in lines  # moto's synthetic history
    history = json.loads((tmp_path / "runs" / "run-2024-01-01" / "history.json").read_text())
    assert [e["type"] for e in history["events"]] == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    execution = json.loads((tmp_path / "runs" / "run-2024-01-01" / "execution.json").read_text())
    assert execution["status"] == "SUCCEEDED" and execution["executionArn"].endswith(
        ":run-2024-01-01"
    )


def test_failed_execution_reports_error_and_cause(aws_credentials, monkeypatch):
    monkeypatch.setenv("SF_EXECUTION_HISTORY_TYPE", "FAILURE")
    _finish_executions_when_polled(monkeypatch, "FAILED")
    lines: list[str] = []
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = boto3.Session(region_name=REGION)
        _deploy_state_machine(session)
        record = run_remote(STACK, REGION, "r1", session=session, progress=lines.append)
    assert record["status"] == "FAILED"
    assert (record["error"], record["cause"]) == ("AnError", "An error occurred!")
    assert any(line.startswith("!! ExecutionFailed: AnError") for line in lines)


def test_missing_stack_or_state_machine_is_a_clear_error(aws_credentials):
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = boto3.Session(region_name=REGION)
        with pytest.raises(RemoteRunError, match="cannot read stack nope") as info:
            run_remote("nope", REGION, "r1", session=session, progress=lambda _m: None)
        assert "carrental deploy" in info.value.hint
        cfn = session.client("cloudformation")
        cfn.create_stack(
            StackName="bootstrap-only",
            TemplateBody=json.dumps(
                {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}}
            ),
        )
        with pytest.raises(RemoteRunError, match="no StateMachineArn"):
            run_remote("bootstrap-only", REGION, "r1", session=session, progress=lambda _m: None)


def test_bad_run_id_is_refused_before_any_call():
    with pytest.raises(ValueError, match="invalid run id"):
        run_remote("s", REGION, "../etc", session=object(), progress=lambda _m: None)
