"""Stage progress of a running job as structured log lines (``stage_progress`` events).

A daemon thread polls the driver's ``StatusTracker`` and logs one line per active stage whose
task counts changed since the last poll, plus a last line (``finished=True``) when a stage it
saw leaves the active set. Stages that start and end between two polls are not reported:
the events are for watching long stages, not an audit trail (the Spark UI / event log is).
"""

from __future__ import annotations

import atexit
import logging
import threading

from pyspark import SparkContext, StatusTracker

from spark_ingest.logs import log

DEFAULT_INTERVAL_SECONDS = 1.0


class StageProgressReporter:
    """Polls ``sc.statusTracker()`` every ``interval`` seconds until :meth:`stop` or
    ``spark.stop()``; never raises into the job."""

    def __init__(self, sc: SparkContext, interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        self._sc = sc
        self._interval = interval
        self._tracker: StatusTracker = sc.statusTracker()
        self._seen: dict[int, tuple[int, int, int, int, int]] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spark-stage-progress", daemon=True)

    def start(self) -> StageProgressReporter:
        self._thread.start()
        # stop before the interpreter tears down py4j, even if the job never stops the session
        atexit.register(self.stop)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Report the stages that ended since the last poll, then end the thread."""
        atexit.unregister(self.stop)
        self._drain_listener_bus(timeout)
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _drain_listener_bus(self, timeout: float) -> None:
        """Wait (at most ``timeout``) for the driver to deliver the events already posted.

        A stage's end reaches the status store through the listener bus, after the action
        that ran it has returned; on a busy driver the last poll could still find the stage
        active and never report it finished.
        """
        if self._context_stopped():
            return
        try:
            self._sc._jsc.sc().listenerBus().waitUntilEmpty(int(timeout * 1000))
        except Exception:  # a timeout or a closing gateway: report what the tracker knows
            return

    def _context_stopped(self) -> bool:
        return getattr(self._sc, "_jsc", None) is None

    def _run(self) -> None:
        while True:
            stopping = self._stopping.wait(self._interval)
            if self._context_stopped():
                return
            try:
                self._poll()
            except Exception as exc:  # best effort: progress must never fail the job
                # spark.stop() breaks the tracker before it clears _jsc: allow it a moment
                self._stopping.wait(self._interval)
                if not self._context_stopped():
                    log(logging.WARNING, "stage_progress_disabled", error=repr(exc)[:500])
                return
            if stopping:
                return

    def _poll(self) -> None:
        active = set(self._tracker.getActiveStageIds())
        for stage_id in sorted(active | self._seen.keys()):
            info = self._tracker.getStageInfo(stage_id)
            finished = stage_id not in active
            if info is None:  # evicted from the status store (spark.ui.retainedStages)
                self._seen.pop(stage_id, None)
                continue
            counts = (
                info.currentAttemptId,
                info.numCompletedTasks,
                info.numTasks,
                info.numActiveTasks,
                info.numFailedTasks,
            )
            if finished or self._seen.get(stage_id) != counts:
                log(
                    logging.INFO,
                    "stage_progress",
                    stage_id=stage_id,
                    attempt=info.currentAttemptId,
                    name=info.name,
                    done=info.numCompletedTasks,
                    total=info.numTasks,
                    active=info.numActiveTasks,
                    failed=info.numFailedTasks,
                    finished=finished,
                )
            if finished:
                self._seen.pop(stage_id, None)
            else:
                self._seen[stage_id] = counts
