"""The demo's table (tools/demo.py) from a hand-written history: each line a fact at its own time, each loop one line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tools.demo import lines, visits

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def entered(name: str, minutes: float) -> dict[str, Any]:
    return {"type": "TaskStateEntered", "timestamp": START + timedelta(minutes=minutes), "stateEnteredEventDetails": {"name": name}}


def exited(name: str, minutes: float, output: dict[str, Any]) -> dict[str, Any]:
    details = {"name": name, "output": json.dumps(output)}
    return {"type": "TaskStateExited", "timestamp": START + timedelta(minutes=minutes), "stateExitedEventDetails": details}


def check(minutes: float, status: str) -> list[dict[str, Any]]:
    return [entered("Check Restore Status", minutes), exited("Check Restore Status", minutes, {"restore": {"status": status}})]


def test_a_polling_loop_is_one_line_at_its_last_check_and_only_once_it_ended() -> None:
    # Given a restore checked at 0, 180 and 186 min, readable at the last check, then Extend Copy
    loop = [
        *check(0, "preparing-for-restore"),
        entered("Is Copy Readable?", 0),
        entered("Wait For Restore", 0),
        *check(180, "preparing-for-restore"),
        entered("Is Copy Readable?", 180),
        entered("Wait For Restore", 180),
        *check(186, "ready-to-restore"),
        entered("Is Copy Readable?", 186),
    ]
    # When the history stops inside the loop / Then the loop's line is not done: the earliest it can be is its last event
    (running,) = lines(*visits(loop), START)
    assert (running.done, running.at, running.state) == (False, START + timedelta(minutes=186), "Check Restore Status x3")
    # When the next state is entered / Then one line, at the last check, with its span and its outcome
    (loop_line, following) = lines(*visits([*loop, entered("Extend Copy", 186)]), START)
    assert (loop_line.done, loop_line.at, loop_line.state, loop_line.text) == (
        True,
        START + timedelta(minutes=186),
        "Check Restore Status x3",
        "+0:00:00 ... +3:06:00 (ready-to-restore at +3:06:00)",
    )
    assert (following.state, following.done) == ("Extend Copy", False)


def test_a_failed_state_shows_its_error_name() -> None:
    # Given Validate Input caught by its own Catch, then the execution failed
    history = [
        entered("Validate Input", 0),
        exited("Validate Input", 0, {"failed": {"ValidateInput": {"Error": "InvalidInputError", "Cause": "..."}}}),
        {"type": "FailStateEntered", "timestamp": START, "stateEnteredEventDetails": {"name": "Restore Failed"}},
        {"type": "ExecutionFailed", "timestamp": START, "executionFailedEventDetails": {"error": "InvalidInputError"}},
    ]
    # Then each line says what happened
    assert [(line.state, line.text, line.done) for line in lines(*visits(history), START)] == [
        ("Validate Input", "failed: InvalidInputError", True),
        ("Restore Failed", "FAILED (InvalidInputError)", True),
    ]


def test_a_loop_with_scheduled_checks_stays_one_line_with_its_number_of_checks() -> None:
    # Given an image checked at 0 min, then waits that timed out and were scheduled again (the safety net's polls
    # between checks), then a check that finds it available at 11 min
    history = [
        entered("Check Image State", 0),
        exited("Check Image State", 0, {"image": {"state": "pending"}}),
        entered("Is Image Available?", 0),
        entered("Wait For Image", 0),
        entered("Schedule Next Image Check", 3),
        entered("Wait For Image", 3),
        entered("Check Image State", 11),
        exited("Check Image State", 11, {"image": {"state": "available"}}),
        entered("Is Image Available?", 11),
        entered("Notify Success", 11),
    ]
    # Then the loop is one line counting its two checks (not a line "x0" per scheduled poll)
    assert [(line.state, line.text) for line in lines(*visits(history), START)][:1] == [
        ("Check Image State x2", "+0:00:00 ... +0:11:00 (available at +0:11:00)")
    ]
