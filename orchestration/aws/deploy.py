"""Deploy and destroy the CloudFormation stack with boto3 and change sets.

A first deploy into a new bucket takes two stack operations, because the stack owns the
bucket that holds the artifacts the state machine is read from:

1. *bootstrap*: a CREATE change set with ``ArtifactsPrefix=""``, which creates the bucket and
   every service except the state machine, the dbt project and the schedule;
2. the artifacts are uploaded to ``s3://<bucket>/artifacts/<hash>/``;
3. an UPDATE change set with ``ArtifactsPrefix=artifacts/<hash>`` adds the rest.

Later deploys upload and update only. Rolling back = deploying an older ``ArtifactsPrefix``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from orchestration.aws.packaging import Bundle, build_artifacts, upload_artifacts
from orchestration.aws.template import TEMPLATE_PATH

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
_BROKEN = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED"}


class DeployError(Exception):
    """A stack operation failed; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass
class DeployResult:
    stack_name: str
    artifacts_prefix: str
    uploaded: list[str]
    operations: list[str] = field(default_factory=list)  # "CREATE", "UPDATE", "NO_CHANGES"
    outputs: dict[str, str] = field(default_factory=dict)


def stack_status(cfn: Any, stack_name: str) -> str | None:
    """The stack's status, or None when it does not exist."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return stacks[0]["StackStatus"] if stacks else None


def stack_outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}


def _parameters(values: dict[str, str | None], previous: bool) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for key, value in values.items():
        if value is not None:
            params.append({"ParameterKey": key, "ParameterValue": value})
        elif previous:
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
    cfn.create_change_set(
        StackName=stack_name,
        ChangeSetName=name,
        ChangeSetType=change_set_type,
        TemplateBody=template_body,
        Parameters=parameters,
        Capabilities=CAPABILITIES,
        Tags=[{"Key": "carrental:managed-by", "Value": "carrental deploy"}],
    )
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


def deploy(
    *,
    stack_name: str,
    bucket: str,
    session: Any,
    environment: str | None = None,
    schedule: str | None = None,
    alert_email: str | None = None,
    out_dir: str | Path | None = None,
    bundle: Bundle | None = None,
    template_path: str | Path = TEMPLATE_PATH,
    delay: float = 5.0,
    progress: Callable[[str], None] = lambda _msg: None,
) -> DeployResult:
    """Package, upload and create-or-update ``stack_name``; returns what it did and the outputs.

    ``session`` is a boto3 Session bound to the target region.
    """
    cfn = session.client("cloudformation")
    s3 = session.client("s3")
    body = Path(template_path).read_text(encoding="utf-8")
    bundle = bundle or build_artifacts(out_dir)
    progress(f"artifacts built: {bundle.prefix}")

    status = stack_status(cfn, stack_name)
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
    }
    result = DeployResult(stack_name=stack_name, artifacts_prefix=bundle.prefix, uploaded=[])
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    if status is None:
        progress(f"stack {stack_name} does not exist: bootstrapping bucket {bucket}")
        bootstrap = _parameters({**values, "ArtifactsPrefix": ""}, previous=False)
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
    result.uploaded = upload_artifacts(bundle, bucket, s3)
    progress(f"uploaded {len(result.uploaded)} artifacts to s3://{bucket}/{bundle.prefix}/")
    params = _parameters({**values, "ArtifactsPrefix": bundle.prefix}, previous=True)
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
