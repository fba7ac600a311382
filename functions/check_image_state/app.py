"""Check Image State: follow the restored AMI until it is available.

Event:  {"image": <Restore Image result, with "wake": what ended the last wait>}
Result: the image record with "state" ("pending" | "available" | "waiting-for-quota"), "checks", "availableAt",
        "deadlineAt", "noticedBy" ("event" | "poll"), "nextCheckSeconds" (Wait For Quota's SecondsPath) and
        "wait": {"timeouts", "next", "seconds", "count"}, the safety net's polls until the deadline for Wait For Image.
Raises ImageRestoreFailedError (state "failed", with EC2's StateReason), RestoredCopyUnavailableError (failed, and
HeadObject shows the object archived with no readable copy: EC2 could not read it), ImageRestoreDeadlineExceededError,
ThrottledError.

There is no "describe restore task" API: DescribeImages is the only source of truth (the botocore waiter gives up
after 10 minutes, too soon for large AMIs). AWS documents no restore throughput ("depends on the size of the AMI"):
we plan for 10 minutes plus 50 MB/s, and the deadline is twice that, at least 24 h (a 4 TB AMI gets 45 h).
EC2's `EC2 AMI State Change` event (best effort) resumes the wait at once; the polls are the safety net.
Schedule: at a quarter, half and all of the planned time, then every 25 % of the time elapsed (at least a minute).
(The benchmark's baselines, every minute and the schedule before events, live with the benchmark: tools/baselines.py.)
An image that fails over the in-progress quota (EC2 documents no form for the rejection) is left in place and the
restore is tried again: state "waiting-for-quota".
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger()

ec2 = boto3.client("ec2", config=Config(retries={"mode": "standard", "max_attempts": 5}))
s3 = boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))

MIN_DEADLINE_SECONDS = 24 * 3600
# Planning figures for CreateRestoreImageTask (undocumented; pessimistic on purpose). Extend Copy keeps a copy
# alive for the same planned time: tests/static checks the two handlers agree.
IMAGE_STARTUP_SECONDS = 600
IMAGE_PLANNED_BYTES_PER_SECOND = 50 * 10**6
FIRST_STEP, FIXED_STEP = 60, 60  # never a poll sooner than a minute; the wait that renews a used-up schedule
MAX_POLLS = 100  # the schedule travels in the state: kept small, it is renewed when used up
EVENTS_FIRST_POLLS = (0.25, 0.5, 1.0)  # fractions of the planned time
EVENTS_LATE_STEP = 0.25
# As in Restore Image (tests/static checks the copies agree): retry after 5 min, doubling to 30 min, for 24 h at most.
QUOTA_RETRY_SECONDS, QUOTA_RETRY_MAX_SECONDS, QUOTA_WAIT_SECONDS = 300, 1800, 24 * 3600
NOT_YET_VISIBLE_SECONDS = 300  # EC2 is eventually consistent: a new image id may 404 for a short while
THROTTLING_CODES = ("RequestLimitExceeded", "Throttling", "ThrottlingException")
QUOTA_WORDS = ("quota", "limit exceeded", "resourcelimitexceeded")
ARCHIVED_CLASSES = ("GLACIER", "DEEP_ARCHIVE")


class ImageRestoreFailedError(Exception):
    """EC2 reported the restored image as failed."""


class ImageRestoreDeadlineExceededError(Exception):
    """The image was still not available at the deadline."""


class RestoreQuotaExceededError(Exception):
    """Restored images kept failing over the in-progress quota for longer than we wait."""


class RestoredCopyUnavailableError(Exception):
    """The image failed because EC2 could not read the object: the restored copy expired or was never made."""


class ThrottledError(Exception):
    """EC2 throttled the request after the SDK's own retries; the state machine retries with back-off."""


def planned_seconds(size_bytes: int) -> int:
    return IMAGE_STARTUP_SECONDS + -(-size_bytes // IMAGE_PLANNED_BYTES_PER_SECOND)


def ceil_second(moment: datetime) -> str:
    """A time to the second, rounded up: a wait that sees it pass is never a fraction of a second early."""
    whole = moment.replace(microsecond=0)
    return (whole if whole == moment else whole + timedelta(seconds=1)).isoformat()


def deadline_seconds(size_bytes: int) -> int:
    return max(MIN_DEADLINE_SECONDS, 2 * planned_seconds(size_bytes))


def step_seconds(checks: int, elapsed: float, planned: int) -> float:
    """The wait before the next look (the schedule above; `checks`, the looks so far, is not needed by it)."""
    polls = [fraction * planned for fraction in EVENTS_FIRST_POLLS if fraction * planned >= elapsed + FIRST_STEP]
    return max(FIRST_STEP, polls[0] - elapsed if polls else EVENTS_LATE_STEP * elapsed)


def next_check_seconds(checks: int, elapsed: float, size_bytes: int = 0) -> int:
    deadline = deadline_seconds(size_bytes)
    if elapsed >= deadline:
        raise ImageRestoreDeadlineExceededError(f"the image was not available {deadline / 3600:.0f} h after the restore started")
    step = step_seconds(checks, elapsed, planned_seconds(size_bytes))
    return max(1, int(min(step, deadline - elapsed)))


def poll_schedule(checks: int, elapsed: float, size_bytes: int) -> list[int]:
    """The timeouts of the next waits (at most MAX_POLLS, to the deadline), and one more that is never waited: the
    wait that reaches it sends its token at once (wokenBy "schedule", or "deadline"), and this function runs again."""
    timeouts: list[int] = []
    while elapsed < deadline_seconds(size_bytes) and len(timeouts) < MAX_POLLS:
        timeouts.append(next_check_seconds(checks + len(timeouts), elapsed, size_bytes))
        elapsed += timeouts[-1]
    return [*timeouts, FIXED_STEP]


def describe_state(ec2_client: EC2Client, image_id: str, elapsed: float) -> tuple[str, str]:
    try:
        images = ec2_client.describe_images(ImageIds=[image_id])["Images"]
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "InvalidAMIID.NotFound" and elapsed < NOT_YET_VISIBLE_SECONDS:
            return "pending", ""
        if code in THROTTLING_CODES:
            raise ThrottledError(f"EC2 throttled DescribeImages for {image_id}") from error
        raise
    image = images[0]
    return image["State"], image.get("StateReason", {}).get("Message", "")


def quota_wait(image: dict[str, Any], now: datetime, reason: str) -> dict[str, Any]:
    """The image failed over the quota: it is left in place (listed in the email); Restore Image tries again later
    under a new name."""
    since = image.get("quotaWaitSince") or now.isoformat(timespec="seconds")
    if (now - datetime.fromisoformat(since)).total_seconds() >= QUOTA_WAIT_SECONDS:
        raise RestoreQuotaExceededError(f"{image['imageId']} failed over the quota, still after {QUOTA_WAIT_SECONDS // 3600} h: {reason}")
    waits = image.get("quotaWaits", 0)
    return {
        **image,
        "state": "waiting-for-quota",
        "failedImageIds": [*image.get("failedImageIds", []), image["imageId"]],
        "quotaWaitSince": since,
        "quotaWaits": waits + 1,
        "nextCheckSeconds": min(QUOTA_RETRY_MAX_SECONDS, QUOTA_RETRY_SECONDS * 2**waits),
    }


def copy_is_gone(s3_client: S3Client, image: dict[str, Any]) -> bool:
    """A fact, not EC2's wording (which AWS does not document): is the object archived now with no readable copy?"""
    try:
        head = s3_client.head_object(Bucket=image["sourceBucket"], Key=image["sourceKey"])
    except ClientError as error:
        return error.response["Error"]["Code"] in ("404", "NoSuchKey")
    archived = head.get("StorageClass", "STANDARD") in ARCHIVED_CLASSES
    return archived and 'ongoing-request="false"' not in head.get("Restore", "")


def check_image_state(ec2_client: EC2Client, s3_client: S3Client, image: dict[str, Any], now: datetime) -> dict[str, Any]:
    started = datetime.fromisoformat(image["requestedAt"])
    elapsed = (now - started).total_seconds()
    state, reason = describe_state(ec2_client, image["imageId"], elapsed)
    wake = image.get("wake") or {}
    record = {
        **image,
        "state": state,
        "checks": image["checks"] + 1,
        "deadlineAt": ceil_second(started + timedelta(seconds=deadline_seconds(image["sizeBytes"]))),
        "wake": None,
        "wait": None,
    }
    if state == "available":
        noticed = "event" if wake.get("wokenBy") == "event" else "poll"
        return {**record, "availableAt": now.isoformat(timespec="seconds"), "noticedBy": noticed, "nextCheckSeconds": 0}
    if state != "pending":
        if state == "failed" and copy_is_gone(s3_client, image):
            raise RestoredCopyUnavailableError(f"{image['imageId']} failed, and the restored copy it read is gone: {reason}")
        if state == "failed" and any(word in reason.lower() for word in QUOTA_WORDS):  # undocumented: the best guess
            return quota_wait(record, now, reason)
        raise ImageRestoreFailedError(f"{image['imageId']} is {state}: {reason or 'EC2 gave no reason'}")
    # A wake-up is only a reason to look: the deadline's passing is computed here, from the saved record, never read from
    # the wake-up's payload (which a late, duplicated or forged SendTaskSuccess could carry).
    timeouts = poll_schedule(record["checks"], elapsed, image["sizeBytes"])
    if len(timeouts) == 1:  # past the deadline
        next_check_seconds(record["checks"], elapsed, image["sizeBytes"])
    wait = {"timeouts": timeouts, "next": 1, "seconds": timeouts[0], "count": len(timeouts)}  # count: "Is The ... Schedule Used Up?"
    return {**record, "nextCheckSeconds": timeouts[0], "wait": wait}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return check_image_state(ec2, s3, event["image"], datetime.now(UTC))
