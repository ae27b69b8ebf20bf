"""`carrental run`: placeholder until its issue lands."""

import typer


def register(app: typer.Typer) -> None:  # replaced by the module's real commands
    pass
