"""Extend Copy: make sure the restored copy outlives the image restore that reads it.

Event:  {"request": <Validate Input result>, "restore": <restore record, readable>}
Result: the restore record with "restoreExpiry" (the copy's final expiry, or null where there is no copy) and
        "copyExtension": "not-needed" (no temporary copy: a readable class or Intelligent-Tiering),
        "long-enough" (it lives long enough as it is) or "extended" (RestoreObject moved its expiry).
Raises RestoredCopyUnavailableError (the copy is gone), ThrottledError.

restoreRequestDays is the user's choice (the blog's default is 1). A copy expires Days after it was restored, at
midnight UTC, so a slow restore can leave it less life than the image restore needs. Reissuing RestoreObject on a
restored copy answers 200 and sets the expiry to now + Days (rounded up to midnight UTC): this step does that
when the copy has less life left than the planned image restore time (by size) plus a margin, and never shortens it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger()

s3 = boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))

ARCHIVED_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
# Planning figures for CreateRestoreImageTask, as in Check Image State (tests/static checks the two agree).
IMAGE_STARTUP_SECONDS = 600
IMAGE_PLANNED_BYTES_PER_SECOND = 50 * 10**6
COPY_MARGIN_SECONDS = 12 * 3600  # room for quota waits and retries after the planned image time
DAY = 24 * 3600
THROTTLING_CODES = ("SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "503")


class RestoredCopyUnavailableError(Exception):
    """The restored copy is gone (it expired) before the image restore could read it."""


class ThrottledError(Exception):
    """S3 throttled the request after the SDK's own retries; the state machine retries with back-off."""


def parse_restore_header(header: str | None) -> tuple[bool, str | None]:
    """x-amz-restore: 'ongoing-request="true"' or 'ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"'.
    The expiry comes back in ISO 8601 (2012-12-21T00:00:00+00:00), as every time the restore record keeps."""
    if not header:
        return False, None
    ongoing = 'ongoing-request="true"' in header
    expiry = header.split('expiry-date="', 1)[1].split('"', 1)[0] if "expiry-date=" in header else None
    return ongoing, parsedate_to_datetime(expiry).isoformat(timespec="seconds") if expiry else None


def needed_seconds(size_bytes: int) -> int:
    return IMAGE_STARTUP_SECONDS + -(-size_bytes // IMAGE_PLANNED_BYTES_PER_SECOND) + COPY_MARGIN_SECONDS


def copy_state(s3_client: S3Client, bucket: str, key: str) -> tuple[bool, str | None]:
    """(archived, expiry of the readable copy) as S3 reports them now: a lifecycle change may have moved the object."""
    try:
        head = s3_client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in THROTTLING_CODES:
            raise ThrottledError(f"S3 throttled HeadObject on s3://{bucket}/{key}") from error
        raise
    ongoing, expiry = parse_restore_header(head.get("Restore"))
    return head.get("StorageClass", "STANDARD") in ARCHIVED_CLASSES, None if ongoing else expiry


def extend_copy(s3_client: S3Client, request: dict[str, Any], restore: dict[str, Any], now: datetime) -> dict[str, Any]:
    if restore["storageClass"] not in ARCHIVED_CLASSES:
        return {**restore, "copyExtension": "not-needed"}
    bucket, key = request["recoveryPointBucket"], request["recoveryPoint"]
    archived, expiry = copy_state(s3_client, bucket, key)
    if not archived:
        return {**restore, "restoreExpiry": None, "copyExtension": "not-needed"}
    if expiry is None:
        raise RestoredCopyUnavailableError(
            f"the restored copy of s3://{bucket}/{key} is gone (it expired); start a new execution to restore it again"
        )
    needed = needed_seconds(restore["sizeBytes"])
    if datetime.fromisoformat(expiry) - now >= timedelta(seconds=needed):
        return {**restore, "restoreExpiry": expiry, "copyExtension": "long-enough"}
    days = -(-needed // DAY)  # S3 rounds now + Days up to midnight UTC: at least `needed` from now, longer than today's
    try:
        answered = s3_client.restore_object(
            Bucket=bucket, Key=key, RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": restore["tier"] or "Standard"}}
        )
    except ClientError as error:
        if error.response["Error"]["Code"] in THROTTLING_CODES:
            raise ThrottledError(f"S3 throttled RestoreObject on s3://{bucket}/{key}") from error
        raise
    if answered["ResponseMetadata"]["HTTPStatusCode"] != 200:  # 202: the copy expired in between, a new restore began
        raise RestoredCopyUnavailableError(
            f"the restored copy of s3://{bucket}/{key} expired before it could be extended; S3 started a new restore of it "
            "(a new execution will join it)"
        )
    extended = copy_state(s3_client, bucket, key)[1]
    logger.info("extended the copy of s3://%s/%s from %s to %s (%d days from now)", bucket, key, expiry, extended, days)
    return {**restore, "restoreExpiry": extended or expiry, "copyExtension": "extended", "copyExtendedFrom": expiry}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return extend_copy(s3, event["request"], event["restore"], datetime.now(UTC))
