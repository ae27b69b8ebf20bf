"""Helpers for the orchestration tests: fake task handlers that record their calls."""

from __future__ import annotations

from orchestration.executor.bindings import (
    ATHENA_GET_RESULTS,
    ATHENA_START_QUERY,
    CODEBUILD_START_BUILD,
    EMR_START_JOB_RUN,
    GLUE_GET_CRAWLER,
    GLUE_START_CRAWLER,
    SFN_LIST_EXECUTIONS,
    SNS_PUBLISH,
    athena_result_set,
)
from orchestration.executor.interpreter import TaskFailure

ROW_COUNT_COLUMNS = 12  # 11 tables + all_tables_non_empty
RECONCILIATION_COLUMNS = 7


class Fakes:
    """Configurable fake handlers that record every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.fail_job: str | None = None  # job name whose EMR run fails
        self.fail_jobs: tuple[str, ...] = ()  # more job names whose EMR runs fail
        self.crawl_status: dict[str, str] = {}  # crawler name -> LastCrawl.Status
        self.crawl_states: dict[str, list[str]] = {}  # crawler -> successive State answers
        self.dbt_fails = False
        self.query_fails = False
        self.checks_true = True
        self.transient: dict[str, int] = {}  # resource -> failures before success
        self.older_runs: list[str] = []  # names of other RUNNING executions, older than this
        self.newer_runs: list[str] = []  # ... and started after this one
        self.list_fails = False

    def _record(self, resource: str, params: dict) -> None:
        self.calls.append((resource, params))
        left = self.transient.get(resource, 0)
        if left:
            self.transient[resource] = left - 1
            raise TaskFailure("EMRServerless.InternalServerException", "simulated 500")

    def list_executions(self, params, ctx):
        self._record(SFN_LIST_EXECUTIONS, params)
        if self.list_fails:
            raise TaskFailure("Sfn.AccessDeniedException", "not authorized: states:ListExecutions")
        prefix = params["StateMachineArn"].replace(":stateMachine:", ":execution:")
        names = [*self.newer_runs, ctx.execution_name, *self.older_runs]  # newest first
        return {"Executions": [{"ExecutionArn": f"{prefix}:{n}", "Name": n} for n in names]}

    def emr(self, params, ctx):
        self._record(EMR_START_JOB_RUN, params)
        job = params["JobDriver"]["SparkSubmit"]["EntryPoint"].rsplit("/", 1)[-1][:-3]
        if job == self.fail_job or job in self.fail_jobs:
            raise TaskFailure("States.TaskFailed", f"{job} FAILED: boom")
        return {"JobRunId": f"jr-{job}"}

    def start_crawler(self, params, ctx):
        self._record(GLUE_START_CRAWLER, params)
        return {}

    def get_crawler(self, params, ctx):
        self._record(GLUE_GET_CRAWLER, params)
        name = params["Name"]
        states = self.crawl_states.get(name)
        state = states.pop(0) if states else "READY"
        crawler = {"Name": name, "State": state}
        if state == "READY":
            crawler["LastCrawl"] = {"Status": self.crawl_status.get(name, "SUCCEEDED")}
        return {"Crawler": crawler}

    def dbt(self, params, ctx):
        self._record(CODEBUILD_START_BUILD, params)
        if self.dbt_fails:
            raise TaskFailure("CodeBuild.BuildFailed", "failed nodes: test.not_null_x")
        return {"Build": {"Id": "build-1", "BuildStatus": "SUCCEEDED"}}

    def start_query(self, params, ctx):
        self._record(ATHENA_START_QUERY, params)
        if self.query_fails:
            raise TaskFailure("States.TaskFailed", "SYNTAX_ERROR")
        return {"QueryExecution": {"QueryExecutionId": f"q{len(self.calls)}"}}

    def get_results(self, params, ctx):
        self._record(ATHENA_GET_RESULTS, params)
        value = "true" if self.checks_true else "false"
        width = max(ROW_COUNT_COLUMNS, RECONCILIATION_COLUMNS)
        return athena_result_set([f"c{i}" for i in range(width)], [tuple([value] * width)])

    def publish(self, params, ctx):
        self.calls.append((SNS_PUBLISH, params))
        return {"MessageId": "m"}

    def handlers(self) -> dict:
        return {
            SFN_LIST_EXECUTIONS: self.list_executions,
            EMR_START_JOB_RUN: self.emr,
            GLUE_START_CRAWLER: self.start_crawler,
            GLUE_GET_CRAWLER: self.get_crawler,
            CODEBUILD_START_BUILD: self.dbt,
            ATHENA_START_QUERY: self.start_query,
            ATHENA_GET_RESULTS: self.get_results,
            SNS_PUBLISH: self.publish,
        }

    def published(self) -> list[dict]:
        return [p for r, p in self.calls if r == SNS_PUBLISH]


def entered(events: list[dict]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("Entered")]
