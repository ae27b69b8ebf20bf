"""`carrental deploy` and `carrental destroy`: the CloudFormation stack on AWS."""

from __future__ import annotations

import typer

from carrental import console
from carrental.errors import CarrentalError, EnvironmentProblem, UsageError


def _session(region: str):
    import boto3

    from orchestration.aws.remote import check_region

    check_region(region)  # an empty or malformed --region is exit 2, before any AWS call
    session = boto3.Session(region_name=region)
    if session.get_credentials() is None:
        raise EnvironmentProblem(
            "no AWS credentials found",
            hint="configure them (aws configure, AWS_PROFILE or AWS_ACCESS_KEY_ID) and retry",
        )
    return session


#: Repeatable --parameter KEY=VALUE (a module-level default: the value is a list).
_PARAMETER_OPTION = typer.Option(
    None,
    "--parameter",
    metavar="KEY=VALUE",
    help="Set another template parameter, e.g. ScheduleState=DISABLED (repeatable). "
    "On an update, parameters not given keep their current values.",
)


def register(app: typer.Typer) -> None:
    @app.command(
        "deploy",
        help="""Package, upload and deploy (or update) the stack through a change set.

Creates the data bucket, EMR Serverless application, Glue database and crawlers, Athena workgroup, dbt runner (CodeBuild), alert topic, state machine and its schedule. The first deploy bootstraps the bucket, uploads the artifacts, then adds the state machine. Prints the stack outputs when done. Needs AWS credentials allowed to create IAM roles.

Examples:

  carrental deploy --stack-name carrental-dev --region eu-west-1 --bucket my-carrental-lake

  carrental deploy --stack-name carrental-prod --region eu-west-1 --bucket acme-carrental --environment prod --schedule "cron(0 5 * * ? *)" --alert-email data@acme.example

  carrental deploy --stack-name carrental-dev --region eu-west-1 --bucket my-carrental-lake --parameter ScheduleState=DISABLED --parameter EmrMaximumCpu="8 vCPU"

On an update, every template parameter you do not set keeps the value the stack has.
""",
    )
    def deploy(
        stack_name: str = typer.Option(..., "--stack-name", help="CloudFormation stack name."),
        region: str = typer.Option(..., "--region", help="AWS region, e.g. eu-west-1."),
        bucket: str = typer.Option(..., "--bucket", help="Data bucket the stack creates/owns."),
        schedule: str | None = typer.Option(
            None, "--schedule", help='Scheduler expression, e.g. "cron(0 6 * * ? *)".'
        ),
        alert_email: str | None = typer.Option(
            None, "--alert-email", help="Subscribe this address to the alert topic."
        ),
        environment: str | None = typer.Option(
            None, "--environment", help="EnvironmentName parameter (default dev)."
        ),
        parameter: list[str] | None = _PARAMETER_OPTION,
        out: str | None = typer.Option(None, "--out", help="Keep the built artifacts here."),
    ) -> None:
        from orchestration.aws.deploy import (
            DeployError,
            ParameterError,
            check_parameters,
            parse_parameter_options,
        )
        from orchestration.aws.deploy import deploy as run_deploy
        from orchestration.aws.packaging import PackagingError
        from orchestration.aws.template import load_template

        try:
            overrides = parse_parameter_options(parameter or [])
            check_parameters(overrides, list(load_template()["Parameters"]))
        except ParameterError as exc:
            raise UsageError(exc.message, hint=exc.hint) from exc
        session = _session(region)
        try:
            result = run_deploy(
                stack_name=stack_name,
                bucket=bucket,
                session=session,
                environment=environment,
                schedule=schedule,
                alert_email=alert_email,
                parameters=overrides,
                out_dir=out,
                progress=console.info,
            )
        except ParameterError as exc:
            raise UsageError(exc.message, hint=exc.hint) from exc
        except DeployError as exc:
            raise CarrentalError(exc.message, hint=exc.hint) from exc
        except PackagingError as exc:
            raise UsageError(str(exc), hint="run from a full checkout of the repository") from exc
        lines = [f"stack {stack_name}: {' + '.join(result.operations)}"]
        lines += [f"  {key}: {value}" for key, value in sorted(result.outputs.items())]
        console.result(
            {
                "stack_name": stack_name,
                "operations": result.operations,
                "artifacts_prefix": result.artifacts_prefix,
                "outputs": result.outputs,
            },
            "\n".join(lines),
        )

    @app.command(
        "destroy",
        help="""Delete the stack (asks first unless --yes).

The data bucket is retained (DeletionPolicy: Retain) so the lake survives; empty and delete it yourself if you want it gone.

Examples:

  carrental destroy --stack-name carrental-dev --region eu-west-1

  carrental destroy --stack-name carrental-dev --region eu-west-1 --yes
""",
    )
    def destroy(
        stack_name: str = typer.Option(..., "--stack-name", help="CloudFormation stack name."),
        region: str = typer.Option(..., "--region", help="AWS region of the stack."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    ) -> None:
        from orchestration.aws.deploy import DeployError
        from orchestration.aws.deploy import destroy as run_destroy

        if not yes and not typer.confirm(
            f"Delete stack {stack_name} in {region}? (the data bucket is kept)", default=False
        ):
            raise UsageError("not confirmed; nothing deleted", hint="pass --yes to skip the prompt")
        session = _session(region)
        try:
            deleted = run_destroy(stack_name=stack_name, session=session, progress=console.info)
        except DeployError as exc:
            raise CarrentalError(exc.message, hint=exc.hint) from exc
        message = f"stack {stack_name} deleted" if deleted else f"stack {stack_name} not found"
        console.result({"stack_name": stack_name, "deleted": deleted}, message)
