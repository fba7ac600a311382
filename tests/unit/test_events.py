"""Each events/<function>.json through its handler, as `sam local invoke -e events/<function>.json` would run it, in
an emulated account holding what the event names: s3://my-ami-archive/ami-0123456789abcdef0.bin, an AMI of 120 GB
(the size the events carry) that the archive side moved to Deep Archive on its way to being restored. Expected values
are worked out by hand from the event and the pinned durations."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.sns.models import sns_backends

from emulator.facade import Emulator
from tests.support import BUCKET, event, load_function, stand_in_run

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
                                           10909, 13636, 17045, 1173, 60], "next": 1, "seconds": 750, "count": 20}  # fmt: skip
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
    # copy of 120 GB became readable (it expires at 00:00 on the 9th), in the execution the event names, whose input
    # Notify Failure reads
    topic = aws.client("sns").create_topic(Name="glacier-ami-restore")["TopicArn"]
    monkeypatch.setenv("TOPIC_ARN", topic)
    given = {"recoveryPoint": KEY, "recoveryPointBucket": BUCKET, "restoreRequestDays": "3", "restoreRequestTier": "Standard"}
    # ...and in AWS, the object of 120 GB in Deep Archive whose 3-day copy S3 made in a minute (Notify Failure reads it)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"ami", StorageClass="DEEP_ARCHIVE")
    aws.world.sizes[KEY], aws.world.restore_seconds[KEY] = 120 * 10**9, 60
    s3.restore_object(Bucket=BUCKET, Key=KEY, RestoreRequest={"Days": 3, "GlacierJobParameters": {"Tier": "Standard"}})
    aws.clock.advance(120)
    assert (
        stand_in_run(aws, "glacier-ami-restore-RestoreStateMachine", "example-execution", given)
        == event("notify_failure.json")["executionId"]
    )
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
        "Left in place (read from AWS now):",
        "- A restored copy of s3://my-ami-archive/ami-0123456789abcdef0.bin exists until 2026-01-09T00:00:00Z: about $0.092 per "
        "day (estimate: 120.0 GB at S3 Standard's $0.023 per GB-month).",
        "",
        "What to do: Pass a different amiName and start a new execution.",
        "",
        'Input: {"recoveryPoint": "ami-0123456789abcdef0.bin", "recoveryPointBucket": "my-ami-archive", "restoreRequestDays": "3", '
        '"restoreRequestTier": "Standard"}',
        "",
        "Execution: arn:aws:states:us-east-1:123456789012:execution:glacier-ami-restore-RestoreStateMachine:example-execution",
    ]


def test_notify_batch_summary_event(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the stack's topic and events/notify_batch_summary.json: the batch nightly-dr restored its first AMI in its
    # child execution nightly-dr-0-f295ddf6; its second child could not start, its name taken by an execution that
    # restored another object; its third key does not exist (Plan Batch found it missing)
    topic = aws.client("sns").create_topic(Name="glacier-ami-restore")["TopicArn"]
    monkeypatch.setenv("TOPIC_ARN", topic)
    restore = "glacier-ami-restore-RestoreStateMachine"
    monkeypatch.setenv("RESTORE_STATE_MACHINE_ARN", f"arn:aws:states:us-east-1:123456789012:stateMachine:{restore}")
    batch = event("notify_batch_summary.json")["executionId"]
    output = {"status": "SUCCEEDED", "imageId": "ami-0fedcba9876543210", "imageName": "web-server-2025-01-restored-20260105-06d4351d",
              "storageClass": "DEEP_ARCHIVE", "restoreOutcome": "requested", "copyReadyAt": "2026-01-05T20:09:36+00:00",
              "sizeBytes": 120 * 10**9, "imageRequestedAt": "2026-01-05T20:09:36+00:00", "imageAvailableAt": "2026-01-05T20:24:36+00:00",
              "failedImageIds": []}  # fmt: skip
    ours = {"recoveryPoint": KEY, "recoveryPointBucket": BUCKET, "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": batch}
    stand_in_run(aws, restore, "nightly-dr-0-f295ddf6", ours, output=output)
    other = {"recoveryPoint": "ami-0ffffffffffffffff.bin", "recoveryPointBucket": BUCKET}
    stand_in_run(aws, restore, "nightly-dr-1-f295ddf6", other, output={**output, "imageId": "ami-0eeeeeeeeeeeeeeee"})
    # When invoked at the batch's start time
    result = invoke("notify_batch_summary", aws)
    # Then the first AMI is read from its own execution; the second is not restored (never the other execution's AMI)
    first, second, third = (f"s3://{BUCKET}/{k}" for k in (KEY, "ami-0a1b2c3d4e5f60002.bin", "ami-0000000000000dead.bin"))
    taken = "StepFunctions.ExecutionAlreadyExistsException"
    assert result == {
        "status": "FAILED",
        "region": "us-east-1",
        "restored": 1,
        "failed": 2,
        "amis": [
            {"recoveryPoint": first, "status": "SUCCEEDED", "imageId": "ami-0fedcba9876543210"},
            {"recoveryPoint": second, "status": "NOT_STARTED", "error": taken},
            {"recoveryPoint": third, "status": "NOT_STARTED", "error": "RecoveryPointNotFoundError"},
        ],
        "selection": None,
        "execution": batch,
        "Error": "BatchRestoreFailedError",
        "Cause": f"2 of 3 AMI restores failed: {second} ({taken}), {third} (RecoveryPointNotFoundError). 1 restored; the summary "
        "was emailed.",
        "messageId": result["messageId"],
    }
    ((_id, subject, message),) = sent(aws, topic)
    assert subject == "AMI batch restore: 1 of 3 restored, 2 failed in us-east-1"
    assert message.splitlines() == [
        "1 of 3 AMIs restored in us-east-1; 2 failed (below).",
        "Plan: 3 AMIs, 240.0 GB, through the stack's 600 GB image-restore budget (shared with every restore of the stack); "
        "2 restores requested up front.",
        "Started 2026-01-05 09:00:00 UTC, summarised 2026-01-05 09:00:00 UTC (0 min).",
        "",
        "Restored:",
        f"- ami-0fedcba9876543210 (web-server-2025-01-restored-20260105-06d4351d) from {first}, DEEP_ARCHIVE, 120.0 GB: copy readable "
        "2026-01-05 20:09:36 UTC, image requested 2026-01-05 20:09:36 UTC, available 2026-01-05 20:24:36 UTC",
        "",
        "Failed (each restore stopped on its own; the others went on):",
        f"- {second}: NOT_STARTED {taken}: its execution's name was taken by another execution: this AMI was not restored "
        "What to do: Restore this AMI in a new execution (a single restore, or a new batch).",
        f"- {third}: NOT_STARTED RecoveryPointNotFoundError: no such object in the bucket (HeadObject) What to do: Check "
        "recoveryPoint and recoveryPointBucket (aws s3 ls s3://<bucket>/) and start a new execution.",
        "",
        f"Execution: {batch}",
    ]


def budget_table(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack's ImageBudgetTable (template.yaml's key schema) and the functions' settings for a 600 GB budget."""
    aws.client("dynamodb").create_table(
        TableName="image-budget",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "kind", "AttributeType": "S"}, {"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "kind", "KeyType": "HASH"}, {"AttributeName": "id", "KeyType": "RANGE"}],
    )
    monkeypatch.setenv("IMAGE_BUDGET_TABLE", "image-budget")
    monkeypatch.setenv("IMAGE_RESTORE_QUOTA_GB", "600")


def test_wait_for_image_budget_and_release_image_budget_events(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an empty 600 GB budget and the running execution the event names
    budget_table(aws, monkeypatch)
    with aws.clock.hold():
        stand_in_run(aws, "glacier-ami-restore-RestoreStateMachine", "example-execution", {}, hold=60)
        # When events/wait_for_image_budget.json asks for 120 GB at 09:00 / Then it is admitted at once
        assert invoke("wait_for_image_budget", aws) == {"outcome": "admitted"}
    # Then the execution holds a lease of 120 GB for the day of quota waits and a day of image deadline (2 x (10 min +
    # 120 GB at 50 MB/s) = 100 min, at least a day)
    execution = event("release_image_budget.json")["detail"]["executionArn"]
    lease = aws.client("dynamodb").get_item(TableName="image-budget", Key={"kind": {"S": "lease"}, "id": {"S": execution}})["Item"]
    assert (lease["sizeBytes"]["N"], lease["acquiredAt"]["S"], lease["expiresAt"]["N"]) == (
        "120000000000", "2026-01-05T09:00:00+00:00", str(1767603600 + 2 * 86400))  # fmt: skip
    # When it ends (events/release_image_budget.json: its SUCCEEDED event) / Then the 120 GB are back; nobody waited
    assert invoke("release_image_budget", aws) == {"execution": execution, "released": 120 * 10**9, "admitted": []}
    assert invoke("release_image_budget", aws) == {"execution": execution, "released": 0, "admitted": []}


def test_report_ended_execution_event(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the execution events/report_ended_execution.json names, stopped by hand at 21:00 after S3 restored its copy
    # (Standard, Days 3, requested at 09:00: readable at 19:00, it expires at midnight UTC three days later)
    put_recovery_point(aws)
    restored(aws, at_hours=12)
    detail = event("report_ended_execution.json")["detail"]
    with aws.clock.hold():
        stand_in_run(aws, "glacier-ami-restore-RestoreStateMachine", "example-execution", json.loads(detail["input"]), hold=60)
        aws.client("stepfunctions").stop_execution(executionArn=detail["executionArn"])
    topic = aws.client("sns").create_topic(Name="glacier-ami-restore")["TopicArn"]
    queue = aws.client("sqs").create_queue(QueueName="failed-executions")["QueueUrl"]
    settings = {"TOPIC_ARN": topic, "FAILED_EXECUTION_QUEUE_URL": queue, "RESTORE_STATE_MACHINE_ARN": detail["stateMachineArn"],
                "BATCH_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:BatchRestore-x"}  # fmt: skip
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    # When the rule on ended executions delivers its event
    result = invoke("report_ended_execution", aws)
    # Then one email names what the execution left in AWS, read from AWS now (120 GB x $0.023 / 30 = $0.092 a day)
    subject = "AMI restore ended ABORTED: example-execution"
    assert result == {"execution": detail["executionArn"], "reported": True, "why": subject}
    ((_id, sent_subject, message),) = sent(aws, topic)
    assert (sent_subject, message.splitlines()) == (subject, [
        "The AMI restore execution example-execution ended ABORTED, without its own email.",
        "",
        f"Recovery point: s3://{BUCKET}/{KEY}",
        "",
        "Left in place (read from AWS now):",
        f"- A restored copy of s3://{BUCKET}/{KEY} exists until 2026-01-09T00:00:00Z: about $0.092 per day (estimate: 120.0 GB at "
        "S3 Standard's $0.023 per GB-month).",
        "",
        "What to do: start a new execution with the same input if you still need the AMI (it reuses a restored copy).",
        "",
        f"Execution: {detail['executionArn']}",
        f"Console:   https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/{detail['executionArn']}",
    ])  # fmt: skip
    # And the same message waits in the queue, whatever SNS does
    (body,) = [json.loads(m["Body"]) for m in aws.client("sqs").receive_message(QueueUrl=queue)["Messages"]]
    assert body == {"subject": subject, "message": message, "execution": detail["executionArn"]}
