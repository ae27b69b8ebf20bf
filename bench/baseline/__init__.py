"""The seed-style baseline: the original project's approach, kept as the reference to beat.

Each job is its own PySpark application started with ``spark-submit``. On purpose, and unlike the
project's jobs, it reads every CSV with ``inferSchema=True`` (an extra full pass per file),
casts ``total_amount`` to ``FloatType``, joins without broadcast hints, uses ``countDistinct``,
keeps Spark's default 200 shuffle partitions and writes each output with ``mode("overwrite")``.
There is no validation and no quarantine, so it is only comparable on clean data.

Usage: ``spark-submit <script> <raw_root> <output_root>`` where ``raw_root`` holds
``vehicles/ locations/ users/ rental_transactions/`` folders of CSV files.
"""
