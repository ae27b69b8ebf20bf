"""EMR entry script: validate the raw files once per pipeline run and hand them to the KPI jobs.

Run as ``spark-submit validate_inputs.py --raw-root URI --processed-root URI
--quarantine-root URI [--run-id ID] [--runs-root URI] [--mode full] [--engine spark]``
with the ``spark_ingest`` package on the Python path (installed, or shipped with --py-files).

It runs the file checks, the row checks and the quarantine (under ``job=validate_inputs``),
keeps the incremental state (ledger, parsed store, checked segments, dimension snapshots) and
writes the handover (:mod:`spark_ingest.handover`) that the KPI jobs of the same run read with
``--inputs validated``. It publishes no table. Exit 0 on success, 3 on a file-level input
error, 1 otherwise (including zero valid rentals, which stops the KPI jobs).
"""

from __future__ import annotations

import sys

from pyspark.sql import DataFrame, SparkSession

from spark_ingest.layout import VALIDATE_JOB
from spark_ingest.pipeline import Inputs, run_job

JOB = VALIDATE_JOB


def compute(_inputs: Inputs) -> dict[str, DataFrame]:
    """No table: the job's result is its quarantine and its handover."""
    return {}


def main(argv: list[str] | None = None, session: SparkSession | None = None) -> int:
    """Run the job; in ``session`` when given (the local run's shared driver), else in its own."""
    return run_job(JOB, compute, argv, session=session)


if __name__ == "__main__":
    sys.exit(main())
