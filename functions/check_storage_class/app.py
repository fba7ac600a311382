"""Check Storage Class: read where the recovery point sits and whether a restore is needed.

Event:  {"request": <Validate Input result>}
Result: the restore record that Request Restore and Check Restore Status carry on:
        {"status": "preparing-for-restore" | "ready-to-restore", "storageClass": "DEEP_ARCHIVE",
         "archiveStatus": null, "restoreInProgress": false, "restoreExpiry": null,
         "originalAmiName": "web-server-2025-01", "sizeBytes": 8589934592, "tier": "Standard",
         "requestOutcome": null, "requestedAt": null, "readyAt": null, "checks": 0, "nextCheckSeconds": 0,
         "bucketSendsEvents": true | false | null}
bucketSendsEvents: whether the bucket has "Send notifications to Amazon EventBridge" on (null: not allowed to read
its notification configuration). Without it no restore event comes and the wait runs on its polls alone.
Raises InvalidInputError (a tier that cannot work for this object: Expedited on Deep Archive), RecoveryPointNotFoundError,
RecoveryPointAccessDeniedError, ThrottledError.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
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
ARCHIVE_TIERS = ("ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS")  # Intelligent-Tiering's ArchiveStatus values
THROTTLING_CODES = ("SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "503")
# Tags that CreateStoreImageTask writes on the object, in the order we trust them for the original AMI name.
AMI_NAME_TAGS = ("ami-name", "AmiName", "Name", "backup-ami-name")  # the last: the archive side's own (Store Image)


class InvalidInputError(Exception):
    """The request cannot work for this object (e.g. Expedited on Deep Archive)."""


class RecoveryPointNotFoundError(Exception):
    """No object with that key in that bucket."""


class RecoveryPointAccessDeniedError(Exception):
    """The stack's role may not read the object: check ArchiveBucketName and the bucket policy."""


class ThrottledError(Exception):
    """S3 throttled the request after the SDK's own retries; the state machine retries with back-off."""


def is_deep_archive(storage_class: str, archive_status: str | None) -> bool:
    return storage_class == "DEEP_ARCHIVE" or archive_status == "DEEP_ARCHIVE_ACCESS"


def parse_restore_header(header: str | None) -> tuple[bool, str | None]:
    """x-amz-restore: 'ongoing-request="true"' or 'ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"'.
    The expiry comes back in ISO 8601 (2012-12-21T00:00:00+00:00), as every time the restore record keeps."""
    if not header:
        return False, None
    ongoing = 'ongoing-request="true"' in header
    expiry = header.split('expiry-date="', 1)[1].split('"', 1)[0] if "expiry-date=" in header else None
    return ongoing, parsedate_to_datetime(expiry).isoformat(timespec="seconds") if expiry else None


def original_ami_name(s3_client: S3Client, bucket: str, key: str) -> str | None:
    tags = {t["Key"]: t["Value"] for t in s3_client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
    return next((tags[name] for name in AMI_NAME_TAGS if tags.get(name)), None)


def sends_events(s3_client: S3Client, bucket: str) -> bool | None:
    try:
        configuration = s3_client.get_bucket_notification_configuration(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("403", "AccessDenied"):
            return None  # informational only: the waits work either way
        raise
    return "EventBridgeConfiguration" in configuration


def check_storage_class(s3_client: S3Client, request: dict[str, Any], now: datetime) -> dict[str, Any]:
    bucket, key = request["recoveryPointBucket"], request["recoveryPoint"]
    try:
        head = s3_client.head_object(Bucket=bucket, Key=key)
        ami_name = original_ami_name(s3_client, bucket, key)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("404", "NoSuchKey", "NoSuchBucket"):
            raise RecoveryPointNotFoundError(f"s3://{bucket}/{key} does not exist (check recoveryPoint and recoveryPointBucket)") from error
        if code in ("403", "AccessDenied"):
            raise RecoveryPointAccessDeniedError(f"access denied to s3://{bucket}/{key}: is the bucket in ArchiveBucketName?") from error
        if code in THROTTLING_CODES:
            raise ThrottledError(f"S3 throttled HeadObject on s3://{bucket}/{key}") from error
        raise

    storage_class = head.get("StorageClass", "STANDARD")
    archive_status = head.get("ArchiveStatus")
    archived = storage_class in ARCHIVED_CLASSES or archive_status in ARCHIVE_TIERS
    ongoing, expiry = parse_restore_header(head.get("Restore"))
    readable = not archived or (storage_class in ARCHIVED_CLASSES and expiry is not None and not ongoing)

    refused_tier = request["restoreRequestTier"] == "Expedited" and is_deep_archive(storage_class, archive_status)
    if archived and not readable and not ongoing and refused_tier:
        raise InvalidInputError(
            f"restoreRequestTier: Expedited is not offered for Deep Archive ({storage_class}"
            f"{'/' + archive_status if archive_status else ''}); use Standard (within 12 h) or Bulk (within 48 h)"
        )

    stamp = now.isoformat(timespec="seconds")
    outcome = None  # Request Restore fills it in
    if not archived:
        outcome = "not-needed"
    elif readable:
        outcome = "restored-before-this-run"
    elif ongoing:
        outcome = "joined-restore-in-progress"
    return {
        "status": "ready-to-restore" if readable else "preparing-for-restore",
        "storageClass": storage_class,
        "archiveStatus": archive_status,
        "restoreInProgress": ongoing,
        "restoreExpiry": expiry,
        "originalAmiName": ami_name,
        "sizeBytes": head.get("ContentLength", 0),
        "tier": request["restoreRequestTier"] if archived else None,
        "requestOutcome": outcome,
        "requestedAt": None,
        "readyAt": stamp if readable else None,
        "checks": 0,
        "nextCheckSeconds": 0,
        "bucketSendsEvents": sends_events(s3_client, bucket) if archived and not readable else None,
    }


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return check_storage_class(s3, event["request"], datetime.now(UTC))
