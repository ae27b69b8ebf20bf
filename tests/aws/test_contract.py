"""One source of truth: template + ASL + packaging agree with the lake layout and the job CLIs."""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

import jinja2
import yaml

from orchestration.aws import packaging
from orchestration.aws.packaging import REPO_ROOT
from orchestration.aws.template import glue_database_names, iam_statements, load_template
from spark_ingest import layout

from .conftest import asl_text

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
ASL_TEXT = asl_text()
ASL = json.loads(ASL_TEXT)
LAKE = "s3://${DataBucket}"
ARTIFACTS = "s3://${DataBucket}/${ArtifactsPrefix}"
CRAWLERS = {"VehicleLocationCrawler": layout.VEHICLE_LOCATION_JOB}
CRAWLERS["UserTransactionCrawler"] = layout.USER_TRANSACTION_JOB


def _states(machine: dict[str, Any]):
    for name, state in machine["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from _states(state[key])


TASKS = {name: s for name, s in _states(ASL) if s["Type"] == "Task"}
EMR_TASKS = {n: s for n, s in TASKS.items() if "emr-serverless:startJobRun" in s["Resource"]}


def _sub(value: Any) -> str:
    return value["Fn::Sub"] if isinstance(value, dict) else value


def test_asl_placeholders_are_exactly_the_definition_substitutions():
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL_TEXT))
    substitutions = RESOURCES["StateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert placeholders == set(substitutions)


def test_state_machine_and_dbt_project_read_the_packaged_keys():
    location = RESOURCES["StateMachine"]["Properties"]["DefinitionS3Location"]
    assert _sub(location["Key"]) == "${ArtifactsPrefix}/" + packaging.ASL_KEY
    source = RESOURCES["DbtProject"]["Properties"]["Source"]
    assert (
        _sub(source["Location"]) == "${BucketName}/${ArtifactsPrefix}/" + packaging.DBT_BUNDLE_KEY
    )


def _entry_point_arguments(parameters: dict[str, Any]) -> list[str]:
    """EntryPointArguments as a list, JSONPath values replaced by sample run values."""
    spark = parameters["JobDriver"]["SparkSubmit"]
    if "EntryPointArguments" in spark:
        return list(spark["EntryPointArguments"])
    expression = spark["EntryPointArguments.$"]
    assert expression.startswith("States.Array(") and expression.endswith(")")
    samples = {"$.args.run_id": "run-1", "$.args.mode": "full"}
    tokens = re.findall(r"'([^']*)'|(\$[\w.]+)", expression[len("States.Array(") : -1])
    return [literal if literal or not path else samples[path] for literal, path in tokens]


def _job_of(task: dict[str, Any]) -> str:
    entry = task["Parameters"]["JobDriver"]["SparkSubmit"]["EntryPoint"]
    prefix = f"{ARTIFACTS}/jobs/"
    assert entry.startswith(prefix) and entry.endswith(".py"), entry
    return entry[len(prefix) : -len(".py")]


def test_one_emr_task_per_job_with_the_packaged_entry_point_and_py_files():
    jobs = sorted(_job_of(task) for task in EMR_TASKS.values())
    assert jobs == sorted(layout.SPARK_JOBS)
    for task in EMR_TASKS.values():
        job = _job_of(task)
        spark = task["Parameters"]["JobDriver"]["SparkSubmit"]
        assert spark["EntryPoint"] == f"{ARTIFACTS}/{packaging.JOB_SCRIPT_KEY.format(job=job)}"
        assert f"--py-files {ARTIFACTS}/{packaging.PY_FILES_KEY}" in spark["SparkSubmitParameters"]
        assert (REPO_ROOT / "spark_ingest" / "jobs" / f"{job}.py").exists()
        assert task["Parameters"]["ApplicationId"] == "${EmrApplicationId}"
        assert task["Parameters"]["ExecutionRoleArn"] == "${EmrJobRoleArn}"


def test_emr_arguments_point_at_the_layout_prefixes():
    for task in EMR_TASKS.values():
        args = _entry_point_arguments(task["Parameters"])
        pairs = dict(zip(args[::2], args[1::2], strict=True))
        assert pairs["--raw-root"] == layout.join(LAKE, layout.RAW_PREFIX)
        assert pairs["--processed-root"] == layout.join(LAKE, layout.PROCESSED_PREFIX)
        assert pairs["--quarantine-root"] == layout.join(LAKE, layout.QUARANTINE_PREFIX)
        assert pairs.get("--runs-root", layout.join(LAKE, layout.RUNS_PREFIX)) == layout.join(
            LAKE, layout.RUNS_PREFIX
        )


def test_emr_arguments_parse_with_the_job_cli():
    parse_args = importlib.import_module("spark_ingest.pipeline").parse_args
    for task in EMR_TASKS.values():
        job = _job_of(task)
        args = _entry_point_arguments(task["Parameters"])
        namespace = parse_args(job, args)  # argparse exits (SystemExit) on unknown options
        assert namespace.raw_root == layout.join(LAKE, layout.RAW_PREFIX)
        assert namespace.processed_root == layout.join(LAKE, layout.PROCESSED_PREFIX)
        assert namespace.quarantine_root == layout.join(LAKE, layout.QUARANTINE_PREFIX)
        assert namespace.run_id == "run-1" and namespace.mode == "full"


def test_one_crawler_per_job_prefix_with_one_target_per_table():
    crawlers = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Glue::Crawler"}
    assert set(crawlers) == set(CRAWLERS)
    for logical_id, job in CRAWLERS.items():
        props = crawlers[logical_id]["Properties"]
        assert _sub(props["Name"]).endswith(f"{job}_crawler")
        assert props["DatabaseName"] == {"Ref": "GlueDatabase"}
        paths = [_sub(t["Path"]) for t in props["Targets"]["S3Targets"]]
        assert sorted(paths) == sorted(
            layout.processed_uri(LAKE, job, table) + "/" for table in layout.JOB_TABLES[job]
        )
        config = json.loads(props["Configuration"])
        # Table level = depth of the table folder: bucket(1)/data/processed/<job>/<table>.
        depth = len(layout.processed_uri("bucket", job, "t").split("/"))
        assert config["Grouping"]["TableLevelConfiguration"] == depth == 5
        assert config["Grouping"]["TableGroupingPolicy"] == "CombineCompatibleSchemas"
        assert props["SchemaChangePolicy"] == {
            "UpdateBehavior": "UPDATE_IN_DATABASE",
            "DeleteBehavior": "LOG",
        }
        for target in props["Targets"]["S3Targets"]:
            exclusions = set(target["Exclusions"])
            assert {"**/_SUCCESS", "**/_temporary/**", "**/.*", "**/_versions/**"} <= exclusions
            assert "**/_*" in exclusions  # also _staging/, written on S3 by the publisher
    # On AWS the database is <environment>_<the local catalog's name>.
    assert glue_database_names("dev")["GlueDatabase"] == f"dev_{layout.GLUE_DATABASE}"


def test_asl_crawler_tasks_use_their_own_crawler():
    substitutions = RESOURCES["StateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert substitutions["VehicleLocationCrawlerName"] == {"Ref": "VehicleLocationCrawler"}
    assert substitutions["UserTransactionCrawlerName"] == {"Ref": "UserTransactionCrawler"}
    names = {s["Parameters"]["Name"] for s in TASKS.values() if ":glue:" in s["Resource"]}
    assert names <= {"${VehicleLocationCrawlerName}", "${UserTransactionCrawlerName}"}


def test_glue_tables_named_in_the_asl_are_layout_tables_or_dbt_models():
    processed = set(re.findall(r"\$\{GlueDatabase\}\.(\w+)", ASL_TEXT))
    assert processed <= set(layout.TABLE_JOB), processed - set(layout.TABLE_JOB)
    models = set(re.findall(r"\$\{AnalyticsDatabase\}\.(\w+)", ASL_TEXT))
    model_files = {p.stem for p in (REPO_ROOT / "dbt_project" / "models").rglob("*.sql")}
    if model_files:
        assert models <= model_files, models - model_files
    subs = RESOURCES["StateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert subs["AnalyticsDatabase"] == {"Ref": "AnalyticsDatabase"}
    assert subs["GlueDatabase"] == {"Ref": "GlueDatabase"}
    assert glue_database_names("dev")["AnalyticsDatabase"] == "dev_car_rental_analytics"


#: What each Step Functions integration needs in the role (AWS docs "IAM policies for ...").
INTEGRATION_ACTIONS = {
    "arn:aws:states:::emr-serverless:startJobRun.sync": {
        "emr-serverless:StartJobRun",
        "emr-serverless:GetJobRun",
        "emr-serverless:CancelJobRun",
        "iam:PassRole",
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
    },
    "arn:aws:states:::codebuild:startBuild.sync": {
        "codebuild:StartBuild",
        "codebuild:StopBuild",
        "codebuild:BatchGetBuilds",
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
    },
    "arn:aws:states:::athena:startQueryExecution.sync": {
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:StopQueryExecution",
        "s3:PutObject",
        "s3:GetObject",
        "glue:GetTable",
    },
    "arn:aws:states:::athena:getQueryResults": {"athena:GetQueryResults", "s3:GetObject"},
    "arn:aws:states:::sns:publish": {"sns:Publish"},
}


def _granted(role: str) -> set[str]:
    granted: set[str] = set()
    for owner, _, statement in iam_statements(TEMPLATE):
        if owner == role:
            actions = statement["Action"]
            granted |= set(actions if isinstance(actions, list) else [actions])
    return granted


#: AWS SDK integration service names whose IAM action prefix differs
IAM_PREFIX = {"sfn": "states"}


def test_state_machine_role_grants_every_integration_the_asl_uses():
    granted = _granted("StepFunctionsRole")
    for name, task in TASKS.items():
        resource = task["Resource"]
        if resource.startswith("arn:aws:states:::aws-sdk:"):
            service, action = resource.rsplit(":", 2)[-2:]
            prefix = IAM_PREFIX.get(service, service)
            needed = {f"{prefix}:{action[0].upper()}{action[1:]}"}
        else:
            assert resource in INTEGRATION_ACTIONS, f"{name}: unknown integration {resource}"
            needed = INTEGRATION_ACTIONS[resource]
        assert needed <= granted, f"{name} needs {needed - granted}"


def test_emr_job_role_covers_every_prefix_the_jobs_touch():
    granted_resources = json.dumps(
        [s["Resource"] for r, _, s in iam_statements(TEMPLATE) if r == "EmrJobRole"]
    )
    for prefix in (
        layout.RAW_PREFIX,
        layout.PROCESSED_PREFIX,
        layout.QUARANTINE_PREFIX,
        layout.RUNS_PREFIX,
        packaging.ARTIFACTS_ROOT,
    ):
        assert f"${{BucketName}}/{prefix}/*" in granted_resources, prefix
    for uri in re.findall(r"s3://\$\{DataBucket\}/(logs/[\w-]+)/", ASL_TEXT):
        assert f"${{BucketName}}/{uri}/*" in granted_resources, uri


def _codebuild_env() -> dict[str, Any]:
    variables = RESOURCES["DbtProject"]["Properties"]["Environment"]["EnvironmentVariables"]
    return {v["Name"]: v["Value"] for v in variables}


def test_dbt_on_aws_reads_and_writes_the_stacks_own_databases():
    env = _codebuild_env()
    assert env["DBT_ATHENA_SCHEMA"] == {"Ref": "AnalyticsDatabase"}
    assert env["DBT_ATHENA_SOURCE_SCHEMA"] == {"Ref": "GlueDatabase"}


def test_dbt_sources_schema_follows_the_stack_on_aws_and_stays_local_otherwise():
    sources = REPO_ROOT / "dbt_project" / "models" / "staging" / "car_rental"
    (source,) = yaml.safe_load((sources / "_car_rental__sources.yml").read_text())["sources"]

    def render(environ: dict[str, str]) -> str:
        def env_var(name: str, default: str | None = None) -> str:
            return environ.get(name, default)  # type: ignore[return-value]

        return jinja2.Template(str(source["schema"])).render(env_var=env_var)

    assert render({}) == layout.GLUE_DATABASE
    assert render({"DBT_ATHENA_SOURCE_SCHEMA": "prod_car_rental_db"}) == "prod_car_rental_db"
