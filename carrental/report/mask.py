"""Mask PII in quarantined rows before they reach the report."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from spark_ingest.contract import CONTRACT

# Raw header order per dataset (the raw data contract); used to find PII fields in raw_record.
RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(dataset.column_names) for name, dataset in CONTRACT.items()
}
RAW_RECORD = "raw_record"
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(\.[\w-]+)+")


def mask_value(value: Any) -> str:
    """Keep only the first character: 'alice@example.com' -> 'a•••@•••', 'Smith' -> 'S•••'."""
    if value is None:
        return ""
    text = str(value)
    if not text.strip():
        return text
    if "@" in text:
        return text[:1] + "•••@•••"
    return text[:1] + "•••"


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, mask_value(secret))
    return _EMAIL.sub(lambda m: mask_value(m.group(0)), text)


def _mask_raw_record(dataset: str, raw: str, pii: set[str]) -> str:
    header = RAW_COLUMNS.get(dataset)
    positions = {i for i, c in enumerate(header or ()) if c in pii}
    if not positions:
        return raw
    try:
        fields = next(csv.reader(io.StringIO(raw)), [])
    except csv.Error:
        fields = []
    if len(fields) != len(header or ()):
        # a malformed record: we cannot tell which field is which, so mask every field
        fields = fields or raw.split(",")
        return ",".join(mask_value(f) for f in fields)
    return ",".join(mask_value(f) if i in positions else f for i, f in enumerate(fields))


def mask_row(dataset: str, row: dict[str, Any], pii_columns: tuple[str, ...]) -> dict[str, str]:
    """Every value as a display string, PII columns masked, raw_record and free text scrubbed."""
    pii = {c.lower() for c in pii_columns}
    secrets = [str(v) for k, v in row.items() if k.lower() in pii and v not in (None, "")]
    out: dict[str, str] = {}
    for key, value in row.items():
        if key.lower() in pii:
            out[key] = mask_value(value)
        elif value is None:
            out[key] = ""
        elif key == RAW_RECORD:
            out[key] = _scrub(_mask_raw_record(dataset, str(value), pii), secrets)
        elif isinstance(value, list | tuple):
            out[key] = _scrub(", ".join(str(v) for v in value), secrets)
        else:
            out[key] = _scrub(str(value), secrets)
    return out
