"""Each events/<function>.json through its handler, as `sam local invoke -e events/<function>.json` would run it, in
an emulated account holding what the event names: s3://my-ami-archive/ami-0123456789abcdef0.bin, an AMI of 120 GB
(the size the events carry) that the archive side moved to Deep Archive on its way to being restored. Expected values
are worked out by hand from the event and the pinned durations."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.sns.models import sns_backends

from emulator.facade import Emulator
from tests.support import BUCKET, event, load_function

KEY = "ami-0123456789abcdef0.bin"  # the key every event names
HOUR = 3600


def put_recovery_point(aws: Emulator) -> None:
    """The object the events name: Deep Archive, 120 GB, tagged with its AMI's name as CreateStoreImageTask does."""
    aws.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=b"", StorageClass="DEEP_ARCHIVE", Tagging="ami-name=web-server-2025-01")
    aws.world.sizes[KEY] = 120 * 10**9
    aws.world.restore_seconds[KEY] = 10 * HOUR  # a Standard restore requested at 09:00 is done at 19:00
    aws.world.image_seconds[KEY] = 15 * 60


def restored(aws: Emulator, at_hours: float) -> None:
    """The restore the events describe: Standard, Days 3, requested at 09:00; the clock then moved `at_hours` on."""
    aws.client("s3").restore_object(Bucket=BUCKET, Key=KEY, RestoreRequest={"Days": 3, "GlacierJobParameters": {"Tier": "Standard"}})
    aws.clock.advance(at_hours * HOUR)


def invoke(function: str, aws: Emulator) -> Any:
    return load_function(function).lambda_handler(event(f"{function}.json"), None)


def test_validate_input_event(aws: Emulator) -> None:
    # Given events/validate_input.json (Days as the string "3") / When invoked / Then the request, Days a number
    assert invoke("validate_input", aws) == {
        "recoveryPoint": KEY,
        "recoveryPointBucket": BUCKET,
        "restoreRequestDays": 3,
        "restoreRequestTier": "Standard",
        "requestedTier": "Standard",
        "amiName": None,
        "executionName": "example-execution",
        "startTime": "2026-01-05T09:00:00+00:00",
    }


def test_check_storage_class_event(aws: Emulator) -> None:
    # Given the object in Deep Archive, not restored / When invoked / Then it needs a restore (the blog's status)
    put_recovery_point(aws)
    assert invoke("check_storage_class", aws) == {
        "status": "preparing-for-restore",
        "storageClass": "DEEP_ARCHIVE",
        "archiveStatus": None,
        "restoreInProgress": False,
        "bucketSendsEvents": False,
        "restoreExpiry": None,
        "originalAmiName": "web-server-2025-01",
        "sizeBytes": 120_000_000_000,
        "tier": "Standard",
        "requestOutcome": None,
        "requestedAt": None,
        "readyAt": None,
        "checks": 0,
        "nextCheckSeconds": 0,
    }


def test_check_storage_class_event_without_the_object(aws: Emulator) -> None:
    # Given an account without the object / When invoked / Then the named error that Notify explains
    app = load_function("check_storage_class")
    with pytest.raises(app.RecoveryPointNotFoundError) as raised:
        app.lambda_handler(event("check_storage_class.json"), None)
    assert str(raised.value) == f"s3://{BUCKET}/{KEY} does not exist (check recoveryPoint and recoveryPointBucket)"


def test_request_restore_event(aws: Emulator) -> None:
    # Given the object in Deep Archive / When invoked at 09:00 / Then one RestoreObject, Standard, Days 3, accepted (202)
    put_recovery_point(aws)
    result = invoke("request_restore", aws)
    assert (result["requestOutcome"], result["requestedAt"], result["tier"]) == ("requested", "2026-01-05T09:00:00+00:00", "Standard")
    assert [(c["tier"], c["days"], c["status"]) for c in aws.s3.restore_calls] == [("Standard", 3, 202)]


def test_check_restore_status_event(aws: Emulator) -> None:
    # Given the restore done at 19:00 and the check at 20:00 / When invoked / Then readable, the copy expiring at the
    # first midnight after 19:00 + 3 days (S3 rounds up): 00:00 on the 9th
    put_recovery_point(aws)
    restored(aws, at_hours=11)
    result = invoke("check_restore_status", aws)
    assert {k: result[k] for k in ("status", "readyAt", "restoreExpiry", "checks", "nextCheckSeconds")} == {
        "status": "ready-to-restore",
        "readyAt": "2026-01-05T20:00:00+00:00",
        "restoreExpiry": "2026-01-09T00:00:00+00:00",
        "checks": 2,
        "nextCheckSeconds": 0,
    }


def test_extend_copy_event(aws: Emulator) -> None:
    # Given the copy (expiring 00:00 on the 9th) at 20:00 on the 5th: 76 h of life, more than the planned image restore
    # of 120 GB (10 min + 2,400 s at 50 MB/s) + 12 h / When invoked / Then it is long enough; no RestoreObject
    put_recovery_point(aws)
    restored(aws, at_hours=11)
    result = invoke("extend_copy", aws)
    assert (result["copyExtension"], result["restoreExpiry"]) == ("long-enough", "2026-01-09T00:00:00+00:00")
    assert len(aws.s3.restore_calls) == 1


def test_restore_image_event(aws: Emulator) -> None:
    # Given the readable copy / When invoked / Then one CreateRestoreImageTask, named from the original AMI name, the
    # execution's start date and the hash of its ARN (the literal of events/check_image_state.json)
    put_recovery_point(aws)
    restored(aws, at_hours=11)
    result = invoke("restore_image", aws)
    assert (result["imageName"], result["state"], result["requestedAt"], result["sizeBytes"]) == (
        "web-server-2025-01-restored-20260105-06d4351d",
        "pending",
        "2026-01-05T20:00:00+00:00",
        120_000_000_000,
    )
    assert [c["name"] for c in aws.ec2.restore_image_calls] == ["web-server-2025-01-restored-20260105-06d4351d"]


def test_check_image_state_event_names_an_ami_this_account_does_not_have(aws: Emulator) -> None:
    # Given an account without ami-0fedcba9876543210, at the event's requestedAt (20:09:36)
    aws.clock.advance(11 * HOUR + 9 * 60 + 36)
    # When invoked / Then at first it is taken as not yet visible (EC2 is eventually consistent): pending, and the safety
    # net's first poll at a quarter of the planned 50 min (10 min + 120 GB at 50 MB/s), if EC2's event does not come first
    result = invoke("check_image_state", aws)
    assert (result["state"], result["checks"], result["nextCheckSeconds"]) == ("pending", 1, 750)
    # then at half and all of it (25 and 50 min), then every 25 % of the time elapsed (whole seconds) to the 24 h deadline,
    # and one more wait, which returns at once past the deadline
    assert result["wait"] == {"timeouts": [750, 750, 1500, 750, 937, 1171, 1464, 1830, 2288, 2860, 3575, 4468, 5585, 6982, 8727,
                                           10909, 13636, 17045, 1173, 60], "next": 1, "seconds": 750}  # fmt: skip
    # and 10 minutes later EC2's own answer reaches the state (no Retry covers it: the Catch emails it)
    aws.clock.advance(600)
    with pytest.raises(ClientError) as raised:
        invoke("check_image_state", aws)
    assert raised.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"


def test_validate_batch_event(aws: Emulator) -> None:
    # Given events/validate_batch.json (two keys, the second with its own tier) / When invoked / Then one single-restore
    # input per AMI, only what differs from the defaults: the request events/plan_batch.json carries
    assert invoke("validate_batch", aws) == {
        "batch": True,
        "recoveryPointBucket": BUCKET,
        "restoreRequestDays": 1,
        "restoreRequestTier": "Standard",
        "requestedTier": "Standard",
        "amiName": None,
        "recoveryPoints": [
            {"recoveryPoint": KEY, "recoveryPointBucket": BUCKET},
            {"recoveryPoint": "ami-0a1b2c3d4e5f60002.bin", "recoveryPointBucket": BUCKET, "restoreRequestTier": "Bulk"},
        ],
        "selector": None,
        "executionName": "nightly-dr",
        "startTime": "2026-01-05T09:00:00+00:00",
    }
    assert invoke("validate_batch", aws) == event("plan_batch.json")["request"]


def sent(aws: Emulator, topic: str) -> list[tuple[str, str, str]]:
    """(message id, subject, message) of every email published to the topic."""
    found = sns_backends["123456789012"]["us-east-1"].topics[topic].sent_notifications
    return [(message_id, subject or "", message) for message_id, message, subject, _attributes, _group in found]


def test_notify_success_event(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the stack's topic / When events/notify_success.json is invoked / Then the success email is published and returned
    topic = aws.client("sns").create_topic(Name="glacier-ami-restore")["TopicArn"]
    monkeypatch.setenv("TOPIC_ARN", topic)
    result = invoke("notify_success", aws)
    assert (result["status"], result["imageId"], result["restoreSummary"]) == (
        "SUCCEEDED",
        "ami-0fedcba9876543210",
        "requested at 2026-01-05 09:00:00 UTC, Standard tier",
    )
    assert [(message_id, subject) for message_id, subject, _message in sent(aws, topic)] == [
        (result["messageId"], "AMI restored: ami-0fedcba9876543210 in us-east-1")
    ]


def test_notify_failure_event(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the stack's topic and events/notify_failure.json: Restore Image failed on a name another AMI holds, after the
    # copy of 120 GB became readable (it expires at 00:00 on the 9th)
    topic = aws.client("sns").create_topic(Name="glacier-ami-restore")["TopicArn"]
    monkeypatch.setenv("TOPIC_ARN", topic)
    # When invoked
    result = invoke("notify_failure", aws)
    # Then it returns the original error for Restore Failed, and emails the step, the cause, the copy left in place with
    # its cost (120 GB x $0.023 / 30 = $0.092 a day) and what to do
    cause = "an AMI named 'web-server-2025-01-restored-20260105-06d4351d' exists and was not made by this execution"
    assert (result["failedStep"], result["Error"], result["cause"], result["changedNothing"]) == (
        "Restore Image",
        "ImageNameConflictError",
        cause,
        False,
    )
    ((message_id, subject, message),) = sent(aws, topic)
    assert (message_id, subject) == (result["messageId"], "AMI restore failed: ImageNameConflictError at Restore Image")
    assert message.splitlines() == [
        "The restore stopped at 'Restore Image' with ImageNameConflictError:",
        f"  {cause}",
        "",
        "Left in place:",
        "- The temporary restored copy of s3://my-ami-archive/ami-0123456789abcdef0.bin: it expires 2026-01-09 00:00:00 UTC; "
        "until then it costs about $0.092 per day (estimate: 120.0 GB at S3 Standard's $0.023 per GB-month).",
        "",
        "What to do: Pass a different amiName and start a new execution.",
        "",
        'Input: {"recoveryPoint": "ami-0123456789abcdef0.bin", "recoveryPointBucket": "my-ami-archive", "restoreRequestDays": "3", '
        '"restoreRequestTier": "Standard"}',
        "",
        "Execution: arn:aws:states:us-east-1:123456789012:execution:glacier-ami-restore-RestoreStateMachine:example-execution",
    ]


def test_notify_batch_summary_event(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the stack's topic and events/notify_batch_summary.json (Plan Batch's two rounds), in an account where the
    # batch never started its two child executions nightly-dr-0 and nightly-dr-1
    topic = aws.client("sns").create_topic(Name="glacier-ami-restore")["TopicArn"]
    monkeypatch.setenv("TOPIC_ARN", topic)
    # When invoked at the batch's start time
    result = invoke("notify_batch_summary", aws)
    # Then each AMI is read from its execution (none exists: not started), and the summary says so for the Fail state
    execution = "arn:aws:states:us-east-1:123456789012:execution:glacier-ami-restore-RestoreStateMachine:nightly-dr"
    first, second = f"s3://{BUCKET}/{KEY}", f"s3://{BUCKET}/ami-0a1b2c3d4e5f60002.bin"
    assert result == {
        "status": "FAILED",
        "region": "us-east-1",
        "restored": 0,
        "failed": 2,
        "amis": [
            {"recoveryPoint": first, "status": "NOT_STARTED", "error": "NotStarted"},
            {"recoveryPoint": second, "status": "NOT_STARTED", "error": "NotStarted"},
        ],
        "selection": None,
        "execution": execution,
        "Error": "BatchRestoreFailedError",
        "Cause": f"2 of 2 AMI restores failed: {first} (NotStarted), {second} (NotStarted). The others are restored; the summary "
        "was emailed.",
        "messageId": result["messageId"],
    }
    ((_id, subject, message),) = sent(aws, topic)
    assert subject == "AMI batch restore: 0 of 2 restored, 2 failed in us-east-1"
    assert message.splitlines() == [
        "0 of 2 AMIs are restored in us-east-1; 2 failed (below).",
        "Plan: 240.0 GB under the 600 GB image-restore quota: 1 in 1 lane, then 1 in 1 lane; 2 restores requested up front.",
        "Started 2026-01-05 09:00:00 UTC, summarised 2026-01-05 09:00:00 UTC (0 min).",
        "",
        "Failed (each restore stopped on its own; the others went on):",
        f"- {first}: NOT_STARTED NotStarted: the batch could not start its execution What to do: Read the execution's history. "
        f"Execution: {execution}-0",
        f"- {second}: NOT_STARTED NotStarted: the batch could not start its execution What to do: Read the execution's history. "
        f"Execution: {execution}-1",
        "",
        f"Execution: {execution}",
    ]
