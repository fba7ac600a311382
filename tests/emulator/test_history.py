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
