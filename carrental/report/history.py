"""Turn GetExecutionHistory-shaped events into one outcome per state.

Outcomes (the colours of the graph):
  succeeded  entered and exited without an error
  retried    an attempt failed, a later attempt succeeded (Retry worked)
  caught     failed and left through a Catch (the error was handled)
  failed     failed without being handled, or a Fail state
  running    entered, not exited, and the execution has not ended
  skipped    passed over by a re-run (--from-state)
  cancelled  aborted because a sibling Parallel branch failed
  not-run    never entered (the graph shows it greyed out)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from carrental.report.inputs import parse_time

SUCCEEDED, RETRIED, CAUGHT, FAILED, RUNNING, NOT_RUN = (
    "succeeded",
    "retried",
    "caught",
    "failed",
    "running",
    "not-run",
)
SKIPPED, CANCELLED = "skipped", "cancelled"
_FAILURE_SUFFIXES = ("Failed", "TimedOut", "Aborted")
_EXECUTION_END = {"ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut", "ExecutionSucceeded"}
_CONTAINERS = {"Parallel", "Map"}


@dataclass
class Visit:
    entered: datetime | None
    exited: datetime | None = None
    attempts: int = 0
    started: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    succeeded_after_error: bool = False
    finished: int = 0  # attempts that ended (succeeded or failed)
    skipped: bool = False
    aborted: bool = False


@dataclass
class StateRun:
    name: str
    type: str | None = None
    visits: list[Visit] = field(default_factory=list)
    outcome: str = NOT_RUN

    @property
    def duration(self) -> float | None:
        """Seconds spent in the state, summed over its visits (loops visit twice)."""
        total, known = 0.0, False
        for visit in self.visits:
            if visit.entered and visit.exited:
                total += max(0.0, (visit.exited - visit.entered).total_seconds())
                known = True
        return total if known else None

    @property
    def attempts(self) -> int:
        return sum(max(v.attempts, v.started) for v in self.visits)

    @property
    def errors(self) -> list[tuple[str, str]]:
        return [err for v in self.visits for err in v.errors]

    @property
    def first_error_time(self) -> datetime | None:
        for visit in self.visits:
            if visit.errors:
                return visit.entered
        return None


@dataclass
class ExecutionSummary:
    states: dict[str, StateRun]
    status: str | None
    error: str | None
    cause: str | None
    failing_state: str | None
    started: datetime | None
    stopped: datetime | None


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _state_type(event_type: str, suffix: str) -> str | None:
    prefix = event_type[: -len(suffix)]
    return prefix or None


def _resources(asl: dict[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}

    def walk(machine: dict[str, Any]) -> None:
        for name, state in (machine.get("States") or {}).items():
            if not isinstance(state, dict):
                continue
            if isinstance(state.get("Resource"), str):
                out[name] = state["Resource"]
            for branch in state.get("Branches") or []:
                if isinstance(branch, dict):
                    walk(branch)
            inner = state.get("ItemProcessor") or state.get("Iterator")
            if isinstance(inner, dict):
                walk(inner)

    if isinstance(asl, dict):
        walk(asl)
    return out


def analyse(
    events: list[dict[str, Any]],
    execution: dict[str, Any] | None,
    asl: dict[str, Any] | None = None,
) -> ExecutionSummary:
    """Walk the events in order and attribute each one to the state it belongs to.

    ``previousEventId`` links an event to its state when it is reliable; events of
    concurrent Parallel branches are told apart by the Task's resource (from the ASL)
    and by which state has an attempt in flight.
    """
    resources = _resources(asl)
    states: dict[str, StateRun] = {}
    owner: dict[Any, str] = {}
    exit_ids: set[Any] = set()
    open_stack: list[str] = []  # states entered and not yet exited, in entry order
    exec_error: tuple[str | None, str | None] = (None, None)
    status: str | None = None
    first_ts: datetime | None = None
    last_ts: datetime | None = None

    def open_visit(name: str) -> Visit | None:
        run = states.get(name)
        if run and run.visits and run.visits[-1].exited is None:
            return run.visits[-1]
        return None

    ordered = sorted(
        enumerate(events), key=lambda pair: (_int(pair[1].get("id"), pair[0]), pair[0])
    )
    for _, event in ordered:
        etype = str(event.get("type") or "")
        eid = event.get("id")
        ts = parse_time(event.get("timestamp"))
        if ts is not None:
            first_ts = first_ts or ts
            last_ts = ts
        details = _details(event)
        if etype == "StateSkipped":
            name = str(details.get("name") or "?")
            run = states.setdefault(name, StateRun(name))
            run.visits.append(Visit(entered=ts, exited=ts, skipped=True))
            owner[eid] = name
            exit_ids.add(eid)
            continue
        if etype.endswith("StateAborted") and details.get("name"):
            name = str(details["name"])
            visit = open_visit(name)
            if visit is not None:
                visit.exited, visit.aborted = ts, True
            if name in open_stack:
                open_stack.reverse()
                open_stack.remove(name)
                open_stack.reverse()
            owner[eid] = name
            exit_ids.add(eid)
            continue
        if etype.endswith("StateEntered"):
            name = str(details.get("name") or "?")
            run = states.setdefault(name, StateRun(name))
            run.type = run.type or _state_type(etype, "StateEntered")
            run.visits.append(Visit(entered=ts))
            open_stack.append(name)
            owner[eid] = name
            continue
        if etype.endswith("StateExited"):
            name = str(details.get("name") or "?")
            run = states.setdefault(name, StateRun(name))
            run.type = run.type or _state_type(etype, "StateExited")
            visit = open_visit(name)
            if visit is None:
                visit = Visit(entered=None)
                run.visits.append(visit)
            visit.exited = ts
            if name in open_stack:
                open_stack.reverse()
                open_stack.remove(name)
                open_stack.reverse()
            owner[eid] = name
            exit_ids.add(eid)
            continue
        if etype in _EXECUTION_END:
            status = etype.removeprefix("Execution").upper()
            if etype != "ExecutionSucceeded":
                exec_error = (details.get("error"), details.get("cause"))
            continue
        if etype.startswith("Execution"):
            continue
        # a task-level event: find its state through previousEventId, else by elimination
        name = _owner_of(event, etype, owner, exit_ids, open_stack, states, resources)
        if name is None:
            continue
        owner[eid] = name
        visit = open_visit(name)
        if visit is None:
            continue
        if etype.endswith("Scheduled"):
            visit.attempts += 1
        elif etype.endswith("Started"):
            visit.started += 1
        elif etype.endswith("Succeeded"):
            visit.finished += 1
            if visit.errors:
                visit.succeeded_after_error = True
        elif etype.endswith(_FAILURE_SUFFIXES):
            visit.finished += 1
            visit.errors.append(
                (str(details.get("error") or etype), str(details.get("cause") or ""))
            )

    execution = execution or {}
    status = str(execution.get("status") or status or ("RUNNING" if states else "")) or None
    ended = status not in (None, "RUNNING")
    for run in states.values():
        run.outcome = _outcome(run, ended)
    error = execution.get("error") or exec_error[0]
    cause = execution.get("cause") or exec_error[1]
    failing = _failing_state(states) if status not in ("SUCCEEDED", "RUNNING", None) else None
    if failing and not error:
        errs = states[failing].errors
        if errs:
            error, cause = errs[-1]
    return ExecutionSummary(
        states=states,
        status=status,
        error=str(error) if error else None,
        cause=str(cause) if cause else None,
        failing_state=failing,
        started=parse_time(execution.get("startDate")) or first_ts,
        stopped=parse_time(execution.get("stopDate")) or (last_ts if ended else None),
    )


def _owner_of(
    event: dict[str, Any],
    etype: str,
    owner: dict[Any, str],
    exit_ids: set[Any],
    open_stack: list[str],
    states: dict[str, StateRun],
    resources: dict[str, str],
) -> str | None:
    def is_open(name: str) -> bool:
        run = states.get(name)
        return bool(run and run.visits and run.visits[-1].exited is None)

    if etype.startswith(("Parallel", "Map")):  # ParallelStateStarted/Failed/Succeeded
        kind = etype[: 8 if etype.startswith("Parallel") else 3]
        for name in reversed(open_stack):
            if states[name].type == kind:
                return name
        return None
    leaves = [n for n in reversed(open_stack) if (states[n].type or "") not in _CONTAINERS]
    short = str(_details(event).get("resource") or "")
    if short and resources:
        matching = [n for n in leaves if n in resources and short in resources[n]]
        leaves = matching or leaves
    prev = event.get("previousEventId")
    linked = owner.get(prev) if prev not in exit_ids else None
    single = len(leaves) == 1 or etype.endswith("Started")
    if linked in leaves and is_open(linked) and single:
        return linked
    if len(leaves) <= 1:
        return leaves[0] if leaves else (open_stack[-1] if open_stack else None)

    # several candidates (concurrent branches): prefer the one whose attempt state fits
    def in_flight(name: str) -> int:
        visit = states[name].visits[-1]
        return max(visit.attempts, visit.started) - visit.finished

    if etype.endswith("Scheduled"):
        idle = [n for n in leaves if in_flight(n) <= 0]
        if idle:
            return linked if linked in idle else idle[0]
    elif etype.endswith(("Succeeded", "Failed", "TimedOut", "Aborted")):
        busy = [n for n in leaves if in_flight(n) > 0]
        if busy:
            return linked if linked in busy else busy[0]
    return linked if linked in leaves else leaves[0]


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _outcome(run: StateRun, ended: bool) -> str:
    if not run.visits:
        return NOT_RUN
    if all(v.skipped for v in run.visits):
        return SKIPPED
    if run.type == "Fail":
        return FAILED
    last = run.visits[-1]
    if last.aborted:
        return CANCELLED
    if last.exited is None:
        return FAILED if ended else RUNNING
    if any(v.errors and not v.succeeded_after_error for v in run.visits):
        return CAUGHT
    if any(v.errors for v in run.visits):
        return RETRIED
    return SUCCEEDED


def _failing_state(states: dict[str, StateRun]) -> str | None:
    """Where the error started: the earliest state whose error was not recovered by a retry."""
    bad = [
        run
        for run in states.values()
        if run.outcome in (FAILED, CAUGHT) and run.errors and (run.type or "") not in _CONTAINERS
    ]
    if bad:
        bad.sort(key=lambda r: (r.first_error_time is None, r.first_error_time or datetime.max))
        return bad[0].name
    for outcome in (FAILED, CAUGHT):
        for run in states.values():
            if run.outcome == outcome and (run.type or "") not in _CONTAINERS:
                return run.name
    return None
