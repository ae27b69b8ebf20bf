"""``python -m bench``: run the benchmark, print the Markdown table, save .md and .json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.harness import (
    RESULTS_DIR,
    SIDES,
    BenchConfig,
    parse_sides,
    render_markdown,
    report_from_partial,
    run_bench,
    write_report,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the project's two jobs against a seed-style PySpark baseline and "
        "a hand-written DuckDB SQL reference, on the same generated input.",
        epilog="Examples:\n  python -m bench\n  python -m bench --transactions 10000000\n"
        "  python -m bench --transactions 20000 --repeats 1 --sides baseline,duckdb_sql",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--transactions", type=int, default=1_000_000, help="rentals to generate")
    parser.add_argument("--repeats", type=int, default=3, help="runs per side (medians quoted)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed")
    parser.add_argument(
        "--dirty-fraction",
        type=float,
        default=0.0,
        help="inject defects (the baseline has no quarantine, so totals then differ)",
    )
    parser.add_argument(
        "--sides", default=",".join(SIDES), help=f"comma-separated subset of {', '.join(SIDES)}"
    )
    parser.add_argument(
        "--raw-dir",
        type=Path,
        default=None,
        help="benchmark an existing <lake>/data/raw folder instead of generating data",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds per job run")
    parser.add_argument(
        "--from-partial",
        type=Path,
        default=None,
        help="only render the report of an interrupted run from its bench-*.partial.json",
    )
    parser.add_argument(
        "--discard-work", action="store_true", help="delete the per-side lakes and logs at the end"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.from_partial:
        report = report_from_partial(args.from_partial)
        md_path, json_path = write_report(report, args.results_dir.resolve())
        sys.stdout.write(render_markdown(report))
        print(f"\nsaved {md_path} and {json_path}", file=sys.stderr)
        return 1 if mismatched(report) else 0
    config = BenchConfig(
        transactions=args.transactions,
        repeats=args.repeats,
        seed=args.seed,
        dirty_fraction=args.dirty_fraction,
        results_dir=args.results_dir.resolve(),
        raw_dir=args.raw_dir,
        sides=parse_sides(args.sides),
        timeout_s=args.timeout,
        keep_work=not args.discard_work,
    )
    report = run_bench(config)
    md_path, json_path = write_report(report, config.results_dir)
    sys.stdout.write(render_markdown(report))
    print(f"\nsaved {md_path} and {json_path}", file=sys.stderr)
    failed = [side for side, data in report["sides"].items() if data["status"] == "failed"]
    return 1 if failed or mismatched(report) else 0


def mismatched(report: dict) -> bool:
    """Whether the sides disagree on the overall totals (printed to stderr); the README of
    the bench says they must agree."""
    mismatches = report["correctness"].get("mismatches", [])
    for line in mismatches:
        print(line, file=sys.stderr)
    return bool(mismatches)


if __name__ == "__main__":
    sys.exit(main())
