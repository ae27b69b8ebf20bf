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
    "run_local",
    "write_json_atomic",
]


def write_json_atomic(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, default=str)
    os.replace(tmp, path)


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
    bindings = LocalBindings(lake_dir, run_id, engine=engine)
    handlers = {**bindings.handlers(), **(handler_overrides or {})}
    executor = Executor(
        definition, handlers, wait_factor=wait_factor, sleep=sleep, listener=listener
    )
    run_dir = bindings.run_dir
    execution_input = {"run_id": run_id, "mode": mode}
    # a RUNNING record first: a run that is killed leaves a trace of itself
    write_json_atomic(
        run_dir / "execution.json",
        {
            "executionArn": None,
            "name": run_id,
            "status": "RUNNING",
            "startDate": None,
            "stopDate": None,
            "input": execution_input,
            "output": None,
            "error": None,
            "cause": None,
        },
    )
    try:
        result = executor.run(execution_input, run_id, from_state=from_state)
    finally:
        bindings.close()
        write_json_atomic(run_dir / "history.json", {"events": executor.history.events})
    write_json_atomic(run_dir / "execution.json", result.execution_record())
    return result
