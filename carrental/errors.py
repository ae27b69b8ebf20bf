"""User-facing errors: one clear line, a hint, and a documented exit code."""

from __future__ import annotations

from spark_ingest.layout import validate_run_id

# Exit codes (documented in the README, "Exit codes").
EXIT_OK = 0
EXIT_FAILED = 1  # the pipeline or a job ran and failed (data-quality gate, Fail state, ...)
EXIT_USAGE = 2  # bad arguments or configuration
EXIT_INPUT = 3  # a bad input file: missing file or column, unreadable, wrong header
EXIT_ENVIRONMENT = 4  # the machine lacks something: Java, a free port, a writable warehouse
EXIT_LOCKED = 5  # another run holds the lake lock


class CarrentalError(Exception):
    """An error the CLI prints as one line plus a hint, without a traceback."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CarrentalError):
    exit_code = EXIT_USAGE


class InputError(CarrentalError):
    exit_code = EXIT_INPUT


class EnvironmentProblem(CarrentalError):
    exit_code = EXIT_ENVIRONMENT


class LockHeld(CarrentalError):
    exit_code = EXIT_LOCKED


RUN_ID_HINT = "e.g. --run-id 20240501T060000Z-demo (or omit it for a new id)"


def check_run_id(run_id: str, error: type[UsageError] = UsageError, hint: str = RUN_ID_HINT) -> str:
    """``run_id`` when it is safe as a path segment, else ``error`` (exit 2) naming the rule.

    The commands that take ``--run-id`` (run, spark, dbt, crawl and the AWS run) call this
    before they touch a lake, a warehouse or AWS, so a bad id is a usage error and never a
    crash half way.
    """
    try:
        return validate_run_id(run_id)
    except ValueError as exc:
        raise error(str(exc), hint=hint) from None
