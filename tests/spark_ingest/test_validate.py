"""Every reason code lands in quarantine, counts reconcile, and the keep rule is deterministic."""

from __future__ import annotations

import argparse
import hashlib
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F
from spark_tiny_lake import EXPECTED_COUNTS, FILES, VALID_RENTAL_IDS, write_tiny_lake

from spark_ingest import contract as C
from spark_ingest import pipeline
from spark_ingest.io import read_raw
from spark_ingest.manifest import Manifest
from spark_ingest.pipeline import DATASETS, _write_quarantine, load_inputs
from spark_ingest.publish import write_quarantine
from spark_ingest.validate import validate_dimension

#: rental id -> primary reason, worked out by hand from the tiny lake (conftest comments).
EXPECTED_RENTAL_REASONS = {
    "R10": "INVALID_TIMESTAMP",
    "R11": "INVALID_TIMESTAMP",
    "R12": "INVALID_INTEGER",
    "R13": "INVALID_AMOUNT",
    "R14": "INVALID_AMOUNT",
    "R15": "NEGATIVE_AMOUNT",
    "R16": "END_BEFORE_START",
    "R17": "ORPHAN_USER",
    "R18": "ORPHAN_USER",
    "R19": "ORPHAN_VEHICLE",
    "R20": "ORPHAN_VEHICLE",
    "R21": "ORPHAN_PICKUP_LOCATION",
    "R22": "ORPHAN_DROPOFF_LOCATION",
    "R23": "MALFORMED_ROW",
    "R24": "MALFORMED_ROW",
    "R25": "INVALID_AMOUNT",
}


@pytest.fixture(scope="module")
def loaded(spark, tmp_path_factory):
    lake = write_tiny_lake(tmp_path_factory.mktemp("validate") / "lake")
    manifest = Manifest("test", "r1", "full", "spark")
    inputs = load_inputs(spark, str(lake / "data" / "raw"), manifest)
    return manifest, inputs


def test_manifest_counts_match_hand_counts_and_reconcile(loaded):
    manifest, _ = loaded
    assert manifest.data["reconciled"] is True
    for dataset, (rows_read, valid, by_reason) in EXPECTED_COUNTS.items():
        got = manifest.data["inputs"][dataset]
        assert got["rows_read"] == rows_read, dataset
        assert got["valid"] == valid, dataset
        assert got["rejected_by_reason"] == by_reason, dataset
        assert got["rows_read"] == got["valid"] + got["rejected"]


def test_every_reason_code_is_exercised(loaded):
    manifest, _ = loaded
    seen = set()
    for info in manifest.data["inputs"].values():
        seen |= set(info["rejected_by_reason"])
    assert seen == set(C.REASON_CODES)


def test_valid_rentals_and_row_reasons(loaded):
    _, inputs = loaded
    valid = inputs.rentals.collect()
    assert sorted(row.rental_id for row in valid) == sorted(VALID_RENTAL_IDS)
    r1 = next(row for row in valid if row.rental_id == "R1")
    assert str(r1.total_amount) == "110.00"  # kept from rentals_2.csv (greatest file name)
    rejected = inputs.rejected["rental_transactions"].collect()
    by_id = {row.rental_id: row for row in rejected if row.rental_id and row.rental_id != "R1"}
    assert {k: by_id[k].reason_code for k in EXPECTED_RENTAL_REASONS} == EXPECTED_RENTAL_REASONS
    dup = [row for row in rejected if row.rental_id == "R1"]
    assert len(dup) == 1 and dup[0].reason_code == "DUPLICATE_KEY"
    assert dup[0].source_file.endswith("rentals_1.csv") and dup[0].total_amount == "100.00"
    blank = [row for row in rejected if not row.rental_id]
    assert [row.reason_code for row in blank] == ["NULL_KEY"]
    # the raw record is kept: the original line for malformed rows
    assert by_id["R23"].raw_record == "R23,U1,V1"
    assert by_id["R24"].raw_record.endswith(",10.00,extra")
    assert all(row.reason_detail for row in rejected)


def test_secondary_reasons_are_listed_in_priority_order(loaded):
    _, inputs = loaded
    rows = {
        row.rental_id: row.reason_codes for row in inputs.rejected["rental_transactions"].collect()
    }
    assert rows["R10"] == ["INVALID_TIMESTAMP"]
    assert rows["R17"] == ["ORPHAN_USER"]


def test_a_vehicle_type_outside_the_list_is_quarantined(loaded):
    """dbt's accepted_values test on rentals_fact.vehicle_type would stop every mart on such a
    vehicle; the job quarantines it instead (case and blanks count)."""
    _, inputs = loaded
    rows = {row.vehicle_id: row for row in inputs.rejected["vehicles"].collect()}
    allowed = "economy, compact, midsize, suv, luxury, van"
    assert rows["V7"].reason_codes == ["INVALID_VALUE"]
    assert rows["V7"].reason_detail == f"vehicle_type='SUV' is not one of {allowed}"
    assert rows["V8"].reason_codes == ["INVALID_VALUE"]
    assert rows["V8"].reason_detail == f"vehicle_type='  ' is not one of {allowed}"
    valid = {row.vehicle_id: row.vehicle_type for row in inputs.valid["vehicles"].collect()}
    assert valid == {"V1": "economy", "V2": "suv", "V3": "luxury"}


def test_a_dataset_without_rejected_rows_gets_an_empty_quarantine_table(
    spark, tmp_path: Path, monkeypatch
):
    """Clean vehicles: their quarantine folder is still written, an empty table with the
    quarantine's columns, planned as an empty relation (no scan of the checked rows); the
    other datasets' hold their rejected rows."""
    plans = {}

    def spy(rejected, root, name, job, run_id):
        plans[name] = rejected._jdf.queryExecution().optimizedPlan().toString()
        return write_quarantine(rejected, root, name, job, run_id)

    monkeypatch.setattr(pipeline, "write_quarantine", spy)
    vehicles = FILES["vehicles/vehicles.csv"].splitlines()
    files = {**FILES, "vehicles/vehicles.csv": "\n".join(vehicles[:4]) + "\n"}  # V1 V2 V3
    lake = write_tiny_lake(tmp_path / "lake", files)
    manifest = Manifest("test", "q1", "full", "spark")
    inputs = load_inputs(spark, str(lake / "data" / "raw"), manifest)
    assert manifest.data["inputs"]["vehicles"]["rejected"] == 0
    root = lake / "data" / "quarantine"
    _write_quarantine(inputs, argparse.Namespace(quarantine_root=str(root)), manifest, "j", "q1")
    for name in DATASETS:
        written = pq.read_table(root / name / "job=j" / "run_id=q1")
        expected = 0 if name == "vehicles" else EXPECTED_COUNTS[name][0] - EXPECTED_COUNTS[name][1]
        assert written.num_rows == expected, name
        assert written.column_names[: len(C.QUARANTINE_LEADING_COLUMNS)] == list(
            C.QUARANTINE_LEADING_COLUMNS
        )
        assert set(C.CONTRACT[name].column_names) <= set(written.column_names), name
        assert ("LocalRelation <empty>" in plans[name]) == (name == "vehicles"), plans[name]


def test_multiline_quoted_field_is_one_row(loaded):
    _, inputs = loaded
    harbor = inputs.valid["locations"].filter("location_id = 3").collect()
    assert len(harbor) == 1
    assert harbor[0].location_name == "Harbor"
    assert harbor[0].address == "3 Bay Rd\nUnit 2"


def test_duplicate_in_one_file_keeps_smallest_sha2_of_raw_record(spark, tmp_path: Path):
    header = ",".join(C.LOCATIONS.column_names)
    line_a = "7,Alpha,1 A St,Austin,TX,73301,30.1,-97.7"
    line_b = "7,Beta,2 B St,Austin,TX,73301,30.1,-97.7"
    path = tmp_path / "locations.csv"
    path.write_text(f"{header}\n{line_a}\n{line_b}\n", encoding="utf-8")
    keep = min((line_a, line_b), key=lambda line: hashlib.sha256(line.encode()).hexdigest())
    raw = read_raw(spark, C.LOCATIONS, [str(path)])
    valid, rejected = validate_dimension(raw, C.LOCATIONS)
    assert [row.location_name for row in valid.collect()] == [keep.split(",")[1]]
    assert [row.reason_code for row in rejected.collect()] == ["DUPLICATE_KEY"]


AMOUNT_CASES = {
    "10": True,
    "10.5": True,
    "0.01": True,
    "-0.00": True,
    "9999999999.99": True,
    " 12.50 ": True,
    "10.555": False,
    "1e3": False,
    "10000000000": False,
    "12,50": False,
    "": False,
}
TIMESTAMP_CASES = {
    "2024-02-29 23:59:59": True,
    "2023-02-29 10:00:00": False,  # not a calendar date
    "2024-01-01T10:00:00": False,
    "2024-01-01 10:00:00Z": False,
    "2024-01-01 10:00": False,
    "2024-01-01 25:00:00": False,
}


@pytest.mark.parametrize(
    ("rule", "cases"), [(C.AMOUNT, AMOUNT_CASES), (C.TIMESTAMP, TIMESTAMP_CASES)]
)
def test_parse_rules(spark, rule, cases):
    from spark_ingest.validate import parse_column

    values = list(cases)
    df = spark.createDataFrame([(v,) for v in values], "x string")
    got = {
        row.x: row.v is not None
        for row in df.select("x", parse_column("x", rule).alias("v")).collect()
    }
    assert got == cases


#: rule -> {raw text: the typed value expected}, worked out by hand; outer spaces are trimmed
#: a value ending in a line break does not match (Java's ``$`` matched before one; the
#: patterns end with ``\z``), and only ASCII spaces are trimmed (DuckDB's ``trim`` strips
#: U+00A0, U+2003, U+3000 too): both kinds are null on both engines
PARSE_VALUES = {
    C.INTEGER: {
        "42": 42,
        " -7 ": -7,
        "+3": 3,
        "1.0": None,
        "2147483648": None,
        " ": None,
        "4\n": None,
        "4\r\n": None,
        "\u00a04": None,
        "4\u3000": None,
    },
    C.AMOUNT: {
        "7": Decimal("7.00"),
        " 12.50 ": Decimal("12.50"),
        "-3.1": Decimal("-3.10"),
        "7.5\n": None,
        "\u00a012.50": None,
        "12.50\u2003": None,
    },
    C.DOUBLE: {
        "40.7": 40.7,
        " -73.9 ": -73.9,
        ".5": 0.5,
        "1e3": 1000.0,
        "1.2.3": None,
        "40.7\n": None,
        "\u300040.7": None,
    },
    C.DATE: {
        "2024-02-29": date(2024, 2, 29),
        " 2027-01-01 ": date(2027, 1, 1),
        "2023-02-29": None,
        "2024-02-29\n": None,
        "\u00a02024-02-29": None,
    },
    C.TIMESTAMP: {
        "2024-02-29 23:59:59": datetime(2024, 2, 29, 23, 59, 59),
        "  2024-03-01 00:00:01 ": datetime(2024, 3, 1, 0, 0, 1),
        "2024-03-01  00:00:01": None,
        # a day or time that does not exist (DuckDB's cast reads 24:00:00 as midnight; the
        # parse must not)
        "2023-02-29 10:00:00": None,
        "2024-04-31 00:00:00": None,
        "2024-01-01 24:00:00": None,
        "2024-01-01 23:59:60": None,
        "2024-01-01 23:60:00": None,
        "2024-13-01 00:00:00": None,
        "9999-12-31 23:59:59": datetime(9999, 12, 31, 23, 59, 59),
        "2024-02-29 23:59:59\n": None,
        "2024-02-29 23:59:59\u00a0": None,
    },
    C.BOOLEAN: {
        "1": True,
        " true ": True,
        "false": False,
        "\u00a01": None,
        "0\u3000": None,
        "yes": None,
    },
}


@pytest.mark.parametrize("rule", list(PARSE_VALUES))
def test_parse_values(spark, rule):
    """The typed values, for values with and without outer spaces (the untrimmed fast path and
    the trimmed branch of ``validate._matching``)."""
    from spark_ingest.validate import parse_column

    cases = PARSE_VALUES[rule]
    df = spark.createDataFrame([(v,) for v in cases], "x string")
    got = {row.x: row.v for row in df.select("x", parse_column("x", rule).alias("v")).collect()}
    assert got == cases


RENTAL_HEADER = ",".join(C.RENTAL_TRANSACTIONS.column_names)
RENTAL_TAIL = ",U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,5.00"


def _dimensions(spark) -> tuple:
    """Valid users, vehicles and locations: user U1, vehicle V1, locations 1 and 2."""
    users = spark.createDataFrame([("U1",)], "user_id string")
    vehicles = spark.createDataFrame([("V1",)], "vehicle_id string")
    locations = spark.createDataFrame([(1,), (2,)], "location_id int")
    return users, vehicles, locations


def _annotated_rentals(spark, path: Path) -> list:
    """The checked rows of the rentals file ``path`` against :func:`_dimensions`."""
    from spark_ingest.validate import annotate_rentals

    raw = read_raw(spark, C.RENTAL_TRANSACTIONS, [str(path)])
    return annotate_rentals(raw, *_dimensions(spark)).collect()


def _user_reasons(spark, path: Path, ds=C.USERS):
    from spark_ingest.validate import annotate_dimension, raw_record

    annotated = annotate_dimension(read_raw(spark, ds, [str(path)]), ds)
    rows = annotated.select(raw_record(ds).alias("text"), "reason_code").collect()
    return {row.text: row.reason_code for row in rows}


def test_invalid_utf8_in_a_data_row_is_malformed(spark, tmp_path: Path):
    header = ",".join(C.USERS.column_names)
    good = b"U1,Ann,Lee,a@x.com,555,DL1,2027-01-01,2023-01-05,1\n"
    bad = b"U2,B\xe9\xffb,Lee,b@x.com,555,DL2,2027-01-01,2023-01-05,1\n"
    path = tmp_path / "users.csv"
    path.write_bytes(header.encode() + b"\n" + good + bad)
    reasons = sorted(_user_reasons(spark, path).values(), key=str)
    assert reasons == ["MALFORMED_ROW", None]  # the good row is valid, the bad one is not


def test_invalid_utf8_in_a_rental_row_is_malformed(spark, tmp_path: Path):
    path = tmp_path / "rentals.csv"
    path.write_bytes(
        f"{RENTAL_HEADER}\nR1{RENTAL_TAIL}\n".encode()
        + b"R\xe9\xff2"
        + RENTAL_TAIL.encode()
        + b"\n"
    )
    rows = _annotated_rentals(spark, path)
    got = sorted((row.reason_code or "VALID") for row in rows)
    assert got == ["MALFORMED_ROW", "VALID"]


def test_a_duplicate_key_counts_only_rows_valid_after_the_orphan_checks(spark, tmp_path: Path):
    """The repeated keys are counted before the orphan joins (validate._dedupe's ``wider``); an
    orphan must still not make its key's valid row a duplicate, nor be one itself."""
    lines = [
        "D1,U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,5.00",  # D1 twice, both valid
        "D1,U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,6.00",
        "D2,U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,5.00",  # one valid, one orphan
        "D2,U404,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,5.00",
        "D3,U1,V404,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,5.00",  # two orphans
        "D3,U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,9,5.00",
    ]
    path = tmp_path / "rentals.csv"
    path.write_text("\n".join([RENTAL_HEADER, *lines]) + "\n", encoding="utf-8")
    rows = _annotated_rentals(spark, path)
    got = sorted((row.rental_id, row.reason_code or "VALID") for row in rows)
    assert got == [
        ("D1", "DUPLICATE_KEY"),
        ("D1", "VALID"),
        ("D2", "ORPHAN_USER"),
        ("D2", "VALID"),
        ("D3", "ORPHAN_DROPOFF_LOCATION"),
        ("D3", "ORPHAN_VEHICLE"),
    ]


def test_orphan_reasons_follow_a_rows_own_reasons(spark, tmp_path: Path):
    """An orphan's codes and texts come after the row's own (priority order), a row that is no
    orphan keeps its own unchanged, and a malformed row keeps MALFORMED_ROW alone."""
    times = "2024-01-01 10:00:00,2024-01-01 12:00:00"
    lines = [
        f"O1,U1,V1,{times},1,2,5.00",  # valid
        f"O2,U404,V1,{times},1,2,5.00",  # orphan user only
        f"O3,U404,V404,{times},1,2,-5.00",  # negative amount, orphan user and vehicle
        f"O4,U1,V1,{times},1,2,-5.00",  # negative amount only
        f"O5,U1,V1,{times},9,9,5.00",  # orphan pickup and dropoff
        "O6,U404,V404",  # malformed (3 fields), whatever its ids
    ]
    path = tmp_path / "rentals.csv"
    path.write_text("\n".join([RENTAL_HEADER, *lines]) + "\n", encoding="utf-8")
    rows = {
        row.rental_id: (row.reason_codes, row.reason_detail)
        for row in _annotated_rentals(spark, path)
    }
    user, vehicle = "user_id='U404' is not a valid user", "vehicle_id='V404' is not a valid vehicle"
    negative = "total_amount='-5.00' is negative"
    assert rows["O1"] == ([], "")
    assert rows["O2"] == (["ORPHAN_USER"], user)
    assert rows["O3"] == (
        ["NEGATIVE_AMOUNT", "ORPHAN_USER", "ORPHAN_VEHICLE"],
        f"{negative}; {user}; {vehicle}",
    )
    assert rows["O4"] == (["NEGATIVE_AMOUNT"], negative)
    assert rows["O5"] == (
        ["ORPHAN_PICKUP_LOCATION", "ORPHAN_DROPOFF_LOCATION"],
        "pickup_location='9' is not a valid location; dropoff_location='9' is not a valid location",
    )
    assert rows["O6"] == (
        ["MALFORMED_ROW"],
        "wrong number of fields or an unparseable CSV record (expected 8 fields)",
    )


def test_stored_parsed_rows_give_back_every_raw_value(spark, tmp_path: Path):
    """The parsed store leaves out exactly the raw values that are the canonical spelling of
    their typed value, and checking the stored rows quarantines the same rows with the same
    text as checking the parsed ones: each rejected row's fields and record are its line as
    written, an orphan's detail quotes its raw id, and the duplicate kept is the one whose
    line has the smaller SHA-256."""
    from spark_ingest.validate import check_rentals, compact, drop_canonical_raw, parse_rentals
    from spark_ingest.validate import split as split_checked

    times = "2024-01-01 10:00:00,2024-01-01 12:00:00"
    duplicates = [f"S4,U1,V1,{times},1,2,1.00", f"S4,U1,V1,{times},1,2,2.00"]
    lines = {
        "S1": f"S1,U1,V1,{times},1,2,5.00",  # every value canonical
        "S2": "S2, U1 ,V1,2024-01-01 10:00:00, 2024-01-01 12:00:00,+1,02,5.0",
        "S3": f"S3,U404,V1,{times},1,2,7.25",  # canonical, then an orphan user
        "S5": f"S5,U1,V1,{times},1,2,-1.5",  # negative amount
        "S6": "S6,U1",  # malformed
    }
    path = tmp_path / "rentals.csv"
    path.write_text("\n".join([RENTAL_HEADER, *lines.values(), *duplicates]) + "\n")
    ds = C.RENTAL_TRANSACTIONS
    parsed = parse_rentals(read_raw(spark, ds, [str(path)]))
    stored_path = str(tmp_path / "stored")
    drop_canonical_raw(parsed, ds).write.parquet(stored_path)
    stored = spark.read.parquet(stored_path)

    every = set(ds.column_names)
    left_out = sorted(
        (row.rental_id_t, frozenset(n for n in ds.column_names if row[n] is None))
        for row in stored.select("*", F.col("t__rental_id").alias("rental_id_t")).collect()
    )
    assert left_out == sorted(
        [
            ("S1", frozenset(every)),
            ("S2", frozenset({"rental_id", "vehicle_id", "rental_start_time"})),
            ("S3", frozenset(every)),
            ("S4", frozenset(every)),
            ("S4", frozenset(every)),
            ("S5", frozenset(every - {"total_amount"})),
            # the reader fills the fields it found, the rest are null as they were
            ("S6", frozenset(every)),
        ]
    )

    def checked(frame):
        valid, rejected = split_checked(compact(check_rentals(frame, *_dimensions(spark)), ds), ds)
        rejected = [row.asDict() for row in rejected.drop(C.SOURCE_FILE).collect()]
        return sorted(row.rental_id for row in valid.collect()), sorted(rejected, key=str)

    valid, rejected = checked(stored)
    assert (valid, rejected) == checked(parsed)
    dropped = max(duplicates, key=lambda line: hashlib.sha256(line.encode()).hexdigest())
    assert valid == ["S1", "S2", "S4"]
    by_record = {row[C.RAW_RECORD]: row for row in rejected}
    assert sorted(by_record) == sorted([lines["S3"], lines["S5"], lines["S6"], dropped])
    for line in (lines["S3"], lines["S5"], dropped):
        assert [by_record[line][name] for name in ds.column_names] == line.split(",")
    assert by_record[lines["S3"]]["reason_detail"] == "user_id='U404' is not a valid user"
    assert by_record[lines["S5"]]["reason_detail"] == "total_amount='-1.5' is negative"
    assert by_record[dropped]["reason_code"] == "DUPLICATE_KEY"
    assert (by_record[lines["S6"]]["rental_id"], by_record[lines["S6"]]["user_id"]) == ("S6", "U1")


@pytest.mark.parametrize("key", ["", "   ", "\t", "\t ", " \t\t "])
def test_whitespace_only_rental_ids_are_null_key(spark, tmp_path: Path, key):
    path = tmp_path / "rentals.csv"
    path.write_text(f'{RENTAL_HEADER}\nR1{RENTAL_TAIL}\n"{key}"{RENTAL_TAIL}\n', encoding="utf-8")
    rows = _annotated_rentals(spark, path)
    assert sorted((row.reason_code or "VALID") for row in rows) == ["NULL_KEY", "VALID"]


#: every whitespace character of Java's ``\s``, alone and mixed, at either edge, inside
STRIP_CASES = [
    *[f"{ws}U1" for ws in " \t\n\x0b\f\r"],
    *[f"U1{ws}" for ws in " \t\n\x0b\f\r"],
    "\tU1 \t",
    "  U 2  ",
    "U\t3",
    "U4",
    " \x0b\f\r\n\t U\n5 \t\r",
    "\u00a0U6\u00a0",  # a no-break space is not whitespace in Java's \s: kept
    "",
    "\t\x0b ",
    None,
]


def test_ids_are_stripped_of_every_whitespace_character(spark):
    from spark_ingest.validate import WHITESPACE, parse_column

    df = spark.createDataFrame([(value,) for value in STRIP_CASES], "user_id string")
    got = [row.v for row in df.select(parse_column("user_id", C.STRING).alias("v")).collect()]
    expected = [
        None if v is None or not v.strip(WHITESPACE) else v.strip(WHITESPACE) for v in STRIP_CASES
    ]
    assert expected[:2] == ["U1", "U1"] and expected[-3:] == [None, None, None]
    assert got == expected


def test_rentals_are_read_line_by_line(spark, tmp_path: Path):
    """A rental record broken by a newline becomes MALFORMED fragments, never one joined row
    (rentals are read with multiLine=False so a big file splits across tasks)."""
    path = tmp_path / "rentals.csv"
    path.write_text(f'{RENTAL_HEADER}\nR1{RENTAL_TAIL}\n"R\n2"{RENTAL_TAIL}\n', encoding="utf-8")
    rows = _annotated_rentals(spark, path)
    got = sorted((row.reason_code or "VALID") for row in rows)
    assert got == ["MALFORMED_ROW", "MALFORMED_ROW", "VALID"]  # head and tail fragments


def test_duplicate_ranking_over_every_row_gives_the_same_hand_counts(
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Past MAX_CANDIDATE_KEYS repeated keys the ranking window runs over every row."""
    from spark_ingest import validate

    monkeypatch.setattr(validate, "MAX_CANDIDATE_KEYS", 0)
    lake = write_tiny_lake(tmp_path / "lake")
    manifest = Manifest("test", "r1", "full", "spark")
    inputs = load_inputs(spark, str(lake / "data" / "raw"), manifest)
    for dataset, (rows_read, valid, by_reason) in EXPECTED_COUNTS.items():
        got = manifest.data["inputs"][dataset]
        assert (got["rows_read"], got["valid"], got["rejected_by_reason"]) == (
            rows_read,
            valid,
            by_reason,
        ), dataset
    assert sorted(row.rental_id for row in inputs.rentals.collect()) == sorted(VALID_RENTAL_IDS)


def test_repeated_keys_are_those_of_otherwise_valid_rows(spark, tmp_path: Path):
    from spark_ingest.validate import repeated_keys

    rows = [("A", []), ("A", []), ("B", []), ("B", ["INVALID_DATE"]), ("C", [])]
    df = spark.createDataFrame(rows, "t__vehicle_id string, reason_codes array<string>")
    assert repeated_keys(df, C.VEHICLES) == ["A"]
