"""Attributing history events to states, including concurrent Parallel branches."""

from __future__ import annotations

from carrental.report.history import analyse

ASL = {
    "StartAt": "Both",
    "States": {
        "Both": {
            "Type": "Parallel",
            "End": True,
            "Branches": [
                {
                    "StartAt": "A",
                    "States": {"A": {"Type": "Task", "Resource": "arn:x:spark", "End": True}},
                },
                {
                    "StartAt": "B",
                    "States": {"B": {"Type": "Task", "Resource": "arn:x:spark", "End": True}},
                },
            ],
        }
    },
}


def ev(eid, prev, etype, second, **details):
    event = {
        "id": eid,
        "previousEventId": prev,
        "type": etype,
        "timestamp": f"2024-05-01T00:00:{second:02d}Z",
    }
    event.update(details)
    return event


def entered(eid, prev, kind, name, second):
    return ev(eid, prev, f"{kind}StateEntered", second, stateEnteredEventDetails={"name": name})


def exited(eid, prev, kind, name, second):
    return ev(eid, prev, f"{kind}StateExited", second, stateExitedEventDetails={"name": name})


def test_per_branch_chains_attribute_interleaved_events():
    """AWS-style previousEventId chains: B fails once and is retried while A succeeds."""
    fail = {"taskFailedEventDetails": {"error": "Boom", "cause": "executor lost"}}
    events = [
        ev(1, 0, "ExecutionStarted", 0),
        entered(2, 1, "Parallel", "Both", 0),
        entered(3, 2, "Task", "A", 1),
        entered(4, 2, "Task", "B", 1),
        ev(5, 3, "TaskScheduled", 1),
        ev(6, 4, "TaskScheduled", 1),
        ev(7, 5, "TaskStarted", 1),
        ev(8, 6, "TaskStarted", 1),
        ev(9, 8, "TaskFailed", 5, **fail),
        ev(10, 7, "TaskSucceeded", 9),
        exited(11, 10, "Task", "A", 9),
        ev(12, 9, "TaskScheduled", 10),
        ev(13, 12, "TaskStarted", 10),
        ev(14, 13, "TaskSucceeded", 20),
        exited(15, 14, "Task", "B", 20),
        exited(16, 15, "Parallel", "Both", 21),
        ev(17, 16, "ExecutionSucceeded", 21),
    ]
    summary = analyse(events, None, ASL)
    assert summary.status == "SUCCEEDED"
    assert summary.states["A"].outcome == "succeeded"
    assert summary.states["B"].outcome == "retried"
    assert summary.states["B"].errors == [("Boom", "executor lost")]
    assert summary.states["B"].attempts == 2
    assert summary.states["A"].duration == 8.0
    assert summary.states["Both"].duration == 21.0
    assert summary.failing_state is None


def test_uncaught_failure_and_cancelled_sibling():
    """A fails without a Catch (no Exited event); B is aborted; the execution fails."""
    events = [
        entered(1, 0, "Parallel", "Both", 0),
        entered(2, 1, "Task", "A", 0),
        entered(3, 1, "Task", "B", 0),
        ev(4, 2, "TaskScheduled", 0),
        ev(5, 4, "TaskStarted", 0),
        ev(6, 3, "TaskScheduled", 0),
        ev(
            7,
            5,
            "TaskFailed",
            3,
            taskFailedEventDetails={"error": "SparkJobFailed", "cause": "exit 3"},
        ),
        ev(8, 6, "TaskStateAborted", 4, stateExitedEventDetails={"name": "B"}),
        ev(
            9,
            8,
            "ParallelStateFailed",
            4,
            stateFailedEventDetails={"error": "SparkJobFailed", "cause": "exit 3"},
        ),
        ev(
            10,
            9,
            "ExecutionFailed",
            4,
            executionFailedEventDetails={"error": "SparkJobFailed", "cause": "exit 3"},
        ),
    ]
    summary = analyse(events, None, ASL)
    assert summary.status == "FAILED"
    assert summary.states["A"].outcome == "failed"
    assert summary.states["B"].outcome == "cancelled"
    assert summary.failing_state == "A"
    assert (summary.error, summary.cause) == ("SparkJobFailed", "exit 3")


def test_skipped_states_from_a_rerun():
    events = [
        ev(1, 0, "StateSkipped", 0, stateEnteredEventDetails={"name": "A", "skipped": True}),
        entered(2, 1, "Task", "B", 1),
        ev(3, 2, "TaskScheduled", 1),
        ev(4, 3, "TaskSucceeded", 3),
        exited(5, 4, "Task", "B", 3),
    ]
    summary = analyse(events, {"status": "SUCCEEDED"}, ASL)
    assert summary.states["A"].outcome == "skipped"
    assert summary.states["B"].outcome == "succeeded"
