"""Row-level validation: pure functions from a raw (all-string) DataFrame to (valid, rejected).

ANSI mode is on, so a plain ``cast`` of bad text would kill the job: every parse here is a
regular expression plus ``try_cast`` / ``try_to_timestamp``. Each row gets ``reason_codes``
(every failing rule, in priority order) and ``reason_code`` (the first one).

``annotate_*`` returns the raw columns + typed columns (prefixed ``t__``) + reason columns, so
a caller can cache it once and :func:`split` it into valid and rejected frames. The one
eager step is :func:`repeated_keys` (a small aggregation that picks the rows the duplicate-key
ranking must look at).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_ingest import contract as C

TYPED_PREFIX = "t__"
#: every pattern ends with ``\z`` (the end of the text), not ``$``: Java's ``$`` also matches
#: before a final line break, so Spark took a quoted "4\n" for an integer, DuckDB's RE2 did not
INTEGER_RE = r"^[+-]?[0-9]+\z"
DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\z"
TIMESTAMP_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\z"
DOUBLE_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\z"
AMOUNT_RE = r"^[+-]?[0-9]+(\.[0-9]{1,2})?\z"
BOOLEAN_TRUE = ("1", "true")
BOOLEAN_VALUES = ("0", "1", "true", "false")
ID_COLUMNS = ("rental_id", "user_id", "vehicle_id")


def typed(column: str) -> str:
    return f"{TYPED_PREFIX}{column}"


#: what Java's regex ``\s`` matches: space, tab, newline, vertical tab, form feed, return
WHITESPACE = " \t\n\x0b\f\r"
REPLACEMENT_CHAR = "\ufffd"  # what Spark's UTF-8 decoder puts in place of invalid bytes


def _edge_whitespace(value: Column) -> Column:
    """``value`` starts or ends with one of the :data:`WHITESPACE` characters: its first and
    last characters looked up in that set. Measured at 10M rentals on DuckDB (three ID
    columns, three rounds), it is as fast as the regular expression ``^[…]|[…]$`` on its own,
    and it does not need one. Two other forms were slower: ``isin`` of the first and last
    characters (DuckDB plans an IN list as a join), and ``startswith``/``endswith`` for each
    character (on Spark its generated code grew too large: a 1M-rental ``validate_inputs``
    took 84 s instead of 71 s)."""
    edges = F.lit(WHITESPACE)
    first, last = F.substring(value, 1, 1), F.substring(value, -1, 1)
    return (value != F.lit("")) & (edges.contains(first) | edges.contains(last))


def strip_whitespace(value: Column) -> Column:
    """``value`` without leading/trailing whitespace of any kind (``F.trim`` strips spaces
    only): ``btrim`` with a character set, the same on both engines. It is applied only to
    values the edge test matches (when it does not, ``btrim`` would return the value as it
    is): DuckDB's ``trim(value, characters)`` costs about 3x the test there, and almost every
    value has nothing to strip."""
    return F.when(_edge_whitespace(value), F.btrim(value, F.lit(WHITESPACE))).otherwise(value)


def _blank(value: Column) -> Column:
    """Null, empty or whitespace-only (spaces, tabs, ...)."""
    return value.isNull() | (strip_whitespace(value) == F.lit(""))


def trim_spaces(value: Column) -> Column:
    """``value`` without leading/trailing ASCII spaces (U+0020) only: Spark's ``trim``.
    ``F.trim`` is not that on DuckDB, whose ``trim`` also strips other spaces (U+00A0,
    U+3000, ...); ``btrim`` with the space is ``trim(value, ' ')`` there."""
    return F.btrim(value, F.lit(" "))


def _try_cast(sql: str, sql_type: str) -> Column:
    """``try_cast(sql as sql_type)``, written in SQL: the same on Spark and sqlframe."""
    return F.expr(f"try_cast({sql} as {sql_type})")


def _matching(name: str, pattern: str, parse: Callable[[Column, str], Column]) -> Column:
    """``parse`` of raw column ``name`` when it matches ``pattern`` as it is, or else once
    trimmed of spaces (:func:`trim_spaces`); null otherwise. ``parse`` gets the value as a
    Column and as SQL text (for :func:`_try_cast`).

    The untrimmed test comes first and the trimmed branch runs only for the rows it fails:
    almost no value has spaces to trim, and on DuckDB ``trim`` costs more than the test
    (about 1.2 s per 10M values, measured). The results are those of testing the trimmed
    value alone: no pattern here allows an outer space, so a value that matches as it is
    equals its trimmed self."""
    raw, text = F.col(name), trim_spaces(F.col(name))
    return F.when(raw.rlike(pattern), parse(raw, f"`{name}`")).when(
        text.rlike(pattern), parse(text, f"trim(BOTH ' ' FROM `{name}`)")
    )


def parse_column(name: str, rule: str) -> Column:
    """The typed value of raw column ``name`` under ``rule``; null when blank or unparseable."""
    raw = F.col(name)
    if rule == C.STRING:
        if name in ID_COLUMNS:
            stripped = strip_whitespace(raw)
            return F.when(stripped != F.lit(""), stripped)
        return F.when(~_blank(raw), raw)
    if rule == C.INTEGER:
        return _matching(name, INTEGER_RE, lambda _, sql: _try_cast(sql, "int"))
    if rule == C.TIMESTAMP:
        fmt = F.lit(C.TIMESTAMP_FORMAT)
        return _matching(name, TIMESTAMP_RE, lambda value, _: F.try_to_timestamp(value, fmt))
    if rule == C.DATE:
        fmt = F.lit(C.DATE_FORMAT)
        return _matching(
            name, DATE_RE, lambda value, _: F.try_to_timestamp(value, fmt).cast("date")
        )
    if rule == C.BOOLEAN:
        lowered = F.lower(trim_spaces(raw))
        return F.when(lowered.isin(*BOOLEAN_VALUES), lowered.isin(*BOOLEAN_TRUE))
    if rule == C.DOUBLE:
        return _matching(name, DOUBLE_RE, lambda _, sql: _try_cast(sql, "double"))
    if rule == C.AMOUNT:
        amount = C.AMOUNT_TYPE.simpleString()
        return _matching(name, AMOUNT_RE, lambda _, sql: _try_cast(sql, amount))
    raise ValueError(f"unknown parse rule {rule!r} for column {name!r}")


def canonical_text(name: str, rule: str) -> Column | None:
    """The one spelling of typed column ``name`` that parses back to it under ``rule``, or
    None for the rules not listed (no stored frame needs them). A raw value equal to it is
    what :func:`parse_column` read, so a stored row need not keep it (:func:`drop_canonical_raw`).
    """
    value = F.col(typed(name))
    if rule == C.STRING:
        return value
    if rule in (C.INTEGER, C.AMOUNT):
        return value.cast("string")
    if rule == C.TIMESTAMP:
        return F.date_format(value, C.TIMESTAMP_FORMAT)
    return None


def raw_value(name: str, rule: str) -> Column:
    """Raw column ``name``, or, where :func:`drop_canonical_raw` left it null, the text it held:
    the canonical spelling of its typed value. On a frame that keeps every raw value it is the
    raw column itself (a null raw value parses to a null typed one). Read only where the raw
    text is shown (a rejected row's fields, its record, a reason's detail) or ranked (the
    duplicate-key tie-break), so the text is rebuilt for those few rows, not for every row."""
    canonical = canonical_text(name, rule)
    return F.col(name) if canonical is None else F.coalesce(F.col(name), canonical)


def drop_canonical_raw(parsed: DataFrame, ds: C.Dataset) -> DataFrame:
    """``parsed`` with each raw value that equals the canonical spelling of its typed value
    nulled (:func:`raw_value` gives it back). Almost every value of a clean file is canonical,
    so the stored parsed rows keep little more than their typed values: at 2M rentals the
    store was 58 MB instead of 112 MB and written in 13.6 to 14.0 s instead of 15.1 to 15.7 s."""
    slim = {}
    for name, rule in ds.columns:
        canonical = canonical_text(name, rule)
        if canonical is not None:
            raw = F.col(name)
            slim[name] = F.when(~raw.eqNullSafe(canonical), raw)
    return parsed.withColumns(slim)


def _detail(column: str, message: str, rule: str | None = None) -> Column:
    """``<column>='<raw text>' <message>``; with its parse ``rule``, the raw text as
    :func:`raw_value` gives it (for details built after the parsed rows were stored)."""
    value = F.col(column) if rule is None else raw_value(column, rule)
    return F.concat(F.lit(f"{column}='"), F.coalesce(value, F.lit("")), F.lit(f"' {message}"))


def _parse_checks(ds: C.Dataset) -> list[tuple[str, Column, Column]]:
    """(reason code, failed?, detail) for the key and every typed column of ``ds``."""
    checks: list[tuple[str, Column, Column]] = [
        (C.NULL_KEY, _blank(F.col(ds.key)), F.lit(f"{ds.key} is null or blank"))
    ]
    for name, rule in ds.columns:
        if rule == C.STRING:
            continue
        required = name == ds.key or name in ds.required
        failed = F.col(typed(name)).isNull()
        if not required:  # an optional value fails only when it is there and does not parse
            failed = failed & ~_blank(F.col(name))
        if name == ds.key:
            failed = failed & ~_blank(F.col(name))  # a blank key is NULL_KEY, not a parse error
        checks.append((C.RULE_REASON[rule], failed, _detail(name, f"is not a valid {rule}")))
    for name, values in ds.allowed:
        # the parsed value, so a blank one (parsed to null) fails too
        known = F.coalesce(F.col(typed(name)).isin(*values), F.lit(False))
        message = "is not one of " + ", ".join(values)
        checks.append((C.INVALID_VALUE, ~known, _detail(name, message)))
    return checks


def raw_record(ds: C.Dataset) -> Column:
    """The row's raw text: ``_corrupt_record`` (the line of a row the reader could not split),
    or else the fields joined with commas. Computed where it is needed (the rejected rows and
    the duplicate-key ranking), never stored for every row."""
    fields = [F.coalesce(raw_value(name, rule), F.lit("")) for name, rule in ds.columns]
    joined = F.concat_ws(",", *fields)
    return F.coalesce(F.col(C.CORRUPT_RECORD), joined)


def _any_field_contains(names: tuple[str, ...], text: str) -> Column:
    """Some field of the row holds ``text``: for a row the reader split, the same as
    :func:`raw_record` holding it (the joining commas never do), without building the text."""
    found = [F.coalesce(F.col(name).contains(text), F.lit(False)) for name in names]
    return reduce(lambda a, b: a | b, found)


def _no_reasons() -> Column:
    return F.expr("cast(array() as array<string>)")


def _with_reasons(
    df: DataFrame,
    checks: list[tuple[str, Column, Column]],
    ds: C.Dataset,
    line_delimited: bool = False,
) -> DataFrame:
    """Add ``reason_codes`` (priority order, distinct) and ``reason_detail``.

    A malformed row (wrong number of fields, or bytes that are not valid UTF-8, which Spark
    decodes to U+FFFD) gets MALFORMED_ROW only: its fields are unreliable. In a
    ``line_delimited`` dataset (read with multiLine=False) a parsed value holding a double
    quote is the tail of a record broken by a newline, so it is MALFORMED_ROW too.
    """
    order = {code: i for i, code in enumerate(C.REASON_PRIORITY)}
    checks = sorted(checks, key=lambda check: order[check[0]])
    failed_by_code: dict[str, Column] = {}  # one entry per code, in priority order
    for code, failed, _ in checks:
        earlier = failed_by_code.get(code)
        failed_by_code[code] = failed if earlier is None else earlier | failed
    codes = F.filter(
        F.array(*[F.when(failed, F.lit(code)) for code, failed in failed_by_code.items()]),
        lambda c: c.isNotNull(),
    )
    details = F.concat_ws("; ", *[F.when(failed, detail) for _, failed, detail in checks])
    # the lists and texts are built only for the rows that fail a check: a valid row (almost
    # every row) gets the constant empty answer
    failing = reduce(lambda a, b: a | b, failed_by_code.values())
    n_fields = len(ds.columns)
    # a row with a _corrupt_record is malformed whatever its text holds, so for the other
    # rows "the raw record holds X" is "some field holds X"
    wrong_fields = F.col(C.CORRUPT_RECORD).isNotNull()
    not_utf8 = _any_field_contains(ds.column_names, REPLACEMENT_CHAR)
    malformed = wrong_fields | not_utf8
    if line_delimited:
        malformed = malformed | _any_field_contains(ds.column_names, '"')
    return df.withColumns(
        {
            "reason_codes": F.when(malformed, F.array(F.lit(C.MALFORMED_ROW)))
            .when(failing, codes)
            .otherwise(_no_reasons()),
            "reason_detail": F.when(
                wrong_fields,
                F.lit(f"{C.REASON_CODES[C.MALFORMED_ROW]} (expected {n_fields} fields)"),
            )
            .when(not_utf8, F.lit("the row holds bytes that are not valid UTF-8"))
            .when(malformed, F.lit("a stray double quote: a record broken by a newline"))
            .when(failing, details)
            .otherwise(F.lit("")),
        }
    )


def _typed_columns(ds: C.Dataset) -> list[Column]:
    return [parse_column(name, rule).alias(typed(name)) for name, rule in ds.columns]


#: Above this many repeated keys the window runs over every row: an ``isin`` list that long
#: costs more than the shuffle it saves.
MAX_CANDIDATE_KEYS = 10_000


def repeated_keys(df: DataFrame, ds: C.Dataset) -> list | None:
    """Keys held by more than one otherwise-valid row (one narrow aggregation), or None when
    there are more than :data:`MAX_CANDIDATE_KEYS` of them."""
    rows = (
        df.filter(F.size("reason_codes") == 0)
        .groupBy(F.col(typed(ds.key)).alias("k"))
        .count()
        .filter(F.col("count") > 1)
        .select("k")
        .limit(MAX_CANDIDATE_KEYS + 1)
        .collect()
    )
    keys = [row["k"] for row in rows]
    return None if len(keys) > MAX_CANDIDATE_KEYS else keys


def _dedupe(df: DataFrame, ds: C.Dataset, wider: DataFrame | None = None) -> DataFrame:
    """Deterministic DUPLICATE_KEY among otherwise-valid rows.

    Keep the row from the greatest source file name (then full path), then the smallest
    sha2(raw_record); every other otherwise-valid row with the same key is quarantined.
    Only rows whose key repeats go through the ranking window (a shuffle and sort); a key
    held by one otherwise-valid row cannot be a duplicate.

    ``wider``: rows whose otherwise-valid rows include ``df``'s (the rentals before the orphan
    joins added reasons, or :func:`keys_only` of the raw rows). The repeated keys are counted there,
    without the work that leads from ``wider`` to ``df``: a key that repeats in ``df``'s
    otherwise-valid rows repeats in ``wider``'s, and the ranking window decides exactly.
    """
    keys = repeated_keys(df if wider is None else wider, ds)
    if keys is None:
        return _mark_duplicates(df, ds)
    if not keys:
        return df
    candidate = F.coalesce(F.col(typed(ds.key)).isin(keys), F.lit(False))
    return _mark_duplicates(df.filter(candidate), ds).unionByName(df.filter(~candidate))


def _mark_duplicates(df: DataFrame, ds: C.Dataset) -> DataFrame:
    """The ranking window of :func:`_dedupe` over every row of ``df``."""
    clean = F.size("reason_codes") == 0
    window = Window.partitionBy(F.col(typed(ds.key)), clean).orderBy(
        F.regexp_extract(F.col(C.SOURCE_FILE), r"([^/]*)\z", 1).desc(),
        F.col(C.SOURCE_FILE).desc(),
        F.sha2(raw_record(ds), 256).asc(),
    )
    duplicate = clean & (F.row_number().over(window) > 1)
    return df.withColumns(
        {
            "reason_codes": F.when(duplicate, F.array(F.lit(C.DUPLICATE_KEY))).otherwise(
                F.col("reason_codes")
            ),
            "reason_detail": F.when(
                duplicate,
                F.concat(
                    F.lit(f"{ds.key}='"),
                    F.col(typed(ds.key)).cast("string"),
                    F.lit("' repeats a kept row"),
                ),
            ).otherwise(F.col("reason_detail")),
        }
    )


def _finish(df: DataFrame) -> DataFrame:
    return df.withColumn("reason_code", F.try_element_at(F.col("reason_codes"), F.lit(1)))


def parse_dimension(raw: DataFrame, ds: C.Dataset) -> DataFrame:
    """Row-level half of a dimension's checks: typed columns + the reasons that depend on the
    row alone (malformed, key present, types parse)."""
    df = raw.select("*", *_typed_columns(ds))
    return _with_reasons(df, _parse_checks(ds), ds)


def check_dimension(parsed: DataFrame, ds: C.Dataset) -> DataFrame:
    """Set-level half: duplicate keys among the rows of :func:`parse_dimension`."""
    return _finish(_dedupe(parsed, ds))


def annotate_dimension(raw: DataFrame, ds: C.Dataset) -> DataFrame:
    """Typed columns + reasons for a dimension (keys present and unique, types parse)."""
    return check_dimension(parse_dimension(raw, ds), ds)


def _key_flag(valid_dim: DataFrame, key: str, flag: str) -> DataFrame:
    return valid_dim.select(F.col(key).alias(f"_k_{flag}"), F.lit(True).alias(flag)).hint(
        "broadcast"
    )


def parse_rentals(raw: DataFrame) -> DataFrame:
    """Row-level half of the rental checks: typed columns + reasons that depend on the row alone
    (malformed, key, types, negative amount, end before start).

    Its output depends on nothing but the row, so incremental runs store it per raw file
    (:mod:`spark_ingest.state`) and never parse an already-seen file again.
    """
    ds = C.RENTAL_TRANSACTIONS
    df = raw.select("*", *_typed_columns(ds))
    amount = F.col(typed("total_amount"))
    start, end = F.col(typed("rental_start_time")), F.col(typed("rental_end_time"))
    checks = [
        *_parse_checks(ds),
        (C.NEGATIVE_AMOUNT, amount < 0, _detail("total_amount", "is negative")),
        (
            C.END_BEFORE_START,
            F.coalesce(end < start, F.lit(False)),
            F.lit("rental_end_time is before rental_start_time"),
        ),
    ]
    checks = [(code, F.coalesce(failed, F.lit(False)), d) for code, failed, d in checks]
    return _with_reasons(df, checks, ds, line_delimited=True)


def keys_only(raw: DataFrame, ds: C.Dataset) -> DataFrame:
    """The raw rows with only their key parsed, each one otherwise valid unless its key is
    blank: a ``wider`` frame for :func:`check_rentals` that costs a scan of the key column, not
    a parse of every column. A key that repeats among the parsed otherwise-valid rows repeats
    here too."""
    key = parse_column(ds.key, dict(ds.columns)[ds.key])
    return raw.select(
        key.alias(typed(ds.key)),
        F.when(key.isNull(), F.array(F.lit(C.NULL_KEY)))
        .otherwise(_no_reasons())
        .alias("reason_codes"),
    )


def check_rentals(
    parsed: DataFrame,
    users: DataFrame,
    vehicles: DataFrame,
    locations: DataFrame,
    wider: DataFrame | None = None,
) -> DataFrame:
    """Set-level half: orphan checks against the VALID dimension frames (keys unique), then
    duplicate keys across the rows given. A recheck runs it over every stored parsed row (so a
    rental quarantined as an orphan is re-evaluated when its dimension row arrives); an append
    run over the new rows only, when :func:`shared_valid_keys` shows that is exact.

    ``wider`` (default ``parsed``): where the repeated keys are counted (see :func:`_dedupe`),
    for example :func:`keys_only` of the raw rows, so ``parsed`` need not be computed twice."""
    ds = C.RENTAL_TRANSACTIONS
    rules = dict(ds.columns)
    df = parsed
    lookups = (
        (users, "user_id", typed("user_id"), "_has_user"),
        (vehicles, "vehicle_id", typed("vehicle_id"), "_has_vehicle"),
        (locations, "location_id", typed("pickup_location"), "_has_pickup"),
        (locations, "location_id", typed("dropoff_location"), "_has_dropoff"),
    )
    for dim, key, fk, flag in lookups:
        df = df.join(_key_flag(dim, key, flag), on=F.col(fk) == F.col(f"_k_{flag}"), how="left")
    orphans = [
        (
            C.ORPHAN_USER,
            F.col("_has_user").isNull(),
            _detail("user_id", "is not a valid user", rules["user_id"]),
        ),
        (
            C.ORPHAN_VEHICLE,
            F.col("_has_vehicle").isNull(),
            _detail("vehicle_id", "is not a valid vehicle", rules["vehicle_id"]),
        ),
        (
            C.ORPHAN_PICKUP_LOCATION,
            F.col(typed("pickup_location")).isNotNull() & F.col("_has_pickup").isNull(),
            _detail("pickup_location", "is not a valid location", rules["pickup_location"]),
        ),
        (
            C.ORPHAN_DROPOFF_LOCATION,
            F.col(typed("dropoff_location")).isNotNull() & F.col("_has_dropoff").isNull(),
            _detail("dropoff_location", "is not a valid location", rules["dropoff_location"]),
        ),
    ]
    orphans = [(code, F.coalesce(failed, F.lit(False)), d) for code, failed, d in orphans]
    # orphan codes come after every row-level code in REASON_PRIORITY, so appending them keeps
    # the priority order; a malformed row keeps MALFORMED_ROW alone (its fields are unreliable)
    malformed = F.array_contains(F.col("reason_codes"), C.MALFORMED_ROW)
    orphan_codes = F.filter(
        F.array(*[F.when(failed, F.lit(code)) for code, failed, _ in orphans]),
        lambda c: c.isNotNull(),
    )
    row_detail = F.when(F.col("reason_detail") != "", F.col("reason_detail"))
    df = df.withColumns(
        {
            "reason_codes": F.when(malformed, F.col("reason_codes")).otherwise(
                F.concat(F.col("reason_codes"), orphan_codes)
            ),
            "reason_detail": F.when(malformed, F.col("reason_detail")).otherwise(
                F.concat_ws("; ", row_detail, *[F.when(f, d) for _, f, d in orphans])
            ),
        }
    )
    # one drop at the end: on sqlframe every operation copies the whole plan built so far
    df = df.drop(*[name for *_, flag in lookups for name in (flag, f"_k_{flag}")])
    return _finish(_dedupe(df, ds, wider=parsed if wider is None else wider))


def annotate_rentals(
    raw: DataFrame, users: DataFrame, vehicles: DataFrame, locations: DataFrame
) -> DataFrame:
    """Typed columns + reasons for rentals; ``users``/``vehicles``/``locations`` are the VALID
    typed dimension frames (keys unique)."""
    return check_rentals(parse_rentals(raw), users, vehicles, locations)


def shared_valid_keys(
    new: DataFrame, old: DataFrame, ds: C.Dataset, broadcast_new: bool = False
) -> DataFrame:
    """Keys of valid rows in ``new`` that a valid row of ``old`` also holds (checked frames).

    Empty means that checking ``new`` on its own gives the verdicts a check over both would
    give: the duplicate-key ranking only compares otherwise-valid rows with the same key, and
    every key with a DUPLICATE_KEY row also has a valid (kept) row. ``broadcast_new``: ``new``
    is small (a daily file), so ``old`` is scanned once and never shuffled.
    """
    key = typed(ds.key)
    valid = F.col("reason_code").isNull()
    new_keys = new.filter(valid).select(key)
    return (
        old.filter(valid)
        .select(key)
        .join(new_keys.hint("broadcast") if broadcast_new else new_keys, on=key, how="left_semi")
        .distinct()
    )


def compact(annotated: DataFrame, ds: C.Dataset) -> DataFrame:
    """The columns :func:`split` needs, with the raw text kept only for rejected rows.

    This is the frame worth caching: valid rows carry only their typed values (the raw
    strings, the raw record and the source file are nulled), so the cache is a fraction of
    the annotated frame's size.
    """
    rejected = F.col("reason_code").isNotNull()
    return annotated.select(
        *[F.col(typed(name)) for name in ds.column_names],
        "reason_code",
        "reason_codes",
        "reason_detail",
        F.when(rejected, F.col(C.SOURCE_FILE)).alias(C.SOURCE_FILE),
        F.when(rejected, raw_record(ds)).alias(C.RAW_RECORD),
        *[F.when(rejected, raw_value(name, rule)).alias(name) for name, rule in ds.columns],
    )


def split(annotated: DataFrame, ds: C.Dataset) -> tuple[DataFrame, DataFrame]:
    """(valid typed rows, rejected rows) of a :func:`compact` frame."""
    is_valid = F.col("reason_code").isNull()
    valid = annotated.filter(is_valid).select(
        *[F.col(typed(name)).alias(name) for name in ds.column_names]
    )
    rejected = annotated.filter(~is_valid).select(
        C.SOURCE_FILE,
        "reason_code",
        "reason_codes",
        "reason_detail",
        C.RAW_RECORD,
        *ds.column_names,
    )
    return valid, rejected


def validate_dimension(raw: DataFrame, ds: C.Dataset) -> tuple[DataFrame, DataFrame]:
    return split(compact(annotate_dimension(raw, ds), ds), ds)


def validate_rentals(
    raw: DataFrame, users: DataFrame, vehicles: DataFrame, locations: DataFrame
) -> tuple[DataFrame, DataFrame]:
    ds = C.RENTAL_TRANSACTIONS
    return split(compact(annotate_rentals(raw, users, vehicles, locations), ds), ds)
