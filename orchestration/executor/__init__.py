"""Run the CarRentalDataPipeline ASL definition locally.

``run_local(lake_dir, run_id)`` fills the placeholders with :data:`bindings.LOCAL_SUBSTITUTIONS`,
binds every Task resource to a local handler (:data:`bindings.LOCAL_BINDINGS`), runs the
definition and writes ``runs/<run_id>/history.json`` (``{"events": [...]}``, the shape of
``GetExecutionHistory``) and ``runs/<run_id>/execution.json`` (DescribeExecution-like).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from orchestration.executor.bindings import LOCAL_BINDINGS, LOCAL_SUBSTITUTIONS, LocalBindings
from orchestration.executor.definition import (
    DEFINITION_PATH,
    PLACEHOLDERS,
    STATE_MACHINE_NAME,
    DefinitionError,
    load_definition,
)
from orchestration.executor.interpreter import (
    ExecutionResult,
    Executor,
    Handler,
    TaskContext,
    TaskFailure,
    now_iso,
)

__all__ = [
    "DEFINITION_PATH",
    "LOCAL_BINDINGS",
    "LOCAL_SUBSTITUTIONS",
    "PLACEHOLDERS",
    "STATE_MACHINE_NAME",
    "DefinitionError",
    "ExecutionResult",
    "Executor",
    "Handler",
    "LocalBindings",
    "TaskContext",
    "TaskFailure",
    "check_from_state",
    "run_local",
    "write_json_atomic",
]


def write_json_atomic(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, default=str)
    os.replace(tmp, path)


def check_from_state(
    from_state: str | None,
    definition: Mapping[str, Any] | None = None,
    *,
    definition_path: str | Path | None = None,
) -> None:
    """Raise DefinitionError, naming ``from_state`` and the valid names, unless it is None or a
    top-level state of the definition (loaded from ``definition_path`` when not given)."""
    if from_state is None:
        return
    if definition is None:
        definition = load_definition(LOCAL_SUBSTITUTIONS, definition_path)
    states = definition["States"]
    if from_state not in states:
        raise DefinitionError(
            f"--from-state {from_state!r} is not a top-level state; choose one of: "
            + ", ".join(states)
        )


def run_local(
    lake_dir: str | Path,
    run_id: str,
    *,
    mode: str = "incremental",
    engine: str = "spark",
    from_state: str | None = None,
    handler_overrides: Mapping[str, Handler] | None = None,
    wait_factor: float | None = None,
    sleep: Callable[[float], None] | None = None,
    listener: Callable[[dict], None] | None = None,
    definition_path: str | Path | None = None,
) -> ExecutionResult:
    """Execute the pipeline on ``lake_dir``; always writes history.json and execution.json."""
    definition = load_definition(LOCAL_SUBSTITUTIONS, definition_path)
    check_from_state(from_state, definition)  # a bad state leaves no run record behind
    bindings = LocalBindings(lake_dir, run_id, engine=engine)
    handlers = {**bindings.handlers(), **(handler_overrides or {})}
    executor = Executor(
        definition, handlers, wait_factor=wait_factor, sleep=sleep, listener=listener
    )
    run_dir = bindings.run_dir
    execution_input = {"run_id": run_id, "mode": mode}
    # a RUNNING record first: a run that is killed leaves a trace of itself
    record = {
        "executionArn": None,
        "name": run_id,
        "status": "RUNNING",
        "startDate": None,
        "stopDate": None,
        "input": execution_input,
        "output": None,
        "error": None,
        "cause": None,
    }
    write_json_atomic(run_dir / "execution.json", record)
    try:
        result = executor.run(execution_input, run_id, from_state=from_state)
    except BaseException as exc:
        # the executor raised instead of returning a result: the run is over all the same, so
        # it must not stay RUNNING (``carrental status`` would list it as running forever)
        interrupted = isinstance(exc, (KeyboardInterrupt, SystemExit))
        write_json_atomic(
            run_dir / "execution.json",
            {
                **record,
                "status": "ABORTED" if interrupted else "FAILED",
                "stopDate": now_iso(),
                "error": type(exc).__name__,
                "cause": str(exc),
            },
        )
        raise
    finally:
        bindings.close()
        write_json_atomic(run_dir / "history.json", {"events": executor.history.events})
    write_json_atomic(run_dir / "execution.json", result.execution_record())
    return result
