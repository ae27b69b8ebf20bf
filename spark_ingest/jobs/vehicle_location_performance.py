"""EMR entry script: location and vehicle-type KPIs plus the date-partitioned rentals fact.

Run as ``spark-submit vehicle_location_performance.py --raw-root URI --processed-root URI
--quarantine-root URI [--run-id ID] [--runs-root URI] [--mode full] [--engine spark]``
with the ``spark_ingest`` package on the Python path (installed, or shipped with --py-files).
Exit 0 on success, 3 on a file-level input error, 1 otherwise.
"""

from __future__ import annotations

import sys

from pyspark.sql import DataFrame, SparkSession

from spark_ingest.layout import RENTALS_FACT, VEHICLE_LOCATION_JOB
from spark_ingest.pipeline import Inputs, run_job
from spark_ingest.transforms import (
    transform_location_performance,
    transform_rentals_fact,
    transform_vehicle_type_performance,
)

JOB = VEHICLE_LOCATION_JOB
#: the partial aggregates (spark_ingest.transforms.PARTIALS) the KPIs are built from
PARTIALS = ("by_location_vehicle", "by_vehicle")


def compute(inputs: Inputs) -> dict[str, DataFrame]:
    by_location_vehicle, by_vehicle = (inputs.partials[name] for name in PARTIALS)
    vehicles, locations = inputs.valid["vehicles"], inputs.valid["locations"]
    return {
        "location_performance": transform_location_performance(by_location_vehicle, locations),
        "vehicle_type_performance": transform_vehicle_type_performance(by_vehicle, vehicles),
        RENTALS_FACT: transform_rentals_fact(inputs.rentals, vehicles, locations),
    }


def main(argv: list[str] | None = None, session: SparkSession | None = None) -> int:
    """Run the job; in ``session`` when given (the local run's shared driver), else in its own."""
    return run_job(JOB, compute, argv, session=session, partials=PARTIALS)


if __name__ == "__main__":
    sys.exit(main())
