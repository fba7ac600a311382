"""Verify Archive: before anything else happens to the recovery point, prove from S3 that its archive is there: the
object exists, its size is plausible for the AMI, and it carries the tags Store Image gave it.

Invoked by the "Verify Archive" state once the store task completed. Event: {"item": a Select Recovery Points item}.
Result: {"sizeBytes": the object's size, "storageClass": its class now (STANDARD until the lifecycle rule moves it),
"storedAt": its LastModified}.
Raises ArchiveVerificationError saying what is wrong (nothing is tagged or deleted after it).

Plausible size: more than nothing, and no larger than the AMI's snapshot data plus a margin. EC2 compresses the data
on store (EC2 User Guide, "How AMI store and restore works"), so the object is usually smaller; blocks never written
are not stored, so a mostly empty volume makes a small object. ASSUMPTION: the container adds at most 5 % + 64 MiB.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger()

_config = Config(retries={"mode": "standard", "max_attempts": 5})
s3 = boto3.client("s3", config=_config)

TAG_VALUE = re.compile(r"[^\w .:/=+@-]")
TAG_VALUE_MAX = 256
OVERHEAD_RATIO = 1.05
OVERHEAD_BYTES = 64 * 2**20


class ArchiveVerificationError(Exception):
    """The object is missing, implausible, or not this recovery point's archive."""


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


def verify_archive(s3_client: S3Client, item: dict[str, Any]) -> dict[str, Any]:
    bucket, key, where = item["bucket"], item["key"], f"s3://{item['bucket']}/{item['key']}"
    try:
        head = s3_client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            raise ArchiveVerificationError(f"{where} does not exist although its store task completed") from error
        raise
    size, source = int(head["ContentLength"]), int(item["sizeBytes"])
    if size <= 0 or size > source * OVERHEAD_RATIO + OVERHEAD_BYTES:
        raise ArchiveVerificationError(f"{where} holds {size:,} bytes, implausible for an AMI of {source:,} bytes of snapshot data")
    found = {t["Key"]: t["Value"] for t in s3_client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
    wrong = sorted(k for k, v in object_tags(item).items() if found.get(k) != v)
    if wrong:
        raise ArchiveVerificationError(
            f"{where} is not this recovery point's archive: its tags {', '.join(wrong)} are missing or differ "
            f"(it names {found.get('backup-recovery-point-arn', 'no recovery point')})"
        )
    logger.info("verified %s: %d bytes, %s", where, size, head.get("StorageClass", "STANDARD"))
    return {"sizeBytes": size, "storageClass": head.get("StorageClass", "STANDARD"), "storedAt": head["LastModified"].isoformat()}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return verify_archive(s3, event["item"])
