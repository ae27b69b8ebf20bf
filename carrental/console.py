"""Terminal output shared by every command.

Progress and logs go to stderr (rich); results go to stdout. ``--quiet`` silences
progress, ``--json`` makes stdout machine-readable for schedulers.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from rich.console import Console


@dataclass
class OutputMode:
    quiet: bool = False
    json: bool = False
    debug: bool = False


MODE = OutputMode()
err = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)


def info(message: str) -> None:
    """A progress or status line on stderr (hidden by --quiet and --json)."""
    if not (MODE.quiet or MODE.json):
        err.print(message)


def warn(message: str) -> None:
    """A warning on stderr; shown even with --quiet."""
    err.print(f"[yellow]warning:[/yellow] {message}")


def result(payload: dict[str, Any], human: str | None = None) -> None:
    """The command's result on stdout: JSON with --json, else the human text."""
    if MODE.json:
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    elif human is not None:
        out.print(human)
