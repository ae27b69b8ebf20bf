"""The CloudFormation template: least-privilege IAM, and every resource the issue asks for."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestration.aws.template import (
    TEMPLATE_PATH,
    glue_database_names,
    iam_statements,
    load_template,
    resolve_intrinsic,
)
from orchestration.executor.definition import DEFINITION_PATH, iter_states, load_text
from spark_ingest.layout import JOBS, PROCESSED_PREFIX
from spark_ingest.publish import STAGING_DIR

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]

#: The only actions AWS accepts solely on Resource "*" (no resource-level permissions):
#: CloudWatch Logs delivery for Step Functions logging, and X-Ray for its tracing.
AWS_REQUIRES_STAR = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
}

_PREFIXES = (
    "artifacts|data/raw|data/processed|data/quarantine|data/analytics|runs|"
    "logs/emr-serverless|athena-results"
)
#: A wildcard inside a resource is allowed only below one of these scopes.
SCOPED_WILDCARDS = [
    rf"^arn:\$\{{AWS::Partition\}}:s3:::\$\{{BucketName\}}/({_PREFIXES})/\*$",
    r"^arn:\$\{AWS::Partition\}:s3:::\$\{BucketName\}/runs/\*/dbt/\*$",
    r":table/\$\{(GlueDatabase|AnalyticsDatabase)\}/\*$",
    r":/applications/\$\{EmrApplication\.ApplicationId\}/jobruns/\*$",
    r":rule/StepFunctions\*$",
    r":log-group:/aws-glue/crawlers:\*$",
    r":kms:\$\{AWS::Region\}:\$\{AWS::AccountId\}:key/\*$",  # only with kms:ViaService
]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resource_text(resource: Any) -> str:
    """A resource as text: Fn::Sub strings as written, Ref/GetAtt as their target."""
    if isinstance(resource, str):
        return resource
    if "Fn::Sub" in resource:
        return resource["Fn::Sub"]
    if "Ref" in resource:
        return f"<ref {resource['Ref']}>"
    if "Fn::GetAtt" in resource:
        return f"<getatt {'.'.join(resource['Fn::GetAtt'])}>"
    raise AssertionError(f"unexpected resource form {resource!r}")


STATEMENTS = iam_statements(TEMPLATE)


def test_every_role_has_an_inline_policy_and_no_managed_full_access():
    roles = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::IAM::Role"}
    assert set(roles) == {
        "EmrJobRole",
        "CrawlerRole",
        "DbtRunnerRole",
        "StepFunctionsRole",
        "SchedulerRole",
    }
    for name, role in roles.items():
        assert "ManagedPolicyArns" not in role["Properties"], name
        trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert len(trust) == 1 and list(trust[0]["Principal"]) == ["Service"], name
        assert trust[0]["Condition"] == {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        }, name
    assert "FullAccess" not in TEMPLATE_PATH.read_text()


@pytest.mark.parametrize(
    "role,policy,statement", STATEMENTS, ids=[f"{r}.{s.get('Sid')}" for r, _, s in STATEMENTS]
)
def test_statement_is_least_privilege(role, policy, statement):
    assert statement["Effect"] == "Allow"
    assert "NotAction" not in statement and "NotResource" not in statement
    actions = _as_list(statement["Action"])
    for action in actions:
        assert "*" not in action, f"wildcard action {action}"
        assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", action), action
    for resource in map(_resource_text, _as_list(statement["Resource"])):
        if resource == "*":
            assert set(actions) <= AWS_REQUIRES_STAR, f"{role}: {actions} on *"
            continue
        if "*" in resource:
            assert any(re.search(p, resource) for p in SCOPED_WILDCARDS), resource
        if resource.endswith(":key/*"):
            assert "kms:ViaService" in json.dumps(statement["Condition"])
        assert not re.search(r"s3:::\$\{BucketName\}/\*", resource), "whole-bucket access"
    if "s3:ListBucket" in actions and role != "EmrJobRole":
        assert "s3:prefix" in json.dumps(statement.get("Condition", {})), role


def test_only_the_spark_jobs_may_list_the_whole_bucket():
    """The Spark jobs test for keys that do not exist yet (Hadoop's exists is a HEAD): S3 gives
    404 only to a caller allowed s3:ListBucket without a condition a HEAD cannot meet, else
    403, which fails the job. Every other role lists its own prefixes only."""
    unconditioned = [
        (role, statement.get("Sid"))
        for role, _, statement in STATEMENTS
        if "s3:ListBucket" in _as_list(statement["Action"]) and "Condition" not in statement
    ]
    assert unconditioned == [("EmrJobRole", "ListBucketForMissingKeys")]


def test_pass_role_and_sync_rules_only_where_needed():
    passing = [(r, s) for r, _, s in STATEMENTS if "iam:PassRole" in _as_list(s["Action"])]
    assert len(passing) == 1
    role, statement = passing[0]
    assert role == "StepFunctionsRole"
    assert statement["Resource"] == {"Fn::GetAtt": ["EmrJobRole", "Arn"]}
    assert statement["Condition"] == {
        "StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}
    }
    events = [s for _, _, s in STATEMENTS if any(a.startswith("events:") for a in s["Action"])]
    assert len(events) == 1
    assert sorted(events[0]["Action"]) == [
        "events:DescribeRule",
        "events:PutRule",
        "events:PutTargets",
    ]
    assert _resource_text(events[0]["Resource"]).endswith(":rule/StepFunctions*")


def test_only_the_emr_job_role_touches_the_quarantine():
    for role, _, statement in STATEMENTS:
        text = json.dumps(statement)
        if "data/quarantine" in text:
            assert role == "EmrJobRole", role
    policy = RESOURCES["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    deny = next(s for s in policy if s["Sid"] == "QuarantineReadOnlyByJobRoleOrReviewer")
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert _resource_text(deny["Resource"]).endswith("/data/quarantine/*")
    allowed = deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert allowed[0] == {"Fn::GetAtt": ["EmrJobRole", "Arn"]}
    assert allowed[1]["Fn::If"][0] == "HasQuarantineReviewer"


def test_bucket_is_encrypted_versioned_private_tls_only_with_lifecycle():
    bucket = RESOURCES["DataBucket"]["Properties"]
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    prefixes = {r.get("Prefix") for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert {"logs/", "athena-results/"} <= prefixes
    policy = RESOURCES["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    tls = next(s for s in policy if s["Sid"] == "DenyInsecureTransport")
    assert tls["Effect"] == "Deny" and tls["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


def test_every_kpi_jobs_staging_prefix_expires_after_the_longest_run():
    """A run that fails while it copies its staged tables to the live prefixes leaves
    ``processed/<job>/_staging/<run>/`` on S3 (spark_ingest.publish); a lifecycle rule removes
    it, but never while a run could still be using it."""
    machine = json.loads(DEFINITION_PATH.read_text(encoding="utf-8"))
    longest_run_days = machine["TimeoutSeconds"] / 86400
    rules = RESOURCES["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    by_prefix = {rule.get("Prefix"): rule for rule in rules if rule["Status"] == "Enabled"}
    for job in JOBS:
        rule = by_prefix[f"{PROCESSED_PREFIX}/{job}/{STAGING_DIR}/"]
        assert rule["ExpirationInDays"] > longest_run_days, job
        assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1, job


def test_state_machine_may_list_its_own_executions_only():
    """The run guard (ListRunningExecutions) lists the RUNNING executions of this state
    machine: the policy names it by the name the template gives it (a !Ref would be a
    circular dependency between the role and the state machine)."""
    name = RESOURCES["StateMachine"]["Properties"]["StateMachineName"]["Fn::Sub"]
    guard = [s for r, _, s in STATEMENTS if "states:ListExecutions" in _as_list(s["Action"])]
    assert len(guard) == 1 and _as_list(guard[0]["Action"]) == ["states:ListExecutions"]
    assert _resource_text(guard[0]["Resource"]) == (
        f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{name}"
    )
    roles = [r for r, _, s in STATEMENTS if "states:ListExecutions" in _as_list(s["Action"])]
    assert roles == ["StepFunctionsRole"]
    resources = {s.get("Resource") for _, _, s in iter_states(json.loads(load_text()))}
    assert "arn:aws:states:::aws-sdk:sfn:listExecutions" in resources


def test_emr_application_scales_to_zero():
    app = RESOURCES["EmrApplication"]["Properties"]
    assert TEMPLATE["Parameters"]["EmrReleaseLabel"]["Default"] == "emr-spark-8.0.0"
    assert app["ReleaseLabel"] == {"Ref": "EmrReleaseLabel"}
    assert app["AutoStartConfiguration"] == {"Enabled": True}
    assert app["AutoStopConfiguration"]["Enabled"] is True
    assert set(app["MaximumCapacity"]) == {"Cpu", "Memory"}
    assert "InitialCapacity" not in app


def test_sns_athena_codebuild_and_state_machine_settings():
    topic = RESOURCES["AlertTopic"]["Properties"]
    assert topic["KmsMasterKeyId"]
    assert RESOURCES["AlertEmailSubscription"]["Condition"] == "HasAlertEmail"
    workgroup = RESOURCES["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert workgroup["EnforceWorkGroupConfiguration"] is True
    assert workgroup["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
    assert workgroup["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"]
    project = RESOURCES["DbtProject"]["Properties"]
    assert project["Source"]["BuildSpec"] == "buildspec.yml"
    assert project["Environment"]["PrivilegedMode"] is False
    assert project["LogsConfig"]["CloudWatchLogs"]["GroupName"] == {"Ref": "DbtLogGroup"}
    machine = RESOURCES["StateMachine"]["Properties"]
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    destination = machine["LoggingConfiguration"]["Destinations"][0]
    assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"] == {
        "Fn::GetAtt": ["StateMachineLogGroup", "Arn"]
    }
    schedule = RESOURCES["PipelineSchedule"]["Properties"]
    assert schedule["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert schedule["Target"]["Arn"] == {"Ref": "StateMachine"}
    assert schedule["Target"]["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}


def test_every_log_group_has_a_retention():
    groups = [v for v in RESOURCES.values() if v["Type"] == "AWS::Logs::LogGroup"]
    assert len(groups) == 2
    for group in groups:
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_parameters_and_nothing_account_specific():
    assert {
        "EnvironmentName",
        "BucketName",
        "ScheduleExpression",
        "AlertEmail",
        "ArtifactsPrefix",
    } <= set(TEMPLATE["Parameters"])
    text = TEMPLATE_PATH.read_text()
    assert not re.search(r"(?<![0-9])[0-9]{12}(?![0-9])", text.replace("{12}", "")), "account id"
    assert not re.search(r"\b(us|eu|ap|sa|ca|me|af)-[a-z]+-[0-9]\b", text), "hard-coded region"


def test_every_checkov_skip_has_a_written_reason():
    for name, resource in RESOURCES.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), name
            assert len(skip.get("comment", "")) > 40, f"{name} {skip['id']} lacks a reason"


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        found = shutil.which(name)
        if not found:
            pytest.skip(f"{name} is not installed")
        return found
    return str(path)


@pytest.mark.slow
def test_cfn_lint_and_checkov_are_clean():
    lint = subprocess.run(
        [_tool("cfn-lint"), str(TEMPLATE_PATH)], capture_output=True, text=True, timeout=300
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    checkov = subprocess.run(
        [
            _tool("checkov"),
            "--quiet",
            "--compact",
            "--framework",
            "cloudformation",
            "-d",
            str(TEMPLATE_PATH.parent),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={"BC_SKIP_MAPPING": "TRUE", "PATH": "/usr/bin:/bin"},
    )
    report = json.loads(checkov.stdout)
    summary = report["summary"]
    assert summary["failed"] == 0, checkov.stdout[-3000:]
    assert summary["passed"] > 40


#: Properties that hold a resource's physical name, unique in an account and region.
_NAME_KEYS = (
    "Name",
    "RoleName",
    "TopicName",
    "LogGroupName",
    "StateMachineName",
)


def _physical_names(environment: str) -> dict[str, str]:
    params = {"EnvironmentName": environment, "BucketName": "bucket"}
    names: dict[str, str] = {}
    for logical_id, resource in RESOURCES.items():
        props = resource.get("Properties", {})
        candidates = [props[k] for k in _NAME_KEYS if k in props]
        if resource["Type"] == "AWS::Glue::Database":
            candidates.append(props["DatabaseInput"]["Name"])
        for value in candidates:
            names[logical_id] = resolve_intrinsic(value, params)
    return names


def test_two_environments_in_one_account_share_no_physical_name():
    """EnvironmentName=dev and =prod side by side: every named resource, the Glue databases
    included, gets a different name, so the second stack does not fail with AlreadyExists."""
    dev, prod = _physical_names("dev"), _physical_names("prod")
    assert {"GlueDatabase", "AnalyticsDatabase", "StateMachine"} <= set(dev)
    assert not set(dev.values()) & set(prod.values()), set(dev.values()) & set(prod.values())


@pytest.mark.parametrize("environment", ["dev", "prod", "prod-eu-2"])
def test_glue_database_names_are_plain_athena_identifiers(environment):
    names = glue_database_names(environment)
    assert names == {
        "GlueDatabase": f"{environment.replace('-', '_')}_car_rental_db",
        "AnalyticsDatabase": f"{environment.replace('-', '_')}_car_rental_analytics",
    }
    for name in names.values():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name) and len(name) <= 255, name


def test_glue_arns_and_asl_name_databases_only_through_the_resources():
    text = TEMPLATE_PATH.read_text()
    # The only literal database names are the suffixes of the two DatabaseInput names.
    assert len(re.findall(r"car_rental_(db|analytics)\b", text)) == 2
    for _, _, statement in STATEMENTS:
        for resource in map(_resource_text, _as_list(statement["Resource"])):
            match = re.search(r":glue:.*:(database|table)/([^/\"]+)", resource)
            if match:
                assert match.group(2) in ("${GlueDatabase}", "${AnalyticsDatabase}"), resource
    asl = load_text()
    assert "car_rental_db" not in asl and "car_rental_analytics" not in asl


#: Athena's default timeout of a DML query, in seconds
ATHENA_QUERY_TIMEOUT = 30 * 60


def test_every_long_task_times_out_into_its_alert_before_the_execution_does():
    """An execution that reaches its own TimeoutSeconds ends TIMED_OUT: no Catch runs, no alert
    goes out. Each long Task therefore has a timeout of its own, above the service's own limit
    (so the service's clearer error comes first) and caught by its alerting Catch, and the
    execution's timeout is above the longest chain of them (without retries: a retried Task
    starts a new timeout)."""
    machine = json.loads(DEFINITION_PATH.read_text(encoding="utf-8"))
    states = {name: state for _, name, state in iter_states(machine)}
    dbt = RESOURCES["DbtProject"]["Properties"]
    limits = {
        "ValidateInputs": 60 * states["ValidateInputs"]["Parameters"]["ExecutionTimeoutMinutes"],
        "VehicleLocationJob": 60
        * states["VehicleLocationJob"]["Parameters"]["ExecutionTimeoutMinutes"],
        "UserTransactionJob": 60
        * states["UserTransactionJob"]["Parameters"]["ExecutionTimeoutMinutes"],
        "RunDbtBuild": 60 * (dbt["TimeoutInMinutes"] + dbt["QueuedTimeoutInMinutes"]),
        # Athena's default timeout of a DML query
        "RunRowCountsQuery": ATHENA_QUERY_TIMEOUT,
        "RunReconciliationQuery": ATHENA_QUERY_TIMEOUT,
    }
    sync = {n for n, s in states.items() if s.get("Resource", "").endswith(".sync")}
    assert sync == set(limits)
    for name, limit in limits.items():
        state = states[name]
        assert state["TimeoutSeconds"] > limit, name
        catch = state["Catch"][-1]
        assert catch["ErrorEquals"] == ["States.ALL"], name
        assert states[catch["Next"]]["Resource"] == "arn:aws:states:::sns:publish", name
        assert not any("States.Timeout" in r["ErrorEquals"] for r in state.get("Retry", [])), name
    # the crawlers: StartCrawler's CrawlerRunning retries, then up to 60 polls of a Wait and a
    # GetCrawler (its own timeout each)
    start = states["StartVehicleLocationCrawler"]
    running = next(r for r in start["Retry"] if "Glue.CrawlerRunningException" in r["ErrorEquals"])
    waits = [
        min(running["IntervalSeconds"] * running["BackoffRate"] ** i, running["MaxDelaySeconds"])
        for i in range(running["MaxAttempts"])
    ]
    poll = states["WaitForVehicleLocationCrawler"]["Seconds"]
    get = states["GetVehicleLocationCrawler"]["TimeoutSeconds"]
    crawlers = sum(waits) + 60 * (poll + get)
    chain = (
        states["ValidateInputs"]["TimeoutSeconds"]
        + max(states[n]["TimeoutSeconds"] for n in ("VehicleLocationJob", "UserTransactionJob"))
        + crawlers
        + states["RunDbtBuild"]["TimeoutSeconds"]
        + states["RunRowCountsQuery"]["TimeoutSeconds"]
        + states["RunReconciliationQuery"]["TimeoutSeconds"]
    )
    assert machine["TimeoutSeconds"] > chain
