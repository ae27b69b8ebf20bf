"""Publishing: stage every table first, then expose them all at once.

Local roots (a folder): each table is written to
``processed/<job>/_versions/<version>/<table>`` (staging). Only after every table of the job
has been written does :meth:`Publisher.publish` swap the symlinks
``processed/<job>/<table> -> _versions/<version>/<table>``, each one atomically: a temporary
symlink is created beside it and ``os.replace``-d over the old one, so a reader sees either
the old or the new complete version, never a mix or a partial folder. The last
:data:`KEEP_VERSIONS` versions are kept, older ones deleted, except a version a table's link
still names (or a temporary link of a publish still running). A publish that fails puts back
every link it swapped and removes its temporary links; the run then deletes its version.
Temporary links of a publisher that died are removed by the next publish.

``s3://`` roots: S3 has no atomic rename, so tables are staged under
``processed/<job>/_staging/<run_id>/<table>`` and, once all are written, copied over the table
prefix with ``mode("overwrite")`` and the staging prefix is deleted. A partitioned table of an
incremental run is staged as the partitions that change only, each written whole, and
:meth:`Publisher.publish` replaces just those partition folders (a move per folder); while a
partitioned table is being replaced, a :data:`PUBLISHING_MARKER` file marks it. The window in
which a reader can see a partially replaced table is the copy (or the moves) itself; the README
describes the pointer-swap equivalent on AWS (update the Glue table ``Location`` to the new
version prefix). A run that fails during the copy leaves its staging prefix; the stack's bucket
expires ``_staging/`` after a day (a lifecycle rule per KPI job).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_ingest.contract import QUARANTINE_LEADING_COLUMNS
from spark_ingest.duckdb_engine import is_duckdb
from spark_ingest.duckdb_engine import read_parquet as duckdb_read_parquet
from spark_ingest.duckdb_engine import write_parquet as duckdb_write_parquet
from spark_ingest.io import _fs_and_path, exists, to_uri, write_text
from spark_ingest.layout import PARTITION_COLUMNS, join
from spark_ingest.logs import log

VERSIONS_DIR = "_versions"
STAGING_DIR = "_staging"
KEEP_VERSIONS = 2
#: On an object store, ``processed/<job>/_publishing.<table>`` exists while a partitioned
#: table's live objects are being replaced (its partitions moved, or the whole table copied;
#: beside the table's folder, which a whole copy deletes, and named with ``_``, which readers
#: and crawlers skip). A publish that did not finish leaves it: the next run then compares
#: every partition with what it should hold (fingerprints) instead of trusting its new rows to
#: name the partitions that change.
PUBLISHING_MARKER = "_publishing"


#: The temporary links of a local publish: ``.<table>.swap-<pid>`` and ``.<table>.undo-<pid>``
_TEMP_LINK = re.compile(r"\..+\.(?:swap|undo)-([0-9]+)")


def _process_alive(pid: int) -> bool:
    """A process ``pid`` exists (this host: a local lake's publishers run on it)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by another user
        return True
    return True


def is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file:")


def local_path(uri: str) -> str:
    """The filesystem path of a local path or ``file:`` URI.

    Hadoop gives local files as unencoded URIs (``file:/raw/rentals#2.csv``), so the prefix is
    cut off rather than the URI parsed: a parser would end the path at a ``#`` or a ``?``.
    """
    if uri.startswith("file:"):
        uri = uri[len("file:") :]
        while uri.startswith("//"):  # file:///path, file://path
            uri = uri[1:]
    return os.path.abspath(uri)


def write_table(df: DataFrame, uri: str, table: str) -> None:
    """Overwrite ``uri`` with ``df``; partitioned tables get one shuffle so that each
    partition folder (e.g. ``rental_date=...``) holds a few files, not one per task."""
    partitions = PARTITION_COLUMNS.get(table, ())
    if is_duckdb(df):
        duckdb_write_parquet(df, uri, partitions)
    elif partitions:
        df.repartition(*partitions).write.mode("overwrite").partitionBy(*partitions).parquet(uri)
    else:
        df.write.mode("overwrite").parquet(uri)


def read_table(spark: SparkSession, uri: str) -> DataFrame:
    """The Parquet table at ``uri`` (partition folders become columns)."""
    return duckdb_read_parquet(spark, uri) if is_duckdb(spark) else spark.read.parquet(uri)


def link_or_copy(source: str, target: str) -> None:
    """Hard-link ``source`` to ``target``; copy where the file system has no hard links."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def partition_fingerprints(df: DataFrame, column: str, columns: list[str]) -> dict[str, tuple]:
    """partition value (as text) -> (rows, sum of 64-bit row hashes): equal for equal content.

    ``columns`` fixes the hashed column order, so a frame read back from Parquet (partition
    column last) hashes like the frame that was written.
    """
    values = [c for c in columns if c != column]
    rows = (
        df.groupBy(F.col(column).cast("string").alias("p"))
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum(F.xxhash64(*values).cast("decimal(38,0)")).alias("h"),
        )
        .collect()
    )
    return {row["p"]: (row["n"], row["h"]) for row in rows}


def changed_partitions(
    df: DataFrame, live_df: DataFrame, column: str
) -> tuple[list[str], list[str], list[str]]:
    """(changed, kept, dropped) partition values of ``df`` against the live table ``live_df``:
    partitions whose fingerprint differs or that are new, those equal in both, and those
    only the live table holds."""
    old = partition_fingerprints(live_df, column, df.columns)
    new = partition_fingerprints(df, column, df.columns)
    changed = sorted(value for value, print_ in new.items() if old.get(value) != print_)
    return changed, sorted(set(new) - set(changed)), sorted(set(old) - set(new))


def same_columns(df: DataFrame, live_df: DataFrame, column: str) -> bool:
    """``df`` has the live table's columns and types (the partition column aside)."""
    return {name: kind for name, kind in live_df.dtypes if name != column} == {
        name: kind for name, kind in df.dtypes if name != column
    }


def partition_values(df: DataFrame, column: str) -> list[str]:
    """The distinct values (as text, as in the folder names) of partition ``column``."""
    values = df.select(F.col(column).cast("string").alias("p")).distinct().collect()
    return sorted(row["p"] for row in values)


def in_partitions(df: DataFrame, column: str, values: list[str]) -> DataFrame:
    """The rows of ``df`` in the partitions ``values`` (as text)."""
    return df.filter(F.col(column).cast("string").isin(values))


class Publisher:
    """Stage the tables of one job run, then publish them together."""

    def __init__(self, spark: SparkSession, processed_root: str, job: str, run_id: str):
        self.spark = spark
        self.job = job
        self.run_id = run_id
        self.job_root = join(to_uri(processed_root), job)
        self.local = is_local(self.job_root)
        self.staged: dict[str, str] = {}
        #: a local publish failed and every link it had swapped was pointed back: the staged
        #: version is shown by no table, so it can be discarded like a stage never published
        self.rolled_back = False
        #: table -> the version its link named when the job's ledger was last written
        #: (:meth:`links`, kept by the ledger); None: not known. A local append stage adds
        #: files beside the live ones only when the live table is that version
        self.recorded: dict[str, str] | None = None
        #: table -> {"rewritten": [...], "appended": [...], "kept": n, "dropped": [...]} for
        #: partition-only stages
        self.partition_changes: dict[str, dict] = {}
        if self.local:
            self.job_root = local_path(self.job_root)
            self.version = self._free_version_name(run_id)
            self.stage_root = join(self.job_root, VERSIONS_DIR, self.version)
        else:
            self.version = run_id
            self.stage_root = join(self.job_root, STAGING_DIR, run_id)

    def _free_version_name(self, run_id: str) -> str:
        """``run_id``, or ``run_id~N`` when a re-run would overwrite a live version."""
        base = os.path.join(self.job_root, VERSIONS_DIR)
        name, attempt = run_id, 1
        while os.path.exists(os.path.join(base, name)):
            attempt += 1
            name = f"{run_id}~{attempt}"
        return name

    def stage(
        self,
        table: str,
        df: DataFrame,
        only_changed_partitions: bool = False,
        appended: DataFrame | None = None,
    ) -> int:
        """Write ``df`` to the staging location; return its row count (read back).

        With ``only_changed_partitions`` (incremental runs), a partitioned table with a live
        local version writes only what changed; the rest of the live files are hard-linked
        into the new version:

        * ``appended`` (an append run: the table's rows of the new rentals only, every other
          row unchanged) is written into its partitions beside every live file, when the live
          table is the version the job's ledger recorded (:attr:`recorded`); else (a run that
          published and failed before its ledger: the live files may hold those rows) as
          without it;
        * without it, the partitions whose content differs from the live one are found by
          comparing fingerprints of both versions, and rewritten from ``df``.

        On an object store the changed partitions alone are staged, whole
        (:meth:`_stage_object_store_partitions`), and the publish moves them into place.
        """
        uri = join(self.stage_root, table)
        partitions = PARTITION_COLUMNS.get(table, ())
        live = self.table_uri(table)
        self.staged[table] = uri
        if only_changed_partitions and partitions and self.local and os.path.isdir(live):
            self.partition_changes[table] = self._stage_changed_partitions(
                df, live, uri, table, appended
            )
        elif only_changed_partitions and partitions and not self.local and exists(self.spark, live):
            self.partition_changes[table], rows = self._stage_object_store_partitions(
                df, live, uri, table, appended
            )
            return rows
        else:
            write_table(df, uri, table)
        return read_table(self.spark, uri).count()

    def _stage_object_store_partitions(
        self, df: DataFrame, live: str, uri: str, table: str, appended: DataFrame | None
    ) -> tuple[dict, int]:
        """An object store has no links, so the partitions that change are staged whole,
        from ``df``, and :meth:`publish` moves them over the live ones; (the changes, the rows
        the table holds once published).

        * An append run (``appended``: the table's rows of the new rentals) changes the
          partitions its new rows fall in, and no other;
        * a recheck, or a run that finds the :data:`PUBLISHING_MARKER` of a publish that did
          not finish (some partitions may hold rows of a run whose ledger was never written,
          or be missing), changes the partitions whose fingerprints differ from the live ones,
          and drops those no row falls in any more.

        Writing a changed partition whole (never adding files to it) makes a run that repeats
        an interrupted one write the same partitions again, not add the same rows twice."""
        (column,) = PARTITION_COLUMNS[table]
        live_df = self.spark.read.parquet(live)
        if not same_columns(df, live_df, column):
            write_table(df, uri, table)
            changes = {"rewritten": ["*"], "kept": 0, "dropped": [], "note": "the columns changed"}
            return changes, read_table(self.spark, uri).count()
        interrupted = exists(self.spark, self.marker_uri(table))
        if appended is not None and not interrupted:
            rewritten, dropped, found_by = partition_values(appended, column), [], "appended_rows"
        else:
            rewritten, _, dropped = changed_partitions(df, live_df, column)
            found_by = "fingerprints"
        if rewritten:
            write_table(in_partitions(df, column, rewritten), uri, table)
        replaced = rewritten + dropped
        kept = live_df.filter(~F.col(column).cast("string").isin(replaced)) if replaced else live_df
        rows = kept.count() + (read_table(self.spark, uri).count() if rewritten else 0)
        changes = {
            "rewritten": rewritten,
            "kept": len(set(partition_values(live_df, column)) - set(replaced)),
            "dropped": dropped,
            "found_by": found_by,
        }
        if interrupted:
            changes["note"] = "an earlier publish did not finish"
        return changes, rows

    def _stage_changed_partitions(
        self, df: DataFrame, live: str, uri: str, table: str, appended: DataFrame | None
    ) -> dict:
        (column,) = PARTITION_COLUMNS[table]
        live_df = self.spark.read.parquet(live)
        if not same_columns(df, live_df, column):
            # the table's columns changed since the live version: every partition is new
            write_table(df, uri, table)
            return {"rewritten": ["*"], "kept": 0, "dropped": [], "note": "the columns changed"}
        prefix = f"{column}="

        def folders(root: str) -> set[str]:
            return {e.name[len(prefix) :] for e in os.scandir(root) if e.name.startswith(prefix)}

        existing = folders(live)
        note = None
        if appended is not None and not self._live_is_recorded(table):
            # a run published this table and failed before its ledger: the live files may
            # hold the rows about to be appended, so compare the partitions instead
            appended = None
            note = "the live table is not the version the ledger names"
        if appended is not None:  # the new rows' files, then every live file beside them
            if not appended.isEmpty():
                write_table(appended.select(*df.columns), uri, table)
            added = sorted(folders(uri)) if os.path.isdir(uri) else []
            link, found_by = sorted(existing), "appended_rows"
            changes = {"rewritten": [], "appended": added, "kept": len(existing - set(added))}
            changes["dropped"] = []
        else:
            changed, link, dropped = changed_partitions(df, live_df, column)
            if changed:
                write_table(in_partitions(df, column, changed), uri, table)
            found_by = "fingerprints"
            changes = {"rewritten": changed, "kept": len(link), "dropped": dropped}
        os.makedirs(uri, exist_ok=True)
        for value in link:
            folder = f"{prefix}{value}"
            os.makedirs(os.path.join(uri, folder), exist_ok=True)
            for entry in os.scandir(os.path.join(live, folder)):
                if entry.is_file():
                    link_or_copy(entry.path, os.path.join(uri, folder, entry.name))
        if note is not None:
            changes["note"] = note
        return {**changes, "found_by": found_by}

    def _live_is_recorded(self, table: str) -> bool:
        """The live link of local ``table`` names the version the job's ledger recorded."""
        link = os.path.join(self.job_root, table)
        return (
            self.recorded is not None
            and os.path.islink(link)
            and self.recorded.get(table) == os.readlink(link)
        )

    def links(self) -> dict[str, str]:
        """Local: table -> the version its link names (``_versions/<version>/<table>``), for
        each table of the job folder; on an object store, nothing (a publish there rewrites
        whole partitions, never adds files to live ones)."""
        if not self.local or not os.path.isdir(self.job_root):
            return {}
        return {
            entry.name: os.readlink(entry.path)
            for entry in os.scandir(self.job_root)
            if entry.is_symlink() and not entry.name.startswith((".", "_"))
        }

    def discard(self) -> None:
        """Delete everything this run staged (an attempt that failed before publishing, or
        whose local publish failed and was rolled back: :attr:`rolled_back`)."""
        if self.local:
            shutil.rmtree(self.stage_root, ignore_errors=True)
        else:
            fs, path = _fs_and_path(self.spark, self.stage_root)
            fs.delete(path, True)
        self.staged.clear()

    def table_uri(self, table: str) -> str:
        return join(self.job_root, table)

    def publish(self) -> dict[str, str]:
        """Expose every staged table; return table -> published URI.

        Locally, if any swap fails (disk full, permissions, ...), every link already swapped
        is pointed back at its previous target before the error propagates, so the job's
        tables never mix two runs.
        """
        published = {}
        if self.local:
            # 1) create every new link and every undo link first (the steps that need space),
            # 2) then swap with os.replace only; on failure, put back the undo links.
            undo: dict[str, str | None] = {}
            swapped: list[str] = []
            try:
                for table in self.staged:
                    undo[table] = self._prepare(table)
                for table in self.staged:
                    os.replace(self._tmp(table, "swap"), os.path.join(self.job_root, table))
                    swapped.append(table)
                    published[table] = self.table_uri(table)
            except BaseException:
                self.rolled_back = self._roll_back(swapped, undo)
                raise
            finally:
                self._clean_temp_links()
            self._prune_versions()
            return published
        for table, staged in self.staged.items():
            changes = self.partition_changes.get(table)
            if changes is not None and not (changes["rewritten"] or changes["dropped"]):
                pass  # no partition changed: the live objects stay as they are
            elif table not in PARTITION_COLUMNS:
                self._copy_table(table, staged)
            else:
                marker = self.marker_uri(table)
                write_text(self.spark, marker, self.run_id, "marker")
                if changes is not None and changes["rewritten"] != ["*"]:
                    self._replace_partitions(table, staged, changes)
                else:
                    self._copy_table(table, staged)
                fs, path = _fs_and_path(self.spark, marker)
                fs.delete(path, False)
            published[table] = self.table_uri(table)
        fs, path = _fs_and_path(self.spark, self.stage_root)
        fs.delete(path, True)
        return published

    def marker_uri(self, table: str) -> str:
        """The :data:`PUBLISHING_MARKER` of ``table`` (object stores)."""
        return join(self.job_root, f"{PUBLISHING_MARKER}.{table}")

    def _copy_table(self, table: str, staged: str) -> None:
        """On an object store: the staged table written over the live one."""
        write_table(self.spark.read.parquet(staged), self.table_uri(table), table)

    def _replace_partitions(self, table: str, staged: str, changes: dict) -> None:
        """On an object store: move each staged partition folder over the live one, and
        delete the dropped ones."""
        (column,) = PARTITION_COLUMNS[table]
        live = self.table_uri(table)
        fs, _ = _fs_and_path(self.spark, live)
        for value in changes["rewritten"]:
            self._move_partition(
                fs, join(staged, f"{column}={value}"), join(live, f"{column}={value}")
            )
        for value in changes["dropped"]:
            fs.delete(_fs_and_path(self.spark, join(live, f"{column}={value}"))[1], True)
        log(logging.INFO, "partitions_replaced", table=table, **changes)

    def _move_partition(self, fs, source: str, target: str) -> None:
        """Replace the folder ``target`` with ``source`` (on S3 a copy and a delete per file,
        done by the store, not through the job)."""
        _, target_path = _fs_and_path(self.spark, target)
        fs.delete(target_path, True)
        if not fs.rename(_fs_and_path(self.spark, source)[1], target_path):
            raise OSError(f"could not move the staged partition {source} to {target}")

    def _tmp(self, table: str, kind: str) -> str:
        return os.path.join(self.job_root, f".{table}.{kind}-{os.getpid()}")

    def _link(self, path: str, target: str) -> None:
        if os.path.lexists(path):
            os.remove(path)
        os.symlink(target, path)

    def _prepare(self, table: str) -> str | None:
        """Create the new link (``.swap``) and, if a version is live, an undo link pointing
        at it (``.undo``); return the previous target (None: the table is new)."""
        link = os.path.join(self.job_root, table)
        target = os.path.join(VERSIONS_DIR, self.version, table)  # relative: the lake can move
        previous = os.readlink(link) if os.path.islink(link) else None
        if os.path.isdir(link) and not os.path.islink(link):
            # a plain folder from an older layout: move it into _versions once
            legacy_name = f"legacy-{int(time.time())}"
            legacy = os.path.join(self.job_root, VERSIONS_DIR, legacy_name)
            os.makedirs(legacy, exist_ok=True)
            shutil.move(link, os.path.join(legacy, table))
            previous = os.path.join(VERSIONS_DIR, legacy_name, table)
            self._link(link, previous)
        self._link(self._tmp(table, "swap"), target)
        if previous is not None:
            self._link(self._tmp(table, "undo"), previous)
        return previous

    def _roll_back(self, swapped: list[str], undo: dict[str, str | None]) -> bool:
        """Point every swapped link back at its previous target (or remove a new link);
        True when every one was put back (no table shows this run's version)."""
        complete = True
        for table in reversed(swapped):
            link = os.path.join(self.job_root, table)
            try:
                if undo[table] is None:
                    os.remove(link)
                else:
                    os.replace(self._tmp(table, "undo"), link)
            except OSError:  # pragma: no cover - best effort; the original error is raised
                complete = False
        return complete

    def _clean_temp_links(self) -> None:
        for table in self.staged:
            for kind in ("swap", "undo"):
                tmp = self._tmp(table, kind)
                try:
                    if os.path.lexists(tmp):
                        os.remove(tmp)
                except OSError:  # pragma: no cover - readers ignore names starting with "."
                    pass

    def _live_versions(self) -> set[str]:
        """The versions a table link points at, and those the temporary links of a publish
        still running (its process alive) point at. Temporary links a dead process left
        (killed mid-publish) are deleted: they name no version anyone reads."""
        live = set()
        for name in os.listdir(self.job_root):
            path = os.path.join(self.job_root, name)
            if not os.path.islink(path):
                continue
            if name.startswith("."):
                temp = _TEMP_LINK.fullmatch(name)
                if temp is None:
                    continue  # not a table, nor a publish's link
                if not _process_alive(int(temp.group(1))):
                    with contextlib.suppress(OSError):  # readers ignore names starting with "."
                        os.remove(path)
                    continue
            parts = os.path.normpath(os.readlink(path)).split(os.sep)
            if len(parts) > 1 and parts[0] == VERSIONS_DIR:
                live.add(parts[1])
        return live

    def _prune_versions(self) -> None:
        base = os.path.join(self.job_root, VERSIONS_DIR)
        live = self._live_versions()
        versions = sorted(
            (entry for entry in os.scandir(base) if entry.is_dir()),
            key=lambda entry: entry.stat().st_mtime,
            reverse=True,
        )
        for entry in versions[KEEP_VERSIONS:]:
            if entry.name not in live:
                shutil.rmtree(entry.path, ignore_errors=True)


def quarantine_location(quarantine_root: str, dataset: str, job: str, run_id: str) -> str:
    return join(to_uri(quarantine_root), dataset, f"job={job}", f"run_id={run_id}")


def write_quarantine(
    rejected: DataFrame, quarantine_root: str, dataset: str, job: str, run_id: str
) -> str:
    """Write rejected rows (with dataset/job/run_id in front) and return the URI."""
    uri = quarantine_location(quarantine_root, dataset, job, run_id)
    rest = [c for c in rejected.columns if c not in QUARANTINE_LEADING_COLUMNS]
    out = rejected.select(
        F.lit(dataset).alias("dataset"),
        F.lit(job).alias("job"),
        F.lit(run_id).alias("run_id"),
        *[c for c in QUARANTINE_LEADING_COLUMNS if c not in ("dataset", "job", "run_id")],
        *rest,
    )
    write_table(out, uri, "quarantine")
    return uri
