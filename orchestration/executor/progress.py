"""Live progress on stderr: one line per state with its elapsed time (respects --quiet/--json)."""

from __future__ import annotations

import threading
import time

from carrental import console

_QUIET_TYPES = {"PassStateEntered", "PassStateExited", "ChoiceStateEntered", "ChoiceStateExited"}


class ConsoleProgress:
    """An executor ``listener``: prints entered/exited/failed/retry lines with elapsed time."""

    def __init__(self) -> None:
        self._started: dict[tuple[str, str], float] = {}
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self._failed: set[str] = set()  # threads whose current task's last attempt failed

    def __call__(self, event: dict) -> None:
        if console.MODE.quiet or console.MODE.json:
            return
        kind = event["type"]
        thread = threading.current_thread().name
        where = "" if thread == "MainThread" else f"[dim]{thread}[/dim] "
        clock = f"[dim]{time.monotonic() - self._t0:7.1f}s[/dim]"
        if kind in _QUIET_TYPES:
            return
        if kind == "FailStateEntered":
            name = event["stateEnteredEventDetails"]["name"]
            console.err.print(f"{clock} {where}[bold red]✗ {name}[/bold red]")
        elif kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            with self._lock:
                self._started[(thread, name)] = time.monotonic()
            console.err.print(f"{clock} {where}[cyan]▶[/cyan] {name}")
        elif kind.endswith("StateExited") or kind.endswith("StateAborted"):
            name = event["stateExitedEventDetails"]["name"]
            with self._lock:
                began = self._started.pop((thread, name), time.monotonic())
            mark = (
                "[yellow]■ cancelled[/yellow]" if kind.endswith("Aborted") else "[green]✓[/green]"
            )
            console.err.print(
                f"{clock} {where}{mark} {name} [dim]({time.monotonic() - began:.1f}s)[/dim]"
            )
        elif kind == "TaskFailed":
            details = event["taskFailedEventDetails"]
            with self._lock:
                self._failed.add(thread)
            console.err.print(f"{clock} {where}[red]✗[/red] {details['error']}")
        elif kind == "TaskSucceeded":
            with self._lock:
                self._failed.discard(thread)
        elif kind == "TaskScheduled" and "retry" in event["taskScheduledEventDetails"]:
            retry = event["taskScheduledEventDetails"]["retry"]
            console.err.print(
                f"{clock} {where}[yellow]↻ retry {retry['attempt']}[/yellow] after "
                f"{retry['afterError']} (back-off {retry['backoffSeconds']}s nominal)"
            )
