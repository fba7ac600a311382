"""Plan Batch: size every AMI of a batch, refuse what cannot work before any side effect, order the image restores
into rounds that keep the GB in flight under EC2's quota, and request the archives' restores up front.

Event:  {"request": <Validate Batch's result, with recoveryPoints (Resolve Selection fills them for a selector)>}
Result: the request without its flat list, plus
        "rounds": [[[{"index": 0, "input": <the single-restore input>}, ...], ...], ...]   (rounds > lanes > AMIs)
        "childPrefix": "nightly-dr"  (AMI n runs as the execution "<childPrefix>-<n>"),
        "plan": {"amis": 12, "totalGb": 1200.0, "quotaGb": 600.0, "rounds": [{"lanes": 6, "amis": 12, "largestGb": 100.0}],
                 "plannedImageSeconds": 5400, "restoresRequested": 0, "restoresLeftToTheirExecution": 0}
Raises InvalidInputError (every AMI whose request cannot work, or a batch longer than an execution may run),
ThrottledError.

Why rounds: EC2 rejects an image restore while the account has more than its quota of restore work in progress
(600 GB in the current EC2 User Guide; the stack's ImageRestoreQuotaGb). Each AMI runs as a child execution of the
state machine (the single-restore states), and a child holds its place from its start to its AMI, so the batch runs
in rounds, one after another: a round has L lanes side by side, each lane restoring its AMIs one after another, and
holds only AMIs of at most quota / L bytes, so at most quota bytes are ever in flight. AMIs larger than the whole
quota run one at a time. Rounds go in the order the copies become readable (readable classes first, while the
archives restore), largest AMIs first within that; smaller AMIs fill the idle time of a round's shorter lanes.
Why restores up front: a lane reaches its last AMI hours later, so every archive's restore is requested here (at
most RESTORE_REQUESTS_PER_SECOND, half of S3's 1,000 restore requests per second per account), with Days extended
to cover the planned wait; each child then joins its restore in progress or finds its copy readable. Expedited
requests are left to their child (minutes, and it falls back to Standard when capacity is short); so is any
request S3 refuses here.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
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
# Planning figures for CreateRestoreImageTask, as in Check Image State and Extend Copy (tests/static checks they agree).
IMAGE_STARTUP_SECONDS = 600
IMAGE_PLANNED_BYTES_PER_SECOND = 50 * 10**6
# The latest typical restore of each class and tier, as Check Restore Status plans it (tests/static checks they agree).
LATEST_RESTORE_SECONDS = {
    ("GLACIER", "Expedited"): 5 * 60,
    ("GLACIER", "Standard"): 5 * HOUR,
    ("GLACIER", "Bulk"): 12 * HOUR,
    ("DEEP_ARCHIVE", "Standard"): 12 * HOUR,
    ("DEEP_ARCHIVE", "Bulk"): 48 * HOUR,
}
# S3 User Guide: restore requests are throttled above 1,000 per second per account and Region; take half.
RESTORE_REQUESTS_PER_SECOND = 500
# A copy requested up front must outlive the planned wait for its lane; plans are estimates, so 1.5 x that.
WAIT_SAFETY_FACTOR = 1.5
# The execution itself ends after 10 days (the definition's TimeoutSeconds); a batch must plan to finish a day before.
EXECUTION_SECONDS = 10 * DAY
PLAN_LIMIT_SECONDS = EXECUTION_SECONDS - DAY
MAX_LANES = 40  # an inline Map runs up to 40 iterations at once
NAME_LIMIT = 80  # execution names: 1-80 characters
MAX_INDEX_DIGITS = 3  # a batch holds at most 1,000 AMIs: indexes 0-999


class InvalidInputError(Exception):
    """An AMI of the batch cannot be restored as asked (or the batch cannot finish): nothing was changed."""


class ThrottledError(Exception):
    """S3 throttled a HeadObject after the SDK's own retries; the state machine retries with back-off."""


def child_prefix(execution_name: str) -> str:
    """The batch's child executions are named "<prefix>-<index>" (at most 80 characters)."""
    room = NAME_LIMIT - 1 - MAX_INDEX_DIGITS
    if len(execution_name) <= room:
        return execution_name
    return f"{execution_name[: room - 9]}-{hashlib.sha256(execution_name.encode()).hexdigest()[:8]}"


def image_seconds(size_bytes: int) -> int:
    return IMAGE_STARTUP_SECONDS + -(-size_bytes // IMAGE_PLANNED_BYTES_PER_SECOND)


def head(s3_client: S3Client, item: dict[str, Any]) -> dict[str, Any]:
    """What S3 says of the object: size, class, Intelligent-Tiering tier, restore status (missing: size 0, and its
    child execution fails RecoveryPointNotFoundError or RecoveryPointAccessDeniedError as a single restore does)."""
    bucket, key = item["recoveryPointBucket"], item["recoveryPoint"]
    try:
        found = s3_client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in THROTTLING_CODES:
            raise ThrottledError(f"S3 throttled HeadObject on s3://{bucket}/{key}") from error
        if code in ("404", "NoSuchKey", "NoSuchBucket", "403", "AccessDenied"):
            return {"found": False, "sizeBytes": 0, "storageClass": None, "archiveStatus": None, "restore": None}
        raise
    return {
        "found": True,
        "sizeBytes": int(found.get("ContentLength", 0)),
        "storageClass": found.get("StorageClass", "STANDARD"),
        "archiveStatus": found.get("ArchiveStatus"),
        "restore": found.get("Restore"),
    }


def needs_restore(facts: dict[str, Any]) -> bool:
    """Archived and neither restored nor being restored (a copy or a restore in progress is joined by the child)."""
    archived = facts["storageClass"] in ARCHIVED_CLASSES or facts["archiveStatus"] in ARCHIVE_TIERS
    return bool(facts["found"] and archived and not facts["restore"])


def is_deep_archive(storage_class: str, archive_status: str | None) -> bool:
    return storage_class == "DEEP_ARCHIVE" or archive_status == "DEEP_ARCHIVE_ACCESS"


def latest_restore(item: dict[str, Any], facts: dict[str, Any]) -> int:
    """When the copy of an archived AMI is readable at the latest, typically (seconds from the request)."""
    return LATEST_RESTORE_SECONDS[
        (
            "DEEP_ARCHIVE" if is_deep_archive(facts["storageClass"], facts["archiveStatus"]) else "GLACIER",
            item.get("restoreRequestTier", "Standard"),
        )
    ]


def lane_levels(max_lanes: int) -> list[int]:
    """Lanes a round may have: 1 to 6, then steps of about a third, up to max_lanes. An AMI runs in the round of the
    most lanes it fits (quota / lanes >= its size): the steps waste at most a quarter of a lane, and a batch has at
    most 14 rounds."""
    levels = [n for n in (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32) if n < max_lanes]
    return [*levels, max_lanes]


def plan_rounds(sizes: list[int], quota_bytes: int, max_lanes: int, ready: list[int] | None = None) -> list[list[list[int]]]:
    """Indexes into `sizes`, as rounds > lanes > AMIs: in a round of L lanes every AMI is at most quota / L bytes.

    Rounds go in the order the AMIs' copies become readable (`ready`: seconds from now, 0 for a readable object), so
    the readable AMIs use the quota while the archives restore. Within that order a round starts from the largest
    AMI left: its size sets the lanes (the most whose share of the quota still holds it), the AMIs of that size band
    are dealt to them longest first, and smaller AMIs fill the lanes' idle time up to the round's longest lane (so a
    round does not wait on one long lane with the others empty)."""
    levels = lane_levels(max_lanes)

    def level(index: int) -> int:
        fits = max_lanes if sizes[index] == 0 else max(1, min(max_lanes, quota_bytes // sizes[index]))
        return max(n for n in levels if n <= fits)

    readiness = ready or [0] * len(sizes)
    rounds: list[list[list[int]]] = []
    for moment in sorted(set(readiness)):
        left = sorted((i for i in range(len(sizes)) if readiness[i] == moment), key=lambda i: (-sizes[i], i))
        while left:
            lanes_count = level(left[0])
            band = [i for i in left if level(i) == lanes_count]
            lanes: list[list[int]] = [[] for _ in range(lanes_count)]
            loads = [0] * lanes_count
            for index in band:  # longest first, to the lane that frees up first
                lane = loads.index(min(loads))
                lanes[lane].append(index)
                loads[lane] += image_seconds(sizes[index])
            longest = max(loads)
            taken = set(band)
            for index in left:  # smaller AMIs (they fit any lane of this round) into the idle time
                lane = loads.index(min(loads))
                if index not in taken and loads[lane] + image_seconds(sizes[index]) <= longest:
                    lanes[lane].append(index)
                    loads[lane] += image_seconds(sizes[index])
                    taken.add(index)
            rounds.append([lane for lane in lanes if lane])
            left = [i for i in left if i not in taken]
    return rounds


def request_restore(s3_client: S3Client, item: dict[str, Any], facts: dict[str, Any], wait_seconds: float) -> str:
    """RestoreObject now, for a copy that lives through the planned wait; the outcome as a word (never raises: the
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


def plan_batch(s3_client: S3Client, request: dict[str, Any], quota_gb: float, max_lanes: int, execution_name: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = request["recoveryPoints"]
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        facts = list(pool.map(lambda item: head(s3_client, item), items))

    refused = [
        f"recoveryPoints[{index}] ({item['recoveryPoint']}): restoreRequestTier: Expedited is not offered for Deep Archive "
        f"({fact['storageClass']}{'/' + fact['archiveStatus'] if fact['archiveStatus'] else ''}); "
        "use Standard (within 12 h) or Bulk (within 48 h)"
        for index, (item, fact) in enumerate(zip(items, facts, strict=True))
        if needs_restore(fact)
        and is_deep_archive(fact["storageClass"], fact["archiveStatus"])
        and item.get("restoreRequestTier") == "Expedited"
    ]
    if refused:
        raise InvalidInputError("; ".join(refused))
    sizes = [fact["sizeBytes"] for fact in facts]
    quota_bytes = int(quota_gb * GB)
    ready = [latest_restore(item, fact) if needs_restore(fact) else 0 for item, fact in zip(items, facts, strict=True)]
    rounds = plan_rounds(sizes, quota_bytes, min(max_lanes, MAX_LANES), ready)

    # When each AMI's image restore is planned to start, counted from now: a round starts when the one before it ends
    # and its copies are readable; a copy waits from readable to its start (its Days must cover that wait).
    waits: dict[int, float] = {}
    clock = 0.0
    for lanes in rounds:
        readable = max(ready[i] for lane in lanes for i in lane)
        clock = max(clock, readable)
        longest = 0.0
        for lane in lanes:
            at = clock
            for index in lane:
                waits[index] = at - ready[index]
                at += image_seconds(sizes[index])
            longest = max(longest, at - clock)
        clock += longest
    planned = clock
    if planned > PLAN_LIMIT_SECONDS:
        raise InvalidInputError(
            f"recoveryPoints: {len(items)} AMIs of {sum(sizes) / GB:,.0f} GB would take about {planned / DAY:.1f} days under the "
            f"{quota_gb:,.0f} GB image-restore quota, longer than an execution may run ({EXECUTION_SECONDS // DAY} days): split the "
            "batch, or raise the account's quota (Service Quotas) and the stack's ImageRestoreQuotaGb"
        )

    # Restores up front, paced under S3's request rate (the copies wait for their lane: Days cover the planned wait).
    wanted = [
        i
        for i, (item, f) in enumerate(zip(items, facts, strict=True))
        if needs_restore(f) and item.get("restoreRequestTier") != "Expedited"
    ]
    outcomes: dict[int, str] = {}
    interval, next_slot = 1 / RESTORE_REQUESTS_PER_SECOND, time.monotonic()

    def paced(index: int) -> tuple[int, str]:
        return index, request_restore(s3_client, items[index], facts[index], waits[index])

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = []
        for index in wanted:
            delay = next_slot - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_slot = max(next_slot, time.monotonic()) + interval
            futures.append(pool.submit(paced, index))
        outcomes = dict(future.result() for future in futures)

    shared = {k: v for k, v in request.items() if k != "recoveryPoints"}
    return {
        **shared,
        "rounds": [[[{"index": i, "input": items[i]} for i in lane] for lane in lanes] for lanes in rounds],
        "childPrefix": child_prefix(execution_name),
        "plan": {
            "amis": len(items),
            "totalGb": round(sum(sizes) / GB, 1),
            "quotaGb": quota_gb,
            "rounds": [
                {
                    "lanes": len(lanes),
                    "amis": sum(len(lane) for lane in lanes),
                    "largestGb": round(max(sizes[i] for lane in lanes for i in lane) / GB, 1),
                }
                for lanes in rounds
            ],
            "plannedSeconds": round(planned),
            "restoresRequested": sum(1 for o in outcomes.values() if o == "requested"),
            # Expedited, or refused here (503, throttled...): their execution requests them as a single restore would
            "restoresLeftToTheirExecution": sum(1 for i, f in enumerate(facts) if needs_restore(f) and outcomes.get(i, "left") == "left")
            + sum(1 for o in outcomes.values() if o == "left-to-its-execution"),
        },
    }


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = event["request"]
    quota_gb = float(os.environ["IMAGE_RESTORE_QUOTA_GB"])
    return plan_batch(s3, request, quota_gb, int(os.environ["BATCH_CONCURRENCY"]), request["executionName"])
