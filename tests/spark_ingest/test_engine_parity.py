"""Broken raw files read the same on both engines: each file below is read and given its
row-level reasons (``read_raw``, then ``parse_rentals`` / ``annotate_dimension``, which adds a
dimension's duplicate keys) by Spark and by the DuckDB engine, and both must give the rows
written out by hand here (source file, the row's raw text, its first reason code or None for
a valid row).

Rentals are read line by line by Spark (``multiLine=False``): a line break inside a record
(quoted or not, ``\\n``, ``\\r\\n`` or a bare ``\\r``) splits it into MALFORMED_ROW fragments, an
unterminated quote spoils its own line only, and a blank line is skipped.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spark_ingest import contract as C

RENTALS = C.RENTAL_TRANSACTIONS.name
LOCATIONS = C.CONTRACT["locations"].name
RENTAL_HEADER = ",".join(C.RENTAL_TRANSACTIONS.column_names)
LOCATION_HEADER = ",".join(C.CONTRACT["locations"].column_names)
TIMES = "2024-01-01 10:00:00,2024-01-01 12:00:00"
TAIL = f"U1,V1,{TIMES},1,2,5.00"
SITE = "Main,1 Main St,Springfield,IL,62701,39.78,-89.65"
MALFORMED = C.MALFORMED_ROW
#: valid rentals after the unterminated quote (DuckDB's reader ran to the end of the file)
MANY = 3000


def rental(n: int) -> str:
    return f"R{n},{TAIL}"


def location(n: int) -> str:
    return f"{n},{SITE}"


# case -> (dataset, {file name: bytes}, expected rows (file name, raw text, reason code))
CASES: dict[str, tuple[str, dict[str, bytes], list[tuple[str, str, str | None]]]] = {
    # a CRLF file with a row of too few and one of too many fields: the line without its \r\n
    "crlf_rentals_wrong_field_count": (
        RENTALS,
        {"r.csv": f"{RENTAL_HEADER}\r\n{rental(1)}\r\nR91,U1,V1\r\n{rental(2)},x\r\n".encode()},
        [
            ("r.csv", rental(1), None),
            ("r.csv", "R91,U1,V1", MALFORMED),
            ("r.csv", f"{rental(2)},x", MALFORMED),
        ],
    ),
    "crlf_locations_wrong_field_count": (
        LOCATIONS,
        {"l.csv": f"{LOCATION_HEADER}\r\n{location(1)}\r\n2,Short,x\r\n{location(3)}\r\n".encode()},
        [
            ("l.csv", location(1), None),
            ("l.csv", "2,Short,x", MALFORMED),
            ("l.csv", location(3), None),
        ],
    ),
    # a carriage return inside a quoted field, and a bare one outside quotes: Spark's line
    # reader splits at both
    "quoted_carriage_return": (
        RENTALS,
        {"r.csv": f'{RENTAL_HEADER}\n{rental(1)}\nR2,"U1\r",{TAIL[3:]}\n{rental(3)}\n'.encode()},
        [
            ("r.csv", rental(1), None),
            ("r.csv", 'R2,"U1', MALFORMED),
            ("r.csv", f'",{TAIL[3:]}', MALFORMED),
            ("r.csv", rental(3), None),
        ],
    ),
    "bare_carriage_return": (
        RENTALS,
        {"r.csv": f"{RENTAL_HEADER}\n{rental(1)}\nR2,U1\r,{TAIL[3:]}\n".encode()},
        [
            ("r.csv", rental(1), None),
            ("r.csv", "R2,U1", MALFORMED),
            ("r.csv", f",{TAIL[3:]}", MALFORMED),
        ],
    ),
    # a quoted newline: one MALFORMED_ROW per fragment (the second has 8 fields, one of them
    # holding the stray quote)
    "quoted_newline": (
        RENTALS,
        {"r.csv": f'{RENTAL_HEADER}\n{rental(1)}\nR2,"U\n1",{TAIL[3:]}\n{rental(3)}\n'.encode()},
        [
            ("r.csv", rental(1), None),
            ("r.csv", 'R2,"U', MALFORMED),
            ("r.csv", f'1",{TAIL[3:]}', MALFORMED),
            ("r.csv", rental(3), None),
        ],
    ),
    # an unterminated quote spoils its own line, not the thousands of rows after it; the other
    # file (gzipped) keeps its own short row
    "unterminated_quote": (
        RENTALS,
        {
            "a.csv.gz": gzip.compress(
                "\n".join(
                    [RENTAL_HEADER, f'R0,"{TAIL[:-4]}10.00', *map(rental, range(1, MANY + 1))]
                ).encode()
                + b"\n"
            ),
            "b.csv": f"{RENTAL_HEADER}\nR91,U1,V1\n{rental(MANY + 1)}\n".encode(),
        },
        [
            ("a.csv.gz", f'R0,"{TAIL[:-4]}10.00', MALFORMED),
            *[("a.csv.gz", rental(n), None) for n in range(1, MANY + 1)],
            ("b.csv", "R91,U1,V1", MALFORMED),
            ("b.csv", rental(MANY + 1), None),
        ],
    ),
    # lines of nothing but spaces and tabs: a rentals file skips them (Spark trims each line),
    # a dimension file (read as one CSV stream) keeps them as MALFORMED_ROW on both engines
    "blank_lines_rentals": (
        RENTALS,
        {"r.csv": f"{RENTAL_HEADER}\n{rental(1)}\n   \n\t\n\n{rental(2)}\n \n".encode()},
        [("r.csv", rental(1), None), ("r.csv", rental(2), None)],
    ),
    "blank_lines_locations": (
        LOCATIONS,
        {"l.csv": f"{LOCATION_HEADER}\n{location(1)}\n   \n\t\n{location(2)}\n".encode()},
        [
            ("l.csv", location(1), None),
            ("l.csv", "   ", MALFORMED),
            ("l.csv", "\t", MALFORMED),
            ("l.csv", location(2), None),
        ],
    ),
    # a quoted value ending in a newline is no integer or number (Java's `$` matched before it)
    "trailing_newline_values": (
        LOCATIONS,
        {
            "l.csv": f'{LOCATION_HEADER}\n"4\n",{SITE}\n5,{SITE[:-12]}"40.7\n",-89.65\n'
            f'6,{SITE[:-6]}"-89.65\n"\n{location(7)}\n'.encode()
        },
        [
            ("l.csv", f"4\n,{SITE}", C.INVALID_INTEGER),
            ("l.csv", f"5,{SITE[:-12]}40.7\n,-89.65", C.INVALID_NUMBER),
            ("l.csv", f"6,{SITE[:-6]}-89.65\n", C.INVALID_NUMBER),
            ("l.csv", location(7), None),
        ],
    ),
    # only ASCII spaces are trimmed: a no-break, em or ideographic space is part of the value
    "unicode_spaces": (
        RENTALS,
        {
            "r.csv": (
                f"{RENTAL_HEADER}\n{rental(1)[:-4]}\u00a012.50\n"
                f"R2,U1,V1,{TIMES},1,\u20031,5.00\nR3,U1,V1,{TIMES},\u30001,2,5.00\n"
                f"{rental(4)[:-4]} 12.50 \n"
            ).encode()
        },
        [
            ("r.csv", f"{rental(1)[:-4]}\u00a012.50", C.INVALID_AMOUNT),
            ("r.csv", f"R2,U1,V1,{TIMES},1,\u20031,5.00", C.INVALID_INTEGER),
            ("r.csv", f"R3,U1,V1,{TIMES},\u30001,2,5.00", C.INVALID_INTEGER),
            ("r.csv", f"{rental(4)[:-4]} 12.50 ", None),
        ],
    ),
}

#: quotes where a field does not simply start and end with one, in a file DuckDB reads and in one
#: it reads again line by line (an unterminated quote first): Spark's parser keeps `"U1"x` as
#: it is (MALFORMED_ROW: a stray quote) and drops the blank in `"U1" ,`
STRAY = [
    ('U"1', 'U"1', MALFORMED),
    ('"U1"x', '"U1"x', MALFORMED),
    ('"U1"', "U1", None),
    ('"U""1"', 'U"1', MALFORMED),
    ('"U1" ', "U1", None),
    ('""', None, None),
]


def stray_lines(first: int) -> list[str]:
    return [f"R{first + n},{field},{TAIL[3:]}" for n, (field, _, _) in enumerate(STRAY)]


def stray_rows(name: str, first: int) -> list[tuple[str, str, str | None]]:
    return [
        (name, f"R{first + n},{value or ''},{TAIL[3:]}", reason)
        for n, (_, value, reason) in enumerate(STRAY)
    ]


UNTERMINATED = f'R0,"{TAIL[:-4]}10.00'
CASES["stray_quotes"] = (
    RENTALS,
    {
        "a.csv": "\n".join([RENTAL_HEADER, *stray_lines(1), ""]).encode(),
        "b.csv": "\n".join([RENTAL_HEADER, UNTERMINATED, *stray_lines(11), ""]).encode(),
    },
    [*stray_rows("a.csv", 1), ("b.csv", UNTERMINATED, MALFORMED), *stray_rows("b.csv", 11)],
)
#: a dimension file is multi-line CSV on both engines: a quote that is never closed runs to the
#: end of the file, which becomes one record of too few fields
CASES["unterminated_quote_in_a_dimension"] = (
    LOCATIONS,
    {"l.csv": f'{LOCATION_HEADER}\n{location(1)}\n2,"{SITE}\n{location(3)}\n'.encode()},
    [("l.csv", location(1), None), ("l.csv", f'2,"{SITE}\n{location(3)}', MALFORMED)],
)
#: names Hadoop percent-encodes in Spark's file path (a space, '%', '#'; '+' it keeps): each
#: row names its file as written, and of two rows with one key the row of the file whose name
#: sorts last wins, by the name as written: "a!.csv" > "a b.csv" ('!' > ' '), where the encoded
#: "a%20b.csv" would sort last ('%' > '!')
OTHER_SITE = "1,Other,2 Elm St,Springfield,IL,62701,39.78,-89.65"
CASES["file_names_spark_encodes"] = (
    LOCATIONS,
    {
        "a b.csv": f"{LOCATION_HEADER}\n{location(1)}\n{location(2)}\n".encode(),
        "a!.csv": f"{LOCATION_HEADER}\n{OTHER_SITE}\n".encode(),
        "c+d%41#e.csv": f"{LOCATION_HEADER}\n{location(3)}\n".encode(),
    },
    [
        ("a!.csv", OTHER_SITE, None),
        ("a b.csv", location(1), C.DUPLICATE_KEY),
        ("a b.csv", location(2), None),
        ("c+d%41#e.csv", location(3), None),
    ],
)
#: the raw rows of some cases as read (file, rental_id, user_id, has a _corrupt_record)
FIELDS = {
    "stray_quotes": [
        *[("a.csv", f"R{1 + n}", value, False) for n, (_, value, _) in enumerate(STRAY)],
        ("b.csv", "R0", f"{TAIL[:-4]}10.00", True),
        *[("b.csv", f"R{11 + n}", value, False) for n, (_, value, _) in enumerate(STRAY)],
    ],
    "crlf_rentals_wrong_field_count": [
        ("r.csv", "R1", "U1", False),
        ("r.csv", "R91", "U1", True),
        ("r.csv", "R2", "U1", True),
    ],
}

DUCKDB_SCRIPT = """
import json, sys
from spark_ingest import duckdb_engine
duckdb_engine.activate()
from test_engine_parity import FIELDS, raw_fields, row_reasons
spark = duckdb_engine.duckdb_session()
out = {}
for case, args in json.loads(sys.argv[1]).items():
    try:
        out[case] = row_reasons(spark, *args)
        if case in FIELDS:
            out[f"{case}:fields"] = raw_fields(spark, *args)
    except Exception as exc:  # one case's failure, not every case's
        out[case] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


def row_reasons(spark, dataset: str, paths: list[str]) -> list[list]:
    """(file name, raw text, first row-level reason code) of every raw row, sorted."""
    from pyspark.sql import functions as F

    from spark_ingest.io import read_raw
    from spark_ingest.validate import annotate_dimension, parse_rentals, raw_record

    ds = C.CONTRACT[dataset]
    raw = read_raw(spark, ds, paths)
    parsed = parse_rentals(raw) if dataset == RENTALS else annotate_dimension(raw, ds)
    rows = parsed.select(
        C.SOURCE_FILE, raw_record(ds).alias("text"), F.col("reason_codes")
    ).collect()
    got = [
        [
            os.path.basename(row[C.SOURCE_FILE]),
            row["text"],
            (list(row["reason_codes"]) or [None])[0],
        ]
        for row in rows
    ]
    return sorted(got, key=json.dumps)


def raw_fields(spark, dataset: str, paths: list[str]) -> list[list]:
    """(file name, first column, second column, has a ``_corrupt_record``) of every raw row."""
    from spark_ingest.io import read_raw

    ds = C.CONTRACT[dataset]
    first, second = ds.column_names[:2]
    rows = read_raw(spark, ds, paths).collect()
    got = [
        [
            os.path.basename(row[C.SOURCE_FILE]),
            row[first],
            row[second],
            row[C.CORRUPT_RECORD] is not None,
        ]
        for row in rows
    ]
    return sorted(got, key=json.dumps)


def expected(case: str) -> list[list]:
    return sorted([list(row) for row in CASES[case][2]], key=json.dumps)


def write_case(root: Path, case: str) -> tuple[str, list[str]]:
    dataset, files, _ = CASES[case]
    folder = root / case
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return dataset, [str(folder / name) for name in files]


@pytest.fixture(scope="module")
def on_duckdb(tmp_path_factory) -> dict:
    """Every case read on the DuckDB engine, in one fresh Python (sqlframe is activated before
    the job code imports pyspark)."""
    root = tmp_path_factory.mktemp("parity")
    cases = {case: write_case(root, case) for case in CASES}
    tests = str(Path(__file__).parent)
    proc = subprocess.run(
        [sys.executable, "-c", DUCKDB_SCRIPT, json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]),
        },
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", sorted(CASES))
def test_duckdb_engine_reads_broken_files_as_written_by_hand(on_duckdb, case) -> None:
    assert on_duckdb[case] == expected(case)


@pytest.mark.parametrize("case", sorted(CASES))
def test_spark_reads_broken_files_as_written_by_hand(spark, tmp_path: Path, case) -> None:
    assert row_reasons(spark, *write_case(tmp_path, case)) == expected(case)


@pytest.mark.parametrize("case", sorted(FIELDS))
def test_duckdb_engine_splits_fields_as_written_by_hand(on_duckdb, case) -> None:
    assert on_duckdb[f"{case}:fields"] == sorted(
        [list(row) for row in FIELDS[case]], key=json.dumps
    )


@pytest.mark.parametrize("case", sorted(FIELDS))
def test_spark_splits_fields_as_written_by_hand(spark, tmp_path: Path, case) -> None:
    got = raw_fields(spark, *write_case(tmp_path, case))
    assert got == sorted([list(row) for row in FIELDS[case]], key=json.dumps)


LARGE_SCRIPT = """
import json, sys
from collections import Counter
from spark_ingest import duckdb_engine
duckdb_engine.activate()
from spark_ingest import contract as C
from spark_ingest.io import read_raw
from spark_ingest.validate import parse_rentals, raw_record
spark = duckdb_engine.duckdb_session()
ds = C.RENTAL_TRANSACTIONS
parsed = parse_rentals(read_raw(spark, ds, [sys.argv[1]]))
rows = parsed.select(raw_record(ds).alias("text"), "reason_codes").collect()
reasons = Counter((list(row["reason_codes"]) or ["VALID"])[0] for row in rows)
bad = [row["text"] for row in rows if list(row["reason_codes"])]
print(json.dumps({"reasons": reasons, "bad": bad}))
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_duckdb_engine_keeps_the_rows_after_an_unterminated_quote_in_a_large_file(
    tmp_path: Path,
) -> None:
    """Beyond DuckDB's first buffer (tens of MB) its reader reports an unterminated quote
    without the line and drops the rows after it (checked here on DuckDB alone): the engine
    reads such a file again line by line, so it is one MALFORMED_ROW and every other row is
    kept, as Spark reads it (the small ``unterminated_quote`` case holds Spark to that)."""
    import duckdb

    rows = 700_000  # about 47 MB
    path = tmp_path / "rentals.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write(f"{RENTAL_HEADER}\n{UNTERMINATED}\n")
        out.writelines(f"{rental(n)}\n" for n in range(1, rows + 1))
    columns = ", ".join(f"'{name}': 'VARCHAR'" for name in C.RENTAL_TRANSACTIONS.column_names)
    with duckdb.connect() as con:
        alone = con.execute(
            f"select count(*) from read_csv('{path}', header = true, auto_detect = false, "
            f"columns = {{{columns}}}, quote = '\"', escape = '\"', strict_mode = true, "
            "store_rejects = true)"
        ).fetchone()[0]
    assert alone < rows  # the precondition: DuckDB's reader alone loses rows
    proc = subprocess.run(
        [sys.executable, "-c", LARGE_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"reasons": {"VALID": rows, MALFORMED: 1}, "bad": [UNTERMINATED]}


LARGE_DIMENSION_SCRIPT = """
import json, sys
from spark_ingest import duckdb_engine
duckdb_engine.activate()
from spark_ingest import contract as C
from spark_ingest.errors import InputFileError
from spark_ingest.io import read_raw
spark = duckdb_engine.duckdb_session()
try:
    rows = read_raw(spark, C.CONTRACT["locations"], [sys.argv[1]]).count()
except InputFileError as exc:
    print(json.dumps({"error": exc.as_dict()}))
else:
    print(json.dumps({"rows": rows}))
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_duckdb_engine_stops_on_an_unterminated_quote_in_a_large_dimension_file(
    tmp_path: Path,
) -> None:
    """A dimension file is multi-line CSV, so it cannot be re-read line by line: where DuckDB's
    reader loses its place (an unterminated quote beyond its first buffer: it reports the quote
    on another line and drops rows without a reject; checked here on DuckDB alone), the job
    stops with an input-file error naming the file, instead of losing the rows. A small file
    with the same quote is one MALFORMED_ROW for the rest of the file (``unterminated`` cases)."""
    import duckdb

    rows = 700_000  # about 39 MB
    path = tmp_path / "locations.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write(f'{LOCATION_HEADER}\n{location(1)}\n2,"{SITE}\n')
        out.writelines(f"{location(n)}\n" for n in range(3, rows + 3))
    columns = ", ".join(f"'{name}': 'VARCHAR'" for name in C.CONTRACT["locations"].column_names)
    with duckdb.connect() as con:
        alone = con.execute(
            f"select count(*) from read_csv('{path}', header = true, auto_detect = false, "
            f"columns = {{{columns}}}, quote = '\"', escape = '\"', strict_mode = true, "
            "store_rejects = true)"
        ).fetchone()[0]
    assert 1 < alone < rows  # the precondition: DuckDB's reader alone loses rows
    proc = subprocess.run(
        [sys.executable, "-c", LARGE_DIMENSION_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["error"]["type"] == "InputFileError"
    assert got["error"]["file"] == str(path)
    assert "quote opened and not closed" in got["error"]["message"]


#: a row with bytes that are not UTF-8: MALFORMED_ROW on both engines (its text differs: Spark
#: reads U+FFFD for each bad byte, DuckDB "?"), the rows beside it valid
NOT_UTF8 = {
    RENTALS: (
        b"r.csv",
        f"{RENTAL_HEADER}\n{rental(1)}\n".encode() + b"R\xe9\xff2," + TAIL.encode(),
    ),
    LOCATIONS: (
        b"l.csv",
        f"{LOCATION_HEADER}\n{location(1)}\n".encode() + b"2,M\xe9\xffin,x,y,IL,1,2,3",
    ),
}
NOT_UTF8_EXPECTED = [["1", None], ["2", MALFORMED]]

NOT_UTF8_SCRIPT = """
import json, sys
from spark_ingest import duckdb_engine
duckdb_engine.activate()
from test_engine_parity import reasons_by_key
spark = duckdb_engine.duckdb_session()
print(json.dumps({ds: reasons_by_key(spark, ds, [path]) for ds, path in json.loads(sys.argv[1])}))
"""


def reasons_by_key(spark, dataset: str, paths: list[str]) -> list[list]:
    """(the digits of the row's key, its first reason code) of every raw row, sorted."""
    return sorted(
        [
            ["".join(ch for ch in text.split(",")[0] if ch.isdigit()), reason]
            for _, text, reason in row_reasons(spark, dataset, paths)
        ],
        key=json.dumps,
    )


def _write_not_utf8(root: Path) -> list[tuple[str, str]]:
    written = []
    for dataset, (name, data) in NOT_UTF8.items():
        folder = root / dataset
        folder.mkdir()
        (folder / name.decode()).write_bytes(data + b"\n")
        written.append((dataset, str(folder / name.decode())))
    return written


def test_duckdb_engine_quarantines_rows_that_are_not_utf8(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", NOT_UTF8_SCRIPT, json.dumps(_write_not_utf8(tmp_path))],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
            ),
        },
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {dataset: NOT_UTF8_EXPECTED for dataset in NOT_UTF8}


def test_spark_quarantines_rows_that_are_not_utf8(spark, tmp_path: Path) -> None:
    got = {ds: reasons_by_key(spark, ds, [path]) for ds, path in _write_not_utf8(tmp_path)}
    assert got == {dataset: NOT_UTF8_EXPECTED for dataset in NOT_UTF8}
