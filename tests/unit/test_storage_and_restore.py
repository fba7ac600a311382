"""Check Storage Class, Request Restore and Check Restore Status against emulated S3 (real AWS status codes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.facade import Emulator
from tests.support import BUCKET, load_function
from tools import baselines

HOUR = 3600


def request(key: str, tier: str = "Standard", days: int = 3) -> dict[str, Any]:
    return {
        "recoveryPoint": key,
        "recoveryPointBucket": BUCKET,
        "restoreRequestDays": days,
        "restoreRequestTier": tier,
        "requestedTier": tier,
        "amiName": None,
        "executionName": "run-1",
        "startTime": "2026-01-05T09:00:00+00:00",
    }


def now() -> datetime:
    return datetime.now(UTC)


def restore_status(profile: str) -> Any:
    """Check Restore Status with a baseline's schedule, as the benchmark deploys it (tools/baselines.py)."""
    app = load_function("check_restore_status")
    return baselines.variant(app, baselines.STEPS["CheckRestoreStatusFunction"][profile], {})


@pytest.mark.parametrize("storage_class", ["STANDARD", "STANDARD_IA", "ONEZONE_IA", "GLACIER_IR", "INTELLIGENT_TIERING"])
def test_readable_classes_need_no_restore(aws: Emulator, storage_class: str) -> None:
    # Given an AMI object in a readable class / When its class is checked / Then it is ready, no restore needed
    key = aws.archive_ami("web-server", BUCKET, storage_class)
    app = load_function("check_storage_class")
    record = app.check_storage_class(aws.client("s3"), request(key), now())
    assert (record["status"], record["storageClass"], record["requestOutcome"], record["tier"]) == (
        "ready-to-restore",
        storage_class,
        "not-needed",
        None,
    )
    assert record["originalAmiName"] == "web-server"


@pytest.mark.parametrize(
    "storage_class, archive_status", [("GLACIER", None), ("DEEP_ARCHIVE", None), ("INTELLIGENT_TIERING", "ARCHIVE_ACCESS")]
)
def test_archived_objects_are_prepared_for_restore(aws: Emulator, storage_class: str, archive_status: str | None) -> None:
    key = aws.archive_ami("web-server", BUCKET, storage_class, archive_status)
    record = load_function("check_storage_class").check_storage_class(aws.client("s3"), request(key), now())
    assert (record["status"], record["archiveStatus"], record["restoreInProgress"], record["requestOutcome"]) == (
        "preparing-for-restore",
        archive_status,
        False,
        None,
    )


@pytest.mark.parametrize("storage_class, archive_status", [("DEEP_ARCHIVE", None), ("INTELLIGENT_TIERING", "DEEP_ARCHIVE_ACCESS")])
def test_expedited_on_deep_archive_is_refused_before_any_restore(aws: Emulator, storage_class: str, archive_status: str | None) -> None:
    key = aws.archive_ami("web-server", BUCKET, storage_class, archive_status)
    app = load_function("check_storage_class")
    with pytest.raises(app.InvalidInputError, match="restoreRequestTier: Expedited is not offered for Deep Archive"):
        app.check_storage_class(aws.client("s3"), request(key, "Expedited"), now())
    assert aws.s3.restore_calls == []


@pytest.mark.parametrize("storage_class, tier", [("DEEP_ARCHIVE", "Bulk"), ("DEEP_ARCHIVE", "Standard"), ("GLACIER", "Bulk")])
def test_the_blogs_days_1_is_accepted_for_every_class_and_tier(aws: Emulator, storage_class: str, tier: str) -> None:
    # Given Days 1 (the blog's default) / Then no refusal: Extend Copy makes the copy outlive the image restore instead
    key = aws.archive_ami("web-server", BUCKET, storage_class)
    record = load_function("check_storage_class").check_storage_class(aws.client("s3"), request(key, tier, days=1), now())
    assert (record["status"], record["tier"]) == ("preparing-for-restore", tier)


def test_the_size_comes_from_head_object(aws: Emulator) -> None:
    key = aws.archive_ami("web-server", BUCKET, "DEEP_ARCHIVE", size_gb=850)
    record = load_function("check_storage_class").check_storage_class(aws.client("s3"), request(key), now())
    assert record["sizeBytes"] == 850_000_000_000


def test_missing_object_is_a_named_error(aws: Emulator) -> None:
    app = load_function("check_storage_class")
    with pytest.raises(app.RecoveryPointNotFoundError, match=r"s3://my-ami-archive/ami-0000\.bin does not exist"):
        app.check_storage_class(aws.client("s3"), request("ami-0000.bin"), now())


def test_restore_in_progress_is_joined_and_finished_restore_is_reused(aws: Emulator) -> None:
    # Given a Deep Archive object whose restore someone already started
    key = aws.archive_ami("web-server", BUCKET, "DEEP_ARCHIVE")
    s3 = aws.client("s3")
    aws.world.restore_seconds[key] = 11 * HOUR
    s3.restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 3, "GlacierJobParameters": {"Tier": "Standard"}})
    app = load_function("check_storage_class")
    # When checked during the restore / Then the workflow joins it
    during = app.check_storage_class(s3, request(key), now())
    assert (during["status"], during["restoreInProgress"], during["requestOutcome"]) == (
        "preparing-for-restore",
        True,
        "joined-restore-in-progress",
    )
    # When checked after it finished (pinned at 11 h) / Then the copy is used as it is: it lives until the midnight
    # after completion + 3 days
    aws.world.restore_seconds[key] = 11 * HOUR
    aws.clock.advance(11 * HOUR)
    after = app.check_storage_class(s3, request(key), now())
    assert (after["status"], after["requestOutcome"], after["restoreExpiry"]) == (
        "ready-to-restore",
        "restored-before-this-run",
        "2026-01-09T00:00:00+00:00",
    )


def restore_record(aws: Emulator, key: str, tier: str = "Standard") -> dict[str, Any]:
    record: dict[str, Any] = load_function("check_storage_class").check_storage_class(aws.client("s3"), request(key, tier), now())
    return record


def test_new_restore_is_requested_once_with_days_and_tier(aws: Emulator) -> None:
    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    app = load_function("request_restore")
    record = app.request_restore(aws.client("s3"), request(key, "Bulk", 2), restore_record(aws, key, "Bulk"), now())
    assert (record["requestOutcome"], record["tier"], record["requestedAt"]) == ("requested", "Bulk", "2026-01-05T09:00:00+00:00")
    assert [(c["tier"], c["days"], c["status"]) for c in aws.s3.restore_calls] == [("Bulk", 2, 202)]


def test_status_codes_202_409_200_and_faster_tier(aws: Emulator) -> None:
    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    aws.world.restore_seconds[key] = 4 * HOUR
    app, s3 = load_function("request_restore"), aws.client("s3")
    base = restore_record(aws, key)
    assert app.request_restore(s3, request(key, "Bulk"), base, now())["requestOutcome"] == "requested"
    assert app.request_restore(s3, request(key, "Bulk"), base, now())["requestOutcome"] == "joined-restore-in-progress"
    assert app.request_restore(s3, request(key, "Standard"), base, now())["requestOutcome"] == "requested"  # speeds it up
    aws.clock.advance(4 * HOUR)  # the pinned restore time
    assert app.request_restore(s3, request(key, "Standard"), base, now())["requestOutcome"] == "restored-before-this-run"
    assert [(c["tier"], c["status"]) for c in aws.s3.restore_calls] == [
        ("Bulk", 202),
        ("Bulk", 409),
        ("Standard", 202),
        ("Standard", 200),
    ]


def test_expedited_without_capacity_raises_named_error(aws: Emulator) -> None:
    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    # Given no Expedited capacity for a while / When requested / Then the SDK's 6 requests all get 503, then a named error
    aws.faults.request("s3.RestoreObject", "GlacierExpeditedRetrievalNotAvailable", 503, times=10, match="Expedited")
    app = load_function("request_restore")
    with pytest.raises(app.ExpeditedRetrievalNotAvailableError):
        app.request_restore(app.s3, request(key, "Expedited"), restore_record(aws, key, "Expedited"), now())  # the handler's own client
    assert (aws.requests["s3.RestoreObject"], aws.s3.restore_calls) == (6, [])


def test_expedited_refused_with_a_4xx_is_a_named_error(aws: Emulator) -> None:
    # AWS documents no code for a tier S3 will not serve: a 400 of the family is not retried, it falls back at once
    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    aws.faults.request("s3.RestoreObject", "InvalidArgument", 400, match="Expedited")
    app = load_function("request_restore")
    with pytest.raises(app.ExpeditedNotOfferedError, match="S3 refused Expedited"):
        app.request_restore(aws.client("s3"), request(key, "Expedited"), restore_record(aws, key, "Expedited"), now())
    assert aws.requests["s3.RestoreObject"] == 1


def test_object_already_in_active_tier_is_not_an_error(aws: Emulator) -> None:
    key = aws.archive_ami("web-server", BUCKET, "GLACIER_IR")
    record = {**restore_record(aws, key), "storageClass": "GLACIER", "requestOutcome": None}  # seen as archived a moment ago
    result = load_function("request_restore").request_restore(aws.client("s3"), request(key), record, now())
    assert result["requestOutcome"] == "not-needed"
    assert [c["status"] for c in aws.s3.restore_calls] == [403]


def test_intelligent_tiering_restore_has_no_days(aws: Emulator) -> None:
    key = aws.archive_ami("web-server", BUCKET, "INTELLIGENT_TIERING", "ARCHIVE_ACCESS")
    result = load_function("request_restore").request_restore(aws.client("s3"), request(key), restore_record(aws, key), now())
    assert result["requestOutcome"] == "requested"
    assert [(c["days"], c["status"]) for c in aws.s3.restore_calls] == [(None, 202)]


def test_check_restore_status_follows_the_copy_until_readable(aws: Emulator) -> None:
    # Given a Flexible Retrieval Standard restore of 8 GB taking 4 h (AWS window 3-5 h)
    key = aws.archive_ami("web-server", BUCKET, "GLACIER", size_gb=8)
    aws.world.restore_seconds[key] = 4 * HOUR
    s3 = aws.client("s3")
    record = load_function("request_restore").request_restore(s3, request(key), restore_record(aws, key), now())
    app = restore_status("tiered")  # the benchmark's baseline schedule (tools/baselines.py)
    # When checked at once / Then the next check is at the window's start (3 h)
    first = app.check_restore_status(s3, request(key), record, now())
    assert (first["status"], first["nextCheckSeconds"], first["checks"]) == ("preparing-for-restore", 3 * HOUR, 1)
    # When checked at 3 h / Then every 2 % of 5 h + 27 s (8 GB at 300 MB/s): 361 s
    aws.clock.advance(3 * HOUR)
    second = app.check_restore_status(s3, request(key), first, now())
    assert second["nextCheckSeconds"] == 361
    # When checked at 4 h / Then the copy is readable, with its expiry (made at 13:00 + 3 days, next midnight)
    aws.clock.advance(HOUR)
    ready = app.check_restore_status(s3, request(key), second, now())
    assert (ready["status"], ready["readyAt"], ready["restoreExpiry"], ready["checks"]) == (
        "ready-to-restore",
        "2026-01-05T13:00:00+00:00",
        "2026-01-09T00:00:00+00:00",
        3,
    )


def test_missing_restore_header_is_a_named_error(aws: Emulator) -> None:
    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    app = load_function("check_restore_status")
    record = {**restore_record(aws, key), "requestOutcome": "requested", "requestedAt": now().isoformat(), "tier": "Standard"}
    with pytest.raises(app.RestoreNotFoundError):
        app.check_restore_status(aws.client("s3"), request(key), record, now())


@pytest.mark.parametrize(
    "window, elapsed, profile, expected",
    [
        ((24 * HOUR, 48 * HOUR), 0, "tiered", 24 * HOUR),  # first check at the earliest typical completion
        ((24 * HOUR, 48 * HOUR), 30 * HOUR, "tiered", 3456),  # 2 % of 48 h inside the window
        ((24 * HOUR, 48 * HOUR), 50 * HOUR, "tiered", 9000),  # 5 % of the time elapsed after it
        ((24 * HOUR, 48 * HOUR), 95.5 * HOUR, "tiered", 1800),  # never past the 96 h deadline
        ((60, 300), 90, "tiered", 60),  # Expedited: never below a minute
        ((24 * HOUR, 48 * HOUR), 30 * HOUR, "fixed-60s", 60),  # the original fixed polling
    ],
)
def test_restore_schedule(window: tuple[int, int], elapsed: float, profile: str, expected: int) -> None:
    # (the benchmark's baselines, tools/baselines.py)
    assert restore_status(profile).next_check_seconds(window, elapsed) == expected


@pytest.mark.parametrize(
    "storage_class, tier, size_bytes, window",
    [
        ("GLACIER", "Expedited", 200 * 10**6, (60, 300)),  # under 250 MB: AWS's 1-5 minutes as documented
        ("GLACIER", "Expedited", 2 * 10**12, (60 + 6667, 300 + 6667)),  # 2 TB at 300 MB/s: 1.9 h more, both ends
        ("GLACIER", "Standard", 2 * 10**12, (3 * HOUR, 5 * HOUR + 6667)),  # the transfer may add to the latest only
        ("DEEP_ARCHIVE", "Bulk", 8 * 10**9, (24 * HOUR, 48 * HOUR + 27)),
    ],
)
def test_windows_scale_with_the_size(storage_class: str, tier: str, size_bytes: int, window: tuple[int, int]) -> None:
    assert load_function("check_restore_status").window_for(storage_class, None, tier, size_bytes) == window


def test_restore_deadline_raises_and_scales_with_the_size() -> None:
    app = load_function("check_restore_status")
    with pytest.raises(app.RestoreDeadlineExceededError, match="not readable 96 h after the request"):
        app.next_check_seconds((24 * HOUR, 48 * HOUR), 96 * HOUR)
    # a 2 TB Expedited restore: max(2 x 6967 s, 6967 s + 1 h) + 2 TB at 75 MB/s (26,667 s) = 40,601 s
    assert app.deadline_seconds((60 + 6667, 300 + 6667), 2 * 10**12) == 40_601


def test_worst_case_run_stays_under_1000_history_events_for_any_class_and_tier() -> None:
    # Given every event lost, so that the copy's polls stay dense (every 9.5 % of the time elapsed, at least 60 s for
    # these windows, no proof that events arrive), a poll costing 8 events (the wait's TaskStateEntered,
    # TaskScheduled, TaskStarted, TaskSubmitted, TaskTimedOut, TaskStateExited; the Pass's entered and exited), a
    # renewal of the 100-poll schedule 7 more (Check Restore Status 5, its Choice 2) and the fixed states 130 at most
    # (an event-driven run measures 127)
    # When both loops run to their deadlines / Then the execution stays under 1,000 events
    restore, image = load_function("check_restore_status"), load_function("check_image_state")
    largest = 5000 * 10**9  # AWS: AMIs up to 5,000 GB
    for size in (8 * 10**9, largest):
        image_polls = len(image.poll_schedule(1, 0.0, size)) - 1
        assert image_polls < restore.MAX_POLLS
        for family, tier in restore.WINDOWS:
            window = restore.window_for(family, None, tier, size)
            elapsed, polls = 0.0, 0
            while elapsed < restore.deadline_seconds(window, size):
                elapsed += restore.next_check_seconds(window, elapsed, size, False)
                polls += 1
            renewals = polls // restore.MAX_POLLS
            assert 130 + 8 * (polls + image_polls) + 7 * renewals < 1000, (family, tier, size, polls, image_polls)


@pytest.mark.parametrize("code", ["SlowDown", "Throttling", "RequestLimitExceeded"])
def test_throttling_after_sdk_retries_becomes_a_retried_named_error(aws: Emulator, code: str) -> None:
    # Given S3 keeps throttling (botocore's Stubber stands in for it) / When a restore is requested / Then ThrottledError,
    # which the state machine retries with back-off
    from botocore.stub import Stubber

    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    record = restore_record(aws, key)
    s3 = aws.client("s3")
    app = load_function("request_restore")
    with Stubber(s3) as stub:
        stub.add_client_error("restore_object", service_error_code=code, http_status_code=503)
        with pytest.raises(app.ThrottledError):
            app.request_restore(s3, request(key), record, now())


def test_extend_copy_refuses_to_report_an_extension_when_s3_started_a_new_restore(aws: Emulator) -> None:
    # Given a copy readable now, with less life left than the image restore needs, that expires just as it is extended
    from botocore.stub import Stubber

    key = aws.archive_ami("web-server", BUCKET, "GLACIER", size_gb=8)
    app = load_function("extend_copy")
    head = {"StorageClass": "GLACIER", "Restore": 'ongoing-request="false", expiry-date="Mon, 05 Jan 2026 12:00:00 GMT"'}
    record = {"storageClass": "GLACIER", "sizeBytes": 8 * 10**9, "tier": "Standard"}
    with Stubber(app.s3) as stub:
        stub.add_response("head_object", head)
        stub.add_response("restore_object", {"ResponseMetadata": {"HTTPStatusCode": 202}})  # S3: a new restore, not an extension
        # When Extend Copy runs / Then it says so instead of reporting an extension
        with pytest.raises(app.RestoredCopyUnavailableError, match="S3 started a new restore of it"):
            app.extend_copy(app.s3, request(key), record, now())


def test_s3_refuses_days_below_one(aws: Emulator) -> None:
    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as refused:
        aws.client("s3").restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 0, "GlacierJobParameters": {"Tier": "Bulk"}})
    assert (refused.value.response["Error"]["Code"], aws.s3.restore_calls[0]["status"]) == ("MalformedXML", 400)
