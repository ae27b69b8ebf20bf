"""A small Amazon States Language interpreter (JSONPath query language).

Implements the subset the CarRentalDataPipeline definition uses: Task, Parallel, Choice, Wait,
Pass, Succeed, Fail; Retry (IntervalSeconds, MaxAttempts, BackoffRate, MaxDelaySeconds,
JitterStrategy FULL/NONE); Catch (ErrorEquals incl. States.ALL, ResultPath); InputPath,
Parameters, ResultSelector, ResultPath, OutputPath; Fail ErrorPath/CausePath; the intrinsics in
:mod:`orchestration.executor.paths`.

Local differences from AWS (documented in DIAGRAM.md):
- Wait states and retry back-off sleep ``seconds * wait_factor`` (env ``CARRENTAL_WAIT_FACTOR``,
  default 0.01); the history records the nominal seconds.
- A failing Parallel branch cancels its siblings at their next state boundary (or during a Wait /
  retry back-off); a Task handler already running finishes first.
- Retries appear in the history as repeated ``TaskScheduled`` events whose details carry a
  ``retry`` object (attempt, error, nominal back-off seconds).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestration.executor.definition import STATE_MACHINE_NAME, DefinitionError, check_runnable
from orchestration.executor.paths import (
    PathError,
    evaluate,
    get_path,
    is_present,
    resolve_parameters,
    set_path,
)

DEFAULT_WAIT_FACTOR = 0.01
WAIT_FACTOR_ENV = "CARRENTAL_WAIT_FACTOR"
LOCAL_ACCOUNT_ARN = "arn:aws:states:local:000000000000"
#: The run guard (ListExecutions of the running executions): ``--from-state`` still runs it,
#: because a resumed run must not overlap another one either.
RUN_GUARD_RESOURCE = "arn:aws:states:::aws-sdk:sfn:listExecutions"


class TaskFailure(Exception):
    """Raised by a handler: an ASL error name and a cause (what AWS reports for the task)."""

    def __init__(self, error: str, cause: str = ""):
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


class StateFailure(Exception):
    """An error propagating through the state machine."""

    def __init__(self, error: str, cause: str = "", state: str | None = None):
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause
        self.state = state


class Cancelled(Exception):
    """A sibling Parallel branch failed; this branch stops."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wait_factor_from_env() -> float:
    raw = os.environ.get(WAIT_FACTOR_ENV)
    if raw is None or raw == "":
        return DEFAULT_WAIT_FACTOR
    try:
        value = float(raw)
    except ValueError as exc:
        raise DefinitionError(f"{WAIT_FACTOR_ENV}={raw!r} is not a number") from exc
    if value < 0:
        raise DefinitionError(f"{WAIT_FACTOR_ENV} must be >= 0")
    return value


class CancelToken:
    """A cancel flag that also reports its parent's cancellation."""

    def __init__(self, parent: CancelToken | None = None):
        self._event = threading.Event()
        self._parent = parent

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set() or (self._parent is not None and self._parent.is_set())

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when cancelled meanwhile."""
        deadline = time.monotonic() + max(0.0, seconds)
        while True:
            if self.is_set():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._event.wait(min(left, 0.05))


@dataclass
class TaskContext:
    """What a handler learns about the call besides its parameters."""

    resource: str
    state_name: str
    execution_name: str
    attempt: int
    timeout_seconds: float | None
    cancel: CancelToken


Handler = Callable[[dict[str, Any], TaskContext], Any]


class History:
    """Thread-safe event list in the shape of ``GetExecutionHistory``."""

    def __init__(self, listener: Callable[[dict], None] | None = None):
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._listener = listener
        # The last event id per thread, i.e. per Parallel branch, so that previousEventId
        # links events within a branch as GetExecutionHistory does on AWS.
        self._local = threading.local()

    def add(self, event_type: str, details_key: str | None = None, **details: Any) -> dict:
        with self._lock:
            previous = getattr(self._local, "last", None)
            event: dict[str, Any] = {
                "timestamp": now_iso(),
                "type": event_type,
                "id": len(self.events) + 1,
                "previousEventId": previous if previous is not None else len(self.events),
            }
            if details_key:
                event[details_key] = details
            self.events.append(event)
            self._local.last = event["id"]
        if self._listener:
            self._listener(event)
        return event


@dataclass
class ExecutionResult:
    name: str
    execution_arn: str
    status: str
    start_date: str
    stop_date: str
    input: Any
    output: Any = None
    error: str | None = None
    cause: str | None = None
    events: list[dict] = field(default_factory=list)

    def execution_record(self) -> dict[str, Any]:
        """The ``execution.json`` record (DescribeExecution-like)."""
        return {
            "executionArn": self.execution_arn,
            "name": self.name,
            "status": self.status,
            "startDate": self.start_date,
            "stopDate": self.stop_date,
            "input": self.input,
            "output": self.output,
            "error": self.error,
            "cause": self.cause,
        }


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def split_resource(resource: str) -> tuple[str, str]:
    """``arn:aws:states:::aws-sdk:glue:getCrawler`` -> (``aws-sdk:glue``, ``getCrawler``)."""
    tail = resource.split(":::", 1)[-1]
    kind, _, name = tail.rpartition(":")
    return kind or tail, name


def error_matches(names: list[str], error: str) -> bool:
    if error == "States.Runtime":
        return False  # never caught nor retried, as on AWS
    if error in names:
        return True
    if "States.ALL" in names:
        return True
    return "States.TaskFailed" in names and error != "States.Timeout"


class Executor:
    """Run an ASL definition with local handlers for its Task resources.

    ``sleep(seconds)`` is injectable for tests; by default Wait and retry back-off sleep
    ``seconds * wait_factor`` and wake early when a sibling branch fails.
    """

    def __init__(
        self,
        definition: Mapping[str, Any],
        handlers: Mapping[str, Handler],
        *,
        state_machine_name: str = STATE_MACHINE_NAME,
        wait_factor: float | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: Callable[[], float] = random.random,
        listener: Callable[[dict], None] | None = None,
    ):
        check_runnable(definition, handlers)
        self.definition = definition
        self.handlers = dict(handlers)
        self.name = state_machine_name
        self.wait_factor = wait_factor_from_env() if wait_factor is None else wait_factor
        self._sleep = sleep
        self._rng = rng
        self._listener = listener
        self.history = History(listener)

    # ---- public -------------------------------------------------------------------------

    def run(
        self, execution_input: Any, execution_name: str, *, from_state: str | None = None
    ) -> ExecutionResult:
        states = self.definition["States"]
        if from_state is not None and from_state not in states:
            raise DefinitionError(
                f"--from-state {from_state!r} is not a top-level state; choose one of: "
                + ", ".join(states)
            )
        arn = f"{LOCAL_ACCOUNT_ARN}:execution:{self.name}:{execution_name}"
        self._context = {
            "Execution": {
                "Id": arn,
                "Name": execution_name,
                "Input": execution_input,
                "StartTime": now_iso(),
            },
            "StateMachine": {
                "Id": f"{LOCAL_ACCOUNT_ARN}:stateMachine:{self.name}",
                "Name": self.name,
            },
        }
        self.history = History(self._listener)
        start = self._context["Execution"]["StartTime"]
        self.history.add(
            "ExecutionStarted",
            "executionStartedEventDetails",
            input=_dumps(execution_input),
            roleArn="local",
        )
        result = ExecutionResult(execution_name, arn, "RUNNING", start, "", execution_input)
        try:
            output = self._run_machine(
                self.definition, execution_input, CancelToken(), skip_until=from_state
            )
        except StateFailure as exc:
            result.status, result.error, result.cause = "FAILED", exc.error, exc.cause
            self.history.add(
                "ExecutionFailed", "executionFailedEventDetails", error=exc.error, cause=exc.cause
            )
        else:
            result.status, result.output = "SUCCEEDED", output
            self.history.add(
                "ExecutionSucceeded", "executionSucceededEventDetails", output=_dumps(output)
            )
        result.stop_date = now_iso()
        result.events = list(self.history.events)
        return result

    # ---- machinery ----------------------------------------------------------------------

    def _pause(self, seconds: float, cancel: CancelToken) -> None:
        scaled = max(0.0, seconds) * self.wait_factor
        if self._sleep is not None:
            self._sleep(scaled)
            if cancel.is_set():
                raise Cancelled()
        elif cancel.wait(scaled):
            raise Cancelled()

    def _run_machine(
        self,
        machine: Mapping[str, Any],
        data: Any,
        cancel: CancelToken,
        skip_until: str | None = None,
    ) -> Any:
        states = machine["States"]
        name = machine["StartAt"]
        while True:
            if cancel.is_set():
                raise Cancelled()
            state = states[name]
            if skip_until is not None and name != skip_until:
                data, next_name = self._skip_state(name, state, data)
                if next_name is not None and not _leads_to(states, next_name, skip_until):
                    skip_until = None  # off the way to the target (the run guard said no)
            else:
                skip_until = None
                data, next_name = self._run_state(name, state, data, cancel)
            if next_name is None:
                return data
            name = next_name

    def _skip_state(self, name: str, state: dict, data: Any) -> tuple[Any, str | None]:
        """--from-state: Pass and Choice states and the run guard before the target run; the
        rest pass through. A transition away from the target (the run guard's refusal) ends
        the skipping: its alert and Fail state run."""
        if state["Type"] in ("Pass", "Choice") or state.get("Resource") == RUN_GUARD_RESOURCE:
            return self._run_state(name, state, data, CancelToken())
        if state["Type"] in ("Succeed", "Fail") or state.get("End"):
            raise StateFailure("States.Runtime", f"--from-state: reached {name} before the target")
        self.history.add(
            "StateSkipped", "stateEnteredEventDetails", name=name, input=_dumps(data), skipped=True
        )
        return data, state["Next"]

    def _run_state(
        self, name: str, state: dict, raw: Any, cancel: CancelToken
    ) -> tuple[Any, str | None]:
        kind = state["Type"]
        self.history.add(
            f"{kind}StateEntered", "stateEnteredEventDetails", name=name, input=_dumps(raw)
        )
        try:
            if kind == "Fail":
                self._fail(name, state, raw)
            effective = self._input(state, raw)
            if kind == "Pass":
                output, next_name = self._pass(state, raw, effective), state.get("Next")
            elif kind == "Task":
                output, next_name = self._task(name, state, raw, effective, cancel)
            elif kind == "Parallel":
                output, next_name = self._parallel(name, state, raw, effective, cancel)
            elif kind == "Choice":
                output, next_name = effective, self._choose(name, state, effective)
            elif kind == "Wait":
                self._wait(state, effective, cancel)
                output, next_name = effective, state.get("Next")
            elif kind == "Succeed":
                output, next_name = effective, None
            else:
                raise StateFailure("States.Runtime", f"unsupported state type {kind} in {name}")
            if kind in ("Choice", "Wait", "Succeed"):
                output = self._output(state, output)
        except Cancelled:
            self.history.add(f"{kind}StateAborted", "stateExitedEventDetails", name=name)
            raise
        except PathError as exc:
            raise self._runtime(name, str(exc)) from exc
        except StateFailure as exc:
            exc.state = exc.state or name
            raise
        self.history.add(
            f"{kind}StateExited", "stateExitedEventDetails", name=name, output=_dumps(output)
        )
        return output, next_name

    def _runtime(self, name: str, message: str) -> StateFailure:
        return StateFailure("States.Runtime", f"state {name}: {message}", name)

    def _context_for(self, name: str) -> dict:
        return {**self._context, "State": {"Name": name, "EnteredTime": now_iso()}}

    def _input(self, state: dict, raw: Any) -> Any:
        if "InputPath" in state and state["InputPath"] is None:
            return {}
        return get_path(raw, state.get("InputPath", "$"))

    def _output(self, state: dict, value: Any) -> Any:
        if "OutputPath" in state and state["OutputPath"] is None:
            return {}
        return get_path(value, state.get("OutputPath", "$"))

    def _result_path(self, state: dict) -> str | None:
        return state.get("ResultPath", "$")

    def _pass(self, state: dict, raw: Any, effective: Any) -> Any:
        if "Parameters" in state:
            result = resolve_parameters(state["Parameters"], effective, self._context_for(""))
        elif "Result" in state:
            result = state["Result"]
        else:
            result = effective
        return self._output(state, set_path(raw, self._result_path(state), result))

    def _fail(self, name: str, state: dict, raw: Any) -> None:
        try:
            error = (
                evaluate(state["ErrorPath"], raw) if "ErrorPath" in state else state.get("Error")
            )
            cause = (
                evaluate(state["CausePath"], raw) if "CausePath" in state else state.get("Cause")
            )
        except PathError as exc:
            raise self._runtime(name, str(exc)) from exc
        raise StateFailure(str(error or "States.Fail"), "" if cause is None else str(cause), name)

    def _wait(self, state: dict, effective: Any, cancel: CancelToken) -> None:
        if "Seconds" in state:
            seconds = float(state["Seconds"])
        elif "SecondsPath" in state:
            seconds = float(get_path(effective, state["SecondsPath"]))
        else:
            raise StateFailure("States.Runtime", "only Seconds/SecondsPath waits are supported")
        self._pause(seconds, cancel)

    # ---- Task -----------------------------------------------------------------------------

    def _task(
        self, name: str, state: dict, raw: Any, effective: Any, cancel: CancelToken
    ) -> tuple[Any, str | None]:
        resource = state["Resource"]
        kind, short = split_resource(resource)
        params = resolve_parameters(state.get("Parameters", {}), effective, self._context_for(name))
        attempts: dict[int, int] = {}
        retry_info: dict | None = None
        attempt = 0
        while True:
            self.history.add(
                "TaskScheduled",
                "taskScheduledEventDetails",
                resourceType=kind,
                resource=short,
                region="local",
                parameters=_dumps(params),
                **({"retry": retry_info} if retry_info else {}),
            )
            self.history.add(
                "TaskStarted", "taskStartedEventDetails", resourceType=kind, resource=short
            )
            try:
                result = self._call(name, state, resource, params, attempt, cancel)
            except StateFailure as failure:
                self.history.add(
                    "TaskFailed",
                    "taskFailedEventDetails",
                    resourceType=kind,
                    resource=short,
                    error=failure.error,
                    cause=failure.cause,
                )
                delay = self._retry_delay(state.get("Retry", []), failure.error, attempts)
                if delay is None:
                    return self._catch(name, state, raw, failure)
                attempt += 1
                retry_info = {
                    "attempt": attempt,
                    "afterError": failure.error,
                    "backoffSeconds": round(delay, 3),
                }
                self._pause(delay, cancel)
                continue
            self.history.add(
                "TaskSucceeded",
                "taskSucceededEventDetails",
                resourceType=kind,
                resource=short,
                output=_dumps(result),
            )
            if "ResultSelector" in state:
                result = resolve_parameters(state["ResultSelector"], result, None)
            output = set_path(raw, self._result_path(state), result)
            return self._output(state, output), state.get("Next")

    def _call(
        self,
        name: str,
        state: dict,
        resource: str,
        params: dict,
        attempt: int,
        cancel: CancelToken,
    ) -> Any:
        ctx = TaskContext(
            resource=resource,
            state_name=name,
            execution_name=self._context["Execution"]["Name"],
            attempt=attempt,
            timeout_seconds=state.get("TimeoutSeconds"),
            cancel=cancel,
        )
        try:
            return self.handlers[resource](params, ctx)
        except TaskFailure as exc:
            raise StateFailure(exc.error, exc.cause, name) from exc
        except Cancelled:
            raise
        except Exception as exc:  # a handler bug or an engine crash: a task failure
            raise StateFailure("States.TaskFailed", f"{type(exc).__name__}: {exc}", name) from exc

    def _retry_delay(
        self, retriers: list[dict], error: str, attempts: dict[int, int]
    ) -> float | None:
        for index, retrier in enumerate(retriers):
            if not error_matches(retrier["ErrorEquals"], error):
                continue
            done = attempts.get(index, 0)
            if done >= retrier.get("MaxAttempts", 3):
                return None
            attempts[index] = done + 1
            delay = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** done
            if "MaxDelaySeconds" in retrier:
                delay = min(delay, retrier["MaxDelaySeconds"])
            if retrier.get("JitterStrategy", "NONE") == "FULL":
                delay = self._rng() * delay
            return float(delay)
        return None

    def _catch(
        self, name: str, state: dict, raw: Any, failure: StateFailure
    ) -> tuple[Any, str | None]:
        for catcher in state.get("Catch", []):
            if error_matches(catcher["ErrorEquals"], failure.error):
                path = catcher.get("ResultPath", "$")
                output = set_path(raw, path, {"Error": failure.error, "Cause": failure.cause})
                return output, catcher["Next"]
        raise failure

    # ---- Parallel --------------------------------------------------------------------------

    def _parallel(
        self, name: str, state: dict, raw: Any, effective: Any, cancel: CancelToken
    ) -> tuple[Any, str | None]:
        branch_input = (
            resolve_parameters(state["Parameters"], effective, self._context_for(name))
            if "Parameters" in state
            else effective
        )
        self.history.add("ParallelStateStarted", None)
        token = CancelToken(cancel)
        branches = state["Branches"]
        results: list[Any] = [None] * len(branches)
        failures: list[StateFailure] = []
        lock = threading.Lock()

        def run_branch(index: int) -> None:
            try:
                results[index] = self._run_machine(branches[index], branch_input, token)
            except Cancelled:
                return
            except Exception as exc:  # reported through the Parallel state
                failure = (
                    exc
                    if isinstance(exc, StateFailure)
                    else StateFailure("States.Runtime", f"{type(exc).__name__}: {exc}")
                )
                with lock:
                    failures.append(failure)
                token.set()

        threads = [
            threading.Thread(target=run_branch, args=(i,), name=f"{name}[{i}]", daemon=True)
            for i in range(len(branches))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if cancel.is_set():
            raise Cancelled()
        if failures:
            failure = failures[0]
            self.history.add(
                "ParallelStateFailed",
                "stateFailedEventDetails",
                error=failure.error,
                cause=failure.cause,
            )
            if failure.error == "States.Runtime":
                raise StateFailure(failure.error, failure.cause, name)
            return self._catch(name, state, raw, StateFailure(failure.error, failure.cause, name))
        self.history.add("ParallelStateSucceeded", None)
        result: Any = results
        if "ResultSelector" in state:
            result = resolve_parameters(state["ResultSelector"], result, None)
        output = set_path(raw, self._result_path(state), result)
        return self._output(state, output), state.get("Next")

    # ---- Choice ----------------------------------------------------------------------------

    def _choose(self, name: str, state: dict, data: Any) -> str:
        for rule in state.get("Choices", []):
            if _rule(rule, data):
                return rule["Next"]
        if "Default" in state:
            return state["Default"]
        raise StateFailure("States.NoChoiceMatched", f"no Choice rule matched in {name}", name)


def _leads_to(states: Mapping[str, Any], start: str, target: str) -> bool:
    """Some transition path (Next, Catch, Choices, Default) goes from ``start`` to ``target``."""
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name == target:
            return True
        if name in seen or name not in states:
            continue
        seen.add(name)
        state = states[name]
        todo += [state[key] for key in ("Next", "Default") if key in state]
        todo += [rule["Next"] for key in ("Catch", "Choices") for rule in state.get(key, [])]
    return False


_STRING_OPS = {
    "StringEquals": lambda a, b: a == b,
    "StringLessThan": lambda a, b: a < b,
    "StringGreaterThan": lambda a, b: a > b,
    "StringLessThanEquals": lambda a, b: a <= b,
    "StringGreaterThanEquals": lambda a, b: a >= b,
}
_NUMERIC_OPS = {
    "NumericEquals": lambda a, b: a == b,
    "NumericLessThan": lambda a, b: a < b,
    "NumericGreaterThan": lambda a, b: a > b,
    "NumericLessThanEquals": lambda a, b: a <= b,
    "NumericGreaterThanEquals": lambda a, b: a >= b,
}


def _rule(rule: dict, data: Any) -> bool:
    if "And" in rule:
        return all(_rule(sub, data) for sub in rule["And"])  # short-circuits
    if "Or" in rule:
        return any(_rule(sub, data) for sub in rule["Or"])
    if "Not" in rule:
        return not _rule(rule["Not"], data)
    variable = rule["Variable"]
    if "IsPresent" in rule:
        return is_present(data, variable) == rule["IsPresent"]
    value = get_path(data, variable)
    for op, fn in _STRING_OPS.items():
        if op in rule:
            return isinstance(value, str) and fn(value, rule[op])
        if f"{op}Path" in rule:
            return isinstance(value, str) and fn(value, get_path(data, rule[f"{op}Path"]))
    for op, fn in _NUMERIC_OPS.items():
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if op in rule:
            return numeric and fn(value, rule[op])
        if f"{op}Path" in rule:
            return numeric and fn(value, get_path(data, rule[f"{op}Path"]))
    if "BooleanEquals" in rule:
        return isinstance(value, bool) and value == rule["BooleanEquals"]
    if "IsNull" in rule:
        return (value is None) == rule["IsNull"]
    if "IsString" in rule:
        return isinstance(value, str) == rule["IsString"]
    if "IsNumeric" in rule:
        return (isinstance(value, int | float) and not isinstance(value, bool)) == rule["IsNumeric"]
    if "IsBoolean" in rule:
        return isinstance(value, bool) == rule["IsBoolean"]
    raise PathError(f"unsupported Choice rule {sorted(rule)}")
