"""Check Image State: follow the restored AMI until it is available.

Event:  {"image": <Restore Image result>}
Result: the image record with "state" ("pending" | "available"), "checks", "availableAt" and
        "nextCheckSeconds" (the Wait state's SecondsPath).
Raises ImageRestoreFailedError (state "failed", with EC2's StateReason), ImageRestoreDeadlineExceededError,
ThrottledError.

There is no "describe restore task" API: DescribeImages is the only source of truth (the botocore waiter gives up
after 10 minutes, too soon for large AMIs). Schedule (POLLING_SCHEDULE): tiered = 1, 2, 4 ... minutes, capped at
1 hour; fixed-60s = every minute. Deadline: 24 hours after the task started.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_ec2 import EC2Client

logger = logging.getLogger()
logger.setLevel(logging.INFO)

ec2 = boto3.client("ec2", config=Config(retries={"mode": "standard", "max_attempts": 5}))

DEADLINE_SECONDS = 24 * 3600
FIRST_STEP, MAX_STEP, FIXED_STEP = 60, 3600, 60
NOT_YET_VISIBLE_SECONDS = 300  # EC2 is eventually consistent: a new image id may 404 for a short while
THROTTLING_CODES = ("RequestLimitExceeded", "Throttling", "ThrottlingException")


class ImageRestoreFailedError(Exception):
    """EC2 reported the restored image as failed."""


class ImageRestoreDeadlineExceededError(Exception):
    """The image was still not available at the deadline."""


class ThrottledError(Exception):
    """EC2 throttled the request after the SDK's own retries; the state machine retries with back-off."""


def next_check_seconds(profile: str, checks: int, elapsed: float) -> int:
    if elapsed >= DEADLINE_SECONDS:
        raise ImageRestoreDeadlineExceededError(f"the image was not available {DEADLINE_SECONDS // 3600} h after the restore started")
    step = FIXED_STEP if profile == "fixed-60s" else min(MAX_STEP, FIRST_STEP * 2 ** min(checks - 1, 12))
    return max(1, int(min(step, DEADLINE_SECONDS - elapsed)))


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


def check_image_state(ec2_client: EC2Client, image: dict[str, Any], now: datetime, profile: str) -> dict[str, Any]:
    elapsed = (now - datetime.fromisoformat(image["requestedAt"])).total_seconds()
    state, reason = describe_state(ec2_client, image["imageId"], elapsed)
    record = {**image, "state": state, "checks": image["checks"] + 1}
    if state == "available":
        return {**record, "availableAt": now.isoformat(timespec="seconds"), "nextCheckSeconds": 0}
    if state != "pending":
        raise ImageRestoreFailedError(f"{image['imageId']} is {state}: {reason or 'EC2 gave no reason'}")
    return {**record, "nextCheckSeconds": next_check_seconds(profile, record["checks"], elapsed)}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    profile = os.environ.get("POLLING_SCHEDULE", "tiered")
    return check_image_state(ec2, event["image"], datetime.now(UTC), profile)
