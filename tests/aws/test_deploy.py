"""`carrental deploy` / `destroy`: change sets against moto, exact API calls with Stubber."""

from __future__ import annotations

import io
import json
import re
import warnings
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.cloudformation.parsing import resource_class_from_type

from orchestration.aws import deploy as deploy_module
from orchestration.aws.deploy import DeployError, deploy, destroy
from orchestration.aws.packaging import build_artifacts
from orchestration.aws.template import TEMPLATE_PATH, glue_database_names, load_template

from .conftest import REGION

BUCKET = "carrental-test-lake"
STACK = "carrental-test"


def _references(node: Any) -> set[str]:
    """Logical ids a template fragment refers to (Ref, GetAtt, ${X} / ${X.Attr} in Sub)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                if not isinstance(value, str):
                    found |= _references(value[1])
            else:
                found |= _references(value)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item)
    return found


def _inline(node: Any, names: dict[str, str]) -> Any:
    """``node`` with every Ref / ${X} of the logical ids in ``names`` replaced by the name."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in names:
            return names[node["Ref"]]
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
            text = node["Fn::Sub"]
            for logical_id, name in names.items():
                text = text.replace(f"${{{logical_id}}}", name)
            return {"Fn::Sub": text}
        return {key: _inline(value, names) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, names) for item in node]
    return node


def moto_subset(template: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The template minus resource types moto cannot create (and whatever refers to them).

    moto has no Glue databases: what refers to them gets the name they would have (that of
    the default environment) instead of the reference."""
    template = _inline(template, glue_database_names("dev", template))
    resources = dict(template["Resources"])
    removed = {
        name for name, res in resources.items() if resource_class_from_type(res["Type"]) is None
    }
    changed = True
    while changed:
        changed = False
        for name, res in list(resources.items()):
            if name not in removed and _references(res) & removed:
                removed.add(name)
                changed = True
    subset = dict(template)
    subset["Resources"] = {k: v for k, v in resources.items() if k not in removed}
    subset["Outputs"] = {
        k: v for k, v in template["Outputs"].items() if not (_references(v) & removed)
    }
    return subset, removed


@pytest.fixture
def bundle(fake_repo: Path, tmp_path: Path):
    return build_artifacts(tmp_path / "out", repo_root=fake_repo)


def test_deploy_drives_change_sets_on_moto(aws_credentials, bundle, tmp_path):
    subset, removed = moto_subset(load_template())
    # What moto cannot model is covered by the Stubber tests below; the rest must deploy.
    assert {"DataBucket", "EmrJobRole", "CrawlerRole", "AlertTopic", "DbtLogGroup"} <= set(
        subset["Resources"]
    )
    assert "EmrApplication" in removed
    template_path = tmp_path / "subset.json"
    template_path.write_text(json.dumps(subset))
    messages: list[str] = []
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = boto3.Session(region_name=REGION)
        result = deploy(
            stack_name=STACK,
            bucket=BUCKET,
            session=session,
            alert_email="ops@example.com",
            bundle=bundle,
            template_path=template_path,
            delay=0.01,
            progress=messages.append,
        )
        assert result.operations == ["CREATE", "UPDATE"]
        # moto fills no Outputs for stacks made by change sets; the Stubber test covers them.
        assert result.artifacts_prefix == bundle.prefix
        s3 = session.client("s3")
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
        assert keys == {
            f"{bundle.prefix}/{name}"
            for name in (
                "jobs/validate_inputs.py",
                "jobs/vehicle_location_performance.py",
                "jobs/user_transaction_analysis.py",
                "spark_ingest.zip",
                "dbt_bundle.zip",
                "statemachine/car_rental_pipeline.asl.json",
                "manifest.json",
            )
        }
        sns = session.client("sns")
        topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
        assert [t.rsplit(":", 1)[1] for t in topics] == ["dev-carrental-alerts"]
        iam = session.client("iam")
        role = iam.get_role(RoleName="dev-carrental-emr-job")["Role"]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
            "Service": "emr-serverless.amazonaws.com"
        }
        params = {
            p["ParameterKey"]: p["ParameterValue"]
            for p in session.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0][
                "Parameters"
            ]
        }
        assert params["ArtifactsPrefix"] == bundle.prefix
        assert params["AlertEmail"] == "ops@example.com"

        # The same sources again: same prefix, and the stack already matches.
        again = deploy(
            stack_name=STACK,
            bucket=BUCKET,
            session=session,
            bundle=bundle,
            template_path=template_path,
            delay=0.01,
        )
        assert again.artifacts_prefix == bundle.prefix
        assert again.operations in (["NO_CHANGES"], ["UPDATE"])  # moto may not diff

        assert destroy(stack_name=STACK, session=session, delay=0.01) is True
        assert destroy(stack_name=STACK, session=session, delay=0.01) is False
    assert any("bootstrapping" in m for m in messages)


def _stack(
    status: str, outputs: dict[str, str] | None = None, parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": STACK,
                "StackStatus": status,
                "CreationTime": "2024-01-01T00:00:00Z",
                "Parameters": [
                    {"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()
                ],
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in (outputs or {}).items()],
            }
        ]
    }


#: The parameters of a stack deployed earlier: the template's, except one it has since
#: dropped (RetiredSetting) and one it has since added (DbtBuildImage).
EXISTING = {
    "EnvironmentName": "dev",
    "BucketName": BUCKET,
    "ArtifactsPrefix": "artifacts/0123456789abcdef",
    "ScheduleExpression": "cron(0 6 * * ? *)",
    "ScheduleTimezone": "Europe/Paris",
    "ScheduleState": "DISABLED",
    "AlertEmail": "ops@example.com",
    "EmrReleaseLabel": "emr-spark-8.0.0",
    "EmrMaximumCpu": "8 vCPU",
    "EmrMaximumMemory": "32 GB",
    "EmrIdleTimeoutMinutes": "5",
    "AthenaBytesScannedCutoff": "10737418240",
    "LogRetentionDays": "14",
    "QuarantineReviewerArn": "",
    "RetiredSetting": "x",
}


class _Session:
    """A session whose clients are the stubbed ones."""

    def __init__(self, **clients):
        self.clients = clients

    def client(self, name: str):
        return self.clients[name]


def test_update_of_existing_stack_makes_exact_calls(aws_credentials, bundle):
    cfn = boto3.client("cloudformation", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    body = TEMPLATE_PATH.read_text()
    with Stubber(cfn) as cfn_stub, Stubber(s3) as s3_stub:
        cfn_stub.add_response(
            "describe_stacks",
            _stack("UPDATE_COMPLETE", parameters=EXISTING),
            {"StackName": STACK},
        )
        for name in bundle.files:
            s3_stub.add_response(
                "put_object",
                {},
                {
                    "Bucket": BUCKET,
                    "Key": f"{bundle.prefix}/{name}",
                    "Body": ANY,
                    "ContentType": ANY,
                    "Metadata": ANY,
                },
            )
        cfn_stub.add_response(
            "create_change_set",
            {"Id": "cs-1", "StackId": "stack-1"},
            {
                "StackName": STACK,
                "ChangeSetName": ANY,
                "ChangeSetType": "UPDATE",
                "TemplateBody": body,
                # Template order. Given: bucket, schedule, EmrMaximumMemory, the new prefix.
                # Every other parameter of the stack keeps its value (ScheduleState stays
                # DISABLED); DbtBuildImage, new in the template, takes its default;
                # RetiredSetting, gone from the template, is not sent.
                "Parameters": [
                    {"ParameterKey": "EnvironmentName", "UsePreviousValue": True},
                    {"ParameterKey": "BucketName", "ParameterValue": BUCKET},
                    {"ParameterKey": "ArtifactsPrefix", "ParameterValue": bundle.prefix},
                    {"ParameterKey": "ScheduleExpression", "ParameterValue": "cron(0 5 * * ? *)"},
                    {"ParameterKey": "ScheduleTimezone", "UsePreviousValue": True},
                    {"ParameterKey": "ScheduleState", "UsePreviousValue": True},
                    {"ParameterKey": "AlertEmail", "UsePreviousValue": True},
                    {"ParameterKey": "EmrReleaseLabel", "UsePreviousValue": True},
                    {"ParameterKey": "EmrMaximumCpu", "UsePreviousValue": True},
                    {"ParameterKey": "EmrMaximumMemory", "ParameterValue": "48 GB"},
                    {"ParameterKey": "EmrIdleTimeoutMinutes", "UsePreviousValue": True},
                    {"ParameterKey": "AthenaBytesScannedCutoff", "UsePreviousValue": True},
                    {"ParameterKey": "LogRetentionDays", "UsePreviousValue": True},
                    {"ParameterKey": "QuarantineReviewerArn", "UsePreviousValue": True},
                ],
                "Capabilities": ["CAPABILITY_NAMED_IAM"],
                "Tags": ANY,
            },
        )
        cfn_stub.add_response(
            "describe_change_set",
            {"Status": "CREATE_COMPLETE", "Changes": [{"Type": "Resource"}]},
            {"StackName": STACK, "ChangeSetName": ANY},
        )
        cfn_stub.add_response("execute_change_set", {}, {"StackName": STACK, "ChangeSetName": ANY})
        cfn_stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": STACK})
        cfn_stub.add_response(
            "describe_stacks",
            _stack("UPDATE_COMPLETE", {"StateMachineArn": "arn:sm"}),
            {"StackName": STACK},
        )
        result = deploy(
            stack_name=STACK,
            bucket=BUCKET,
            session=_Session(cloudformation=cfn, s3=s3),
            schedule="cron(0 5 * * ? *)",
            parameters={"EmrMaximumMemory": "48 GB"},
            bundle=bundle,
            delay=0.01,
        )
        cfn_stub.assert_no_pending_responses()
        s3_stub.assert_no_pending_responses()
    assert result.operations == ["UPDATE"]
    assert result.outputs == {"StateMachineArn": "arn:sm"}


def test_no_changes_deletes_the_change_set(aws_credentials, bundle):
    cfn = boto3.client("cloudformation", region_name=REGION)
    with Stubber(cfn) as stub:
        stub.add_response("create_change_set", {"Id": "cs"}, None)
        stub.add_response(
            "describe_change_set",
            {
                "Status": "FAILED",
                "StatusReason": "The submitted information didn't contain changes.",
            },
            None,
        )
        stub.add_response("delete_change_set", {}, {"StackName": STACK, "ChangeSetName": "cs-name"})
        outcome = deploy_module.apply_change_set(
            cfn, STACK, "{}", [], change_set_type="UPDATE", name="cs-name", delay=0.01
        )
        stub.assert_no_pending_responses()
    assert outcome == "NO_CHANGES"


def test_broken_stack_is_refused_before_any_upload(aws_credentials, bundle):
    cfn = boto3.client("cloudformation", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    with Stubber(cfn) as stub, Stubber(s3):
        stub.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"), {"StackName": STACK})
        with pytest.raises(DeployError, match="ROLLBACK_COMPLETE") as info:
            deploy(
                stack_name=STACK,
                bucket=BUCKET,
                session=_Session(cloudformation=cfn, s3=s3),
                bundle=bundle,
            )
    assert "carrental destroy" in info.value.hint


def test_destroy_asks_for_confirmation(monkeypatch):
    from typer.testing import CliRunner

    from carrental.cli import app

    called: list[str] = []
    monkeypatch.setattr(
        "orchestration.aws.deploy.destroy", lambda **kw: called.append(kw["stack_name"]) or True
    )
    monkeypatch.setattr("carrental.commands.deploy._session", lambda region: object())
    runner = CliRunner()
    declined = runner.invoke(
        app, ["destroy", "--stack-name", STACK, "--region", REGION], input="n\n"
    )
    assert declined.exit_code != 0 and called == []
    accepted = runner.invoke(app, ["destroy", "--stack-name", STACK, "--region", REGION, "--yes"])
    assert accepted.exit_code == 0, accepted.output
    assert called == [STACK]


def test_help_has_examples():
    from typer.testing import CliRunner

    from carrental.cli import app

    for command in ("deploy", "destroy", "package"):
        out = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert out.exit_code == 0
        assert "Examples:" in out.output, command
    assert io  # keep the import for readers of the stubbed bodies


def test_first_deploy_bootstraps_then_uploads_then_updates(aws_credentials, bundle):
    """The full template (which moto cannot create) through the exact call sequence."""
    cfn = boto3.client("cloudformation", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    body = TEMPLATE_PATH.read_text()
    calls: list[str] = []
    cfn.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    s3.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    with Stubber(cfn) as cfn_stub, Stubber(s3) as s3_stub:
        cfn_stub.add_client_error(
            "describe_stacks",
            "ValidationError",
            f"Stack with id {STACK} does not exist",
            expected_params={"StackName": STACK},
        )
        for change_set_type, prefix, params in (
            ("CREATE", "", None),
            ("UPDATE", bundle.prefix, None),
        ):
            if change_set_type == "UPDATE":
                for name in bundle.files:
                    s3_stub.add_response(
                        "put_object",
                        {},
                        {
                            "Bucket": BUCKET,
                            "Key": f"{bundle.prefix}/{name}",
                            "Body": ANY,
                            "ContentType": ANY,
                            "Metadata": ANY,
                        },
                    )
                # The bootstrap stack has every parameter: all but the given ones keep
                # their (bootstrap) values.
                params = [
                    {"ParameterKey": "EnvironmentName", "ParameterValue": "prod"},
                    {"ParameterKey": "BucketName", "ParameterValue": BUCKET},
                    {"ParameterKey": "ArtifactsPrefix", "ParameterValue": prefix},
                    {"ParameterKey": "ScheduleExpression", "UsePreviousValue": True},
                    {"ParameterKey": "ScheduleTimezone", "UsePreviousValue": True},
                    {"ParameterKey": "ScheduleState", "ParameterValue": "DISABLED"},
                    {"ParameterKey": "AlertEmail", "UsePreviousValue": True},
                    {"ParameterKey": "EmrReleaseLabel", "UsePreviousValue": True},
                    {"ParameterKey": "EmrMaximumCpu", "UsePreviousValue": True},
                    {"ParameterKey": "EmrMaximumMemory", "UsePreviousValue": True},
                    {"ParameterKey": "EmrIdleTimeoutMinutes", "UsePreviousValue": True},
                    {"ParameterKey": "AthenaBytesScannedCutoff", "UsePreviousValue": True},
                    {"ParameterKey": "LogRetentionDays", "UsePreviousValue": True},
                    {"ParameterKey": "DbtBuildImage", "UsePreviousValue": True},
                    {"ParameterKey": "QuarantineReviewerArn", "UsePreviousValue": True},
                ]
            else:
                params = [
                    {"ParameterKey": "EnvironmentName", "ParameterValue": "prod"},
                    {"ParameterKey": "BucketName", "ParameterValue": BUCKET},
                    {"ParameterKey": "ArtifactsPrefix", "ParameterValue": ""},
                    {"ParameterKey": "ScheduleState", "ParameterValue": "DISABLED"},
                ]
            cfn_stub.add_response(
                "create_change_set",
                {"Id": f"cs-{change_set_type}"},
                {
                    "StackName": STACK,
                    "ChangeSetName": ANY,
                    "ChangeSetType": change_set_type,
                    "TemplateBody": body,
                    "Parameters": params,
                    "Capabilities": ["CAPABILITY_NAMED_IAM"],
                    "Tags": ANY,
                },
            )
            cfn_stub.add_response(
                "describe_change_set",
                {"Status": "CREATE_COMPLETE", "Changes": []},
                {"StackName": STACK, "ChangeSetName": ANY},
            )
            cfn_stub.add_response(
                "execute_change_set", {}, {"StackName": STACK, "ChangeSetName": ANY}
            )
            done = "CREATE_COMPLETE" if change_set_type == "CREATE" else "UPDATE_COMPLETE"
            cfn_stub.add_response("describe_stacks", _stack(done), {"StackName": STACK})
        cfn_stub.add_response(
            "describe_stacks",
            _stack("UPDATE_COMPLETE", {"StateMachineArn": "arn:sm", "DataBucketName": BUCKET}),
            {"StackName": STACK},
        )
        result = deploy(
            stack_name=STACK,
            bucket=BUCKET,
            session=_Session(cloudformation=cfn, s3=s3),
            environment="prod",
            parameters={"ScheduleState": "DISABLED"},
            bundle=bundle,
            delay=0.01,
        )
        cfn_stub.assert_no_pending_responses()
        s3_stub.assert_no_pending_responses()
    assert result.operations == ["CREATE", "UPDATE"]
    assert result.outputs["StateMachineArn"] == "arn:sm"
    uploads = [i for i, c in enumerate(calls) if c == "PutObject"]
    executes = [i for i, c in enumerate(calls) if c == "ExecuteChangeSet"]
    # Uploads happen after the bootstrap stack exists and before the update that reads them.
    assert executes[0] < uploads[0] and uploads[-1] < executes[1]


def test_deploy_without_credentials_is_an_environment_problem(monkeypatch):
    from typer.testing import CliRunner

    from carrental.cli import app

    monkeypatch.setattr(boto3.Session, "get_credentials", lambda self: None)
    out = CliRunner().invoke(
        app, ["deploy", "--stack-name", STACK, "--region", REGION, "--bucket", BUCKET]
    )
    assert out.exit_code != 0
    assert "no AWS credentials" in str(out.exception)
    assert out.exception.exit_code == 4


def _stack_parameters(session: Any) -> dict[str, str]:
    stack = session.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def test_an_update_keeps_every_parameter_it_was_not_given_on_moto(
    aws_credentials, bundle, tmp_path
):
    """A schedule disabled at one deploy stays disabled through the next one, which only
    changes the idle timeout (before, every parameter not given fell back to its default)."""
    subset, _ = moto_subset(load_template())
    template_path = tmp_path / "subset.json"
    template_path.write_text(json.dumps(subset))
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = boto3.Session(region_name=REGION)
        common = {
            "stack_name": STACK,
            "bucket": BUCKET,
            "session": session,
            "bundle": bundle,
            "template_path": template_path,
            "delay": 0.01,
        }
        deploy(
            **common,
            environment="prod",
            parameters={"ScheduleState": "DISABLED", "LogRetentionDays": "14"},
        )
        first = _stack_parameters(session)
        assert first["ScheduleState"] == "DISABLED" and first["LogRetentionDays"] == "14"
        assert first["EnvironmentName"] == "prod"

        result = deploy(**common, parameters={"EmrIdleTimeoutMinutes": "5"})
        assert result.operations == ["UPDATE"]
        second = _stack_parameters(session)
        assert second == {**first, "EmrIdleTimeoutMinutes": "5"}
        assert second["ScheduleState"] == "DISABLED"  # not back to the default ENABLED
        assert TEMPLATE_PARAMETERS["ScheduleState"]["Default"] == "ENABLED"


def _leave_an_uncreated_stack(session: Any, subset: dict[str, Any], *, failed: bool) -> None:
    """What a first deploy that stopped after its CREATE change set leaves: the stack in
    REVIEW_IN_PROGRESS, without resources, and the change set (FAILED when CloudFormation
    refused it, which moto never does by itself: its status is set as AWS would)."""
    from moto.cloudformation.models import cloudformation_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    cfn = session.client("cloudformation")
    cfn.create_change_set(
        StackName=STACK,
        ChangeSetName="first-deploy",
        ChangeSetType="CREATE",
        TemplateBody=json.dumps(subset),
        Parameters=[{"ParameterKey": "BucketName", "ParameterValue": BUCKET}],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    if failed:
        for change_set in cloudformation_backends[DEFAULT_ACCOUNT_ID][REGION].change_sets.values():
            change_set.status = "FAILED"
            change_set.execution_status = "UNAVAILABLE"
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == (
        "REVIEW_IN_PROGRESS"
    )


def test_a_stack_whose_first_change_set_failed_is_created_on_the_next_deploy_on_moto(
    aws_credentials, bundle, tmp_path
):
    """The next deploy deletes that empty stack and creates it (before, every later deploy
    said the stack was busy, for good)."""
    subset, _ = moto_subset(load_template())
    template_path = tmp_path / "subset.json"
    template_path.write_text(json.dumps(subset))
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = boto3.Session(region_name=REGION)
        _leave_an_uncreated_stack(session, subset, failed=True)
        messages: list[str] = []
        result = deploy(
            stack_name=STACK,
            bucket=BUCKET,
            session=session,
            bundle=bundle,
            template_path=template_path,
            delay=0.01,
            progress=messages.append,
        )
        assert result.operations == ["CREATE", "UPDATE"]
        stack = session.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
        assert stack["StackStatus"] == "UPDATE_COMPLETE"
        assert _stack_parameters(session)["ArtifactsPrefix"] == bundle.prefix
        roles = {r["RoleName"] for r in session.client("iam").list_roles()["Roles"]}
        assert "dev-carrental-emr-job" in roles
    assert any("was never created (REVIEW_IN_PROGRESS)" in m for m in messages)


def test_an_uncreated_stack_whose_change_set_may_still_run_is_refused_on_moto(
    aws_credentials, bundle, tmp_path
):
    """A CREATE change set that did not fail may be another deploy's, about to be executed:
    the stack is left alone and the error names the change set and how to delete it."""
    subset, _ = moto_subset(load_template())
    template_path = tmp_path / "subset.json"
    template_path.write_text(json.dumps(subset))
    with mock_aws(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = boto3.Session(region_name=REGION)
        _leave_an_uncreated_stack(session, subset, failed=False)
        with pytest.raises(DeployError) as raised:
            deploy(
                stack_name=STACK,
                bucket=BUCKET,
                session=session,
                bundle=bundle,
                template_path=template_path,
                delay=0.01,
            )
        assert "first-deploy (CREATE_COMPLETE, AVAILABLE)" in str(raised.value)
        assert f"carrental destroy --stack-name {STACK}" in raised.value.hint
        stack = session.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
        assert stack["StackStatus"] == "REVIEW_IN_PROGRESS"
        assert not session.client("s3").list_buckets()["Buckets"]  # nothing uploaded


TEMPLATE_PARAMETERS = load_template()["Parameters"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--parameter", "ScheduleStat=DISABLED"], "unknown template parameter 'ScheduleStat'"),
        (["--parameter", "ScheduleState"], "--parameter 'ScheduleState' is not KEY=VALUE"),
        (["--parameter", "ArtifactsPrefix=artifacts/0123456789abcdef"], "ArtifactsPrefix"),
        (["--parameter", "EnvironmentName=prod"], "set EnvironmentName with --environment"),
        (
            ["--parameter", "LogRetentionDays=7", "--parameter", "LogRetentionDays=14"],
            "--parameter LogRetentionDays is given twice",
        ),
    ],
)
def test_bad_parameter_option_is_a_usage_error_before_any_aws_call(monkeypatch, args, message):
    from typer.testing import CliRunner

    from carrental.cli import app

    def no_session(region):
        raise AssertionError("AWS was reached")

    monkeypatch.setattr("carrental.commands.deploy._session", no_session)
    out = CliRunner().invoke(
        app, ["deploy", "--stack-name", STACK, "--region", REGION, "--bucket", BUCKET, *args]
    )
    assert out.exception is not None and out.exception.exit_code == 2, out.output
    assert message in str(out.exception)


def test_parameter_option_reaches_the_deploy(monkeypatch):
    from typer.testing import CliRunner

    from carrental.cli import app

    seen: dict[str, Any] = {}

    def fake_deploy(**kwargs):
        seen.update(kwargs)
        return deploy_module.DeployResult(stack_name=STACK, artifacts_prefix="p", uploaded=[])

    monkeypatch.setattr("carrental.commands.deploy._session", lambda region: object())
    monkeypatch.setattr("orchestration.aws.deploy.deploy", fake_deploy)
    out = CliRunner().invoke(
        app,
        [
            *("deploy", "--stack-name", STACK, "--region", REGION, "--bucket", BUCKET),
            *("--parameter", "ScheduleState=DISABLED", "--parameter", "EmrMaximumCpu=8 vCPU"),
            *("--parameter", "QuarantineReviewerArn="),
        ],
    )
    assert out.exit_code == 0, out.output
    assert seen["parameters"] == {
        "ScheduleState": "DISABLED",
        "EmrMaximumCpu": "8 vCPU",
        "QuarantineReviewerArn": "",
    }


def test_deploy_refuses_an_unknown_parameter_before_building_anything(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(deploy_module.ParameterError, match="'Nope'") as info:
        deploy(
            stack_name=STACK,
            bucket=BUCKET,
            session=_Session(),  # no clients: any AWS call would raise KeyError
            parameters={"Nope": "1"},
            out_dir=out,
        )
    assert not out.exists()
    assert "ScheduleState" in info.value.hint  # lists the parameters that do exist
