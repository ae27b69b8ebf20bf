"""Fault injection: the warehouse file is locked by another process.

The crawler must fail with one clear error naming the warehouse (exit 4, EnvironmentProblem),
and the views it registered before stay queryable once the lock is released.
(An unwritable file cannot be simulated by permissions here: tests run as root.)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from carrental.catalog import crawl
from carrental.errors import EXIT_ENVIRONMENT, EnvironmentProblem
from tests.catalog.lake_fixtures import build_lake

HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(60)
"""


@pytest.mark.reliability(kind="fault")
def test_fault_warehouse_locked_by_another_process(tmp_path: Path):
    lake = build_lake(tmp_path / "lake")
    first = crawl(lake)
    assert first["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"
    warehouse = lake / "warehouse.duckdb"

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(warehouse)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(EnvironmentProblem) as info:
            crawl(lake)
        assert info.value.exit_code == EXIT_ENVIRONMENT
        assert "warehouse" in info.value.message.lower()
        assert str(warehouse) in info.value.message or warehouse.name in info.value.message
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.2)

    # the views registered before the failed crawl are intact, and a new crawl succeeds
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.sql("select count(*) from car_rental_db.location_performance").fetchone()
    assert rows is not None and rows[0] > 0
    assert crawl(lake)["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"
