"""EMR entry script: location and vehicle-type KPIs plus the date-partitioned rentals fact.

Run as ``spark-submit vehicle_location_performance.py --raw-root URI --processed-root URI
--quarantine-root URI [--run-id ID] [--runs-root URI] [--mode full] [--engine spark]``
with the ``spark_ingest`` package on the Python path (installed, or shipped with --py-files).
Exit 0 on success, 3 on a file-level input error, 1 otherwise.
"""

from __future__ import annotations

import sys

from pyspark.sql import DataFrame

from spark_ingest.layout import RENTALS_FACT, VEHICLE_LOCATION_JOB
from spark_ingest.pipeline import Inputs, run_job
from spark_ingest.transforms import (
    transform_location_performance,
    transform_rentals_fact,
    transform_vehicle_type_performance,
)

JOB = VEHICLE_LOCATION_JOB


def compute(inputs: Inputs) -> dict[str, DataFrame]:
    rentals, vehicles, locations = (
        inputs.rentals,
        inputs.valid["vehicles"],
        inputs.valid["locations"],
    )
    return {
        "location_performance": transform_location_performance(rentals, locations),
        "vehicle_type_performance": transform_vehicle_type_performance(rentals, vehicles),
        RENTALS_FACT: transform_rentals_fact(rentals, vehicles, locations),
    }


def main(argv: list[str] | None = None) -> int:
    return run_job(JOB, compute, argv)


if __name__ == "__main__":
    sys.exit(main())
