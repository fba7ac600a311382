"""Wait For (Restore, Image) and Resume Waiting against the deployed table: registration, markers, closed tokens."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.facade import Emulator
from tests.support import BUCKET, archive, event, load_function

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:glacier-ami-restore-RestoreStateMachine:one"


class Tokens:
    """Records SendTaskSuccess; tokens in `closed` answer TaskTimedOut, as Step Functions does for a closed task."""

    def __init__(self, closed: tuple[str, ...] = ()) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.closed = closed

    def send_task_success(self, taskToken: str, output: str) -> None:
        from botocore.exceptions import ClientError

        if taskToken in self.closed:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "Task Timed Out"}}, "SendTaskSuccess")
        self.sent.append((taskToken, json.loads(output)))


@pytest.fixture
def table(aws: Emulator) -> str:
    return aws.deploy().physical["WaitTable"]


def registration(key: str, token: str, entered: str = "2026-01-05T09:00:00.000Z", confirmed: bool = True) -> dict[str, Any]:
    return {**event("wait_for.json"), "token": token, "execution": EXECUTION, "enteredAt": entered,
            "subject": {"bucket": BUCKET, "key": key}, "eventsConfirmed": confirmed}  # fmt: skip


def items(aws: Emulator, table: str) -> list[dict[str, str]]:
    found = aws.client("dynamodb").scan(TableName=table)["Items"]
    return sorted(({k: next(iter(v.values())) for k, v in item.items() if k != "expiresAt"} for item in found), key=lambda i: i["waiter"])


def wait_for(aws: Emulator, table: str, body: dict[str, Any], tokens: Tokens) -> str:
    module = load_function("wait_for")
    return str(module.wait_for_event(table, aws.client("dynamodb"), aws.client("s3"), aws.client("ec2"), tokens, body, NOW))


def resume(aws: Emulator, table: str, detail_type: str, key: str, tokens: Tokens) -> dict[str, Any]:
    body = {**event("resume_waiting.json"), "detail-type": detail_type}
    body["detail"] = {**body["detail"], "object": {**body["detail"]["object"], "key": key}}
    result: dict[str, Any] = load_function("resume_waiting").resume_waiting(table, aws.client("dynamodb"), tokens, body, NOW)
    return result


def test_a_registration_waits_and_the_event_resumes_it(aws: Emulator, table: str) -> None:
    # Given an object whose restore is under way, and a wait registered for it
    key = archive(aws, "DEEP_ARCHIVE")
    aws.client("s3").restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Bulk"}})
    tokens = Tokens()
    assert wait_for(aws, table, registration(key, "token-1"), tokens) == "waiting"
    assert items(aws, table) == [{"subject": f"s3://{BUCKET}/{key}", "waiter": EXECUTION, "token": "token-1",
                                  "enteredAt": "2026-01-05T09:00:00.000Z"}]  # fmt: skip
    # When S3's Object Restore Completed arrives / Then the token gets the event and the item is gone
    assert resume(aws, table, "Object Restore Completed", key, tokens) == {"subject": f"s3://{BUCKET}/{key}", "resumed": 1, "closed": 0}
    assert tokens.sent == [
        ("token-1", {"wokenBy": "event", "event": "Object Restore Completed", "at": "2026-01-05T20:00:00Z", "state": None})
    ]
    assert items(aws, table) == []


def test_a_stale_registration_never_replaces_a_newer_one(aws: Emulator, table: str) -> None:
    # Given the wait entered at 09:10 registered, then a retried registration of the wait entered at 09:00 arrives late
    key = archive(aws, "DEEP_ARCHIVE")
    aws.client("s3").restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Bulk"}})
    wait_for(aws, table, registration(key, "newer", entered="2026-01-05T09:10:00.000Z"), Tokens())
    wait_for(aws, table, registration(key, "older", entered="2026-01-05T09:00:00.000Z"), Tokens())
    # Then the item keeps the newer token (the conditional write refused the older one)
    assert [i["token"] for i in items(aws, table)] == ["newer"]


def test_a_token_that_closed_is_benign_and_a_newer_wait_stays(aws: Emulator, table: str) -> None:
    # Given a wait whose task has closed (its timeout moved the execution on to its next poll)
    key = archive(aws, "DEEP_ARCHIVE")
    aws.client("s3").restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Bulk"}})
    wait_for(aws, table, registration(key, "closed"), Tokens())
    # When the event arrives / Then SendTaskSuccess answers TaskTimedOut: counted as closed, no error, the item removed
    assert resume(aws, table, "Object Restore Completed", key, Tokens(closed=("closed",)))["closed"] == 1
    assert items(aws, table) == []


def test_an_initiated_event_before_the_registration_still_counts(aws: Emulator, table: str) -> None:
    # Given S3's Object Restore Initiated, arrived while nobody was registered yet: it leaves a marker
    key = archive(aws, "DEEP_ARCHIVE")
    aws.client("s3").restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Bulk"}})
    assert resume(aws, table, "Object Restore Initiated", key, Tokens())["resumed"] == 0
    # When a wait that has no proof of events yet registers / Then it is sent at once: events do arrive
    tokens = Tokens()
    assert wait_for(aws, table, registration(key, "token-1", confirmed=False), tokens) == "event"
    assert tokens.sent == [("token-1", {"wokenBy": "event", "event": "Object Restore Initiated", "at": "2026-01-05T20:00:00Z"})]
    # and a wait that has the proof already just waits
    assert wait_for(aws, table, registration(key, "token-2", entered="2026-01-05T09:00:05.000Z"), Tokens()) == "waiting"
    # and a marker older than this restore (the event came at 20:00) proves nothing about it: the wait just waits
    later = {**registration(key, "token-3", entered="2026-01-05T09:00:06.000Z", confirmed=False), "since": "2026-01-06T09:00:00+00:00"}
    assert wait_for(aws, table, later, Tokens()) == "waiting"


def test_a_copy_readable_before_the_registration_is_seen_by_the_check_after_it(aws: Emulator, table: str) -> None:
    # Given a copy that became readable before the wait registered (its Object Restore Completed came too early)
    key = archive(aws, "GLACIER", restore_hours=1)
    aws.client("s3").restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Bulk"}})
    aws.clock.advance(2 * 3600)
    tokens = Tokens()
    # When the wait registers / Then its one look finds the copy readable and sends the token itself
    assert wait_for(aws, table, registration(key, "token-1"), tokens) == "check"
    assert [output["wokenBy"] for _, output in tokens.sent] == ["check"]


def test_an_event_with_no_object_or_image_is_ignored(aws: Emulator, table: str) -> None:
    module = load_function("resume_waiting")
    assert module.resume_waiting(table, aws.client("dynamodb"), Tokens(), {"source": "aws.s3", "detail-type": "x", "detail": {}}, NOW) == {
        "subject": None, "resumed": 0, "closed": 0
    }  # fmt: skip
