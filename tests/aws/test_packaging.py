"""`carrental package`: content-hashed, deterministic artifacts, uploaded with the right keys."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import boto3
from moto import mock_aws

from orchestration.aws.packaging import build_artifacts, upload_artifacts

from .conftest import REGION

EXPECTED_FILES = {
    "jobs/validate_inputs.py",
    "jobs/vehicle_location_performance.py",
    "jobs/user_transaction_analysis.py",
    "spark_ingest.zip",
    "dbt_bundle.zip",
    "statemachine/car_rental_pipeline.asl.json",
    "manifest.json",
}


def test_builds_every_artifact_under_a_content_hash(fake_repo, tmp_path):
    bundle = build_artifacts(tmp_path / "out", repo_root=fake_repo)
    assert set(bundle.files) == EXPECTED_FILES
    assert bundle.prefix == f"artifacts/{bundle.digest}"
    assert len(bundle.digest) == 16 and int(bundle.digest, 16) >= 0
    assert bundle.out_dir == tmp_path / "out" / bundle.digest
    for name in EXPECTED_FILES:
        assert (bundle.out_dir / name).is_file(), name
    # The digest is sha256 over "key\0sha256(file)\n" of the five payload files, sorted.
    manifest = json.loads((bundle.out_dir / "manifest.json").read_text())
    payload = sorted(EXPECTED_FILES - {"manifest.json"})
    expected = hashlib.sha256(
        "".join(
            f"{key}\0{hashlib.sha256((bundle.out_dir / key).read_bytes()).hexdigest()}\n"
            for key in payload
        ).encode()
    ).hexdigest()[:16]
    assert manifest["digest"] == bundle.digest == expected
    assert sorted(manifest["files"]) == payload


def test_zips_hold_the_library_and_the_dbt_project_only(fake_repo, tmp_path):
    bundle = build_artifacts(tmp_path / "out", repo_root=fake_repo)
    with zipfile.ZipFile(bundle.out_dir / "spark_ingest.zip") as archive:
        names = archive.namelist()
        infos = archive.infolist()
    assert names == [
        "spark_ingest/__init__.py",
        "spark_ingest/jobs/__init__.py",
        "spark_ingest/jobs/user_transaction_analysis.py",
        "spark_ingest/jobs/validate_inputs.py",
        "spark_ingest/jobs/vehicle_location_performance.py",
        "spark_ingest/layout.py",
    ]
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    with zipfile.ZipFile(bundle.out_dir / "dbt_bundle.zip") as archive:
        dbt_names = archive.namelist()
        buildspec = archive.read("buildspec.yml").decode()
    assert dbt_names == [
        "buildspec.yml",
        "dbt_project.yml",
        "dbt_project/models/m.sql",
        "profiles.example.yml",
        "requirements-athena.txt",
    ]
    assert "dbt build --target athena" in buildspec
    assert "-r requirements-athena.txt" in buildspec


def test_same_sources_same_hash_and_any_change_changes_it(fake_repo, tmp_path):
    first = build_artifacts(tmp_path / "a", repo_root=fake_repo)
    model = fake_repo / "dbt_project" / "models" / "m.sql"
    os.utime(model, (1_000_000_000, 1_000_000_000))  # mtimes do not matter
    second = build_artifacts(tmp_path / "b", repo_root=fake_repo)
    assert second.digest == first.digest
    assert (first.out_dir / "spark_ingest.zip").read_bytes() == (
        second.out_dir / "spark_ingest.zip"
    ).read_bytes()
    model.write_text("select 2 as x\n")
    third = build_artifacts(tmp_path / "c", repo_root=fake_repo)
    assert third.digest != first.digest


def test_upload_puts_every_file_under_the_prefix(aws_credentials, fake_repo, tmp_path):
    bundle = build_artifacts(tmp_path / "out", repo_root=fake_repo)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": REGION})
        keys = upload_artifacts(bundle, "lake", s3)
        listed = {o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"]}
        body = s3.get_object(Bucket="lake", Key=f"{bundle.prefix}/spark_ingest.zip")
        assert body["Body"].read() == (bundle.out_dir / "spark_ingest.zip").read_bytes()
    assert listed == set(keys) == {f"{bundle.prefix}/{name}" for name in EXPECTED_FILES}


def test_package_command_builds_from_the_real_checkout(tmp_path):
    from typer.testing import CliRunner

    from carrental.cli import app
    from orchestration.aws.packaging import REPO_ROOT

    assert (REPO_ROOT / "spark_ingest" / "jobs" / "vehicle_location_performance.py").exists()
    out = CliRunner().invoke(app, ["--json", "package", "--out", str(tmp_path)])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert set(payload["files"]) == EXPECTED_FILES - {"manifest.json"}
    assert Path(payload["dir"]).parent == tmp_path
