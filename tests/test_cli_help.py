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


def test_quiet_help_says_warnings_still_print(capsys) -> None:
    from carrental import console

    listing = " ".join(runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output.split())
    assert "only warnings and errors on stderr." in listing
    before = console.MODE.quiet
    console.MODE.quiet = True
    try:
        console.info("progress")
        console.warn("careful")
    finally:
        console.MODE.quiet = before
    assert capsys.readouterr().err == "warning: careful\n"


def test_spark_help_lists_every_exit_code_it_returns() -> None:
    import re

    from carrental.errors import UsageError

    text = " ".join(runner.invoke(app, ["spark", "--help"], env={"COLUMNS": "200"}).output.split())
    codes = text.split("Exit codes:", 1)[1].split(".", 1)[0].strip()
    assert sorted(int(c) for c in re.findall(r"(?:^|, )(\d) ", codes)) == [0, 1, 2, 3, 4], codes
    assert "2 bad arguments" in codes
    bogus = runner.invoke(app, ["spark", "bogus", "--lake-dir", "lake"])
    assert isinstance(bogus.exception, UsageError) and bogus.exception.exit_code == 2
