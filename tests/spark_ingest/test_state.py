"""The ingest ledger: fingerprints, the new/changed/unchanged/removed plan, commit + read."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from spark_ingest import state as S


def _file(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


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
    second = state.plan([b, c, d], ledger, "run-2")
    assert (second.new, second.changed, second.unchanged, second.removed) == ([d], [c], [b], [a])
    assert second.to_parse == [c, d]
    assert second.entries[b]["run_id"] == "run-1"  # skipped: still credited to its first run
    assert second.entries[c]["run_id"] == "run-2"
    assert second.summary() == {"new": 1, "changed": 1, "unchanged": 1, "removed": 1}


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


def test_object_store_branch_uses_the_file_system_checksum_or_mtime(
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What runs on S3: Hadoop FileSystem calls only (here against the local file system,
    whose getFileChecksum is null, so the modification time stands in)."""
    monkeypatch.setattr(S, "is_local", lambda uri: False)
    path = _file(tmp_path / "raw" / "a.csv", "h\na\n")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    assert S.fingerprint(spark, path) == (4, "mtime:1700000000000")
    os.utime(path, (1_700_000_100, 1_700_000_100))
    assert S.fingerprint(spark, path) == (4, "mtime:1700000100000")

    state = S.IngestState(spark, str(tmp_path / "processed"), "job")
    plan = state.plan([path], None, "run-1")
    state.commit(plan, "run-1")
    state.commit(plan, "run-1")  # over an existing ledger
    assert state.read_ledger()["files"] == [plan.entries[path]]
    leftovers = [
        p.name for p in (tmp_path / "processed/job/_state").iterdir() if p.suffix != ".crc"
    ]
    assert leftovers == ["ledger.json"]
