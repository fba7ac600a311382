"""Restore Image, Check Image State and Notify against emulated EC2 and SNS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.session import Emulator
from tests.conftest import BUCKET, event, load_function

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:restore:run-1"


def readable_request(aws: Emulator, name: str = "web-server") -> tuple[dict[str, Any], dict[str, Any]]:
    key = aws.archive_ami(name, BUCKET, "GLACIER_IR", size_gb=8)
    aws.world.image_seconds[key] = 15 * 60
    request = {
        "recoveryPoint": key,
        "recoveryPointBucket": BUCKET,
        "restoreRequestDays": 1,
        "restoreRequestTier": "Standard",
        "requestedTier": "Standard",
        "amiName": None,
        "executionName": "run-1",
        "startTime": "2026-01-05T09:00:00+00:00",
    }
    restore = load_function("check_storage_class").check_storage_class(aws.client("s3"), request, datetime.now(UTC))
    return request, restore


NOT_STARTED: dict[str, Any] = {"state": "not-started", "quotaWaitSince": None, "failedImageIds": []}


def test_image_is_created_once_with_a_unique_name_and_tags(aws: Emulator) -> None:
    request, restore = readable_request(aws)
    app, ec2 = load_function("restore_image"), aws.client("ec2")
    image = app.restore_image(ec2, request, restore, NOT_STARTED, EXECUTION, datetime.now(UTC), "us-east-1")
    # When the step is retried after it already succeeded / Then the same AMI is adopted, none is added
    again = app.restore_image(ec2, request, restore, NOT_STARTED, EXECUTION, datetime.now(UTC), "us-east-1")
    assert again["imageId"] == image["imageId"]
    assert image["imageName"] == "web-server-restored-20260105-f6f1ec2c"  # sha256 of the execution ARN begins f6f1ec2c
    described = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [image["imageName"]]}])["Images"]
    assert [i["ImageId"] for i in described] == [image["imageId"]]
    assert {t["Key"]: t["Value"] for t in described[0]["Tags"]} == {
        "glacier-ami-restore:source-bucket": BUCKET,
        "glacier-ami-restore:source-key": request["recoveryPoint"],
        "glacier-ami-restore:execution": EXECUTION,
    }
    snapshots = ec2.describe_snapshots(Filters=[{"Name": "tag:glacier-ami-restore:execution", "Values": [EXECUTION]}])["Snapshots"]
    assert len(snapshots) == 1
    assert [c["name"] for c in aws.ec2.restore_image_calls] == [image["imageName"]] * 2


def test_name_taken_by_someone_else_is_a_named_error(aws: Emulator) -> None:
    request, restore = readable_request(aws)
    app, ec2 = load_function("restore_image"), aws.client("ec2")
    ec2.register_image(Name=app.image_name(request, restore, EXECUTION, request["startTime"]))
    with pytest.raises(app.ImageNameConflictError):
        app.restore_image(ec2, request, restore, NOT_STARTED, EXECUTION, datetime.now(UTC), "us-east-1")


def test_over_the_quota_it_waits_then_fails_named_after_24_hours(aws: Emulator) -> None:
    request, restore = readable_request(aws)
    app, ec2 = load_function("restore_image"), aws.client("ec2")
    aws.faults.request("ec2.CreateRestoreImageTask", "ResourceLimitExceeded", 400, times=2)
    # When refused at 09:00 / Then it waits 5 min plus up to a minute's spread, and remembers since when
    first = app.restore_image(ec2, request, restore, NOT_STARTED, EXECUTION, datetime.now(UTC), "us-east-1")
    assert (first["state"], first["quotaWaitSince"], first["quotaWaits"]) == ("waiting-for-quota", "2026-01-05T09:00:00+00:00", 1)
    assert 300 <= first["nextCheckSeconds"] <= 360
    # When still refused 24 h later / Then RestoreQuotaExceededError
    aws.clock.advance(24 * 3600)
    with pytest.raises(app.RestoreQuotaExceededError, match="still reached after 24 h"):
        app.restore_image(ec2, request, restore, first, EXECUTION, datetime.now(UTC), "us-east-1")


def test_unreadable_copy_is_a_named_error(aws: Emulator) -> None:
    request, restore = readable_request(aws)
    app, ec2 = load_function("restore_image"), aws.client("ec2")
    archived = aws.archive_ami("db-server", BUCKET, "DEEP_ARCHIVE")
    with pytest.raises(app.RestoredCopyUnavailableError):
        app.restore_image(ec2, {**request, "recoveryPoint": archived}, restore, NOT_STARTED, EXECUTION, datetime.now(UTC), "us-east-1")


def test_amiName_wins_over_the_original_name(aws: Emulator) -> None:
    request, restore = readable_request(aws)
    name = load_function("restore_image").image_name({**request, "amiName": "my web [v2]"}, restore, EXECUTION, request["startTime"])
    assert name.startswith("my web [v2]-restored-20260105-")


def test_image_state_is_followed_until_available(aws: Emulator) -> None:
    request, restore = readable_request(aws)
    ec2 = aws.client("ec2")
    image = load_function("restore_image").restore_image(ec2, request, restore, NOT_STARTED, EXECUTION, datetime.now(UTC), "us-east-1")
    app = load_function("check_image_state")
    waits = []
    while image["state"] == "pending":
        image = app.check_image_state(ec2, image, datetime.now(UTC), "tiered")
        waits.append(image["nextCheckSeconds"])
        aws.clock.advance(image["nextCheckSeconds"])
    # The restore of 8 GB takes 15 minutes (pinned): checks at 0, 1, 3, 7, 12 and 17 minutes (5 min cap for 8 GB)
    assert waits == [60, 120, 240, 300, 300, 0]
    assert (image["state"], image["availableAt"], image["checks"]) == ("available", "2026-01-05T09:17:00+00:00", 6)


def test_failed_image_raises_with_state_reason(aws: Emulator) -> None:
    request, restore = readable_request(aws)
    aws.faults.image_failure("Snapshot data is corrupted")
    ec2 = aws.client("ec2")
    image = load_function("restore_image").restore_image(ec2, request, restore, NOT_STARTED, EXECUTION, datetime.now(UTC), "us-east-1")
    aws.clock.advance(900)
    app = load_function("check_image_state")
    with pytest.raises(app.ImageRestoreFailedError) as raised:
        app.check_image_state(ec2, image, datetime.now(UTC), "tiered")
    assert str(raised.value) == f"{image['imageId']} is failed: Snapshot data is corrupted"


def test_image_schedule_and_deadline_scale_with_the_size() -> None:
    app = load_function("check_image_state")
    # 8 GB: planned 10 min + 160 s, polls capped at 5 min; 2 TB: 10 min + 40,000 s, capped at a tenth: 4,060 s
    assert (app.next_check_seconds("tiered", 8, 0, 8 * 10**9), app.next_check_seconds("tiered", 8, 0, 2 * 10**12)) == (300, 4060)
    # later than planned, every 10 % of the time elapsed: 8 GB at 10 h -> 1 h
    assert app.next_check_seconds("tiered", 40, 10 * 3600, 8 * 10**9) == 3600
    assert app.next_check_seconds("fixed-60s", 7, 0) == 60
    # deadline: at least 24 h; a 4 TB AMI gets twice 10 min + 80,000 s = 44.8 h
    assert (app.deadline_seconds(8 * 10**9), app.deadline_seconds(4 * 10**12)) == (24 * 3600, 161_200)
    with pytest.raises(app.ImageRestoreDeadlineExceededError):
        app.next_check_seconds("tiered", 30, 24 * 3600, 8 * 10**9)


def topic(aws: Emulator) -> str:
    arn: str = aws.client("sns").create_topic(Name="restore")["TopicArn"]
    return arn


def test_success_email_carries_the_ami_id_and_every_fact(aws: Emulator) -> None:
    sent = load_function("notify").notify(aws.client("sns"), topic(aws), event("notify.json"))
    assert sent["imageId"] == "ami-0fedcba9876543210"
    assert (
        sent["consoleUrl"]
        == "https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#ImageDetails:imageId=ami-0fedcba9876543210"
    )
    from moto.sns.models import sns_backends

    ((_id, message, subject, _a, _g),) = sns_backends["123456789012"]["us-east-1"].topics[topic(aws)].sent_notifications
    assert subject == "AMI restored: ami-0fedcba9876543210 in us-east-1"
    assert "Storage class:         DEEP_ARCHIVE" in message.splitlines()
    assert "Image available at:    2026-01-05T20:24:36+00:00" in message.splitlines()


def test_failure_email_names_step_error_cause_and_fix(aws: Emulator) -> None:
    cause = json.dumps(
        {"errorMessage": "restoreRequestTier: must be one of Standard, Bulk, Expedited, got 'Fast'", "errorType": "InvalidInputError"}
    )
    failure = {
        "outcome": "failed",
        "executionId": EXECUTION,
        "progress": {"input": {"restoreRequestTier": "Fast"}, "error": {"Error": "InvalidInputError", "Cause": cause}},
    }
    sent = load_function("notify").notify(aws.client("sns"), topic(aws), failure)
    assert (sent["failedStep"], sent["error"], sent["changedNothing"]) == ("Validate Input", "InvalidInputError", True)
    subject, message = load_function("notify").render(sent)
    assert subject == "AMI restore failed: InvalidInputError at Validate Input"
    assert message.splitlines()[:5] == [
        "The restore stopped at 'Validate Input' with InvalidInputError:",
        "  restoreRequestTier: must be one of Standard, Bulk, Expedited, got 'Fast'",
        "",
        "Nothing was changed in AWS.",
        "What to do: Fix the input as described above and start a new execution.",
    ]


@pytest.mark.parametrize(
    "progress, step",
    [
        ({}, "Validate Input"),
        ({"request": {}}, "Check Storage Class"),
        ({"request": {}, "restore": {"status": "preparing-for-restore", "requestOutcome": None}}, "Request Restore"),
        ({"request": {}, "restore": {"status": "preparing-for-restore", "requestOutcome": "requested"}}, "Check Restore Status"),
        ({"request": {}, "restore": {"status": "ready-to-restore"}, "image": {"state": "not-started"}}, "Extend Copy"),
        ({"request": {}, "restore": {"copyExtension": "long-enough"}, "image": {"state": "not-started"}}, "Restore Image"),
        ({"request": {}, "restore": {}, "image": {"state": "waiting-for-quota"}}, "Restore Image"),
        ({"request": {}, "restore": {}, "image": {"state": "pending"}}, "Check Image State"),
        ({"request": {}, "restore": {}, "image": {"state": "available"}}, "Notify Success"),
    ],
)
def test_failed_step_is_read_from_progress(progress: dict[str, Any], step: str) -> None:
    assert load_function("notify").failed_step(progress) == step
