"""EMR entry script: per-user spending, overall statistics and the top 100 spenders.

Run as ``spark-submit user_transaction_analysis.py --raw-root URI --processed-root URI
--quarantine-root URI [--run-id ID] [--runs-root URI] [--mode full] [--engine spark]``
with the ``spark_ingest`` package on the Python path (installed, or shipped with --py-files).
Exit 0 on success, 3 on a file-level input error, 1 otherwise.
"""

from __future__ import annotations

import sys

from pyspark.sql import DataFrame, SparkSession

from spark_ingest.layout import USER_TRANSACTION_JOB
from spark_ingest.pipeline import Inputs, run_job
from spark_ingest.transforms import (
    transform_overall_statistics,
    transform_top_users_by_spending,
    transform_user_transaction_summary,
)

JOB = USER_TRANSACTION_JOB
#: the partial aggregates (spark_ingest.transforms.PARTIALS) the KPIs are built from
PARTIALS = ("by_user", "by_vehicle")


def compute(inputs: Inputs) -> dict[str, DataFrame]:
    by_user, by_vehicle = (inputs.partials[name] for name in PARTIALS)
    summary = transform_user_transaction_summary(by_user, inputs.valid["users"])
    return {
        "user_transaction_summary": summary,
        "overall_transaction_statistics": transform_overall_statistics(by_user, by_vehicle),
        "top_users_by_spending": transform_top_users_by_spending(summary),
    }


def main(argv: list[str] | None = None, session: SparkSession | None = None) -> int:
    """Run the job; in ``session`` when given (the local run's shared driver), else in its own."""
    return run_job(JOB, compute, argv, session=session, partials=PARTIALS)


if __name__ == "__main__":
    sys.exit(main())
