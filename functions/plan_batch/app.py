"""Plan Batch: look at every AMI of a batch, refuse what cannot work before any side effect, request the archives'
restores up front, and give each AMI its child execution's name, its place and its copy wait.

Event:  {"request": <Validate Batch's result, with recoveryPoints (Resolve Selection fills them for a selector)>,
         "execution": "arn:...:execution:<batch state machine>:nightly-dr", "executionName": "nightly-dr"}
Result: the request without its flat list, plus
        "items": [{"index": 3, "name": "nightly-dr-3-1a2b3c4d", "input": <the single-restore input>,
                   "copyWait": {"timeouts": [43200, 60], "next": 1, "seconds": 43200}, "copyDeadlineAt": "..."}, ...]
                 in the order their copies should be readable (readable ones first),
        "notFound": [{"index": 5, "recoveryPoint": "...", "recoveryPointBucket": "...", "error": "RecoveryPointNotFoundError"}],
        "concurrency": 40 (BATCH_CONCURRENCY: the Map's MaxConcurrencyPath),
        "plan": {"amis": 12, "totalGb": 1200.0, "quotaGb": 600.0, "plannedSeconds": 93600, "restoresRequested": 9,
                 "restoresLeftToTheirExecution": 1, "notFound": 0}
Raises RecoveryPointNotFoundError (the bucket does not exist, or no key of the batch does: nothing was changed),
RecoveryPointAccessDeniedError, InvalidInputError (Expedited asked of Deep Archive, or a batch that would outlast an
execution), ThrottledError.

Why restores up front: an AMI's child execution starts only when its copy is readable (the batch waits for S3's event
in "Wait For Copy"), so every archive's restore is requested here (at most RESTORE_REQUESTS_PER_SECOND, half of S3's
1,000 restore requests per second per account), with Days covering the wait from readable to its image restore; each
child then finds its copy readable. Expedited requests are left to their child (minutes, and it falls back to Standard
when capacity is short); so is any request S3 refuses here.
Why a plan: every image restore of the stack takes its GB from one budget (ImageRestoreQuotaGb, first come first
served; Wait For Image Budget), so the batch needs no rounds. The plan only checks that the batch can end within an
execution's life (a year): image restores one after another at the slowest rate we plan for, with the budget's room for
several at once, after the latest copy; a batch that would outlast it is refused before any restore is requested.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import RestoreRequestTypeDef

logger = logging.getLogger()

THREADS = 8  # HEAD and RestoreObject calls in parallel: 1,000 AMIs take a few seconds, within the state's 60 s
s3 = boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=THREADS))

GB = 10**9
DAY, HOUR = 24 * 3600, 3600
ARCHIVED_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
ARCHIVE_TIERS = ("ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS")  # Intelligent-Tiering's ArchiveStatus values
THROTTLING_CODES = ("SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "503")
# The typical restore of each class and tier, earliest and latest, as Check Restore Status plans it (tests/static
# checks they agree).
WINDOWS = {
    ("GLACIER", "Expedited"): (60, 5 * 60),
    ("GLACIER", "Standard"): (3 * HOUR, 5 * HOUR),
    ("GLACIER", "Bulk"): (5 * HOUR, 12 * HOUR),
    ("DEEP_ARCHIVE", "Standard"): (9 * HOUR, 12 * HOUR),
    ("DEEP_ARCHIVE", "Bulk"): (24 * HOUR, 48 * HOUR),
}
# AWS: archived objects over 250 MB are restored at up to 300 MB/s (Check Restore Status adds the transfer too).
LARGE_OBJECT_BYTES = 250 * 10**6
BEST_BYTES_PER_SECOND = 300 * 10**6
# The batch waits for a copy for S3's event until its latest typical time and this margin; then (or at once, from the
# earliest typical time, when the bucket sends no events to EventBridge) the child follows the restore itself.
COPY_WAIT_MARGIN_SECONDS = HOUR
# Planning figures for CreateRestoreImageTask, as in Check Image State (tests/static checks they agree), and the slowest
# rate we plan for, as Wait For Image Budget does: AWS documents no throughput.
IMAGE_STARTUP_SECONDS = 600
IMAGE_PLANNED_BYTES_PER_SECOND = 50 * 10**6
SLOWEST_IMAGE_BYTES_PER_SECOND = 20 * 10**6
MIN_DEADLINE_SECONDS = 24 * 3600
# S3 User Guide: restore requests are throttled above 1,000 per second per account and Region; take half.
RESTORE_REQUESTS_PER_SECOND = 500
# A copy requested up front must outlive its wait for the image restore; plans are estimates, so 1.5 x that.
WAIT_SAFETY_FACTOR = 1.5
# An execution lives at most a year (Step Functions quotas; both state machines' TimeoutSeconds): the batch, and the
# child restoring its last AMI, must end a month before.
EXECUTION_SECONDS = 365 * DAY
PLAN_LIMIT_SECONDS = EXECUTION_SECONDS - 30 * DAY


class InvalidInputError(Exception):
    """An AMI of the batch cannot be restored as asked (or the batch cannot finish): nothing was changed."""


class RecoveryPointNotFoundError(Exception):
    """The batch's bucket does not exist, or none of its keys does: nothing was changed."""


class RecoveryPointAccessDeniedError(Exception):
    """The stack's role may not read the batch's bucket: check ArchiveBucketName and the bucket policy."""


class ThrottledError(Exception):
    """S3 throttled a request after the SDK's own retries; the state machine retries with back-off."""


def child_name(parent_arn: str, index: int) -> str:
    """The name a batch gives its child number `index`: the batch's name (cut to 40 characters), the index, and a hash
    of the batch's ARN, so that no other execution's name can be taken for it (at most 53 of the 80 characters)."""
    name = parent_arn.rsplit(":", 1)[1]
    return f"{name[:40]}-{index}-{hashlib.sha256(parent_arn.encode()).hexdigest()[:8]}"


def image_seconds(size_bytes: int) -> int:
    return IMAGE_STARTUP_SECONDS + -(-size_bytes // IMAGE_PLANNED_BYTES_PER_SECOND)


def slowest_image_seconds(size_bytes: int) -> int:
    return IMAGE_STARTUP_SECONDS + -(-size_bytes // SLOWEST_IMAGE_BYTES_PER_SECOND)


def head_bucket(s3_client: S3Client, bucket: str) -> None:
    """Does the bucket exist, and may the stack read it? Raises the batch's refusal otherwise (nothing changed yet)."""
    try:
        s3_client.head_bucket(Bucket=bucket)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("404", "NoSuchBucket"):
            raise RecoveryPointNotFoundError(f"the bucket {bucket} does not exist: nothing was restored") from error
        if code in ("403", "AccessDenied"):
            raise RecoveryPointAccessDeniedError(f"access denied to the bucket {bucket}: is it in ArchiveBucketName?") from error
        if code in THROTTLING_CODES:
            raise ThrottledError(f"S3 throttled HeadBucket on {bucket}") from error
        raise


def head(s3_client: S3Client, item: dict[str, Any]) -> dict[str, Any]:
    """What S3 says of the object: size, class, Intelligent-Tiering tier, restore status (missing or unreadable: found
    is False, with the error its single restore would end with)."""
    bucket, key = item["recoveryPointBucket"], item["recoveryPoint"]
    try:
        found = s3_client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in THROTTLING_CODES:
            raise ThrottledError(f"S3 throttled HeadObject on s3://{bucket}/{key}") from error
        if code in ("404", "NoSuchKey", "NoSuchBucket"):
            return {"found": False, "error": "RecoveryPointNotFoundError"}
        if code in ("403", "AccessDenied"):
            return {"found": False, "error": "RecoveryPointAccessDeniedError"}
        raise
    return {
        "found": True,
        "sizeBytes": int(found.get("ContentLength", 0)),
        "storageClass": found.get("StorageClass", "STANDARD"),
        "archiveStatus": found.get("ArchiveStatus"),
        "restore": found.get("Restore"),
    }


def is_archived(facts: dict[str, Any]) -> bool:
    return bool(facts["storageClass"] in ARCHIVED_CLASSES or facts["archiveStatus"] in ARCHIVE_TIERS)


def readable_now(facts: dict[str, Any]) -> bool:
    """Readable now: not archived, or a restored copy (x-amz-restore: ongoing-request="false")."""
    return not is_archived(facts) or 'ongoing-request="false"' in (facts["restore"] or "")


def needs_restore(facts: dict[str, Any]) -> bool:
    """Archived and neither restored nor being restored (a copy or a restore in progress is joined by the child)."""
    return is_archived(facts) and not facts["restore"]


def is_deep_archive(storage_class: str, archive_status: str | None) -> bool:
    return storage_class == "DEEP_ARCHIVE" or archive_status == "DEEP_ARCHIVE_ACCESS"


def copy_window(item: dict[str, Any], facts: dict[str, Any]) -> tuple[int, int]:
    """When the copy of an archived AMI is readable, typically: (earliest, latest) seconds from the request."""
    family = "DEEP_ARCHIVE" if is_deep_archive(facts["storageClass"], facts["archiveStatus"]) else "GLACIER"
    earliest, latest = WINDOWS[(family, item.get("restoreRequestTier", "Standard"))]
    if facts["sizeBytes"] > LARGE_OBJECT_BYTES:
        transfer = math.ceil(facts["sizeBytes"] / BEST_BYTES_PER_SECOND)
        earliest, latest = earliest + transfer, latest + transfer
    return earliest, latest


def bucket_sends_events(s3_client: S3Client, bucket: str) -> bool:
    """Does the bucket send its events to EventBridge (S3's Object Restore Completed wakes the batch's copy waits)?"""
    try:
        return "EventBridgeConfiguration" in s3_client.get_bucket_notification_configuration(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] in THROTTLING_CODES:
            raise ThrottledError(f"S3 throttled GetBucketNotificationConfiguration on {bucket}") from error
        return False  # not readable: the children follow their restores themselves


def plan_images(sizes: list[int], ready: list[int], quota_bytes: int) -> list[int]:
    """When each image restore starts, at the slowest planned rate, admitted first come (readable first) first served
    while the budget has room, a restore larger than the budget alone: seconds from now, in the order given."""
    starts = [0] * len(sizes)
    running: list[tuple[int, int]] = []  # (end, bytes) of the image restores in flight
    clock = 0
    for index in sorted(range(len(sizes)), key=lambda i: ready[i]):
        clock = max(clock, ready[index])
        running = [(end, size) for end, size in running if end > clock]
        while running and sum(size for _, size in running) + sizes[index] > quota_bytes:
            clock = min(end for end, _ in running)  # wait for the first one in flight to end
            running = [(end, size) for end, size in running if end > clock]
        starts[index] = clock
        running.append((clock + slowest_image_seconds(sizes[index]), sizes[index]))
    return starts


def request_restore(s3_client: S3Client, item: dict[str, Any], facts: dict[str, Any], wait_seconds: float) -> str:
    """RestoreObject now, for a copy that lives through its planned wait; the outcome as a word (never raises: the
    child execution requests the restore itself if this one did not go through)."""
    days = item.get("restoreRequestDays", 1) + math.ceil(WAIT_SAFETY_FACTOR * wait_seconds / DAY)
    request: RestoreRequestTypeDef = {"GlacierJobParameters": {"Tier": item.get("restoreRequestTier", "Standard")}}
    if facts["storageClass"] != "INTELLIGENT_TIERING":
        request["Days"] = days  # Intelligent-Tiering refuses Days
    try:
        status = s3_client.restore_object(Bucket=item["recoveryPointBucket"], Key=item["recoveryPoint"], RestoreRequest=request)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        logger.info("left the restore of %s to its execution: %s", item["recoveryPoint"], code)
        return "in-progress" if code == "RestoreAlreadyInProgress" else "left-to-its-execution"
    return "requested" if status["ResponseMetadata"]["HTTPStatusCode"] == 202 else "already-restored"


def plan_batch(
    s3_client: S3Client, request: dict[str, Any], quota_gb: float, concurrency: int, execution_arn: str, now: datetime
) -> dict[str, Any]:
    items: list[dict[str, Any]] = request["recoveryPoints"]
    for bucket in sorted({item["recoveryPointBucket"] for item in items}):
        head_bucket(s3_client, bucket)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        facts = list(pool.map(lambda item: head(s3_client, item), items))
    found = [i for i, fact in enumerate(facts) if fact["found"]]
    if not found:
        listed = ", ".join(f"s3://{item['recoveryPointBucket']}/{item['recoveryPoint']}" for item in items[:10])
        raise RecoveryPointNotFoundError(
            f"none of the batch's {len(items)} keys exists ({listed}{', ...' if len(items) > 10 else ''}): nothing was restored; "
            "check recoveryPoints and recoveryPointBucket (aws s3 ls s3://<bucket>/)"
        )
    refused = [
        f"recoveryPoints[{i}] ({items[i]['recoveryPoint']}): restoreRequestTier: Expedited is not offered for Deep Archive "
        f"({facts[i]['storageClass']}{'/' + facts[i]['archiveStatus'] if facts[i]['archiveStatus'] else ''}); "
        "use Standard (within 12 h) or Bulk (within 48 h)"
        for i in found
        if is_archived(facts[i])
        and not readable_now(facts[i])
        and is_deep_archive(facts[i]["storageClass"], facts[i]["archiveStatus"])
        and items[i].get("restoreRequestTier") == "Expedited"
    ]
    if refused:
        raise InvalidInputError("; ".join(refused))

    sizes = [facts[i]["sizeBytes"] for i in found]
    windows = [(0, 0) if readable_now(facts[i]) else copy_window(items[i], facts[i]) for i in found]
    ready = [latest for _, latest in windows]
    events = {bucket: bucket_sends_events(s3_client, bucket) for bucket in sorted({items[i]["recoveryPointBucket"] for i in found})}
    starts = plan_images(sizes, ready, int(quota_gb * GB))
    planned = max(start + slowest_image_seconds(size) for start, size in zip(starts, sizes, strict=True))
    deadline = max(MIN_DEADLINE_SECONDS, 2 * max(image_seconds(size) for size in sizes))  # Check Image State's, at most
    if planned + deadline > PLAN_LIMIT_SECONDS:
        raise InvalidInputError(
            f"recoveryPoints: {len(found)} AMIs of {sum(sizes) / GB:,.0f} GB could take {(planned + deadline) / DAY:,.0f} days under the "
            f"{quota_gb:,.0f} GB image-restore budget at the slowest rate planned ({SLOWEST_IMAGE_BYTES_PER_SECOND // 10**6} MB/s), more "
            f"than the {PLAN_LIMIT_SECONDS // DAY} days a batch may take (an execution runs at most {EXECUTION_SECONDS // DAY} days): "
            "split the batch, or raise the account's quota (Service Quotas) and the stack's ImageRestoreQuotaGb"
        )

    # Restores up front, paced under S3's request rate (the copies wait for their image restore: Days cover the wait).
    wanted = [n for n, i in enumerate(found) if needs_restore(facts[i]) and items[i].get("restoreRequestTier") != "Expedited"]
    interval, next_slot = 1 / RESTORE_REQUESTS_PER_SECOND, time.monotonic()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = []
        for n in wanted:
            delay = next_slot - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_slot = max(next_slot, time.monotonic()) + interval
            i = found[n]
            futures.append(pool.submit(request_restore, s3_client, items[i], facts[i], starts[n] - ready[n]))
        outcomes = dict(zip(wanted, (future.result() for future in futures), strict=True))
    # Expedited, or refused here (503, throttled...): their execution requests them as a single restore would.
    left_to_child = {
        n for n, i in enumerate(found) if needs_restore(facts[i]) and outcomes.get(n, "left-to-its-execution") == "left-to-its-execution"
    }

    planned_items = []
    for n in sorted(range(len(found)), key=lambda n: (ready[n], found[n])):
        i = found[n]
        # The batch waits for a copy it requested (or found restoring): for S3's event, until the latest typical time
        # and a margin; without events, until the earliest typical time, then the child follows it. A readable copy,
        # or one left to the child (Expedited, or refused here), is the child's at once.
        if readable_now(facts[i]) or n in left_to_child:
            wait = 1
        elif events[items[i]["recoveryPointBucket"]]:
            wait = ready[n] + COPY_WAIT_MARGIN_SECONDS
        else:
            wait = windows[n][0]
        planned_items.append(
            {
                "index": i,
                "name": child_name(execution_arn, i),
                "input": items[i],
                "copyWait": {"timeouts": [wait, 60], "next": 1, "seconds": wait},
                "copyDeadlineAt": (now + timedelta(seconds=wait)).isoformat(timespec="seconds"),
            }
        )
    missing = [
        {
            "index": i,
            "recoveryPoint": items[i]["recoveryPoint"],
            "recoveryPointBucket": items[i]["recoveryPointBucket"],
            "error": fact["error"],
        }
        for i, fact in enumerate(facts)
        if not fact["found"]
    ]
    shared = {k: v for k, v in request.items() if k != "recoveryPoints"}
    return {
        **shared,
        "items": planned_items,
        "notFound": missing,
        "concurrency": concurrency,
        "plan": {
            "amis": len(items),
            "totalGb": round(sum(sizes) / GB, 1),
            "quotaGb": quota_gb,
            "plannedSeconds": planned,
            "restoresRequested": sum(1 for o in outcomes.values() if o == "requested"),
            "restoresLeftToTheirExecution": len(left_to_child),
            "notFound": len(missing),
        },
    }


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    quota_gb = float(os.environ["IMAGE_RESTORE_QUOTA_GB"])
    concurrency = int(os.environ["BATCH_CONCURRENCY"])
    return plan_batch(s3, event["request"], quota_gb, concurrency, event["execution"], datetime.now(UTC))
