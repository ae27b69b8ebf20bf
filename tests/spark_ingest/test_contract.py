"""The contract's lists that other files repeat say the same thing there."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from carrental import generate
from spark_ingest import contract as C

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_lists_every_reason_code_in_priority_order():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Row-level reason codes", 1)[1]
    rows = re.findall(r"^\| `([A-Z_]+)` \| (.+?) \|$", table, flags=re.MULTILINE)
    assert rows[: len(C.REASON_CODES)] == list(C.REASON_CODES.items())


def test_dbt_accepts_exactly_the_vehicle_types_the_jobs_let_through():
    """A vehicle type the jobs accept but dbt does not would stop every mart; one dbt accepts
    but the jobs quarantine could never reach it."""
    sources = ROOT / "dbt_project/models/staging/car_rental/_car_rental__sources.yml"
    (source,) = yaml.safe_load(sources.read_text())["sources"]
    fact = next(t for t in source["tables"] if t["name"] == "rentals_fact")
    column = next(c for c in fact["columns"] if c["name"] == "vehicle_type")
    accepted = [
        test["accepted_values"]["arguments"]["values"]
        for test in column["data_tests"]
        if isinstance(test, dict) and "accepted_values" in test
    ]
    assert accepted == [list(C.VEHICLE_TYPES)]
    assert dict(C.VEHICLES.allowed) == {"vehicle_type": C.VEHICLE_TYPES}
    assert generate.VEHICLE_TYPES == C.VEHICLE_TYPES  # clean generated vehicles stay valid
    docs = (ROOT / "dbt_project/docs/columns.md").read_text()
    assert ", ".join(C.VEHICLE_TYPES) in docs.split("{% docs col_vehicle_type %}")[1]
