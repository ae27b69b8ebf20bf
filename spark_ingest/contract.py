"""The raw data contract, declared once.

For each dataset: the exact header (column order matters), the all-string schema used to read
the CSV, the typed target type and parse rule of every column, the key, and which columns are
personal data. Reason codes for row-level quarantine are constants with a description (the
README table and the tests read :data:`REASON_CODES`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import types as T

# --- parse rules (how a raw string column becomes typed) ------------------------------------
STRING = "string"  # kept as text (ids are trimmed)
INTEGER = "integer"  # [+-]digits, fits in int
DATE = "date"  # YYYY-MM-DD, a real calendar date
TIMESTAMP = "timestamp"  # YYYY-MM-DD HH:MM:SS, naive wall clock (interpreted in UTC)
BOOLEAN = "boolean"  # 0, 1, true, false (case-insensitive)
DOUBLE = "double"  # a decimal or scientific number
AMOUNT = "amount"  # decimal, at most 2 places, |x| < 10^10

TIMESTAMP_FORMAT = "yyyy-MM-dd HH:mm:ss"
DATE_FORMAT = "yyyy-MM-dd"
AMOUNT_TYPE = T.DecimalType(12, 2)
MONEY_TOTAL_TYPE = T.DecimalType(18, 2)

TARGET_TYPES: dict[str, T.DataType] = {
    STRING: T.StringType(),
    INTEGER: T.IntegerType(),
    DATE: T.DateType(),
    TIMESTAMP: T.TimestampType(),
    BOOLEAN: T.BooleanType(),
    DOUBLE: T.DoubleType(),
    AMOUNT: AMOUNT_TYPE,
}

#: the vehicle classes the KPIs group by; any other value (case and spaces count) is quarantined
#: (INVALID_VALUE). dbt's accepted_values test on rentals_fact.vehicle_type lists the same ones
#: (a test compares them).
VEHICLE_TYPES = ("economy", "compact", "midsize", "suv", "luxury", "van")

# --- reason codes (priority order: the first failing one is the row's reason_code) ----------
MALFORMED_ROW = "MALFORMED_ROW"
NULL_KEY = "NULL_KEY"
INVALID_INTEGER = "INVALID_INTEGER"
INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
INVALID_DATE = "INVALID_DATE"
INVALID_BOOLEAN = "INVALID_BOOLEAN"
INVALID_NUMBER = "INVALID_NUMBER"
INVALID_AMOUNT = "INVALID_AMOUNT"
INVALID_VALUE = "INVALID_VALUE"
NEGATIVE_AMOUNT = "NEGATIVE_AMOUNT"
END_BEFORE_START = "END_BEFORE_START"
ORPHAN_USER = "ORPHAN_USER"
ORPHAN_VEHICLE = "ORPHAN_VEHICLE"
ORPHAN_PICKUP_LOCATION = "ORPHAN_PICKUP_LOCATION"
ORPHAN_DROPOFF_LOCATION = "ORPHAN_DROPOFF_LOCATION"
DUPLICATE_KEY = "DUPLICATE_KEY"

REASON_CODES: dict[str, str] = {
    MALFORMED_ROW: "wrong number of fields or an unparseable CSV record",
    NULL_KEY: "the key is null, empty or whitespace-only",
    INVALID_INTEGER: "a location id or vehicle_year is not an integer",
    INVALID_TIMESTAMP: "rental_start_time / rental_end_time is not 'YYYY-MM-DD HH:MM:SS'",
    INVALID_DATE: "a dimension date is not a real YYYY-MM-DD date",
    INVALID_BOOLEAN: "active / is_active is not one of 0, 1, true, false",
    INVALID_NUMBER: "latitude / longitude is not numeric",
    INVALID_AMOUNT: "total_amount is not numeric, has more than 2 decimals, or is >= 10^10",
    INVALID_VALUE: "vehicle_type is missing or not one of " + ", ".join(VEHICLE_TYPES),
    NEGATIVE_AMOUNT: "total_amount < 0",
    END_BEFORE_START: "rental_end_time < rental_start_time (zero length is valid)",
    ORPHAN_USER: "user_id is not among the valid users",
    ORPHAN_VEHICLE: "vehicle_id is not among the valid vehicles",
    ORPHAN_PICKUP_LOCATION: "pickup_location is not among the valid locations",
    ORPHAN_DROPOFF_LOCATION: "dropoff_location is not among the valid locations",
    DUPLICATE_KEY: (
        "the key occurs more than once among otherwise-valid rows; the row from the greatest "
        "source file name, then the smallest sha2(raw_record), is kept"
    ),
}
REASON_PRIORITY: tuple[str, ...] = tuple(REASON_CODES)

#: parse rule -> the reason code a failed parse of that rule gives.
RULE_REASON: dict[str, str] = {
    INTEGER: INVALID_INTEGER,
    TIMESTAMP: INVALID_TIMESTAMP,
    DATE: INVALID_DATE,
    BOOLEAN: INVALID_BOOLEAN,
    DOUBLE: INVALID_NUMBER,
    AMOUNT: INVALID_AMOUNT,
}


@dataclass(frozen=True)
class Dataset:
    """One raw dataset: header, parse rules, key, required columns and PII."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (column, parse rule), in header order
    key: str
    pii: tuple[str, ...] = ()
    #: columns that must be present (non-empty) for a row to be valid (besides the key)
    required: tuple[str, ...] = ()
    #: (column, the values it may hold): any other value, or none, is INVALID_VALUE
    allowed: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def rules(self) -> dict[str, str]:
        return dict(self.columns)

    @property
    def raw_schema(self) -> T.StructType:
        """All-string schema used to read the CSV (never inferSchema)."""
        return T.StructType(
            [T.StructField(name, T.StringType(), True) for name in self.column_names]
        )

    @property
    def typed_schema(self) -> T.StructType:
        """The typed row after validation (without lineage columns)."""
        return T.StructType(
            [T.StructField(name, TARGET_TYPES[rule], True) for name, rule in self.columns]
        )


VEHICLES = Dataset(
    name="vehicles",
    columns=(
        ("active", BOOLEAN),
        ("vehicle_license_number", STRING),
        ("registration_name", STRING),
        ("license_type", STRING),
        ("expiration_date", DATE),
        ("permit_license_number", STRING),
        ("certification_date", DATE),
        ("vehicle_year", INTEGER),
        ("base_telematics_id", STRING),
        ("vehicle_type", STRING),
        ("brand", STRING),
        ("vehicle_id", STRING),
    ),
    key="vehicle_id",
    pii=("vehicle_license_number", "registration_name", "permit_license_number"),
    allowed=(("vehicle_type", VEHICLE_TYPES),),
)

LOCATIONS = Dataset(
    name="locations",
    columns=(
        ("location_id", INTEGER),
        ("location_name", STRING),
        ("address", STRING),
        ("city", STRING),
        ("state", STRING),
        ("zip_code", STRING),
        ("latitude", DOUBLE),
        ("longitude", DOUBLE),
    ),
    key="location_id",
)

USERS = Dataset(
    name="users",
    columns=(
        ("user_id", STRING),
        ("first_name", STRING),
        ("last_name", STRING),
        ("email", STRING),
        ("phone_number", STRING),
        ("driver_license_number", STRING),
        ("driver_license_expiry", DATE),
        ("creation_date", DATE),
        ("is_active", BOOLEAN),
    ),
    key="user_id",
    pii=("first_name", "last_name", "email", "phone_number", "driver_license_number"),
)

RENTAL_TRANSACTIONS = Dataset(
    name="rental_transactions",
    columns=(
        ("rental_id", STRING),
        ("user_id", STRING),
        ("vehicle_id", STRING),
        ("rental_start_time", TIMESTAMP),
        ("rental_end_time", TIMESTAMP),
        ("pickup_location", INTEGER),
        ("dropoff_location", INTEGER),
        ("total_amount", AMOUNT),
    ),
    key="rental_id",
    required=(
        "rental_start_time",
        "rental_end_time",
        "pickup_location",
        "dropoff_location",
        "total_amount",
    ),
)

CONTRACT: dict[str, Dataset] = {
    ds.name: ds for ds in (VEHICLES, LOCATIONS, USERS, RENTAL_TRANSACTIONS)
}
PII_COLUMNS: dict[str, tuple[str, ...]] = {name: ds.pii for name, ds in CONTRACT.items()}

#: lineage columns added by the reader.
SOURCE_FILE = "source_file"
RAW_RECORD = "raw_record"
CORRUPT_RECORD = "_corrupt_record"

#: the quarantine columns that precede the raw columns.
QUARANTINE_LEADING_COLUMNS = (
    "dataset",
    "job",
    "run_id",
    SOURCE_FILE,
    "reason_code",
    "reason_codes",
    "reason_detail",
    RAW_RECORD,
)
