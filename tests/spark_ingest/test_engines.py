"""``--engine duckdb`` (the same job code on DuckDB through sqlframe) against ``--engine spark``.

Each lake is copied; Spark runs both jobs in the test session, the DuckDB engine runs them
as the CLI does (``submit_job(..., engine="duckdb")``: ``python -m spark_ingest.duckdb_engine``,
no JVM). Every output table and every quarantine must be equal row for row (counts, sums and
text exactly, averages to 1e-9 relative), with the same column types as Spark reads them.
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from lake_compare import assert_same_outputs, run_both
from spark_tiny_lake import EXPECTED_COUNTS, write_tiny_lake

from carrental.generate import DimensionSizes, generate
from spark_ingest.duckdb_engine import GC_THRESHOLDS, MEMORY_LIMIT_ENV, SPILL_PREFIX
from spark_ingest.jobs import user_transaction_analysis as uta
from spark_ingest.layout import JOB_TABLES, JOBS
from spark_ingest.local_driver import LocalDriver
from spark_ingest.pipeline import EXIT_OK, run_job
from spark_ingest.submit import build_command, job_args, submit_job

pytestmark = pytest.mark.slow
RUN_ID = "engines-1"
INFER_NTZ = "spark.sql.parquet.inferTimestampNTZ.enabled"


def generated_lake(lake: Path) -> Path:
    """Dirty rentals over 3 daily files (every reason code; one file gzipped) and dirty
    dimensions."""
    sizes = DimensionSizes(vehicles=60, locations=15, users=120)
    generate(lake, 3000, seed=11, dirty_fraction=0.06, days=3, split="daily", sizes=sizes)
    first = sorted((lake / "data/raw/rental_transactions").glob("*.csv"))[0]
    first.with_name(first.name + ".gz").write_bytes(gzip.compress(first.read_bytes()))
    first.unlink()
    return lake


LAKES = {"tiny": write_tiny_lake, "generated": generated_lake}


def run_duckdb_engine(
    lake: Path, run_id: str, mode: str = "full", driver: LocalDriver | None = None
) -> dict[str, dict]:
    """Each job in its own process, or all in ``driver``, as a pipeline run runs them."""
    manifests = {}
    for job in JOBS:
        proc = submit_job(job, lake, run_id, mode=mode, engine="duckdb", timeout=600, driver=driver)
        assert proc.returncode == 0, proc.stderr[-3000:]
        path = lake / "runs" / run_id / "manifests" / f"{job}.json"
        manifests[job] = json.loads(path.read_text())
    return manifests


def duckdb_types(table: Path) -> list[tuple[str, str]]:
    pattern = table / "**" / "*.parquet"
    with duckdb.connect() as con:
        query = f"describe select * from read_parquet('{pattern}', hive_partitioning = true)"
        return [(row[0], row[1]) for row in con.execute(query).fetchall()]


def counts(manifest: dict) -> dict:
    """The manifest's input counts, with each file named from ``data/raw/`` on."""
    return {
        dataset: {**info, "files": [f.split("/data/raw/", 1)[1] for f in info["files"]]}
        for dataset, info in manifest["inputs"].items()
    }


@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", sorted(LAKES))
def test_duckdb_engine_equals_spark(spark, tmp_path: Path, kind: str) -> None:
    spark_lake = LAKES[kind](tmp_path / "spark")
    duckdb_lake = tmp_path / "duckdb"
    shutil.copytree(spark_lake / "data" / "raw", duckdb_lake / "data" / "raw")

    on_spark = run_both(spark, spark_lake, RUN_ID, "full")
    # the tiny lake's jobs each in a process of their own; the generated lake's in one driver
    driver_tmp = tmp_path / "driver-tmp"
    driver_tmp.mkdir()
    with LocalDriver("duckdb", env={"TMPDIR": str(driver_tmp)}) as driver:
        on_duckdb = run_duckdb_engine(
            duckdb_lake, RUN_ID, driver=driver if kind != "tiny" else None
        )
        process = driver._proc
        # the running driver's DuckDB spills to a folder of its own, made in its TMPDIR
        made = [path.name for path in driver_tmp.iterdir()]
        assert [name.startswith(SPILL_PREFIX) for name in made] == [kind != "tiny"] * len(made)
        assert len(made) == (kind != "tiny")
    if kind != "tiny":
        # the driver ends without the interpreter's teardown, but after its exit handlers:
        # a clean exit, and the DuckDB spill folder it made in its TMPDIR removed
        assert process is not None and process.returncode == 0
    assert list(driver_tmp.iterdir()) == []
    logs = [(duckdb_lake / "runs" / RUN_ID / "logs" / f"{job}.log").read_text() for job in JOBS]
    shared = [log.startswith("$ <local duckdb driver, pid ") for log in logs]
    assert shared == [kind != "tiny"] * len(JOBS)

    # DuckDB writes wall-clock timestamps, as plain TIMESTAMP (Spark writes INT96): Spark 4
    # reads those as timestamp_ntz unless told to infer no NTZ types
    spark.conf.set(INFER_NTZ, "false")
    try:
        assert_same_outputs(spark, duckdb_lake, spark_lake, RUN_ID, same_schema=True)
    finally:
        spark.conf.unset(INFER_NTZ)
    # and the same column types for DuckDB (the local crawler and dbt read them with it)
    for job in JOBS:
        for table in JOB_TABLES[job]:
            folder = Path("data/processed") / job / table
            assert duckdb_types(duckdb_lake / folder) == duckdb_types(spark_lake / folder), table
    for job, manifest in on_duckdb.items():
        assert manifest["engine"] == "duckdb" and manifest["reconciled"] is True
        assert counts(manifest) == counts(on_spark[job])
        outputs = {t: o["rows"] for t, o in manifest["outputs"].items()}
        assert outputs == {t: o["rows"] for t, o in on_spark[job]["outputs"].items()}
    if kind == "tiny":  # the hand-worked counts, independently of the Spark run
        inputs = on_duckdb["vehicle_location_performance"]["inputs"]
        for dataset, (rows_read, valid, by_reason) in EXPECTED_COUNTS.items():
            got = inputs[dataset]
            assert (got["rows_read"], got["valid"], got["rejected_by_reason"]) == (
                rows_read,
                valid,
                by_reason,
            )


def test_duckdb_engine_runs_full_and_forgets_the_spark_state(spark, tmp_path: Path) -> None:
    """It keeps no incremental state: ``--mode incremental`` runs full, and the Spark ledger
    (which would no longer describe the published tables) is removed, so the next Spark
    incremental run starts over with a full run."""
    job = uta.JOB
    lake = write_tiny_lake(tmp_path / "lake")

    def on_spark(run_id: str) -> dict:
        args = job_args(lake, run_id, "incremental")
        assert run_job(job, uta.compute, args, session=spark, partials=uta.PARTIALS) == EXIT_OK
        return json.loads((lake / "runs" / run_id / "manifests" / f"{job}.json").read_text())

    assert on_spark("spark-1")["mode"] == "full"  # the first run
    ledger = lake / "data/processed" / job / "_state/ledger.json"
    assert ledger.is_file()
    proc = submit_job(job, lake, "duckdb-1", mode="incremental", engine="duckdb", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((lake / "runs/duckdb-1/manifests" / f"{job}.json").read_text())
    assert (manifest["engine"], manifest["mode"]) == ("duckdb", "full")
    assert not ledger.exists()
    assert on_spark("spark-2")["mode"] == "full"
    assert ledger.is_file()


def test_duckdb_engine_command_needs_no_spark_submit(tmp_path: Path) -> None:
    cmd = build_command("user_transaction_analysis", tmp_path, "r-1", engine="duckdb")
    assert cmd[1:4] == ["-m", "spark_ingest.duckdb_engine", "user_transaction_analysis"]
    assert cmd[cmd.index("--engine") + 1] == "duckdb"
    assert not any("spark-submit" in part for part in cmd)


def test_duckdb_engine_names_the_bad_file(tmp_path: Path) -> None:
    """A file-level error is the same InputFileError (exit 3) on this engine."""
    lake = write_tiny_lake(tmp_path / "lake")
    bad = lake / "data/raw/users/users.csv"
    bad.write_text(bad.read_text().replace("first_name", "given_name", 1))
    proc = submit_job("user_transaction_analysis", lake, "bad-1", engine="duckdb", timeout=600)
    assert proc.returncode == 3
    manifest = json.loads(
        (lake / "runs/bad-1/manifests/user_transaction_analysis.json").read_text()
    )
    assert manifest["error"]["file"].endswith("users/users.csv")
    assert manifest["error"]["column"] == "first_name"


def run_engine_script(script: str, *args: str) -> dict:
    """Run ``script`` in a fresh Python (sqlframe must be activated before the job code is
    imported) with a 1 GB DuckDB buffer pool; the JSON of its last stdout line."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, MEMORY_LIMIT_ENV: "1GB"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


ENGINE_SCRIPT = """
import json, sys
from spark_ingest import duckdb_engine
duckdb_engine.activate()
from spark_ingest import contract as C
from spark_ingest.io import read_raw
from spark_ingest.validate import parse_column
spark = duckdb_engine.duckdb_session()
conn = spark._conn
cases, csv_uri = json.loads(sys.argv[1]), sys.argv[2]
def objects():
    return sorted(r[0] for r in conn.execute(
        "select table_name from duckdb_tables() union all select view_name from duckdb_views() "
        "where not internal").fetchall())
df = spark.createDataFrame([(i, v) for i, v in enumerate(cases)], "i int, user_id string")
stripped = duckdb_engine.cache(df.select("i", parse_column("user_id", C.STRING).alias("v")))
raw = read_raw(spark, C.USERS, [csv_uri])
held = objects()
got = [row["v"] for row in sorted(stripped.collect(), key=lambda row: row["i"])]
raw_rows = raw.count()
duckdb_engine.uncache(stripped)
duckdb_engine.uncache(raw)
settings = dict(conn.execute(
    "select name, value from duckdb_settings() where name in ('memory_limit', 'temp_directory')"
).fetchall())
import gc
print(json.dumps({"got": got, "held": held, "after": objects(), "raw_rows": raw_rows,
                  "settings": settings, "gc": [gc.get_threshold(), gc.get_freeze_count()]}))
"""


def test_duckdb_engine_strips_and_frees_like_spark(spark, tmp_path: Path) -> None:
    """On DuckDB: the ID whitespace strip gives Spark's values for every case of
    test_validate.STRIP_CASES, and ``uncache`` drops the table behind a frame, and nothing
    else; activating the engine bounds its buffer pool and tunes the garbage collector."""
    from test_validate import STRIP_CASES

    from spark_ingest import contract as C
    from spark_ingest.validate import parse_column

    lake = write_tiny_lake(tmp_path / "lake")
    users = lake / "data/raw/users/users.csv"
    on_spark = [
        row.v
        for row in spark.createDataFrame([(v,) for v in STRIP_CASES], "user_id string")
        .select(parse_column("user_id", C.STRING).alias("v"))
        .collect()
    ]
    out = run_engine_script(ENGINE_SCRIPT, json.dumps(STRIP_CASES), users.as_uri())
    assert out["got"] == on_spark
    assert len(on_spark) == len(STRIP_CASES) and on_spark[0] == "U1"
    assert out["raw_rows"] == len(users.read_text().splitlines()) - 1
    held = set(out["held"])
    assert any(name.startswith("carrental_cache_") for name in held)
    assert any(name.startswith("carrental_raw_users") for name in held)
    dropped = held - set(out["after"])  # the cache; the raw rows' view and table
    assert sorted(name.split("_")[1] for name in dropped) == ["cache", "raw", "rows"]
    # the buffer pool is bounded as configured, and spills to a folder removed at exit
    reference = duckdb.connect()
    reference.execute("set memory_limit = '1GB'")
    expected_limit = reference.execute("select current_setting('memory_limit')").fetchone()[0]
    assert out["settings"]["memory_limit"] == expected_limit
    spill = Path(out["settings"]["temp_directory"])
    assert spill.name.startswith("carrental-duckdb-spill-")
    assert not spill.exists()
    # the collector is tuned for sqlframe's plan building: the imports frozen, fewer passes
    thresholds, frozen = out["gc"]
    assert tuple(thresholds) == GC_THRESHOLDS != gc.get_threshold()
    assert frozen > 10_000


PARSE_SCRIPT = """
import json, sys
from spark_ingest import duckdb_engine
duckdb_engine.activate()
from spark_ingest.validate import parse_column
spark = duckdb_engine.duckdb_session()
out = {}
for rule, values in json.loads(sys.argv[1]).items():
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, x string")
    parsed = df.select("i", parse_column("x", rule).alias("v"))
    # DuckDB's own values: sqlframe's collect() turns a DECIMAL into a float
    rows = sorted(spark._conn.execute(parsed.sql(dialect="duckdb")).fetchall())
    out[rule] = [None if v is None else str(v) for _, v in rows]
print(json.dumps(out))
"""


def test_duckdb_engine_parses_values_like_the_hand_worked_cases() -> None:
    """Every typed rule on DuckDB gives test_validate.PARSE_VALUES (which Spark is held to)."""
    from test_validate import PARSE_VALUES

    cases = {rule: list(values) for rule, values in PARSE_VALUES.items()}
    got = run_engine_script(PARSE_SCRIPT, json.dumps(cases))
    expected = {
        rule: [None if v is None else str(v) for v in values.values()]
        for rule, values in PARSE_VALUES.items()
    }
    assert got == expected


READER_SCRIPT = """
import json, sys
from spark_ingest import duckdb_engine
duckdb_engine.activate()
from spark_ingest import contract as C
from spark_ingest.io import read_raw
spark = duckdb_engine.duckdb_session()
rows = read_raw(spark, C.CONTRACT["locations"], sys.argv[1:]).collect()
out = sorted([r["location_id"], r["location_name"], r["_corrupt_record"], r["source_file"]]
             for r in rows)
print(json.dumps({"rows": out, "pandas": "pandas" in sys.modules}))
"""


def test_duckdb_reader_takes_quotes_in_paths_and_lines_without_pandas(tmp_path: Path) -> None:
    """The reader writes the file list and the lines it splits itself into its SQL as
    literals (a bound parameter makes DuckDB's client import pandas, about 0.3 s per job
    process): an apostrophe in a folder name and in a line with too many fields survives."""
    folder = tmp_path / "o'brien"
    folder.mkdir()
    path = folder / "locations.csv"
    long_line = "2,O'Hare,1 Airport Rd,Chicago,IL,60666,41.97,-87.90,one field too many"
    path.write_text(
        "location_id,location_name,address,city,state,zip_code,latitude,longitude\n"
        "1,Main St,1 Main St,Springfield,IL,62701,39.78,-89.65\n"
        f"{long_line}\n",
        encoding="utf-8",
    )
    got = run_engine_script(READER_SCRIPT, str(path))
    assert got["rows"] == [
        ["1", "Main St", None, str(path)],
        ["2", "O'Hare", long_line, str(path)],
    ]
    assert got["pandas"] is False


LOCATIONS_HEADER = "location_id,location_name,address,city,state,zip_code,latitude,longitude\n"


@pytest.mark.parametrize(
    "spellings",
    [
        ("file:{}", "file:{}"),  # one prefix before every path: the URI is built per row
        ("file:{}", "file://{}"),  # two prefixes: the URIs are joined by path
        ("{}", "file:{}"),
    ],
)
def test_duckdb_reader_keeps_each_rows_file_uri_as_given(tmp_path: Path, spellings) -> None:
    """``source_file`` is the URI the file was listed under, however it is spelled."""
    uris = []
    for n, spelling in enumerate(spellings, start=1):
        path = tmp_path / f"locations_{n}.csv"
        path.write_text(f"{LOCATIONS_HEADER}{n},Site {n},1 Main St,Springfield,IL,62701,1,2\n")
        uris.append(spelling.format(path))
    got = run_engine_script(READER_SCRIPT, *uris)
    assert got["rows"] == [[str(n), f"Site {n}", None, uri] for n, uri in enumerate(uris, 1)]


def test_duckdb_engine_rejects_a_bad_memory_limit(tmp_path: Path) -> None:
    lake = write_tiny_lake(tmp_path / "lake")
    cmd = build_command("user_transaction_analysis", lake, "mem-1", engine="duckdb")
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, MEMORY_LIMIT_ENV: "lots"},
    )
    assert proc.returncode == 2
    assert f"{MEMORY_LIMIT_ENV}='lots'" in proc.stderr
    assert "such as '4GB'" in proc.stderr
    assert not (lake / "data/processed").exists()


@pytest.mark.parametrize(
    ("physical_gb", "expected"), [(24, "6144MB"), (8, "4096MB"), (4, "2048MB")]
)
def test_duckdb_default_memory_limit_is_6gb_or_half_the_machine(monkeypatch, physical_gb, expected):
    from spark_ingest import duckdb_engine

    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": physical_gb * 2**30 // 4096}
    monkeypatch.setattr(duckdb_engine.os, "sysconf", pages.__getitem__)
    assert duckdb_engine.default_memory_limit() == expected


def test_duckdb_reader_gives_each_row_the_uri_of_its_file(tmp_path: Path) -> None:
    """A raw row's ``source_file`` is the URI its file was given by (whatever its spelling),
    also for a line the reader splits itself (too many fields)."""
    header = "location_id,location_name,address,city,state,zip_code,latitude,longitude\n"
    long_line = "3,Airport,2 Rd,Chicago,IL,60666,41.97,-87.90,one field too many"
    first, second = tmp_path / "b" / "locations.csv", tmp_path / "a" / "more.csv"
    for path, lines in (
        (first, ["1,Main St,1 Main St,Springfield,IL,62701,39.78,-89.65"]),
        (second, ["2,Depot,9 Elm St,Peoria,IL,61602,40.69,-89.59", long_line]),
    ):
        path.parent.mkdir()
        path.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    uris = [first.as_uri(), f"file:{second}"]  # file:///.../b/... and file:/.../a/...
    got = run_engine_script(READER_SCRIPT, *uris)
    assert got["rows"] == [
        ["1", "Main St", None, uris[0]],
        ["2", "Depot", None, uris[1]],
        ["3", "Airport", long_line, uris[1]],
    ]
