"""The validated inputs one run hands from ``validate_inputs`` to the KPI jobs.

A pipeline run validates the raw files once (the ``validate_inputs`` job), and the two KPI jobs,
started with ``--inputs validated``, read its result instead of parsing and checking the same
files again. What is handed over::

    <processed>/validate_inputs/_handover/handover.json
    <processed>/validate_inputs/_handover/run=<run_id>/<dataset>/*.parquet   (without state)

``handover.json`` names, per dataset, the Parquet folders that hold its checked rows (the compact
frame of :func:`spark_ingest.validate.compact`: typed values, reasons, and the raw text of
rejected rows) and the counts of its manifest::

    {"version": 1, "run_id": ..., "rules": ..., "engine": ..., "token": ...,
     "previous_token": ..., "check": "append" | "recheck" | "full",
     "datasets": {"<dataset>": {"frames": [uri, ...], "files": [...], "rows_read": n,
                                "valid": n, "rejected_by_reason": {...}}}}

With incremental state (the Spark engine) the frames are the validate job's own checked
segments and dimension snapshots (:mod:`spark_ingest.state`), so nothing is copied: an append
run adds one segment, and a KPI job merges the partial aggregates of the segments it has not
seen. Without state (the DuckDB engine) the run writes its frames under ``run=<run_id>/``.

A KPI job uses a handover only if it was written by the same run id (a pipeline run passes one
id to every job) under the same validation rules; otherwise it stops with a
:class:`~spark_ingest.errors.HandoverError` that says which job to run first. The handover is
written after the validate job's ledger, so it only ever names committed folders.
"""

from __future__ import annotations

import json
import os
import shutil

from pyspark.sql import DataFrame, SparkSession

from spark_ingest import duckdb_engine
from spark_ingest.errors import HandoverError
from spark_ingest.io import read_text, to_uri, write_text
from spark_ingest.layout import DATASETS, VALIDATE_JOB, join
from spark_ingest.publish import is_local, local_path

HANDOVER_DIR = "_handover"
HANDOVER_FILE = "handover.json"
HANDOVER_VERSION = 1


def handover_root(processed_root: str) -> str:
    return join(to_uri(processed_root), VALIDATE_JOB, HANDOVER_DIR)


def handover_uri(processed_root: str) -> str:
    return join(handover_root(processed_root), HANDOVER_FILE)


def frames_uri(processed_root: str, run_id: str, dataset: str) -> str:
    return join(handover_root(processed_root), f"run={run_id}", dataset)


def write_frames(
    processed_root: str, run_id: str, checked: dict[str, DataFrame]
) -> dict[str, list[str]]:
    """Write each dataset's checked frame under ``run=<run_id>/`` (a run without incremental
    state); return dataset -> [its folder]."""
    frames = {}
    for dataset, frame in checked.items():
        uri = frames_uri(processed_root, run_id, dataset)
        if duckdb_engine.is_duckdb(frame):
            duckdb_engine.write_parquet(frame, uri)
        else:
            frame.write.mode("overwrite").parquet(uri)
        frames[dataset] = [uri]
    return frames


def _prune_runs(processed_root: str, keep: str | None) -> None:
    """Delete the ``run=`` folders of earlier handovers (local lakes; on S3 a lifecycle rule
    on the prefix does it)."""
    root = handover_root(processed_root)
    if not is_local(root):
        return
    path = local_path(root)
    if not os.path.isdir(path):
        return
    for entry in os.scandir(path):
        if entry.is_dir() and entry.name.startswith("run=") and entry.name != keep:
            shutil.rmtree(entry.path, ignore_errors=True)


def write_handover(
    spark: SparkSession,
    processed_root: str,
    manifest_data: dict,
    frames: dict[str, list[str]],
    rules: str,
    lineage: dict,
) -> str:
    """Write ``handover.json`` for the run of ``manifest_data`` (its inputs' counts) and
    ``frames`` (dataset -> Parquet folders); return its URI. ``lineage``: ``token`` (this
    handover), ``previous_token`` (the validate ledger it was planned against) and ``check``
    (``append``: the frames are the previous ones plus new segments; ``recheck``; ``full``)."""
    run_id = manifest_data["run_id"]
    datasets = {}
    for dataset in DATASETS:
        counts = manifest_data["inputs"][dataset]
        datasets[dataset] = {
            "frames": frames[dataset],
            **{key: counts[key] for key in ("files", "rows_read", "valid", "rejected_by_reason")},
        }
    handover = {
        "version": HANDOVER_VERSION,
        "run_id": run_id,
        "rules": rules,
        "engine": manifest_data["engine"],
        **lineage,
        "datasets": datasets,
    }
    uri = handover_uri(processed_root)
    write_text(spark, uri, json.dumps(handover, indent=2, sort_keys=True), run_id)
    own = f"run={run_id}"
    written_here = any(f"/{own}/" in uri for uris in frames.values() for uri in uris)
    _prune_runs(processed_root, own if written_here else None)
    return uri


def read_handover(spark: SparkSession, processed_root: str, run_id: str, rules: str) -> dict:
    """The handover of run ``run_id``, or HandoverError saying why it cannot be used."""
    uri = handover_uri(processed_root)
    text = read_text(spark, uri)
    run_first = f"run {VALIDATE_JOB} with --run-id {run_id} first"
    if text is None:
        raise HandoverError(f"no validated inputs at {uri}: {run_first}")
    try:
        handover = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HandoverError(f"{uri} is not valid JSON ({exc}): {run_first}") from None
    if handover.get("version") != HANDOVER_VERSION:
        raise HandoverError(
            f"{uri} has version {handover.get('version')!r}, expected {HANDOVER_VERSION}: "
            + run_first
        )
    if handover.get("run_id") != run_id:
        raise HandoverError(
            f"{uri} holds the inputs validated by run {handover.get('run_id')!r}, not by this "
            f"run: {run_first}"
        )
    if handover.get("rules") != rules:
        raise HandoverError(
            f"{uri} was written under other validation rules (other code): {run_first}"
        )
    return handover


def read_frames(spark: SparkSession, uris: list[str]) -> DataFrame:
    """The checked rows of the Parquet folders ``uris`` (no partition columns)."""
    if duckdb_engine.is_duckdb(spark):
        return duckdb_engine.read_parquet_folders(spark, uris)
    return spark.read.parquet(*uris)
