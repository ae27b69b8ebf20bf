"""requirements-athena.txt (installed by the CodeBuild dbt runner) is in sync with uv.lock."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from orchestration.aws.packaging import REPO_ROOT, REQUIREMENTS_EXPORT, REQUIREMENTS_RELPATH

REQUIREMENTS = REPO_ROOT / REQUIREMENTS_RELPATH


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)(\s*;.*)?", line)
        assert match, f"not an exact pin: {line!r}"
        pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def _locked() -> dict[str, str]:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text(encoding="utf-8"))
    return {p["name"]: p["version"] for p in lock["package"] if "version" in p}


def test_every_pin_is_the_locked_version_and_dbt_athena_is_there():
    pins = _pins(REQUIREMENTS.read_text(encoding="utf-8"))
    locked = _locked()
    assert {name: locked.get(name) for name in pins} == pins
    for needed in ("dbt-core", "dbt-athena-community", "dbt-athena", "pyathena"):
        assert pins[needed] == locked[needed], needed
    for not_needed in ("pyspark", "dbt-duckdb", "duckdb"):
        assert not_needed not in pins, f"{not_needed} would bloat the dbt runner"


def test_file_equals_a_fresh_uv_export():
    candidates = [Path(sys.executable).parent / "uv", Path("/tmp/uvboot/bin/uv")]
    uv = next((str(c) for c in candidates if c.exists()), None) or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed; the pin check above still ran")
    exported = subprocess.run(
        [uv, *shlex.split(REQUIREMENTS_EXPORT)[1:]],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=True,
    ).stdout
    assert _pins(exported) == _pins(REQUIREMENTS.read_text(encoding="utf-8")), (
        f"regenerate {REQUIREMENTS_RELPATH}: {REQUIREMENTS_EXPORT}"
    )
