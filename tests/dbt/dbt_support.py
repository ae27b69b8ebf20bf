"""Constants shared by the dbt tests (imported by name: tests/dbt is on sys.path)."""

from __future__ import annotations

import sys
from pathlib import Path

# The fixture-lake builder lives with the catalog tests.
sys.path.insert(0, str(Path(__file__).parents[1] / "catalog"))

MARTS = (
    "location_leaderboard",
    "vehicle_type_mix",
    "customers",
    "customer_value_segments",
    "daily_business_metrics",
    "business_kpis",
)
#: seconds; generous because the CI machine is shared (2 cores).
DBT_TIMEOUT = 900
