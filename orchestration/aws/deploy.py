"""Deploy and destroy the CloudFormation stack with boto3 and change sets.

A first deploy into a new bucket takes two stack operations, because the stack owns the
bucket that holds the artifacts the state machine is read from:

1. *bootstrap*: a CREATE change set with ``ArtifactsPrefix=""``, which creates the bucket and
   every service except the state machine, the dbt project and the schedule;
2. the artifacts are uploaded to ``s3://<bucket>/artifacts/<hash>/``;
3. an UPDATE change set with ``ArtifactsPrefix=artifacts/<hash>`` adds the rest.

Later deploys upload and update only. Rolling back = deploying an older ``ArtifactsPrefix``.

Parameters: an update sends the values the caller gave and ``UsePreviousValue`` for every
other parameter the stack already has, so a deploy never resets a setting it was not told
to change (a disabled schedule stays disabled). Parameters new in the template take their
defaults.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from orchestration.aws.packaging import Bundle, build_artifacts, upload_artifacts
from orchestration.aws.template import TEMPLATE_PATH, load_template

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
#: the status of a stack whose CREATE change set has not been executed (or failed)
_UNCREATED = "REVIEW_IN_PROGRESS"
_BROKEN = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED"}


class DeployError(Exception):
    """A stack operation failed; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class ParameterError(DeployError):
    """A template parameter given by the caller is unknown, malformed or not theirs to set."""


#: Parameters that `carrental deploy` sets through a dedicated option, or by itself.
OPTION_OF = {
    "EnvironmentName": "--environment",
    "BucketName": "--bucket",
    "ScheduleExpression": "--schedule",
    "AlertEmail": "--alert-email",
}
MANAGED = {"ArtifactsPrefix": "the content hash of the artifacts it uploads"}


def parse_parameter_options(items: list[str]) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` (from repeated ``--parameter``) as a dict; VALUE may be empty."""
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(
                f"--parameter {item!r} is not KEY=VALUE",
                hint="e.g. --parameter ScheduleState=DISABLED",
            )
        if key in parsed and parsed[key] != value:
            raise ParameterError(f"--parameter {key} is given twice with different values")
        parsed[key] = value
    return parsed


def check_parameters(overrides: dict[str, str], declared: list[str]) -> None:
    """Refuse keys the template does not declare, and keys with their own option."""
    for key in overrides:
        if key in MANAGED:
            raise ParameterError(
                f"--parameter {key} cannot be set: carrental deploy sets it to {MANAGED[key]}"
            )
        if key in OPTION_OF:
            raise ParameterError(f"set {key} with {OPTION_OF[key]}, not --parameter")
        if key not in declared:
            raise ParameterError(
                f"unknown template parameter {key!r}",
                hint="the template's parameters are: " + ", ".join(declared),
            )


@dataclass
class DeployResult:
    stack_name: str
    artifacts_prefix: str
    uploaded: list[str]
    operations: list[str] = field(default_factory=list)  # "CREATE", "UPDATE", "NO_CHANGES"
    outputs: dict[str, str] = field(default_factory=dict)


def describe_stack(cfn: Any, stack_name: str) -> dict[str, Any] | None:
    """The stack as DescribeStacks returns it, or None when it does not exist."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return stacks[0] if stacks else None


def stack_status(cfn: Any, stack_name: str) -> str | None:
    """The stack's status, or None when it does not exist."""
    stack = describe_stack(cfn, stack_name)
    return stack["StackStatus"] if stack else None


def stack_outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}


def _parameters(
    values: dict[str, str | None], declared: list[str], previous: set[str]
) -> list[dict[str, Any]]:
    """Change set parameters, in template order: the given values, then ``UsePreviousValue``
    for each of ``previous`` (the stack's current parameters) that was not given."""
    params: list[dict[str, Any]] = []
    for key in declared:
        value = values.get(key)
        if value is not None:
            params.append({"ParameterKey": key, "ParameterValue": value})
        elif key in previous:
            params.append({"ParameterKey": key, "UsePreviousValue": True})
    return params


def apply_change_set(
    cfn: Any,
    stack_name: str,
    template_body: str,
    parameters: list[dict[str, Any]],
    *,
    change_set_type: str,
    name: str,
    delay: float = 5.0,
    progress: Callable[[str], None] = lambda _msg: None,
) -> str:
    """Create, wait for, execute and wait out one change set; returns CREATE/UPDATE/NO_CHANGES."""
    try:
        cfn.create_change_set(
            StackName=stack_name,
            ChangeSetName=name,
            ChangeSetType=change_set_type,
            TemplateBody=template_body,
            Parameters=parameters,
            Capabilities=CAPABILITIES,
            Tags=[{"Key": "carrental:managed-by", "Value": "carrental deploy"}],
        )
    except ClientError as exc:
        # Some endpoints (moto among them) refuse an empty change set outright instead of
        # creating one that fails with "didn't contain changes".
        if any(marker in str(exc) for marker in NO_CHANGES):
            progress("no changes: the stack already matches")
            return "NO_CHANGES"
        raise
    progress(f"change set {name} ({change_set_type.lower()}) created; waiting for it")
    described = _wait_change_set(cfn, stack_name, name, delay)
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        if any(marker in reason for marker in NO_CHANGES):
            cfn.delete_change_set(StackName=stack_name, ChangeSetName=name)
            progress("no changes: the stack already matches")
            return "NO_CHANGES"
        raise DeployError(f"change set {name} failed: {reason}")
    progress(f"executing {len(described.get('Changes', []))} change(s)")
    cfn.execute_change_set(StackName=stack_name, ChangeSetName=name)
    waiter_name = (
        "stack_create_complete" if change_set_type == "CREATE" else "stack_update_complete"
    )
    try:
        cfn.get_waiter(waiter_name).wait(
            StackName=stack_name, WaiterConfig={"Delay": delay, "MaxAttempts": 720}
        )
    except Exception as exc:
        status = stack_status(cfn, stack_name)
        raise DeployError(
            f"stack {stack_name} ended in {status}: {exc}",
            hint="see the stack's events in the CloudFormation console for the failing resource",
        ) from exc
    return change_set_type


def _wait_change_set(cfn: Any, stack_name: str, name: str, delay: float) -> dict[str, Any]:
    for _ in range(720):
        described = cfn.describe_change_set(StackName=stack_name, ChangeSetName=name)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            return described
        time.sleep(delay)
    raise DeployError(f"change set {name} did not finish")


def _recreate_uncreated(
    cfn: Any, session: Any, stack_name: str, delay: float, progress: Callable[[str], None]
) -> None:
    """Delete a stack left in REVIEW_IN_PROGRESS by a CREATE change set that failed: it has no
    resources, and no UPDATE can touch it. One with a change set that did not fail may be
    another deploy's, about to run: that is refused, naming it."""
    summaries = cfn.list_change_sets(StackName=stack_name).get("Summaries", [])
    pending = [
        f"{c['ChangeSetName']} ({c.get('Status')}, {c.get('ExecutionStatus')})"
        for c in summaries
        if c.get("Status") != "FAILED"
    ]
    if pending:
        raise DeployError(
            f"stack {stack_name} is not created yet ({_UNCREATED}) and has a change set that "
            f"may still run: {', '.join(pending)}",
            hint="if no other deploy is running, delete the stack: carrental destroy "
            f"--stack-name {stack_name} --region ...",
        )
    progress(f"stack {stack_name} was never created ({_UNCREATED}): deleting it, then creating it")
    destroy(stack_name=stack_name, session=session, delay=delay, progress=progress)


def deploy(
    *,
    stack_name: str,
    bucket: str,
    session: Any,
    environment: str | None = None,
    schedule: str | None = None,
    alert_email: str | None = None,
    parameters: dict[str, str] | None = None,
    out_dir: str | Path | None = None,
    bundle: Bundle | None = None,
    template_path: str | Path = TEMPLATE_PATH,
    delay: float = 5.0,
    progress: Callable[[str], None] = lambda _msg: None,
) -> DeployResult:
    """Package, upload and create-or-update ``stack_name``; returns what it did and the outputs.

    ``session`` is a boto3 Session bound to the target region. ``parameters`` sets other
    template parameters (``check_parameters`` refuses unknown keys before anything is built).
    """
    body = Path(template_path).read_text(encoding="utf-8")
    declared = list(load_template(template_path).get("Parameters", {}))
    overrides = dict(parameters or {})
    check_parameters(overrides, declared)
    cfn = session.client("cloudformation")
    s3 = session.client("s3")
    bundle = bundle or build_artifacts(out_dir)
    progress(f"artifacts built: {bundle.prefix}")

    stack = describe_stack(cfn, stack_name)
    status = stack["StackStatus"] if stack else None
    if status == _UNCREATED:
        _recreate_uncreated(cfn, session, stack_name, delay, progress)
        stack = status = None
    if status in _BROKEN:
        raise DeployError(
            f"stack {stack_name} is in {status} and cannot be updated",
            hint=f"delete it first: carrental destroy --stack-name {stack_name} --region ...",
        )
    if status is not None and status.endswith("_IN_PROGRESS"):
        raise DeployError(
            f"stack {stack_name} is busy ({status})", hint="wait for it to finish, then retry"
        )
    values: dict[str, str | None] = {
        "EnvironmentName": environment,
        "BucketName": bucket,
        "ScheduleExpression": schedule,
        "AlertEmail": alert_email,
        **overrides,
    }
    previous = {p["ParameterKey"] for p in (stack or {}).get("Parameters", [])}
    result = DeployResult(stack_name=stack_name, artifacts_prefix=bundle.prefix, uploaded=[])
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    if status is None:
        progress(f"stack {stack_name} does not exist: bootstrapping bucket {bucket}")
        bootstrap = _parameters({**values, "ArtifactsPrefix": ""}, declared, previous=set())
        result.operations.append(
            apply_change_set(
                cfn,
                stack_name,
                body,
                bootstrap,
                change_set_type="CREATE",
                name=f"carrental-bootstrap-{stamp}",
                delay=delay,
                progress=progress,
            )
        )
        previous = set(declared)  # the new stack has every parameter of this template
    result.uploaded = upload_artifacts(bundle, bucket, s3)
    progress(f"uploaded {len(result.uploaded)} artifacts to s3://{bucket}/{bundle.prefix}/")
    # A parameter the template no longer declares must not be sent; one it newly declares
    # takes its default.
    params = _parameters(
        {**values, "ArtifactsPrefix": bundle.prefix}, declared, previous & set(declared)
    )
    result.operations.append(
        apply_change_set(
            cfn,
            stack_name,
            body,
            params,
            change_set_type="UPDATE",
            name=f"carrental-{bundle.digest}-{stamp}",
            delay=delay,
            progress=progress,
        )
    )
    result.outputs = stack_outputs(cfn, stack_name)
    return result


def destroy(
    *,
    stack_name: str,
    session: Any,
    delay: float = 5.0,
    progress: Callable[[str], None] = lambda _msg: None,
) -> bool:
    """Delete the stack and wait; returns False when it did not exist.

    The data bucket has ``DeletionPolicy: Retain``: the lake survives, delete it by hand.
    """
    cfn = session.client("cloudformation")
    if stack_status(cfn, stack_name) is None:
        return False
    cfn.delete_stack(StackName=stack_name)
    progress(f"deleting stack {stack_name}")
    try:
        cfn.get_waiter("stack_delete_complete").wait(
            StackName=stack_name, WaiterConfig={"Delay": delay, "MaxAttempts": 720}
        )
    except Exception as exc:
        raise DeployError(
            f"stack {stack_name} was not deleted: {exc}",
            hint="see the stack's events in the CloudFormation console",
        ) from exc
    return True
