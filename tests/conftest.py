"""Shared fixtures: one session-scoped SparkSession for the whole suite."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


@pytest.fixture(scope="session", autouse=True)
def jvm_archive_dir(tmp_path_factory):
    """The local drivers' class-data archive (spark_ingest.jvm_archive) in a folder of this
    session, never the user's cache: the suite's first driver writes it, later ones map it."""
    from spark_ingest.jvm_archive import ARCHIVE_DIR_ENV

    folder = tmp_path_factory.mktemp("jvm-archive")
    before = os.environ.get(ARCHIVE_DIR_ENV)
    os.environ[ARCHIVE_DIR_ENV] = str(folder)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)  # about 170 MB
    if before is None:
        os.environ.pop(ARCHIVE_DIR_ENV, None)
    else:
        os.environ[ARCHIVE_DIR_ENV] = before


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


@pytest.fixture
def aws_credentials(monkeypatch):
    """Fake credentials and region: nothing here may reach a real AWS account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
