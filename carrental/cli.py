"""The ``carrental`` command line.

Every command lives in its own module under ``carrental/commands/`` and exposes
``register(app)``. This file only wires them together and turns
:class:`~carrental.errors.CarrentalError` into one clear line plus a hint.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.markup import escape

from carrental import console
from carrental.errors import CarrentalError

COMMAND_MODULES = (
    "generate",
    "spark",
    "crawl",
    "dbt",
    "run",
    "status",
    "package",
    "deploy",
)

app = typer.Typer(
    name="carrental",
    help="Car-rental analytics: Spark jobs, a dbt quality gate and one state machine, "
    "local or on AWS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global_options(
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress: only warnings and errors on stderr."
    ),
    json_output: bool = typer.Option(False, "--json", help="Machine-readable result on stdout."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    console.MODE.quiet = quiet
    console.MODE.json = json_output
    console.MODE.debug = debug


for _name in COMMAND_MODULES:
    importlib.import_module(f"carrental.commands.{_name}").register(app)


def main() -> None:
    """Entry point: click handles usage errors (exit 2); CarrentalError prints one line + hint."""
    try:
        app()
    except CarrentalError as exc:
        if console.MODE.debug:
            raise
        console.err.print(f"[bold red]error:[/bold red] {escape(exc.message)}")
        if exc.hint:
            console.err.print(f"[dim]hint:[/dim] {escape(exc.hint)}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # the last resort: still one line unless --debug
        if console.MODE.debug:
            raise
        console.err.print(f"[bold red]error:[/bold red] {type(exc).__name__}: {escape(str(exc))}")
        console.err.print("[dim]hint:[/dim] re-run with --debug for the full traceback")
        sys.exit(1)
