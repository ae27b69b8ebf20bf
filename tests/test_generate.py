"""The sample-data generator: determinism, the raw contract, realism and injected defects.

Expectations are computed here with plain Python (``csv`` module, regexes, ``datetime``):
a small reference validator implements the INTERFACES.md reason-code rules independently of
the generator and must find exactly the counts the generator's manifest promises.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carrental.cli import app
from carrental.errors import UsageError
from carrental.generate import append_day, generate

HEADERS = {
    "vehicles": [
        "active", "vehicle_license_number", "registration_name", "license_type",
        "expiration_date", "permit_license_number", "certification_date", "vehicle_year",
        "base_telematics_id", "vehicle_type", "brand", "vehicle_id",
    ],
    "locations": [
        "location_id", "location_name", "address", "city", "state", "zip_code", "latitude",
        "longitude",
    ],
    "users": [
        "user_id", "first_name", "last_name", "email", "phone_number", "driver_license_number",
        "driver_license_expiry", "creation_date", "is_active",
    ],
    "rental_transactions": [
        "rental_id", "user_id", "vehicle_id", "rental_start_time", "rental_end_time",
        "pickup_location", "dropoff_location", "total_amount",
    ],
}  # fmt: skip
VEHICLE_TYPES = {"economy", "compact", "midsize", "suv", "luxury", "van"}
ALL_REASON_CODES = {
    "MALFORMED_ROW", "NULL_KEY", "INVALID_INTEGER", "INVALID_TIMESTAMP", "INVALID_DATE",
    "INVALID_BOOLEAN", "INVALID_NUMBER", "INVALID_AMOUNT", "INVALID_VALUE", "NEGATIVE_AMOUNT",
    "END_BEFORE_START",
    "ORPHAN_USER", "ORPHAN_VEHICLE", "ORPHAN_PICKUP_LOCATION", "ORPHAN_DROPOFF_LOCATION",
    "DUPLICATE_KEY",
}  # fmt: skip
TS_FORMAT = "%Y-%m-%d %H:%M:%S"
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INT_RE = re.compile(r"^[+-]?\d+$")
AMOUNT_RE = re.compile(r"^-?\d+(\.\d{1,2})?$")
BOOLEANS = {"0", "1", "true", "false"}
RAW = Path("data/raw")


# ---------------------------------------------------------------------------- helpers


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def dataset_rows(lake: Path, dataset: str) -> list[list[str]]:
    out: list[list[str]] = []
    for path in sorted((lake / RAW / dataset).glob("*.csv")):
        out.extend(read_csv(path)[1])
    return out


def sha_tree(lake: Path) -> dict[str, str]:
    return {
        str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(lake.rglob("*"))
        if p.is_file()
    }


def parse_ts(text: str) -> datetime | None:
    if not TS_RE.match(text):
        return None
    try:
        return datetime.strptime(text, TS_FORMAT)
    except ValueError:
        return None


def is_date(text: str) -> bool:
    if not DATE_RE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text and text != ""


def dim_reason(dataset: str, row: list[str]) -> str | None:
    """The primary reason code of a dimension row under the INTERFACES.md priority order."""
    cols = HEADERS[dataset]
    if len(row) != len(cols):
        return "MALFORMED_ROW"
    rec = dict(zip(cols, row, strict=True))
    key = {"vehicles": "vehicle_id", "locations": "location_id", "users": "user_id"}[dataset]
    if rec[key].strip() == "":
        return "NULL_KEY"
    if dataset == "locations" and not INT_RE.match(rec["location_id"]):
        return "INVALID_INTEGER"
    if dataset == "vehicles" and not INT_RE.match(rec["vehicle_year"]):
        return "INVALID_INTEGER"
    dates = {
        "vehicles": ("expiration_date", "certification_date"),
        "users": ("driver_license_expiry", "creation_date"),
    }.get(dataset, ())
    if not all(is_date(rec[c]) for c in dates):
        return "INVALID_DATE"
    flag = {"vehicles": "active", "users": "is_active"}.get(dataset)
    if flag and rec[flag].lower() not in BOOLEANS:
        return "INVALID_BOOLEAN"
    if dataset == "locations" and not (is_float(rec["latitude"]) and is_float(rec["longitude"])):
        return "INVALID_NUMBER"
    if dataset == "vehicles" and rec["vehicle_type"] not in VEHICLE_TYPES:
        return "INVALID_VALUE"
    return None


def reference_validate(lake: Path) -> dict[str, Counter]:
    """Reason-code counts per dataset, from the raw CSVs alone (an independent validator)."""
    result: dict[str, Counter] = {}
    valid_keys: dict[str, set] = {}
    for dataset, key in (("vehicles", 11), ("locations", 0), ("users", 0)):
        counts: Counter = Counter()
        seen: Counter = Counter()
        for row in dataset_rows(lake, dataset):
            reason = dim_reason(dataset, row)
            if reason:
                counts[reason] += 1
            else:
                seen[row[key]] += 1
        counts["DUPLICATE_KEY"] += sum(n - 1 for n in seen.values())
        result[dataset] = +counts
        valid_keys[dataset] = {int(k) for k in seen} if dataset == "locations" else set(seen)

    counts = Counter()
    seen = Counter()
    for row in dataset_rows(lake, "rental_transactions"):
        reason = rental_reason(row, valid_keys)
        if reason:
            counts[reason] += 1
        else:
            seen[row[0]] += 1
    counts["DUPLICATE_KEY"] += sum(n - 1 for n in seen.values())
    result["rental_transactions"] = +counts
    return result


def rental_reason(row: list[str], keys: dict[str, set]) -> str | None:
    if len(row) != 8:
        return "MALFORMED_ROW"
    rental_id, user, vehicle, start, end, pickup, dropoff, amount = row
    if rental_id.strip() == "":
        return "NULL_KEY"
    if not (INT_RE.match(pickup) and INT_RE.match(dropoff)):
        return "INVALID_INTEGER"
    t0, t1 = parse_ts(start), parse_ts(end)
    if t0 is None or t1 is None:
        return "INVALID_TIMESTAMP"
    if not AMOUNT_RE.match(amount) or Decimal(amount) >= 10**10:
        return "INVALID_AMOUNT"
    if Decimal(amount) < 0:
        return "NEGATIVE_AMOUNT"
    if t1 < t0:
        return "END_BEFORE_START"
    if user not in keys["users"]:
        return "ORPHAN_USER"
    if vehicle not in keys["vehicles"]:
        return "ORPHAN_VEHICLE"
    if int(pickup) not in keys["locations"]:
        return "ORPHAN_PICKUP_LOCATION"
    if int(dropoff) not in keys["locations"]:
        return "ORPHAN_DROPOFF_LOCATION"
    return None


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def clean_lake(tmp_path_factory) -> Path:
    lake = tmp_path_factory.mktemp("clean")
    generate(lake, 6000, seed=7, days=28)
    return lake


@pytest.fixture(scope="module")
def dirty_lake(tmp_path_factory) -> Path:
    lake = tmp_path_factory.mktemp("dirty")
    generate(lake, 5000, seed=11, dirty_fraction=0.08, days=10, split="daily")
    return lake


# ---------------------------------------------------------------------------- determinism


def test_same_arguments_give_byte_identical_files(tmp_path):
    args = {"seed": 3, "dirty_fraction": 0.05, "days": 5, "split": "daily"}
    generate(tmp_path / "a", 3000, **args)
    generate(tmp_path / "b", 3000, **args)
    first, second = sha_tree(tmp_path / "a"), sha_tree(tmp_path / "b")
    assert len(first) == 3 + 5 + 1  # 3 dimension files, 5 day files, the manifest
    assert first == second
    generate(tmp_path / "c", 3000, **{**args, "seed": 4})
    other = sha_tree(tmp_path / "c")
    day_file = "data/raw/rental_transactions/rentals_2024-01-01.csv"
    assert other[day_file] != first[day_file]


def test_manifest_sha256_and_rows_match_the_files(dirty_lake):
    manifest = json.loads((dirty_lake / "generator_manifest.json").read_text())
    for dataset, files in manifest["files"].items():
        for entry in files:
            path = dirty_lake / entry["path"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], path
            assert len(read_csv(path)[1]) == entry["rows"], path
        assert manifest["expected"][dataset]["rows_read"] == sum(f["rows"] for f in files)


# ---------------------------------------------------------------------------- contract


def test_layout_headers_and_row_counts(clean_lake):
    for dataset, header in HEADERS.items():
        files = sorted((clean_lake / RAW / dataset).glob("*.csv"))
        assert [f.name for f in files] == [f"{dataset}.csv"]
        text = files[0].read_bytes()
        assert text.startswith((",".join(header) + "\n").encode())
        assert text.endswith(b"\n") and b"\r" not in text
        assert read_csv(files[0])[0] == header
    assert len(dataset_rows(clean_lake, "rental_transactions")) == 6000
    manifest = json.loads((clean_lake / "generator_manifest.json").read_text())
    assert manifest["arguments"]["transactions"] == 6000
    for dataset in HEADERS:
        expected = manifest["expected"][dataset]
        assert expected["rejected"] == 0 and expected["rejected_by_reason"] == {}
        assert expected["valid"] == len(dataset_rows(clean_lake, dataset))


def test_clean_values_parse_and_follow_the_formats(clean_lake):
    rentals = dataset_rows(clean_lake, "rental_transactions")
    ids = [r[0] for r in rentals]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"R\d{8}-\d{8}", i) for i in ids)
    for row in rentals:
        assert len(row) == 8
        start, end = parse_ts(row[3]), parse_ts(row[4])
        assert start is not None and end is not None and end > start, row
        assert INT_RE.match(row[5]) and INT_RE.match(row[6])
        assert re.fullmatch(r"\d+\.\d{2}", row[7]) and 0 < Decimal(row[7]) < 10**10, row
        assert date(2024, 1, 1) <= start.date() < date(2024, 1, 29)
    for row in dataset_rows(clean_lake, "vehicles"):
        assert row[0] in {"0", "1"} and row[9] in VEHICLE_TYPES
        assert is_date(row[4]) and is_date(row[6]) and INT_RE.match(row[7])
    for row in dataset_rows(clean_lake, "locations"):
        assert INT_RE.match(row[0]) and re.fullmatch(r"\d{5}", row[5])
        assert re.fullmatch(r"[A-Z]{2}", row[4])
        assert 18 < float(row[6]) < 72 and -170 < float(row[7]) < -60
    for row in dataset_rows(clean_lake, "users"):
        assert row[8] in {"0", "1"} and is_date(row[6]) and is_date(row[7])
        assert re.fullmatch(r"[a-z]+\.[a-z]+\d+@[a-z.]+", row[3]), row[3]
        assert re.fullmatch(r"\d{3}-\d{3}-\d{4}", row[4])
        assert re.fullmatch(r"[A-Z]\d{7}", row[5])


def test_clean_rentals_reference_existing_dimension_rows(clean_lake):
    users = {r[0] for r in dataset_rows(clean_lake, "users")}
    vehicles = {r[11] for r in dataset_rows(clean_lake, "vehicles")}
    locations = {r[0] for r in dataset_rows(clean_lake, "locations")}
    for rental_id, user, vehicle, _, _, pickup, dropoff, _ in dataset_rows(
        clean_lake, "rental_transactions"
    ):
        assert user in users and vehicle in vehicles, rental_id
        assert pickup in locations and dropoff in locations, rental_id
    assert reference_validate(clean_lake) == {dataset: Counter() for dataset in HEADERS}


def test_valid_edge_cases_quoted_commas_and_unicode(clean_lake):
    raw_users = (clean_lake / RAW / "users" / "users.csv").read_text(encoding="utf-8")
    assert '"' in raw_users and not raw_users.isascii()
    last_names = [r[2] for r in dataset_rows(clean_lake, "users")]
    assert any(", " in n for n in last_names)  # read back as one field by the csv module
    addresses = [r[2] for r in dataset_rows(clean_lake, "locations")]
    assert any(", Suite" in a for a in addresses)


# ---------------------------------------------------------------------------- realism


def test_popularity_is_skewed_and_time_is_seasonal(clean_lake):
    rentals = dataset_rows(clean_lake, "rental_transactions")
    n = len(rentals)
    locations = len(dataset_rows(clean_lake, "locations"))
    pickups = Counter(r[5] for r in rentals)
    assert pickups.most_common(1)[0][1] / n > 3 / locations  # top location >> uniform share
    vehicles = Counter(r[2] for r in rentals)
    assert vehicles.most_common(1)[0][1] > 3 * n / len(dataset_rows(clean_lake, "vehicles"))

    starts = [parse_ts(r[3]) for r in rentals]
    hours = Counter(s.hour for s in starts)
    assert hours[8] + hours[17] > 5 * (hours[2] + hours[3])  # daytime peaks, quiet nights
    weekdays = Counter(s.weekday() for s in starts)  # 28 days: 4 of each weekday
    assert weekdays[5] > 1.3 * weekdays[1]  # Saturdays busier than Tuesdays

    hours_long = [
        (parse_ts(r[4]) - s).total_seconds() / 3600 for r, s in zip(rentals, starts, strict=True)
    ]
    assert min(hours_long) < 0.5 and max(hours_long) > 48  # minutes to days
    assert 1 < sorted(hours_long)[n // 2] < 6  # median of a few hours


def test_amounts_follow_vehicle_type_and_duration(clean_lake):
    vtype = {r[11]: r[9] for r in dataset_rows(clean_lake, "vehicles")}
    per_hour: dict[str, list[float]] = {}
    for r in dataset_rows(clean_lake, "rental_transactions"):
        hours = (parse_ts(r[4]) - parse_ts(r[3])).total_seconds() / 3600
        if 2 <= hours <= 6:  # same pricing regime: hourly, below the day cap
            per_hour.setdefault(vtype[r[2]], []).append(float(r[7]) / hours)
    mean = {t: sum(v) / len(v) for t, v in per_hour.items()}
    assert mean["luxury"] > 2 * mean["economy"]
    assert mean["economy"] < mean["suv"] < mean["luxury"]


def test_inactive_users_and_vehicles_exist(clean_lake):
    users = Counter(r[8] for r in dataset_rows(clean_lake, "users"))
    vehicles = Counter(r[0] for r in dataset_rows(clean_lake, "vehicles"))
    assert users["0"] > 0 and users["1"] > 5 * users["0"]
    assert vehicles["0"] > 0 and vehicles["1"] > 5 * vehicles["0"]


# ---------------------------------------------------------------------------- dirty data


def test_manifest_counts_match_an_independent_validator(dirty_lake):
    manifest = json.loads((dirty_lake / "generator_manifest.json").read_text())
    found = reference_validate(dirty_lake)
    for dataset in HEADERS:
        expected = manifest["expected"][dataset]
        assert dict(found[dataset]) == expected["rejected_by_reason"], dataset
        rows = len(dataset_rows(dirty_lake, dataset))
        assert expected["rows_read"] == rows
        assert expected["valid"] + expected["rejected"] == rows
    # about 8 % of the rentals are dirty (zero-length rentals are valid)
    assert 0.06 < manifest["expected"]["rental_transactions"]["rejected"] / 5000 < 0.08


def test_every_reason_code_and_defect_case_is_injected(dirty_lake):
    manifest = json.loads((dirty_lake / "generator_manifest.json").read_text())
    codes = set()
    for expected in manifest["expected"].values():
        codes |= set(expected["rejected_by_reason"])
    assert codes == ALL_REASON_CODES
    injected = manifest["injected"]["rental_transactions"]
    assert len(injected) == 19 and min(injected.values()) >= 1
    assert manifest["valid_edge_cases"]["rental_transactions"]["zero_length_rentals"] >= 1

    rentals = dataset_rows(dirty_lake, "rental_transactions")
    assert any(len(r) < 8 for r in rentals) and any(len(r) > 8 for r in rentals)
    full = [r for r in rentals if len(r) == 8]
    assert any(r[0] == "" for r in full) and any(r[0] != "" and r[0].strip() == "" for r in full)
    stamps = [r[3] for r in full] + [r[4] for r in full]
    assert any(s.endswith(("Z", "+02:00", " UTC")) for s in stamps)
    assert any(re.fullmatch(r"-?\d+\.\d{3}", r[7]) for r in full)
    assert any(r[3] == r[4] for r in full)  # zero-length rental, valid
    assert any(not INT_RE.match(r[5]) or not INT_RE.match(r[6]) for r in full)

    # some orphans reference a user row that EXISTS in users.csv but is rejected
    users_in_file = {r[0] for r in dataset_rows(dirty_lake, "users") if len(r) == 9}
    rejected_users = {r[0] for r in dataset_rows(dirty_lake, "users") if dim_reason("users", r)}
    referenced = {r[1] for r in full} & users_in_file & rejected_users
    assert referenced
    assert referenced <= set(manifest["dimensions"]["users"]["rejected_keys"])


def test_duplicate_keys_come_in_pairs_of_valid_rows(dirty_lake):
    manifest = json.loads((dirty_lake / "generator_manifest.json").read_text())
    injected = manifest["injected"]["rental_transactions"]
    rentals = [r for r in dataset_rows(dirty_lake, "rental_transactions") if len(r) == 8]
    counts = Counter(r[0] for r in rentals if r[0].strip())
    pairs = {k for k, n in counts.items() if n > 1}
    assert all(counts[k] == 2 for k in pairs)  # never three copies
    assert len(pairs) == injected["duplicate_identical"] + injected["duplicate_different"]
    by_key: dict[str, list[list[str]]] = {}
    for r in rentals:
        if r[0] in pairs:
            by_key.setdefault(r[0], []).append(r)
    identical = sum(1 for a, b in by_key.values() if a == b)
    assert identical == injected["duplicate_identical"]
    for a, b in by_key.values():
        assert a[:7] == b[:7]  # "different" copies differ only in the amount


def test_daily_split_puts_each_clean_rental_in_its_day_file(dirty_lake):
    files = sorted((dirty_lake / RAW / "rental_transactions").glob("*.csv"))
    assert [f.name for f in files] == [f"rentals_2024-01-{d:02d}.csv" for d in range(1, 11)]
    mismatched = 0
    for path in files:
        day = path.name[len("rentals_") : -len(".csv")]
        for row in read_csv(path)[1]:
            if len(row) == 8 and row[0].startswith("R") and parse_ts(row[3]):
                mismatched += row[3][:10] != day
    manifest = json.loads((dirty_lake / "generator_manifest.json").read_text())
    injected = manifest["injected"]["rental_transactions"]
    # only copied duplicates may sit in the next day's file
    assert mismatched <= injected["duplicate_identical"] + injected["duplicate_different"]


# ---------------------------------------------------------------------------- lake handling


def test_refuses_non_empty_raw_unless_overwrite(tmp_path):
    generate(tmp_path, 200, days=3)
    with pytest.raises(UsageError, match="already holds raw files"):
        generate(tmp_path, 200, days=3)
    before = (tmp_path / RAW / "rental_transactions" / "rental_transactions.csv").read_bytes()
    generate(tmp_path, 300, days=3, overwrite=True)
    after = dataset_rows(tmp_path, "rental_transactions")
    assert len(after) == 300 and before.count(b"\n") == 201


def test_append_day_adds_one_new_daily_file(tmp_path):
    generate(tmp_path, 500, seed=5, days=3, split="daily")
    dims_before = {d: sha_tree(tmp_path / RAW / d) for d in ("users", "vehicles", "locations")}
    manifest = append_day(tmp_path, date(2024, 1, 4), 400, dirty_fraction=0.1)
    new_file = tmp_path / RAW / "rental_transactions" / "rentals_2024-01-04.csv"
    rows = read_csv(new_file)[1]
    assert len(rows) == 400
    assert {d: sha_tree(tmp_path / RAW / d) for d in dims_before} == dims_before
    assert manifest["expected"]["rental_transactions"]["rows_read"] == 900
    assert manifest["appends"][0]["day"] == "2024-01-04"
    assert (
        dict(reference_validate(tmp_path)["rental_transactions"])
        == (manifest["expected"]["rental_transactions"]["rejected_by_reason"])
    )
    with pytest.raises(UsageError, match="already has rentals"):
        append_day(tmp_path, date(2024, 1, 4), 10)
    with pytest.raises(UsageError, match="already has rentals"):
        append_day(tmp_path, date(2024, 1, 2), 10)
    with pytest.raises(UsageError, match=r"generator_manifest\.json"):
        append_day(tmp_path / "elsewhere", date(2024, 1, 9), 10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"transactions": 0}, "--transactions"),
        ({"transactions": 100, "dirty_fraction": 0.6}, "--dirty-fraction"),
        ({"transactions": 20, "dirty_fraction": 0.1}, "at most half"),
        ({"transactions": 100, "days": 0}, "--days"),
        ({"transactions": 100, "split": "hourly"}, "--split"),
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path, kwargs, message):
    with pytest.raises(UsageError, match=message):
        generate(tmp_path, **kwargs)
    assert not (tmp_path / RAW).exists()


# ---------------------------------------------------------------------------- CLI


def test_cli_generate_prints_a_summary_and_json(tmp_path):
    runner = CliRunner()
    lake = tmp_path / "lake"
    result = runner.invoke(app, ["generate", "--lake-dir", str(lake), "-n", "400", "--days", "2"])
    assert result.exit_code == 0, result.output
    assert "rental_transactions" in result.stdout and "400" in result.stdout
    assert "generator_manifest.json" in result.stdout

    result = runner.invoke(
        app,
        ["--json", "generate", "--lake-dir", str(lake), "-n", "500", "--overwrite", "--seed", "9"],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["rows"]["rental_transactions"] == 500

    result = runner.invoke(app, ["generate", "--lake-dir", str(lake), "-n", "10"])
    assert isinstance(result.exception, UsageError)

    result = runner.invoke(app, ["generate", "--help"])
    assert result.exit_code == 0 and "Examples:" in result.stdout


def test_console_script_generate(tmp_path):
    exe = Path(sys.executable).parent / "carrental"
    lake = tmp_path / "lake"
    ok = subprocess.run(
        [str(exe), "generate", "--lake-dir", str(lake), "--transactions", "300", "--split", "daily",
         "--days", "2", "--dirty-fraction", "0.2"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "rental_transactions" in ok.stdout
    assert len(list((lake / RAW / "rental_transactions").glob("rentals_*.csv"))) == 2


def test_main_refuses_a_non_empty_raw_folder_with_exit_2(tmp_path, monkeypatch, capsys):
    from carrental import cli, console

    generate(tmp_path, 100, days=2)
    monkeypatch.setattr(console, "MODE", console.OutputMode())
    monkeypatch.setattr(
        sys, "argv", ["carrental", "generate", "--lake-dir", str(tmp_path), "-n", "5"]
    )
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert "error:" in stderr and "already holds raw files" in stderr
    assert "--overwrite" in stderr


# ---------------------------------------------------------------------------- review fixes


def _main(monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    from carrental import cli, console

    monkeypatch.setattr(console, "MODE", console.OutputMode())
    monkeypatch.setattr(console.err, "_width", 10_000)  # one line per message, unwrapped
    monkeypatch.setattr(sys, "argv", ["carrental", *argv])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    return exit_info.value.code, " ".join((captured.out + captured.err).split())


def test_dotfiles_in_raw_do_not_block_generation(tmp_path):
    raw = tmp_path / RAW
    raw.mkdir(parents=True)
    (raw / ".keep").write_text("", encoding="utf-8")
    (raw / "users").mkdir()
    (raw / "users" / ".DS_Store").write_bytes(b"\0")
    manifest = generate(tmp_path, 50, days=2)
    assert manifest["expected"]["rental_transactions"]["rows_read"] == 50
    assert (raw / ".keep").exists() and len(dataset_rows(tmp_path, "rental_transactions")) == 50


@pytest.mark.parametrize(
    ("files", "has_files"),
    [
        ([], False),
        ([".keep"], False),
        (["users/.keep", ".gitignore"], False),
        (["users/users.csv"], True),
        ([".keep", "rental_transactions/rentals_2024-01-01.csv"], True),
        ([".cache/notes.txt"], True),  # run.py looks at the file's own name only
    ],
)
def test_raw_emptiness_is_the_same_rule_as_run_generate_if_empty(tmp_path, files, has_files):
    from carrental.commands.run import _raw_is_empty
    from carrental.generate import _raw_has_files

    for name in files:
        (tmp_path / RAW / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / RAW / name).write_text("x\n", encoding="utf-8")
    assert _raw_has_files(tmp_path / RAW) is has_files
    assert _raw_is_empty(tmp_path) is not has_files


def test_append_day_refuses_the_options_it_does_not_use(tmp_path, monkeypatch, capsys):
    generate(tmp_path, 100, days=2, split="daily")
    before = sha_tree(tmp_path)
    base = ["generate", "--lake-dir", str(tmp_path), "-n", "20", "--append-day", "2024-04-01"]
    code, output = _main(
        monkeypatch, capsys,
        *base, "--seed", "99", "--days", "3", "--split", "none", "--start-date", "2030-01-01",
    )  # fmt: skip
    assert code == 2, output
    assert "--seed, --start-date, --days, --split cannot be used with --append-day" in output, (
        output
    )
    # an explicit value equal to the default is refused as well: it would be ignored too
    code, output = _main(monkeypatch, capsys, *base, "--seed", "42")
    assert code == 2 and "--seed cannot be used with --append-day" in output, output
    assert sha_tree(tmp_path) == before
    base[base.index("-n") + 1] = "40"  # 0.1 of 40 rentals: enough for every defect kind
    code, output = _main(monkeypatch, capsys, *base, "--dirty-fraction", "0.1")
    assert code == 0, output
    assert (tmp_path / RAW / "rental_transactions" / "rentals_2024-04-01.csv").is_file()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: {"foo": 1}, "has no key 'arguments'"),
        (lambda m: [m], "must be a JSON object, got a list"),
        (lambda m: {**m, "arguments": "x"}, "'arguments' must be an object, got 'x'"),
        (
            lambda m: {**m, "arguments": {**m["arguments"], "seed": "12 rows"}},
            "'arguments.seed' must be a whole number, got '12 rows'",
        ),
        (
            lambda m: {**m, "arguments": {**m["arguments"], "start_date": "soon"}},
            "'arguments.start_date' must be a date YYYY-MM-DD, got 'soon'",
        ),
        (
            lambda m: {**m, "dimensions": {"users": m["dimensions"]["users"]}},
            "has no key 'dimensions.vehicles'",
        ),
        (lambda m: {k: v for k, v in m.items() if k != "files"}, "has no key 'files'"),
        (lambda m: {**m, "appends": [{"day": 3}]}, "'appends[0].day' must be a date YYYY-MM-DD"),
    ],
)
def test_append_day_names_the_manifest_and_the_bad_key(tmp_path, edit, message):
    generate(tmp_path, 60, days=2)
    path = tmp_path / "generator_manifest.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))), encoding="utf-8")
    with pytest.raises(UsageError) as info:
        append_day(tmp_path, date(2024, 4, 1), 10)
    assert str(path) in info.value.message and message in info.value.message, info.value.message
    assert info.value.exit_code == 2
    assert not (tmp_path / RAW / "rental_transactions" / "rentals_2024-04-01.csv").exists()


def test_cli_append_day_to_a_foreign_manifest_is_exit_2(tmp_path, monkeypatch, capsys):
    (tmp_path / "generator_manifest.json").write_text('{"foo": 1}', encoding="utf-8")
    code, output = _main(
        monkeypatch, capsys,
        "generate", "--lake-dir", str(tmp_path), "-n", "5", "--append-day", "2024-04-01",
    )  # fmt: skip
    assert code == 2, output
    assert "KeyError" not in output
    assert f"{tmp_path / 'generator_manifest.json'} has no key 'arguments'" in output
