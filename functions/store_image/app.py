"""Store Image: CreateStoreImageTask for one recovery point's AMI, exactly once: a task in progress is joined, an object
already stored is kept.

Invoked by the "Store Image" state, after Wait For Store Budget admitted the AMI's GB. Event: {"item": a Select Recovery
Points item, "quotaWaits": how many times EC2 refused it over its quota so far}.
Result: {"state": "started" | "joined" | "stored" | "quota", "startedAt", "deadlineAt", "pollSeconds", "quotaWaits"}
  started  a new store task; joined: one was in progress for this AMI and bucket (another run's, or this state's
  retry); stored: the object is in the bucket already (Verify Archive decides whether it is this point's archive);
  quota: EC2 refused the task over its in-progress quota (the state machine waits, then comes back here).
Raises StoreQuotaExceededError (refused over the quota MAX_QUOTA_WAITS times), ImageNotStorableError (EC2 refused the AMI:
its message says why), ThrottledError (the state retries).

The object's tags (S3ObjectTags, five of S3's ten per object, the rest left to AWS's own: EC2 User Guide, "How AMI store
and restore works") record the recovery point, its vault, the AMI's name and creation date and the backed-up resource;
S3 allows letters, digits, spaces and `+ - = . _ : / @` in tag values, so other characters of a name become `_`.
DescribeStoreImageTasks with ImageIds answers only the AMI's latest task, whatever its bucket (aws/aws-sdk#601), and
only for the last 31 days: an object older than that is found by HeadObject.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import S3ObjectTagTypeDef
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger()

_config = Config(retries={"mode": "standard", "max_attempts": 5})
ec2 = boto3.client("ec2", config=_config)
s3 = boto3.client("s3", config=_config)

MB = 10**6
# AWS documents no store throughput ("depends on the size", tasks are queued). ASSUMPTION: plan the first look at
# 50 MB/s, look at least every 5 min and at most every hour, and give up at 12 h plus the size at 20 MB/s.
PLANNED_BYTES_PER_SECOND = 50 * MB
SLOWEST_BYTES_PER_SECOND = 20 * MB
DEADLINE_MARGIN_SECONDS = 12 * 3600
MIN_POLL_SECONDS = 300
MAX_POLL_SECONDS = 3600
MAX_QUOTA_WAITS = 36  # EC2's refusals, 10 min apart (the state machine's wait): 6 h
STORE_QUOTA_CODES = ("ResourceLimitExceeded", "MaxStoreTasksExceeded")  # undocumented: the restore quota's code, and a guess
EC2_THROTTLING_CODES = ("RequestLimitExceeded", "Throttling", "ThrottlingException")
TAG_VALUE = re.compile(r"[^\w .:/=+@-]")
TAG_VALUE_MAX = 256


class StoreQuotaExceededError(Exception):
    """EC2 kept refusing the store task over its in-progress quota."""


class ImageNotStorableError(Exception):
    """EC2 refused to store this AMI."""


class ThrottledError(Exception):
    """EC2 throttled the call after the SDK's retries; the state retries with back-off."""


def object_tags(item: dict[str, Any]) -> dict[str, str]:
    """The five tags an archive's object carries, as Store Image sets them and Verify Archive expects them."""
    values = {
        "backup-recovery-point-arn": item["recoveryPointArn"],
        "backup-vault": item["vault"],
        "backup-ami-name": item["amiName"],
        "backup-ami-created": item["amiCreated"],
        "backup-resource-arn": item["resourceArn"],
    }
    return {k: TAG_VALUE.sub("_", v)[:TAG_VALUE_MAX] for k, v in values.items()}


def timing(size_bytes: int, started: datetime) -> dict[str, Any]:
    planned = size_bytes // PLANNED_BYTES_PER_SECOND
    deadline = started + timedelta(seconds=DEADLINE_MARGIN_SECONDS + size_bytes // SLOWEST_BYTES_PER_SECOND)
    return {"startedAt": started.isoformat(timespec="seconds"), "deadlineAt": deadline.isoformat(timespec="seconds"),
            "pollSeconds": min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, planned))}  # fmt: skip


def latest_task(ec2_client: EC2Client, image_id: str) -> dict[str, Any] | None:
    found = ec2_client.describe_store_image_tasks(ImageIds=[image_id])["StoreImageTaskResults"]
    return dict(found[0]) if found else None


def object_exists(s3_client: S3Client, bucket: str, key: str) -> bool:
    try:
        s3_client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def store_image(ec2_client: EC2Client, s3_client: S3Client, item: dict[str, Any], quota_waits: int, now: datetime) -> dict[str, Any]:
    image_id, bucket, key = item["imageId"], item["bucket"], item["key"]
    task = latest_task(ec2_client, image_id)
    if task is not None and task["Bucket"] == bucket and task["StoreTaskState"] in ("InProgress", "Completed"):
        state = "joined" if task["StoreTaskState"] == "InProgress" else "stored"
        return {"state": state, **timing(item["sizeBytes"], task["TaskStartTime"]), "quotaWaits": quota_waits}
    if object_exists(s3_client, bucket, key):
        return {"state": "stored", **timing(item["sizeBytes"], now), "quotaWaits": quota_waits}
    tags: list[S3ObjectTagTypeDef] = [{"Key": k, "Value": v} for k, v in object_tags(item).items()]
    try:
        ec2_client.create_store_image_task(ImageId=image_id, Bucket=bucket, S3ObjectTags=tags)
    except ClientError as error:
        code, message = error.response["Error"]["Code"], error.response["Error"].get("Message", "")
        if code in STORE_QUOTA_CODES:
            if quota_waits >= MAX_QUOTA_WAITS:
                raise StoreQuotaExceededError(
                    f"EC2 refused to store {image_id} over its in-progress store quota {quota_waits + 1} times"
                ) from error
            logger.info("EC2's store quota refused %s (%s): waiting", image_id, code)
            return {"state": "quota", **timing(item["sizeBytes"], now), "quotaWaits": quota_waits + 1}
        if code in EC2_THROTTLING_CODES:
            raise ThrottledError(f"EC2 throttled CreateStoreImageTask for {image_id}") from error
        task = latest_task(ec2_client, image_id)  # a task another run started meanwhile is refused as a second copy
        if task is not None and task["Bucket"] == bucket and task["StoreTaskState"] == "InProgress":
            return {"state": "joined", **timing(item["sizeBytes"], task["TaskStartTime"]), "quotaWaits": quota_waits}
        raise ImageNotStorableError(f"EC2 refused to store {image_id} in {bucket}: {code}: {message}") from error
    logger.info("storing %s into s3://%s/%s", image_id, bucket, key)
    return {"state": "started", **timing(item["sizeBytes"], now), "quotaWaits": quota_waits}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return store_image(ec2, s3, event["item"], int(event["quotaWaits"]), datetime.now(UTC))
