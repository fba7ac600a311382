"""End to end: the real state machine and handlers on the emulator, on the virtual clock.

Each scenario deploys template.yaml, archives an AMI the way the archive side does, starts a console-style
execution with a payload from events/executions/ and checks what the operator would see.
"""

from __future__ import annotations

from typing import Any

import pytest

from emulator.session import Emulator, Run
from tests.conftest import BUCKET, event, images

HOUR = 3600


def restore(aws: Emulator, payload_file: str, storage_class: str, archive_status: str | None = None, **change: Any) -> Run:
    stack = aws.deploy()
    key = aws.archive_ami("web-server-2025-01", BUCKET, storage_class, archive_status)
    payload = {**event(f"executions/{payload_file}.json"), "recoveryPoint": key, **change}
    return aws.run(stack, payload)


@pytest.mark.parametrize(
    "payload, storage_class, archive_status, restores, events, hours",
    [
        ("glacier-instant-retrieval", "GLACIER_IR", None, [], 71, 0.25),
        ("glacier-instant-retrieval", "STANDARD", None, [], 71, 0.25),
        ("glacier-expedited", "GLACIER", None, [("Expedited", 1, 202)], 110, 0.3),
        ("glacier-standard", "GLACIER", None, [("Standard", 1, 202)], 182, 4.25),
        ("glacier-bulk", "GLACIER", None, [("Bulk", 1, 202)], 209, 8.37),
        ("deep-archive-standard", "DEEP_ARCHIVE", None, [("Standard", 1, 202)], 173, 11.41),
        ("deep-archive-bulk", "DEEP_ARCHIVE", None, [("Bulk", 3, 202)], 209, 36.73),
        ("intelligent-tiering-archive", "INTELLIGENT_TIERING", "ARCHIVE_ACCESS", [("Bulk", None, 202)], 209, 8.37),
    ],
)
def test_every_class_and_tier_restores_one_ami_and_emails_it(
    aws: Emulator,
    payload: str,
    storage_class: str,
    archive_status: str | None,
    restores: list[tuple[str, int | None, int]],
    events: int,
    hours: float,
) -> None:
    # Given an AMI archived in the class / When the console payload runs / Then one AMI, available, in one email
    run = restore(aws, payload, storage_class, archive_status)
    assert (run.status, run.error) == ("SUCCEEDED", None)
    assert [(c["tier"], c["days"], c["status"]) for c in aws.behaviour.restore_calls] == restores
    (image,) = images(aws)
    assert (image["ImageId"], image["State"]) == (run.output["imageId"], "available")
    assert len(aws.behaviour.restore_image_calls) == 1
    (email,) = run.emails
    assert email["subject"] == f"AMI restored: {image['ImageId']} in us-east-1"
    assert image["ImageId"] in email["message"]
    assert len(run.history) == events
    assert (run.stopped - run.started).total_seconds() / HOUR == pytest.approx(hours, abs=0.01)


def test_output_is_the_summary_that_was_emailed(aws: Emulator) -> None:
    run = restore(aws, "deep-archive-bulk", "DEEP_ARCHIVE")
    assert run.output is not None
    assert {k: run.output[k] for k in ("status", "storageClass", "restoreTier", "restoreOutcome", "restoreRequestedAt", "copyReadyAt")} == {
        "status": "SUCCEEDED",
        "storageClass": "DEEP_ARCHIVE",
        "restoreTier": "Bulk",
        "restoreOutcome": "requested",
        "restoreRequestedAt": "2026-01-05T09:00:00+00:00",
        "copyReadyAt": "2026-01-06T21:28:48+00:00",
    }
    assert run.output["imageName"].startswith("db-server-restored-20260105-")  # amiName from the payload


def test_an_already_restored_copy_is_not_restored_again(aws: Emulator) -> None:
    stack = aws.deploy()
    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    aws.client("s3").restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 2, "GlacierJobParameters": {"Tier": "Bulk"}})
    aws.clock.advance(8 * HOUR)
    run = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
    assert run.status == "SUCCEEDED"
    assert len(aws.behaviour.restore_calls) == 1  # only the one made before the execution
    assert run.output["restoreOutcome"] == "restored-before-this-run"
    assert run.count("Request Restore") == 0


def test_a_restore_in_progress_is_joined_not_repeated(aws: Emulator) -> None:
    stack = aws.deploy()
    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    aws.client("s3").restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 2, "GlacierJobParameters": {"Tier": "Standard"}})
    run = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
    assert run.status == "SUCCEEDED"
    assert len(aws.behaviour.restore_calls) == 1
    assert (run.output["restoreOutcome"], run.count("Request Restore"), len(images(aws))) == ("joined-restore-in-progress", 0, 1)


@pytest.mark.parametrize(
    "payload, storage_class, message",
    [
        ("invalid-tier-and-days", "GLACIER", "restoreRequestDays: must be a whole number from 1 to 30"),
        ("invalid-bucket-and-key", "GLACIER", "recoveryPoint: 'backup.tar' is not an AMI object"),
        ("invalid-expedited-deep-archive", "DEEP_ARCHIVE", "restoreRequestTier: Expedited is not offered for Deep Archive"),
    ],
)
def test_invalid_input_fails_with_an_email_and_no_side_effect(aws: Emulator, payload: str, storage_class: str, message: str) -> None:
    stack = aws.deploy()
    key = aws.archive_ami("web-server", BUCKET, storage_class)
    body = event(f"executions/{payload}.json")
    if body["recoveryPoint"].endswith(".bin"):
        body["recoveryPoint"] = key
    run = aws.run(stack, body)
    assert (run.status, run.error) == ("FAILED", "InvalidInputError")
    assert message in run.cause
    (email,) = run.emails
    step = "Check Storage Class" if payload == "invalid-expedited-deep-archive" else "Validate Input"
    assert email["subject"] == f"AMI restore failed: InvalidInputError at {step}"
    assert "Nothing was changed in AWS." in email["message"]
    assert (aws.behaviour.restore_calls, aws.behaviour.restore_image_calls, images(aws)) == ([], [], [])


def test_input_that_is_not_even_an_object_is_refused_by_email(aws: Emulator) -> None:
    stack = aws.deploy()
    run = aws.run(stack, "ami-0123456789abcdef0.bin")
    assert (run.status, run.error, len(run.emails)) == ("FAILED", "InvalidInputError", 1)
    assert run.states_entered() == ["Receive Request", "Validate Input", "Notify Failure", "Restore Failed"]


def test_missing_object_fails_named(aws: Emulator) -> None:
    stack = aws.deploy()
    run = aws.run(stack, event("executions/glacier-standard.json"))
    assert (run.status, run.error) == ("FAILED", "RecoveryPointNotFoundError")
    assert run.emails[0]["subject"] == "AMI restore failed: RecoveryPointNotFoundError at Check Storage Class"


def test_failed_image_fails_with_its_reason(aws: Emulator) -> None:
    aws.behaviour.image_failure = "Snapshot data is corrupted"
    run = restore(aws, "glacier-instant-retrieval", "GLACIER_IR")
    assert (run.status, run.error) == ("FAILED", "ImageRestoreFailedError")
    assert "Snapshot data is corrupted" in run.cause
    assert run.emails[0]["subject"] == "AMI restore failed: ImageRestoreFailedError at Check Image State"
    assert len(aws.behaviour.restore_image_calls) == 1


def test_restore_that_never_finishes_hits_the_deadline(aws: Emulator) -> None:
    stack = aws.deploy()
    key = aws.archive_ami("web-server", BUCKET, "DEEP_ARCHIVE")
    aws.behaviour.restore_seconds[key] = 200 * HOUR
    run = aws.run(stack, {**event("executions/deep-archive-bulk.json"), "recoveryPoint": key})
    assert (run.status, run.error) == ("FAILED", "RestoreDeadlineExceededError")
    assert run.emails[0]["subject"] == "AMI restore failed: RestoreDeadlineExceededError at Check Restore Status"
    assert (run.stopped - run.started).total_seconds() / HOUR == pytest.approx(96, abs=0.01)
    assert len(run.history) == 401
    assert images(aws) == []


def test_deep_archive_bulk_taking_72_hours_stays_under_1000_events(aws: Emulator) -> None:
    stack = aws.deploy()
    key = aws.archive_ami("web-server", BUCKET, "DEEP_ARCHIVE")
    aws.behaviour.restore_seconds[key] = 72 * HOUR
    run = aws.run(stack, {**event("executions/deep-archive-bulk.json"), "recoveryPoint": key})
    assert run.status == "SUCCEEDED"
    assert len(run.history) == 398


def test_no_expedited_capacity_falls_back_to_standard_and_says_so(aws: Emulator) -> None:
    aws.behaviour.expedited_capacity_errors = 1000
    stack = aws.deploy()
    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    run = aws.run(stack, {**event("executions/glacier-expedited.json"), "recoveryPoint": key})
    assert run.status == "SUCCEEDED"
    # 4 attempts of the step (each after the SDK's own retries), then one Standard request
    attempts = [i.get("error") for i in stack.functions["RequestRestoreFunction"].invocations]
    assert attempts == ["ExpeditedRetrievalNotAvailableError"] * 4 + [None]
    calls = [(c["tier"], c["status"]) for c in aws.behaviour.restore_calls]
    assert set(calls[:-1]) == {("Expedited", 503)} and calls[-1] == ("Standard", 202)
    assert run.count("Fall Back To Standard Tier") == 1
    assert "Note: Expedited capacity was not available; the restore used Standard." in run.emails[0]["message"]


def test_history_quota_fails_the_execution_as_aws_does(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the quota lowered to 200 events (AWS: 25,000) and the original fixed 60-second polling
    from emulator import runtime

    monkeypatch.setattr(runtime, "HISTORY_QUOTA", 200)
    stack = aws.deploy(PollingSchedule="fixed-60s")
    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    # When a 4-hour restore is awaited / Then the execution fails at the quota: no state runs after it, no email
    run = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
    assert (run.status, run.error) == ("FAILED", "States.Runtime")
    assert run.cause == "The execution reached the maximum number of history events (200)."
    assert (len(run.history), run.history[-1]["type"], run.emails) == (201, "ExecutionFailed", [])


def test_fixed_60s_profile_polls_every_minute(aws: Emulator) -> None:
    stack = aws.deploy(PollingSchedule="fixed-60s")
    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    run = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
    assert run.status == "SUCCEEDED"
    # 4 h restore checked every minute (241 checks), the 10 min image restore too (11 checks)
    assert (run.count("Check Restore Status"), run.count("Check Image State"), len(run.history)) == (241, 11, 2297)


def test_failed_and_timed_out_executions_alarm_to_the_encrypted_topic(aws: Emulator) -> None:
    stack = aws.deploy()
    alarms = aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert sorted((a["MetricName"], a["AlarmActions"][0], a["Dimensions"][0]["Value"]) for a in alarms) == [
        ("ExecutionsFailed", stack.topic_arn, stack.state_machine_arn),
        ("ExecutionsTimedOut", stack.topic_arn, stack.state_machine_arn),
    ]
    topic = aws.client("sns").get_topic_attributes(TopicArn=stack.topic_arn)["Attributes"]
    assert topic["KmsMasterKeyId"] == stack.physical["EncryptionKey"]
    groups = aws.client("logs").describe_log_groups()["logGroups"]
    assert {(g["logGroupName"], g["retentionInDays"], g["kmsKeyId"]) for g in groups} == {
        (name, 30, stack.attributes["EncryptionKey"]["Arn"])
        for name in ("/aws/lambda/glacier-ami-restore", "/aws/vendedlogs/states/glacier-ami-restore")
    }
