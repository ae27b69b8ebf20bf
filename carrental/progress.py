"""Live progress of Spark jobs and dbt runs on stderr (rich); silent with --quiet or --json.

Both renderers are ``on_line(stream, line)`` callbacks for
:func:`spark_ingest.submit.submit_job` and :func:`carrental.dbt_runner.run_dbt`. They read
the structured lines (the jobs' JSON log events, dbt's ``--log-format json`` events) and
skip everything else, which stays in the captured output and the log files.

On a terminal every running Spark stage gets a transient bar; elsewhere (CI logs, a pipe)
a job prints a plain stage line at most every ``heartbeat`` seconds. dbt prints one line
per finished node, like its own ``N of M`` lines.
"""

from __future__ import annotations

import json
import re
import threading
import time
from types import TracebackType
from typing import Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from carrental import console

#: Seconds between two plain stage lines of one job when stderr is not a terminal.
HEARTBEAT_SECONDS = 10.0

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CALL_SITE = re.compile(r"^(?P<op>\S+) at (?:.*/)?(?P<file>[^/\s]+\.py:\d+)$")
_EVENT_KEYS = {"ts", "level", "logger", "event", "job"}

#: dbt node_status -> (label, rich style); anything else is shown upper-cased.
_DBT_STATUS = {
    "success": ("OK", "green"),
    "pass": ("PASS", "green"),
    "warn": ("WARN", "yellow"),
    "fail": ("FAIL", "red"),
    "error": ("ERROR", "red"),
    "runtime error": ("ERROR", "red"),
    "skipped": ("SKIP", "yellow"),
    "no-op": ("NO-OP", "dim"),
}


def _silent() -> bool:
    return console.MODE.quiet or console.MODE.json


def _json_object(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        payload = json.loads(line)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def stage_label(name: str) -> str:
    """``collect at /x/spark_ingest/pipeline.py:71`` -> ``collect at pipeline.py:71``; JVM
    call sites (``parquet at NativeMethodAccessorImpl.java:0``) keep only the operation."""
    match = _CALL_SITE.match(name)
    if match:
        return f"{match['op']} at {match['file']}"
    op = name.split(" at ", 1)[0]
    return "" if op.startswith("$anonfun") else op


class _StageBoard:
    """The one live region on stderr, shared by the Spark jobs running in parallel (rich
    allows one live display per console). It exists only while some stage is running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._tasks: dict[tuple[str, int], TaskID] = {}

    def show(self, key: tuple[str, int], description: str, done: int, total: int) -> None:
        with self._lock:
            if self._progress is None:
                self._progress = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("tasks"),
                    console=console.err,
                    transient=True,
                )
                self._progress.start()
            task = self._tasks.get(key)
            if task is None:
                self._tasks[key] = self._progress.add_task(description, total=total, completed=done)
            else:
                self._progress.update(task, description=description, total=total, completed=done)

    def hide(self, job: str, stage_id: int | None = None) -> None:
        """Drop one stage's bar, or every bar of ``job``; stop the display when none is left."""
        with self._lock:
            if self._progress is None:
                return
            for key in list(self._tasks):
                if key[0] == job and (stage_id is None or key[1] == stage_id):
                    self._progress.remove_task(self._tasks.pop(key))
            if not self._tasks:
                self._progress.stop()
                self._progress = None


_BOARD = _StageBoard()


class SparkProgress:
    """Renders one Spark job's log events; use one per job, as a context manager, so its
    bars disappear even if the job dies without a last event.

    Lines: every ``dataset_validated`` (rows read/valid/rejected), the job's outcome, any
    warning or error event, and stage progress (bars on a terminal, else throttled lines).
    """

    def __init__(self, job: str, *, heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.job = job
        self.heartbeat = heartbeat
        self._last_line = -float("inf")

    def __enter__(self) -> SparkProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _BOARD.hide(self.job)

    def __call__(self, stream: str, line: str) -> None:
        if _silent():
            return
        event = _json_object(line)
        if event is None or event.get("logger") != "spark_ingest":
            return
        kind = event.get("event")
        if kind == "stage_progress":
            self._stage(event)
        elif kind == "dataset_validated":
            rejected = event["rejected"]
            style = "yellow" if rejected else "dim"
            self._print(
                f"validated {escape(event['dataset'])}: {event['rows_read']:,} rows read, "
                f"{event['valid']:,} valid, [{style}]{rejected:,} rejected[/{style}]"
            )
        elif kind == "job_succeeded":
            outputs = ", ".join(f"{escape(t)} {n:,}" for t, n in event["outputs"].items())
            self._print(f"[green]succeeded[/green] in {event['seconds']:.1f}s: {outputs} rows")
        elif kind == "job_failed":
            reason = escape(f"{event.get('type')}: {event.get('message')}")
            self._print(f"[red]failed[/red] (exit {event.get('exit_code')}): {reason}")
        elif event.get("level") in ("WARNING", "ERROR"):
            fields = " ".join(f"{k}={v}" for k, v in event.items() if k not in _EVENT_KEYS)
            self._print(f"[yellow]{escape(str(kind))}[/yellow] {escape(fields)}")

    def _stage(self, event: dict[str, Any]) -> None:
        label = stage_label(str(event.get("name", "")))
        text = f"stage {event['stage_id']}" + (f" ({escape(label)})" if label else "")
        if event["failed"]:
            text += f" [red]{event['failed']} failed[/red]"
        if console.err.is_terminal:
            if event["finished"]:
                _BOARD.hide(self.job, event["stage_id"])
            else:
                description = f"[dim]{escape(self.job)}[/dim] {text}"
                _BOARD.show(
                    (self.job, event["stage_id"]), description, event["done"], event["total"]
                )
            return
        now = time.monotonic()
        if now - self._last_line >= self.heartbeat:
            self._last_line = now
            self._print(f"{text}: {event['done']}/{event['total']} tasks")

    def _print(self, text: str) -> None:
        console.err.print(f"[dim]{escape(self.job)}[/dim] {text}", soft_wrap=True)


def _print_dbt(text: str) -> None:
    console.err.print(f"[dim]dbt[/dim] {text}", soft_wrap=True)  # no hard wraps in CI logs


class DbtProgress:
    """Renders dbt's JSON log events: one line per finished node (``N/M STATUS resource
    name (seconds)``), error and warning messages, and the closing ``Done.`` tally."""

    def __call__(self, stream: str, line: str) -> None:
        if _silent():
            return
        event = _json_object(line)
        info, data = (event or {}).get("info"), (event or {}).get("data")
        if not isinstance(info, dict) or not isinstance(data, dict):
            return
        node = data.get("node_info")
        if isinstance(node, dict) and "index" in data:  # LogStartLine or a node's result
            if not str(info.get("name")).endswith("StartLine"):
                self._node(data, node)
            return
        message = escape(_ANSI.sub("", str(info.get("msg", ""))).rstrip())
        if info.get("name") == "StatsLine":
            _print_dbt(message)
        elif info.get("level") in ("warn", "error") and message:
            style = "red" if info["level"] == "error" else "yellow"
            _print_dbt(f"[{style}]{message}[/{style}]")

    def _node(self, data: dict[str, Any], node: dict[str, Any]) -> None:
        # node_status is "None" for unit tests, whose result carries data.status instead
        candidates = (str(node.get("node_status")), str(data.get("status")).lower())
        status = next((s for s in candidates if s in _DBT_STATUS), candidates[1])
        label, style = _DBT_STATUS.get(status, (status.upper(), "bold"))
        if status in ("fail", "warn") and data.get("num_failures"):
            label += f" {data['num_failures']}"
        total = data.get("total") or data.get("num_models") or "?"
        seconds = data.get("execution_time")
        timing = f" [dim]({seconds:.2f}s)[/dim]" if isinstance(seconds, int | float) else ""
        _print_dbt(
            f"{data['index']:>{len(str(total))}}/{total} [{style}]{label}[/{style}] "
            f"{escape(str(node.get('resource_type', '')))} "
            f"{escape(str(node.get('node_name', '')))}{timing}"
        )
