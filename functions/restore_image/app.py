"""Restore Image: start EC2 CreateRestoreImageTask from the readable recovery point, exactly once.

Event:  {"request": <Validate Input result>, "restore": <restore record>, "image": <image record so far>,
         "executionId": "arn:...:execution:sm:name"}
Result: {"imageId": "ami-0f...", "imageName": "web-server-restored-20261126-1a2b3c4d", "region": "us-east-1",
         "state": "pending", "sizeBytes": 107374182400, "attempt": 0, "requestedAt": "2026-11-26T12:00:00+00:00",
         "availableAt": null, "checks": 0, "nextCheckSeconds": 0, "quotaWaitSince": null, "failedImageIds": []}
The name is derived from the execution (and the attempt), so a retried step meets InvalidAMIName.Duplicate and
adopts the image it created instead of making a second AMI.
Over the in-progress quota (EC2 rejects new tasks at once) the result is "state": "waiting-for-quota" with the
seconds to wait: the state machine keeps the copy alive and tries again, for up to 24 h.
Raises RestoreQuotaExceededError (still over the quota after 24 h), RestoredCopyUnavailableError,
ImageNameConflictError (an AMI listed under the name, without this execution's tag), ImageNotYetListedError (the name
taken, no AMI of it listed yet: the state retries for 5 min, as long as Check Image State waits for a new image to be
listed), ThrottledError.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import TagSpecificationTypeDef, TagTypeDef

logger = logging.getLogger()

ec2 = boto3.client("ec2", config=Config(retries={"mode": "standard", "max_attempts": 5}))

TAG_PREFIX = "glacier-ami-restore:"
NAME_BASE_LENGTH = 101  # 128 minus the "-restored-YYYYMMDD-xxxxxxxx" suffix
NOT_IN_AMI_NAMES = re.compile(r"[^A-Za-z0-9()\[\] ./\-'@_]")
QUOTA_CODES = ("ResourceLimitExceeded", "MaxRestoreImageTasksExceeded")
QUOTA_WAIT_SECONDS = 24 * 3600
# First retry after 5 min, doubling to 30 min, plus up to 60 s spread by execution so queued restores do not retry in step.
QUOTA_RETRY_SECONDS, QUOTA_RETRY_MAX_SECONDS = 300, 1800
THROTTLING_CODES = ("RequestLimitExceeded", "Throttling", "ThrottlingException")
UNREADABLE_COPY_CODES = ("InvalidObjectState", "InvalidS3ObjectState")


class RestoreQuotaExceededError(Exception):
    """Too much image-restore work in progress in this account and Region, for longer than we wait."""


class RestoredCopyUnavailableError(Exception):
    """EC2 could not read the object: the restored copy expired or was never made."""


class ImageNameConflictError(Exception):
    """An AMI with our derived name exists and was not made by this execution."""


class ImageNotYetListedError(Exception):
    """EC2 refused the name as taken but does not list an AMI of it yet (eventual consistency): the state retries."""


class ThrottledError(Exception):
    """EC2 throttled the request after the SDK's own retries; the state machine retries with back-off."""


def image_name(request: dict[str, Any], restore: dict[str, Any], execution_id: str, start_time: str, attempt: int = 0) -> str:
    base = request["amiName"] or restore["originalAmiName"] or request["recoveryPoint"].removesuffix(".bin")
    base = NOT_IN_AMI_NAMES.sub("-", base)[:NAME_BASE_LENGTH]
    seed = execution_id if attempt == 0 else f"{execution_id}#{attempt}"
    suffix = hashlib.sha256(seed.encode()).hexdigest()[:8]
    return f"{base}-restored-{start_time[:10].replace('-', '')}-{suffix}"


def quota_wait(image: dict[str, Any], execution_id: str, now: datetime, detail: str) -> dict[str, Any]:
    since = image.get("quotaWaitSince") or now.isoformat(timespec="seconds")
    if (now - datetime.fromisoformat(since)).total_seconds() >= QUOTA_WAIT_SECONDS:
        raise RestoreQuotaExceededError(f"image restore quota still reached after {QUOTA_WAIT_SECONDS // 3600} h: {detail}")
    waits = image.get("quotaWaits", 0)
    spread = int(hashlib.sha256(f"{execution_id}#{waits}".encode()).hexdigest()[:4], 16) % 61
    step = min(QUOTA_RETRY_MAX_SECONDS, QUOTA_RETRY_SECONDS * 2**waits) + spread
    return {**image, "state": "waiting-for-quota", "quotaWaitSince": since, "quotaWaits": waits + 1, "nextCheckSeconds": step}


def tags(request: dict[str, Any], execution_id: str) -> list[TagTypeDef]:
    return [
        {"Key": f"{TAG_PREFIX}source-bucket", "Value": request["recoveryPointBucket"]},
        {"Key": f"{TAG_PREFIX}source-key", "Value": request["recoveryPoint"][:256]},
        {"Key": f"{TAG_PREFIX}execution", "Value": execution_id},
    ]


def image_made_by(ec2_client: EC2Client, name: str, execution_id: str) -> str:
    """The AMI of that name this execution made (a retried step adopts it). EC2 said the name is taken: an image listed
    under it without this execution's tag is a conflict; none listed yet is EC2's eventual consistency (a new image
    may not be listed for a while), so the state retries with back-off before anyone decides (ImageNotYetListedError)."""
    try:
        images = ec2_client.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
    except ClientError as error:
        if error.response["Error"]["Code"] in THROTTLING_CODES:
            raise ThrottledError("EC2 throttled DescribeImages while looking for this execution's AMI") from error
        raise
    for image in images:
        if {"Key": f"{TAG_PREFIX}execution", "Value": execution_id} in image.get("Tags", []):
            return str(image["ImageId"])
    if images:
        raise ImageNameConflictError(f"an AMI named '{name}' exists and was not made by this execution")
    raise ImageNotYetListedError(f"EC2 says an AMI named '{name}' exists, but does not list it yet")


def restore_image(
    ec2_client: EC2Client,
    request: dict[str, Any],
    restore: dict[str, Any],
    image: dict[str, Any],
    execution_id: str,
    now: datetime,
    region: str,
) -> dict[str, Any]:
    attempt = len(image.get("failedImageIds", []))
    name = image_name(request, restore, execution_id, request["startTime"], attempt)
    bucket, key = request["recoveryPointBucket"], request["recoveryPoint"]
    try:
        specs: list[TagSpecificationTypeDef] = [
            {"ResourceType": "image", "Tags": tags(request, execution_id)},
            {"ResourceType": "snapshot", "Tags": tags(request, execution_id)},
        ]
        image_id: str | None = ec2_client.create_restore_image_task(Bucket=bucket, ObjectKey=key, Name=name, TagSpecifications=specs)[
            "ImageId"
        ]
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "InvalidAMIName.Duplicate":
            image_id = image_made_by(ec2_client, name, execution_id)
            logger.info("adopting %s made by an earlier attempt of this step", image_id)
        elif code in QUOTA_CODES:
            logger.info("over the image restore quota: %s", error.response["Error"].get("Message", ""))
            return quota_wait(image, execution_id, now, error.response["Error"].get("Message", ""))
        elif code in UNREADABLE_COPY_CODES:
            raise RestoredCopyUnavailableError(
                f"EC2 could not read s3://{bucket}/{key}: the restored copy expired or is not ready; "
                "start a new execution with a larger restoreRequestDays"
            ) from error
        elif code in THROTTLING_CODES:
            raise ThrottledError("EC2 throttled CreateRestoreImageTask") from error
        else:
            raise
    return {
        **image,
        "imageId": image_id,
        "imageName": name,
        "region": region,
        "state": "pending",
        "sizeBytes": restore["sizeBytes"],
        "sourceBucket": bucket,
        "sourceKey": key,
        "attempt": attempt,
        "requestedAt": now.isoformat(timespec="seconds"),
        "availableAt": None,
        "checks": 0,
        "nextCheckSeconds": 0,
    }


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    region = os.environ["AWS_REGION"]
    return restore_image(ec2, event["request"], event["restore"], event["image"], event["executionId"], datetime.now(UTC), region)
