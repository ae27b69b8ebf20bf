"""The ingest ledger: fingerprints, the new/changed/unchanged/removed plan, commit + read."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest

from spark_ingest import state as S


def _file(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def _record_fingerprints(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The list that every later ``state.fingerprint`` call appends its file to (the call
    still fingerprints it)."""
    read: list[str] = []
    real = S.fingerprint
    monkeypatch.setattr(S, "fingerprint", lambda spark, uri: read.append(uri) or real(spark, uri))
    return read


def test_plan_classifies_files_against_the_ledger(spark, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    a, b, c = (_file(raw / f"{n}.csv", f"h\n{n}\n") for n in "abc")
    state = S.IngestState(spark, str(tmp_path / "processed"), "job")
    assert state.read_ledger() is None

    first = state.plan([a, b, c], None, "run-1")
    assert (first.new, first.changed, first.unchanged, first.removed) == ([a, b, c], [], [], [])
    assert first.entries[a]["checksum"] == "sha256:" + hashlib.sha256(b"h\na\n").hexdigest()
    assert first.entries[a]["size"] == 4
    state.commit(first, "run-1")
    ledger = state.read_ledger()
    assert [e["path"] for e in ledger["files"]] == [a, b, c]

    # b re-delivered with the same bytes, c edited, a removed, d new
    Path(b).write_text("h\nb\n")
    os.utime(b, (1e9, 1e9))
    Path(c).write_text("h\nC\n")
    os.remove(a)
    d = _file(raw / "d.csv", "h\nd\n")
    for uri in (b, c):  # what store() left of the first run
        Path(state.parsed_uri(uri)).mkdir(parents=True)
    second = state.plan([b, c, d], ledger, "run-2")
    assert (second.new, second.changed, second.unchanged, second.removed) == ([d], [c], [b], [a])
    assert second.to_parse == [c, d]
    assert second.entries[b]["run_id"] == "run-1"  # skipped: still credited to its first run
    assert second.entries[c]["run_id"] == "run-2"
    assert second.summary() == {"new": 1, "changed": 1, "unchanged": 1, "removed": 1}

    # an unchanged file whose stored rows are gone (deleted by hand) is
    # parsed again
    Path(state.parsed_uri(b)).rmdir()
    third = state.plan([b, c, d], ledger, "run-3")
    assert (third.changed, third.unchanged) == ([b, c], [])


def test_a_local_file_is_hashed_again_only_when_its_stat_changed(
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run reuses the ledger's checksum of a local file whose stat is the recorded one and
    that was hashed at least RACY_NS after its last change; it hashes every other file."""
    raw = tmp_path / "raw"
    a, b, c = (_file(raw / f"{n}.csv", f"h\n{n}\n") for n in "abc")
    state = S.IngestState(spark, str(tmp_path / "processed"), "job")
    read = _record_fingerprints(monkeypatch)

    first = state.plan([a, b, c], None, "run-1")
    assert read == first.hashed == [a, b, c]
    assert first.entries[a]["stat"] == {
        "size": 4,
        "mtime_ns": os.stat(a).st_mtime_ns,
        "ctime_ns": os.stat(a).st_ctime_ns,
        "inode": os.stat(a).st_ino,
    }
    for uri in (a, b, c):  # what store() left of the first run
        Path(state.parsed_uri(uri)).mkdir(parents=True)
    state.commit(first, "run-1")
    ledger = state.read_ledger()

    # hashed within RACY_NS of their last change (just written): hashed again
    read.clear()
    assert state.plan([a, b, c], ledger, "run-2").unchanged == [a, b, c]
    assert read == [a, b, c]

    # as if hashed 10 s after their last change: only files whose stat moved are read
    for entry in ledger["files"]:
        entry["hashed_at_ns"] = entry["stat"]["ctime_ns"] + 10 * 10**9
    time.sleep(0.05)  # past the file system's timestamp granularity
    old = os.stat(b)
    Path(b).write_text("h\nB\n")  # rewritten in place: same size, mtime set back
    os.utime(b, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert (os.stat(b).st_size, os.stat(b).st_mtime_ns) == (old.st_size, old.st_mtime_ns)
    os.replace(_file(raw / "c.tmp", "h\nc\n"), c)  # replaced by a new file, same bytes
    read.clear()
    third = state.plan([a, b, c], ledger, "run-3")
    assert read == third.hashed == [b, c]
    assert (third.unchanged, third.changed) == ([a, c], [b])
    recorded = {entry["path"]: entry for entry in ledger["files"]}
    assert third.entries[a]["checksum"] == recorded[a]["checksum"]
    assert third.entries[a]["hashed_at_ns"] == recorded[a]["hashed_at_ns"]
    assert third.entries[b]["checksum"] == "sha256:" + hashlib.sha256(b"h\nB\n").hexdigest()

    # an entry without a stat (a ledger written before it was kept): hashed
    del recorded[a]["stat"]
    read.clear()
    assert state.plan([a], ledger, "run-4").unchanged == [a]
    assert read == [a]


def test_raw_files_named_with_url_characters_are_fingerprinted(spark, tmp_path: Path) -> None:
    """Hadoop lists local files as unencoded ``file:`` URIs: a ``#``, a ``?`` or a space in a
    raw file's name is part of its path, not the start of a fragment or a query."""
    from spark_ingest.io import list_input_files
    from spark_ingest.publish import local_path

    raw = tmp_path / "raw"
    texts = {"rentals#2.csv": "h\n1\n", "rentals?3.csv": "h\n22\n", "rentals 4.csv": "h\n333\n"}
    for name, text in texts.items():
        _file(raw / name, text)
    listed = list_input_files(spark, "rental_transactions", str(raw))
    assert sorted(local_path(uri) for uri in listed) == sorted(str(raw / n) for n in texts)
    assert local_path(f"file://{raw}/a b#c?d.csv") == f"{raw}/a b#c?d.csv"

    state = S.IngestState(spark, str(tmp_path / "processed"), "job")
    plan = state.plan(listed, None, "run-1")
    assert sorted(plan.new) == sorted(listed)
    for uri in listed:
        text = texts[os.path.basename(local_path(uri))]
        assert plan.entries[uri]["size"] == len(text)
        assert (
            plan.entries[uri]["checksum"] == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
        )
        assert plan.entries[uri]["stat"]["inode"] == os.stat(local_path(uri)).st_ino


def test_a_new_segment_never_overwrites_an_existing_folder(spark, tmp_path: Path) -> None:
    state = S.IngestState(spark, str(tmp_path), "job")
    assert state.new_segment_name("r1") == "r1"
    Path(state.segment_uri("r1")).mkdir(parents=True)
    assert state.new_segment_name("r1") == "r1~2"
    Path(state.segment_uri("r1~2")).mkdir()
    assert state.new_segment_name("r1") == "r1~3"


def test_the_store_folder_depends_on_the_path_only(spark, tmp_path: Path) -> None:
    state = S.IngestState(spark, str(tmp_path), "job")
    assert state.parsed_uri("/x/a.csv") == state.parsed_uri("/x/a.csv")
    assert state.parsed_uri("/x/a.csv") != state.parsed_uri("/y/a.csv")
    assert state.parsed_uri("/x/a.csv").startswith(str(tmp_path / "job" / "_state"))


def test_an_unreadable_or_foreign_ledger_means_a_full_run(spark, tmp_path: Path) -> None:
    state = S.IngestState(spark, str(tmp_path), "job")
    ledger = tmp_path / "job" / "_state" / "ledger.json"
    ledger.parent.mkdir(parents=True)
    ledger.write_text("{not json")
    assert state.read_ledger() is None
    ledger.write_text(json.dumps({"version": 99, "files": []}))
    assert state.read_ledger() is None
    # written under other validation rules: its stored rows must not be reused
    current = {"version": S.LEDGER_VERSION, "files": [], "dimensions": {}, "segments": []}
    current["runtime"] = {"spark": spark.version, "time_zone": "UTC"}
    ledger.write_text(json.dumps({**current, "rules": S.rules_version()}))
    assert state.read_ledger() is not None
    ledger.write_text(json.dumps({**current, "rules": "0" * 16}))
    assert state.read_ledger() is None
    # or under another Spark or session time zone: a left-out raw timestamp is formatted back
    # in the session's zone, so it would come back as other text
    for runtime in ({"spark": "3.5.1", "time_zone": "UTC"}, {"spark": spark.version}):
        ledger.write_text(json.dumps({**current, "rules": S.rules_version(), "runtime": runtime}))
        assert state.read_ledger() is None


def test_rules_version_follows_the_rule_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    from spark_ingest import contract, transforms, validate

    modules = (contract, validate, transforms)
    sources = [module.__loader__.get_source(module.__name__).encode() for module in modules]
    assert S.rules_version() == hashlib.sha256(b"".join(sources)).hexdigest()[:16]
    # a job's ledger also follows the job's own module
    from spark_ingest.jobs import user_transaction_analysis as uta

    job_source = uta.__loader__.get_source(uta.__name__).encode()
    expected = hashlib.sha256(b"".join([*sources, job_source])).hexdigest()[:16]
    assert S.rules_version("user_transaction_analysis") == expected
    assert expected != S.rules_version("vehicle_location_performance")


def _appendable_plan(**changes) -> S.Plan:
    dims = {"users": [["/raw/users/users.csv", 10, "sha256:aa"]]}
    plan = S.Plan(
        new=["/raw/r/2.csv"],
        unchanged=["/raw/r/1.csv"],
        dimensions=dims,
        previous_dimensions={name: [list(f) for f in files] for name, files in dims.items()},
        previous_segments=["run-1"],
    )
    for name, value in changes.items():
        setattr(plan, name, value)
    return plan


def test_append_blocker_names_what_forces_a_recheck() -> None:
    assert _appendable_plan().append_blocker() is None
    assert _appendable_plan(new=[]).append_blocker() is None
    assert _appendable_plan(previous_segments=None).append_blocker() == "no_previous_run"
    assert _appendable_plan(changed=["/raw/r/1.csv"]).append_blocker() == (
        "files_changed_or_removed"
    )
    assert _appendable_plan(removed=["/raw/r/0.csv"]).append_blocker() == (
        "files_changed_or_removed"
    )
    edited = {"users": [["/raw/users/users.csv", 10, "sha256:bb"]]}
    assert _appendable_plan(dimensions=edited).append_blocker() == "dimensions_changed"
    more = {"users": [["/raw/users/users.csv", 10, "sha256:aa"], ["/raw/users/b.csv", 1, "x"]]}
    assert _appendable_plan(dimensions=more).append_blocker() == "dimensions_changed"
    full = [f"run-{i}" for i in range(S.MAX_SEGMENTS)]
    assert _appendable_plan(previous_segments=full).append_blocker() == "compaction"
    assert _appendable_plan(previous_segments=full[:-1]).append_blocker() is None


def test_commit_keeps_only_the_listed_segments(spark, tmp_path: Path) -> None:
    state = S.IngestState(spark, str(tmp_path), "job")
    checked = tmp_path / "job" / "_state" / "rentals_checked"
    for name in ("run-1", "run-2", "failed-run"):
        (checked / f"segment={name}").mkdir(parents=True)
        (checked / f"segment={name}" / "part-0.parquet").write_bytes(b"x")
    plan = S.Plan(segments=["run-1", "run-2"])
    state.commit(plan, "run-2")
    assert sorted(p.name for p in checked.iterdir()) == ["segment=run-1", "segment=run-2"]
    ledger = state.read_ledger()
    assert ledger["segments"] == ["run-1", "run-2"]
    assert ledger["rules"] == S.rules_version()


def test_commit_keeps_only_the_listed_partials_and_dimension_snapshots(spark, tmp_path: Path):
    state = S.IngestState(spark, str(tmp_path), "job")
    root = tmp_path / "job" / "_state"
    for folder in ("partials/run=r1", "partials/run=r2", "dimensions/users/run=r1"):
        (root / folder).mkdir(parents=True)
    (root / "dimensions/users/run=r2").mkdir(parents=True)
    (root / "dimensions/vehicles/run=r1").mkdir(parents=True)
    plan = S.Plan(
        partials=["r2"],
        dimensions={"users": [], "vehicles": []},
        dimension_snapshots={"users": "r1", "vehicles": "r1"},
    )
    state.commit(plan, "r2")
    assert sorted(p.name for p in (root / "partials").iterdir()) == ["run=r2"]
    assert sorted(p.name for p in (root / "dimensions/users").iterdir()) == ["run=r1"]
    ledger = state.read_ledger()
    assert ledger["partials"] == ["r2"]
    assert ledger["dimension_snapshots"] == {"users": "r1", "vehicles": "r1"}


def test_a_dimension_snapshot_is_reused_only_for_the_same_files(spark, tmp_path: Path) -> None:
    state = S.IngestState(spark, str(tmp_path), "job")
    validated = spark.createDataFrame([("U1", None)], "user_id string, reason_code string")
    counts = {"rows_read": 1, "valid": 1, "rejected_by_reason": {}}
    first = S.Plan(run_id="r1", dimensions={"users": [["u.csv", 4, "sha256:aa"]]})
    assert state.unchanged_dimension(first, "users") is None  # no previous run
    state.store_dimension(validated, first, "users")
    first.dimension_counts["users"] = counts
    assert (first.dimension_snapshots, first.dimension_sources) == (
        {"users": "r1"},
        {"users": "validated"},
    )
    state.commit(first, "r1")
    ledger = state.read_ledger()
    assert ledger["dimension_counts"] == {"users": counts}

    def next_plan(checksum: str) -> S.Plan:
        plan = state.plan([], ledger, "r2")
        plan.dimensions = {"users": [["u.csv", 4, checksum]]}
        return plan

    same = next_plan("sha256:aa")
    assert state.unchanged_dimension(same, "users").collect() == validated.collect()
    assert (same.dimension_snapshots, same.dimension_sources, same.dimension_counts) == (
        {"users": "r1"},
        {"users": "snapshot"},
        {"users": counts},  # the stored rows are not counted again
    )
    assert state.unchanged_dimension(next_plan("sha256:bb"), "users") is None  # other bytes
    # a snapshot whose counts the ledger does not hold is validated again
    del ledger["dimension_counts"]["users"]
    uncounted = next_plan("sha256:aa")
    assert state.unchanged_dimension(uncounted, "users") is None
    assert uncounted.dimension_sources == {}
    ledger["dimension_counts"]["users"] = counts
    shutil.rmtree(state.dimension_uri("users", "r1"))
    assert state.unchanged_dimension(next_plan("sha256:aa"), "users") is None  # snapshot gone


def test_sum_counts_adds_rows_and_reasons() -> None:
    parts = [
        {"rows_read": 5, "valid": 3, "rejected_by_reason": {"ORPHAN_USER": 2}},
        {"rows_read": 4, "valid": 1, "rejected_by_reason": {"ORPHAN_USER": 1, "BAD_DATE": 2}},
        {"rows_read": 0, "valid": 0, "rejected_by_reason": {}, "valid_keys": None},
    ]
    assert S.sum_counts(parts) == {
        "rows_read": 9,
        "valid": 4,
        "rejected_by_reason": {"ORPHAN_USER": 3, "BAD_DATE": 2},
    }
    assert S.sum_counts([]) == {"rows_read": 0, "valid": 0, "rejected_by_reason": {}}


def _keys(low: str | None, high: str | None = None, valid: int = 1) -> dict:
    rows = {"rows_read": valid, "valid": valid, "rejected_by_reason": {}}
    return {**rows, "valid_keys": None if low is None else [low, high or low]}


@pytest.mark.parametrize(
    ("new", "stored", "disjoint"),
    [
        (_keys("R20240105-1", "R20240105-9"), [_keys("R20240101-1", "R20240104-9")], True),
        (_keys("R20231231-1", "R20231231-9"), [_keys("R20240101-1", "R20240104-9")], True),
        # in the gap between two segments
        (_keys("C", "D"), [_keys("A", "B"), _keys("E", "F")], True),
        # inside a segment's range, though no stored key may be equal: the keys are joined
        (_keys("B"), [_keys("A", "C")], False),
        # a shared end
        (_keys("C", "E"), [_keys("A", "C")], False),
        (_keys("A", "A"), [_keys("A", "C")], False),
        # spanning two segments and the gap between them
        (_keys("B", "E"), [_keys("A", "C"), _keys("D", "F")], False),
        # no valid new row: nothing to share; a stored segment without valid rows: nothing held
        (_keys(None, valid=0), [_keys("A", "C")], True),
        (_keys("B"), [_keys(None, valid=0)], True),
        # a range that was not recorded: joined
        ({"rows_read": 1, "valid": 1, "rejected_by_reason": {}}, [_keys("A")], False),
        (_keys("B"), [{"rows_read": 1, "valid": 1, "rejected_by_reason": {}}], False),
        (_keys("B"), [], True),
    ],
)
def test_key_ranges_disjoint(new: dict, stored: list[dict], disjoint: bool) -> None:
    assert S.key_ranges_disjoint(new, stored) is disjoint


def test_key_ranges_compare_as_spark_orders_strings(spark) -> None:
    """Python's order of the keys (code points) is Spark's (UTF-8 bytes), also where UTF-16's
    order (Java's String.compareTo) differs: a character above U+FFFF against one just below."""
    keys = ["\uffff", "\U0001f600", "a", "Z", "é", "R20240101-1", "R2024010-1"]
    frame = spark.createDataFrame([(k,) for k in keys], "k string")
    assert [row["k"] for row in frame.orderBy("k").collect()] == sorted(keys)
    low, high = frame.selectExpr("min(k) as low", "max(k) as high").first()
    assert (low, high) == (min(keys), max(keys)) == ("R2024010-1", "\U0001f600")
    assert S.key_ranges_disjoint(_keys("\U0001f600"), [_keys("a", "\uffff")])


def test_object_store_branch_hashes_the_bytes_in_the_jvm_without_a_checksum(
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What runs on S3: Hadoop FileSystem calls only (here against the local file system,
    which, like EMRFS, has no checksum, so the driver's JVM hashes the bytes). A file put
    again with the same bytes, which gives an object a new modification time, keeps its
    checksum; other bytes of the same size do not."""
    monkeypatch.setattr(S, "is_local", lambda uri: False)
    path = _file(tmp_path / "raw" / "a.csv", "h\na\n")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    expected = "sha256:" + hashlib.sha256(b"h\na\n").hexdigest()
    assert S.fingerprint(spark, path) == (4, expected)
    os.utime(path, (1_700_000_100, 1_700_000_100))
    assert S.fingerprint(spark, path) == (4, expected)
    Path(path).write_text("h\nb\n")
    assert S.fingerprint(spark, path) == (4, "sha256:" + hashlib.sha256(b"h\nb\n").hexdigest())
    big = tmp_path / "raw" / "big.csv"  # more than one read of the JVM's stream
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    assert (
        S.fingerprint(spark, str(big))[1]
        == "sha256:" + hashlib.sha256(big.read_bytes()).hexdigest()
    )
    Path(path).write_text("h\na\n")
    os.utime(path, (1_700_000_000, 1_700_000_000))

    state = S.IngestState(spark, str(tmp_path / "processed"), "job")
    plan = state.plan([path], None, "run-1")
    state.commit(plan, "run-1")
    state.commit(plan, "run-1")  # over an existing ledger
    assert state.read_ledger()["files"] == [plan.entries[path]]
    leftovers = [
        p.name for p in (tmp_path / "processed/job/_state").iterdir() if p.suffix != ".crc"
    ]
    assert leftovers == ["ledger.json"]


def test_an_object_is_hashed_again_only_when_its_size_or_modification_time_moved(
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an object store a run reuses the ledger's checksum of a file whose size and
    modification time are the recorded ones (an upload always sets a new time), unless it
    was hashed within RACY_NS of that time; it fingerprints every other file."""
    monkeypatch.setattr(S, "is_local", lambda uri: False)
    a, b, c = (_file(tmp_path / "raw" / f"{n}.csv", f"h\n{n}\n") for n in "abc")
    for uri in (a, b, c):
        os.utime(uri, (1_700_000_000, 1_700_000_000))
    state = S.IngestState(spark, str(tmp_path / "processed"), "job")
    read = _record_fingerprints(monkeypatch)

    first = state.plan([a, b, c], None, "run-1")
    assert read == first.hashed == [a, b, c]
    assert first.entries[a]["stat"] == {"size": 4, "mtime_ns": 1_700_000_000 * 10**9}
    for uri in (a, b, c):
        Path(state.parsed_uri(uri)).mkdir(parents=True)
    state.commit(first, "run-1")
    ledger = state.read_ledger()

    os.utime(b, (1_700_000_100, 1_700_000_100))  # put again, same bytes
    Path(c).write_text("h\nC\n")  # put again, other bytes of the same size
    os.utime(c, (1_700_000_100, 1_700_000_100))
    read.clear()
    second = state.plan([a, b, c], ledger, "run-2")
    assert read == second.hashed == [b, c]
    assert (second.unchanged, second.changed) == ([a, b], [c])
    assert second.entries[b]["stat"]["mtime_ns"] == 1_700_000_100 * 10**9
    assert second.entries[c]["checksum"] == "sha256:" + hashlib.sha256(b"h\nC\n").hexdigest()

    # hashed within RACY_NS of its modification time: hashed again
    recorded = {entry["path"]: entry for entry in ledger["files"]}
    recorded[a]["hashed_at_ns"] = recorded[a]["stat"]["mtime_ns"] + S.RACY_NS // 2
    read.clear()
    assert state.plan([a], ledger, "run-3").unchanged == [a]
    assert read == [a]


class ObjectStore:
    """Hadoop's FileSystem of an object store as the driver sees it: a file's length and,
    when given, the file system's checksum of it. Reading the bytes fails the test."""

    def __init__(self, size: int, checksum=None) -> None:
        self.size, self.checksum = size, checksum

    def getFileStatus(self, path):
        return type("Status", (), {"getLen": lambda _self: self.size})()

    def getFileChecksum(self, path):
        return self.checksum

    def open(self, path):
        raise AssertionError("the bytes of a file with a checksum were read")


def test_object_store_branch_takes_the_file_systems_checksum_when_it_has_one(
    spark, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3A with ``fs.s3a.etag.checksum.enabled`` returns the ETag as the file's checksum: it
    is recorded as it is and the bytes are not read."""

    class Checksum:
        def getAlgorithmName(self) -> str:
            return "etag"

        def getBytes(self) -> bytes:
            return b"\x9a\x0b"

    monkeypatch.setattr(S, "is_local", lambda uri: False)
    monkeypatch.setattr(S, "_fs_and_path", lambda spark, uri: (ObjectStore(42, Checksum()), uri))
    assert S.fingerprint(spark, "s3://bucket/raw/a.csv") == (42, "etag:9a0b")


BUCKET = "carrental-raw-test"


@pytest.fixture
def s3(aws_credentials, monkeypatch: pytest.MonkeyPatch):
    """A moto S3 with one bucket, seen by the driver through an object store file system
    without a checksum of its own (EMRFS); the driver's S3 client is made inside the mock."""
    import boto3
    from moto import mock_aws

    sizes: dict[str, int] = {}
    monkeypatch.setattr(S, "_fs_and_path", lambda spark, uri: (ObjectStore(sizes[uri]), uri))
    S._s3_client.cache_clear()
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )

        def put(key: str, body: bytes, **options) -> str:
            client.put_object(Bucket=BUCKET, Key=key, Body=body, **options)
            uri = f"s3://{BUCKET}/{quote(key)}"
            sizes[uri] = sizes[uri.replace("s3://", "s3a://", 1)] = len(body)
            return uri

        yield client, put, sizes
    S._s3_client.cache_clear()


def test_an_s3_object_is_fingerprinted_by_the_checksum_s3_keeps_without_reading_it(
    spark, s3
) -> None:
    """Without a file system checksum (EMRFS), an S3 object's fingerprint is what S3 keeps
    for it, from one HeadObject call: its additional checksum (a SHA-256 the same text as a
    local file's hash) or else its ETag (the MD5 of the bytes; for a multipart upload the MD5
    of the parts' MD5s). Expected values are computed here from the bytes."""
    client, put, sizes = s3
    body = b"rental_id\nR1\n"
    plain = put("raw/rentals_2024-05-01.csv", body)
    assert S.fingerprint(spark, plain) == (len(body), "etag:" + hashlib.md5(body).hexdigest())
    assert S.fingerprint(spark, plain.replace("s3://", "s3a://", 1))[1].startswith("etag:")
    put("raw/rentals_2024-05-01.csv", body)  # delivered again, same bytes
    assert S.fingerprint(spark, plain)[1] == "etag:" + hashlib.md5(body).hexdigest()
    put("raw/rentals_2024-05-01.csv", body.replace(b"R1", b"R2"))  # same size, other bytes
    assert S.fingerprint(spark, plain)[1] != "etag:" + hashlib.md5(body).hexdigest()

    spaced = put("raw/day 2.csv", body, ChecksumAlgorithm="SHA256")
    assert S.fingerprint(spark, spaced) == (len(body), "sha256:" + hashlib.sha256(body).hexdigest())
    crc = put("raw/crc.csv", body, ChecksumAlgorithm="CRC32")
    assert S.fingerprint(spark, crc)[1] == f"crc32:{zlib.crc32(body):08x}"

    parts = [os.urandom(5 * 1024 * 1024), b"last part"]  # S3's smallest part, then the rest
    upload = client.create_multipart_upload(Bucket=BUCKET, Key="raw/big.csv")
    etags = [
        client.upload_part(
            Bucket=BUCKET, Key="raw/big.csv", UploadId=upload["UploadId"], PartNumber=n, Body=part
        )["ETag"]
        for n, part in enumerate(parts, start=1)
    ]
    client.complete_multipart_upload(
        Bucket=BUCKET,
        Key="raw/big.csv",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n} for n, e in enumerate(etags, 1)]},
    )
    big = f"s3://{BUCKET}/raw/big.csv"
    sizes[big] = sum(map(len, parts))
    of_parts = hashlib.md5(b"".join(hashlib.md5(part).digest() for part in parts)).hexdigest()
    assert S.fingerprint(spark, big) == (sizes[big], f"etag:{of_parts}-2")


def test_an_s3_object_without_a_digest_of_its_bytes_is_hashed(
    spark, s3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver hashes the bytes (:func:`state.jvm_sha256`) when S3 keeps no digest of them:
    an SSE-KMS object without an additional checksum (its ETag is not the MD5 of the bytes),
    an object S3 will not describe (logged), or a driver without boto3 (logged once)."""
    _, put, _ = s3
    hashed: list[str] = []
    logged: list[tuple[str, dict]] = []
    monkeypatch.setattr(S, "jvm_sha256", lambda spark, fs, path: hashed.append(path) or "ab12")
    monkeypatch.setattr(S, "log", lambda level, event, **fields: logged.append((event, fields)))

    kms = put("raw/kms.csv", b"h\na\n", ServerSideEncryption="aws:kms")
    assert S.fingerprint(spark, kms) == (4, "sha256:ab12")
    kms_sha = put(
        "raw/kms_sha.csv", b"h\na\n", ServerSideEncryption="aws:kms", ChecksumAlgorithm="SHA256"
    )
    assert S.fingerprint(spark, kms_sha)[1] == "sha256:" + hashlib.sha256(b"h\na\n").hexdigest()
    assert (hashed, logged) == ([kms], [])

    gone = f"s3://{BUCKET}/raw/deleted.csv"
    s3[2][gone] = 4
    assert S.fingerprint(spark, gone) == (4, "sha256:ab12")
    assert [event for event, _ in logged] == ["s3_checksum_unavailable"]
    assert logged[0][1]["file"] == gone and "404" in logged[0][1]["error"]

    plain, other = (put(f"raw/{name}.csv", b"h\nb\n") for name in ("plain", "other"))
    S._s3_client.cache_clear()
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 raises ImportError
    assert S.fingerprint(spark, plain) == S.fingerprint(spark, other) == (4, "sha256:ab12")
    assert logged[1:] == [("s3_checksum_unavailable", {"error": "boto3 not installed"})]
    assert hashed == [kms, gone, plain, other]
