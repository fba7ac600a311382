"""End to end: the real state machine and handlers on the emulator, on the virtual clock.

Each scenario deploys template.yaml, archives an AMI the way the archive side does, starts a console-style
execution with a payload from events/executions/ and checks what the operator would see. Restore and image-restore
durations are pinned (the world would draw them otherwise), so every expected time below is worked out by hand from
the schedule in functions/check_restore_status and functions/check_image_state.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.facade import Emulator, Run
from tests.support import BUCKET, ROOT, archive, event, images, until_entered
from tools import baselines

pytestmark = pytest.mark.long  # run first (tests/conftest.py)

HOUR = 3600


def restore(aws: Emulator, payload_file: str, storage_class: str, archive_status: str | None = None, **pins: Any) -> Run:
    stack = aws.deploy()
    key = archive(aws, storage_class, archive_status=archive_status, **pins)
    payload = {**event(f"executions/{payload_file}.json"), "recoveryPoint": key}
    return aws.run(stack, payload)


def hours(run: Run) -> float:
    return (run.stopped - run.started).total_seconds() / HOUR


@pytest.mark.parametrize(
    "payload, storage_class, archive_status, restore_hours, restores, seconds",
    [
        # S3's Object Restore Completed and EC2's AMI state event each reach the stack EVENT_DELAY (5 s) after the fact
        # and resume the waiting execution at once: restore + 5 s + the image's 15 min + 5 s
        # readable now: Restore Image at once
        ("glacier-instant-retrieval", "GLACIER_IR", None, None, [], 15 * 60 + 5),
        ("glacier-instant-retrieval", "STANDARD", None, None, [], 15 * 60 + 5),
        ("glacier-expedited", "GLACIER", None, 0.05, [("Expedited", 1, 202)], 180 + 5 + 15 * 60 + 5),
        ("glacier-standard", "GLACIER", None, 4, [("Standard", 1, 202)], 4 * HOUR + 5 + 15 * 60 + 5),
        ("glacier-bulk", "GLACIER", None, 8, [("Bulk", 1, 202)], 8 * HOUR + 5 + 15 * 60 + 5),
        ("deep-archive-standard", "DEEP_ARCHIVE", None, 11, [("Standard", 1, 202)], 11 * HOUR + 5 + 15 * 60 + 5),
        # Deep Archive Bulk 36 h with the blog's Days 1
        ("deep-archive-bulk", "DEEP_ARCHIVE", None, 36, [("Bulk", 1, 202)], 36 * HOUR + 5 + 15 * 60 + 5),
        ("intelligent-tiering-archive", "INTELLIGENT_TIERING", "ARCHIVE_ACCESS", 8, [("Bulk", None, 202)], 8 * HOUR + 5 + 15 * 60 + 5),
    ],
)
def test_every_class_and_tier_restores_one_ami_and_emails_it(
    aws: Emulator,
    payload: str,
    storage_class: str,
    archive_status: str | None,
    restore_hours: float | None,
    restores: list[tuple[str, int | None, int]],
    seconds: int,
) -> None:
    # Given an AMI archived in the class / When the console payload runs / Then one AMI, available, in one email
    run = restore(aws, payload, storage_class, archive_status, restore_hours=restore_hours)
    assert (run.status, run.error) == ("SUCCEEDED", None)
    assert [(c["tier"], c["days"], c["status"]) for c in aws.s3.restore_calls] == restores
    (image,) = images(aws)
    assert (image["ImageId"], image["State"]) == (run.output["imageId"], "available")
    assert len(aws.ec2.restore_image_calls) == 1
    (email,) = run.emails
    assert email["subject"] == f"AMI restored: {image['ImageId']} in us-east-1"
    assert image["ImageId"] in email["message"]
    assert (run.stopped - run.started).total_seconds() == seconds
    # and the email says in words how the object became readable; a readable class has no copy, so no copy times
    lines = email["message"].splitlines()
    restored = [line for line in lines if line.startswith(("Restore:", "Copy ", "Readable at:"))]
    if not restores:
        assert restored == [f"Restore:               no restore needed (the object is readable: {storage_class})"]
    else:
        tier = restores[0][0]
        assert restored[0] == f"Restore:               requested at 2026-01-05 09:00:00 UTC, {tier} tier"
        assert [line.split(":")[0] for line in restored[1:]] == (
            ["Readable at"] if archive_status else ["Copy readable at", "Copy expires at"]
        )


def test_output_is_the_summary_that_was_emailed(aws: Emulator) -> None:
    run = restore(aws, "deep-archive-bulk", "DEEP_ARCHIVE", restore_hours=36)
    assert {
        k: run.output[k]
        for k in (
            "status",
            "storageClass",
            "archiveStatus",
            "restoreTier",
            "restoreOutcome",
            "restoreRequestedAt",
            "copyReadyAt",
            "copyExpiresAt",
            "sizeBytes",
        )
    } == {
        "status": "SUCCEEDED",
        "storageClass": "DEEP_ARCHIVE",
        "archiveStatus": None,
        "restoreTier": "Bulk",
        "restoreOutcome": "requested",
        "restoreRequestedAt": "2026-01-05T09:00:00+00:00",
        "copyReadyAt": "2026-01-06T21:00:05+00:00",  # 36 h, and S3's event 5 s later
        "copyExpiresAt": "2026-01-08T00:00:00+00:00",  # ready at 21:00 on the 6th + 1 day, next midnight
        "sizeBytes": 8_000_000_000,
    }
    assert run.output["imageName"].startswith("db-server-restored-20260105-")  # amiName from the payload


@pytest.mark.parametrize("restore_hours, seconds", [(47, 47 * HOUR + 5 + 15 * 60 + 5), (72, 72 * HOUR + 5 + 15 * 60 + 5)])
def test_the_blogs_payload_with_days_1_restores_deep_archive_bulk_late(aws: Emulator, restore_hours: float, seconds: int) -> None:
    # Given the blog's payload exactly (Days "1") and a Deep Archive Bulk restore finishing at 47 h or 72 h
    stack = aws.deploy()
    key = archive(aws, "DEEP_ARCHIVE", restore_hours=restore_hours)
    payload = {"recoveryPoint": key, "recoveryPointBucket": BUCKET, "restoreRequestDays": "1", "restoreRequestTier": "Bulk"}
    # When it runs / Then it succeeds: the copy (made at completion, living until the next midnight after a day) outlives
    # the image restore, one RestoreObject, one AMI
    run = aws.run(stack, payload)
    assert (run.status, run.error) == ("SUCCEEDED", None)
    assert [(c["tier"], c["days"], c["status"]) for c in aws.s3.restore_calls] == [("Bulk", 1, 202)]
    assert len(images(aws)) == 1
    assert (run.stopped - run.started).total_seconds() == seconds
    # ...in at most 48 state transitions (the 72 h case: 5 polls of the copy and 3 of the image, each a question, the
    # next timeout and the wait again)
    assert len(run.states_entered()) <= 48


def test_a_4_tb_ami_extends_its_copy_and_outlives_a_24_hour_image_deadline(aws: Emulator) -> None:
    # Given a 4 TB AMI in Flexible Retrieval, Days 1, a Bulk restore taking 12 h and an image restore taking 30 h
    stack = aws.deploy()
    key = archive(aws, "GLACIER", restore_hours=12, size_gb=4000, image_minutes=30 * 60)
    payload = {"recoveryPoint": key, "recoveryPointBucket": BUCKET, "restoreRequestDays": "1", "restoreRequestTier": "Bulk"}
    # When it runs
    run = aws.run(stack, payload)
    # Then the copy (readable at 21:00 on the 5th, expiring 00:00 on the 7th: 27 h) was extended by RestoreObject (200)
    # to cover 10 min + 4 TB at 50 MB/s + 12 h = 34.4 h: Days 2 from 21:xx on the 5th -> 00:00 on the 8th
    assert [(c["tier"], c["days"], c["status"]) for c in aws.s3.restore_calls] == [("Bulk", 1, 202), ("Bulk", 2, 200)]
    assert (run.status, run.error) == ("SUCCEEDED", None)
    assert (run.output["copyExpiresAt"], run.output["copyExtendedFrom"]) == (
        "2026-01-08T00:00:00+00:00",
        "2026-01-07T00:00:00+00:00",
    )
    assert "Note: the copy was extended from 2026-01-07 00:00:00 UTC so that it outlives the image restore." in run.emails[0]["message"]
    # and the image restore ran for 30 h, past the old fixed 24 h deadline (4 TB: 44.8 h)
    image = aws.ec2.image_restores[run.output["imageId"]]
    assert (image.ready_at - image.started_at).total_seconds() == 30 * HOUR
    assert len(images(aws)) == 1


@pytest.mark.parametrize("restore_hours", [2.0, 4.0])
def test_a_2_tb_expedited_restore_succeeds(aws: Emulator, restore_hours: float) -> None:
    # Given a 2 TB object: S3 returns objects over 250 MB at up to 300 MB/s, so Expedited takes about 1.9 h or longer
    run = restore(aws, "glacier-expedited", "GLACIER", restore_hours=restore_hours, size_gb=2000, image_minutes=6 * 60)
    # Then the Expedited deadline (11.3 h for 2 TB) is not reached; one restore, one AMI
    assert (run.status, run.error) == ("SUCCEEDED", None)
    assert [(c["tier"], c["status"]) for c in aws.s3.restore_calls] == [("Expedited", 202)]
    assert len(images(aws)) == 1


def test_an_already_restored_copy_is_not_restored_again(aws: Emulator) -> None:
    stack = aws.deploy()
    key = archive(aws, "GLACIER", restore_hours=8)
    aws.client("s3").restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 2, "GlacierJobParameters": {"Tier": "Bulk"}})
    aws.clock.advance(8 * HOUR)
    run = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
    assert run.status == "SUCCEEDED"
    assert len(aws.s3.restore_calls) == 1  # only the one made before the execution; its copy lives 2 days more
    assert (run.output["restoreOutcome"], run.count("Request Restore")) == ("restored-before-this-run", 0)


def test_a_copy_found_close_to_its_expiry_is_extended_before_the_image_restore(aws: Emulator) -> None:
    # Given a copy someone restored with Days 1 that is readable since 17:00 and expires at 00:00 tonight + 1 day...
    stack = aws.deploy()
    key = archive(aws, "GLACIER", restore_hours=8)
    aws.client("s3").restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Bulk"}})
    # ...and the restore is started 28 h later, with 3 h of copy left (less than 10 min + 8 GB + 12 h)
    aws.clock.advance(36 * HOUR)
    run = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
    # Then the copy is extended first (Days 1 from 21:00 on the 6th: next midnight after the 7th, 21:00), never shortened
    assert [(c["days"], c["status"]) for c in aws.s3.restore_calls] == [(1, 202), (1, 200)]
    assert (run.status, run.output["copyExtendedFrom"], run.output["copyExpiresAt"]) == (
        "SUCCEEDED",
        "2026-01-07T00:00:00+00:00",
        "2026-01-08T00:00:00+00:00",
    )


def test_a_restore_in_progress_is_joined_not_repeated(aws: Emulator) -> None:
    stack = aws.deploy()
    key = archive(aws, "GLACIER", restore_hours=4)
    aws.client("s3").restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 2, "GlacierJobParameters": {"Tier": "Standard"}})
    run = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
    assert run.status == "SUCCEEDED"
    assert len(aws.s3.restore_calls) == 1
    assert (run.output["restoreOutcome"], run.count("Request Restore"), len(images(aws))) == ("joined-restore-in-progress", 0, 1)


def test_thirteen_100_gb_restores_started_at_once_take_turns_under_the_600_gb_budget(aws: Emulator) -> None:
    # Given 13 AMIs of 100 GB, readable, whose image restores take 40 min each, and the stack's 600 GB budget
    stack = aws.deploy()
    keys = [archive(aws, "GLACIER_IR", size_gb=100, image_minutes=40, name=f"web-{n:02d}") for n in range(13)]
    started = aws.clock.now()
    # When 13 executions start at the same instant
    with aws.clock.hold():
        arns = [aws.start(stack, {"recoveryPoint": key, "recoveryPointBucket": BUCKET}) for key in keys]
    runs = [aws.wait(stack, arn) for arn in arns]
    # Then 6 image restores start at once, and 6 more each time 6 end: 40 min, EC2's event 5 s later ends the restore,
    # and Step Functions' event of its end 5 s later releases its GB and wakes the next ones. EC2 refuses none.
    assert [r.status for r in runs] == ["SUCCEEDED"] * 13
    calls = aws.ec2.restore_image_calls
    assert sorted((c["at"] - started).total_seconds() for c in calls) == [0.0] * 6 + [2410.0] * 6 + [4820.0]
    assert (len(calls), len({c["key"] for c in calls}), [c for c in calls if "imageId" not in c]) == (13, 13, [])
    assert sorted(i["State"] for i in images(aws)) == ["available"] * 13
    aws.clock.advance(60)  # the last restore's end event (5 s)
    table = stack.physical["ImageBudgetTable"]
    assert [i["kind"]["S"] for i in aws.client("dynamodb").scan(TableName=table)["Items"]] == ["total"]  # no lease, no ticket left


@pytest.mark.parametrize(
    "payload, storage_class, message",
    [
        ("invalid-tier-and-days", "GLACIER", "restoreRequestDays: must be a whole number from 1 to 30"),
        ("invalid-bucket-and-key", "GLACIER", 'recoveryPoint: "backup.tar" is not an AMI object'),
        ("invalid-expedited-deep-archive", "DEEP_ARCHIVE", "restoreRequestTier: Expedited is not offered for Deep Archive"),
    ],
)
def test_invalid_input_fails_with_an_email_and_no_side_effect(aws: Emulator, payload: str, storage_class: str, message: str) -> None:
    stack = aws.deploy()
    key = archive(aws, storage_class)
    body = event(f"executions/{payload}.json")
    if body["recoveryPoint"].endswith(".bin"):
        body["recoveryPoint"] = key
    run = aws.run(stack, body)
    assert (run.status, run.error) == ("FAILED", "InvalidInputError")
    assert message in json.loads(run.cause or "{}")["errorMessage"]
    (email,) = run.emails
    step = "Check Storage Class" if payload == "invalid-expedited-deep-archive" else "Validate Input"
    assert email["subject"] == f"AMI restore failed: InvalidInputError at {step}"
    assert "Nothing was changed in AWS." in email["message"]
    assert (aws.s3.restore_calls, aws.ec2.restore_image_calls, images(aws)) == ([], [], [])


def test_input_that_is_not_even_an_object_is_refused_by_email(aws: Emulator) -> None:
    stack = aws.deploy()
    run = aws.run(stack, "ami-0123456789abcdef0.bin")
    assert (run.status, run.error, len(run.emails)) == ("FAILED", "InvalidInputError", 1)
    assert run.states_entered() == ["Is It A Batch?", "Validate Input", "Note The Refusal", "Notify Failure", "Restore Failed"]


def test_missing_object_fails_named(aws: Emulator) -> None:
    stack = aws.deploy()
    run = aws.run(stack, event("executions/glacier-standard.json"))
    assert (run.status, run.error) == ("FAILED", "RecoveryPointNotFoundError")
    assert run.emails[0]["subject"] == "AMI restore failed: RecoveryPointNotFoundError at Check Storage Class"


def test_failed_image_fails_with_its_reason(aws: Emulator) -> None:
    aws.faults.image_failure("Snapshot data is corrupted")
    run = restore(aws, "glacier-instant-retrieval", "GLACIER_IR")
    assert (run.status, run.error) == ("FAILED", "ImageRestoreFailedError")
    assert "Snapshot data is corrupted" in (run.cause or "")
    assert run.emails[0]["subject"] == "AMI restore failed: ImageRestoreFailedError at Check Image State"
    assert len(aws.ec2.restore_image_calls) == 1


def test_restore_that_never_finishes_hits_the_deadline(aws: Emulator) -> None:
    # Given a Deep Archive Bulk restore that never finishes / Then FAILED at the deadline: max(2 x 48 h 27 s, +1 h)
    # + 8 GB at 75 MB/s = 96 h 54 s + 107 s
    run = restore(aws, "deep-archive-bulk", "DEEP_ARCHIVE", restore_hours=500)
    assert (run.status, run.error) == ("FAILED", "RestoreDeadlineExceededError")
    assert run.emails[0]["subject"] == "AMI restore failed: RestoreDeadlineExceededError at Check Restore Status"
    assert (run.stopped - run.started).total_seconds() == 96 * HOUR + 54 + 107
    assert len(run.history) < 1000
    assert images(aws) == []


def test_no_expedited_capacity_falls_back_to_standard_and_says_so(aws: Emulator) -> None:
    aws.faults.request("s3.RestoreObject", "GlacierExpeditedRetrievalNotAvailable", 503, times=1000, match="Expedited")
    stack = aws.deploy()
    key = archive(aws, "GLACIER", restore_hours=4)
    run = aws.run(stack, {**event("executions/glacier-expedited.json"), "recoveryPoint": key})
    assert run.status == "SUCCEEDED"
    # 4 attempts of the step (each after the SDK's own 6 requests: max_attempts=5 counts retries), then one Standard request
    attempts = [i.get("error") for i in stack.functions["RequestRestoreFunction"].invocations]
    assert attempts == ["ExpeditedRetrievalNotAvailableError"] * 4 + [None]
    assert aws.requests["s3.RestoreObject"] == 4 * 6 + 1
    assert [(c["tier"], c["status"]) for c in aws.s3.restore_calls] == [("Standard", 202)]  # faulted requests never reached S3
    assert run.count("Fall Back To Standard Tier") == 1
    assert "Note: Expedited capacity was not available; the restore used Standard." in run.emails[0]["message"]


def test_history_quota_fails_the_execution_as_aws_does(aws: Emulator) -> None:
    # Given the quota lowered to 200 events (AWS: 25,000) and the original fixed 60-second polling
    aws.world.history_quota = 200
    stack = aws.deploy()
    baselines.use(stack, "fixed-60s")  # the benchmark's baseline (tools/baselines.py)
    key = archive(aws, "GLACIER", restore_hours=4, events=False)
    # When a 4-hour restore is awaited / Then event 200 is the ExecutionFailed itself: no state runs after it, no email
    run = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
    assert (run.status, run.error) == ("FAILED", "States.Runtime")
    assert run.cause == "The execution reached the maximum number of history events (200)."
    assert (len(run.history), run.history[-1]["id"], run.history[-1]["type"], run.emails) == (200, 200, "ExecutionFailed", [])


def test_an_execution_whose_success_is_event_25000_succeeds(aws: Emulator) -> None:
    # Given a readable AMI, whose run takes exactly N events (measured with the quota out of the way)...
    stack = aws.deploy()
    first = aws.run(stack, {"recoveryPoint": archive(aws, "GLACIER_IR", name="probe"), "recoveryPointBucket": BUCKET})
    events = len(first.history)
    assert (first.status, first.history[-1]["type"]) == ("SUCCEEDED", "ExecutionSucceeded")
    # ...when the quota is exactly N, the ExecutionSucceeded is event N: it succeeds; at N - 1 it fails at event N - 1
    aws.world.history_quota = events
    at_quota = aws.run(stack, {"recoveryPoint": archive(aws, "GLACIER_IR", name="at-quota"), "recoveryPointBucket": BUCKET})
    assert (at_quota.status, len(at_quota.history)) == ("SUCCEEDED", events)
    aws.world.history_quota = events - 1
    over = aws.run(stack, {"recoveryPoint": archive(aws, "GLACIER_IR", name="over-quota"), "recoveryPointBucket": BUCKET})
    assert (over.status, over.error, len(over.history), over.history[-1]["type"]) == (
        "FAILED",
        "States.Runtime",
        events - 1,
        "ExecutionFailed",
    )


def test_fixed_60s_profile_polls_every_minute(aws: Emulator) -> None:
    # Given the benchmark's fixed-60s profile (tools/baselines.py) and a bucket that sends no events
    stack = aws.deploy()
    baselines.use(stack, "fixed-60s")
    key = archive(aws, "GLACIER", restore_hours=1, events=False)
    run = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
    assert run.status == "SUCCEEDED"
    # Then the 1 h restore is looked at every minute (waits entered at 0, 1, ... 60 min; the last one finds the copy
    # readable and returns at once to Check Restore Status), and the 15 min image restore too (0 ... 15 min)
    assert [run.count(s) for s in ("Wait For Restore", "Schedule Next Copy Check", "Check Restore Status")] == [61, 60, 2]
    assert [run.count(s) for s in ("Wait For Image", "Schedule Next Image Check", "Check Image State")] == [16, 15, 2]


ACCOUNT = "123456789012"


def test_an_execution_that_ended_without_its_email_is_reported_once_from_facts(aws: Emulator) -> None:
    # Given the deployed stack
    stack = aws.deploy()
    events, sqs = aws.client("events"), aws.client("sqs")
    rule = events.describe_rule(Name=stack.physical["ExecutionEndedRule"])
    queue, undelivered = stack.attributes["FailedExecutionQueue"], stack.attributes["UndeliveredEventQueue"]
    # Then one rule matches the executions of both state machines that end FAILED, TIMED_OUT or ABORTED, and runs
    # Report Ended Execution, retried by EventBridge, its undelivered events kept in a queue only the rules may use
    batch_machine = stack.attributes["BatchRestoreStateMachine"]["Arn"]
    assert json.loads(rule["EventPattern"]) == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"], "stateMachineArn": [stack.state_machine_arn, batch_machine]},
    }
    assert [(t["Id"], t["Arn"], t["DeadLetterConfig"]["Arn"]) for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]] == [
        ("ReportEndedExecution", stack.attributes["ReportEndedExecutionFunction"]["Arn"], undelivered["Arn"])
    ]
    for url in (queue["QueueUrl"], undelivered["QueueUrl"]):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert (attributes["KmsMasterKeyId"], attributes["MessageRetentionPeriod"]) == (stack.physical["EncryptionKey"], "1209600")

    # When one restore fails on a missing key (it emails its failure), one is stopped by hand while S3 restores its copy,
    # and one succeeds
    key = archive(aws, "GLACIER", restore_hours=4)
    failed = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": "ami-00000000000000000.bin"})
    with aws.clock.hold():
        stopped = aws.start(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key}, name="stopped-restore")
        until_entered(aws, stopped, "Wait For Restore")
        aws.client("stepfunctions").stop_execution(executionArn=stopped)
    assert aws.wait(stack, stopped).status == "ABORTED"
    aws.clock.advance(600)  # EventBridge delivers within seconds, sometimes minutes (the emulator draws the delay)
    restored = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
    # Then the failed one's own email and the success are all they sent; the stopped one is reported once, with what
    # it left in AWS read from AWS (S3 still restoring its copy), in the email and in the queue that keeps it
    assert (failed.status, restored.status, len(failed.emails), len(restored.emails)) == ("FAILED", "SUCCEEDED", 1, 1)
    reports = [e for e in aws.emails(stack) if e["subject"].startswith("AMI restore ended")]
    assert [e["subject"] for e in reports] == ["AMI restore ended ABORTED: stopped-restore"]
    assert reports[0]["message"].splitlines()[:7] == [
        "The AMI restore execution stopped-restore ended ABORTED, without its own email.",
        "",
        f"Recovery point: s3://{BUCKET}/{key}",
        "",
        "Left in place (read from AWS now):",
        f"- S3 is restoring a copy of s3://{BUCKET}/{key}: when it is done, it lives the restore's Days at S3 Standard's price.",
        "",
    ]
    kept = sqs.receive_message(QueueUrl=queue["QueueUrl"], MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["subject"] for m in kept] == ["AMI restore ended ABORTED: stopped-restore"]
    assert "Messages" not in sqs.receive_message(QueueUrl=undelivered["QueueUrl"], MaxNumberOfMessages=10)


def test_topic_and_logs_are_encrypted_with_the_stacks_key(aws: Emulator) -> None:
    stack = aws.deploy()
    topic = aws.client("sns").get_topic_attributes(TopicArn=stack.topic_arn)["Attributes"]
    assert topic["KmsMasterKeyId"] == stack.physical["EncryptionKey"]
    groups = aws.client("logs").describe_log_groups()["logGroups"]
    assert {(g["logGroupName"], g["retentionInDays"], g["kmsKeyId"]) for g in groups} == {
        (name, 30, stack.attributes["EncryptionKey"]["Arn"])
        for name in ("/aws/lambda/glacier-ami-restore", "/aws/vendedlogs/states/glacier-ami-restore")
    }


def test_concurrent_executions_progress_while_one_handler_sleeps_in_its_sdk_retries(aws: Emulator) -> None:
    # Given two executions at once and throttled HEADs: one handler sleeps (on the virtual clock) in its SDK retries
    # while the other execution's handler waits for its turn (handlers run one at a time)
    stack = aws.deploy()
    keys = [archive(aws, "GLACIER_IR", name=f"web-{n}") for n in range(2)]
    aws.faults.request("s3.HeadObject", "SlowDown", 503, times=3)
    with aws.clock.hold():
        arns = [aws.start(stack, {"recoveryPoint": key, "recoveryPointBucket": BUCKET}) for key in keys]
    # Then time still moves (the waiting one counts as asleep) and both finish
    runs = [aws.wait(stack, arn, timeout=40) for arn in arns]
    assert [r.status for r in runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert aws.requests["s3.HeadObject"] == 2 + 3  # one HEAD each, and the three throttled ones retried


def test_the_stack_needs_its_archive_buckets_named(aws: Emulator) -> None:
    # Given the template: ArchiveBucketName has no default (no "*" unless an operator gives it on purpose)
    from deploy import template
    from emulator import cloudformation

    assert "Default" not in template.load(ROOT / "template.yaml")["Parameters"]["ArchiveBucketName"]
    # When a stack is created without it / Then CloudFormation refuses it, as it refuses any parameter left without a value
    with pytest.raises(cloudformation.ParameterValuesMissingError, match=r"^Parameters: \[ArchiveBucketName\] must have values$"):
        cloudformation.deploy("no-buckets", aws.region, aws.account_id, {"UserEmail": "ops@example.com"}, aws.client)
