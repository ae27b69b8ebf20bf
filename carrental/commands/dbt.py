"""`carrental dbt`: run any dbt command against a lake's warehouse."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from carrental import console
from carrental.paths import local_folder

HELP = """Run any dbt command against a lake's warehouse.

dbt uses <lake>/warehouse.duckdb (target local) or Athena (target athena).
The lake is a local folder on both targets (dbt's state lives in it); an
s3:// URI is refused.

Everything after `--` goes to dbt. The project is the repository root, the
profile comes from DBT_PROFILES_DIR (or profiles.example.yml), dbt's target/
and logs/ live under <lake>/.dbt/. The exit code is dbt's.

Examples:

  carrental dbt --lake-dir lake -- build

  carrental dbt --lake-dir lake -- build -s business_kpis+

  carrental dbt --lake-dir lake -- source freshness

  carrental dbt --lake-dir lake -- docs generate
"""


def register(app: typer.Typer) -> None:
    @app.command(
        "dbt",
        help=HELP,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def dbt_command(
        dbt_args: Annotated[
            list[str] | None, typer.Argument(help="dbt arguments, after `--`.")
        ] = None,
        # str, not Path: a Path turns s3://bucket into s3:/bucket (see carrental.paths).
        lake_dir: Annotated[
            str, typer.Option("--lake-dir", help="The local lake folder (also for athena).")
        ] = "lake",
        target: Annotated[
            str, typer.Option("--target", help="dbt target: local or athena.")
        ] = "local",
        run_id: Annotated[
            str | None,
            typer.Option("--run-id", help="Copy run_results.json to runs/<run_id>/dbt/."),
        ] = None,
    ) -> None:
        from carrental.dbt_runner import run_dbt

        local_folder(
            lake_dir,
            hint="dbt keeps its target/ and logs/ under <lake>/.dbt; pass a local folder "
            "(e.g. --lake-dir lake); for --target athena the S3 data location comes from "
            "DBT_ATHENA_S3_DATA_DIR",
        )
        args = list(dbt_args or [])
        console.info(f"dbt {' '.join(args)} (target {target}, lake {lake_dir})")
        result = run_dbt(lake_dir, args, target=target, run_id=run_id, capture=console.MODE.json)
        if console.MODE.json:
            console.result(
                {
                    "returncode": result.returncode,
                    "failed_nodes": result.failed_nodes,
                    "stdout": result.stdout,
                }
            )
        if result.returncode != 0:
            sys.exit(result.returncode)
