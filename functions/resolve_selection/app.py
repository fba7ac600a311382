"""Resolve Selection: turn a batch's selector into the list of archived AMIs it names, through the archive's tags.

Event:  {"request": <Validate Batch's result with "selector": {"amiName": "web-*", "archivedBefore": "2025-03-01",
         "newestOnly": true} and "recoveryPoints": null>}
Result: the request with "recoveryPoints" (one single-restore input per archived AMI chosen, in name order) and
        "resolved": [{"recoveryPoint": "ami-0a...bin", "amiName": "web-01", "archivedAt": "2025-02-11T09:00:00+00:00"}]
        (what the selector resolved to, for the summary email).
Raises EmptySelectionError (nothing matches: nothing was changed), InvalidInputError (more than 1,000 AMIs match),
RecoveryPointAccessDeniedError, ThrottledError.

CreateStoreImageTask stores the original AMI's name and dates as object tags (EC2 User Guide, ami-store-restore),
without documenting their keys: the keys are read in the order the command line reads them (tests/static checks the
two agree). An object without a date tag counts as archived when S3 last modified it. `amiName` is a glob (* and ?,
case-sensitive); `archivedBefore` keeps archives made strictly before it; `newestOnly` (default true) keeps the newest
archive of each AMI name. S3 has no call that returns the tags of many objects: one GetObjectTagging per `.bin`
object of the bucket, on a small thread pool.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger()

THREADS = 16
s3 = boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=THREADS))

NAME_TAGS = ("ami-name", "AmiName", "Name", "backup-ami-name")  # the last: the archive side's own (Store Image)
DATE_TAGS = ("ami-store-date", "ami-creation-date", "ami-registration-date", "CreationDate")
MAX_BATCH_ITEMS = 1000
DEFAULT_DAYS, DEFAULT_TIER = 1, "Standard"
THROTTLING_CODES = ("SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "503")


class EmptySelectionError(Exception):
    """No archived AMI matches the selector."""


class InvalidInputError(Exception):
    """The selector matches more AMIs than one batch may hold."""


class RecoveryPointAccessDeniedError(Exception):
    """The stack's role may not list or read the bucket."""


class ThrottledError(Exception):
    """S3 throttled a request after the SDK's own retries; the state machine retries with back-off."""


def parse_time(value: str) -> datetime | None:
    """An ISO 8601 date or time; a date alone is midnight UTC, a time without offset is UTC."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def first(tags: Mapping[str, str], keys: Iterable[str]) -> str | None:
    return next((tags[k] for k in keys if tags.get(k)), None)


def archived_amis(s3_client: S3Client, bucket: str) -> list[dict[str, Any]]:
    """Every `.bin` object of the bucket with the original AMI name and the archive date from its tags."""
    listed: list[dict[str, Any]] = []
    try:
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            listed += [dict(o) for o in page.get("Contents", []) if o["Key"].endswith(".bin")]
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in THROTTLING_CODES:
            raise ThrottledError(f"S3 throttled ListObjectsV2 on s3://{bucket}") from error
        if code in ("AccessDenied", "403", "NoSuchBucket", "404"):
            raise RecoveryPointAccessDeniedError(
                f"cannot list s3://{bucket} ({code}): is it one of the stack's ArchiveBucketName?"
            ) from error
        raise

    def described(item: dict[str, Any]) -> dict[str, Any]:
        key = item["Key"]
        try:
            tags = {t["Key"]: t["Value"] for t in s3_client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in THROTTLING_CODES:
                raise ThrottledError(f"S3 throttled GetObjectTagging on s3://{bucket}/{key}") from error
            if code not in ("NoSuchKey", "404"):  # deleted since the listing: not an archive any more
                raise
            return {}
        stored = first(tags, DATE_TAGS)
        archived = (parse_time(stored) if stored else None) or item["LastModified"].astimezone(UTC)
        return {"recoveryPoint": key, "amiName": first(tags, NAME_TAGS) or key.removesuffix(".bin"), "archivedAt": archived}

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return [ami for ami in pool.map(described, listed) if ami]


def select(amis: list[dict[str, Any]], selector: dict[str, Any]) -> list[dict[str, Any]]:
    """The archives the selector names, by AMI name then newest first (with newestOnly, one per name)."""
    before = parse_time(selector["archivedBefore"]) if selector.get("archivedBefore") else None
    chosen = [a for a in amis if fnmatch.fnmatchcase(a["amiName"], selector["amiName"]) and (before is None or a["archivedAt"] < before)]
    chosen.sort(key=lambda a: (a["amiName"], -a["archivedAt"].timestamp(), a["recoveryPoint"]))
    if selector.get("newestOnly", True):
        newest: dict[str, dict[str, Any]] = {}
        for ami in chosen:
            newest.setdefault(ami["amiName"], ami)
        chosen = list(newest.values())
    return chosen


def describe_selector(selector: dict[str, Any], bucket: str) -> str:
    parts = [f"amiName {selector['amiName']!r}"]
    if selector.get("archivedBefore"):
        parts.append(f"archived before {selector['archivedBefore']}")
    parts.append("newest archive of each name" if selector.get("newestOnly", True) else "every archive")
    return f"{', '.join(parts)} in s3://{bucket}"


def resolve_selection(s3_client: S3Client, request: dict[str, Any]) -> dict[str, Any]:
    bucket, selector = request["recoveryPointBucket"], request["selector"]
    chosen = select(archived_amis(s3_client, bucket), selector)
    if not chosen:
        raise EmptySelectionError(
            f"no archived AMI matches {describe_selector(selector, bucket)}: nothing was restored. See the archive with "
            "glacier-ami-restore list, fix recoveryPoints and start a new execution"
        )
    if len(chosen) > MAX_BATCH_ITEMS:
        raise InvalidInputError(
            f"recoveryPoints: {describe_selector(selector, bucket)} matches {len(chosen):,} AMIs, more than one batch may hold "
            f"({MAX_BATCH_ITEMS:,}): narrow the selector (amiName, archivedBefore) or split it"
        )
    shared = {"recoveryPointBucket": bucket}
    if request["restoreRequestDays"] != DEFAULT_DAYS:
        shared["restoreRequestDays"] = request["restoreRequestDays"]
    if request["restoreRequestTier"] != DEFAULT_TIER:
        shared["restoreRequestTier"] = request["restoreRequestTier"]
    if request.get("amiName"):
        shared["amiName"] = request["amiName"]
    logger.info("%s resolved to %d AMIs", describe_selector(selector, bucket), len(chosen))
    return {
        **request,
        "recoveryPoints": [{"recoveryPoint": a["recoveryPoint"], **shared} for a in chosen],
        "resolved": [{**a, "archivedAt": a["archivedAt"].isoformat(timespec="seconds")} for a in chosen],
        "selection": describe_selector(selector, bucket),
    }


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return resolve_selection(s3, event["request"])
