"""`carrental crawl`: register the processed tables in the local catalog."""

from __future__ import annotations

from typing import Annotated

import typer

from carrental import console
from carrental.errors import CarrentalError, check_run_id
from carrental.paths import local_folder

HELP = """Register the processed tables in the local catalog (like the Glue crawlers).

Each table becomes a view car_rental_db.<table> in <lake>/warehouse.duckdb.

The schema is read from the Parquet files, partition folders become columns,
_SUCCESS/_temporary/hidden files are ignored. Each crawl's schema is recorded in
<lake>/catalog/schemas/<table>.json: an added column is accepted and logged, a
removed or retyped column, an empty or unreadable table fails the crawl (exit 1).

Examples:

  carrental crawl --lake-dir lake

  carrental crawl --lake-dir lake --table rentals_fact --table location_performance

  carrental --json crawl --lake-dir lake --crawler user_transaction_analysis_crawler
"""


def register(app: typer.Typer) -> None:
    @app.command("crawl", help=HELP)
    def crawl_command(
        # str, not Path: a Path turns s3://bucket into s3:/bucket (see carrental.paths).
        lake_dir: Annotated[
            str, typer.Option("--lake-dir", help="The local lake folder.")
        ] = "lake",
        table: Annotated[
            list[str] | None,
            typer.Option("--table", "-t", help="Only this table (repeatable). Default: all."),
        ] = None,
        crawler: Annotated[
            str | None,
            typer.Option(
                "--crawler",
                help="Only this crawler's tables (vehicle_location_performance_crawler or "
                "user_transaction_analysis_crawler).",
            ),
        ] = None,
        run_id: Annotated[
            str | None,
            typer.Option(
                "--run-id", help="Also save the result to runs/<run_id>/crawl/<crawler>.json."
            ),
        ] = None,
    ) -> None:
        from carrental.catalog import crawl

        lake = local_folder(
            lake_dir,
            hint="the local catalog lives in <lake>/warehouse.duckdb; on AWS the Glue crawlers "
            "of the deployed stack register the tables in S3",
        )
        if run_id is not None:
            check_run_id(run_id)
        result = crawl(lake, crawler=crawler, tables=table or None, run_id=run_id)
        info = result["Crawler"]
        last = info["LastCrawl"]
        for change in info["SchemaChanges"]:
            if change["Change"] == "ADDED":
                console.warn(
                    f"{change['Table']}: new column {change['Column']} ({change['NewType']}) "
                    "accepted"
                )
        lines = [
            f"{t['Name']}: {t['Parameters']['recordCount']} rows, "
            f"{len(t['StorageDescriptor']['Columns']) + len(t['PartitionKeys'])} columns"
            for t in info["Tables"]
        ]
        human = "\n".join([*lines, f"crawl {info['Name']}: {last['Status']}"])
        console.result(result, human)
        if last["Status"] != "SUCCEEDED":
            raise CarrentalError(
                f"crawl failed: {last['ErrorMessage']}",
                hint="fix the table's data (or, for an intended schema change, delete "
                "<lake>/catalog/schemas/<table>.json) and crawl again",
            )
