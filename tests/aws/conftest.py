"""Fixtures for the AWS tests: a small repository tree to package (fake credentials:
``aws_credentials`` in tests/conftest.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from orchestration.aws.packaging import (
    ASL_RELPATH,
    BUILDSPEC_RELPATH,
    REPO_ROOT,
    REQUIREMENTS_RELPATH,
)

REGION = "eu-west-1"  # the region of the aws_credentials fixture (tests/conftest.py)

#: A stand-in ASL used only while the real definition is absent; tests read the real file
#: when it exists.
PLACEHOLDER_ASL = {
    "StartAt": "Hello",
    "States": {
        "Hello": {
            "Type": "Pass",
            "Result": {"bucket": "${DataBucket}", "prefix": "${ArtifactsPrefix}"},
            "End": True,
        }
    },
}


def asl_text() -> str:
    real = REPO_ROOT / ASL_RELPATH
    return real.read_text(encoding="utf-8") if real.exists() else json.dumps(PLACEHOLDER_ASL)


@pytest.fixture
def fake_repo(tmp_path: Path) -> Path:
    """A minimal checkout: the entry scripts, a library module, a dbt project, the ASL."""
    root = tmp_path / "repo"
    jobs = root / "spark_ingest" / "jobs"
    jobs.mkdir(parents=True)
    (root / "spark_ingest" / "__init__.py").write_text('"""lib"""\n')
    (root / "spark_ingest" / "layout.py").write_text("GLUE_DATABASE = 'car_rental_db'\n")
    (root / "spark_ingest" / "__pycache__").mkdir()
    (root / "spark_ingest" / "__pycache__" / "layout.cpython-311.pyc").write_bytes(b"junk")
    (jobs / "__init__.py").write_text("")
    for job in ("validate_inputs", "vehicle_location_performance", "user_transaction_analysis"):
        (jobs / f"{job}.py").write_text(f"print('{job}')\n")
    (root / "dbt_project.yml").write_text("name: carrental\n")
    (root / "profiles.example.yml").write_text("carrental: {}\n")
    models = root / "dbt_project" / "models"
    models.mkdir(parents=True)
    (models / "m.sql").write_text("select 1 as x\n")
    (root / "dbt_project" / "target").mkdir()
    (root / "dbt_project" / "target" / "manifest.json").write_text("{}")
    for rel in (BUILDSPEC_RELPATH, REQUIREMENTS_RELPATH):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / rel, root / rel)
    (root / ASL_RELPATH).parent.mkdir(parents=True, exist_ok=True)
    (root / ASL_RELPATH).write_text(asl_text())
    return root
