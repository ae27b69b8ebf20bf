"""`carrental run --target aws`: start the deployed state machine and follow it.

The state machine ARN comes from the stack's ``StateMachineArn`` output. Progress is read
from ``GetExecutionHistory`` (state entered / exited / failed) and printed on stderr. When a
lake directory is given, ``runs/<run_id>/history.json`` and ``execution.json`` are written
in the same format as the local executor's.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from carrental.errors import UsageError, check_run_id
from spark_ingest.layout import new_run_id

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


class RemoteRunError(UsageError):
    """The run could not be started (no stack, no state machine yet): exit code 2."""


REGION_HINT = "pass --region (e.g. --region eu-west-1) or set AWS_DEFAULT_REGION"


def check_region(region: str | None) -> str:
    """``region`` when it is a region name; a missing or malformed one is a UsageError (exit 2),
    not botocore's NoRegionError / InvalidRegionError when the first client is made."""
    from botocore.exceptions import InvalidRegionError
    from botocore.utils import validate_region_name

    if not region or not region.strip():
        raise UsageError("no AWS region given", hint=REGION_HINT)
    try:
        validate_region_name(region)
    except InvalidRegionError:
        raise UsageError(
            f"--region {region!r} is not an AWS region name", hint=REGION_HINT
        ) from None
    return region


def state_machine_arn(cfn: Any, stack_name: str) -> str:
    """The ``StateMachineArn`` output of ``stack_name``."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:  # botocore ClientError: stack does not exist, no credentials...
        raise RemoteRunError(
            f"cannot read stack {stack_name}: {exc}",
            hint="check --stack-name, --region and your AWS credentials; deploy first with "
            "carrental deploy --stack-name S --region R --bucket B",
        ) from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if "StateMachineArn" not in outputs:
        raise RemoteRunError(
            f"stack {stack_name} has no StateMachineArn output (bootstrap only?)",
            hint="finish the deploy: carrental deploy uploads the artifacts and adds it",
        )
    return outputs["StateMachineArn"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def describe_event(event: dict[str, Any]) -> str | None:
    """One progress line for a history event, or None for events not worth a line."""
    kind = event["type"]
    if kind.endswith("StateEntered"):
        return f"-> {event['stateEnteredEventDetails']['name']}"
    if kind.endswith("StateExited"):
        return f"ok {event['stateExitedEventDetails']['name']}"
    if kind.endswith("Failed") or kind.endswith("TimedOut") or kind.endswith("Aborted"):
        details = next((v for k, v in event.items() if k.endswith("EventDetails")), {}) or {}
        error = details.get("error", kind)
        cause = str(details.get("cause", ""))[:300]
        return f"!! {kind}: {error} {cause}".rstrip()
    return None


def fetch_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of the execution, oldest first (follows nextToken)."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def run_remote(
    stack_name: str,
    region: str | None,
    run_id: str | None = None,
    mode: str = "incremental",
    *,
    lake_dir: str | Path | None = None,
    session: Any = None,
    poll_seconds: float = 5.0,
    timeout_seconds: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Start one execution and follow it to the end.

    Returns the DescribeExecution-like record of ``execution.json``: ``executionArn``,
    ``name`` (= run id), ``status`` (SUCCEEDED / FAILED / TIMED_OUT / ABORTED), ``startDate``,
    ``stopDate``, ``input``, ``output``, ``error``, ``cause``.
    """
    # arguments first: nothing is created or called for a bad run id, mode or region
    run_id = check_run_id(run_id, RemoteRunError) if run_id else new_run_id()
    if mode not in ("full", "incremental"):
        raise RemoteRunError(f"unknown mode {mode!r}", hint="use full or incremental")
    if session is None:
        import boto3

        session = boto3.Session(region_name=region or None)
    # the session's region: --region, else AWS_DEFAULT_REGION / the AWS config file
    check_region(getattr(session, "region_name", None))
    if progress is None:
        from carrental import console

        progress = console.info
    cfn = session.client("cloudformation")
    sfn = session.client("stepfunctions")
    arn = state_machine_arn(cfn, stack_name)
    execution_input = {"run_id": run_id, "mode": mode}
    started = sfn.start_execution(
        stateMachineArn=arn, name=run_id, input=json.dumps(execution_input)
    )
    execution_arn = started["executionArn"]
    progress(f"started {execution_arn}")

    seen = 0
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    while True:
        events = fetch_history(sfn, execution_arn)
        for event in events[seen:]:
            line = describe_event(event)
            if line:
                progress(line)
        seen = len(events)
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in TERMINAL:
            break
        if deadline is not None and time.monotonic() > deadline:
            raise RemoteRunError(
                f"execution {execution_arn} still {described['status']} after "
                f"{timeout_seconds:.0f}s",
                hint="it keeps running on AWS; follow it in the Step Functions console",
            )
        time.sleep(poll_seconds)

    events = fetch_history(sfn, execution_arn)
    record = {
        "executionArn": execution_arn,
        "name": described.get("name", run_id),
        "status": described["status"],
        "startDate": _jsonable(described.get("startDate")),
        "stopDate": _jsonable(described.get("stopDate")),
        "input": json.loads(described.get("input") or "null"),
        "output": json.loads(described["output"]) if described.get("output") else None,
        "error": described.get("error"),
        "cause": described.get("cause"),
    }
    if record["status"] != "SUCCEEDED" and not record["error"]:
        failed = [e for e in events if e["type"] == "ExecutionFailed"]
        if failed:
            details = failed[-1].get("executionFailedEventDetails", {})
            record["error"], record["cause"] = details.get("error"), details.get("cause")
    if lake_dir is not None:
        run_dir = Path(lake_dir) / "runs" / run_id
        _write_json(run_dir / "history.json", {"events": _jsonable(events)})
        _write_json(run_dir / "execution.json", record)
    progress(f"execution {record['name']}: {record['status']}")
    return record


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
