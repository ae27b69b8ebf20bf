"""`carrental generate`: deterministic sample data in the raw lake layout."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from carrental import console
from carrental.errors import UsageError
from carrental.paths import local_folder

PROGRESS_MIN_ROWS = 100_000
#: Options --append-day does not use (it reads the seed and the days from the lake's manifest):
#: parameter name -> option, refused when given on the command line, even with the default.
NOT_FOR_APPEND_DAY = {
    "seed": "--seed",
    "start_date": "--start-date",
    "days": "--days",
    "split": "--split",
    "overwrite": "--overwrite",
}

HELP = """Write vehicles, locations, users and rental_transactions CSVs into LAKE/data/raw.

The same arguments and seed give byte-identical files. --dirty-fraction F replaces about F of the rentals (and a few dimension rows) with one-defect rows covering every quarantine reason code; LAKE/generator_manifest.json records how many rows each reason code must reject.

Examples:

  carrental generate --lake-dir lake --transactions 20000

  carrental generate --lake-dir lake --transactions 1000000 --seed 7 --dirty-fraction 0.02 --overwrite

  carrental generate --lake-dir lake --transactions 50000 --split daily --start-date 2024-06-01 --days 30

  carrental generate --lake-dir lake --transactions 2000 --append-day 2024-07-01
"""


class Split(StrEnum):
    none = "none"
    daily = "daily"


def _given(ctx: typer.Context, name: str) -> bool:
    """True when the option ``name`` was given (command line or environment), even with its
    default value. Compared by name: Typer ships its own copy of click's ParameterSource."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} must be a date YYYY-MM-DD, got {value!r}") from None


@contextmanager
def _progress(total: int, label: str):
    """A rich progress bar on stderr for large sets; yields an advance(n) callback or None."""
    if total < PROGRESS_MIN_ROWS or console.MODE.quiet or console.MODE.json:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console.err,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _summary(lake: Path, manifest: dict, seconds: float) -> str:
    lines = [f"generated sample data in {lake} ({seconds:.1f}s)"]
    for dataset, files in manifest["files"].items():
        expected = manifest["expected"][dataset]
        rows = sum(f["rows"] for f in files)
        where = files[0]["path"] if len(files) == 1 else f"{len(files)} files under "
        if len(files) > 1:
            where += files[0]["path"].rsplit("/", 1)[0] + "/"
        rejected = f", {expected['rejected']:,} dirty" if expected["rejected"] else ""
        lines.append(f"  {dataset:<20} {rows:>11,} rows{rejected}  {where}")
    lines.append(f"  manifest: {lake / 'generator_manifest.json'}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("generate", help=HELP)
    def generate_command(
        ctx: typer.Context,
        # str, not Path: a Path turns s3://bucket into s3:/bucket (see carrental.paths).
        lake_dir: Annotated[
            str, typer.Option("--lake-dir", help="Local lake folder (created if missing).")
        ],
        transactions: Annotated[
            int,
            typer.Option(
                "--transactions", "-n", help="Rental rows to write (with --append-day: that day)."
            ),
        ],
        seed: Annotated[int, typer.Option(help="Random seed; same seed, same bytes.")] = 42,
        dirty_fraction: Annotated[
            float,
            typer.Option(
                help="Share of rentals (0..0.5) replaced by one-defect rows; > 0 injects every kind."
            ),
        ] = 0.0,
        start_date: Annotated[str, typer.Option(help="First rental day, YYYY-MM-DD.")] = (
            "2024-01-01"
        ),
        days: Annotated[int, typer.Option(help="Number of rental days.")] = 90,
        split: Annotated[
            Split,
            typer.Option(
                help="none: one rental_transactions.csv; daily: rentals_YYYY-MM-DD.csv per day."
            ),
        ] = Split.none,
        append_day: Annotated[
            str | None,
            typer.Option(
                help="Add rentals_<day>.csv for a NEW day to a lake made by this command "
                "(dimensions unchanged; seed and sizes are read from its manifest, so "
                "--seed, --start-date, --days, --split and --overwrite are refused)."
            ),
        ] = None,
        overwrite: Annotated[
            bool, typer.Option(help="Replace existing raw files under LAKE/data/raw.")
        ] = False,
    ) -> None:
        import time

        from carrental import generate as gen

        lake = local_folder(lake_dir, hint=gen.LOCAL_LAKE_HINT)
        start = _parse_day(start_date, "--start-date")
        day = _parse_day(append_day, "--append-day")
        began = time.perf_counter()
        if day is not None:
            given = [option for name, option in NOT_FOR_APPEND_DAY.items() if _given(ctx, name)]
            if given:
                raise UsageError(
                    f"{', '.join(given)} cannot be used with --append-day",
                    hint="--append-day keeps the lake's seed and dimensions (read from its "
                    "generator_manifest.json) and writes one new day: drop "
                    f"{', '.join(given)}, or regenerate the lake without --append-day",
                )
            with _progress(transactions, f"rentals {day}") as advance:
                manifest = gen.append_day(
                    lake, day, transactions, dirty_fraction=dirty_fraction, progress=advance
                )
        else:
            with _progress(transactions, "rentals") as advance:
                manifest = gen.generate(
                    lake,
                    transactions,
                    seed=seed,
                    dirty_fraction=dirty_fraction,
                    start_date=start,
                    days=days,
                    split=split.value,
                    overwrite=overwrite,
                    progress=advance,
                )
        seconds = time.perf_counter() - began
        payload = {
            "lake_dir": str(lake),
            "manifest": str(lake / gen.MANIFEST_NAME),
            "seconds": round(seconds, 3),
            "rows": {ds: sum(f["rows"] for f in files) for ds, files in manifest["files"].items()},
            "files": manifest["files"],
            "expected": manifest["expected"],
        }
        console.result(payload, _summary(lake, manifest, seconds))
