"""Both entry scripts through spark-submit on the tiny lake; identities checked independently."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from spark_tiny_lake import EXPECTED_COUNTS, FILES, VALID_RENTAL_IDS, write_tiny_lake

from spark_ingest.local_driver import LocalDriver
from spark_ingest.submit import LOCAL_SHUFFLE_PARTITIONS, submit_job

pytestmark = pytest.mark.slow
RUN_ID = "e2e-1"
RERUN_ID = "e2e-2"


def expected_valid_rentals() -> list[dict[str, str]]:
    """Plain-Python view of the valid rentals: the hand-marked ids, R1 from rentals_2.csv."""
    rows = []
    for name in ("rental_transactions/rentals_2.csv", "rental_transactions/rentals_1.csv"):
        for row in csv.DictReader(FILES[name].splitlines()):
            if row["rental_id"] in VALID_RENTAL_IDS and row["rental_id"] not in {
                r["rental_id"] for r in rows
            }:
                rows.append(row)
    assert len(rows) == len(VALID_RENTAL_IDS)
    return rows


def table(lake: Path, job: str, name: str):
    return pq.read_table(lake / "data" / "processed" / job / name).to_pylist()


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """The first job under its own spark-submit; the second, then the first again (a run with
    nothing new, ``RERUN_ID``), in one local driver, as a pipeline run runs them."""
    lake = write_tiny_lake(tmp_path_factory.mktemp("e2e") / "lake")
    proc = submit_job("vehicle_location_performance", lake, RUN_ID, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with LocalDriver() as driver:
        for job, run_id in (
            ("user_transaction_analysis", RUN_ID),
            ("vehicle_location_performance", RERUN_ID),
        ):
            proc = submit_job(job, lake, run_id, timeout=1500, driver=driver)
            assert proc.returncode == 0, proc.stderr[-3000:]
    for job in ("vehicle_location_performance", "user_transaction_analysis"):
        assert (lake / "runs" / RUN_ID / "logs" / f"{job}.log").is_file()
    return lake


def _log_command(lake: Path, run_id: str, job: str) -> str:
    return (lake / "runs" / run_id / "logs" / f"{job}.log").read_text().splitlines()[0]


def test_jobs_in_one_driver_run_as_under_their_own_spark_submit(lake):
    own = _log_command(lake, RUN_ID, "vehicle_location_performance")
    shared = [
        _log_command(lake, RUN_ID, "user_transaction_analysis"),
        _log_command(lake, RERUN_ID, "vehicle_location_performance"),
    ]
    assert "spark-submit" in own and "vehicle_location_performance.py" in own
    driver = shared[0].split(">")[0]
    assert driver.startswith("$ <local spark driver, pid ")
    assert all(line.startswith(driver + "> ") for line in shared)  # one process ran both
    manifests = {
        run_id: json.loads(
            (lake / "runs" / run_id / "manifests" / "vehicle_location_performance.json").read_text()
        )
        for run_id in (RUN_ID, RERUN_ID)
    }
    first, rerun = manifests[RUN_ID], manifests[RERUN_ID]
    assert rerun["status"] == "SUCCEEDED" and rerun["reconciled"] is True
    assert rerun["spark_conf"] == first["spark_conf"]  # the same settings as spark-submit's
    assert {t: o["rows"] for t, o in rerun["outputs"].items()} == {
        t: o["rows"] for t, o in first["outputs"].items()
    }


def test_manifests_reconcile_and_match_hand_counts(lake):
    manifests = {
        job: json.loads((lake / "runs" / RUN_ID / "manifests" / f"{job}.json").read_text())
        for job in ("vehicle_location_performance", "user_transaction_analysis")
    }
    for manifest in manifests.values():
        assert manifest["status"] == "SUCCEEDED" and manifest["reconciled"] is True
        # spark-submit's --conf wins over the session defaults (2 local cores: 8 partitions)
        settings = manifest["spark_conf"]
        assert settings["spark.sql.shuffle.partitions"] == LOCAL_SHUFFLE_PARTITIONS != "64"
        assert settings["spark.sql.ansi.enabled"] == "true"
        assert settings["spark.sql.session.timeZone"] == "UTC"
        assert settings["spark.sql.files.minPartitionNum"] == "8"  # 4 splits per local core
        assert manifest["error"] is None
        for dataset, (rows_read, valid, by_reason) in EXPECTED_COUNTS.items():
            info = manifest["inputs"][dataset]
            assert (info["rows_read"], info["valid"], info["rejected_by_reason"]) == (
                rows_read,
                valid,
                by_reason,
            )
    a, b = manifests.values()
    assert a["inputs"] == b["inputs"]  # both jobs saw exactly the same valid rows
    outputs = a["outputs"] | b["outputs"]
    assert {t: o["rows"] for t, o in outputs.items()} == {
        "location_performance": 3,
        "vehicle_type_performance": 3,
        "rentals_fact": 6,
        "user_transaction_summary": 3,
        "overall_transaction_statistics": 1,
        "top_users_by_spending": 3,
    }


def test_reconciliation_identities(lake):
    rows = expected_valid_rentals()
    total = sum(Decimal(r["total_amount"]) for r in rows)
    count = len(rows)
    vlp, uta = "vehicle_location_performance", "user_transaction_analysis"
    locations = table(lake, vlp, "location_performance")
    types = table(lake, vlp, "vehicle_type_performance")
    users = table(lake, uta, "user_transaction_summary")
    (overall,) = table(lake, uta, "overall_transaction_statistics")
    fact = table(lake, vlp, "rentals_fact")
    assert sum(r["total_revenue_at_location"] for r in locations) == total
    assert sum(r["total_revenue_by_vehicle_type"] for r in types) == total
    assert overall["overall_total_revenue"] == total
    assert sum(r["total_spending"] for r in users) == total
    assert sum(r["total_amount"] for r in fact) == total
    assert sum(r["total_transactions_at_location"] for r in locations) == count
    assert sum(r["total_transactions_by_vehicle_type"] for r in types) == count
    assert overall["overall_total_transactions"] == count
    assert sum(r["total_rental_transactions"] for r in users) == count
    assert len(fact) == count
    assert overall["overall_total_unique_users"] == len({r["user_id"] for r in rows})
    assert overall["overall_total_unique_vehicles_rented"] == len({r["vehicle_id"] for r in rows})
    assert {str(r["rental_date"]) for r in fact} == {r["rental_start_time"][:10] for r in rows}


def test_quarantine_holds_every_rejected_row(lake):
    for job in ("vehicle_location_performance", "user_transaction_analysis"):
        for dataset, (rows_read, valid, _) in EXPECTED_COUNTS.items():
            folder = lake / "data" / "quarantine" / dataset / f"job={job}" / f"run_id={RUN_ID}"
            assert pq.read_table(folder).num_rows == rows_read - valid, (job, dataset)


def test_cli_reports_missing_column_with_exit_3(tmp_path):
    files = dict(FILES)
    files["users/users.csv"] = FILES["users/users.csv"].replace(",email,", ",", 1)
    lake = write_tiny_lake(tmp_path / "lake", files)
    carrental = Path(sys.executable).parent / "carrental"
    proc = subprocess.run(
        [
            str(carrental),
            "spark",
            "vehicle-location-performance",
            "--lake-dir",
            str(lake),
            "--run-id",
            "bad-1",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "COLUMNS": "500"},
        check=False,
    )
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "users" in proc.stderr and "users.csv" in proc.stderr and "'email'" in proc.stderr
    assert not (lake / "data" / "processed").exists()  # nothing was touched
    manifest = json.loads(
        (lake / "runs" / "bad-1" / "manifests" / "vehicle_location_performance.json").read_text()
    )
    assert manifest["status"] == "FAILED" and manifest["error"]["column"] == "email"
