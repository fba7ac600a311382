"""Callback tasks (`.waitForTaskToken`) on the virtual clock, and the moto gaps fixed in emulator/stepfunctions.py."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from emulator.facade import Emulator, Run


def waiting_machine(aws: Emulator, timeout: int = 7200, heartbeat: int | None = None) -> tuple[str, str]:
    """A state machine whose one task sends its token to a queue and waits for it."""
    sqs = aws.client("sqs")
    url: str = sqs.create_queue(QueueName="tokens")["QueueUrl"]
    task: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": url, "MessageBody": {"token.$": "$$.Task.Token"}},
        "TimeoutSeconds": timeout,
        "End": True,
    }
    if heartbeat is not None:
        task["HeartbeatSeconds"] = heartbeat
    definition = {"StartAt": "Wait For Token", "States": {"Wait For Token": task}}
    arn: str = aws.client("stepfunctions").create_state_machine(
        name="waiter", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/waiter"
    )["stateMachineArn"]
    return arn, url


def token(aws: Emulator, url: str) -> str:
    (message,) = aws.client("sqs").receive_message(QueueUrl=url)["Messages"]
    found: str = json.loads(message["Body"])["token"]
    return found


def queued(aws: Emulator, url: str) -> int:
    attributes = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def finished(aws: Emulator, arn: str) -> Run:
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + 20
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "still RUNNING after 20 real seconds"
        time.sleep(0.02)
    events = aws.history(arn)
    return Run(arn, described["status"], described.get("error"), described.get("cause"), {}, events, [], described["startDate"],
               described["stopDate"])  # fmt: skip


def test_a_token_wait_times_out_in_virtual_time() -> None:
    # Given a task waiting 2 h for a token nobody sends / Then it fails States.Timeout at 11:00, in a moment of real time
    with Emulator() as aws:
        machine, _ = waiting_machine(aws)
        started = time.monotonic()
        run = finished(aws, aws.client("stepfunctions").start_execution(stateMachineArn=machine)["executionArn"])
        assert (run.status, run.error) == ("FAILED", "States.Timeout")
        assert run.stopped - run.started == timedelta(hours=2)
        assert time.monotonic() - started < 10


def test_a_token_sent_later_completes_the_task_then() -> None:
    # Given a worker that answers 30 min after the task started (a timer on the virtual clock)
    with Emulator() as aws:
        machine, url = waiting_machine(aws)
        sfn = aws.client("stepfunctions")
        with aws.clock.hold():
            arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
            answer = lambda: sfn.send_task_success(taskToken=token(aws, url), output=json.dumps({"restored": True}))  # noqa: E731
            aws.clock.call_at(aws.clock.now() + timedelta(minutes=30), answer)
        run = finished(aws, arn)
        # Then the execution succeeds with the token's output, at 09:30
        assert (run.status, run.stopped - run.started) == ("SUCCEEDED", timedelta(minutes=30))
        assert json.loads(sfn.describe_execution(executionArn=arn)["output"]) == {"restored": True}


def test_send_task_failure_keeps_its_cause() -> None:
    with Emulator() as aws:
        machine, url = waiting_machine(aws)
        sfn = aws.client("stepfunctions")
        with aws.clock.hold():
            arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
            aws.clock.call_at(
                aws.clock.now() + timedelta(minutes=5),
                lambda: sfn.send_task_failure(taskToken=token(aws, url), error="CopyExpiredError", cause="the copy expired at 00:00"),
            )
        run = finished(aws, arn)
        assert (run.status, run.error, run.cause) == ("FAILED", "CopyExpiredError", "the copy expired at 00:00")


def test_a_missed_heartbeat_fails_states_heartbeat_timeout() -> None:
    with Emulator() as aws:
        machine, _ = waiting_machine(aws, heartbeat=600)
        run = finished(aws, aws.client("stepfunctions").start_execution(stateMachineArn=machine)["executionArn"])
        assert (run.status, run.error, run.stopped - run.started) == ("FAILED", "States.HeartbeatTimeout", timedelta(minutes=10))


def test_stop_execution_ends_a_task_waiting_for_its_token() -> None:
    with Emulator() as aws:
        machine, url = waiting_machine(aws)
        sfn = aws.client("stepfunctions")
        with aws.clock.hold():  # time stands still while the operator stops it
            arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
            deadline = time.monotonic() + 10
            while not queued(aws, url):  # the task is waiting for its token
                assert time.monotonic() < deadline
                time.sleep(0.02)
            sfn.stop_execution(executionArn=arn, error="Operator", cause="restore not needed any more")
        run = finished(aws, arn)
        assert (run.status, run.stopped - run.started) == ("ABORTED", timedelta(0))


def test_a_token_reaches_its_task_while_another_execution_is_starting() -> None:
    # Given an execution whose thread has not set up its environment yet (started before, so moto meets it first: it
    # made SendTaskSuccess fail with AttributeError on it), and a task waiting for its token
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    with Emulator() as aws:
        machine, url = waiting_machine(aws)
        sfn = aws.client("stepfunctions")
        with aws.clock.hold():
            other = sfn.start_execution(stateMachineArn=machine, name="starting")["executionArn"]
            arn = sfn.start_execution(stateMachineArn=machine, name="waiting")["executionArn"]
            deadline = time.monotonic() + 10
            while queued(aws, url) < 2:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            tokens = [
                json.loads(m["Body"])["token"] for m in aws.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
            ]
            backend = stepfunctions_parser_backends[aws.account_id][aws.region]
            starting = next(e for e in backend._get_executions() if e.exec_arn == other)
            saved, starting.exec_worker.env = starting.exec_worker.env, None
            try:
                # When both tokens are sent / Then the waiting task's is delivered (the other's is unknown for now)
                answers = []
                for sent in tokens:
                    try:
                        sfn.send_task_success(taskToken=sent, output='{"done": true}')
                        answers.append("delivered")
                    except sfn.exceptions.InvalidToken:
                        answers.append("InvalidToken")
            finally:
                starting.exec_worker.env = saved
            assert sorted(answers) == ["InvalidToken", "delivered"]
            sfn.stop_execution(executionArn=other)
        run = finished(aws, arn)
        assert (run.status, json.loads(sfn.describe_execution(executionArn=arn)["output"])) == ("SUCCEEDED", {"done": True})


def test_a_catch_that_names_its_own_state_enters_it_again() -> None:
    # Given a token wait of 1 h whose States.Timeout is caught back into itself, as Wait For Store Budget's is
    with Emulator() as aws:
        sqs = aws.client("sqs")
        url = sqs.create_queue(QueueName="tokens")["QueueUrl"]
        definition = {
            "StartAt": "Wait For Token",
            "States": {
                "Wait For Token": {
                    "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": url, "MessageBody": {"token.$": "$$.Task.Token"}}, "TimeoutSeconds": 3600,
                    "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": "Wait For Token"}],
                    "Next": "Token Came",
                },
                "Token Came": {"Type": "Succeed"},
            },
        }  # fmt: skip
        sfn = aws.client("stepfunctions")
        machine = sfn.create_state_machine(name="again", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/again")
        with aws.clock.hold():
            arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}")["executionArn"]
            # When nobody sends a token for 2.5 h, then the third wait's token comes
            aws.clock.call_at(aws.clock.now() + timedelta(hours=2, minutes=30), lambda: sfn.send_task_success(
                taskToken=json.loads(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"][-1]["Body"])["token"],
                output="{}"))  # fmt: skip
        run = finished(aws, arn)
        # Then each timeout entered the wait again (three waits, two timeouts) and only the token led on, at 11:30
        entered = [e["stateEnteredEventDetails"]["name"] for e in run.history if e["type"] == "TaskStateEntered"]
        assert entered == ["Wait For Token", "Wait For Token", "Wait For Token"]
        assert [e["type"] for e in run.history].count("TaskTimedOut") == 2
        assert (run.status, run.stopped - run.started) == ("SUCCEEDED", timedelta(hours=2, minutes=30))
