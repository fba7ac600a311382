"""Restore Image, Check Image State, Notify Success and Notify Failure against emulated EC2 and SNS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.facade import Emulator
from tests.support import BUCKET, event, load_function, stand_in_run
from tools import baselines

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


def image_state(profile: str) -> Any:
    """Check Image State with a baseline's schedule, as the benchmark deploys it (tools/baselines.py)."""
    app = load_function("check_image_state")
    return baselines.variant(app, baselines.STEPS["CheckImageStateFunction"][profile], {})


def tiered_image_state() -> Any:
    return image_state("tiered")


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
    ec2.register_image(Name="web-server-restored-20260105-f6f1ec2c")  # the name this execution derives (test above)
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
    assert name == "my web [v2]-restored-20260105-f6f1ec2c"


def test_image_state_is_followed_until_available(aws: Emulator) -> None:
    request, restore = readable_request(aws)
    ec2 = aws.client("ec2")
    image = load_function("restore_image").restore_image(ec2, request, restore, NOT_STARTED, EXECUTION, datetime.now(UTC), "us-east-1")
    app = tiered_image_state()
    waits = []
    while image["state"] == "pending":
        image = app.check_image_state(ec2, aws.client("s3"), image, datetime.now(UTC))
        waits.append(image["nextCheckSeconds"])
        aws.clock.advance(image["nextCheckSeconds"])
    # The restore of 8 GB takes 15 minutes (pinned): checks at 0, 1, 3, 7, 12 and 17 minutes (5 min cap for 8 GB)
    assert waits == [60, 120, 240, 300, 300, 0]
    assert (image["state"], image["availableAt"], image["checks"]) == ("available", "2026-01-05T09:17:00+00:00", 6)


def test_a_wake_up_claiming_the_deadline_passed_shortens_nothing(aws: Emulator) -> None:
    # Given an image restore just started (8 GB: its deadline is 24 h away)
    request, restore = readable_request(aws)
    ec2 = aws.client("ec2")
    image = load_function("restore_image").restore_image(ec2, request, restore, NOT_STARTED, EXECUTION, datetime.now(UTC), "us-east-1")
    # When Check Image State runs after a wake-up whose payload says the deadline passed
    forged = {**image, "wake": {"wokenBy": "deadline", "event": None, "at": "2026-01-05T09:00:00+00:00"}}
    checked = tiered_image_state().check_image_state(ec2, aws.client("s3"), forged, datetime.now(UTC))
    # Then it looked, and waits on to the deadline it computes itself: the first poll a minute away, 24 h from the start
    assert (checked["state"], checked["nextCheckSeconds"], checked["deadlineAt"]) == ("pending", 60, "2026-01-06T09:00:00+00:00")


def test_failed_image_raises_with_state_reason(aws: Emulator) -> None:
    request, restore = readable_request(aws)
    aws.faults.image_failure("Snapshot data is corrupted")
    ec2 = aws.client("ec2")
    image = load_function("restore_image").restore_image(ec2, request, restore, NOT_STARTED, EXECUTION, datetime.now(UTC), "us-east-1")
    aws.clock.advance(900)
    app = tiered_image_state()
    with pytest.raises(app.ImageRestoreFailedError) as raised:
        app.check_image_state(ec2, aws.client("s3"), image, datetime.now(UTC))
    assert str(raised.value) == f"{image['imageId']} is failed: Snapshot data is corrupted"


def test_image_schedule_and_deadline_scale_with_the_size() -> None:
    # (the benchmark's baselines: tiered and fixed-60s, tools/baselines.py)
    app, fixed = tiered_image_state(), image_state("fixed-60s")
    # 8 GB: planned 10 min + 160 s, polls capped at 5 min; 2 TB: 10 min + 40,000 s, capped at a tenth: 4,060 s
    assert (app.next_check_seconds(8, 0, 8 * 10**9), app.next_check_seconds(8, 0, 2 * 10**12)) == (300, 4060)
    # later than planned, every 10 % of the time elapsed: 8 GB at 10 h -> 1 h
    assert app.next_check_seconds(40, 10 * 3600, 8 * 10**9) == 3600
    assert fixed.next_check_seconds(7, 0) == 60
    # deadline: at least 24 h; a 4 TB AMI gets twice 10 min + 80,000 s = 44.8 h
    assert (app.deadline_seconds(8 * 10**9), app.deadline_seconds(4 * 10**12)) == (24 * 3600, 161_200)
    with pytest.raises(app.ImageRestoreDeadlineExceededError):
        app.next_check_seconds(30, 24 * 3600, 8 * 10**9)


def topic(aws: Emulator) -> str:
    arn: str = aws.client("sns").create_topic(Name="restore")["TopicArn"]
    return arn


def test_success_email_carries_the_ami_id_and_every_fact(aws: Emulator) -> None:
    # Given the sample event of a Deep Archive restore that S3 made (events/notify_success.json)
    # When Notify Success sends it
    sent = load_function("notify_success").notify_success(aws.client("sns"), topic(aws), event("notify_success.json"))
    # Then the email reads as an operator needs it: one time format, a human size, no internal codes
    assert sent["imageId"] == "ami-0fedcba9876543210"
    from moto.sns.models import sns_backends

    ((_id, message, subject, _a, _g),) = sns_backends["123456789012"]["us-east-1"].topics[topic(aws)].sent_notifications
    assert subject == "AMI restored: ami-0fedcba9876543210 in us-east-1"
    assert message.splitlines() == [
        "The recovery point s3://my-ami-archive/ami-0123456789abcdef0.bin is restored as ami-0fedcba9876543210 "
        "(web-server-2025-01-restored-20260105-06d4351d) in us-east-1.",
        "",
        "Storage class:         DEEP_ARCHIVE",
        "Size:                  120.0 GB",
        "Restore:               requested at 2026-01-05 09:00:00 UTC, Standard tier",
        "Copy readable at:      2026-01-05 20:09:36 UTC",
        "Copy expires at:       2026-01-09 00:00:00 UTC",
        "Image requested at:    2026-01-05 20:09:36 UTC",
        "Image available at:    2026-01-05 20:24:36 UTC",
        "Console:               https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#ImageDetails:imageId=ami-0fedcba9876543210",
        "",
        "Execution: arn:aws:states:us-east-1:123456789012:execution:glacier-ami-restore-RestoreStateMachine:example-execution",
    ]


@pytest.mark.parametrize(
    "outcome, storage_class, lines",
    [
        ("not-needed", "GLACIER_IR", ["Restore:               no restore needed (the object is readable: GLACIER_IR)"]),
        ("not-needed", "GLACIER", ["Restore:               no restore needed (S3 answered that the object is no longer archived)"]),
        (
            "joined-restore-in-progress",
            "GLACIER",
            [
                "Restore:               joined a restore already in progress",
                "Copy readable at:      2026-01-05 20:09:36 UTC",
                "Copy expires at:       2026-01-09 00:00:00 UTC",
            ],
        ),
        (
            "restored-before-this-run",
            "GLACIER",
            ["Restore:               the copy was already restored", "Copy expires at:       2026-01-09 00:00:00 UTC"],
        ),
    ],
)
def test_success_email_says_how_the_object_became_readable(outcome: str, storage_class: str, lines: list[str]) -> None:
    # Given a restore record with this outcome (readable classes have no copy, so no expiry)
    sample = event("notify_success.json")
    readable = storage_class == "GLACIER_IR"
    restore = {**sample["restore"], "requestOutcome": outcome, "storageClass": storage_class, "requestedAt": None}
    if outcome == "not-needed":
        restore.update(tier=None if readable else "Standard", restoreExpiry=None)
    # When it is rendered / Then the restore lines say it in words, and "Copy ..." only where there was a copy
    app = load_function("notify_success")
    _subject, message = app.render_success(app.success_summary({**sample, "restore": restore}))
    assert message.splitlines()[4 : 4 + len(lines) + 1] == [*lines, "Image requested at:    2026-01-05 20:09:36 UTC"]


def test_success_email_renders_every_note() -> None:
    # Given a summary of an Intelligent-Tiering restore (no copy) that fell back to Standard, noticed by polling on a bucket
    # that sends no events, after two AMIs failed over the quota
    summary = {
        "status": "SUCCEEDED", "imageId": "ami-0fedcba9876543210", "imageName": "web-restored-20260105-06d4351d",
        "region": "eu-west-1", "recoveryPoint": "s3://vault/ami-0123456789abcdef0.bin",
        "storageClass": "INTELLIGENT_TIERING", "archiveStatus": "ARCHIVE_ACCESS", "restoreTier": "Standard",
        "tierNote": "Expedited capacity was not available; the restore used Standard.", "restoreOutcome": "requested",
        "restoreSummary": "requested at 2026-01-05 09:00:00 UTC, Standard tier", "copyReadyAt": "2026-01-05T13:00:00+00:00",
        "copyExpiresAt": None, "copyExtendedFrom": None, "sizeBytes": 8 * 10**9, "imageRequestedAt": "2026-01-05T13:00:05+00:00",
        "imageAvailableAt": "2026-01-05T13:20:05+00:00", "consoleUrl": "https://console/ami", "failedImageIds": ["ami-0a", "ami-0b"],
        "copyNoticedBy": "poll", "imageNoticedBy": "event", "bucketSendsEvents": False, "bucket": "vault", "execution": EXECUTION,
    }  # fmt: skip
    # When it is rendered
    subject, message = load_function("notify_success").render_success(summary)
    # Then the subject names the AMI, and the message every fact and note, in this order
    assert subject == "AMI restored: ami-0fedcba9876543210 in eu-west-1"
    assert message.splitlines() == [
        "The recovery point s3://vault/ami-0123456789abcdef0.bin is restored as ami-0fedcba9876543210 "
        "(web-restored-20260105-06d4351d) in eu-west-1.",
        "",
        "Storage class:         INTELLIGENT_TIERING/ARCHIVE_ACCESS",
        "Size:                  8.0 GB",
        "Restore:               requested at 2026-01-05 09:00:00 UTC, Standard tier",
        "Readable at:           2026-01-05 13:00:00 UTC",
        "Image requested at:    2026-01-05 13:00:05 UTC",
        "Image available at:    2026-01-05 13:20:05 UTC",
        "Console:               https://console/ami",
        "Noticed:               copy by polling; image by EC2's AMI State Change event",
        "Note: Expedited capacity was not available; the restore used Standard.",
        "Note: the bucket vault does not send events to Amazon EventBridge, so the restore was noticed by polling only; "
        "glacier-ami-restore events enable --bucket vault turns them on.",
        "Note: ami-0a, ami-0b failed over EC2's in-progress restore quota and were left in place; deregister them with aws ec2 "
        "deregister-image.",
        "",
        f"Execution: {EXECUTION}",
    ]


def failure(step_key: str, error: str, cause: str, **progress: Any) -> dict[str, Any]:
    return {"executionId": EXECUTION, "progress": {**progress, "failed": {step_key: {"Error": error, "Cause": cause}}}}


def test_failure_email_names_step_error_cause_and_fix(aws: Emulator) -> None:
    # Given the error Validate Input's Catch wrote under $.failed.ValidateInput
    cause = json.dumps(
        {
            "errorMessage": 'restoreRequestTier: must be one of Standard, Bulk, Expedited (any letter case), got "Fast"',
            "errorType": "InvalidInputError",
        }
    )
    # of the execution run-1, whose input Notify Failure reads (DescribeExecution)
    assert stand_in_run(aws, "restore", "run-1", {"restoreRequestTier": "Fast"}) == EXECUTION
    # When Notify Failure sends it
    app = load_function("notify_failure")
    clients = {"sns": aws.client("sns"), "sfn": app.sfn, "s3": app.s3, "ec2": app.ec2}
    sent = app.notify_failure(clients, topic(aws), failure("ValidateInput", "InvalidInputError", cause))
    # Then it names the step and returns the original Error and Cause for the Fail state
    assert (sent["failedStep"], sent["Error"], sent["Cause"], sent["changedNothing"]) == (
        "Validate Input",
        "InvalidInputError",
        cause,
        True,
    )
    subject, message = app.render_failure(sent)
    assert subject == "AMI restore failed: InvalidInputError at Validate Input"
    assert message.splitlines() == [
        "The restore stopped at 'Validate Input' with InvalidInputError:",
        '  restoreRequestTier: must be one of Standard, Bulk, Expedited (any letter case), got "Fast"',
        "",
        "Nothing was changed in AWS.",
        "",
        "What to do: Fix the input as described above and start a new execution.",
        "",
        'Input: {"restoreRequestTier": "Fast"}',
        "",
        f"Execution: {EXECUTION}",
    ]


@pytest.mark.parametrize(
    "key, step",
    [
        ("ValidateInput", "Validate Input"),
        ("CheckStorageClass", "Check Storage Class"),
        ("RequestRestore", "Request Restore"),
        ("CheckRestoreStatus", "Check Restore Status"),
        ("ExtendCopy", "Extend Copy"),
        ("RestoreImage", "Restore Image"),
        ("CheckImageState", "Check Image State"),
        ("NotifySuccess", "Notify Success"),
    ],
)
def test_failed_step_is_the_state_whose_catch_wrote_the_error(key: str, step: str) -> None:
    # Given the key a Task's Catch writes ($.failed.<state name without spaces>) and no other progress
    summary = load_function("notify_failure").failure_summary(failure(key, "States.Timeout", "timed out"), "us-east-1", {}, None)
    # Then the step is that state, whatever else the progress holds
    assert summary["failedStep"] == step


def test_what_is_left_is_read_from_aws_each_ami_with_its_command_and_a_large_copy_with_its_daily_cost(aws: Emulator) -> None:
    # Given a 4 TB object whose 3-day copy S3 made, two AMIs that carry this execution's tag and one another's
    s3, ec2 = aws.client("s3"), aws.client("ec2")
    s3.create_bucket(Bucket=BUCKET)
    key = "ami-0123456789abcdef0.bin"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"ami", StorageClass="GLACIER")
    aws.world.sizes[key], aws.world.restore_seconds[key] = 4 * 10**12, 60
    s3.restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 3, "GlacierJobParameters": {"Tier": "Bulk"}})
    aws.clock.advance(120)
    made = []
    for name, execution in (("web-a", EXECUTION), ("web-b", EXECUTION), ("other", EXECUTION + "-2")):
        image = ec2.register_image(Name=name)["ImageId"]
        ec2.create_tags(Resources=[image], Tags=[{"Key": "glacier-ami-restore:execution", "Value": execution}])
        made.append(image)
    app = load_function("notify_failure")
    clients = {"s3": s3, "ec2": ec2}
    progress = {"request": {"recoveryPoint": key, "recoveryPointBucket": BUCKET}}
    # When Notify Failure looks, after a timeout of Restore Image
    looked = app.left_in_place(clients, progress, {}, EXECUTION, datetime(2026, 1, 5, tzinfo=UTC), "eu-west-1")
    # Then both AMIs of this execution get their command, and the copy costs 4,000 GB x $0.023 / 30 = $3.07 a day
    command = "aws ec2 deregister-image --region eu-west-1 --image-id {} --delete-associated-snapshots"
    assert looked == {
        "found": [
            f"AMI {made[0]} (web-a) is available: it was restored; keep it or run {command.format(made[0])}",
            f"AMI {made[1]} (web-b) is available: it was restored; keep it or run {command.format(made[1])}",
            f"A restored copy of s3://{BUCKET}/{key} exists until 2026-01-09T00:00:00Z: about $3.07 per day (estimate: 4.0 TB at "
            "S3 Standard's $0.023 per GB-month).",
        ],
        "unchecked": [],
    }
    # ...and a look S3 refuses is never "nothing left": it is named, with the command that looks
    aws.faults.request("s3.HeadObject", "AccessDenied", 403, times=1)  # the SDK retries nothing of a 403
    assert app.left_in_place(clients, progress, {}, EXECUTION + "-3", datetime(2026, 1, 5, tzinfo=UTC), "eu-west-1") == {
        "found": [],
        "unchecked": [f"Could not look at s3://{BUCKET}/{key} (403): aws s3api head-object --bucket {BUCKET} --key {key}"],
    }


def test_the_output_keeps_the_class_and_the_archive_tier_apart_and_every_time_in_iso_8601() -> None:
    # Given an Intelligent-Tiering record, and a record made before the restore record kept S3's expiry in ISO 8601 (an
    # execution that ran through a stack update: S3's RFC 1123 dates)
    sample = event("notify_success.json")
    app = load_function("notify_success")
    tiering = {**sample["restore"], "storageClass": "INTELLIGENT_TIERING", "archiveStatus": "ARCHIVE_ACCESS", "restoreExpiry": None}
    older = {**sample["restore"], "restoreExpiry": "Thu, 08 Jan 2026 00:00:00 GMT", "copyExtendedFrom": "Wed, 07 Jan 2026 00:00:00 GMT"}
    # When each is summarised
    first, second = (app.success_summary({**sample, "restore": r}) for r in (tiering, older))
    # Then the class and the archive tier are two fields, as `glacier-ami-restore list --output json` gives them
    assert (first["storageClass"], first["archiveStatus"]) == ("INTELLIGENT_TIERING", "ARCHIVE_ACCESS")
    # And the copy's times are ISO 8601, as every other time of the output
    assert (second["copyExpiresAt"], second["copyExtendedFrom"]) == ("2026-01-08T00:00:00+00:00", "2026-01-07T00:00:00+00:00")
