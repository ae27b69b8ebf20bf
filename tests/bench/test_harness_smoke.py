"""Smoke test of the `make bench` harness on 2000 hand-written rentals, one repeat.

No timing assertions: it checks that every side and job has a row with every column, that the
ratios are the measured medians divided by the baseline's, and that the sides that ran agree on
the overall revenue (computed here independently with plain Python).
"""

from __future__ import annotations

import csv
import json
import random
import statistics
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bench.harness import (
    BASELINE,
    DUCKDB_SQL,
    INCREMENTAL,
    METRICS,
    PROJECT,
    PROJECT_DUCKDB,
    PROJECT_SIDES,
    SIDES,
    TOTAL,
    BenchConfig,
    render_markdown,
    run_bench,
    side_jobs,
    target_notes,
    write_report,
)
from spark_ingest.layout import JOBS, VALIDATE_JOB

N_RENTALS = 2000
MEASURED = (BASELINE, DUCKDB_SQL, PROJECT_DUCKDB)
VEHICLE_TYPES = ("economy", "compact", "midsize", "suv", "luxury", "van")


def write_raw(raw: Path, n_rentals: int = N_RENTALS) -> tuple[Decimal, int]:
    """Write a small clean raw layout; return the expected overall revenue and count."""
    rng = random.Random(7)
    tables = {
        "vehicles": (
            [
                "active",
                "vehicle_license_number",
                "registration_name",
                "license_type",
                "expiration_date",
                "permit_license_number",
                "certification_date",
                "vehicle_year",
                "base_telematics_id",
                "vehicle_type",
                "brand",
                "vehicle_id",
            ],
            [
                [
                    1,
                    f"L{i}",
                    f"Reg {i}",
                    "FHV",
                    "2027-01-01",
                    f"P{i}",
                    "2020-01-01",
                    2019,
                    f"B{i}",
                    VEHICLE_TYPES[i % 6],
                    "Brand",
                    f"V{i:04d}",
                ]
                for i in range(50)
            ],
        ),
        "locations": (
            [
                "location_id",
                "location_name",
                "address",
                "city",
                "state",
                "zip_code",
                "latitude",
                "longitude",
            ],
            [
                [i, f"Loc {i}", f"{i} Main St", "Springfield", "IL", f"{62700 + i}", 39.7, -89.6]
                for i in range(1, 11)
            ],
        ),
        "users": (
            [
                "user_id",
                "first_name",
                "last_name",
                "email",
                "phone_number",
                "driver_license_number",
                "driver_license_expiry",
                "creation_date",
                "is_active",
            ],
            [
                [
                    f"U{i:04d}",
                    f"First{i}",
                    f"Last{i}",
                    f"u{i}@example.com",
                    "555-0100",
                    f"D{i}",
                    "2028-01-01",
                    "2023-01-01",
                    i % 5 != 0,
                ]
                for i in range(200)
            ],
        ),
    }
    start0 = datetime(2024, 1, 1)
    rentals, total = [], Decimal("0")
    for i in range(n_rentals):
        start = start0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 90))
        end = start + timedelta(minutes=rng.randrange(0, 60 * 72))
        amount = Decimal(rng.randrange(1000, 90000)) / 100
        total += amount
        rentals.append(
            [
                f"R{i:06d}",
                f"U{rng.randrange(200):04d}",
                f"V{rng.randrange(50):04d}",
                f"{start:%Y-%m-%d %H:%M:%S}",
                f"{end:%Y-%m-%d %H:%M:%S}",
                rng.randint(1, 10),
                rng.randint(1, 10),
                f"{amount:.2f}",
            ]
        )
    tables["rental_transactions"] = (
        [
            "rental_id",
            "user_id",
            "vehicle_id",
            "rental_start_time",
            "rental_end_time",
            "pickup_location",
            "dropoff_location",
            "total_amount",
        ],
        rentals,
    )
    for dataset, (header, rows) in tables.items():
        folder = raw / dataset
        folder.mkdir(parents=True)
        with open(folder / f"{dataset}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in rows:
                writer.writerow([int(v) if isinstance(v, bool) else v for v in row])
    return total, n_rentals


def test_warm_inputs_reads_every_file_under_the_raw_folder(tmp_path: Path) -> None:
    from bench.harness import WARM_CHUNK, warm_inputs

    sizes = {"users/users.csv": 10, "rental_transactions/a.csv": WARM_CHUNK * 2 + 3}
    sizes["rental_transactions/nested/b.csv"] = 0
    for name, size in sizes.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x" * size)
    assert warm_inputs(tmp_path) == WARM_CHUNK * 2 + 13


@pytest.mark.slow
def test_harness_reports_every_side_and_ratio(tmp_path: Path, monkeypatch) -> None:
    from bench import harness

    expected_revenue, expected_count = write_raw(tmp_path / "lake" / "data" / "raw")
    raw_bytes = sum(p.stat().st_size for p in (tmp_path / "lake" / "data" / "raw").rglob("*.csv"))
    warmed: list[tuple[str, int]] = []
    warm = harness.warm_inputs
    monkeypatch.setattr(
        harness,
        "warm_inputs",
        lambda raw: warmed.append((raw.parent.parent.parent.name, warm(raw))),
    )
    # The two references and the DuckDB engine (no JVM): the Spark sides run the same jobs as
    # their own tests, and a 2-core machine makes every extra spark-submit expensive.
    config = BenchConfig(
        repeats=1,
        raw_dir=tmp_path / "lake" / "data" / "raw",
        results_dir=tmp_path / "results",
        sides=MEASURED,
    )

    report = run_bench(config)
    md_path, json_path = write_report(report, config.results_dir)
    # every job of every side found all of its side's input read just before it
    assert sorted(warmed) == sorted((side, raw_bytes) for side in MEASURED for _ in side_jobs(side))

    check_report(report, expected_revenue, expected_count)
    totals = {row["side"]: row["wall_s"] for row in report["rows"] if row["job"] == TOTAL}
    ratio = totals[PROJECT_DUCKDB] / totals[DUCKDB_SQL]
    # one repeat: its ratio is the one of the medians, from the raw per-job walls
    runs = {side: report["sides"][side]["runs"] for side in (PROJECT_DUCKDB, DUCKDB_SQL)}
    walls = {side: sum(r[0]["wall_s"] for r in jobs.values()) for side, jobs in runs.items()}
    assert walls[PROJECT_DUCKDB] / walls[DUCKDB_SQL] == pytest.approx(ratio, abs=1e-2)
    verdict, met = ("met", 1) if ratio <= 1.5 else ("not met", 0)
    assert (
        f"duckdb engine wall / duckdb SQL reference wall (all jobs, wall): {ratio:.2f}x "
        f"(target: <= 1.5x; {verdict}); per repeat "
        f"{walls[PROJECT_DUCKDB] / walls[DUCKDB_SQL]:.2f}x: met in {met} of 1"
    ) in report["notes"]
    saved = json.loads(json_path.read_text())
    assert saved["rows"] == json.loads(json.dumps(report["rows"]))
    assert md_path.read_text() == render_markdown(report)


def check_report(report: dict, expected_revenue: Decimal, expected_count: int) -> None:
    # One row per side and process plus an "all jobs" total row, every column present; the
    # project sides validate once (validate_inputs) before the two KPI jobs
    keys = {(row["side"], row["job"]) for row in report["rows"]}
    assert keys == {(side, job) for side in SIDES for job in (*side_jobs(side), TOTAL)}
    columns = {"label", "status", "note", "runs_ok", "runs", "speedup"}
    columns |= {metric for metric in METRICS} | {f"{metric}_ratio" for metric in METRICS}
    for row in report["rows"]:
        assert columns <= row.keys()
    for side in set(SIDES) - set(MEASURED):
        assert report["sides"][side]["status"] == "skipped"

    # The sides asked for ran; their numbers are medians of the recorded runs.
    sides = report["sides"]
    for side in MEASURED:
        assert sides[side]["status"] == "measured", sides[side]["note"]
    rows = {(row["side"], row["job"]): row for row in report["rows"]}
    for side, data in sides.items():
        if data["status"] != "measured":
            assert data["note"], f"{side} skipped without a reason"
            continue
        for job in JOBS:
            runs = data["runs"][job]
            assert len(runs) == 1 and runs[0]["returncode"] == 0
            row, base = rows[(side, job)], rows[(BASELINE, job)]
            for metric in METRICS:
                assert row[metric] == pytest.approx(statistics.median(r[metric] for r in runs))
                assert row[f"{metric}_ratio"] == pytest.approx(row[metric] / base[metric], abs=1e-3)
            assert row["speedup"] == pytest.approx(base["wall_s"] / row["wall_s"], abs=1e-3)
            assert runs[0]["wall_s"] > 0 and runs[0]["peak_rss_mb"] > 0
            # the processes of the peak sample: part of it, the largest first (a JVM on Spark)
            processes = runs[0]["peak_processes"]
            sizes = [int(entry.rsplit(" ", 1)[1]) for entry in processes]
            assert processes and sizes == sorted(sizes, reverse=True), processes
            assert sum(sizes) <= runs[0]["peak_rss_mb"] + len(sizes), processes
            if side == BASELINE:
                assert processes[0].startswith("java["), processes
        if side in PROJECT_SIDES:  # its own process, with no baseline counterpart
            validate = rows[(side, VALIDATE_JOB)]
            assert data["runs"][VALIDATE_JOB][0]["returncode"] == 0
            assert validate["wall_s"] > 0 and validate["wall_s_ratio"] is None
        total = rows[(side, TOTAL)]
        walls = [rows[(side, j)]["wall_s"] for j in side_jobs(side)]
        assert total["wall_s"] == pytest.approx(sum(walls))

    # Correctness side by side: every side that ran agrees with the plain-Python total.
    for side, values in report["correctness"]["sides"].items():
        assert values is not None, side
        assert values["overall_total_transactions"] == expected_count
        assert float(values["overall_total_revenue"]) == pytest.approx(
            float(expected_revenue), rel=1e-6
        ), side

    # The Markdown has the table and the machine description.
    text = render_markdown(report)
    for needle in (
        "| side | job |",
        "baseline (seed-style)",
        "duckdb SQL reference",
        "Java:",
        "Spark (pyspark):",
        "memory:",
    ):
        assert needle in text


def test_target_notes_divide_the_two_sides_walls() -> None:
    totals = {
        BASELINE: {"wall_s": 170.0},
        PROJECT: {"wall_s": 680.0},
        INCREMENTAL: {"wall_s": 136.0},
        PROJECT_DUCKDB: {"wall_s": 85.0},
        DUCKDB_SQL: {"wall_s": None},  # not measured: its target line is left out
    }
    assert target_notes(totals) == [
        "speed-up of the project full run over the baseline (all jobs, wall): 0.25x "
        "(target: >= 3x; not met)",
        "speed-up of the duckdb engine over the baseline (all jobs, wall): 2.00x "
        "(target: >= 3x; not met)",
        "speed-up of incremental +1% over the project full run (all jobs, wall): 5.00x "
        "(target: >= 5x; met)",
    ]


def _repeats(*walls: float, failed: int | None = None) -> list[dict]:
    return [{"wall_s": w, "returncode": 1 if i == failed else 0} for i, w in enumerate(walls)]


def test_target_notes_give_each_repeats_ratio_and_how_many_meet_the_target() -> None:
    totals = {
        BASELINE: {"wall_s": 120.0},
        PROJECT_DUCKDB: {"wall_s": 40.0},
        DUCKDB_SQL: {"wall_s": 30.0},
    }
    per_repeat = {
        BASELINE: _repeats(150.0, 120.0, 100.0),
        # the third repeat of the engine failed: no ratio for it on either of its targets
        PROJECT_DUCKDB: _repeats(45.0, 40.0, 20.0, failed=2),
        # one repeat more than the engine (an interrupted run): left out
        DUCKDB_SQL: _repeats(30.0, 25.0, 35.0, 31.0),
    }
    assert target_notes(totals, per_repeat) == [
        # 150/45 = 3.33 (met), 120/40 = 3.00 (met: the bound is included)
        "speed-up of the duckdb engine over the baseline (all jobs, wall): 3.00x "
        "(target: >= 3x; met); per repeat 3.33x, 3.00x: met in 2 of 2",
        # 45/30 = 1.50 (met), 40/25 = 1.60 (not met); the median ratio 40/30 = 1.33
        "duckdb engine wall / duckdb SQL reference wall (all jobs, wall): 1.33x "
        "(target: <= 1.5x; met); per repeat 1.50x, 1.60x: met in 1 of 2",
    ]


def test_an_interrupted_runs_report_has_the_target_lines(tmp_path: Path) -> None:
    from bench.harness import report_from_partial

    raw = tmp_path / "raw"
    (raw / "rental_transactions").mkdir(parents=True)
    (raw / "rental_transactions" / "rentals.csv").write_text("rental_id\nr1\nr2\n")

    def runs(*walls: float) -> list[dict]:
        return [
            {"wall_s": w, "cpu_s": w, "peak_rss_mb": 100.0, "returncode": 0, "rss_method": "x"}
            for w in walls
        ]

    validate, vlp, uta = VALIDATE_JOB, *JOBS
    results = {
        # per repeat: 20 + 30 and 25 + 35 s (median 55)
        BASELINE: {"side": BASELINE, "runs": {vlp: runs(20.0, 25.0), uta: runs(30.0, 35.0)}},
        # per repeat: 2 + 4 + 4 and 5 + 5 + 5 s (median 12.5)
        PROJECT_DUCKDB: {
            "side": PROJECT_DUCKDB,
            "runs": {validate: runs(2.0, 5.0), vlp: runs(4.0, 5.0), uta: runs(4.0, 5.0)},
        },
        # the second repeat was cut short after its first job: 4 + 6 s, once
        DUCKDB_SQL: {"side": DUCKDB_SQL, "runs": {vlp: runs(4.0, 5.0), uta: runs(6.0)}},
    }
    partial = tmp_path / "bench-x.partial.json"
    partial.write_text(
        json.dumps(
            {
                "stamp": "x",
                "created_at": "2026-12-02T00:00:00+00:00",
                "config": {"repeats": 3},
                "machine": {},
                "input": {"raw_root": str(raw), "work_dir": str(tmp_path / "work")},
                "completed_repeats": 1,
                "results": results,
            }
        )
    )
    report = report_from_partial(partial)
    assert report["input"]["rentals"] == 2
    assert report["notes"][0].startswith("interrupted run: 1 of 3 repeats completed")
    assert report["notes"][1:3] == [
        # 55 / 12.5; per repeat 50 / 10 and 60 / 15
        "speed-up of the duckdb engine over the baseline (all jobs, wall): 4.40x "
        "(target: >= 3x; met); per repeat 5.00x, 4.00x: met in 2 of 2",
        # 12.5 / 10; the SQL's one complete repeat against the engine's first
        "duckdb engine wall / duckdb SQL reference wall (all jobs, wall): 1.25x "
        "(target: <= 1.5x; met); per repeat 1.00x: met in 1 of 1",
    ]


def test_the_jvm_archive_is_written_before_any_spark_side_is_timed(tmp_path, monkeypatch) -> None:
    from bench import harness

    ran: list[tuple[str, str, object]] = []

    def fake_run_project(job, lake, run_id, log_path, timeout, *, engine, mode, driver=None):
        assert (lake / "data" / "raw" / "rental_transactions").is_dir()  # the warm-up lake
        ran.append((mode, job, driver))
        return 0

    monkeypatch.setattr(harness, "run_project", fake_run_project)
    monkeypatch.setattr(harness, "WARM_UP_RENTALS", 200)
    monkeypatch.setenv("CARRENTAL_JVM_ARCHIVE_DIR", str(tmp_path / "jvm"))
    note = harness.prime_jvm_archive(tmp_path / "work", timeout=60)
    # full then incremental, each job once, all in one driver (the fake jobs start none)
    assert [(mode, job) for mode, job, _ in ran] == [
        (mode, job) for mode in ("full", "incremental") for job in harness.PIPELINE_JOBS
    ]
    assert len({id(driver) for _, _, driver in ran}) == 1
    assert "NOT written" in note and not (tmp_path / "work" / "jvm-archive-warm-up").exists()

    monkeypatch.setattr(harness.jvm_archive, "usable", lambda archive: True)
    assert "(already there)" in harness.prime_jvm_archive(tmp_path / "work", timeout=60)
    monkeypatch.setenv("CARRENTAL_JVM_ARCHIVE", "off")
    assert harness.prime_jvm_archive(tmp_path / "work", timeout=60).startswith(
        "JVM class-data archive: off"
    )
