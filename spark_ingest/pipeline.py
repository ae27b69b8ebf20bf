"""What the entry scripts share: arguments, the one read + validation, publish, manifest.

A KPI job gets its inputs one of two ways (``--inputs``):

* ``raw`` (the default): :func:`load_inputs` reads and validates the raw files itself and
  writes the quarantine under its own ``job=`` folder;
* ``validated``: :func:`load_validated` reads what the ``validate_inputs`` job of the same run
  handed over (:mod:`spark_ingest.handover`), so a pipeline run validates once. The quarantine
  is then the validate job's.

Either way both KPI jobs compute over exactly the same valid rentals.
"""

from __future__ import annotations

import argparse
import logging
import posixpath
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_ingest import contract as C
from spark_ingest import duckdb_engine
from spark_ingest.errors import InputFileError, NoValidRentalsError
from spark_ingest.handover import read_frames, read_handover, write_frames, write_handover
from spark_ingest.io import check_dataset_files, read_raw, to_uri
from spark_ingest.layout import (
    DATASETS,
    JOB_TABLES,
    PARTITION_COLUMNS,
    VALIDATE_JOB,
    join,
    new_run_id,
    validate_run_id,
)
from spark_ingest.logs import log
from spark_ingest.manifest import FAILED, SUCCEEDED, Manifest, write_manifest
from spark_ingest.publish import Publisher, write_quarantine
from spark_ingest.state import (
    MAX_PARTIAL_LAYERS,
    IngestState,
    Plan,
    key_ranges_disjoint,
    rules_version,
    sum_counts,
)
from spark_ingest.transforms import (
    PARTIALS,
    kpi_partial,
    merge_partials,
    new_layer,
    rentals_partial,
)
from spark_ingest.validate import (
    check_dimension,
    check_rentals,
    compact,
    keys_only,
    parse_dimension,
    parse_rentals,
    shared_valid_keys,
    split,
    typed,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 3
MODES = ("full", "incremental")
INPUTS = ("raw", "validated")
#: an append run's new rows up to this many are broadcast against the stored keys
BROADCAST_NEW_ROWS = 2_000_000
DIMENSIONS = tuple(name for name in DATASETS if name != C.RENTAL_TRANSACTIONS.name)
ENGINES = ("spark", "duckdb")


def parse_args(job: str, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=job, description=f"Spark job {job}")
    parser.add_argument("--raw-root", required=True, help="<lake>/data/raw (path or s3:// URI)")
    parser.add_argument("--processed-root", required=True, help="<lake>/data/processed")
    parser.add_argument("--quarantine-root", required=True, help="<lake>/data/quarantine")
    parser.add_argument("--run-id", default=None, help="run id (default: a new sortable id)")
    parser.add_argument("--runs-root", default=None, help="default: <processed-root>/../../runs")
    parser.add_argument("--mode", choices=MODES, default="incremental")
    parser.add_argument("--engine", choices=ENGINES, default="spark")
    if job != VALIDATE_JOB:
        parser.add_argument(
            "--inputs",
            choices=INPUTS,
            default="raw",
            help="raw: validate the raw files; validated: read what validate_inputs handed "
            "over in this run (same --run-id)",
        )
    return parser.parse_args(argv)


def default_runs_root(processed_root: str) -> str:
    """``<processed-root>/../../runs`` for paths and URIs alike."""
    if "://" in processed_root:
        scheme, rest = processed_root.split("://", 1)
        return (
            f"{scheme}://{posixpath.normpath(posixpath.join(rest.rstrip('/'), '..', '..', 'runs'))}"
        )
    return posixpath.normpath(posixpath.join(to_uri(processed_root), "..", "..", "runs"))


@dataclass
class Inputs:
    """Valid typed frames and rejected frames per dataset (shared by both jobs)."""

    valid: dict[str, DataFrame] = field(default_factory=dict)
    rejected: dict[str, DataFrame] = field(default_factory=dict)
    cached: list[DataFrame] = field(default_factory=list)
    plan: Plan | None = None  # the raw rentals files' plan (None: no incremental state kept)
    #: an append run's newly checked rentals (compacted); None when every row was checked
    appended: DataFrame | None = None
    #: name -> the partial aggregates of the valid rentals (transforms.PARTIALS) the job uses
    partials: dict[str, DataFrame] = field(default_factory=dict)
    #: dataset -> its checked rows (the compact frame that valid and rejected are split from)
    checked: dict[str, DataFrame] = field(default_factory=dict)

    @property
    def rentals(self) -> DataFrame:
        return self.valid["rental_transactions"]


def cache(df: DataFrame) -> DataFrame:
    """``df`` computed once for every later action: Spark's cache, a table on DuckDB."""
    return duckdb_engine.cache(df) if duckdb_engine.is_duckdb(df) else df.cache()


def uncache(df: DataFrame) -> None:
    """Free what :func:`cache` (or the DuckDB engine's raw read) holds for ``df``."""
    if duckdb_engine.is_duckdb(df):
        duckdb_engine.uncache(df)
    else:
        df.unpersist()


def count_rows(annotated: DataFrame, key: str | None = None) -> dict:
    """The row counts of a checked frame in ONE aggregation over it: ``rows_read``, ``valid``
    and ``rejected_by_reason``; with a typed ``key`` column also ``valid_keys``, the lowest and
    highest key of the valid rows (None without one), which an append run compares with the
    stored segments' (:func:`spark_ingest.state.key_ranges_disjoint`)."""
    ranges = [F.min(key).alias("low"), F.max(key).alias("high")] if key else []
    rows = annotated.groupBy("reason_code").agg(F.count(F.lit(1)).alias("n"), *ranges).collect()
    valid = [row for row in rows if row["reason_code"] is None]
    counts: dict = {
        "rows_read": sum(row["n"] for row in rows),
        "valid": sum(row["n"] for row in valid),
        "rejected_by_reason": {row["reason_code"]: row["n"] for row in rows if row["reason_code"]},
    }
    if key:
        counts["valid_keys"] = [valid[0]["low"], valid[0]["high"]] if valid else None
    return counts


def _last_ledger(state: IngestState, manifest: Manifest, inputs: str) -> dict | None:
    """The job's last ledger when this run is incremental and the ledger was written by a run
    that read the same kind of ``inputs``; else None, and an incremental run runs as full."""
    ledger = state.read_ledger() if manifest.data["mode"] == "incremental" else None
    if ledger is not None and ledger.get("inputs", "raw") != inputs:
        log(logging.INFO, "ledger_other_inputs", job=state.job, found=ledger.get("inputs"))
        ledger = None
    if manifest.data["mode"] == "incremental" and ledger is None:
        log(logging.INFO, "mode_first_run", job=manifest.data["job"], effective="full")
        manifest.data["mode"] = "full"
    return ledger


def plan_run(
    state: IngestState | None, files: dict[str, list[str]], manifest: Manifest
) -> Plan | None:
    """The run's plan against the last ledger (see :mod:`spark_ingest.state`); None without
    ``state``. An incremental run without a ledger runs as full. A full run parses every file
    into new store folders and leaves the last ledger's alone (deleted once its own ledger is
    written): if it fails, the next incremental run still finds them.
    """
    if state is None:
        return None
    ledger = _last_ledger(state, manifest, "raw")
    plan = state.plan(files[C.RENTAL_TRANSACTIONS.name], ledger, manifest.data["run_id"])
    state.fingerprint_dimensions(plan, {name: files[name] for name in DIMENSIONS})
    manifest.data["ingest"] = {
        "files": plan.summary(),
        # the local rentals files whose bytes were hashed (see IngestState.fingerprint_rentals)
        "hashed": len(plan.hashed),
    }
    return plan


def validated_dimension(
    spark: SparkSession,
    ds: C.Dataset,
    files: list[str],
    state: IngestState | None,
    plan: Plan | None,
) -> tuple[DataFrame, list[DataFrame], dict | None]:
    """(the compacted, validated rows of a dimension, the frames to free once it is counted,
    its row counts or None when it still has to be counted).

    A dimension whose files are the same bytes as at the last run is read from its stored
    snapshot (same files, same rules: same verdicts), with the counts the ledger kept, so it
    is neither cached nor counted; otherwise it is validated (cached) and, with a ``state``,
    stored for the next run.
    """
    if state is not None and plan is not None:
        stored = state.unchanged_dimension(plan, ds.name)
        if stored is not None:
            return stored, [], plan.dimension_counts[ds.name]
    # parsed once: the duplicate-key pre-count and the checked rows both read it
    raw = read_raw(spark, ds, files)
    parsed = cache(parse_dimension(raw, ds))
    uncache(raw)
    annotated = cache(compact(check_dimension(parsed, ds), ds))
    if state is not None and plan is not None:
        state.store_dimension(annotated, plan, ds.name)
    return annotated, [parsed], None


def parsed_rentals(
    spark: SparkSession, files: list[str], manifest: Manifest, state: IngestState, plan: Plan
) -> DataFrame:
    """:func:`parse_rentals` over every raw rentals file, parsing only what the plan needs:
    a ``full`` run re-parses every file, an ``incremental`` run only new and changed ones."""
    ds = C.RENTAL_TRANSACTIONS
    for uri in plan.to_parse:
        state.store(uri, parse_rentals(read_raw(spark, ds, [uri])), plan)
    # the folders of removed files (and of changed files' earlier bytes) are deleted when
    # the ledger that no longer names them is written
    manifest.data["ingest"]["parsed"] = plan.to_parse
    log(logging.INFO, "ingest_plan", job=manifest.data["job"], **plan.summary())
    return state.read_parsed(plan, files)


class Checked(NamedTuple):
    """What :func:`checked_rentals` returns."""

    #: compacted rentals after every check
    annotated: DataFrame
    #: the frames cached on the way (freed at the end of the run)
    cached: list[DataFrame]
    #: an append run's newly checked rows, or None when every row was checked
    appended: DataFrame | None
    #: the frames to free once ``annotated`` is counted
    release: list[DataFrame]
    #: the row counts of ``annotated`` (an append run: the stored segments' plus the new
    #: rows'), or None when it still has to be counted
    counts: dict | None


def checked_rentals(
    spark: SparkSession,
    files: dict[str, list[str]],
    manifest: Manifest,
    state: IngestState | None,
    plan: Plan | None,
    valid: dict[str, DataFrame],
) -> Checked:
    """The rentals after every check (:class:`Checked`).

    Without ``state`` every row is checked. With it (see :mod:`spark_ingest.state`), an
    **append** run checks only the new files' rows against the dimensions and adds them to
    the stored checked segments, whose row counts the ledger kept; it reads the stored keys
    only when the new rows' key range overlaps a segment's. A **recheck** checks every stored
    parsed row and writes them as one segment. Both equal a full run; the manifest's
    ``ingest.check`` says which one ran and why, ``ingest.cross_run_keys`` how an append run
    ruled out a key shared with an earlier run.
    """
    ds = C.RENTAL_TRANSACTIONS
    run_id = manifest.data["run_id"]

    def check(parsed: DataFrame, wider: DataFrame | None = None) -> DataFrame:
        dims = (valid["users"], valid["vehicles"], valid["locations"])
        return compact(check_rentals(parsed, *dims, wider=wider), ds)

    if state is None or plan is None:
        # one pass parses and checks every row; the duplicate-key pre-count reads only the key
        raw = read_raw(spark, ds, files[ds.name])
        if not duckdb_engine.is_duckdb(raw):  # DuckDB's reader already fills a table
            raw = raw.cache()
        annotated = cache(check(parse_rentals(raw), wider=keys_only(raw, ds)))
        return Checked(annotated, [annotated], None, [raw], None)
    parsed = parsed_rentals(spark, files[ds.name], manifest, state, plan)
    previous = plan.previous_segments or []
    stored_counts = [plan.previous_segment_counts.get(s) for s in previous]
    segment = state.new_segment_name(run_id)
    blocker = plan.append_blocker()
    if blocker is None and not (state.segments_exist(previous) and all(stored_counts)):
        blocker = "segments_missing"
    result: Checked | None = None
    if blocker is None:
        old = state.read_segments(previous)
        plan.segment_counts = dict(zip(previous, stored_counts, strict=True))
        if not plan.new:  # nothing new to check: the stored verdicts are the whole answer
            plan.segments = previous
            result = Checked(old, [], old.limit(0), [], sum_counts(stored_counts))
        else:
            new = cache(check(state.read_parsed(plan, plan.new)))
            counts = count_rows(new, typed(ds.key))
            if key_ranges_disjoint(counts, stored_counts):
                manifest.data["ingest"]["cross_run_keys"] = "key_ranges_disjoint"
                shared = False
            else:
                manifest.data["ingest"]["cross_run_keys"] = "joined"
                small = counts["rows_read"] <= BROADCAST_NEW_ROWS
                shared = bool(shared_valid_keys(new, old, ds, broadcast_new=small).take(1))
            if not shared:
                state.write_segment(new, segment)
                plan.segments = [*previous, segment]
                plan.segment_counts[segment] = counts
                total = sum_counts([*stored_counts, counts])
                result = Checked(old.unionByName(new), [new], new, [], total)
            else:
                uncache(new)
                blocker = "duplicate_keys_across_runs"
    if result is None:
        # written as it is computed, never cached: every later use (the count, the quarantine,
        # the handover) reads the written segment, a fraction of the parsed rows' bytes
        state.write_segment(check(parsed), segment)
        annotated = state.read_segments([segment])
        plan.segments = [segment]
        plan.segment_counts = {}  # counted by the caller (count_rows with the key)
        result = Checked(annotated, [], None, [], None)
    how = {
        "path": "recheck" if blocker else "append",
        "reason": blocker,
        "segments": len(plan.segments),
    }
    manifest.data["ingest"]["check"] = how
    log(logging.INFO, "rentals_check", job=manifest.data["job"], **how)
    return result


def _keep_counts(plan: Plan, dataset: str, counts: dict) -> None:
    """Record what this run counted in the ledger: a dimension's snapshot counts, or the one
    segment a recheck wrote."""
    if dataset == C.RENTAL_TRANSACTIONS.name:
        (segment,) = plan.segments
        plan.segment_counts[segment] = counts
    else:
        plan.dimension_counts[dataset] = counts


def load_inputs(
    spark: SparkSession,
    raw_root: str,
    manifest: Manifest,
    state: IngestState | None = None,
    inputs: Inputs | None = None,
) -> Inputs:
    """File checks for all four datasets first, then one read + validation per dataset.

    ``inputs``: fill this (empty) object, so a caller holds what is cached even if a later
    dataset fails."""
    with manifest.timed("check_files"):
        files = {
            name: check_dataset_files(spark, C.CONTRACT[name], join(to_uri(raw_root), name))
            for name in DATASETS
        }
    inputs = Inputs() if inputs is None else inputs
    with manifest.timed("read_validate"):
        inputs.plan = plan = plan_run(state, files, manifest)
        for name in (*DIMENSIONS, C.RENTAL_TRANSACTIONS.name):
            ds = C.CONTRACT[name]
            # one scan of the files: validated, compacted (raw text kept for rejected rows
            # only), cached, and counted in one aggregation; every output reads the cache
            if name == C.RENTAL_TRANSACTIONS.name:
                checked = checked_rentals(spark, files, manifest, state, plan, inputs.valid)
                annotated, release, counts = checked.annotated, checked.release, checked.counts
                inputs.appended = checked.appended
                inputs.cached.extend(checked.cached)
            else:
                annotated, release, counts = validated_dimension(
                    spark, ds, files[name], state, plan
                )
                if counts is None:  # validated in this run (a snapshot is read, not cached)
                    inputs.cached.append(annotated)
            inputs.checked[name] = annotated
            if counts is None:
                # a rechecked segment's key range is kept for the next append run
                key = (
                    typed(ds.key)
                    if plan is not None and name == C.RENTAL_TRANSACTIONS.name
                    else None
                )
                try:
                    counts = count_rows(annotated, key)
                finally:
                    # the count computed every row of the cache: what it was computed from
                    # can go
                    for frame in release:
                        uncache(frame)
                if plan is not None:
                    _keep_counts(plan, name, counts)
            inputs.valid[name], inputs.rejected[name] = split(annotated, ds)
            by_reason = counts["rejected_by_reason"]
            manifest.add_input(name, files[name], counts["rows_read"], counts["valid"], by_reason)
            log(
                logging.INFO,
                "dataset_validated",
                dataset=name,
                files=len(files[name]),
                rows_read=counts["rows_read"],
                valid=counts["valid"],
                rejected=sum(by_reason.values()),
                rejected_by_reason=by_reason,
            )
    if plan is not None:
        manifest.data["ingest"]["dimensions"] = plan.dimension_sources
    manifest.reconcile()
    return inputs


def _plan_validated(
    spark: SparkSession,
    state: IngestState | None,
    handover: dict,
    manifest: Manifest,
    inputs: Inputs,
) -> Plan | None:
    """A KPI job's plan over validated inputs; sets ``inputs.appended`` when its stored
    partials cover all but the handover's new segments.

    That holds when the job's last ledger read the handover this one was planned against
    (the tokens chain) and the validate job appended: the earlier segments are then the ones
    the partials were built from. Any other case builds the partials from every segment.
    """
    if state is None:
        return None
    ledger = _last_ledger(state, manifest, "validated")
    state.forget_all()  # no parsed store: the validate job keeps it (a raw run's is stale)
    datasets = handover["datasets"]
    plan = Plan(run_id=manifest.data["run_id"], inputs="validated")
    plan.source_token = handover["token"]
    plan.segments = list(datasets[C.RENTAL_TRANSACTIONS.name]["frames"])
    plan.dimensions = {name: list(datasets[name]["frames"]) for name in DIMENSIONS}
    how: dict = {"path": "rebuild", "reason": "no_previous_run"}
    if ledger is not None:
        plan.previous_segments = list(ledger["segments"])
        plan.previous_dimensions = ledger["dimensions"]
        plan.previous_partials = ledger["partials"]
        plan.previous_published = ledger.get("published")
        seen = ledger.get("source_token")
        if seen == handover["token"]:  # the same handover again: nothing is new
            new: list[str] | None = []
        elif seen == handover.get("previous_token") and handover.get("check") == "append":
            new = [uri for uri in plan.segments if uri not in plan.previous_segments]
        else:
            new = None
        chained = new is not None and plan.previous_segments == [
            uri for uri in plan.segments if uri not in new
        ]
        if chained and plan.dimensions == plan.previous_dimensions:
            assert new is not None
            inputs.appended = read_frames(spark, new or plan.segments[:1])
            if not new:
                inputs.appended = inputs.appended.limit(0)
            how = {"path": "append", "reason": None, "new_segments": len(new)}
        else:
            how["reason"] = "not_chained" if new is None else "segments_or_dimensions_differ"
    how["segments"] = len(plan.segments)
    manifest.data["ingest"]["check"] = how
    log(logging.INFO, "validated_inputs_plan", job=manifest.data["job"], **how)
    return plan


def load_validated(
    spark: SparkSession,
    processed_root: str,
    manifest: Manifest,
    state: IngestState | None,
    inputs: Inputs,
) -> Inputs:
    """Fill ``inputs`` from what the ``validate_inputs`` job of this run handed over
    (:mod:`spark_ingest.handover`): its checked rows and its counts, so the manifest reconciles
    the same numbers. Raises HandoverError when there is no handover of this run."""
    with manifest.timed("check_files"):
        handover = read_handover(spark, processed_root, manifest.data["run_id"], rules_version())
    manifest.data["ingest"] = {"inputs": "validated", "handover_token": handover["token"]}
    with manifest.timed("read_validate"):
        for name in DATASETS:
            entry = handover["datasets"][name]
            checked = read_frames(spark, entry["frames"])
            inputs.checked[name] = checked
            inputs.valid[name], inputs.rejected[name] = split(checked, C.CONTRACT[name])
            manifest.add_input(
                name,
                entry["files"],
                entry["rows_read"],
                entry["valid"],
                entry["rejected_by_reason"],
            )
        inputs.plan = _plan_validated(spark, state, handover, manifest, inputs)
    manifest.reconcile()
    return inputs


Compute = Callable[[Inputs], dict[str, DataFrame]]


def _new_rentals(inputs: Inputs, names: tuple[str, ...]) -> Inputs:
    """The inputs of an append run's new valid rentals alone (same dimensions)."""
    assert inputs.appended is not None
    new, _ = split(inputs.appended, C.RENTAL_TRANSACTIONS)
    return Inputs(
        valid={**inputs.valid, "rental_transactions": new},
        partials={name: rentals_partial(name, new) for name in names},
    )


def build_partials(
    state: IngestState | None,
    inputs: Inputs,
    names: tuple[str, ...],
    manifest: Manifest,
) -> None:
    """Set ``inputs.partials``: the partial aggregates of every valid rental.

    An append run stores the partials of its new valid rentals alone as one more layer beside
    the stored ones (``appended``, :func:`~spark_ingest.transforms.new_layer`; ``reused`` when
    nothing was new; ``merged`` when the layers reached
    :data:`~spark_ingest.state.MAX_PARTIAL_LAYERS` and are written again as one); any other
    run builds them from every checked rental (``built``). The KPIs read the stored layers
    (:func:`~spark_ingest.transforms.kpi_partial`: merged, except a layered partial), so an
    append run writes a day's partials, never all of them again.
    """
    plan = inputs.plan
    if state is None or plan is None:
        inputs.partials = {name: cache(rentals_partial(name, inputs.rentals)) for name in names}
        inputs.cached.extend(inputs.partials.values())
        return
    previous, run_id = plan.previous_partials, manifest.data["run_id"]
    if inputs.appended is not None and state.partials_exist(previous, names):
        assert previous is not None
        if plan.segments == plan.previous_segments:
            how, layers = "reused", previous
        else:
            new = _new_rentals(inputs, names).partials
            stored = state.read_partials(previous, names)
            if len(previous) < MAX_PARTIAL_LAYERS:
                layer = {name: new_layer(name, new[name], stored[name]) for name in names}
                how, layers = "appended", [*previous, state.write_partials(layer, run_id)]
            else:
                merged = {name: merge_partials(name, stored[name], new[name]) for name in names}
                how, layers = "merged", [state.write_partials(merged, run_id)]
    else:
        built = {name: rentals_partial(name, inputs.rentals) for name in names}
        how, layers = "built", [state.write_partials(built, run_id)]
    plan.partials = layers
    stored = state.read_partials(layers, names)
    if len(layers) > 1:
        # a partial the KPIs merge is merged once, not once per KPI that reads it (by_user:
        # the user summary, its top spenders and the overall figures)
        merged = {
            name: cache(kpi_partial(name, frame))
            for name, frame in stored.items()
            if not PARTIALS[name].layered
        }
        inputs.cached.extend(merged.values())
        stored.update(merged)
    inputs.partials = stored
    manifest.data["ingest"]["partials"] = {"how": how, "names": list(names), "layers": len(layers)}
    log(
        logging.INFO,
        "partials",
        job=manifest.data["job"],
        how=how,
        names=list(names),
        layers=len(layers),
    )


def appended_tables(compute: Compute, inputs: Inputs, names: tuple[str, ...]) -> dict:
    """partitioned table -> its rows for an append run's new rentals alone.

    The job's own ``compute`` runs over the new rentals (the dimensions are the same bytes as
    last run, or the run would have rechecked). Exact for partitioned tables that are
    row-wise (one output row per rental, enriched from the dimensions), as ``rentals_fact``
    is: every earlier row is unchanged, so the publisher adds these rows beside the live ones.
    """
    tables = compute(_new_rentals(inputs, names))
    return {table: tables[table] for table in PARTITION_COLUMNS if table in tables}


@dataclass
class _Attempt:
    """What one attempt at a run holds, so a failed attempt can be cleaned up."""

    inputs: Inputs | None = None
    publisher: Publisher | None = None
    published: bool = False

    def discard(self) -> None:
        """Free the attempt's cached frames and delete what it staged (never a publish: a
        version is deleted after a publish only when that publish failed and put every table
        back on its previous version)."""
        if self.inputs is not None:
            for frame in self.inputs.cached:
                uncache(frame)
        if self.publisher is not None and (not self.published or self.publisher.rolled_back):
            self.publisher.discard()


def _discard_failed(attempt: _Attempt, job: str) -> None:
    """Delete what a failed attempt staged and never published: a local ``_versions/<run>``
    folder, or on S3 the ``_staging/<run>`` prefix, which nothing else would ever remove.
    A failure here is logged, never raised over the job's own error."""
    try:
        attempt.discard()
    except Exception as exc:  # the job's own error is the one reported
        log(logging.WARNING, "staging_discard_failed", job=job, message=error_message(exc))


def state_unreadable(
    exc: Exception, state: IngestState | None, attempt: _Attempt, mode: str
) -> str | None:
    """If a failed incremental run should be retried as a full run, the error line that says
    why: it failed reading the job's stored state (a truncated or otherwise corrupt Parquet file
    under ``_state/``, named in the error) before anything was published. Else None; a full run
    that fails is never retried (it reads no stored state, so a second try would fail alike)."""
    if (
        mode != "incremental"
        or state is None
        or attempt.published
        or isinstance(exc, InputFileError)
    ):
        return None
    return state.error_line(str(exc))


_PY4J_CALL = "An error occurred while calling "


def error_message(exc: Exception) -> str:
    """One line for the manifest and the log: the exception's first line, and for a Py4J error
    (whose first line, "An error occurred while calling o42.parquet.", names nothing) the Java
    exception line and its deepest ``Caused by:``, which name the file and the reason."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    parts = [lines[0]]
    if lines[0].startswith(_PY4J_CALL):
        java = next((line for line in lines[1:] if line.startswith(":")), None)
        causes = [line for line in lines[1:] if line.startswith("Caused by:")]
        parts += [part for part in (java and java.lstrip(": "), causes and causes[-1]) if part]
    return " | ".join(dict.fromkeys(parts))[:2000]


def _attempt(
    spark: SparkSession,
    args: argparse.Namespace,
    job: str,
    compute: Compute,
    partials: tuple[str, ...],
    manifest: Manifest,
    state: IngestState | None,
    attempt: _Attempt,
) -> None:
    """Read + validate, compute, stage, write the quarantine, publish, commit the ledger."""
    run_id = manifest.data["run_id"]
    attempt.inputs = inputs = Inputs()
    validated = getattr(args, "inputs", "raw") == "validated"
    if validated:
        load_validated(spark, args.processed_root, manifest, state, inputs)
    else:
        load_inputs(spark, args.raw_root, manifest, state, inputs)
    if manifest.data["inputs"]["rental_transactions"]["valid"] == 0:
        raise NoValidRentalsError("zero valid rentals: every rental row was rejected")
    if job == VALIDATE_JOB:
        _hand_over(spark, args, manifest, state, attempt)
        return
    attempt.publisher = publisher = Publisher(spark, args.processed_root, job, run_id)
    if inputs.plan is not None:
        publisher.recorded = inputs.plan.previous_published
    with manifest.timed("compute_stage"):
        build_partials(state, inputs, partials, manifest)
        tables = compute(inputs)
        assert set(tables) == set(JOB_TABLES[job]), sorted(tables)
        incremental = manifest.data["mode"] == "incremental"
        appended = {}
        if incremental and inputs.appended is not None:
            appended = appended_tables(compute, inputs, partials)
        rows = {
            table: publisher.stage(
                table, df, only_changed_partitions=incremental, appended=appended.get(table)
            )
            for table, df in tables.items()
        }
        if publisher.partition_changes:
            manifest.data["partitions"] = publisher.partition_changes
    with manifest.timed("quarantine"):
        if validated:
            manifest.data["quarantine"] = f"written by {VALIDATE_JOB} (run {run_id})"
        else:
            _write_quarantine(inputs, args, manifest, job, run_id)
    with manifest.timed("publish"):
        attempt.published = True  # from here on, a failure is never retried
        published = publisher.publish()
    # last: a run that failed before this point leaves the previous ledger in place
    if state is not None:
        inputs.plan.published = publisher.links()
        manifest.data["ledger"] = state.commit(inputs.plan, run_id)
    for table in JOB_TABLES[job]:
        manifest.add_output(table, rows[table], published[table])


def _write_quarantine(
    inputs: Inputs, args: argparse.Namespace, manifest: Manifest, job: str, run_id: str
) -> None:
    """Each dataset's rejected rows under this run's quarantine folder. A dataset the counts
    found no rejected row in is written as ``limit(0)``: the same empty table with its columns,
    without scanning its checked rows for none (an append run's are every stored segment).
    The counts are the run's reconciled ones, the manifest's, so the quarantine holds what
    the manifest says it holds."""
    for name in DATASETS:
        rejected = inputs.rejected[name]
        if manifest.data["inputs"][name]["rejected"] == 0:
            rejected = rejected.limit(0)
        write_quarantine(rejected, args.quarantine_root, name, job, run_id)


def _hand_over(
    spark: SparkSession,
    args: argparse.Namespace,
    manifest: Manifest,
    state: IngestState | None,
    attempt: _Attempt,
) -> None:
    """The validate job's end: the quarantine, its ledger, then the handover naming the
    checked rows (the ledger's own segments and snapshots, or, without state, frames written
    for this run) for the KPI jobs of the same run."""
    inputs, run_id = attempt.inputs, manifest.data["run_id"]
    assert inputs is not None
    with manifest.timed("quarantine"):
        _write_quarantine(inputs, args, manifest, VALIDATE_JOB, run_id)
    with manifest.timed("publish"):
        attempt.published = True  # from here on, a failure is never retried
        plan = inputs.plan
        if state is not None and plan is not None:
            manifest.data["ledger"] = state.commit(plan, run_id)
            frames = {
                name: [state.dimension_uri(name, plan.dimension_snapshots[name])]
                for name in DIMENSIONS
            }
            frames[C.RENTAL_TRANSACTIONS.name] = [state.segment_uri(s) for s in plan.segments]
            lineage = {
                "token": plan.token,
                "previous_token": plan.previous_token,
                "check": manifest.data["ingest"]["check"]["path"],
            }
        else:
            frames = write_frames(args.processed_root, run_id, inputs.checked)
            lineage = {"token": uuid.uuid4().hex, "previous_token": None, "check": "full"}
        manifest.data["handover"] = write_handover(
            spark, args.processed_root, manifest.data, frames, rules_version(), lineage
        )


def run_job(
    job: str,
    compute: Compute,
    argv: list[str] | None = None,
    session: SparkSession | None = None,
    partials: tuple[str, ...] = (),
) -> int:
    """Parse args, read + validate, compute, stage, publish, write the manifest; exit code.

    An incremental run that fails reading its stored state (see :func:`state_unreadable`)
    is run again once as a full run, which rebuilds the state; the manifest's ``fallback``
    records why.

    ``partials``: the names (transforms.PARTIALS) ``compute`` reads from ``inputs.partials``.
    ``session``: run in an existing SparkSession (tests), which is then left running.
    """
    args = parse_args(job, argv)
    run_id = validate_run_id(args.run_id or new_run_id())
    runs_root = args.runs_root or default_runs_root(args.processed_root)
    manifest = Manifest(job, run_id, args.mode, args.engine)
    log(logging.INFO, "job_started", job=job, run_id=run_id, mode=args.mode, engine=args.engine)
    spark = None
    attempt = _Attempt()
    code, error = EXIT_FAILED, None
    try:
        state: IngestState | None = None
        if args.engine == "duckdb":
            spark = session or duckdb_engine.duckdb_session()
            if args.mode == "incremental":  # no incremental state on this engine
                log(logging.INFO, "mode_engine_full", job=job, engine=args.engine)
                manifest.data["mode"] = "full"
            # the Spark runs' ledger would no longer describe the published tables
            duckdb_engine.forget_spark_state(args.processed_root, job)
        else:
            from spark_ingest.session import build_session, effective_settings

            spark = session or build_session(job)
            manifest.data["spark_conf"] = effective_settings(spark)
            state = IngestState(spark, args.processed_root, job)
        try:
            _attempt(spark, args, job, compute, partials, manifest, state, attempt)
        except Exception as exc:
            reason = state_unreadable(exc, state, attempt, manifest.data["mode"])
            if reason is None:
                raise
            log(logging.WARNING, "state_unreadable", job=job, error=reason, effective="full")
            attempt.discard()
            manifest = manifest.retry("full", {"reason": "state_unreadable", "error": reason})
            attempt = _Attempt()
            _attempt(spark, args, job, compute, partials, manifest, state, attempt)
        code = EXIT_OK
    except InputFileError as exc:
        code, error = EXIT_INPUT, exc.as_dict()
    except Exception as exc:  # the job must end with a manifest and a clear log line
        code = EXIT_FAILED
        error = {"type": type(exc).__name__, "message": error_message(exc)}
        error.update(dataset=None, file=None, column=None)
    finally:
        if code != EXIT_OK and spark is not None:
            _discard_failed(attempt, job)
        data = manifest.finish(SUCCEEDED if code == EXIT_OK else FAILED, error)
        try:
            where = write_manifest(spark, runs_root, data)
        except Exception as exc:  # pragma: no cover - report, but keep the original exit code
            log(logging.ERROR, "manifest_write_failed", job=job, run_id=run_id, message=str(exc))
            where = None
            code = code or EXIT_FAILED
        if code == EXIT_OK:
            log(
                logging.INFO,
                "job_succeeded",
                job=job,
                run_id=run_id,
                manifest=where,
                outputs={t: o["rows"] for t, o in data["outputs"].items()},
                seconds=data["timings_seconds"]["total"],
            )
        else:
            log(
                logging.ERROR,
                "job_failed",
                job=job,
                run_id=run_id,
                manifest=where,
                exit_code=code,
                **(error or {}),
            )
        if spark is not None and session is None:
            spark.stop()
        elif attempt.inputs is not None:
            for frame in attempt.inputs.cached:
                uncache(frame)
    return code
