"""`carrental run --target aws`: start the deployed state machine on moto and follow it."""

from __future__ import annotations

import json
import re
import sys
import warnings

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.models import stepfunctions_backends

from carrental.errors import UsageError
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
    # a usage error (exit 2), not a ValueError the CLI reports as a crash (exit 1)
    with pytest.raises(RemoteRunError, match="invalid run id"):
        run_remote("s", REGION, "../etc", session=object(), progress=lambda _m: None)


@pytest.fixture
def no_aws_region(monkeypatch, tmp_path):
    """No region anywhere: no AWS_DEFAULT_REGION / AWS_REGION, no profile, no config file."""
    for name in (
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _cli(monkeypatch, *args: str) -> int:
    from carrental import console
    from carrental.cli import main

    monkeypatch.setattr(console.MODE, "quiet", False)
    monkeypatch.setattr(console.MODE, "json", False)
    monkeypatch.setattr(sys, "argv", ["carrental", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code


def test_run_without_a_region_is_a_usage_error(no_aws_region, monkeypatch, capsys):
    with mock_aws():  # nothing may reach AWS, even if the check were missing
        code = _cli(monkeypatch, "run", "--target", "aws", "--stack-name", "x")
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    assert "no AWS region given" in err
    assert "pass --region" in err and "AWS_DEFAULT_REGION" in err
    assert "NoRegionError" not in err


@pytest.mark.parametrize("region", ["", "eu west 1"])
def test_run_remote_refuses_a_missing_or_malformed_region(no_aws_region, region):
    with mock_aws(), pytest.raises(UsageError) as info:  # exit 2
        run_remote("x", region, "r1", progress=lambda _m: None)
    assert "AWS_DEFAULT_REGION" in info.value.hint


@pytest.mark.parametrize("command", [["deploy", "--bucket", "b"], ["destroy", "--yes"]])
@pytest.mark.parametrize("region", ["", "eu west 1"])
def test_deploy_and_destroy_refuse_an_empty_or_malformed_region(
    no_aws_region, monkeypatch, capsys, command, region
):
    """--region is required by both; an empty or malformed one is exit 2 before any AWS call
    (it used to fail as a ValueError / InvalidRegionError when the first client was made)."""
    monkeypatch.setattr(boto3.Session, "get_credentials", lambda self: object())

    def first_call(**kwargs):
        kwargs["session"].client("cloudformation")
        raise AssertionError("reached AWS with a bad region")

    monkeypatch.setattr("orchestration.aws.deploy.deploy", first_call)
    monkeypatch.setattr("orchestration.aws.deploy.destroy", first_call)
    with mock_aws():
        code = _cli(monkeypatch, command[0], "--stack-name", "x", "--region", region, *command[1:])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    assert "region" in err and "pass --region" in err
