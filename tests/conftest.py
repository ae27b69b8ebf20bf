"""Shared fixtures: one session-scoped SparkSession for the whole suite."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark():
    from carrental.java import ensure_java
    from spark_ingest.session import build_session

    ensure_java()
    session = build_session("carrental-tests", master="local[2]", shuffle_partitions=2)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def artifacts_dir() -> str:
    """Where tests leave artefacts (screenshots, reports) for a human to look at."""
    path = os.path.join(os.path.dirname(__file__), "artifacts")
    os.makedirs(path, exist_ok=True)
    return path
