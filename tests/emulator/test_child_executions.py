"""Executions started by a task (`states:startExecution`, `.sync`, `.sync:2`) and Map iterations side by side, on the
virtual clock: the moto 5.2.5 gaps fixed in emulator/child_executions.py and emulator/stepfunctions.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulator.facade import Emulator
from tests.emulator.test_callbacks import finished

ROLE = "arn:aws:iam::123456789012:role/parent"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)
# The child waits $.wait seconds, then succeeds with {"waited": <seconds>} or fails BoomError.
CHILD = {
    "StartAt": "Wait",
    "States": {
        "Wait": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Fail?"},
        "Fail?": {"Type": "Choice", "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Boom"}], "Default": "Done"},
        "Boom": {"Type": "Fail", "Error": "BoomError", "Cause": "it broke"},
        "Done": {"Type": "Pass", "Parameters": {"waited.$": "$.wait"}, "End": True},
    },
}


def machine(aws: Emulator, name: str, definition: dict[str, Any]) -> str:
    arn: str = aws.client("stepfunctions").create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    return arn


def parent(child: str, resource: str = "states:startExecution.sync:2", timeout: int | None = None, concurrency: int = 2) -> dict[str, Any]:
    """A Map over $.items, `concurrency` at a time, each item a child execution named child-<index>."""
    task: dict[str, Any] = {
        "Type": "Task",
        "Resource": f"arn:aws:states:::{resource}",
        "Parameters": {
            "StateMachineArn": child,
            "Name.$": "States.Format('child-{}', $.index)",
            "Input": {"wait.$": "$.wait", "fail.$": "$.fail", "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"},
        },
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
        "End": True,
    }
    if timeout is not None:
        task["TimeoutSeconds"] = timeout
    iteration = {"index.$": "$$.Map.Item.Index", "wait.$": "$$.Map.Item.Value.wait", "fail.$": "$$.Map.Item.Value.fail"}
    processor = {"StartAt": "Run Child", "States": {"Run Child": task, "Failed": {"Type": "Pass", "End": True}}}
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": concurrency,
                "ItemSelector": iteration,
                "ItemProcessor": processor,
                "End": True,
            }
        },
    }


@pytest.fixture(scope="module")
def aws() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def run(aws: Emulator, definition: dict[str, Any], items: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]:
    """Run a fresh parent from 09:00 virtual (each test moves the clock on): (its run, its output, its children)."""
    name = f"parent-{time.monotonic_ns()}"
    sfn = aws.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine(aws, name, definition), input=json.dumps({"items": items}))["executionArn"]
    done = finished(aws, arn)
    output = json.loads(sfn.describe_execution(executionArn=arn).get("output") or "null")
    child = definition["States"]["Each"]["ItemProcessor"]["States"]["Run Child"]["Parameters"]["StateMachineArn"]
    children = sorted(sfn.list_executions(stateMachineArn=child)["executions"], key=lambda e: e["name"])
    return done, output, children


def test_sync_2_runs_a_real_child_on_the_virtual_clock_and_returns_its_description_with_json(aws: Emulator) -> None:
    # Given a child state machine that waits an hour / When a parent runs it with .sync:2
    child = machine(aws, "child-a", CHILD)
    started = aws.clock.now()
    done, output, children = run(aws, parent(child), [{"wait": 3600, "fail": False}])
    # Then the parent waited for it in virtual time, and got DescribeExecution in PascalCase with Input and Output as JSON
    assert (done.status, (done.stopped - done.started).total_seconds()) == ("SUCCEEDED", 3600)
    (result,) = output
    start_ms = int(started.timestamp() * 1000)
    parent_arn = done.arn
    assert result == {
        "ExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:child-a:child-0",
        "Input": {"wait": 3600, "fail": False, "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": parent_arn},
        "InputDetails": {"Included": True},
        "Name": "child-0",
        "Output": {"waited": 3600},
        "OutputDetails": {"Included": True},
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE",
        "StartDate": start_ms,
        "StateMachineArn": child,
        "Status": "SUCCEEDED",
        "StopDate": start_ms + 3600 * 1000,
    }
    # ...and the child is a real execution of its state machine
    assert [(c["name"], c["status"]) for c in children] == [("child-0", "SUCCEEDED")]
    # ...with the task's events as on AWS: scheduled, started, submitted (StartExecution's answer), succeeded
    types = [e["type"] for e in done.history if e["type"].startswith("Task")]
    assert types == ["TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded", "TaskStateExited"]


def test_a_failed_child_fails_the_task_states_task_failed_with_its_description_as_the_cause(aws: Emulator) -> None:
    child = machine(aws, "child-b", CHILD)
    _, output, _ = run(aws, parent(child), [{"wait": 60, "fail": True}])
    ((error, cause),) = [(o["Error"], json.loads(o["Cause"])) for o in output]
    assert error == "States.TaskFailed"
    assert (cause["Status"], cause["Error"], cause["Cause"], cause["Name"]) == ("FAILED", "BoomError", "it broke", "child-0")
    assert "Output" not in cause


def test_a_child_name_already_taken_fails_the_task_as_step_functions_names_it(aws: Emulator) -> None:
    # Given a child state machine whose execution child-0 has already run (with another input)
    child = machine(aws, "child-taken", CHILD)
    aws.client("stepfunctions").start_execution(stateMachineArn=child, name="child-0", input=json.dumps({"wait": 1, "fail": False}))
    # When a parent starts its child child-0 / Then the task fails with StartExecution's error, as the integration names it
    _, output, _ = run(aws, parent(child), [{"wait": 60, "fail": False}])
    assert [o["Error"] for o in output] == ["StepFunctions.ExecutionAlreadyExistsException"]


def test_sync_1_returns_strings_and_request_response_returns_the_start(aws: Emulator) -> None:
    child = machine(aws, "child-c", CHILD)
    _, output, _ = run(aws, parent(child, "states:startExecution.sync"), [{"wait": 60, "fail": False}])
    (result,) = output
    assert (json.loads(result["Output"]), json.loads(result["Input"])["wait"]) == ({"waited": 60}, 60)
    started = aws.clock.now()
    done, output, children = run(aws, parent(machine(aws, "child-d", CHILD), "states:startExecution"), [{"wait": 600, "fail": False}])
    # request-response: the parent does not wait; StartExecution's answer; the child runs on by itself
    assert (done.stopped - done.started).total_seconds() == 0
    assert output == [
        {"ExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:child-d:child-0", "StartDate": int(started.timestamp() * 1000)}
    ]
    assert [c["name"] for c in children] == ["child-0"]


def test_map_iterations_side_by_side_keep_their_own_time_and_max_concurrency(aws: Emulator) -> None:
    # Given three children of 1 h, 2 h and 1 min, two at a time / Then 0 and 1 start at once (time does not jump while one
    # iteration sleeps and another is still starting its child), 2 starts when 0 ends, all end by 2 h
    child = machine(aws, "child-e", CHILD)
    started = aws.clock.now()
    done, _, children = run(aws, parent(child), [{"wait": 3600, "fail": False}, {"wait": 7200, "fail": False}, {"wait": 60, "fail": False}])
    offsets = {c["name"]: ((c["startDate"] - started).total_seconds(), (c["stopDate"] - started).total_seconds()) for c in children}
    assert offsets == {"child-0": (0, 3600), "child-1": (0, 7200), "child-2": (3600, 3660)}
    assert (done.status, (done.stopped - done.started).total_seconds()) == ("SUCCEEDED", 7200)


def test_a_task_timeout_fails_states_timeout_and_stops_the_child(aws: Emulator) -> None:
    child = machine(aws, "child-f", CHILD)
    done, output, children = run(aws, parent(child, timeout=600), [{"wait": 3600, "fail": False}])
    assert [o["Error"] for o in output] == ["States.Timeout"]
    assert (done.stopped - done.started).total_seconds() == 600
    assert [c["status"] for c in children] == ["ABORTED"]


def test_stopping_the_parent_stops_its_children(aws: Emulator) -> None:
    # Given a parent waiting for an hour-long child (time held still, so the child cannot finish first)
    child = machine(aws, "child-g", CHILD)
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + 10
    with aws.clock.hold():
        arn = sfn.start_execution(
            stateMachineArn=machine(aws, "stopped-parent", parent(child)), input=json.dumps({"items": [{"wait": 3600, "fail": False}]})
        )["executionArn"]
        while not [e for e in aws.history(arn) if e["type"] == "TaskSubmitted"]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # When the parent is stopped
        sfn.stop_execution(executionArn=arn)
    # Then it is ABORTED, and so is its child, at once
    assert finished(aws, arn).status == "ABORTED"
    while (found := sfn.list_executions(stateMachineArn=child)["executions"][0])["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert (found["status"], found["stopDate"] - found["startDate"]) == ("ABORTED", timedelta(0))


def test_an_execution_that_times_out_in_a_map_ends_timed_out_and_stops_its_children(aws: Emulator) -> None:
    # Given a parent that may run 10 min, whose Map waits for a child of an hour
    child = machine(aws, "child-slow", CHILD)
    definition = {**parent(child), "TimeoutSeconds": 600}
    # When it runs / Then it ends TIMED_OUT at 10 min (not FAILED by its iteration's interruption), its child stopped
    done, _, children = run(aws, definition, [{"wait": 3600, "fail": False}])
    assert (done.status, (done.stopped - done.started).total_seconds()) == ("TIMED_OUT", 600)
    assert [c["status"] for c in children] == ["ABORTED"]
