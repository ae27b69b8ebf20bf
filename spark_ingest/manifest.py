"""The run manifest: what was read, kept, rejected and written, and how long it took.

Written to ``<runs-root>/<run_id>/manifests/<job>.json``: with Python for local paths
(atomic ``os.replace``) and through the Hadoop FileSystem API for ``s3://``.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from typing import Any

from spark_ingest.errors import ReconciliationError
from spark_ingest.layout import join

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Manifest:
    def __init__(self, job: str, run_id: str, mode: str, engine: str):
        self._t0 = time.monotonic()
        self._step_t0: float | None = None
        self.data: dict[str, Any] = {
            "job": job,
            "run_id": run_id,
            "status": FAILED,
            "mode": mode,
            "engine": engine,
            "started_at": _now(),
            "finished_at": None,
            "inputs": {},
            "outputs": {},
            "timings_seconds": {},
            "reconciled": False,
            "error": None,
        }

    def timed(self, step: str):
        manifest = self

        class _Timer:
            def __enter__(self):
                self.t0 = time.monotonic()

            def __exit__(self, *exc):
                manifest.data["timings_seconds"][step] = round(time.monotonic() - self.t0, 3)
                return False

        return _Timer()

    def add_input(
        self, dataset: str, files: list[str], rows_read: int, valid: int, by_reason: dict[str, int]
    ) -> None:
        self.data["inputs"][dataset] = {
            "files": files,
            "rows_read": rows_read,
            "valid": valid,
            "rejected": sum(by_reason.values()),
            "rejected_by_reason": dict(sorted(by_reason.items())),
        }

    def reconcile(self) -> None:
        """rows_read == valid + rejected for every dataset, else ReconciliationError."""
        for dataset, counts in self.data["inputs"].items():
            if counts["rows_read"] != counts["valid"] + counts["rejected"]:
                raise ReconciliationError(
                    f"dataset {dataset!r}: rows_read={counts['rows_read']} != valid="
                    f"{counts['valid']} + rejected={counts['rejected']}"
                )
        self.data["reconciled"] = True

    def retry(self, mode: str, fallback: dict[str, Any]) -> Manifest:
        """A fresh manifest for another attempt at the same run in ``mode``: same start time
        and settings; ``fallback`` (why) plus the failed attempt's mode and step timings
        under ``fallback``."""
        again = Manifest(self.data["job"], self.data["run_id"], mode, self.data["engine"])
        again._t0 = self._t0
        again.data["started_at"] = self.data["started_at"]
        if "spark_conf" in self.data:
            again.data["spark_conf"] = self.data["spark_conf"]
        again.data["fallback"] = {
            **fallback,
            "from_mode": self.data["mode"],
            "failed_attempt_seconds": dict(self.data["timings_seconds"]),
        }
        return again

    def add_output(self, table: str, rows: int, uri: str) -> None:
        self.data["outputs"][table] = {"rows": rows, "uri": uri}

    def finish(self, status: str, error: dict | None = None) -> dict[str, Any]:
        self.data["status"] = status
        self.data["error"] = error
        self.data["finished_at"] = _now()
        self.data["timings_seconds"]["total"] = round(time.monotonic() - self._t0, 3)
        return self.data


def manifest_uri(runs_root: str, run_id: str, job: str) -> str:
    return join(runs_root, run_id, "manifests", f"{job}.json")


def write_manifest(spark, runs_root: str, data: dict[str, Any]) -> str:
    """Write ``data`` as JSON; ``spark`` is only needed for non-local roots."""
    uri = manifest_uri(runs_root, data["run_id"], data["job"])
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    if "://" not in uri or uri.startswith("file:"):
        path = uri[len("file:") :] if uri.startswith("file:") else uri
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
        return path
    from spark_ingest.io import _fs_and_path

    fs, path = _fs_and_path(spark, uri)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
    return uri
