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
    key = aws.archive_ami(name, BUCKET, "GLACIER_IR")
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


def test_image_is_created_once_with_a_unique_name_and_tags(aws: Emulator) -> None:
    request, restore = readable_request(aws)
    app, ec2 = load_function("restore_image"), aws.client("ec2")
    image = app.restore_image(ec2, request, restore, EXECUTION, datetime.now(UTC), "us-east-1")
    # When the step is retried after it already succeeded / Then the same AMI is adopted, none is added
    again = app.restore_image(ec2, request, restore, EXECUTION, datetime.now(UTC), "us-east-1")
    assert again["imageId"] == image["imageId"]
    assert image["imageName"] == f"web-server-restored-20260105-{app.hashlib.sha256(EXECUTION.encode()).hexdigest()[:8]}"
    described = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [image["imageName"]]}])["Images"]
    assert [i["ImageId"] for i in described] == [image["imageId"]]
    assert {t["Key"]: t["Value"] for t in described[0]["Tags"]} == {
        "glacier-ami-restore:source-bucket": BUCKET,
        "glacier-ami-restore:source-key": request["recoveryPoint"],
        "glacier-ami-restore:execution": EXECUTION,
    }
    snapshots = ec2.describe_snapshots(Filters=[{"Name": "tag:glacier-ami-restore:execution", "Values": [EXECUTION]}])["Snapshots"]
    assert len(snapshots) == 1
    assert [c["name"] for c in aws.behaviour.restore_image_calls] == [image["imageName"]] * 2


def test_name_taken_by_someone_else_is_a_named_error(aws: Emulator) -> None:
    request, restore = readable_request(aws)
    app, ec2 = load_function("restore_image"), aws.client("ec2")
    ec2.register_image(Name=app.image_name(request, restore, EXECUTION, request["startTime"]))
    with pytest.raises(app.ImageNameConflictError):
        app.restore_image(ec2, request, restore, EXECUTION, datetime.now(UTC), "us-east-1")


def test_quota_and_unreadable_copy_are_named_errors(aws: Emulator) -> None:
    request, restore = readable_request(aws)
    app, ec2 = load_function("restore_image"), aws.client("ec2")
    aws.behaviour.restore_image_quota_errors = 1
    with pytest.raises(app.RestoreQuotaExceededError):
        app.restore_image(ec2, request, restore, EXECUTION, datetime.now(UTC), "us-east-1")
    archived = aws.archive_ami("db-server", BUCKET, "DEEP_ARCHIVE")
    with pytest.raises(app.RestoredCopyUnavailableError):
        app.restore_image(ec2, {**request, "recoveryPoint": archived}, restore, EXECUTION, datetime.now(UTC), "us-east-1")


def test_amiName_wins_over_the_original_name(aws: Emulator) -> None:
    request, restore = readable_request(aws)
    name = load_function("restore_image").image_name({**request, "amiName": "my web [v2]"}, restore, EXECUTION, request["startTime"])
    assert name.startswith("my web [v2]-restored-20260105-")


def test_image_state_is_followed_until_available(aws: Emulator) -> None:
    request, restore = readable_request(aws)
    ec2 = aws.client("ec2")
    image = load_function("restore_image").restore_image(ec2, request, restore, EXECUTION, datetime.now(UTC), "us-east-1")
    app = load_function("check_image_state")
    waits = []
    while image["state"] == "pending":
        image = app.check_image_state(ec2, image, datetime.now(UTC), "tiered")
        waits.append(image["nextCheckSeconds"])
        aws.clock.advance(image["nextCheckSeconds"])
    # The emulated restore takes 10 minutes: checks at 0, 1, 3, 7 and 15 minutes
    assert waits == [60, 120, 240, 480, 0]
    assert (image["state"], image["availableAt"], image["checks"]) == ("available", "2026-01-05T09:15:00+00:00", 5)


def test_failed_image_raises_with_state_reason(aws: Emulator) -> None:
    request, restore = readable_request(aws)
    aws.behaviour.image_failure = "Snapshot data is corrupted"
    ec2 = aws.client("ec2")
    image = load_function("restore_image").restore_image(ec2, request, restore, EXECUTION, datetime.now(UTC), "us-east-1")
    aws.clock.advance(600)
    app = load_function("check_image_state")
    with pytest.raises(app.ImageRestoreFailedError) as raised:
        app.check_image_state(ec2, image, datetime.now(UTC), "tiered")
    assert str(raised.value) == f"{image['imageId']} is failed: Snapshot data is corrupted"


def test_image_deadline() -> None:
    app = load_function("check_image_state")
    assert app.next_check_seconds("tiered", 7, 0) == 3600
    assert app.next_check_seconds("fixed-60s", 7, 0) == 60
    with pytest.raises(app.ImageRestoreDeadlineExceededError):
        app.next_check_seconds("tiered", 30, 24 * 3600)


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
        ({"request": {}, "restore": {"status": "ready-to-restore", "requestOutcome": "requested"}}, "Restore Image"),
        ({"request": {}, "restore": {}, "image": {"state": "pending"}}, "Check Image State"),
        ({"request": {}, "restore": {}, "image": {"state": "available"}}, "Notify Success"),
    ],
)
def test_failed_step_is_read_from_progress(progress: dict[str, Any], step: str) -> None:
    assert load_function("notify").failed_step(progress) == step
