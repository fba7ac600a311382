"""Run.history reads the backend's events in the form GetExecutionHistory answers them (see as_the_api_answers)."""

from __future__ import annotations

from emulator.facade import Emulator
from tests.support import archive, event


def test_a_runs_history_is_what_get_execution_history_answers(aws: Emulator) -> None:
    # Given a restore through every kind of state (tasks, token waits, Pass, Choice, a retry) and a failed one
    stack = aws.deploy()
    key = archive(aws, "GLACIER", restore_hours=4, image_minutes=30)
    aws.faults.lambda_error("CheckStorageClassFunction", "ServiceException")
    restored = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
    failed = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": "ami-00000000000000000.bin"})
    # Then each run's history is the API's, event for event
    assert (restored.status, failed.status) == ("SUCCEEDED", "FAILED")
    assert restored.history == aws.history(restored.arn)
    assert failed.history == aws.history(failed.arn)
    # (the restore: 182 events, its budget wait a callback task's 6 of them, each of its 8 safety-net polls 2 for the
    # question "Is The ... Schedule Used Up?"; the failure: 20)
    assert (len(restored.history), len(failed.history)) == (182, 20)


def test_reverse_order_lists_the_newest_event_first(aws: Emulator) -> None:
    # Given a finished restore
    stack = aws.deploy()
    key = archive(aws, "GLACIER_IR", image_minutes=5)
    run = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
    # When its history is asked for newest first (GetExecutionHistory's reverseOrder)
    newest_first = aws.client("stepfunctions").get_execution_history(executionArn=run.arn, reverseOrder=True)["events"]
    # Then it is the same events in the opposite order, the execution's end first
    assert newest_first == list(reversed(aws.history(run.arn)))
    assert (newest_first[0]["type"], newest_first[-1]["type"]) == ("ExecutionSucceeded", "ExecutionStarted")
