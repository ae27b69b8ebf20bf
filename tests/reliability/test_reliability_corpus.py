"""Hostile-input corpus against the real Spark jobs.

Row-level cases share ONE lake (each case in its own ``case_<name>*`` files) and both jobs run
once over it; every case is then asserted on its own from the quarantine Parquet (by source
file), ``rentals_fact`` (by rental id prefix) and the manifests. File-level cases get one lake
each: most are checked in-process with the jobs' own file check (``check_dataset_files``,
which raises ``InputFileError``), three end to end through ``spark-submit`` (exit 3, message,
nothing under ``data/`` touched). Expected values come from the corpus table, written by hand.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.corpus.make_corpus import (
    CASES,
    FILE_CASES,
    RENTALS,
    ROW_CASES,
    Case,
    all_pii,
    base_rows_in,
    case_files,
    write_file_level_lake,
    write_row_level_lake,
)
from tests.reliability import rel_support as S

DATASETS = ("vehicles", "locations", "users", RENTALS)
E2E_FILE_CASES = ("missing_column_header", "semicolon_delimiter", "missing_dataset")
MAX_ATTEMPTS = 4


def _outcome(case: Case) -> str:
    if case.level == "file":
        return "stopped"
    return "quarantined" if any(e.rejected for e in case.expect.values()) else "accepted"


def _param(case: Case):
    marks = [pytest.mark.reliability(kind="hostile", outcome=_outcome(case))]
    if case.level == "file" and case.name in E2E_FILE_CASES:
        marks.append(pytest.mark.slow)
    return pytest.param(case.name, marks=marks, id=case.name)


# --------------------------------------------------------------------------- row-level lake


@dataclass
class CorpusRun:
    lake: Path
    run_id: str
    cases: list[Case]
    excluded: dict[str, str] = field(default_factory=dict)  # case -> why it was taken out
    procs: dict = field(default_factory=dict)
    manifests: dict = field(default_factory=dict)
    fact: list[dict] = field(default_factory=list)
    quarantine: dict[str, list[dict]] = field(default_factory=dict)


def _blamed_case(text: str, cases: list[Case]) -> Case | None:
    for case in cases:
        for names in case_files(case).values():
            if any(name in text for name in names):
                return case
    return None


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory) -> CorpusRun:
    S.submit_module()
    lake = tmp_path_factory.mktemp("corpus") / "lake"
    cases = write_row_level_lake(lake)
    excluded: dict[str, str] = {}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        run_id = f"corpus-{attempt}"
        procs = {job: S.run_job(job, lake, run_id) for job in (S.JOB, S.OTHER_JOB)}
        stopped = [p for p in procs.values() if p.returncode == 3]
        blamed = _blamed_case(stopped[0].stderr, cases) if stopped else None
        if blamed is None:
            break
        # a row-level case stopped the whole run: take it out so the others are still tested
        excluded[blamed.name] = stopped[0].stderr[-1500:]
        cases = [c for c in cases if c is not blamed]
        for dataset, names in case_files(blamed).items():
            for name in names:
                (lake / "data" / "raw" / dataset / name).unlink(missing_ok=True)
    run = CorpusRun(lake, run_id, cases, excluded, procs)
    for job in (S.JOB, S.OTHER_JOB):
        run.manifests[job] = S.manifest(lake, run_id, job)
    if procs[S.JOB].returncode == 0:
        run.fact = S.read_table(lake, S.JOB, "rentals_fact")
    run.quarantine = {ds: S.read_quarantine(lake, ds, S.JOB, run_id) for ds in DATASETS}
    return run


def _require_success(run: CorpusRun, job: str = S.JOB) -> None:
    proc = run.procs[job]
    assert proc.returncode == 0, f"{job} failed on the row-level corpus:\n{S.tail(proc)}"


def _basename(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


@pytest.mark.slow
@pytest.mark.parametrize("name", [_param(c) for c in ROW_CASES])
def test_row_level_case(name, corpus_run, record_property):
    case = CASES[name]
    if name in corpus_run.excluded:
        pytest.fail(
            f"row-level case {name!r} stopped the whole run (exit 3) instead of being handled "
            f"row by row:\n{corpus_run.excluded[name]}"
        )
    _require_success(corpus_run)
    files = case_files(case)
    lost = 0
    problems = []
    for dataset, expect in case.expect.items():
        rows = [
            r
            for r in corpus_run.quarantine[dataset]
            if _basename(r["source_file"]) in files.get(dataset, set())
        ]
        got = dict(Counter(r["reason_code"] for r in rows))
        if got != expect.rejected:
            details = sorted(
                {(r["reason_code"], (r.get("reason_detail") or "")[:120]) for r in rows}
            )
            problems.append(
                f"{dataset}: rejected by reason {got}, expected {expect.rejected}; details {details}"
            )
        for r in rows:
            assert r["reason_code"] in r["reason_codes"], r
            assert r["raw_record"], f"{dataset}: quarantined row without raw_record: {r}"
            assert r["dataset"] == dataset and r["run_id"] == corpus_run.run_id
        if dataset == RENTALS:
            valid = sum(1 for r in corpus_run.fact if r["rental_id"].startswith(f"{name}-"))
            if valid != expect.valid:
                problems.append(
                    f"{dataset}: {valid} valid rows in rentals_fact, expected {expect.valid}"
                )
            lost += expect.rows_in - valid - len(rows)
    for rental_id, checks in case.fact_checks.items():
        found = [r for r in corpus_run.fact if r["rental_id"] == rental_id]
        if len(found) != 1:
            problems.append(f"rentals_fact holds {len(found)} rows for {rental_id!r}, expected 1")
            continue
        for column, expected in checks.items():
            actual = found[0][column]
            ok = (
                math.isclose(actual, expected, abs_tol=1e-9)
                if isinstance(expected, float) and actual is not None
                else actual == expected
            )
            if not ok:
                problems.append(f"{rental_id!r}.{column} = {actual!r}, expected {expected!r}")
    record_property("rows_lost", max(lost, 0))
    assert not problems, f"case {name!r} ({case.description}):\n" + "\n".join(problems)
    assert lost == 0, f"case {name!r}: {lost} rental rows neither valid nor quarantined"


def _expected_totals(cases: list[Case]) -> dict[str, dict]:
    totals = {
        ds: {"rows_in": n, "valid": n, "rejected": Counter()} for ds, n in base_rows_in().items()
    }
    for case in cases:
        for ds, expect in case.expect.items():
            totals[ds]["rows_in"] += expect.rows_in
            totals[ds]["valid"] += expect.valid
            totals[ds]["rejected"].update(expect.rejected)
    return totals


@pytest.mark.slow
@pytest.mark.reliability(kind="hostile", outcome="quarantined")
def test_row_level_totals_reconcile(corpus_run, record_property):
    """Rows in = valid + rejected for every dataset, in both manifests, and nothing is lost."""
    _require_success(corpus_run)
    _require_success(corpus_run, S.OTHER_JOB)
    expected = _expected_totals(corpus_run.cases)
    lost = 0
    for job, data in corpus_run.manifests.items():
        assert data is not None, f"no manifest for {job}"
        assert data["status"] == "SUCCEEDED" and data["reconciled"] is True
        for ds in DATASETS:
            got, exp = data["inputs"][ds], expected[ds]
            assert got["rows_read"] == got["valid"] + got["rejected"], (job, ds, got)
            assert (got["rows_read"], got["valid"]) == (exp["rows_in"], exp["valid"]), (
                job,
                ds,
                got,
            )
            assert got["rejected_by_reason"] == dict(exp["rejected"]), (job, ds)
    for ds in DATASETS:
        quarantined = len(corpus_run.quarantine[ds])
        valid = (
            len(corpus_run.fact)
            if ds == RENTALS
            else corpus_run.manifests[S.JOB]["inputs"][ds]["valid"]
        )
        lost += expected[ds]["rows_in"] - valid - quarantined
        assert quarantined == sum(expected[ds]["rejected"].values()), ds
    record_property("rows_lost", lost)
    assert lost == 0
    ids = [r["rental_id"] for r in corpus_run.fact]
    assert len(ids) == len(set(ids)) == expected[RENTALS]["valid"], "fact fan-out or loss"
    # both jobs saw exactly the same valid rentals (revenue identity across the two jobs)
    stats = S.read_table(corpus_run.lake, S.OTHER_JOB, "overall_transaction_statistics")
    assert stats[0]["overall_total_transactions"] == len(ids)
    assert stats[0]["overall_total_revenue"] == sum(r["total_amount"] for r in corpus_run.fact)


@pytest.mark.slow
@pytest.mark.reliability(kind="check")
def test_unicode_names_survive_in_user_summary(corpus_run):
    _require_success(corpus_run, S.OTHER_JOB)
    rows = S.read_table(corpus_run.lake, S.OTHER_JOB, "user_transaction_summary")
    names = {r["user_id"]: (r["first_name"], r["last_name"]) for r in rows}
    if "unicode_names" in corpus_run.excluded:
        pytest.fail("unicode_names was taken out of the corpus run")
    assert names["U_UNI2"] == ("李", "小龍")
    assert names["U_UNI3"] == ("🚗 Ñandú", "Ångström")
    assert names["U_DUP"][0] == "Second", "duplicate user key: the greater file name must win"


@pytest.mark.slow
@pytest.mark.reliability(kind="security")
def test_no_pii_in_job_logs(corpus_run):
    """The generated emails, phones and licence numbers appear in no log line of the run."""
    logs = sorted((corpus_run.lake / "runs" / corpus_run.run_id / "logs").glob("*.log"))
    assert logs, "submit_job wrote no runs/<run_id>/logs/*.log"
    texts = {str(p): p.read_text(errors="replace") for p in logs}
    for job, proc in corpus_run.procs.items():
        texts[f"{job} stderr"] = proc.stderr or ""
        texts[f"{job} stdout"] = proc.stdout or ""
    raw = "".join(
        p.read_text(errors="replace") for p in (corpus_run.lake / "data/raw/users").glob("*.csv")
    )
    pii = all_pii()
    assert all(value in raw for value in pii[:3]), "the corpus must really contain the PII"
    leaks = [(where, value) for where, text in texts.items() for value in pii if value in text]
    assert not leaks, f"PII found in logs: {leaks[:10]}"


# --------------------------------------------------------------------------- file-level cases


def _fragments_ok(case: Case, message: str) -> list[str]:
    low = message.lower()
    missing = []
    for needed in (case.dataset, case.bad_file):
        if needed.lower() not in low:
            missing.append(needed)
    for alternatives in case.fragments:
        if not any(a.lower() in low for a in alternatives):
            missing.append(" | ".join(alternatives))
    return missing


def _check_in_process(spark, lake: Path) -> Exception | None:
    from spark_ingest import contract
    from spark_ingest.errors import InputFileError
    from spark_ingest.io import check_dataset_files

    try:
        for ds in DATASETS:
            check_dataset_files(spark, contract.CONTRACT[ds], str(lake / "data" / "raw" / ds))
    except InputFileError as exc:
        return exc
    return None


@pytest.mark.parametrize("name", [_param(c) for c in FILE_CASES])
def test_file_level_case(name, tmp_path, request, record_property):
    case = CASES[name]
    submit = S.submit_module()
    lake = tmp_path / "lake"
    write_file_level_lake(lake, name)
    record_property("rows_lost", 0)
    if name not in E2E_FILE_CASES:
        spark = request.getfixturevalue("spark")
        exc = _check_in_process(spark, lake)
        assert exc is not None, f"{name}: the file check accepted the lake ({case.description})"
        missing = _fragments_ok(case, str(exc))
        assert not missing, f"{name}: message {str(exc)!r} does not name {missing}"
        return
    before = S.tree_snapshot(lake / "data")
    proc = submit.submit_job(S.JOB, lake, "filelevel-1")
    assert proc.returncode == 3, f"{name}: expected exit 3\n{S.tail(proc)}"
    message = (proc.stderr or "") + (proc.stdout or "")
    missing = _fragments_ok(case, message)
    assert not missing, f"{name}: output does not name {missing}\n{S.tail(proc)}"
    assert S.tree_snapshot(lake / "data") == before, f"{name}: data/ was touched"
    data = S.manifest(lake, "filelevel-1", S.JOB)
    if data is not None:
        assert data["status"] == "FAILED"
        assert data["error"]["dataset"] == case.dataset


@pytest.mark.reliability(kind="check")
def test_corpus_generator_is_deterministic(tmp_path):
    """Two writes of the corpus give the same bytes (so failures reproduce)."""
    write_row_level_lake(tmp_path / "a")
    write_row_level_lake(tmp_path / "b")
    assert S.tree_snapshot(tmp_path / "a") == S.tree_snapshot(tmp_path / "b")
    shutil.rmtree(tmp_path / "a")
    shutil.rmtree(tmp_path / "b")


@pytest.mark.reliability(kind="check")
def test_cases_table_is_complete():
    """Every case declares one outcome; row cases name only documented reason codes."""
    from spark_ingest.contract import REASON_CODES

    for case in CASES.values():
        assert case.level in ("row", "file"), case.name
        if case.level == "row":
            assert case.expect and not case.fragments, case.name
            for expect in case.expect.values():
                assert set(expect.rejected) <= set(REASON_CODES), case.name
                assert expect.valid + sum(expect.rejected.values()) == expect.rows_in, case.name
        else:
            assert case.dataset and case.bad_file and case.fragments and not case.expect, case.name
    assert re.fullmatch(r"[a-z0-9_]+", "".join(CASES)), "case names become file names"
    assert os.sep not in "".join(CASES)
    readme = (Path(__file__).resolve().parents[1] / "corpus" / "README.md").read_text()
    undocumented = [name for name in CASES if f"| `{name}` |" not in readme]
    assert not undocumented, f"tests/corpus/README.md lacks {undocumented}"
