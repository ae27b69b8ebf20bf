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


#: The suite's one session runs some 9,000 Spark stages: a 2 GB heap, and a status store (kept
#: with the UI off) that remembers fewer jobs, stages, tasks and SQL plans than Spark's 1,000
#: of each. With the defaults, a 1 GB heap filled up late in the suite and the JVM spent its
#: time collecting garbage (2026-12-03: the heap held 8.7M hash-map nodes of the store).
TEST_SESSION_CONF = {
    "spark.driver.memory": "2g",
    "spark.ui.retainedJobs": "100",
    "spark.ui.retainedStages": "100",
    "spark.ui.retainedTasks": "1000",
    "spark.sql.ui.retainedExecutions": "50",
}


@pytest.fixture(scope="session")
def spark():
    from carrental.java import ensure_java
    from spark_ingest.session import build_session

    ensure_java()
    session = build_session(
        "carrental-tests", master="local[2]", shuffle_partitions=2, extra_conf=TEST_SESSION_CONF
    )
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
