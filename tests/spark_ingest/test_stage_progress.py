"""StageProgressReporter against the suite's real SparkSession, and build_session's default."""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Iterator

import pytest
from pyspark import SparkContext
from pyspark.java_gateway import ensure_callback_server_started

from spark_ingest.logs import get_logger
from spark_ingest.session import STAGE_PROGRESS_ENV, stage_progress_wanted
from spark_ingest.stage_progress import StageProgressReporter

TASKS = 4
GROUP = "stage-progress-test"


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append({"event": record.getMessage(), **getattr(record, "fields", {})})


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    handler = Recorder()
    logger = get_logger()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


class SlowTaskEndListener:
    """A driver-side listener (a py4j proxy) that takes ``seconds`` over each task's end,
    while ``active``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active = True

    def onTaskEnd(self, event: object) -> None:
        if self.active:
            time.sleep(self.seconds)

    # java.lang.Object's methods, called on the proxy by the bus (removeListener compares)
    def equals(self, other: object) -> bool:
        return other is self

    def hashCode(self) -> int:
        return id(self) & 0x7FFFFFFF

    def toString(self) -> str:
        return f"SlowTaskEndListener({self.seconds} s)"

    def __getattr__(self, name: str):  # every other SparkListenerInterface callback: ignored
        if name.startswith("on"):
            return lambda *args: None
        raise AttributeError(name)

    class Java:
        implements = ("org.apache.spark.scheduler.SparkListenerInterface",)


@contextlib.contextmanager
def lagging_status_store(sc: SparkContext, seconds: float) -> Iterator[None]:
    """Delay the status store's events the way a busy driver does: a slow listener in its
    queue holds back the stage's end until well after the action returned."""
    if not seconds:
        yield
        return
    ensure_callback_server_started(sc._gateway)
    bus = sc._jsc.sc().listenerBus()
    identity = sc._jvm.java.lang.System.identityHashCode

    def listeners() -> dict[int, object]:
        return {identity(java_listener): java_listener for java_listener in bus.listeners()}

    before = listeners()
    listener = SlowTaskEndListener(seconds)
    bus.addToStatusQueue(listener)
    # py4j makes a new Java proxy each time a Python object is passed: remove the one added
    (added,) = [key for key in listeners() if key not in before]
    try:
        yield
    finally:
        listener.active = False  # the suite's session goes on: never slow it down again
        bus.removeListener(listeners()[added])
        assert listeners().keys() == before.keys(), "the slow listener is still registered"


@pytest.mark.parametrize("status_lag", [0.0, 0.5], ids=["prompt", "lagging status store"])
def test_reports_a_running_stage_until_done(spark, recorder: Recorder, status_lag: float) -> None:
    def slow_identity(value: int) -> int:  # nested: pickled by value for the Python workers
        time.sleep(0.4)
        return value

    sc = spark.sparkContext
    group = f"{GROUP}-{status_lag}"
    with lagging_status_store(sc, status_lag):
        reporter = StageProgressReporter(sc, interval=0.2).start()
        sc.setJobGroup(group, "stage progress test")
        try:
            # 4 tasks of 3 x 0.4 s on local[2]: about 2.5 s of stage time, several polls
            assert sc.parallelize(range(3 * TASKS), TASKS).map(slow_identity).count() == 3 * TASKS
        finally:
            sc.setLocalProperty("spark.jobGroup.id", None)
            reporter.stop()
    (job_id,) = sc.statusTracker().getJobIdsForGroup(group)
    (stage_id,) = sc.statusTracker().getJobInfo(job_id).stageIds
    events = [e for e in recorder.events if e.get("stage_id") == stage_id]
    assert {e["event"] for e in events} == {"stage_progress"}
    assert all(0 <= e["done"] <= e["total"] == TASKS for e in events)
    assert any(not e["finished"] and e["active"] > 0 for e in events), events
    assert [e["finished"] for e in events].count(True) == 1
    assert events[-1]["finished"] and events[-1]["done"] == TASKS and events[-1]["failed"] == 0
    counts = [(e["done"], e["active"], e["failed"], e["finished"]) for e in events]
    assert all(a != b for a, b in itertools.pairwise(counts)), "logged without a change"
    assert [e["done"] for e in events] == sorted(e["done"] for e in events)
    assert not reporter._thread.is_alive()


class FakeTracker:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.polled = threading.Event()

    def getActiveStageIds(self) -> list[int]:
        self.polled.set()
        if self.error:
            raise self.error
        return []


class FakeContext:
    def __init__(self, tracker: FakeTracker) -> None:
        self._jsc = object()
        self._tracker = tracker

    def statusTracker(self) -> FakeTracker:
        return self._tracker


def test_ends_quietly_once_the_context_is_stopped(recorder: Recorder) -> None:
    tracker = FakeTracker(error=ConnectionError("py4j gateway closed"))
    sc = FakeContext(tracker)
    reporter = StageProgressReporter(sc, interval=0.05)  # type: ignore[arg-type]
    sc._jsc = None  # what SparkContext.stop() leaves behind
    reporter.start()
    reporter._thread.join(5)
    assert not reporter._thread.is_alive()
    assert not tracker.polled.is_set()
    assert recorder.events == []


def test_a_failing_tracker_disables_progress_but_not_the_job(recorder: Recorder) -> None:
    tracker = FakeTracker(error=RuntimeError("boom"))
    reporter = StageProgressReporter(FakeContext(tracker), interval=0.05).start()  # type: ignore[arg-type]
    reporter._thread.join(5)
    assert not reporter._thread.is_alive()
    assert recorder.events == [
        {"event": "stage_progress_disabled", "error": "RuntimeError('boom')"}
    ]
    reporter.stop()  # still safe to call


@pytest.mark.parametrize(
    ("requested", "master", "env", "wanted"),
    [
        (None, None, None, True),  # spark-submit / EMR job
        (None, "local[2]", None, False),  # the test suite's session
        (None, "local[2]", "1", True),
        (None, None, "0", False),
        (True, "local[2]", "0", True),  # an explicit argument wins
        (False, None, "1", False),
    ],
)
def test_stage_progress_default(
    monkeypatch: pytest.MonkeyPatch,
    requested: bool | None,
    master: str | None,
    env: str | None,
    wanted: bool,
) -> None:
    if env is None:
        monkeypatch.delenv(STAGE_PROGRESS_ENV, raising=False)
    else:
        monkeypatch.setenv(STAGE_PROGRESS_ENV, env)
    assert stage_progress_wanted(requested, master) is wanted


def test_the_suite_session_has_no_reporter(spark) -> None:
    names = {thread.name for thread in threading.enumerate()}
    assert "spark-stage-progress" not in names
