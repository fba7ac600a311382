"""Check Restore Status: is the restored copy readable yet, and when should we look again?

Event:  {"request": <Validate Input result>, "restore": <restore record, with "wake": what ended the last wait>}
Result: the restore record with "status" ("preparing-for-restore" | "ready-to-restore"), "checks",
        "restoreExpiry", "readyAt", "pollingSince", "deadlineAt", "eventsConfirmed", "noticedBy" ("event" | "poll"),
        "eventWakes", and "wait": {"timeouts", "next", "seconds", "count"}, the safety net's polls until the deadline for
        Wait For Restore (TimeoutSecondsPath) and Schedule Next Copy Check.
Raises RestoreDeadlineExceededError when the copy is still not readable at the deadline,
RestoreNotFoundError when S3 reports no restore at all, ThrottledError.

S3's `Object Restore Completed` event resumes the wait at once (Resume Waiting); the timeouts are the safety net for
a lost event or a bucket that sends none. The window scales with the object's size: objects over 250 MB come back at
up to 300 MB/s, which AWS adds to Expedited's 1-5 minutes (2 TB: about 1.9 h); every deadline also allows the
transfer at a quarter of that rate. Deadline max(2 x latest, latest + 1 h) + the transfer at 75 MB/s.

The schedule: until an event from this object's restore proved that the bucket's events reach the stack (`Object
Restore Initiated`), every 9.5 % of the time elapsed (at least a tenth of the earliest typical completion, 10 s to
60 s): a lost event costs at most a tenth of the wait. After that proof, sparse: first at the earliest typical
completion, then every 25 % of the time elapsed (at least 60 s). (The benchmark's baselines, every 60 s and the
schedule before events, live with the benchmark: tools/baselines.py.)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
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

HOUR = 3600
# Typical (earliest, latest) completion in seconds. AWS documents Flexible Retrieval as 1-5 min / 3-5 h / 5-12 h
# and Deep Archive as "within 12 h" / "within 48 h"; the Deep Archive lower bounds are our assumption.
WINDOWS = {
    ("GLACIER", "Expedited"): (60, 5 * 60),
    ("GLACIER", "Standard"): (3 * HOUR, 5 * HOUR),
    ("GLACIER", "Bulk"): (5 * HOUR, 12 * HOUR),
    ("DEEP_ARCHIVE", "Standard"): (9 * HOUR, 12 * HOUR),
    ("DEEP_ARCHIVE", "Bulk"): (24 * HOUR, 48 * HOUR),
}
# AWS: archived objects over 250 MB are restored at up to 300 MB/s; deadlines plan for a quarter of that.
LARGE_OBJECT_BYTES = 250 * 10**6
BEST_BYTES_PER_SECOND = 300 * 10**6
SLOWEST_PLANNED_BYTES_PER_SECOND = 75 * 10**6
FIXED_STEP = 60  # a minute: the dense schedule's longest first step, the sparse one's shortest, the renewing wait
MAX_POLLS = 100  # the schedule travels in the state: kept small, it is renewed when used up
DENSE_STEP, DENSE_MIN_STEP = 0.095, 10  # no proof that events arrive: a lost one costs under 10 % of the wait
SPARSE_STEP = 0.25  # events proven to arrive: the polls only back up a lost one
INITIATED = "Object Restore Initiated"
THROTTLING_CODES = ("SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "503")


class RestoreDeadlineExceededError(Exception):
    """The restored copy was not readable by the deadline for its class and tier."""


class RestoreNotFoundError(Exception):
    """S3 shows no restore for the object: the copy expired or the request was never accepted."""


class ThrottledError(Exception):
    """S3 throttled the request after the SDK's own retries; the state machine retries with back-off."""


def window_for(storage_class: str, archive_status: str | None, tier: str, size_bytes: int) -> tuple[int, int]:
    """Typical (earliest, latest) completion for this object: the documented window plus the transfer of a large one."""
    deep = storage_class == "DEEP_ARCHIVE" or archive_status == "DEEP_ARCHIVE_ACCESS"
    earliest, latest = WINDOWS[("DEEP_ARCHIVE" if deep else "GLACIER", tier)]
    if size_bytes > LARGE_OBJECT_BYTES:
        transfer = math.ceil(size_bytes / BEST_BYTES_PER_SECOND)
        latest += transfer
        if tier == "Expedited":  # the 1-5 minutes hold "for all but the largest archived objects (250 MB+)"
            earliest += transfer
    return earliest, latest


def ceil_second(moment: datetime) -> str:
    """A time to the second, rounded up: a wait that sees it pass is never a fraction of a second early."""
    whole = moment.replace(microsecond=0)
    return (whole if whole == moment else whole + timedelta(seconds=1)).isoformat()


def deadline_seconds(window: tuple[int, int], size_bytes: int) -> int:
    return max(2 * window[1], window[1] + HOUR) + math.ceil(size_bytes / SLOWEST_PLANNED_BYTES_PER_SECOND)


def step_seconds(window: tuple[int, int], elapsed: float, confirmed: bool) -> float:
    """The wait before the next look (the schedule above); `confirmed`: this restore's events proved to arrive."""
    earliest, _latest = window
    if not confirmed:  # at least a tenth of the earliest typical time, 10 s to 60 s
        return max(min(FIXED_STEP, max(DENSE_MIN_STEP, DENSE_STEP * earliest)), DENSE_STEP * elapsed)
    if elapsed < earliest:
        return earliest - elapsed
    return max(FIXED_STEP, SPARSE_STEP * elapsed)  # proven events: the polls only back up a lost Completed


def next_check_seconds(window: tuple[int, int], elapsed: float, size_bytes: int = 0, confirmed: bool = False) -> int:
    """Seconds until the next check; raises once elapsed has reached the deadline."""
    deadline = deadline_seconds(window, size_bytes)
    if elapsed >= deadline:
        raise RestoreDeadlineExceededError(f"the restored copy was not readable {deadline / HOUR:g} h after the request")
    step = step_seconds(window, elapsed, confirmed)
    return max(1, math.ceil(min(step, deadline - elapsed)))


def poll_schedule(window: tuple[int, int], elapsed: float, size_bytes: int, confirmed: bool) -> list[int]:
    """The timeouts of the next waits (at most MAX_POLLS, to the deadline), and one more that is never waited: the
    wait that reaches it sends its token at once (wokenBy "schedule", or "deadline"), and this function runs again."""
    timeouts: list[int] = []
    deadline = deadline_seconds(window, size_bytes)
    while elapsed < deadline and len(timeouts) < MAX_POLLS:
        timeouts.append(next_check_seconds(window, elapsed, size_bytes, confirmed))
        elapsed += timeouts[-1]
    return [*timeouts, FIXED_STEP]


def parse_restore_header(header: str | None) -> tuple[bool, str | None]:
    """x-amz-restore: 'ongoing-request="true"' or 'ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"'.
    The expiry comes back in ISO 8601 (2012-12-21T00:00:00+00:00), as every time the restore record keeps."""
    if not header:
        return False, None
    ongoing = 'ongoing-request="true"' in header
    expiry = header.split('expiry-date="', 1)[1].split('"', 1)[0] if "expiry-date=" in header else None
    return ongoing, parsedate_to_datetime(expiry).isoformat(timespec="seconds") if expiry else None


def is_readable(head: Mapping[str, Any]) -> bool:
    if head.get("StorageClass", "STANDARD") not in ("GLACIER", "DEEP_ARCHIVE"):
        return head.get("ArchiveStatus") is None  # Intelligent-Tiering: a finished restore leaves the archive tier
    return 'ongoing-request="false"' in head.get("Restore", "")


def check_restore_status(s3_client: S3Client, request: dict[str, Any], restore: dict[str, Any], now: datetime) -> dict[str, Any]:
    bucket, key = request["recoveryPointBucket"], request["recoveryPoint"]
    try:
        head = s3_client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in THROTTLING_CODES:
            raise ThrottledError(f"S3 throttled HeadObject on s3://{bucket}/{key}") from error
        raise
    header = head.get("Restore")
    stamp = now.isoformat(timespec="seconds")
    size = restore["sizeBytes"]
    window = window_for(restore["storageClass"], restore["archiveStatus"], restore["tier"], size)
    # A restore we joined (409 or already ongoing) started at an unknown time: poll as if inside its window.
    since = restore.get("pollingSince") or restore["requestedAt"] or (now - timedelta(seconds=window[0])).isoformat()
    wake = restore.get("wake") or {}
    by_event = wake.get("wokenBy") == "event"
    record = {
        **restore,
        "checks": restore["checks"] + 1,
        "pollingSince": since,
        "deadlineAt": ceil_second(datetime.fromisoformat(since) + timedelta(seconds=deadline_seconds(window, size))),
        "eventsConfirmed": bool(restore.get("eventsConfirmed")) or by_event,
        "eventWakes": restore.get("eventWakes", 0) + by_event,
        "wake": None,
    }
    if is_readable(head):
        expiry = parse_restore_header(header)[1]
        logger.info("s3://%s/%s readable after %d checks", bucket, key, record["checks"])
        noticed = "event" if by_event and wake.get("event") != INITIATED else "poll"
        return {**record, "status": "ready-to-restore", "readyAt": stamp, "restoreExpiry": expiry, "noticedBy": noticed,
                "nextCheckSeconds": 0, "wait": None}  # fmt: skip
    if not header:
        raise RestoreNotFoundError(
            f"S3 shows no restore for s3://{bucket}/{key} (the copy expired or the request was not accepted); start a new execution"
        )
    elapsed = (now - datetime.fromisoformat(since)).total_seconds()
    # A wake-up is only a reason to look: the deadline's passing is computed here, from the saved record, never read from
    # the wake-up's payload (which a late, duplicated or forged SendTaskSuccess could carry).
    timeouts = poll_schedule(window, elapsed, size, record["eventsConfirmed"])
    if len(timeouts) == 1:  # past the deadline
        next_check_seconds(window, elapsed, size)
    wait = {"timeouts": timeouts, "next": 1, "seconds": timeouts[0], "count": len(timeouts)}  # count: "Is The ... Schedule Used Up?"
    return {**record, "status": "preparing-for-restore", "nextCheckSeconds": timeouts[0], "wait": wait}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return check_restore_status(s3, event["request"], event["restore"], datetime.now(UTC))
