"""Hostile-input corpus: small raw files written at test time, plus the expected outcome of each.

Nothing here is committed as data: every case is a function that builds its files (bytes) on
demand, and :data:`CASES` declares what the Spark jobs must do with them (see the reason codes
and file-level rules in ``/work/plan/INTERFACES.md`` and the README table).

Two outcome classes:

* ``row`` -- a row-level defect (or a hostile but valid shape). Every case writes its own
  files named ``case_<name>[_n].csv[.gz]`` next to a clean ``base.csv`` in each dataset folder,
  so the quarantine rows of a case are found by ``source_file``; rental ids start with
  ``<name>-`` so its valid rows are found in ``rentals_fact``. ``expect`` gives, per dataset,
  the rows in, the valid rows and the rejected rows per reason code.
* ``file`` -- a file-level defect: the run must stop before touching any output, exit 3 and
  print a message naming the dataset, the file and the problem (``fragments``: every inner
  tuple must match at least one of its alternatives, case-insensitively).

Decisions the contract left open (documented in the README table as well):

* a UTF-8 byte-order mark is tolerated (stripped): the file is read normally;
* non-UTF-8 bytes inside a data row make that row ``MALFORMED_ROW`` (no silently replaced
  characters reach the outputs); in the header they stop the run;
* a ``.csv.gz`` that is not gzip, and a compression the jobs do not read (``.csv.bz2``),
  stop the run.

Usage: ``python tests/corpus/make_corpus.py OUT_DIR [--case NAME]`` writes the row-level lake
(or the lake of one case) into ``OUT_DIR``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

RENTAL_COLUMNS = (
    "rental_id",
    "user_id",
    "vehicle_id",
    "rental_start_time",
    "rental_end_time",
    "pickup_location",
    "dropoff_location",
    "total_amount",
)
VEHICLE_COLUMNS = (
    "active",
    "vehicle_license_number",
    "registration_name",
    "license_type",
    "expiration_date",
    "permit_license_number",
    "certification_date",
    "vehicle_year",
    "base_telematics_id",
    "vehicle_type",
    "brand",
    "vehicle_id",
)
LOCATION_COLUMNS = (
    "location_id",
    "location_name",
    "address",
    "city",
    "state",
    "zip_code",
    "latitude",
    "longitude",
)
USER_COLUMNS = (
    "user_id",
    "first_name",
    "last_name",
    "email",
    "phone_number",
    "driver_license_number",
    "driver_license_expiry",
    "creation_date",
    "is_active",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "vehicles": VEHICLE_COLUMNS,
    "locations": LOCATION_COLUMNS,
    "users": USER_COLUMNS,
    "rental_transactions": RENTAL_COLUMNS,
}
RENTALS = "rental_transactions"
ONE_MB = 1024 * 1024


@dataclass(frozen=True)
class RawFile:
    dataset: str
    name: str
    data: bytes


@dataclass(frozen=True)
class Expect:
    """Expected outcome for one dataset of a row-level case."""

    rows_in: int
    valid: int
    rejected: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    name: str
    level: str  # "row" or "file"
    description: str
    build: Callable[[], list[RawFile]]
    expect: dict[str, Expect] = field(default_factory=dict)
    #: rental_id -> {rentals_fact column: expected value}
    fact_checks: dict[str, dict[str, object]] = field(default_factory=dict)
    #: file-level: the dataset and file the message must name, and the problem fragments
    dataset: str = ""
    bad_file: str = ""
    fragments: tuple[tuple[str, ...], ...] = ()
    #: file-level: datasets whose folder is removed from the lake
    remove_datasets: tuple[str, ...] = ()


# --------------------------------------------------------------------------- helpers


def csv_bytes(
    header: Iterable[str] | None, rows: Iterable[Iterable[str]], eol: str = "\n"
) -> bytes:
    """Standard CSV (minimal quoting) encoded as UTF-8."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=eol, quoting=csv.QUOTE_MINIMAL)
    if header is not None:
        writer.writerow(list(header))
    for row in rows:
        writer.writerow(list(row))
    return buf.getvalue().encode("utf-8")


def header_line(dataset: str) -> bytes:
    return (",".join(COLUMNS[dataset]) + "\n").encode("utf-8")


def rental(
    rental_id: str,
    user: str = "U001",
    vehicle: str = "V001",
    start: str = "2024-03-01 10:00:00",
    end: str = "2024-03-01 12:00:00",
    pickup: str = "1",
    dropoff: str = "2",
    amount: str = "50.00",
) -> list[str]:
    return [rental_id, user, vehicle, start, end, pickup, dropoff, amount]


def vehicle(vehicle_id: str, vehicle_type: str = "economy", brand: str = "Toyota", n: int = 0):
    return [
        "1",
        f"LIC-{n:05d}",
        f"REGISTRANT {n}",
        "FOR HIRE VEHICLE",
        "2027-01-31",
        f"PERMIT-{n:05d}",
        "2020-05-01",
        "2019",
        f"B{n:05d}",
        vehicle_type,
        brand,
        vehicle_id,
    ]


def location(
    location_id: str, name: str = "Depot", city: str = "Austin", address: str = "1 Main St"
):
    return [location_id, name, address, city, "TX", "78701", "30.2672", "-97.7431"]


def user(user_id: str, first: str, last: str, n: int) -> list[str]:
    return [
        user_id,
        first,
        last,
        pii_email(n),
        pii_phone(n),
        pii_licence(n),
        "2028-06-30",
        "2023-01-15",
        "1",
    ]


def pii_email(n: int) -> str:
    return f"corpus.person{n:04d}@mail-corpus.example"


def pii_phone(n: int) -> str:
    return f"+1-202-555-{n:04d}"


def pii_licence(n: int) -> str:
    return f"DLCORPUS{n:06d}"


def rentals_file(name: str, rows: list[list[str]], eol: str = "\n") -> RawFile:
    return RawFile(RENTALS, name, csv_bytes(RENTAL_COLUMNS, rows, eol))


def dim_file(dataset: str, name: str, rows: list[list[str]]) -> RawFile:
    return RawFile(dataset, name, csv_bytes(COLUMNS[dataset], rows))


# --------------------------------------------------------------------------- clean base

BASE_VEHICLES = (("V001", "economy"), ("V002", "suv"), ("V003", "luxury"), ("V004", "van"))
BASE_LOCATIONS = ("1", "2", "3")
BASE_USERS = ("U001", "U002", "U003", "U004", "U005")
#: user numbers 900+ are used by the cases (their PII is generated the same way)
CASE_USER_NUMBERS = {
    "U_UNI1": 901,
    "U_UNI2": 902,
    "U_UNI3": 903,
    "U_DUP": 904,
    "U_BADDATE": 905,
    "U_NULLKEY": 906,
}


def base_files(n_rentals: int = 10, seed: int = 7) -> list[RawFile]:
    """A clean lake: 4 vehicles, 3 locations, 5 users and ``n_rentals`` valid rentals."""
    rng = random.Random(seed)
    vehicles = [vehicle(vid, vtype, n=i + 1) for i, (vid, vtype) in enumerate(BASE_VEHICLES)]
    locations = [
        location("1", "Airport Depot", "Austin", "1 Airport Rd"),
        location("2", "Downtown Hub", "Dallas", "200 Elm St"),
        location("3", "Harbour Point", "Houston", "3 Port Way"),
    ]
    first = ("Ada", "Grace", "Alan", "Edsger", "Barbara")
    last = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov")
    users = [user(uid, first[i], last[i], i + 1) for i, uid in enumerate(BASE_USERS)]
    rentals = []
    for i in range(n_rentals):
        day = 1 + i % 28
        start_h = rng.randrange(0, 20)
        hours = rng.randrange(0, 4)
        rentals.append(
            rental(
                f"base-r{i:06d}",
                user=rng.choice(BASE_USERS),
                vehicle=rng.choice(BASE_VEHICLES)[0],
                start=f"2024-02-{day:02d} {start_h:02d}:15:00",
                end=f"2024-02-{day:02d} {start_h + hours:02d}:45:00",
                pickup=rng.choice(BASE_LOCATIONS),
                dropoff=rng.choice(BASE_LOCATIONS),
                amount=f"{rng.randrange(100, 90000) / 100:.2f}",
            )
        )
    return [
        dim_file("vehicles", "base.csv", vehicles),
        dim_file("locations", "base.csv", locations),
        dim_file("users", "base.csv", users),
        rentals_file("base.csv", rentals),
    ]


# --------------------------------------------------------------------------- row-level cases


def _truncated_row() -> list[RawFile]:
    data = csv_bytes(RENTAL_COLUMNS, [rental("truncated_row-r1"), rental("truncated_row-r2")])
    data += b"truncated_row-r3,U001,V001,2024-03-01 10:00:00"  # cut off, no newline at EOF
    return [RawFile(RENTALS, "case_truncated_row.csv", data)]


def _extra_columns_row() -> list[RawFile]:
    rows = [rental("extra_columns_row-r1"), [*rental("extra_columns_row-r2"), "surprise"]]
    return [rentals_file("case_extra_columns_row.csv", rows)]


def _header_only() -> list[RawFile]:
    return [RawFile(RENTALS, "case_header_only.csv", header_line(RENTALS))]


def _bom() -> list[RawFile]:
    body = csv_bytes(RENTAL_COLUMNS, [rental("bom-r1"), rental("bom-r2", amount="12.30")])
    return [RawFile(RENTALS, "case_bom.csv", b"\xef\xbb\xbf" + body)]


def _crlf() -> list[RawFile]:
    rows = [rental("crlf-r1", amount="12.30"), rental("crlf-r2"), rental("crlf-r3", amount="7")]
    return [rentals_file("case_crlf.csv", rows, eol="\r\n")]


def _quoted_commas() -> list[RawFile]:
    loc = location("101", "Depot, North", "Dublin", address="1 Quay St, Unit 4")
    quoted = csv.writer(out := io.StringIO(), quoting=csv.QUOTE_ALL, lineterminator="\n")
    quoted.writerow(RENTAL_COLUMNS)
    quoted.writerow(rental("quoted_commas-r1", pickup="101", dropoff="1", amount="99.95"))
    return [
        dim_file("locations", "case_quoted_commas.csv", [loc]),
        RawFile(RENTALS, "case_quoted_commas.csv", out.getvalue().encode()),
    ]


def _embedded_newlines() -> list[RawFile]:
    loc = location("102", "Line\nBreak Depot", "Boston", address="Dock 7\nWarehouse B")
    return [
        dim_file("locations", "case_embedded_newlines.csv", [loc]),
        rentals_file("case_embedded_newlines.csv", [rental("embedded_newlines-r1", pickup="102")]),
    ]


def _non_utf8_row() -> list[RawFile]:
    data = csv_bytes(RENTAL_COLUMNS, [rental("non_utf8_row-r1")])
    data += b"non_utf8_row-r\xe9\xff2,U001,V001,2024-03-01 10:00:00,2024-03-01 12:00:00,1,2,5.00\n"
    return [RawFile(RENTALS, "case_non_utf8_row.csv", data)]


def _unicode_names() -> list[RawFile]:
    n = CASE_USER_NUMBERS
    users = [
        user("U_UNI1", "Zoë", "Ó'Brien-Łukasiewicz", n["U_UNI1"]),
        user("U_UNI2", "李", "小龍", n["U_UNI2"]),
        user("U_UNI3", "🚗 Ñandú", "Ångström", n["U_UNI3"]),
    ]
    locs = [location("103", "São Paulo \u2013 Centro", "Zürich")]
    rentals = [
        rental("unicode_names-r1", user="U_UNI1", pickup="103"),
        rental("unicode_names-r2", user="U_UNI2"),
        rental("unicode_names-r3", user="U_UNI3"),
    ]
    return [
        dim_file("users", "case_unicode_names.csv", users),
        dim_file("locations", "case_unicode_names.csv", locs),
        rentals_file("case_unicode_names.csv", rentals),
    ]


def _long_field() -> list[RawFile]:
    loc = location("104", "Long Address Depot", "Austin", address="A" * ONE_MB)
    rows = [rental("long_field-r1", pickup="104"), rental("long_field-r2", user="X" * ONE_MB)]
    return [
        dim_file("locations", "case_long_field.csv", [loc]),
        rentals_file("case_long_field.csv", rows),
    ]


def _bad_timestamp() -> list[RawFile]:
    rows = [
        rental("bad_timestamp-r1"),
        rental("bad_timestamp-r2", start="2024-13-45 99:00:00"),
        rental("bad_timestamp-r3", start="yesterday"),
        rental("bad_timestamp-r4", end="2024/03/01 12:00:00"),
        rental("bad_timestamp-r5", start="2024-03-01"),
    ]
    return [rentals_file("case_bad_timestamp.csv", rows)]


def _timezone_suffix() -> list[RawFile]:
    rows = [
        rental("timezone_suffix-r1", start="2024-03-01 10:00:00Z"),
        rental("timezone_suffix-r2", start="2024-03-01T10:00:00+02:00"),
        rental("timezone_suffix-r3", start="2024-03-01 10:00:00 UTC"),
        rental("timezone_suffix-r4", end="2024-03-01 12:00:00+00:00"),
    ]
    return [rentals_file("case_timezone_suffix.csv", rows)]


def _end_before_start() -> list[RawFile]:
    rows = [
        rental("end_before_start-r1"),
        rental("end_before_start-r2", start="2024-03-02 10:00:00", end="2024-03-02 09:59:59"),
    ]
    return [rentals_file("case_end_before_start.csv", rows)]


def _zero_length() -> list[RawFile]:
    row = rental("zero_length-r1", start="2024-03-03 08:00:00", end="2024-03-03 08:00:00")
    return [rentals_file("case_zero_length.csv", [row])]


def _amount_rows(case: str, amounts: list[str]) -> list[RawFile]:
    rows = [rental(f"{case}-r{i + 1}", amount=a) for i, a in enumerate(amounts)]
    return [rentals_file(f"case_{case}.csv", rows)]


def _sql_strings() -> list[RawFile]:
    locs = [location("106", "O'Hare; DROP TABLE users; --", "Chicago", address='5 "Quoted" Rd')]
    rows = [rental("sql_strings-r1'); DROP TABLE rentals_fact; --", pickup="106")]
    return [
        dim_file("locations", "case_sql_strings.csv", locs),
        rentals_file("case_sql_strings.csv", rows),
    ]


def _null_keys() -> list[RawFile]:
    data = header_line(RENTALS)
    data += b"null_keys-r1,U001,V001,2024-03-01 10:00:00,2024-03-01 12:00:00,1,2,5.00\n"
    data += b",U001,V001,2024-03-01 10:00:00,2024-03-01 12:00:00,1,2,6.00\n"
    data += b"   ,U002,V001,2024-03-01 10:00:00,2024-03-01 12:00:00,1,2,7.00\n"
    data += b'"",U003,V001,2024-03-01 10:00:00,2024-03-01 12:00:00,1,2,8.00\n'
    data += b'"\t ",U004,V001,2024-03-01 10:00:00,2024-03-01 12:00:00,1,2,9.00\n'
    users = [
        user("", "Null", "Key", CASE_USER_NUMBERS["U_NULLKEY"]),
        user("   ", "Blank", "Key", CASE_USER_NUMBERS["U_NULLKEY"] + 50),
    ]
    vehicles = [vehicle("  ", n=906)]
    return [
        RawFile(RENTALS, "case_null_keys.csv", data),
        dim_file("users", "case_null_keys.csv", users),
        dim_file("vehicles", "case_null_keys.csv", vehicles),
    ]


def _dup_identical() -> list[RawFile]:
    row = rental("dup_identical-r1", amount="33.00")
    return [rentals_file("case_dup_identical.csv", [row, row, rental("dup_identical-r2")])]


def _dup_different() -> list[RawFile]:
    return [
        rentals_file("case_dup_different_1.csv", [rental("dup_different-r1", amount="10.00")]),
        rentals_file("case_dup_different_2.csv", [rental("dup_different-r1", amount="20.00")]),
    ]


def _orphans() -> list[RawFile]:
    bad_user = user("U_BADDATE", "Bad", "Date", CASE_USER_NUMBERS["U_BADDATE"])
    bad_user[USER_COLUMNS.index("creation_date")] = "not-a-date"
    rows = [
        rental("orphans-r1", user="U404"),
        rental("orphans-r2", vehicle="V404"),
        rental("orphans-r3", pickup="404"),
        rental("orphans-r4", dropoff="405"),
        rental("orphans-r5", user="U_BADDATE"),  # refers to a quarantined user
    ]
    return [
        dim_file("users", "case_orphans.csv", [bad_user]),
        rentals_file("case_orphans.csv", rows),
    ]


def _dup_dim_keys() -> list[RawFile]:
    n = CASE_USER_NUMBERS["U_DUP"]
    return [
        dim_file("users", "case_dup_dim_keys_1.csv", [user("U_DUP", "First", "Copy", n)]),
        dim_file("users", "case_dup_dim_keys_2.csv", [user("U_DUP", "Second", "Copy", n)]),
        dim_file("locations", "case_dup_dim_keys_1.csv", [location("105", "Old Depot")]),
        dim_file("locations", "case_dup_dim_keys_2.csv", [location("105", "New Depot")]),
        dim_file("vehicles", "case_dup_dim_keys_1.csv", [vehicle("V_DUP", "economy", n=905)]),
        dim_file("vehicles", "case_dup_dim_keys_2.csv", [vehicle("V_DUP", "luxury", n=905)]),
        rentals_file(
            "case_dup_dim_keys.csv",
            [
                rental("dup_dim_keys-r1", user="U_DUP", vehicle="V_DUP", pickup="105"),
                rental("dup_dim_keys-r2", user="U_DUP", vehicle="V_DUP", dropoff="105"),
            ],
        ),
    ]


def _dim_bad_types() -> list[RawFile]:
    bad_year = vehicle("V_BADYEAR", n=907)
    bad_year[VEHICLE_COLUMNS.index("vehicle_year")] = "20x4"
    bad_active = vehicle("V_BADACTIVE", n=908)
    bad_active[VEHICLE_COLUMNS.index("active")] = "maybe"
    bad_date = vehicle("V_BADDATE", n=909)
    bad_date[VEHICLE_COLUMNS.index("expiration_date")] = "31/12/2027"
    bad_type = vehicle("V_BADTYPE", vehicle_type="Minivan", n=910)
    bad_lat = location("107", "Nowhere")
    bad_lat[LOCATION_COLUMNS.index("latitude")] = "north"
    bad_id = location("1O8", "Letter O Depot")
    rows = [
        rental("dim_bad_types-r1", vehicle="V_BADYEAR"),
        rental("dim_bad_types-r2", pickup="107"),
        rental("dim_bad_types-r3", vehicle="V_BADTYPE"),
    ]
    return [
        dim_file("vehicles", "case_dim_bad_types.csv", [bad_year, bad_active, bad_date, bad_type]),
        dim_file("locations", "case_dim_bad_types.csv", [bad_lat, bad_id]),
        rentals_file("case_dim_bad_types.csv", rows),
    ]


def _gzip() -> list[RawFile]:
    rows = [rental("gzip-r1"), rental("gzip-r2", amount="1.05"), rental("gzip-r3")]
    data = gzip.compress(csv_bytes(RENTAL_COLUMNS, rows), mtime=0)
    return [RawFile(RENTALS, "case_gzip.csv.gz", data)]


def _r(n: int, valid: int, **rejected: int) -> Expect:
    return Expect(rows_in=n, valid=valid, rejected=dict(rejected))


ROW_CASES: list[Case] = [
    Case(
        "truncated_row",
        "row",
        "last line cut off mid-row (4 of 8 fields, no newline at EOF)",
        _truncated_row,
        {RENTALS: _r(3, 2, MALFORMED_ROW=1)},
    ),
    Case(
        "extra_columns_row",
        "row",
        "a data row with 9 fields under an 8-column header",
        _extra_columns_row,
        {RENTALS: _r(2, 1, MALFORMED_ROW=1)},
    ),
    Case(
        "header_only",
        "row",
        "header row and no data (valid, 0 rows)",
        _header_only,
        {RENTALS: _r(0, 0)},
    ),
    Case(
        "bom",
        "row",
        "UTF-8 byte-order mark before the header (tolerated)",
        _bom,
        {RENTALS: _r(2, 2)},
        fact_checks={"bom-r2": {"total_amount": Decimal("12.30")}},
    ),
    Case(
        "crlf",
        "row",
        "Windows CRLF line endings",
        _crlf,
        {RENTALS: _r(3, 3)},
        fact_checks={
            "crlf-r1": {"total_amount": Decimal("12.30")},
            "crlf-r3": {"total_amount": Decimal("7.00")},
        },
    ),
    Case(
        "quoted_commas",
        "row",
        "quoted fields containing commas (location name/address; all-quoted rental row)",
        _quoted_commas,
        {"locations": _r(1, 1), RENTALS: _r(1, 1)},
        fact_checks={
            "quoted_commas-r1": {
                "pickup_location_name": "Depot, North",
                "pickup_city": "Dublin",
                "total_amount": Decimal("99.95"),
            }
        },
    ),
    Case(
        "embedded_newlines",
        "row",
        "quoted location name and address containing newlines (one record each)",
        _embedded_newlines,
        {"locations": _r(1, 1), RENTALS: _r(1, 1)},
        fact_checks={"embedded_newlines-r1": {"pickup_location_name": "Line\nBreak Depot"}},
    ),
    Case(
        "non_utf8_row",
        "row",
        "invalid UTF-8 bytes inside a data row -> MALFORMED_ROW (decision)",
        _non_utf8_row,
        {RENTALS: _r(2, 1, MALFORMED_ROW=1)},
    ),
    Case(
        "unicode_names",
        "row",
        "accents, CJK and emoji in user and location names",
        _unicode_names,
        {"users": _r(3, 3), "locations": _r(1, 1), RENTALS: _r(3, 3)},
        fact_checks={
            "unicode_names-r1": {
                "pickup_location_name": "São Paulo \u2013 Centro",
                "pickup_city": "Zürich",
            }
        },
    ),
    Case(
        "long_field",
        "row",
        "1 MB address (valid) and a 1 MB user id (orphan)",
        _long_field,
        {"locations": _r(1, 1), RENTALS: _r(2, 1, ORPHAN_USER=1)},
        fact_checks={"long_field-r1": {"pickup_location_name": "Long Address Depot"}},
    ),
    Case(
        "bad_timestamp",
        "row",
        "impossible, free-text, slash-separated and date-only timestamps",
        _bad_timestamp,
        {RENTALS: _r(5, 1, INVALID_TIMESTAMP=4)},
    ),
    Case(
        "timezone_suffix",
        "row",
        "timestamps with Z, +02:00, ' UTC' and an ISO 'T' (all invalid)",
        _timezone_suffix,
        {RENTALS: _r(4, 0, INVALID_TIMESTAMP=4)},
    ),
    Case(
        "end_before_start",
        "row",
        "rental_end_time one second before rental_start_time",
        _end_before_start,
        {RENTALS: _r(2, 1, END_BEFORE_START=1)},
    ),
    Case(
        "zero_length",
        "row",
        "rental_end_time == rental_start_time (valid, 0 hours)",
        _zero_length,
        {RENTALS: _r(1, 1)},
        fact_checks={"zero_length-r1": {"rental_duration_hours": 0.0}},
    ),
    Case(
        "negative_amount",
        "row",
        "total_amount -0.01 and -50.00",
        lambda: _amount_rows("negative_amount", ["-0.01", "-50.00", "0.00"]),
        {RENTALS: _r(3, 1, NEGATIVE_AMOUNT=2)},
        fact_checks={"negative_amount-r3": {"total_amount": Decimal("0.00")}},
    ),
    Case(
        "non_numeric_amount",
        "row",
        "total_amount 'abc', '12,50', 'NaN', '$10.00'",
        lambda: _amount_rows("non_numeric_amount", ["abc", "12,50", "NaN", "$10.00"]),
        {RENTALS: _r(4, 0, INVALID_AMOUNT=4)},
    ),
    Case(
        "empty_amount",
        "row",
        "total_amount empty",
        lambda: _amount_rows("empty_amount", [""]),
        {RENTALS: _r(1, 0, INVALID_AMOUNT=1)},
    ),
    Case(
        "very_large_amount",
        "row",
        "total_amount 10^10 and 10^23 (invalid); 9999999999.99 (largest valid)",
        lambda: _amount_rows(
            "very_large_amount", ["10000000000.00", "99999999999999999999999.00", "9999999999.99"]
        ),
        {RENTALS: _r(3, 1, INVALID_AMOUNT=2)},
        fact_checks={"very_large_amount-r3": {"total_amount": Decimal("9999999999.99")}},
    ),
    Case(
        "too_many_decimals",
        "row",
        "total_amount 10.123 and 0.001 (invalid); 10.1 and 10 (valid)",
        lambda: _amount_rows("too_many_decimals", ["10.123", "0.001", "10.1", "10"]),
        {RENTALS: _r(4, 2, INVALID_AMOUNT=2)},
        fact_checks={
            "too_many_decimals-r3": {"total_amount": Decimal("10.10")},
            "too_many_decimals-r4": {"total_amount": Decimal("10.00")},
        },
    ),
    Case(
        "null_keys",
        "row",
        "empty, blank, quoted-empty and tab rental ids; empty/blank user and vehicle keys",
        _null_keys,
        {
            RENTALS: _r(5, 1, NULL_KEY=4),
            "users": _r(2, 0, NULL_KEY=2),
            "vehicles": _r(1, 0, NULL_KEY=1),
        },
    ),
    Case(
        "dup_identical",
        "row",
        "the same rental row twice",
        _dup_identical,
        {RENTALS: _r(3, 2, DUPLICATE_KEY=1)},
        fact_checks={"dup_identical-r1": {"total_amount": Decimal("33.00")}},
    ),
    Case(
        "dup_different",
        "row",
        "one rental id in two files with different amounts; the greater file name wins",
        _dup_different,
        {RENTALS: _r(2, 1, DUPLICATE_KEY=1)},
        fact_checks={"dup_different-r1": {"total_amount": Decimal("20.00")}},
    ),
    Case(
        "orphans",
        "row",
        "unknown user, vehicle, pickup and dropoff; a user that is itself quarantined",
        _orphans,
        {
            "users": _r(1, 0, INVALID_DATE=1),
            RENTALS: _r(
                5,
                0,
                ORPHAN_USER=2,
                ORPHAN_VEHICLE=1,
                ORPHAN_PICKUP_LOCATION=1,
                ORPHAN_DROPOFF_LOCATION=1,
            ),
        },
    ),
    Case(
        "dup_dim_keys",
        "row",
        "user, vehicle and location keys each in two files; the greater file name wins",
        _dup_dim_keys,
        {
            "users": _r(2, 1, DUPLICATE_KEY=1),
            "locations": _r(2, 1, DUPLICATE_KEY=1),
            "vehicles": _r(2, 1, DUPLICATE_KEY=1),
            RENTALS: _r(2, 2),
        },
        fact_checks={
            "dup_dim_keys-r1": {"pickup_location_name": "New Depot", "vehicle_type": "luxury"},
            "dup_dim_keys-r2": {"dropoff_location_name": "New Depot"},
        },
    ),
    Case(
        "dim_bad_types",
        "row",
        "vehicle_year, active, a date, latitude and an integer key that do not parse; a "
        "vehicle_type outside the list",
        _dim_bad_types,
        {
            "vehicles": _r(
                4, 0, INVALID_INTEGER=1, INVALID_BOOLEAN=1, INVALID_DATE=1, INVALID_VALUE=1
            ),
            "locations": _r(2, 0, INVALID_INTEGER=1, INVALID_NUMBER=1),
            RENTALS: _r(3, 0, ORPHAN_VEHICLE=2, ORPHAN_PICKUP_LOCATION=1),
        },
    ),
    Case(
        "sql_strings",
        "row",
        "quotes and SQL fragments in ids and names (valid, stored verbatim)",
        _sql_strings,
        {"locations": _r(1, 1), RENTALS: _r(1, 1)},
        fact_checks={
            "sql_strings-r1'); DROP TABLE rentals_fact; --": {
                "pickup_location_name": "O'Hare; DROP TABLE users; --"
            }
        },
    ),
    Case(
        "gzip",
        "row",
        "a gzip-compressed rental_transactions file named .csv.gz",
        _gzip,
        {RENTALS: _r(3, 3)},
        fact_checks={"gzip-r2": {"total_amount": Decimal("1.05")}},
    ),
]


# --------------------------------------------------------------------------- file-level cases


def _bad_rentals(name: str, data: bytes) -> Callable[[], list[RawFile]]:
    return lambda: [RawFile(RENTALS, name, data)]


_ROW = b"f1,U001,V001,2024-03-01 10:00:00,2024-03-01 12:00:00,1,2,5.00\n"
_HEADER = ",".join(RENTAL_COLUMNS)

FILE_CASES: list[Case] = [
    Case(
        "missing_column_header",
        "file",
        "header without total_amount",
        _bad_rentals(
            "case_missing_column_header.csv",
            (_HEADER.replace(",total_amount", "") + "\n").encode()
            + b"f1,U001,V001,2024-03-01 10:00:00,2024-03-01 12:00:00,1,2\n",
        ),
        dataset=RENTALS,
        bad_file="case_missing_column_header.csv",
        fragments=(("missing", "absent", "not found"), ("total_amount",)),
    ),
    Case(
        "renamed_header",
        "file",
        "user_id renamed to customer_id",
        _bad_rentals(
            "case_renamed_header.csv",
            (_HEADER.replace("user_id", "customer_id") + "\n").encode() + _ROW,
        ),
        dataset=RENTALS,
        bad_file="case_renamed_header.csv",
        fragments=(("missing", "renamed", "customer_id"), ("user_id", "customer_id")),
    ),
    Case(
        "reordered_header",
        "file",
        "user_id and vehicle_id swapped in the header",
        _bad_rentals(
            "case_reordered_header.csv",
            (_HEADER.replace("user_id,vehicle_id", "vehicle_id,user_id") + "\n").encode() + _ROW,
        ),
        dataset=RENTALS,
        bad_file="case_reordered_header.csv",
        fragments=(("order",),),
    ),
    Case(
        "extra_column_header",
        "file",
        "an extra 'notes' column in the header (and rows)",
        _bad_rentals(
            "case_extra_column_header.csv",
            (_HEADER + ",notes\n").encode() + _ROW.replace(b"\n", b",hello\n"),
        ),
        dataset=RENTALS,
        bad_file="case_extra_column_header.csv",
        fragments=(("notes",),),
    ),
    Case(
        "empty_file",
        "file",
        "a 0-byte file",
        _bad_rentals("case_empty_file.csv", b""),
        dataset=RENTALS,
        bad_file="case_empty_file.csv",
        fragments=(("empty", "0 bytes"),),
    ),
    Case(
        "semicolon_delimiter",
        "file",
        "';' used as the delimiter",
        _bad_rentals(
            "case_semicolon_delimiter.csv",
            (_HEADER.replace(",", ";") + "\n").encode() + _ROW.replace(b",", b";"),
        ),
        dataset=RENTALS,
        bad_file="case_semicolon_delimiter.csv",
        fragments=(("delimiter", "separator"),),
    ),
    Case(
        "non_utf8_header",
        "file",
        "invalid UTF-8 bytes in the header",
        _bad_rentals(
            "case_non_utf8_header.csv",
            _HEADER.replace("user_id", "user_\xff\xfeid").encode("latin-1") + b"\n" + _ROW,
        ),
        dataset=RENTALS,
        bad_file="case_non_utf8_header.csv",
        fragments=(("utf-8", "utf8", "encoding", "decode"),),
    ),
    Case(
        "corrupt_gzip",
        "file",
        "a .csv.gz that is not gzip data",
        _bad_rentals("case_corrupt_gzip.csv.gz", (_HEADER + "\n").encode() + _ROW),
        dataset=RENTALS,
        bad_file="case_corrupt_gzip.csv.gz",
        fragments=(("gzip", "compress", "corrupt"),),
    ),
    Case(
        "unsupported_compression",
        "file",
        "a .csv.bz2 file (only .csv and .csv.gz are read)",
        _bad_rentals("case_unsupported_compression.csv.bz2", b"BZh91AY&SY not really bzip2\n"),
        dataset=RENTALS,
        bad_file="case_unsupported_compression.csv.bz2",
        fragments=(("compress", "unsupported"),),
    ),
    Case(
        "missing_dataset",
        "file",
        "the locations folder is missing",
        lambda: [],
        dataset="locations",
        bad_file="locations",
        fragments=(("missing", "not found", "no file", "no such", "does not exist"),),
        remove_datasets=("locations",),
    ),
    Case(
        "dim_missing_column",
        "file",
        "users header without email",
        lambda: [
            RawFile(
                "users",
                "case_dim_missing_column.csv",
                (",".join(c for c in USER_COLUMNS if c != "email") + "\n").encode()
                + b"U9,A,B,+1,DL,2028-01-01,2023-01-01,1\n",
            )
        ],
        dataset="users",
        bad_file="case_dim_missing_column.csv",
        fragments=(("missing", "absent", "not found"), ("email",)),
    ),
]

CASES: dict[str, Case] = {case.name: case for case in [*ROW_CASES, *FILE_CASES]}


# --------------------------------------------------------------------------- writers


def write_files(lake_dir: str | Path, files: Iterable[RawFile]) -> None:
    for raw in files:
        folder = Path(lake_dir) / "data" / "raw" / raw.dataset
        folder.mkdir(parents=True, exist_ok=True)
        (folder / raw.name).write_bytes(raw.data)


def write_base_lake(lake_dir: str | Path, n_rentals: int = 10) -> list[RawFile]:
    files = base_files(n_rentals)
    write_files(lake_dir, files)
    return files


def write_row_level_lake(lake_dir: str | Path, names: Iterable[str] | None = None) -> list[Case]:
    """Base files plus every (or the named) row-level case, each in its own files."""
    write_base_lake(lake_dir)
    chosen = [c for c in ROW_CASES if names is None or c.name in set(names)]
    for case in chosen:
        write_files(lake_dir, case.build())
    return chosen


def write_file_level_lake(lake_dir: str | Path, name: str) -> Case:
    """Base files plus the one broken file of a file-level case."""
    case = CASES[name]
    assert case.level == "file", name
    write_base_lake(lake_dir)
    write_files(lake_dir, case.build())
    for dataset in case.remove_datasets:
        folder = Path(lake_dir) / "data" / "raw" / dataset
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
    return case


def case_files(case: Case) -> dict[str, set[str]]:
    """dataset -> the file names a case writes."""
    out: dict[str, set[str]] = {}
    for raw in case.build():
        out.setdefault(raw.dataset, set()).add(raw.name)
    return out


def base_rows_in(n_rentals: int = 10) -> dict[str, int]:
    return {
        "vehicles": len(BASE_VEHICLES),
        "locations": len(BASE_LOCATIONS),
        "users": len(BASE_USERS),
        RENTALS: n_rentals,
    }


def all_pii() -> list[str]:
    """Every email, phone number and driver licence number the corpus writes."""
    numbers = [*range(1, len(BASE_USERS) + 1), *CASE_USER_NUMBERS.values()]
    numbers.append(CASE_USER_NUMBERS["U_NULLKEY"] + 50)
    return [f(n) for n in numbers for f in (pii_email, pii_phone, pii_licence)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--case", help="write the lake of one case (default: all row-level cases)")
    args = parser.parse_args(argv)
    if args.case and CASES[args.case].level == "file":
        write_file_level_lake(args.out_dir, args.case)
    elif args.case:
        write_row_level_lake(args.out_dir, [args.case])
    else:
        write_row_level_lake(args.out_dir)
    print(args.out_dir)


if __name__ == "__main__":
    main()
