"""`carrental --help` lists every command on one line, and every command's help has examples."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from carrental.cli import app

runner = CliRunner()


def _commands() -> dict[str, str]:
    """name -> one-line summary, read from the Click group typer builds (not our own list)."""
    group = typer.main.get_command(app)
    return {
        name: command.get_short_help_str(limit=200)
        for name, command in group.commands.items()  # type: ignore[attr-defined]
    }


def test_every_command_has_a_one_line_summary() -> None:
    commands = _commands()
    assert {"generate", "spark", "crawl", "dbt", "run", "status"} <= set(commands)
    listing = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    box = listing[listing.index("Commands") :].splitlines()
    panel = [line for line in box if line.startswith("│")]  # the rows inside the box
    rows = [line.strip("│ ").split(None, 1) for line in panel]
    # at 200 columns every command is exactly one row: name, then its summary
    assert [row[0] for row in rows] == list(commands), panel
    for name, summary in rows:
        assert summary.strip(), f"{name} has no summary"
        assert summary.strip() == commands[name], (name, summary)


def test_every_command_help_has_examples() -> None:
    for name in _commands():
        result = runner.invoke(app, [name, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (name, result.output)
        assert "Examples:" in result.output, name
        assert "carrental" in result.output.split("Examples:", 1)[1], name
