"""Deterministic, realistic sample data for the raw lake layout (``carrental generate``).

Writes the four raw datasets of the contract in ``INTERFACES.md``::

    <lake>/data/raw/vehicles/vehicles.csv
    <lake>/data/raw/locations/locations.csv
    <lake>/data/raw/users/users.csv
    <lake>/data/raw/rental_transactions/rental_transactions.csv   (--split none)
    <lake>/data/raw/rental_transactions/rentals_YYYY-MM-DD.csv    (--split daily / --append-day)
    <lake>/generator_manifest.json                                (sidecar, see below)

Determinism
    Every random draw comes from ``numpy.random.default_rng([seed, stream, ...])`` with a
    fixed stream per dataset and per rental chunk (chunks are a fixed 250,000 rows), so the
    same arguments and seed give byte-identical files on any machine. Files end in ``\\n``,
    are UTF-8 without BOM, and use csv minimal quoting.

Realism
    Zipf-like popularity of locations (s=1.1), vehicles (s=0.8) and users (s=0.6); rentals per
    day follow a weekly profile (Friday/Saturday busiest) times a yearly wave; start hours
    follow a weekday (commute peaks) or weekend (late-morning peak) profile; durations are
    log-normal (median 3 h, clipped to 5 min .. 14 days); 70 % of rentals return to the pickup
    location. ``total_amount`` = (booking fee + full days x day rate + min(hours x hourly rate,
    day rate)) x a per-vehicle factor x 1.1 on Fridays/Saturdays, in whole cents, where the
    rates depend on ``vehicle_type`` (economy, compact, midsize, suv, luxury, van). About 8 %
    of vehicles and 10 % of users are inactive; their rentals are still valid.

Sizes and keys
    For N rentals: vehicles = clamp(N // 40, 50, 20,000), locations = clamp(round(sqrt(N) / 2),
    20, 300), users = clamp(N // 10, 100, 300,000). Keys are vehicles ``V000001`` .. ``V{n:06d}``,
    users ``U0000001`` .. ``U{n:07d}``, locations ``1`` .. ``n``: each is a VALID dimension row
    and clean rentals only reference these keys. ``rental_id`` is
    ``R<YYYYMMDD of its day>-<8-digit sequence within that day>`` (e.g. ``R20240101-00000001``),
    unique by construction, also across ``--append-day`` files (which must be new days). Rows
    are in start-time order within each 250k-row chunk. Rentals are built column-wise with
    numpy + pyarrow.compute and streamed to disk chunk by chunk (memory stays flat at 10M).

Dirty data (``--dirty-fraction F``, 0 < F <= 0.5)
    D = max(round(F x N), 19) rental rows (N = ``--transactions``) are replaced by a defect
    row; the 19 kinds below are dealt round-robin (then shuffled), so each kind gets D // 19 or
    D // 19 + 1 rows. Each defect row carries exactly ONE defect and is otherwise a valid rental
    with a unique id, so its primary reason code is unambiguous:

    ====================== ======================= =============================================
    kind                   expected reason_code    row
    ====================== ======================= =============================================
    truncated              MALFORMED_ROW           only the first 6 of 8 fields
    extra_fields           MALFORMED_ROW           10 fields (two trailing extras)
    empty_rental_id        NULL_KEY                rental_id is the empty string
    whitespace_rental_id   NULL_KEY                rental_id is three spaces
    non_integer_location   INVALID_INTEGER         pickup or dropoff is ``12a``/``3.5``/``twelve``
    unparseable_timestamp  INVALID_TIMESTAMP       start or end is e.g. ``2024-13-05 10:00:00``
    timezone_timestamp     INVALID_TIMESTAMP       start or end has ``Z``/``+02:00``/`` UTC``
    end_before_start       END_BEFORE_START        end = start - (1 min .. 5 h)
    negative_amount        NEGATIVE_AMOUNT         ``-12.34`` (2 decimals)
    non_numeric_amount     INVALID_AMOUNT          ``N/A``/``twelve``/``1.2.3``
    three_decimals         INVALID_AMOUNT          e.g. ``45.125``
    huge_amount            INVALID_AMOUNT          ``10000000000.00`` (= 10^10) or larger
    orphan_user            ORPHAN_USER             user id not among the VALID users (see below)
    orphan_vehicle         ORPHAN_VEHICLE          vehicle id not among the VALID vehicles
    orphan_pickup          ORPHAN_PICKUP_LOCATION  integer location id not among VALID locations
    orphan_dropoff         ORPHAN_DROPOFF_LOCATION integer location id not among VALID locations
    duplicate_identical    DUPLICATE_KEY           byte-identical copy of the clean row before it
    duplicate_different    DUPLICATE_KEY           copy of the clean row before it, amount +1.00
    zero_length            (valid)                 end == start, amount = booking fee x factors
    ====================== ======================= =============================================

    Orphans: the odd-numbered ones use an id absent from the dimension file (valid range +
    500,000); when the dimensions are dirty, the even-numbered ones use the well-formed key of
    a REJECTED dimension row (``dimensions.<ds>.rejected_keys`` in the sidecar: vehicles with
    a bad year/date/boolean/type, users with a bad date/boolean, locations with a bad latitude),
    which must count as an orphan because only VALID dimension rows can be referenced.

    Positions: with stride s = N // D, defect k sits at row k*s + 1 + r (0 <= r <= s - 2), so
    the row just before a defect is never a defect. Duplicates copy that preceding row (possibly
    the last row of the previous chunk or, with ``--split daily``, of the previous day's file,
    in which case the copy sits in the later file); no row is copied twice, so each pair holds
    exactly two otherwise-valid rows with one key: exactly ONE of the two is expected in
    quarantine as DUPLICATE_KEY whichever copy the keep rule keeps (only the kept amount of a
    ``duplicate_different`` pair depends on the rule). Valid rentals = N - (defect rows except
    zero_length), and the set of valid rental_ids is the same under any keep rule.

    Dimensions get, per dataset, k = max(1, min(50, round(F x rows / 5))) rows of each kind
    below, appended after the clean rows (keys of invalid rows are fresh and never referenced):

    * all three: ``duplicate_identical`` / ``duplicate_different`` -> DUPLICATE_KEY (the copied
      key stays valid either way; "different" changes a non-key, non-analytic column:
      vehicles.base_telematics_id, locations.address, users.phone_number);
      ``null_key`` (empty or whitespace key) -> NULL_KEY; ``malformed`` (a field too few or
      too many) -> MALFORMED_ROW.
    * vehicles: ``invalid_integer`` (vehicle_year ``20X9``) -> INVALID_INTEGER,
      ``invalid_date`` (expiration_date ``2026-13-01`` / ``31/12/2026``) -> INVALID_DATE,
      ``invalid_boolean`` (active ``yes``) -> INVALID_BOOLEAN,
      ``invalid_vehicle_type`` (vehicle_type ``SUV``, empty or ``truck``) -> INVALID_VALUE.
    * locations: ``invalid_integer`` (location_id ``12B``) -> INVALID_INTEGER,
      ``invalid_number`` (latitude ``N/A``) -> INVALID_NUMBER.
    * users: ``invalid_date`` (creation_date ``2023/02/10``) -> INVALID_DATE,
      ``invalid_boolean`` (is_active ``Y``) -> INVALID_BOOLEAN.

    Valid edge cases, with or without F: quoted commas (locations.address "..., Suite 4",
    vehicles.registration_name "..., LLC", users.last_name "..., Jr.") and non-ASCII names
    (users, locations); counted under ``valid_edge_cases``.

Sidecar ``generator_manifest.json`` (counts computed from what was injected)::

    {"generator": "carrental.generate", "format_version": 1,
     "arguments": {"transactions", "seed", "dirty_fraction", "start_date", "days", "split"},
     "dimensions": {"vehicles": {"valid_keys": n, "first_key": "V000001",
                                 "rejected_keys": ["V000519", ...]}, ...},
     "files": {"<dataset>": [{"path": "data/raw/...csv", "rows": n, "sha256": "..."}]},
     "expected": {"<dataset>": {"rows_read": n, "valid": n, "rejected": n,
                                "rejected_by_reason": {"CODE": n}}},
     "injected": {"<dataset>": {"<kind>": n}},
     "valid_edge_cases": {"vehicles"|"locations"|"users": {"quoted_commas": n, "non_ascii": n},
                          "rental_transactions": {"zero_length_rentals": n}},
     "appends": [{"day", "transactions", "dirty_fraction", "file", "injected"}]}

    ``expected[dataset]`` has the shape of a Spark job manifest's ``inputs[dataset]`` minus
    ``files``; after ``--append-day`` the totals cover every file. ``rows`` exclude the header.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import shutil
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from carrental.errors import UsageError
from carrental.paths import local_folder
from spark_ingest.contract import CONTRACT
from spark_ingest.layout import DATASETS, RAW_PREFIX

MANIFEST_NAME = "generator_manifest.json"
CHUNK_ROWS = 250_000
MAX_DIRTY_FRACTION = 0.5
MAX_DAYS = 3660
MAX_TRANSACTIONS = 50_000_000  # rental_id holds an 8-digit sequence per day

# Header order comes from the raw data contract, declared once in spark_ingest.contract.
VEHICLE_COLUMNS = tuple(CONTRACT["vehicles"].column_names)
LOCATION_COLUMNS = tuple(CONTRACT["locations"].column_names)
USER_COLUMNS = tuple(CONTRACT["users"].column_names)
RENTAL_COLUMNS = tuple(CONTRACT["rental_transactions"].column_names)
COLUMNS: dict[str, tuple[str, ...]] = {
    "vehicles": VEHICLE_COLUMNS,
    "locations": LOCATION_COLUMNS,
    "users": USER_COLUMNS,
    "rental_transactions": RENTAL_COLUMNS,
}

VEHICLE_TYPES = ("economy", "compact", "midsize", "suv", "luxury", "van")
VEHICLE_TYPE_SHARE = (0.25, 0.22, 0.20, 0.18, 0.07, 0.08)
HOURLY_CENTS = {
    "economy": 900,
    "compact": 1100,
    "midsize": 1300,
    "suv": 1700,
    "luxury": 3500,
    "van": 2000,
}
DAILY_CENTS = {
    "economy": 5500,
    "compact": 6500,
    "midsize": 7500,
    "suv": 9500,
    "luxury": 22000,
    "van": 12000,
}
BOOKING_FEE_CENTS = 500
BRANDS = {
    "economy": ("Toyota", "Nissan", "Kia", "Hyundai", "Chevrolet"),
    "compact": ("Honda", "Toyota", "Mazda", "Volkswagen", "Ford"),
    "midsize": ("Toyota", "Honda", "Nissan", "Subaru", "Chevrolet"),
    "suv": ("Jeep", "Ford", "Toyota", "Chevrolet", "Kia"),
    "luxury": ("BMW", "Mercedes-Benz", "Audi", "Lexus", "Tesla"),
    "van": ("Chrysler", "Honda", "Toyota", "Ford", "Mercedes-Benz"),
}

# city, state, latitude, longitude, first zip, relative size
CITIES = (
    ("New York", "NY", 40.7128, -74.0060, "10001", 10.0),
    ("Los Angeles", "CA", 34.0522, -118.2437, "90001", 8.0),
    ("Chicago", "IL", 41.8781, -87.6298, "60601", 6.0),
    ("Houston", "TX", 29.7604, -95.3698, "77001", 5.0),
    ("Phoenix", "AZ", 33.4484, -112.0740, "85001", 4.0),
    ("Philadelphia", "PA", 39.9526, -75.1652, "19102", 3.5),
    ("San Antonio", "TX", 29.4241, -98.4936, "78205", 3.0),
    ("San Diego", "CA", 32.7157, -117.1611, "92101", 3.0),
    ("Dallas", "TX", 32.7767, -96.7970, "75201", 3.5),
    ("Austin", "TX", 30.2672, -97.7431, "78701", 3.0),
    ("San Francisco", "CA", 37.7749, -122.4194, "94102", 4.0),
    ("Seattle", "WA", 47.6062, -122.3321, "98101", 3.5),
    ("Denver", "CO", 39.7392, -104.9903, "80202", 3.0),
    ("Boston", "MA", 42.3601, -71.0589, "02108", 3.5),
    ("Miami", "FL", 25.7617, -80.1918, "33101", 4.0),
    ("Orlando", "FL", 28.5383, -81.3792, "32801", 3.5),
    ("Atlanta", "GA", 33.7490, -84.3880, "30303", 3.5),
    ("Las Vegas", "NV", 36.1699, -115.1398, "89101", 4.0),
    ("Nashville", "TN", 36.1627, -86.7816, "37201", 2.5),
    ("Portland", "OR", 45.5152, -122.6784, "97201", 2.0),
    ("Minneapolis", "MN", 44.9778, -93.2650, "55401", 2.0),
    ("Newark", "NJ", 40.7357, -74.1724, "07102", 2.0),
    ("Salt Lake City", "UT", 40.7608, -111.8910, "84101", 1.5),
    ("Honolulu", "HI", 21.3069, -157.8583, "96813", 1.5),
    ("New Orleans", "LA", 29.9511, -90.0715, "70112", 1.5),
    ("Charlotte", "NC", 35.2271, -80.8431, "28202", 1.5),
    ("Detroit", "MI", 42.3314, -83.0458, "48226", 1.5),
    ("Anchorage", "AK", 61.2181, -149.9003, "99501", 0.5),
)
SITE_NAMES = (
    "Airport",
    "Downtown",
    "Union Station",
    "Convention Center",
    "University",
    "Harbor",
    "Midtown",
    "North Side",
    "South Side",
    "Mall",
    "Café District",
    "Old Town",
)
STREETS = ("Main St", "Oak Ave", "Market St", "Broadway", "Elm St", "Park Ave", "2nd St", "Lake Dr")
FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Daniel", "Karen", "Matthew", "Nancy", "Anthony", "Lisa", "Mark", "Betty", "Steven", "Emily",
    "Andrew", "Ashley", "Kevin", "Olivia", "Brian", "Sophia", "Wei", "Priya", "Ahmed", "Fatima",
    "José", "Zoë", "Renée", "François", "Siobhán", "Łukasz", "Björn", "Chloé", "Nuño", "Ana",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Clark",
    "Lewis", "Walker", "Hall", "Young", "Allen", "King", "Wright", "Scott", "Nguyen", "Patel",
    "Kim", "Chen", "O'Brien", "Müller", "García", "Núñez", "Nguyễn", "Smith-Jones", "Østergaard",
)  # fmt: skip
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "example.com", "aol.com")
AREA_CODES = ("212", "213", "312", "713", "602", "215", "210", "619", "214", "512", "415", "206")
FLEET_NAMES = ("Sunrise Fleet", "Metro Mobility", "Blue Road", "Coastal Auto", "Prime Wheels")

# rentals: relative weight per weekday (Mon..Sun) and per start hour
WEEKDAY_WEIGHT = (0.85, 0.80, 0.85, 0.95, 1.25, 1.35, 1.05)
WEEKDAY_HOURS = (
    0.3, 0.2, 0.15, 0.15, 0.3, 0.8, 2.0, 4.0, 5.5, 5.0, 4.0, 3.8,
    4.0, 3.8, 3.6, 4.0, 5.0, 5.5, 4.5, 3.0, 2.2, 1.5, 1.0, 0.6,
)  # fmt: skip
WEEKEND_HOURS = (
    0.5, 0.4, 0.3, 0.2, 0.2, 0.3, 0.7, 1.5, 3.0, 4.5, 5.5, 5.8,
    5.5, 5.0, 4.5, 4.2, 4.0, 3.8, 3.2, 2.6, 2.0, 1.6, 1.2, 0.8,
)  # fmt: skip
DURATION_MEDIAN_SECONDS = 3 * 3600
DURATION_SIGMA = 1.3
DURATION_MIN_SECONDS = 300
DURATION_MAX_SECONDS = 14 * 86400
SAME_DROPOFF_SHARE = 0.70

# defect kind -> expected primary reason code (None = a VALID edge case)
RENTAL_DEFECTS: dict[str, str | None] = {
    "truncated": "MALFORMED_ROW",
    "extra_fields": "MALFORMED_ROW",
    "empty_rental_id": "NULL_KEY",
    "whitespace_rental_id": "NULL_KEY",
    "non_integer_location": "INVALID_INTEGER",
    "unparseable_timestamp": "INVALID_TIMESTAMP",
    "timezone_timestamp": "INVALID_TIMESTAMP",
    "end_before_start": "END_BEFORE_START",
    "negative_amount": "NEGATIVE_AMOUNT",
    "non_numeric_amount": "INVALID_AMOUNT",
    "three_decimals": "INVALID_AMOUNT",
    "huge_amount": "INVALID_AMOUNT",
    "orphan_user": "ORPHAN_USER",
    "orphan_vehicle": "ORPHAN_VEHICLE",
    "orphan_pickup": "ORPHAN_PICKUP_LOCATION",
    "orphan_dropoff": "ORPHAN_DROPOFF_LOCATION",
    "duplicate_identical": "DUPLICATE_KEY",
    "duplicate_different": "DUPLICATE_KEY",
    "zero_length": None,
}
RENTAL_KINDS = tuple(RENTAL_DEFECTS)
_COMMON_DIM_DEFECTS = {
    "duplicate_identical": "DUPLICATE_KEY",
    "duplicate_different": "DUPLICATE_KEY",
    "null_key": "NULL_KEY",
    "malformed": "MALFORMED_ROW",
}
DIMENSION_DEFECTS: dict[str, dict[str, str]] = {
    "vehicles": {
        **_COMMON_DIM_DEFECTS,
        "invalid_integer": "INVALID_INTEGER",
        "invalid_date": "INVALID_DATE",
        "invalid_boolean": "INVALID_BOOLEAN",
        "invalid_vehicle_type": "INVALID_VALUE",
    },
    "locations": {
        **_COMMON_DIM_DEFECTS,
        "invalid_integer": "INVALID_INTEGER",
        "invalid_number": "INVALID_NUMBER",
    },
    "users": {
        **_COMMON_DIM_DEFECTS,
        "invalid_date": "INVALID_DATE",
        "invalid_boolean": "INVALID_BOOLEAN",
    },
}

_STREAM = {"locations": 1, "vehicles": 2, "users": 3, "days": 4, "dirty": 5, "rentals": 10}
_ORPHAN_OFFSET = 500_000  # orphan ids start this far beyond the valid key range
_TOD = pa.array(
    [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
)
_DOLLARS = pa.array([str(i) for i in range(100_000)])
_QUAD = pa.array([f"{i:04d}" for i in range(10_000)])
_CENTS = pa.array([f".{i:02d}" for i in range(100)])

Progress = Callable[[int], None]


@dataclass(frozen=True)
class DimensionSizes:
    vehicles: int
    locations: int
    users: int

    @classmethod
    def for_transactions(cls, transactions: int) -> DimensionSizes:
        return cls(
            vehicles=int(min(20_000, max(50, transactions // 40))),
            locations=int(min(300, max(20, round(math.sqrt(transactions) / 2)))),
            users=int(min(300_000, max(100, transactions // 10))),
        )


def vehicle_key(i: int) -> str:
    return f"V{i:06d}"


def user_key(i: int) -> str:
    return f"U{i:07d}"


# ---------------------------------------------------------------------------- helpers


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def _zipf_weights(n: int, s: float, rng: np.random.Generator) -> np.ndarray:
    """Popularity weights 1/rank**s, ranks shuffled over the n items."""
    weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    weights = weights[rng.permutation(n)]
    return weights / weights.sum()


def _sample(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn with probabilities whose cumulative sum is ``cdf``."""
    idx = np.searchsorted(cdf, rng.random(size), side="right")
    return np.minimum(idx, len(cdf) - 1)


def _cdf(weights) -> np.ndarray:
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    return cdf / cdf[-1]


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _iso(day: date) -> str:
    return day.isoformat()


def _csv_text(rows: list[list[str]]) -> str:
    """Rows as CSV text: minimal quoting, ``\\n`` line ends (the csv module's C writer)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


class _HashedWriter:
    """Writes UTF-8 text to ``.<name>.tmp`` then renames; tracks rows and sha256."""

    def __init__(self, path: Path, header: tuple[str, ...]):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.tmp, "wb")  # noqa: SIM115 - closed in close()
        self.sha = hashlib.sha256()
        self.rows = 0
        self._write(",".join(header) + "\n")

    def _write(self, text: str) -> None:
        data = text.encode("utf-8")
        self.sha.update(data)
        self.handle.write(data)

    def write_rows(self, text: str, rows: int) -> None:
        self._write(text)
        self.rows += rows

    def write_bytes(self, data: memoryview | bytes, rows: int) -> None:
        self.sha.update(data)
        self.handle.write(data)
        self.rows += rows

    def close(self) -> dict:
        self.handle.close()
        os.replace(self.tmp, self.path)
        return {"rows": self.rows, "sha256": self.sha.hexdigest()}


# ---------------------------------------------------------------------------- dimensions


def _dim_defect_count(rows: int, dirty_fraction: float) -> int:
    if dirty_fraction <= 0:
        return 0
    return max(1, min(50, round(dirty_fraction * rows / 5)))


def _locations(sizes: DimensionSizes, seed: int) -> list[list[str]]:
    rng = _rng(seed, _STREAM["locations"])
    combos = [(c, s) for c in range(len(CITIES)) for s in range(len(SITE_NAMES))]
    weights = np.array([CITIES[c][5] for c, _ in combos])
    picks = rng.choice(
        len(combos),
        size=min(sizes.locations, len(combos)),
        replace=False,
        p=weights / weights.sum(),
    ).tolist()
    while len(picks) < sizes.locations:  # more locations than (city, site) pairs
        picks.append(int(_sample(rng, _cdf(weights), 1)[0]))
    rows: list[list[str]] = []
    seen: set[int] = set()
    for loc_id, pick in enumerate(picks, start=1):
        city_idx, site = combos[pick]
        city, state, lat, lon, zip0, _ = CITIES[city_idx]
        name = f"{city} {SITE_NAMES[site]}" + (f" {loc_id}" if pick in seen else "")
        seen.add(pick)
        address = f"{int(rng.integers(10, 9900))} {STREETS[int(rng.integers(len(STREETS)))]}"
        if rng.random() < 0.3:
            address += f", Suite {int(rng.integers(1, 500))}"
        rows.append(
            [
                str(loc_id),
                name,
                address,
                city,
                state,
                f"{int(zip0) + int(rng.integers(0, 60)):05d}",
                f"{lat + rng.normal(0, 0.05):.6f}",
                f"{lon + rng.normal(0, 0.05):.6f}",
            ]
        )
    return rows


def _dates(start: date, offsets: np.ndarray) -> list[str]:
    """``start + offsets`` (days) as YYYY-MM-DD strings, via one lookup table."""
    lo, hi = int(offsets.min()), int(offsets.max())
    table = np.array([(start + timedelta(days=d)).isoformat() for d in range(lo, hi + 1)])
    return table[offsets - lo].tolist()


def _vehicles(sizes: DimensionSizes, seed: int, start: date) -> list[list[str]]:
    rng = _rng(seed, _STREAM["vehicles"])
    n = sizes.vehicles
    letters = np.array(list("ABCDEFGHJKLMNPRSTUVWXYZ"), dtype=object)
    types = _sample(rng, _cdf(VEHICLE_TYPE_SHARE), n).tolist()
    brand = rng.integers(0, 5, n).tolist()
    plate_digit = rng.integers(1, 10, n).tolist()
    plate_letters = (
        letters[rng.integers(0, len(letters), n)]
        + letters[rng.integers(0, len(letters), n)]
        + letters[rng.integers(0, len(letters), n)]
    ).tolist()
    plate_number = rng.integers(0, 1000, n).tolist()
    fleet = rng.integers(0, len(FLEET_NAMES), n).tolist()
    llc = (rng.random(n) < 0.2).tolist()
    year = (start.year - rng.integers(0, 9, n)).tolist()
    certification = _dates(start, -rng.integers(30, 6 * 365, n))
    expiration = _dates(start, rng.integers(30, 3 * 365, n))
    inactive = (rng.random(n) < 0.08).tolist()
    permit = rng.integers(0, 10**6, n).tolist()
    telematics = rng.integers(0, 10**5, n).tolist()
    rows: list[list[str]] = []
    for j in range(n):
        vtype = VEHICLE_TYPES[types[j]]
        name = FLEET_NAMES[fleet[j]]
        rows.append(
            [
                "0" if inactive[j] else "1",
                f"{plate_digit[j]}{plate_letters[j]}{plate_number[j]:03d}",
                f"{name}, LLC" if llc[j] else f"{name} Inc",
                "FOR HIRE VEHICLE",
                expiration[j],
                f"PL{permit[j]:06d}",
                certification[j],
                str(year[j]),
                f"B{telematics[j]:05d}",
                vtype,
                BRANDS[vtype][brand[j]],
                vehicle_key(j + 1),
            ]
        )
    return rows


def _users(sizes: DimensionSizes, seed: int, start: date) -> list[list[str]]:
    rng = _rng(seed, _STREAM["users"])
    n = sizes.users
    first = rng.integers(0, len(FIRST_NAMES), n).tolist()
    last = rng.integers(0, len(LAST_NAMES), n).tolist()
    suffix = (rng.random(n) < 0.01).tolist()
    domain = rng.integers(0, len(EMAIL_DOMAINS), n).tolist()
    area = rng.integers(0, len(AREA_CODES), n).tolist()
    phone = rng.integers(0, 10**7, n).tolist()
    licence = rng.integers(0, 10**7, n).tolist()
    licence_letter = rng.integers(0, 26, n).tolist()
    expiry = _dates(start, rng.integers(-60, 8 * 365, n))
    created = _dates(start, -rng.integers(1, 5 * 365, n))
    inactive = (rng.random(n) < 0.10).tolist()
    first_ascii = [_ascii(x) for x in FIRST_NAMES]
    last_ascii = [_ascii(x) for x in LAST_NAMES]
    rows: list[list[str]] = []
    for j in range(n):
        i = j + 1
        p = phone[j]
        rows.append(
            [
                user_key(i),
                FIRST_NAMES[first[j]],
                f"{LAST_NAMES[last[j]]}, Jr." if suffix[j] else LAST_NAMES[last[j]],
                f"{first_ascii[first[j]]}.{last_ascii[last[j]]}{i}@{EMAIL_DOMAINS[domain[j]]}",
                f"{AREA_CODES[area[j]]}-{p // 10**4:03d}-{p % 10**4:04d}",
                f"{chr(65 + licence_letter[j])}{licence[j]:07d}",
                expiry[j],
                created[j],
                "0" if inactive[j] else "1",
            ]
        )
    return rows


def _inject_dimension_defects(
    dataset: str, rows: list[list[str]], k: int, seed: int
) -> tuple[list[list[str]], dict[str, int], list[str]]:
    """Defect rows appended after the clean rows of ``dataset``, their counts per kind, and
    the keys of rejected rows whose key itself is well-formed (targets for orphan rentals)."""
    if k == 0:
        return [], {}, []
    rng = _rng(seed, _STREAM[dataset], 99)
    columns = COLUMNS[dataset]
    key_col = {"vehicles": "vehicle_id", "locations": "location_id", "users": "user_id"}[dataset]
    key_pos = columns.index(key_col)
    n = len(rows)
    fresh = iter(range(n + 1, n + 10_000))

    def fresh_key() -> str:
        i = next(fresh)
        return {"vehicles": vehicle_key, "users": user_key}.get(dataset, str)(i)

    def base() -> list[str]:
        return list(rows[int(rng.integers(n))])

    lines: list[list[str]] = []
    counts: dict[str, int] = {}
    rejected_keys: list[str] = []
    picked: set[int] = set()
    for kind in DIMENSION_DEFECTS[dataset]:
        for m in range(k):
            counts[kind] = counts.get(kind, 0) + 1
            if kind.startswith("duplicate"):
                # each duplicated key is copied exactly once
                src = int(rng.integers(n))
                while src in picked and len(picked) < n:
                    src = (src + 1) % n
                picked.add(src)
                row = list(rows[src])
                if kind == "duplicate_different":
                    col = {"vehicles": "base_telematics_id", "locations": "address"}.get(
                        dataset, "phone_number"
                    )
                    row[columns.index(col)] = row[columns.index(col)] + "9"
                lines.append(row)
                continue
            row = base()
            row[key_pos] = fresh_key()
            if kind == "null_key":
                row[key_pos] = "" if m % 2 == 0 else "   "
            elif kind == "malformed":
                row = row[:-1] if m % 2 == 0 else [*row, "extra"]
            elif kind == "invalid_integer":
                if dataset == "locations":
                    row[key_pos] = f"{n + 100 + m}B"
                else:
                    row[columns.index("vehicle_year")] = "20X9"
            elif kind == "invalid_date":
                col = "expiration_date" if dataset == "vehicles" else "creation_date"
                row[columns.index(col)] = ("2026-13-01", "31/12/2026", "2023/02/10")[m % 3]
            elif kind == "invalid_boolean":
                col = "active" if dataset == "vehicles" else "is_active"
                row[columns.index(col)] = ("yes", "Y", "2")[m % 3]
            elif kind == "invalid_number":
                row[columns.index("latitude")] = ("N/A", "north")[m % 2]
            elif kind == "invalid_vehicle_type":
                row[columns.index("vehicle_type")] = ("SUV", "", "truck")[m % 3]
            lines.append(row)
            if kind.startswith("invalid_") and not (
                dataset == "locations" and kind == "invalid_integer"
            ):
                rejected_keys.append(row[key_pos])
    return lines, counts, rejected_keys


# ---------------------------------------------------------------------------- rentals


@dataclass
class _RentalPlan:
    """Everything needed to generate one group of rental rows, chunk by chunk."""

    seed: int
    stream: tuple[int, ...]
    days: list[date]  # the calendar day of each day slot
    day_counts: np.ndarray  # rows per day slot
    sizes: DimensionSizes
    dirty_positions: np.ndarray  # sorted row positions of defect rows
    dirty_kinds: np.ndarray  # index into RENTAL_KINDS, aligned with dirty_positions
    rejected_keys: dict[str, list[str]]  # dataset -> keys of rejected dimension rows

    @property
    def total(self) -> int:
        return int(self.day_counts.sum())


class _RentalModel:
    """Per-dataset constants derived from the dimensions (popularity, rates, factors)."""

    def __init__(self, seed: int, sizes: DimensionSizes, vehicles: list[list[str]]):
        rng = _rng(seed, _STREAM["rentals"], 0)
        self.location_cdf = np.cumsum(_zipf_weights(sizes.locations, 1.1, rng))
        self.vehicle_cdf = np.cumsum(_zipf_weights(sizes.vehicles, 0.8, rng))
        self.user_cdf = np.cumsum(_zipf_weights(sizes.users, 0.6, rng))
        type_pos = VEHICLE_COLUMNS.index("vehicle_type")
        year_pos = VEHICLE_COLUMNS.index("vehicle_year")
        types = [row[type_pos] for row in vehicles]
        self.hourly = np.array([HOURLY_CENTS[t] for t in types], dtype=np.int64)
        self.daily = np.array([DAILY_CENTS[t] for t in types], dtype=np.int64)
        newest = max(int(row[year_pos]) for row in vehicles)
        self.factor = np.array(
            [1.15 - 0.03 * (newest - int(row[year_pos])) for row in vehicles], dtype=np.float64
        )
        self.vehicle_ids = pa.array([row[-1] for row in vehicles])
        self.user_ids = pa.array([user_key(i) for i in range(1, sizes.users + 1)])
        self.location_ids = pa.array([str(i) for i in range(1, sizes.locations + 1)])


def _day_counts(seed: int, stream: tuple[int, ...], days: list[date], n: int) -> np.ndarray:
    rng = _rng(seed, _STREAM["days"], *stream)
    weights = np.array(
        [
            WEEKDAY_WEIGHT[d.weekday()]
            * (1.0 + 0.15 * math.sin(2 * math.pi * (d.timetuple().tm_yday - 100) / 365.0))
            for d in days
        ]
    )
    weights *= rng.lognormal(0.0, 0.08, len(days))
    return rng.multinomial(n, weights / weights.sum()).astype(np.int64)


def _dirty_plan(
    seed: int, stream: tuple[int, ...], n: int, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    if fraction <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    kinds_n = len(RENTAL_KINDS)
    d = max(round(fraction * n), kinds_n)
    if n < 2 * d:
        raise UsageError(
            f"--dirty-fraction {fraction} with --transactions {n} asks for {d} defect rows, "
            f"but at most half the rows ({n // 2}) can be defects",
            hint=f"use at least {2 * kinds_n} transactions (every one of the {kinds_n} defect "
            "kinds appears at least once) and a fraction <= 0.5",
        )
    rng = _rng(seed, _STREAM["dirty"], *stream)
    stride = n // d
    positions = np.arange(d, dtype=np.int64) * stride + 1 + rng.integers(0, stride - 1, d)
    kinds = rng.permutation(np.arange(d, dtype=np.int64) % kinds_n)
    return positions, kinds


def _take(table: pa.Array, index: np.ndarray) -> pa.Array:
    return table.take(pa.array(index, type=pa.int64()))


def _join(*parts: pa.Array, sep: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*parts, sep)


def _format_amount(cents: np.ndarray) -> pa.Array:
    dollars = cents // 100
    if dollars.size and int(dollars.max()) < len(_DOLLARS):
        return _join(_take(_DOLLARS, dollars), _take(_CENTS, cents % 100))
    return pa.array([f"{c // 100}.{c % 100:02d}" for c in cents.tolist()], type=pa.string())


def _fmt_ts(day_str: pa.Array, seconds: np.ndarray) -> pa.Array:
    return _join(_take(day_str, seconds // 86400), _take(_TOD, seconds % 86400))


def _ts_from(day0: date, seconds: int) -> str:
    return (datetime(day0.year, day0.month, day0.day) + timedelta(seconds=seconds)).strftime(
        "%Y-%m-%d %H:%M:%S"
    )


def _generate_chunk(
    plan: _RentalPlan,
    model: _RentalModel,
    chunk_index: int,
    lo: int,
    hi: int,
    day_str: pa.Array,
    day_cum: np.ndarray,
    previous: list[str] | None,
    counts: dict[str, int],
) -> tuple[memoryview, np.ndarray, np.ndarray, list[str]]:
    """Rows [lo, hi) as CSV bytes, each row's byte offset, its day slot, the last row's fields."""
    rng = _rng(plan.seed, _STREAM["rentals"], *plan.stream, chunk_index)
    size = hi - lo
    pos = np.arange(lo, hi, dtype=np.int64)
    slot = np.searchsorted(day_cum, pos, side="right")
    weekend = np.array([d.weekday() >= 5 for d in plan.days])[slot]
    hour = np.where(
        weekend,
        _sample(rng, _cdf(WEEKEND_HOURS), size),
        _sample(rng, _cdf(WEEKDAY_HOURS), size),
    )
    sod = hour * 3600 + rng.integers(0, 3600, size)
    order = np.lexsort((sod, slot))  # slot is already sorted: time-ordered within each day
    sod = sod[order]
    start = slot * 86400 + sod
    duration = np.clip(
        np.rint(rng.lognormal(math.log(DURATION_MEDIAN_SECONDS), DURATION_SIGMA, size)),
        DURATION_MIN_SECONDS,
        DURATION_MAX_SECONDS,
    ).astype(np.int64)
    vehicle = _sample(rng, model.vehicle_cdf, size)
    user = _sample(rng, model.user_cdf, size)
    pickup = _sample(rng, model.location_cdf, size)
    other = _sample(rng, model.location_cdf, size)
    dropoff = np.where(rng.random(size) < SAME_DROPOFF_SHARE, pickup, other)

    # dirty rows: which rows of this chunk, and which kind
    a, b = np.searchsorted(plan.dirty_positions, [lo, hi])
    d_pos = plan.dirty_positions[a:b] - lo
    d_kind = plan.dirty_kinds[a:b]
    zero = d_pos[d_kind == RENTAL_KINDS.index("zero_length")]
    duration[zero] = 0

    weekday = np.array([d.weekday() for d in plan.days])[slot]
    surcharge = np.where((weekday == 4) | (weekday == 5), 1.1, 1.0)
    full_days = duration // 86400
    rest_hours = (duration % 86400) / 3600.0
    daily, hourly = model.daily[vehicle], model.hourly[vehicle]
    base = BOOKING_FEE_CENTS + full_days * daily + np.minimum(rest_hours * hourly, daily)
    cents = np.rint(base * model.factor[vehicle] * surcharge).astype(np.int64)

    seq = pos - day_cum[slot] + plan.day_counts[slot] + 1  # 1-based sequence within the day
    prefix = pa.array([f"R{d:%Y%m%d}-" for d in plan.days])
    cols: list[pa.Array] = [
        _join(_take(prefix, slot), _take(_QUAD, seq // 10_000), _take(_QUAD, seq % 10_000)),
        _take(model.user_ids, user),
        _take(model.vehicle_ids, vehicle),
        _fmt_ts(day_str, start),
        _fmt_ts(day_str, start + duration),
        _take(model.location_ids, pickup),
        _take(model.location_ids, dropoff),
        _format_amount(cents),
    ]

    def fields(p: int) -> list[str]:
        return [c[p].as_py() for c in cols]

    overrides: dict[int, str] = {}
    day0 = plan.days[0]
    for p, k in zip(d_pos.tolist(), d_kind.tolist(), strict=True):
        kind = RENTAL_KINDS[k]
        counts[kind] = counts.get(kind, 0) + 1
        nth = counts[kind]
        row = fields(p)
        if kind == "truncated":
            row = row[:6]
        elif kind == "extra_fields":
            row = [*row, "promo", "X1"]
        elif kind == "empty_rental_id":
            row[0] = ""
        elif kind == "whitespace_rental_id":
            row[0] = "   "
        elif kind == "non_integer_location":
            row[5 + nth % 2] = ("12a", "3.5", "twelve")[nth % 3]
        elif kind == "unparseable_timestamp":
            bad = ("2024-13-05 10:00:00", "not a timestamp", "05/03/2024 10:00")[nth % 3]
            row[3 + nth % 2] = bad
        elif kind == "timezone_timestamp":
            row[3 + nth % 2] += ("Z", "+02:00", " UTC")[nth % 3]
        elif kind == "end_before_start":
            back = int(rng.integers(60, 5 * 3600))
            row[4] = _ts_from(day0, int(start[p]) - back)
        elif kind == "negative_amount":
            row[7] = "-" + row[7]
        elif kind == "non_numeric_amount":
            row[7] = ("N/A", "twelve", "1.2.3")[nth % 3]
        elif kind == "three_decimals":
            row[7] += str(1 + nth % 9)
        elif kind == "huge_amount":
            row[7] = ("10000000000.00", "123456789012.50")[nth % 2]
        elif kind.startswith("orphan_"):
            dataset, col, key = {
                "orphan_user": ("users", 1, user_key(plan.sizes.users + _ORPHAN_OFFSET + nth)),
                "orphan_vehicle": (
                    "vehicles",
                    2,
                    vehicle_key(plan.sizes.vehicles + _ORPHAN_OFFSET + nth),
                ),
                "orphan_pickup": ("locations", 5, str(plan.sizes.locations + _ORPHAN_OFFSET + nth)),
                "orphan_dropoff": (
                    "locations",
                    6,
                    str(plan.sizes.locations + _ORPHAN_OFFSET + nth),
                ),
            }[kind]
            rejected = plan.rejected_keys.get(dataset) or []
            # every second orphan points at a dimension row that exists but is REJECTED
            row[col] = rejected[(nth // 2) % len(rejected)] if rejected and nth % 2 == 0 else key
        elif kind.startswith("duplicate"):
            # the row before is always clean (see _dirty_plan); it may end the previous chunk
            row = fields(p - 1) if p > 0 else list(previous or [])
            if not row:  # pragma: no cover - positions are never the very first row
                raise RuntimeError("duplicate defect without a preceding row")
            if kind == "duplicate_different":
                whole, frac = row[7].split(".")
                row[7] = f"{int(whole) + 1}.{frac}"
        overrides[p] = ",".join(row)
    lines = _join(*cols, sep=",")
    if overrides:
        mask = np.zeros(size, dtype=bool)
        mask[list(overrides)] = True
        replacements = pa.array([overrides[p] for p in sorted(overrides)], type=pa.string())
        lines = pc.replace_with_mask(lines, pa.array(mask), replacements)
    lines = _join(lines, pa.scalar(""), sep="\n")  # every line ends with \n
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[
        lines.offset : lines.offset + size + 1
    ].astype(np.int64)
    data = memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]
    last = fields(size - 1) if size else list(previous or [])
    return data, offsets - offsets[0], slot, last


def _write_rentals(
    plan: _RentalPlan,
    model: _RentalModel,
    folder: Path,
    split: str,
    progress: Progress | None,
) -> tuple[list[tuple[str, dict]], dict[str, int]]:
    """Stream the rentals of ``plan`` into ``folder``; return per-file stats and defect counts."""
    horizon = len(plan.days) + DURATION_MAX_SECONDS // 86400 + 2
    day0 = plan.days[0]
    day_str = pa.array([f"{day0 + timedelta(days=i):%Y-%m-%d} " for i in range(horizon)])
    day_cum = np.cumsum(plan.day_counts)
    counts: dict[str, int] = {}
    files: list[tuple[str, dict]] = []
    single = None
    if split == "none":
        single = _HashedWriter(folder / "rental_transactions.csv", RENTAL_COLUMNS)
    current: tuple[int, _HashedWriter] | None = None
    opened = 0  # day slots [0, opened) have had their file opened

    def open_until(slot: int) -> None:
        """Close the current day file; open (header-only) files up to ``slot``."""
        nonlocal current, opened
        while opened <= slot:
            if current is not None:
                files.append((current[1].path.name, current[1].close()))
            name = f"rentals_{plan.days[opened]:%Y-%m-%d}.csv"
            current = (opened, _HashedWriter(folder / name, RENTAL_COLUMNS))
            opened += 1

    previous: list[str] | None = None
    total = plan.total
    for chunk_index, lo in enumerate(range(0, total, CHUNK_ROWS)):
        hi = min(total, lo + CHUNK_ROWS)
        data, offsets, slot, previous = _generate_chunk(
            plan, model, chunk_index, lo, hi, day_str, day_cum, previous, counts
        )
        if single is not None:
            single.write_bytes(data, hi - lo)
        else:
            bounds = np.searchsorted(slot, np.arange(len(plan.days) + 1))
            for s in np.unique(slot).tolist():
                first, last = int(bounds[s]), int(bounds[s + 1])
                open_until(s)
                assert current is not None and current[0] == s
                current[1].write_bytes(data[offsets[first] : offsets[last]], last - first)
        if progress:
            progress(hi - lo)
    if single is not None:
        files.append((single.path.name, single.close()))
    else:  # days without rentals still get a header-only file
        open_until(len(plan.days) - 1)
        assert current is not None
        files.append((current[1].path.name, current[1].close()))
    return files, counts


# ---------------------------------------------------------------------------- public API


def _expected(rows_read: int, injected: dict[str, int], codes: dict[str, str | None]) -> dict:
    by_reason: dict[str, int] = {}
    for kind, n in injected.items():
        code = codes[kind]
        if code is not None and n:
            by_reason[code] = by_reason.get(code, 0) + n
    rejected = sum(by_reason.values())
    return {
        "rows_read": rows_read,
        "valid": rows_read - rejected,
        "rejected": rejected,
        "rejected_by_reason": dict(sorted(by_reason.items())),
    }


def _check_args(transactions: int, seed: int, dirty_fraction: float, days: int, split: str) -> None:
    if not 1 <= transactions <= MAX_TRANSACTIONS:
        raise UsageError(
            f"--transactions must be between 1 and {MAX_TRANSACTIONS:,}, got {transactions}"
        )
    if seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {seed}")
    if not 0.0 <= dirty_fraction <= MAX_DIRTY_FRACTION:
        raise UsageError(
            f"--dirty-fraction must be between 0 and {MAX_DIRTY_FRACTION}, got {dirty_fraction}"
        )
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"--days must be between 1 and {MAX_DAYS}, got {days}")
    if split not in ("none", "daily"):
        raise UsageError(f"--split must be 'none' or 'daily', got {split!r}")


LOCAL_LAKE_HINT = (
    "generate locally, then upload, e.g. `aws s3 sync lake/data/raw s3://bucket/data/raw`"
)


def _local_lake(lake_dir: str | Path) -> Path:
    return local_folder(lake_dir, hint=LOCAL_LAKE_HINT)


def _raw_has_files(raw: Path) -> bool:
    """True when ``raw`` holds a file whose name does not start with a dot (``.keep``,
    ``.DS_Store`` do not count): the rule `carrental run --generate-if-empty` uses."""
    return raw.exists() and any(p.is_file() and not p.name.startswith(".") for p in raw.rglob("*"))


def generate(
    lake_dir: str | Path,
    transactions: int,
    *,
    seed: int = 42,
    dirty_fraction: float = 0.0,
    start_date: date = date(2024, 1, 1),
    days: int = 90,
    split: str = "none",
    overwrite: bool = False,
    sizes: DimensionSizes | None = None,
    progress: Progress | None = None,
) -> dict:
    """Write the four raw datasets and ``generator_manifest.json``; return the manifest.

    Raises :class:`~carrental.errors.UsageError` for bad arguments or when
    ``<lake>/data/raw`` already holds files and ``overwrite`` is false.
    """
    _check_args(transactions, seed, dirty_fraction, days, split)
    stream = (0,)
    positions, kinds = _dirty_plan(seed, stream, transactions, dirty_fraction)  # may refuse
    lake = _local_lake(lake_dir)
    raw = lake / RAW_PREFIX
    if _raw_has_files(raw):
        if not overwrite:
            raise UsageError(
                f"{raw} already holds raw files",
                hint="pass --overwrite to replace them, or --append-day YYYY-MM-DD to add one day",
            )
        for dataset in DATASETS:
            shutil.rmtree(raw / dataset, ignore_errors=True)
    sizes = sizes or DimensionSizes.for_transactions(transactions)

    locations = _locations(sizes, seed)
    vehicles = _vehicles(sizes, seed, start_date)
    users = _users(sizes, seed, start_date)
    dims = {"vehicles": vehicles, "locations": locations, "users": users}

    manifest: dict = {
        "generator": "carrental.generate",
        "format_version": 1,
        "arguments": {
            "transactions": transactions,
            "seed": seed,
            "dirty_fraction": dirty_fraction,
            "start_date": start_date.isoformat(),
            "days": days,
            "split": split,
        },
        "dimensions": {
            "vehicles": {"valid_keys": sizes.vehicles, "first_key": vehicle_key(1)},
            "locations": {"valid_keys": sizes.locations, "first_key": "1"},
            "users": {"valid_keys": sizes.users, "first_key": user_key(1)},
        },
        "files": {},
        "expected": {},
        "injected": {},
        "valid_edge_cases": {},
        "appends": [],
    }
    for dataset in ("vehicles", "locations", "users"):
        rows = dims[dataset]
        k = _dim_defect_count(len(rows), dirty_fraction)
        bad_lines, injected, rejected_keys = _inject_dimension_defects(dataset, rows, k, seed)
        manifest["dimensions"][dataset]["rejected_keys"] = rejected_keys
        writer = _HashedWriter(raw / dataset / f"{dataset}.csv", COLUMNS[dataset])
        clean_text = _csv_text(rows)
        writer.write_rows(clean_text, len(rows))
        writer.write_rows(_csv_text(bad_lines), len(bad_lines))
        stats = writer.close()
        clean_lines = clean_text.splitlines()
        commas = sum('"' in line for line in clean_lines)  # only commas need quotes here
        unicode = sum(not line.isascii() for line in clean_lines)
        manifest["files"][dataset] = [{"path": f"{RAW_PREFIX}/{dataset}/{dataset}.csv", **stats}]
        manifest["injected"][dataset] = injected
        manifest["expected"][dataset] = _expected(
            stats["rows"], injected, DIMENSION_DEFECTS[dataset]
        )
        manifest["valid_edge_cases"][dataset] = {"quoted_commas": commas, "non_ascii": unicode}

    model = _RentalModel(seed, sizes, vehicles)
    # only the rental model is needed from here on: free the dimension rows
    del dims, users, locations, vehicles, rows, bad_lines, clean_text, clean_lines
    day_list = [start_date + timedelta(days=i) for i in range(days)]
    dims_names = ("vehicles", "locations", "users")
    plan = _RentalPlan(
        seed=seed,
        stream=stream,
        days=day_list,
        day_counts=_day_counts(seed, stream, day_list, transactions),
        sizes=sizes,
        dirty_positions=positions,
        dirty_kinds=kinds,
        rejected_keys={ds: manifest["dimensions"][ds]["rejected_keys"] for ds in dims_names},
    )
    folder = raw / "rental_transactions"
    files, injected = _write_rentals(plan, model, folder, split, progress)
    _record_rentals(manifest, files, injected)
    _write_manifest(lake, manifest)
    return manifest


def _record_rentals(manifest: dict, files: list[tuple[str, dict]], injected: dict[str, int]):
    ds = "rental_transactions"
    entries = manifest["files"].setdefault(ds, [])
    entries.extend({"path": f"{RAW_PREFIX}/{ds}/{name}", **stats} for name, stats in files)
    entries.sort(key=lambda e: e["path"])
    total_injected = manifest["injected"].setdefault(ds, {})
    for kind, n in injected.items():
        total_injected[kind] = total_injected.get(kind, 0) + n
    manifest["injected"][ds] = {k: total_injected[k] for k in RENTAL_KINDS if k in total_injected}
    rows = sum(e["rows"] for e in entries)
    manifest["expected"][ds] = _expected(rows, manifest["injected"][ds], RENTAL_DEFECTS)
    manifest["valid_edge_cases"][ds] = {
        "zero_length_rentals": manifest["injected"][ds].get("zero_length", 0)
    }


def _write_manifest(lake: Path, manifest: dict) -> None:
    path = lake / MANIFEST_NAME
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


_NOT_OURS_HINT = (
    "--append-day adds to a lake made by `carrental generate`; regenerate the lake with "
    "`carrental generate --lake-dir DIR --transactions N --overwrite`"
)
#: What --append-day reads from (and updates in) the manifest: dotted key -> expected kind.
_MANIFEST_SHAPE = {
    "arguments": dict,
    "arguments.seed": int,
    "arguments.start_date": date,
    "arguments.days": int,
    "dimensions": dict,
    **{f"dimensions.{ds}": dict for ds in ("vehicles", "locations", "users")},
    **{f"dimensions.{ds}.valid_keys": int for ds in ("vehicles", "locations", "users")},
    "files": dict,
    "expected": dict,
    "injected": dict,
    "valid_edge_cases": dict,
    "appends": list,
}
_KIND_TEXT = {
    dict: "an object",
    list: "a list",
    int: "a whole number",
    date: "a date YYYY-MM-DD",
}


def _manifest_problem(value: object, kind: type) -> bool:
    """True when ``value`` is not of the manifest ``kind`` (see :data:`_KIND_TEXT`)."""
    if kind is int:
        return type(value) is not int
    if kind is date:
        try:
            date.fromisoformat(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return True
        return False
    return not isinstance(value, kind)


def _check_manifest(path: Path, manifest: object) -> dict:
    """``manifest`` when it has every key --append-day uses, else a UsageError naming
    ``path`` and the first missing or malformed key (checked before any file is written)."""

    def bad(key: str, kind: type, value: object) -> UsageError:
        return UsageError(
            f"{path}: {key!r} must be {_KIND_TEXT[kind]}, got {value!r}", hint=_NOT_OURS_HINT
        )

    if not isinstance(manifest, dict):
        raise UsageError(
            f"{path} must be a JSON object, got a {type(manifest).__name__}", hint=_NOT_OURS_HINT
        )
    for key, kind in _MANIFEST_SHAPE.items():
        parent: object = manifest
        for part in key.split("."):
            if not isinstance(parent, dict) or part not in parent:
                raise UsageError(f"{path} has no key {key!r}", hint=_NOT_OURS_HINT)
            parent = parent[part]
        if _manifest_problem(parent, kind):
            raise bad(key, kind, parent)
    for i, entry in enumerate(manifest["appends"]):
        day = entry.get("day") if isinstance(entry, dict) else entry
        if _manifest_problem(day, date):
            raise bad(f"appends[{i}].day", date, day)
    return manifest


def read_manifest(lake_dir: str | Path) -> dict:
    """The generator manifest of ``lake_dir``: a UsageError (exit 2) naming the file when it
    is absent, unreadable or lacks a key --append-day needs."""
    path = _local_lake(lake_dir) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{path} not found: --append-day adds to a lake made by `carrental generate`",
            hint="generate the lake first: carrental generate --lake-dir DIR --transactions N",
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    return _check_manifest(path, manifest)


def append_day(
    lake_dir: str | Path,
    day: date,
    transactions: int,
    *,
    dirty_fraction: float = 0.0,
    progress: Progress | None = None,
) -> dict:
    """Add ``rental_transactions/rentals_<day>.csv`` to a generated lake (same dimensions).

    The day must not already be covered by the lake's rentals. Returns the updated manifest.
    """
    _check_args(transactions, 0, dirty_fraction, 1, "daily")
    lake = _local_lake(lake_dir)
    manifest = read_manifest(lake)
    args = manifest["arguments"]
    seed = int(args["seed"])
    first = date.fromisoformat(args["start_date"])
    covered = {first + timedelta(days=i) for i in range(int(args["days"]))}
    covered |= {date.fromisoformat(a["day"]) for a in manifest.get("appends", [])}
    folder = lake / RAW_PREFIX / "rental_transactions"
    target = folder / f"rentals_{day:%Y-%m-%d}.csv"
    if day in covered or target.exists():
        raise UsageError(
            f"{day} already has rentals in {folder}",
            hint="append a day after the last generated one "
            f"({max(covered).isoformat()}), or regenerate with --overwrite",
        )
    dims = manifest["dimensions"]
    sizes = DimensionSizes(
        vehicles=int(dims["vehicles"]["valid_keys"]),
        locations=int(dims["locations"]["valid_keys"]),
        users=int(dims["users"]["valid_keys"]),
    )
    # the vehicles' types/years drive amounts: rebuild them exactly as generated
    vehicles = _vehicles(sizes, seed, first)
    model = _RentalModel(seed, sizes, vehicles)
    stream = (1, day.toordinal())
    positions, kinds = _dirty_plan(seed, stream, transactions, dirty_fraction)
    plan = _RentalPlan(
        seed=seed,
        stream=stream,
        days=[day],
        day_counts=np.array([transactions], dtype=np.int64),
        sizes=sizes,
        dirty_positions=positions,
        dirty_kinds=kinds,
        rejected_keys={ds: list(dims[ds].get("rejected_keys", [])) for ds in dims},
    )
    files, injected = _write_rentals(plan, model, folder, "daily", progress)
    _record_rentals(manifest, files, injected)
    manifest["appends"].append(
        {
            "day": day.isoformat(),
            "transactions": transactions,
            "dirty_fraction": dirty_fraction,
            "file": f"{RAW_PREFIX}/rental_transactions/{target.name}",
            "injected": dict(injected),
        }
    )
    _write_manifest(lake, manifest)
    return manifest
