"""Fixtures for the spark_ingest tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from spark_tiny_lake import write_tiny_lake


@pytest.fixture
def tiny_lake(tmp_path: Path) -> Path:
    return write_tiny_lake(tmp_path / "lake")
