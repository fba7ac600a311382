"""A bucket's "Send notifications to Amazon EventBridge" setting, read and changed without touching the rest.

S3 sends the restore events (`Object Restore Initiated`, `Completed`, `Expired`) to EventBridge only while the bucket's
notification configuration holds `EventBridgeConfiguration`. PutBucketNotificationConfiguration replaces the whole
document, so a change is a read-modify-write: GetBucketNotificationConfiguration, the same document with only
`EventBridgeConfiguration` added (or removed), Put, then a read-back that must show that document. S3 has no
conditional write for it: a change someone else makes between our read and our write is lost, and the read-back
says so. AWS says the setting takes about five minutes to take effect.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from glacier_ami_restore import archive
from glacier_ami_restore.aws import POOL_SIZE, Aws, CliError

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import NotificationConfigurationTypeDef

EVENTBRIDGE = "EventBridgeConfiguration"
KINDS = ("TopicConfigurations", "QueueConfigurations", "LambdaFunctionConfigurations")  # the other destinations
SETTLING = timedelta(minutes=5)  # S3 User Guide, enable-event-notifications-eventbridge: "around five minutes"
READ, WRITE = "s3:GetBucketNotification", "s3:PutBucketNotification"  # the IAM actions of the Get and the Put


@dataclass(frozen=True)
class Setting:
    """One bucket's notification configuration, as Put takes it."""

    bucket: str
    document: dict[str, Any]

    @property
    def eventbridge(self) -> bool:
        return EVENTBRIDGE in self.document

    def count(self, kind: str) -> int:
        return len(self.document.get(kind) or [])

    def as_json(self) -> dict[str, Any]:
        counts = {kind[0].lower() + kind[1:]: self.count(kind) for kind in KINDS}
        return {"bucket": self.bucket, "eventBridge": self.eventbridge, **counts}


def document(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration in a Get answer: everything but the response metadata, a copy."""
    return {k: copy.deepcopy(v) for k, v in answer.items() if k != "ResponseMetadata"}


def with_eventbridge(current: Mapping[str, Any], on: bool) -> dict[str, Any]:
    """The document to put: `current` with EventBridge on (or off), every other configuration exactly as it was."""
    wanted = document(current)
    if on:
        wanted.setdefault(EVENTBRIDGE, {})
    else:
        wanted.pop(EVENTBRIDGE, None)
    return wanted


def canonical(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """For comparing a read-back with what was written: S3 documents no order for the configurations or their filter
    rules, and answers rule names as `Prefix`/`Suffix` whatever case was written (aws/aws-sdk#389)."""

    def folded(item: Mapping[str, Any]) -> str:
        item = copy.deepcopy(dict(item))
        rules = item.get("Filter", {}).get("Key", {}).get("FilterRules")
        if rules is not None:
            item["Filter"]["Key"]["FilterRules"] = sorted(
                ({**r, "Name": str(r.get("Name", "")).lower()} for r in rules), key=lambda r: json.dumps(r, sort_keys=True)
            )
        return json.dumps(item, sort_keys=True)

    found: dict[str, Any] = {}
    for key, value in configuration.items():
        if key in KINDS and value:
            found[key] = sorted(folded(item) for item in value)
        elif key not in KINDS and key != "ResponseMetadata":
            found[key] = value
    return found


def refused(aws: Aws, bucket: str, error: ClientError, action: str, doing: str) -> CliError | None:
    """What to tell the operator when S3 refused a Get or Put (None: nothing to add to S3's error)."""
    code = error.response["Error"]["Code"]
    if code == "NoSuchBucket":
        return CliError(f"bucket '{bucket}' does not exist in {aws.region}: check --bucket and --region")
    if code in ("AccessDenied", "403"):
        partition = aws.session.get_partition_for_region(aws.region)
        return CliError(
            f"access denied {doing} the notification configuration of s3://{bucket}: the caller needs {action} on "
            f"arn:{partition}:s3:::{bucket} (the bucket belongs to the archive side: ask its owner)"
        )
    return None


def read(aws: Aws, bucket: str) -> Setting:
    try:
        answer = aws.s3().get_bucket_notification_configuration(Bucket=bucket)
    except ClientError as error:
        if (problem := refused(aws, bucket, error, READ, "reading")) is None:
            raise
        raise problem from error
    return Setting(bucket, document(answer))


def statuses(aws: Aws, buckets: Iterable[str]) -> list[Setting]:
    with ThreadPoolExecutor(max_workers=POOL_SIZE) as pool:
        return list(pool.map(lambda bucket: read(aws, bucket), buckets))


def holds_archive(aws: Aws, bucket: str) -> bool:
    """Whether the bucket holds a `.bin` object, as `list` counts them (the listing stops at the first one)."""
    pages = aws.s3().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    try:
        return any(o["Key"].endswith(".bin") for page in pages for o in page.get("Contents", []))
    except ClientError as error:
        if (problem := archive.listing_error(aws, bucket, error)) is None:
            raise
        raise problem from error


def archive_buckets(aws: Aws) -> list[str]:
    """The Region's buckets that hold archived AMIs, by name."""
    buckets = archive.list_buckets(aws)
    with ThreadPoolExecutor(max_workers=POOL_SIZE) as pool:
        holding = list(pool.map(lambda bucket: holds_archive(aws, bucket), buckets))
    return sorted(b for b, holds in zip(buckets, holding, strict=True) if holds)


def change(aws: Aws, before: Setting, on: bool) -> Setting:
    """Turn EventBridge on (or off) keeping the rest, and return what S3 answers afterwards; no Put if it already is."""
    if before.eventbridge == on:
        return before
    wanted = with_eventbridge(before.document, on)
    try:
        # SkipDestinationValidation: the Put only carries the existing topic, queue and function configurations back,
        # and S3 would validate each again, sending every topic and queue an s3:TestEvent and refusing the whole Put
        # if any of them no longer accepts S3's messages (the archive side's to fix, not this change's). EventBridge
        # itself has nothing to validate. Left as they were, those destinations are no worse than before.
        aws.s3().put_bucket_notification_configuration(
            Bucket=before.bucket, NotificationConfiguration=cast("NotificationConfigurationTypeDef", wanted), SkipDestinationValidation=True
        )
    except ClientError as error:
        if (problem := refused(aws, before.bucket, error, WRITE, "writing")) is None:
            raise
        raise problem from error
    after = read(aws, before.bucket)
    if canonical(after.document) != canonical(wanted):
        raise CliError(
            f"s3://{before.bucket}: the notification configuration read back is not the one written (changed by someone else "
            f"meanwhile?): compare `aws s3api get-bucket-notification-configuration --bucket {before.bucket}` with what the "
            "archive side expects",
            exit_code=1,
        )
    return after
