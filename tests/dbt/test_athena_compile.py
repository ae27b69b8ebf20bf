"""One SQL codebase: every model compiles for the athena target without AWS,
parses as Athena (Trino) SQL, and, transpiled to DuckDB, gives the same marts as
the local target on the same data."""

from __future__ import annotations

import json
import os
import shutil
from graphlib import TopologicalSorter
from pathlib import Path

import duckdb
import pytest
import sqlglot
from dbt_support import DBT_TIMEOUT, MARTS

from carrental.dbt_runner import run_dbt

# The athena target reads every setting from the environment; none of these
# reach AWS: the endpoint is a closed local port and the credentials are fake.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "DBT_ATHENA_S3_STAGING_DIR": "s3://carrental-test-results/athena/",
    "DBT_ATHENA_S3_DATA_DIR": "s3://carrental-test-data/analytics/",
    "DBT_ATHENA_REGION": "us-east-1",
    "DBT_ATHENA_WORK_GROUP": "primary",
    "DBT_ATHENA_SCHEMA": "car_rental_analytics",
}
# Engine-specific on purpose (regex back-reference syntax differs, see
# macros/cross_db/mask_email.sql): DuckDB cannot run Athena's '$1'.
ENGINE_SPECIFIC_COLUMNS = {"customers": {"email_masked"}}


@pytest.fixture(scope="module")
def athena_manifest(built_lake) -> dict:
    lake, _ = built_lake
    target = lake / ".dbt" / "athena_target"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(FAKE_AWS)
    result = run_dbt(
        lake,
        [
            "compile",
            "--no-populate-cache",
            "--no-introspect",
            "--target-path",
            str(target),
            "--select",
            "resource_type:model",
            "resource_type:test",
        ],
        target="athena",
        env=env,
        timeout=DBT_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    return json.loads((target / "manifest.json").read_text())


def _compiled(manifest: dict, resource_type: str) -> dict[str, dict]:
    return {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == resource_type and node.get("compiled_code")
    }


def test_every_model_and_test_parses_as_athena_sql(athena_manifest) -> None:
    models = _compiled(athena_manifest, "model")
    assert {f"model.carrental.{m}" for m in MARTS} <= set(models)
    statements = {**models, **_compiled(athena_manifest, "test")}
    errors = {}
    for uid, node in statements.items():
        try:
            sqlglot.parse(node["compiled_code"], read="athena")
        except sqlglot.errors.ParseError as exc:
            errors[uid] = str(exc)
    assert not errors, errors
    masked = models["model.carrental.stg_car_rental__user_spending"]["compiled_code"]
    assert "'$1***@'" in masked  # the athena__ dispatch was used
    assert (
        '"awsdatacatalog"."car_rental_db"'
        in models["model.carrental.stg_car_rental__rentals"]["compiled_code"]
    )


def test_athena_sql_transpiled_to_duckdb_gives_the_local_marts(
    athena_manifest, built_lake, tmp_path: Path
) -> None:
    lake, result = built_lake
    assert result.returncode == 0
    models = _compiled(athena_manifest, "model")
    graph = {
        uid: [d for d in node["depends_on"]["nodes"] if d in models] for uid, node in models.items()
    }
    copy = tmp_path / "athena_as_duckdb.duckdb"
    shutil.copyfile(lake / "warehouse.duckdb", copy)
    con = duckdb.connect()
    con.execute(f"attach '{copy}' as awsdatacatalog")
    con.execute(f"attach '{lake / 'warehouse.duckdb'}' as local_wh (read_only)")
    con.execute("drop schema awsdatacatalog.car_rental_analytics cascade")
    con.execute("create schema awsdatacatalog.car_rental_analytics")
    for uid in TopologicalSorter(graph).static_order():
        node = models[uid]
        sql = sqlglot.transpile(node["compiled_code"], read="athena", write="duckdb")[0]
        con.execute(f"create table awsdatacatalog.car_rental_analytics.{node['name']} as {sql}")
    for mart in MARTS:
        skip = ENGINE_SPECIFIC_COLUMNS.get(mart, set())
        cols = [
            r[0]
            for r in con.execute(f"describe local_wh.car_rental_analytics.{mart}").fetchall()
            if r[0] not in skip
        ]
        projection = ", ".join(cols)
        local = con.execute(
            f"select {projection} from local_wh.car_rental_analytics.{mart} order by all"
        ).fetchall()
        athena = con.execute(
            f"select {projection} from awsdatacatalog.car_rental_analytics.{mart} order by all"
        ).fetchall()
        assert len(local) == len(athena), mart
        for left, right in zip(local, athena, strict=True):
            assert left == pytest.approx(right), (mart, left, right)
    con.close()
