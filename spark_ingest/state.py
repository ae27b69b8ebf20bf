"""Incremental state of one job: the ingest ledger, the parsed store, the checked segments,
the partial aggregates and the dimension snapshots.

In a pipeline run the ``validate_inputs`` job keeps the ledger, the parsed store, the checked
segments and the dimension snapshots; the KPI jobs, reading its handover
(:mod:`spark_ingest.handover`, ``--inputs validated``), keep only their partials and a ledger
whose ``segments`` and ``dimensions`` are the URIs of the frames they read (``inputs:
validated``, and the handover's ``token`` as ``source_token``). A job run on its own keeps all
of it.

All live under ``processed/<job>/_state/`` (a leading ``_``: crawlers and readers skip it)::

    _state/ledger.json                              every processed raw rentals file
    _state/rentals_parsed/file_id=<id>.<run>/*.parquet
                                                    parse_rentals() output of that one file
                                                    (its bytes as of that run), raw values its
                                                    typed ones give back left out
    _state/rentals_checked/segment=<run>/*.parquet  checked rows (compact frame) of one run
    _state/partials/run=<run>/<name>/*.parquet      the job's partial aggregates after a run
    _state/dimensions/<dataset>/run=<run>/*.parquet validated rows (compact) of a dimension

The **ledger** records, per raw file: path, size, checksum (:func:`fingerprint`: SHA-256 of the
bytes, or an object store's own: S3A's ETag, or the checksum S3 keeps for an object), the id of
the file, the store folder of its rows (``stored``) and the run that parsed it. The entry also
keeps the file's ``stat`` (a local file: size, modification and change times in nanoseconds,
inode; an object: size and modification time) and when it was hashed: a later run reuses the
recorded checksum of a file whose stat is the same, as ``git`` and ``make`` trust a file's
times, so a daily run reads its new files and not the whole history
(:meth:`IngestState.fingerprint_rentals`). Writing a local file's bytes sets its change time,
which (unlike the modification time) no file tool can set back, so a file rewritten in place,
even with its size and modification time restored, is hashed again; uploading an object sets
its modification time. A file changed within :data:`RACY_NS` of being hashed is hashed again
(the clock may not have moved). A ``--mode full`` run fingerprints every file. On S3 a file
delivered again with the same bytes (a new object, with a new modification time) is
fingerprinted again and found unchanged.
A run plans against the ledger (:meth:`IngestState.plan`):

* a file not in the ledger is **new**: parsed once and stored;
* a file with the same path and checksum is **unchanged**: skipped, its stored rows are reused;
* a file with the same path and another checksum is **changed**: parsed again into a new
  folder of this run, which the new ledger names instead of the old one, so its earlier rows
  are replaced (never counted twice);
* a ledger file no longer in the raw folder is **removed**: the new ledger names no folder of it.

A folder is written once and never overwritten: the folder a committed ledger names holds the
rows of the bytes that ledger accepted, even after a failed run parsed other bytes of the file
(and the file was then put back as it was).

An unchanged file whose stored folder is missing (deleted by hand) counts as changed: it is
parsed again. A full run parses every file into new folders and leaves the last ledger's as
they are until its own ledger is written.

The ledger also records the dimension files' fingerprints, a digest of the validation rules,
the transforms and the job's own module (:func:`rules_version`), and the Spark version and
session time zone it ran under (a ledger written under other code or another runtime means
a full run)
and the list of **checked segments**: the orphan- and duplicate-checked rows, one segment per
run. How a run checks its rentals (:meth:`Plan.append_blocker`):

* **append**: only new files arrived (none changed or removed), the dimension files are the
  same bytes and fewer than :data:`MAX_SEGMENTS` segments exist. The stored verdicts of the
  earlier rows still hold (same dimensions, same rows), so only the new rows are checked and
  written as one more segment, unless one of their valid keys is already held by a valid
  earlier row (a duplicate across runs), which needs the recheck. The stored keys are read
  only when the range of the new valid keys overlaps a segment's (:func:`key_ranges_disjoint`):
  rental ids that grow with time (``R20240501-...``) make a daily file's range its own;
* **recheck**: otherwise, every stored parsed row is checked again (so an orphan is
  re-evaluated when its dimension row arrives) and written as the one new segment.

Either way the result equals a full run over the same raw files.

A dimension whose files are the same bytes as at the last run is not validated again: its
validated rows (the compact frame, rejected rows and reasons included) are read from the
snapshot stored by the run that validated it.

The ledger also keeps the **row counts** of each dimension snapshot and each checked segment
(rows read, valid, rejected per reason; a segment also the range of its valid keys), so a run
that reuses them reports and reconciles its input counts without reading the stored rows
again: an append run counts only its new rows. A snapshot or segment without counts is
validated or rechecked again.

The **partials** (:data:`spark_ingest.transforms.PARTIALS`) the job's KPIs are built from are
stored after each run as **layers**: one folder each, listed oldest first by the ledger. An
append run writes the partials of its new valid rentals alone as one more layer (at
:data:`MAX_PARTIAL_LAYERS` it merges them all into one instead), and the KPIs read every layer
(merged into one row per key, or as they are for a layered partial, whose keys are counted
once by :data:`spark_ingest.transforms.NEW_KEY`); any other run builds them from every checked
rental, as one layer. A layer is the size of a day's rentals: an append run never rewrites the
partials of all the earlier days.

The ledger is written only after the job's tables are published: a run that fails leaves the
previous ledger (and the state it names), and the next run parses the same files again.
Folders the new ledger does not name (store folders included) are deleted when it is written.
It also records which version each local table's link named (``published``): a run that
published and then failed before its ledger leaves live tables the ledger does not name, and
the next run then compares the fact's partitions with what they should hold rather than add
its new rows beside live files that may already hold them
(:meth:`spark_ingest.publish.Publisher.stage`).

Stored state that cannot be read (a truncated or corrupt Parquet file: a crashed writer, a
hand-edited folder) does not need a hand-made ``--mode full`` run: the incremental run that
fails reading it is run again at once as a full run, which rebuilds every folder
(:func:`spark_ingest.pipeline.state_unreadable`; the manifest's ``fallback`` says why). A
missing folder is handled without a retry, as described above.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from pyspark.sql import DataFrame, SparkSession

from spark_ingest import contract, transforms, validate
from spark_ingest.io import _fs_and_path, exists, read_text, to_uri, write_text
from spark_ingest.layout import SPARK_JOBS, join
from spark_ingest.logs import log
from spark_ingest.publish import is_local, local_path

STATE_DIR = "_state"
LEDGER_FILE = "ledger.json"
PARSED_DIR = "rentals_parsed"
CHECKED_DIR = "rentals_checked"
PARTIALS_DIR = "partials"
DIMENSIONS_DIR = "dimensions"
LEDGER_VERSION = 6
HASH_CHUNK = 8 * 1024 * 1024
#: An append run adds one segment; at this many the next run rechecks and compacts them to one.
MAX_SEGMENTS = 32
#: An append run adds one partials layer; at this many it merges them into one.
MAX_PARTIAL_LAYERS = MAX_SEGMENTS
#: A local file whose change time is less than this before the moment it was hashed is hashed
#: again at the next run: a write within the file system's timestamp granularity (a few ms)
#: after the hash would leave its times as they were.
RACY_NS = 2_000_000_000
#: The URI schemes of S3 (EMRFS, S3A, the old S3N): their objects' checksums are S3's own
S3_SCHEMES = ("s3", "s3a", "s3n")
#: The additional checksums S3 may keep for an object, strongest first
S3_CHECKSUMS = ("SHA256", "SHA1", "CRC64NVME", "CRC32C", "CRC32")


#: The modules whose logic stored state depends on: the parse and checks (stored rows and
#: verdicts) and the transforms (an append run rewrites only the fact partitions it adds to).
STATE_MODULES = (contract, validate, transforms)


def rules_version(job: str | None = None) -> str:
    """A digest of the source of :data:`STATE_MODULES` and of ``job``'s module (which picks the
    partials and tables its state holds): state written under other rules, transforms or job
    code is not reused (the next run is full). Read through the module loaders, so it also
    works from the zip shipped to EMR."""
    modules = list(STATE_MODULES)
    if job in SPARK_JOBS:
        modules.append(importlib.import_module(f"spark_ingest.jobs.{job}"))
    digest = hashlib.sha256()
    for module in modules:
        digest.update(module.__loader__.get_source(module.__name__).encode("utf-8"))
    return digest.hexdigest()[:16]


def file_id(uri: str) -> str:
    """The id of a raw file (its store folders are ``file_id=<id>.<run>``): derived from its
    path."""
    return hashlib.sha256(uri.encode("utf-8")).hexdigest()[:16]


def stored_folder(uri: str, entry: dict | None) -> str:
    """The store folder (under ``rentals_parsed/``) a ledger ``entry`` of raw file ``uri``
    names; ``file_id=<id>`` for an entry without one (written before entries named it)."""
    return (entry or {}).get("stored") or f"file_id={file_id(uri)}"


def fingerprint(spark: SparkSession, uri: str) -> tuple[int, str]:
    """(size in bytes, checksum) of a raw file, in the first of these forms that answers:

    1. a local file: the SHA-256 of its bytes;
    2. the file system's own checksum, when it has one (S3A gives the ETag with
       ``fs.s3a.etag.checksum.enabled``);
    3. an S3 object (``s3://``, ``s3a://``, ``s3n://``): the checksum S3 keeps for it
       (:func:`s3_checksum`, one ``HeadObject`` call). EMRFS, the ``s3://`` file system on
       EMR, has no checksum of its own, and without this the driver would read every raw
       byte of a full run to hash it;
    4. else the SHA-256 of the bytes, read by the driver's JVM (:func:`jvm_sha256`).

    A modification time would not do: S3 gives a re-delivered object, same bytes or not, a
    new one, and a re-delivered dimension snapshot would make every daily run a recheck."""
    fs, path = _fs_and_path(spark, uri)
    status = fs.getFileStatus(path)
    size = int(status.getLen())
    if is_local(uri):
        digest = hashlib.sha256()
        with open(local_path(uri), "rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
        return size, f"sha256:{digest.hexdigest()}"
    checksum = fs.getFileChecksum(path)
    if checksum is not None:
        return size, f"{checksum.getAlgorithmName()}:{bytes(checksum.getBytes()).hex()}"
    if urlparse(uri).scheme in S3_SCHEMES and (object_checksum := s3_checksum(uri)):
        return size, object_checksum
    return size, f"sha256:{jvm_sha256(spark, fs, path)}"


def s3_checksum(uri: str) -> str | None:
    """What S3 itself knows of an object's bytes, asked in one ``HeadObject`` call (boto3, in
    the driver, with the job's credentials):

    * the additional checksum S3 keeps for the object (:data:`S3_CHECKSUMS`, strongest
      first; AWS's SDKs and CLI send one with every upload by default since 2025), as
      ``<algorithm>:<hex>``: for a SHA-256 the same text as a local file's hash. A multipart
      upload's composite checksum keeps its ``-<parts>`` suffix;
    * else the ETag, as ``etag:<etag>``: the MD5 of the bytes, or for a multipart upload
      the MD5 of its parts' MD5s and ``-<parts>``.

    Each follows the bytes: a changed file never keeps its checksum. The same bytes put
    again with another part size would get another one and be read as changed (parsed
    again: no rows lost or counted twice, only the work of a skip). None, so that the caller
    hashes the bytes, when the ETag of the object is not a digest of its bytes (SSE-KMS,
    SSE-C) and it has no additional checksum, when boto3 is not installed or when S3
    refuses the call (both logged)."""
    client = _s3_client()
    if client is None:
        return None
    parsed = urlparse(uri)
    try:
        head = client.head_object(
            Bucket=parsed.netloc, Key=unquote(parsed.path.lstrip("/")), ChecksumMode="ENABLED"
        )
    except Exception as exc:  # botocore's errors: credentials, access, throttling
        log(logging.WARNING, "s3_checksum_unavailable", file=uri, error=str(exc))
        return None
    for algorithm in S3_CHECKSUMS:
        if value := head.get(f"Checksum{algorithm}"):
            digest, _, parts = value.partition("-")
            suffix = f"-{parts}" if parts else ""
            return f"{algorithm.lower()}:{base64.b64decode(digest).hex()}{suffix}"
    if head.get("ServerSideEncryption", "").startswith("aws:kms") or head.get(
        "SSECustomerAlgorithm"
    ):
        return None
    return f"etag:{head['ETag'].strip(chr(34))}"


@functools.cache
def _s3_client():
    """One S3 client per driver (boto3 finds the region and the credentials: on EMR
    Serverless, the job's runtime role), or None, logged once, where boto3 is not installed:
    the driver then hashes the bytes."""
    try:
        import boto3
    except ImportError:
        log(logging.WARNING, "s3_checksum_unavailable", error="boto3 not installed")
        return None
    return boto3.client("s3")


def jvm_sha256(spark: SparkSession, fs, path) -> str:
    """The SHA-256 (hex) of a file read through Hadoop's FileSystem in the driver's JVM
    (commons-codec, on Spark's class path): the bytes never cross into Python."""
    stream = fs.open(path)
    try:
        return str(
            spark.sparkContext._jvm.org.apache.commons.codec.digest.DigestUtils.sha256Hex(stream)
        )
    finally:
        stream.close()


def file_stat(uri: str) -> dict[str, int]:
    """What a local file's ledger entry compares to decide whether to hash it again."""
    stat = os.stat(local_path(uri))
    return {
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "ctime_ns": stat.st_ctime_ns,
        "inode": stat.st_ino,
    }


def object_stat(spark: SparkSession, uri: str) -> dict[str, int]:
    """What an object store file's ledger entry compares: its size and modification time.
    An object cannot be changed in place: a new upload gives it a new modification time."""
    fs, path = _fs_and_path(spark, uri)
    status = fs.getFileStatus(path)
    return {"size": int(status.getLen()), "mtime_ns": int(status.getModificationTime()) * 1_000_000}


def sum_counts(parts: Iterable[dict]) -> dict:
    """The row counts of a union of frames from theirs: rows read, valid rows and rejected
    rows per reason (the keys :func:`spark_ingest.pipeline.count_rows` returns)."""
    total: dict = {"rows_read": 0, "valid": 0, "rejected_by_reason": {}}
    for part in parts:
        total["rows_read"] += part["rows_read"]
        total["valid"] += part["valid"]
        for reason, rows in part["rejected_by_reason"].items():
            total["rejected_by_reason"][reason] = total["rejected_by_reason"].get(reason, 0) + rows
    return total


def key_ranges_disjoint(new: dict, stored: Iterable[dict]) -> bool:
    """True when no valid key of the new rows can equal a valid key of a stored segment: the
    range [lowest, highest] of the new rows' valid keys (``valid_keys`` of their counts)
    overlaps no stored segment's. Then no stored key needs to be read.

    Keys compare as Python strings, by code point, which is the order of their UTF-8 bytes:
    how Spark compares strings. New rows without a valid key share none; a stored segment
    with valid rows but no recorded range counts as overlapping (the keys are joined).
    """
    if new["valid"] == 0:
        return True
    if new.get("valid_keys") is None:
        return False
    low, high = new["valid_keys"]
    for counts in stored:
        if counts["valid"] == 0:
            continue
        if counts.get("valid_keys") is None:
            return False
        stored_low, stored_high = counts["valid_keys"]
        if not (high < stored_low or low > stored_high):
            return False
    return True


@dataclass
class Plan:
    """What a run does with each raw rentals file."""

    run_id: str = ""
    entries: dict[str, dict] = field(default_factory=dict)  # uri -> ledger entry (this run)
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: the files this run fingerprinted (the others kept their ledger checksum): local files'
    #: bytes hashed, an object store's checksum asked for (or its bytes hashed, without one)
    hashed: list[str] = field(default_factory=list)
    #: dataset -> [[path, size, checksum], ...] of the dimension files (this run / last run)
    dimensions: dict[str, list] = field(default_factory=dict)
    previous_dimensions: dict[str, list] | None = None
    #: checked segments listed by the last ledger (None: no ledger) / by this run's ledger
    previous_segments: list[str] | None = None
    segments: list[str] = field(default_factory=list)
    #: folders of the stored partial aggregates' layers, oldest first (last run / this run)
    previous_partials: list[str] | None = None
    partials: list[str] = field(default_factory=list)
    #: dimension -> folder of its stored validated snapshot (last run / this run)
    previous_dimension_snapshots: dict[str, str] = field(default_factory=dict)
    dimension_snapshots: dict[str, str] = field(default_factory=dict)
    #: dataset -> the row counts of its snapshot / segment -> the row counts of its rows
    #: (what :func:`spark_ingest.pipeline.count_rows` returns; last run / this run): a stored
    #: frame is never counted again
    previous_dimension_counts: dict[str, dict] = field(default_factory=dict)
    dimension_counts: dict[str, dict] = field(default_factory=dict)
    previous_segment_counts: dict[str, dict] = field(default_factory=dict)
    segment_counts: dict[str, dict] = field(default_factory=dict)
    #: dimension -> "snapshot" (same files: the stored rows) or "validated" (this run)
    dimension_sources: dict[str, str] = field(default_factory=dict)
    #: what the run read: "raw" files, or the "validated" inputs of validate_inputs (then
    #: ``segments`` and ``dimensions`` hold the URIs of the handed-over frames)
    inputs: str = "raw"
    #: a new id for this run's ledger, and the id of the ledger it planned against: a KPI job
    #: reading validated inputs merges an append run's segments only when the handover it
    #: read last is the one this handover was planned against (``source_token``)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    previous_token: str | None = None
    source_token: str | None = None
    #: table -> the version a local table's link named when the ledger was written (last run
    #: / this run; :meth:`spark_ingest.publish.Publisher.links`). A run that published and
    #: then failed before its ledger leaves a live table the last ledger does not name: the
    #: next run must not add its new rows beside that table's files (they may hold them).
    previous_published: dict[str, str] | None = None
    published: dict[str, str] = field(default_factory=dict)

    def append_blocker(self) -> str | None:
        """Why this run must recheck every stored row (None: appending is exact)."""
        if self.previous_segments is None:
            return "no_previous_run"
        if self.changed or self.removed:
            return "files_changed_or_removed"
        if self.dimensions != self.previous_dimensions:
            return "dimensions_changed"
        if len(self.previous_segments) >= MAX_SEGMENTS:
            return "compaction"
        return None

    @property
    def to_parse(self) -> list[str]:
        return sorted(self.new + self.changed)

    def summary(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "changed": len(self.changed),
            "unchanged": len(self.unchanged),
            "removed": len(self.removed),
        }


class IngestState:
    """The ledger and parsed store of one job under ``<processed-root>/<job>/_state``."""

    def __init__(self, spark: SparkSession, processed_root: str, job: str):
        self.spark = spark
        self.job = job
        self.root = join(to_uri(processed_root), job, STATE_DIR)
        self.ledger_uri = join(self.root, LEDGER_FILE)
        self.parsed_root = join(self.root, PARSED_DIR)
        self.checked_root = join(self.root, CHECKED_DIR)
        self.partials_root = join(self.root, PARTIALS_DIR)

    @property
    def runtime(self) -> dict[str, str]:
        """What the stored rows depend on besides the code: timestamps are parsed and, for a raw
        value the store left out, formatted back in the session's time zone."""
        return {
            "spark": self.spark.version,
            "time_zone": self.spark.conf.get("spark.sql.session.timeZone"),
        }

    def error_line(self, message: str) -> str | None:
        """The first line of an error ``message`` that names a file of this job's state
        (however the file system spells the scheme: ``file:/``, ``s3://``, ``s3a://``), or
        None. A Py4J error's own first line names no file; the Java cause below it does."""
        marker = f"/{self.job}/{STATE_DIR}/"
        return next((line.strip()[:2000] for line in message.splitlines() if marker in line), None)

    def parsed_uri(self, uri: str, entry: dict | None = None) -> str:
        """The store folder of raw file ``uri``'s parsed rows: the one its ledger ``entry``
        names (``stored``), else ``file_id=<id>`` (a ledger written before entries named it,
        or an entry not stored yet)."""
        return join(self.parsed_root, stored_folder(uri, entry))

    def read_ledger(self) -> dict | None:
        """The last committed ledger, or None (no successful run yet, or state wiped)."""
        text = read_text(self.spark, self.ledger_uri)
        if text is None:
            return None
        try:
            ledger = json.loads(text)
        except json.JSONDecodeError as exc:
            log(logging.WARNING, "ledger_unreadable", ledger=self.ledger_uri, error=str(exc))
            return None
        if ledger.get("version") != LEDGER_VERSION:
            log(
                logging.WARNING,
                "ledger_version",
                ledger=self.ledger_uri,
                found=ledger.get("version"),
            )
            return None
        if ledger.get("rules") != rules_version(self.job):
            log(logging.WARNING, "ledger_rules_changed", ledger=self.ledger_uri, effective="full")
            return None
        if ledger.get("runtime") != self.runtime:
            log(
                logging.WARNING,
                "ledger_runtime_changed",
                ledger=self.ledger_uri,
                found=ledger.get("runtime"),
                now=self.runtime,
                effective="full",
            )
            return None
        return ledger

    def plan(self, files: list[str], ledger: dict | None, run_id: str) -> Plan:
        """Classify ``files`` against ``ledger`` (None: every file is new)."""
        known = {entry["path"]: entry for entry in (ledger or {}).get("files", [])}
        plan = Plan(run_id=run_id)
        for uri in files:
            before = known.get(uri)
            entry = {
                "path": uri,
                **self.fingerprint_rentals(uri, before, plan),
                "file_id": file_id(uri),
            }
            size, checksum = entry["size"], entry["checksum"]
            if before is None:
                plan.new.append(uri)
            elif before["checksum"] != checksum or before["size"] != size:
                plan.changed.append(uri)
            elif not self._exists(self.parsed_uri(uri, before)):
                log(logging.WARNING, "parsed_store_missing", file=uri, effective="parse again")
                plan.changed.append(uri)
            else:
                plan.unchanged.append(uri)
                entry["run_id"] = before["run_id"]
                entry["stored"] = stored_folder(uri, before)
                plan.entries[uri] = entry
                continue
            entry["run_id"] = run_id
            plan.entries[uri] = entry
        plan.removed = sorted(set(known) - set(files))
        if ledger is not None:
            plan.previous_segments = list(ledger["segments"])
            plan.previous_dimensions = ledger["dimensions"]
            plan.previous_partials = ledger["partials"]
            plan.previous_dimension_snapshots = ledger["dimension_snapshots"]
            plan.previous_dimension_counts = ledger["dimension_counts"]
            plan.previous_segment_counts = ledger["segment_counts"]
            plan.previous_token = ledger.get("token")
            plan.previous_published = ledger.get("published")
        return plan

    def fingerprint_rentals(self, uri: str, before: dict | None, plan: Plan) -> dict:
        """The ledger fields of a raw rentals file: ``size``, ``checksum`` (see
        :func:`fingerprint`), ``stat`` and ``hashed_at_ns``.

        A file whose stat equals the one ``before`` (its last ledger entry) recorded, and
        whose last change is at least :data:`RACY_NS` before that hash, keeps its recorded
        checksum unread; any other file is fingerprinted again and listed in ``plan.hashed``.
        The stat of a local file (:func:`file_stat`) holds its change time, which a write
        sets and no tool can set back; an object store file's (:func:`object_stat`), its
        modification time, which every upload sets."""
        local = is_local(uri)
        stat = file_stat(uri) if local else object_stat(self.spark, uri)
        changed_at = stat["ctime_ns"] if local else stat["mtime_ns"]
        if (
            before is not None
            and before.get("stat") == stat
            and changed_at < before.get("hashed_at_ns", 0) - RACY_NS
        ):
            return {key: before[key] for key in ("size", "checksum", "stat", "hashed_at_ns")}
        plan.hashed.append(uri)
        hashed_at = time.time_ns()  # before the read: a write during it is racy
        size, checksum = fingerprint(self.spark, uri)
        return {"size": size, "checksum": checksum, "stat": stat, "hashed_at_ns": hashed_at}

    def fingerprint_dimensions(self, plan: Plan, files: dict[str, list[str]]) -> None:
        """Record the fingerprints of the dimension files (``dataset -> file URIs``)."""
        plan.dimensions = {
            name: [[uri, *fingerprint(self.spark, uri)] for uri in uris]
            for name, uris in sorted(files.items())
        }

    def _exists(self, uri: str) -> bool:
        return exists(self.spark, uri)

    def _free_name(self, run_id: str, uri: Callable[[str], str]) -> str:
        """``run_id``, or ``run_id~N`` when ``uri(name)`` exists (a re-used run id): a
        folder the current ledger lists is never overwritten."""
        name, attempt = run_id, 1
        while self._exists(uri(name)):
            attempt += 1
            name = f"{run_id}~{attempt}"
        return name

    def new_segment_name(self, run_id: str) -> str:
        return self._free_name(run_id, self.segment_uri)

    def segment_uri(self, segment: str) -> str:
        return join(self.checked_root, f"segment={segment}")

    def write_segment(self, checked: DataFrame, segment: str) -> None:
        checked.write.mode("overwrite").parquet(self.segment_uri(segment))

    def segments_exist(self, segments: list[str]) -> bool:
        for segment in segments:
            if not self._exists(self.segment_uri(segment)):
                log(logging.WARNING, "segment_missing", segment=self.segment_uri(segment))
                return False
        return True

    def read_segments(self, segments: list[str]) -> DataFrame:
        return self.spark.read.parquet(*[self.segment_uri(s) for s in segments])

    def partials_uri(self, folder: str, name: str | None = None) -> str:
        uri = join(self.partials_root, f"run={folder}")
        return uri if name is None else join(uri, name)

    def partials_exist(self, folders: list[str] | None, names: tuple[str, ...]) -> bool:
        return bool(folders) and all(
            self._exists(self.partials_uri(folder, name)) for folder in folders for name in names
        )

    def read_partials(self, folders: list[str], names: tuple[str, ...]) -> dict[str, DataFrame]:
        """name -> the rows of every layer in ``folders`` (one read; not merged)."""
        return {
            name: self.spark.read.parquet(*[self.partials_uri(f, name) for f in folders])
            for name in names
        }

    def write_partials(self, partials: dict[str, DataFrame], run_id: str) -> str:
        """Write the partials into a new folder; return its name (for the ledger)."""
        folder = self._free_name(run_id, self.partials_uri)
        for name, frame in partials.items():
            frame.write.mode("overwrite").parquet(self.partials_uri(folder, name))
        return folder

    def dimension_uri(self, dataset: str, folder: str) -> str:
        return join(self.root, DIMENSIONS_DIR, dataset, f"run={folder}")

    def unchanged_dimension(self, plan: Plan, dataset: str) -> DataFrame | None:
        """The stored validated rows of ``dataset`` if its files are the same bytes as at the
        last run and the snapshot and its counts exist (then ``plan.dimension_counts`` holds
        them); else None (validate it again)."""
        previous = plan.previous_dimensions
        folder = plan.previous_dimension_snapshots.get(dataset)
        counts = plan.previous_dimension_counts.get(dataset)
        if previous is None or folder is None or previous.get(dataset) != plan.dimensions[dataset]:
            return None
        if counts is None:
            log(logging.WARNING, "dimension_counts_missing", dataset=dataset, folder=folder)
            return None
        if not self._exists(self.dimension_uri(dataset, folder)):
            log(logging.WARNING, "dimension_snapshot_missing", dataset=dataset, folder=folder)
            return None
        plan.dimension_snapshots[dataset] = folder
        plan.dimension_sources[dataset] = "snapshot"
        plan.dimension_counts[dataset] = counts
        return self.spark.read.parquet(self.dimension_uri(dataset, folder))

    def store_dimension(self, validated: DataFrame, plan: Plan, dataset: str) -> None:
        """Store this run's validated rows of ``dataset`` for the next runs."""
        folder = self._free_name(plan.run_id, lambda name: self.dimension_uri(dataset, name))
        validated.write.mode("overwrite").parquet(self.dimension_uri(dataset, folder))
        plan.dimension_snapshots[dataset] = folder
        plan.dimension_sources[dataset] = "validated"

    def _prune(self, root: str, keep: set[str]) -> None:
        """Delete the folders under ``root`` the new ledger does not name (earlier runs,
        failed runs)."""
        fs, path = _fs_and_path(self.spark, root)
        if not fs.exists(path):
            return
        for status in fs.listStatus(path):
            if status.getPath().getName() not in keep:
                fs.delete(status.getPath(), True)

    def _prune_unlisted(self, plan: Plan) -> None:
        if plan.inputs == "raw":  # a KPI job reading validated inputs keeps no store
            self._prune(
                self.parsed_root,
                {stored_folder(uri, entry) for uri, entry in plan.entries.items()},
            )
        self._prune(self.checked_root, {f"segment={segment}" for segment in plan.segments})
        self._prune(self.partials_root, {f"run={folder}" for folder in plan.partials})
        for dataset in plan.dimensions:
            folder = plan.dimension_snapshots.get(dataset)
            self._prune(
                join(self.root, DIMENSIONS_DIR, dataset), {f"run={folder}"} if folder else set()
            )

    def store(self, uri: str, parsed: DataFrame, plan: Plan) -> None:
        """Write one file's parsed rows, without the raw values their typed values give back
        (:func:`~spark_ingest.validate.drop_canonical_raw`), to a new folder of this run
        (``file_id=<id>.<run>``), named by the file's entry in ``plan``. The folder the last
        ledger names is left as it is: a run that fails keeps the rows of the bytes that
        ledger accepted, whatever the file holds when the next run reads it."""
        fid = file_id(uri)
        name = self._free_name(
            plan.run_id, lambda run: join(self.parsed_root, f"file_id={fid}.{run}")
        )
        folder = f"file_id={fid}.{name}"
        slim = validate.drop_canonical_raw(parsed, contract.RENTAL_TRANSACTIONS)
        slim.write.mode("overwrite").parquet(join(self.parsed_root, folder))
        plan.entries[uri]["stored"] = folder

    def forget_all(self) -> None:
        """Empty the store (a full run parses every file again)."""
        fs, path = _fs_and_path(self.spark, self.parsed_root)
        fs.delete(path, True)

    def read_parsed(self, plan: Plan, files: list[str]) -> DataFrame:
        """The stored parsed rows of ``files``: the folders their ``plan`` entries name."""
        return self.spark.read.parquet(
            *[self.parsed_uri(uri, plan.entries.get(uri)) for uri in files]
        )

    def commit(self, plan: Plan, run_id: str) -> str:
        """Write the ledger (temporary file, then rename over the old one)."""
        ledger = {
            "version": LEDGER_VERSION,
            "run_id": run_id,
            "rules": rules_version(self.job),
            "runtime": self.runtime,
            "files": [plan.entries[uri] for uri in sorted(plan.entries)],
            "dimensions": plan.dimensions,
            "segments": plan.segments,
            "partials": plan.partials,
            "dimension_snapshots": plan.dimension_snapshots,
            "dimension_counts": {
                name: plan.dimension_counts[name]
                for name in plan.dimension_snapshots
                if name in plan.dimension_counts
            },
            "segment_counts": {
                segment: plan.segment_counts[segment]
                for segment in plan.segments
                if segment in plan.segment_counts
            },
            "inputs": plan.inputs,
            "token": plan.token,
            "source_token": plan.source_token,
            "published": plan.published,
        }
        text = json.dumps(ledger, indent=2, sort_keys=True)
        write_text(self.spark, self.ledger_uri, text, run_id)
        self._prune_unlisted(plan)
        return self.ledger_uri
