"""Choose Archives: the archived AMIs this drill restores, and those too large to drill.

Event:  {"request": <Validate Drill's result>}
Result: {"items": [{"index": 0, "recoveryPoint": "ami-0a...bin", "bucket": "my-ami-archive", "amiName": "web-01",
          "archivedAt": "2025-02-11T09:00:00+00:00", "sizeBytes": 8000000000, "storageClass": "GLACIER",
          "tier": "Bulk", "childName": "drill-<drill name>-0-1a2b3c4d", "child": "arn:...:execution:<restore sm>:<childName>",
          "drill": <the drill's ARN>, "boot": false}],
         "tooLarge": [{"recoveryPoint", "bucket", "amiName", "sizeBytes"}], "matched": 3, "maxGb": 200, "buckets": [...]}
Raises NoArchiveToDrillError (nothing matches, or everything that matches is over DrillMaxGb: a drill that proves
nothing fails), ThrottledError.

The archives are the `.bin` objects of DRILL_BUCKETS (DrillBucketName, or the buckets ArchiveBucketName lists), named
by their tags as Resolve Selection names them (tests/static checks the copies agree). `newest` takes the most recently
archived, `random` draws without replacement, seeded by the drill's ARN (a retried step draws the same archives).
An object over DrillMaxGb (its size in S3, what the retrieval is billed on) is never drilled, and the report says so.
Each child execution is named "drill-", the drill's name (cut to 40 characters), the index and a hash of the drill's
ARN, so no other execution's name can be taken for it; the policy lets the functions remove only AMIs and snapshots
whose execution tag names such an execution.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import random
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger()

s3 = boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))

NAME_TAGS = ("ami-name", "AmiName", "Name", "backup-ami-name")  # the last: the archive side's own (Store Image)
DATE_TAGS = ("ami-store-date", "ami-creation-date", "ami-registration-date", "CreationDate")
THROTTLING_CODES = ("SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "503")
GB = 10**9


class NoArchiveToDrillError(Exception):
    """Nothing the drill may restore: no archive matches, or every match is over DrillMaxGb."""


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


def archives(s3_client: S3Client, bucket: str) -> list[dict[str, Any]]:
    """Every `.bin` object of the bucket: key, size, class, and the original AMI's name and archive date from its tags."""
    found: list[dict[str, Any]] = []
    try:
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                if not item["Key"].endswith(".bin"):
                    continue
                tags = {t["Key"]: t["Value"] for t in s3_client.get_object_tagging(Bucket=bucket, Key=item["Key"])["TagSet"]}
                stored = first(tags, DATE_TAGS)
                archived = (parse_time(stored) if stored else None) or item["LastModified"].astimezone(UTC)
                found.append({
                    "recoveryPoint": item["Key"], "bucket": bucket, "amiName": first(tags, NAME_TAGS) or item["Key"].removesuffix(".bin"),
                    "archivedAt": archived.isoformat(timespec="seconds"), "sizeBytes": int(item["Size"]),
                    "storageClass": item.get("StorageClass", "STANDARD"),
                })  # fmt: skip
    except ClientError as error:
        if error.response["Error"]["Code"] in THROTTLING_CODES:
            raise ThrottledError(f"S3 throttled a listing of s3://{bucket}") from error
        raise
    return found


def drill_child_name(drill_arn: str, index: int) -> str:
    name = drill_arn.rsplit(":", 1)[1]
    return f"drill-{name[:40]}-{index}-{hashlib.sha256(drill_arn.encode()).hexdigest()[:8]}"


def choose(candidates: list[dict[str, Any]], request: dict[str, Any], max_gb: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the archives to drill, the matching ones over DrillMaxGb)."""
    matching = sorted((a for a in candidates if fnmatch.fnmatchcase(a["amiName"], request["amiName"])),
                      key=lambda a: (a["archivedAt"], a["bucket"], a["recoveryPoint"]), reverse=True)  # fmt: skip
    small = [a for a in matching if a["sizeBytes"] <= max_gb * GB]
    large = [a for a in matching if a["sizeBytes"] > max_gb * GB]
    count = min(request["count"], len(small))
    if request["selection"] == "newest":
        return small[:count], large
    draw = random.Random(request["execution"])  # noqa: S311 - a fair draw, not a secret
    return draw.sample(small, count), large


def choose_archives(s3_client: S3Client, request: dict[str, Any], buckets: list[str], max_gb: float, restore_sm_arn: str) -> dict[str, Any]:
    if not buckets or "*" in buckets:
        raise NoArchiveToDrillError("no bucket to drill: ArchiveBucketName is '*', so set the stack parameter DrillBucketName")
    candidates = [a for bucket in buckets for a in archives(s3_client, bucket)]
    chosen, large = choose(candidates, request, max_gb)
    matched = len(chosen) + len(large)
    if not chosen:
        why = "no archived AMI matches it" if not large else f"every match is over DrillMaxGb ({max_gb:g} GB)"
        raise NoArchiveToDrillError(f"nothing to drill for amiName {request['amiName']!r} in {', '.join(buckets)}: {why}")
    executions = restore_sm_arn.replace(":stateMachine:", ":execution:")
    items = []
    for index, archive in enumerate(chosen):
        name = drill_child_name(request["execution"], index)
        items.append({**archive, "index": index, "tier": request["tier"], "childName": name, "child": f"{executions}:{name}",
                      "drill": request["execution"], "boot": request["boot"]})  # fmt: skip
    logger.info("drilling %d of %d matching archives (%d over %s GB)", len(items), matched, len(large), max_gb)
    return {"items": items, "tooLarge": large, "matched": matched, "maxGb": max_gb, "buckets": buckets}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    buckets = [b.strip() for b in os.environ["DRILL_BUCKETS"].split(",") if b.strip()]
    return choose_archives(s3, event["request"], buckets, float(os.environ["DRILL_MAX_GB"]), os.environ["RESTORE_STATE_MACHINE_ARN"])
