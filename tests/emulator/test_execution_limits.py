"""Step Functions' limits and events the emulator adds to moto (emulator/adapters/stepfunctions.py): an execution's
TimeoutSeconds on the virtual clock, the 256 KiB data limit, and "Step Functions Execution Status Change" events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator.facade import Emulator
from tests.emulator.test_callbacks import finished
from tests.emulator.test_child_executions import CHILD, machine, parent
from tests.emulator.test_events import received, rule_to_queue


@pytest.fixture(scope="module")
def aws() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def start(aws: Emulator, definition: dict[str, Any], payload: Any) -> str:
    sfn = aws.client("stepfunctions")
    arn = machine(aws, f"machine-{time.monotonic_ns()}", definition)
    execution: str = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))["executionArn"]
    return execution


def test_an_execution_past_its_timeout_seconds_ends_timed_out_on_the_virtual_clock(aws: Emulator) -> None:
    # Given a state machine that may run an hour and waits two
    definition = {"TimeoutSeconds": 3600, "StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 7200, "End": True}}}
    # When it runs / Then it ends TIMED_OUT after exactly one hour of virtual time, its last event ExecutionTimedOut
    done = finished(aws, start(aws, definition, {}))
    assert (done.status, (done.stopped - done.started).total_seconds(), done.history[-1]["type"]) == (
        "TIMED_OUT",
        3600,
        "ExecutionTimedOut",
    )


def test_a_parent_that_times_out_stops_the_children_its_sync_tasks_wait_for(aws: Emulator) -> None:
    # Given a parent that may run 10 minutes, waiting for a child of an hour
    child = machine(aws, f"child-{time.monotonic_ns()}", CHILD)
    definition = {**parent(child), "TimeoutSeconds": 600}
    # When it times out / Then the child is stopped at that moment
    done = finished(aws, start(aws, definition, {"items": [{"wait": 3600, "fail": False}]}))
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + 10
    while (found := sfn.list_executions(stateMachineArn=child)["executions"][0])["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert (done.status, (done.stopped - done.started).total_seconds()) == ("TIMED_OUT", 600)
    assert (found["status"], (found["stopDate"] - found["startDate"]).total_seconds()) == ("ABORTED", 600)


def test_start_execution_refuses_an_input_over_256_kib(aws: Emulator) -> None:
    arn = machine(aws, f"pass-{time.monotonic_ns()}", {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    sfn = aws.client("stepfunctions")
    # (moto's interpreter itself fails a state whose output is 256 KiB or more: an input just under it passes through)
    accepted = finished(aws, sfn.start_execution(stateMachineArn=arn, input=json.dumps({"x": "a" * 250_000}))["executionArn"])
    over = json.dumps({"x": "a" * (262_144 - 8)})
    assert len(over.encode()) == 262_145
    with pytest.raises(ClientError) as refused:
        sfn.start_execution(stateMachineArn=arn, input=over)
    assert accepted.status == "SUCCEEDED"
    assert (refused.value.response["Error"]["Code"], refused.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "ValidationException",
        400,
    )


def test_a_state_whose_output_passes_256_kib_fails_data_limit_exceeded_which_no_catch_takes(aws: Emulator) -> None:
    # Given a Pass state that doubles a 200 KB input, with a Catch of States.ALL
    definition = {
        "StartAt": "Double",
        "States": {
            "Double": {
                "Type": "Pass",
                "Parameters": {"a.$": "$.x", "b.$": "$.x"},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    # When it runs / Then the execution fails States.DataLimitExceeded at that state; Caught never runs
    done = finished(aws, start(aws, definition, {"x": "a" * 200_000}))
    assert (done.status, done.error) == ("FAILED", "States.DataLimitExceeded")
    assert done.cause == "The state/task 'Double' returned a result with a size exceeding the maximum number of bytes service limit."
    assert "Caught" not in [e.get("stateEnteredEventDetails", {}).get("name") for e in done.history]


def test_every_start_and_end_is_a_status_change_event_on_eventbridge(aws: Emulator) -> None:
    # Given a rule sending Step Functions' status changes to a queue, and a state machine that fails
    url = rule_to_queue(aws, {"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"]}, name="states")
    definition = {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "BoomError", "Cause": "it broke"}}}
    aws.world.event_delay_seconds = 5
    arn = start(aws, definition, {"k": 1})
    done = finished(aws, arn)
    # When the events are delivered
    aws.clock.advance(10)
    events = received(aws, url)
    # Then RUNNING and FAILED, with the fields AWS documents
    statuses = sorted((e["detail"]["status"], e["detail"]["error"], e["detail"]["cause"], e["resources"]) for e in events)
    assert statuses == [("FAILED", "BoomError", "it broke", [arn]), ("RUNNING", None, None, [arn])]
    (failed,) = [e["detail"] for e in events if e["detail"]["status"] == "FAILED"]
    started_ms = int(done.started.timestamp() * 1000)
    assert failed == {
        "executionArn": arn, "stateMachineArn": arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0],
        "name": arn.rsplit(":", 1)[1], "status": "FAILED", "startDate": started_ms, "stopDate": int(done.stopped.timestamp() * 1000),
        "input": '{"k":1}', "output": None, "inputDetails": {"included": True}, "outputDetails": None,
        "error": "BoomError", "cause": "it broke",
    }  # fmt: skip
