"""Notify Success: email the restored AMI's id and every fact of its restore through SNS.

Event:  {"executionId": "arn:...", "request": <Validate Input's result>, "restore": <the restore record>,
         "image": <Check Image State's result, state "available">}
Result: the summary that was emailed (the execution's output), plus "messageId":
        {"status": "SUCCEEDED", "imageId": "ami-0fedcba9876543210", "imageName": "...", "region": "us-east-1",
         "recoveryPoint": "s3://my-ami-archive/ami-0123456789abcdef0.bin", "storageClass": "DEEP_ARCHIVE",
         "archiveStatus": null, ..., "copyExpiresAt": "2026-01-08T00:00:00+00:00", ...,
         "consoleUrl": "https://...", "execution": "arn:...", "messageId": "..."}
An execution that a batch started (Validate Input kept its parent as request.startedBy) sends no email of its own:
the summary is its output, "messageId" is null, and the batch emails one summary of all its AMIs.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_sns import SNSClient

logger = logging.getLogger()

sns = boto3.client("sns")

ARCHIVED_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
NOTICED = {
    "copy": {"event": "S3's Object Restore Completed event", "poll": "polling"},
    "image": {"event": "EC2's AMI State Change event", "poll": "polling"},
}


def console_url(region: str, image_id: str) -> str:
    domain = {"cn-": "console.amazonaws.cn", "us-gov-": "console.amazonaws-us-gov.com"}
    host = next((d for prefix, d in domain.items() if region.startswith(prefix)), "console.aws.amazon.com")
    return f"https://{region}.{host}/ec2/home?region={region}#ImageDetails:imageId={image_id}"


def human_size(size_bytes: int) -> str:
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:,.1f} {unit}"
    return f"{size_bytes:,} bytes"


def when(stamp: str | None) -> str:
    """ISO 8601 (our records) or RFC 1123 (S3's expiry-date) as one format: 2026-01-05 09:00:00 UTC."""
    if not stamp:
        return "-"
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        moment = parsedate_to_datetime(stamp)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def iso_time(stamp: str | None) -> str | None:
    """A time of the output in ISO 8601. The restore record keeps S3's expiry so; a record made before it did (an
    execution that ran through a stack update) may still hold S3's RFC 1123 date."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp).isoformat(timespec="seconds")
    except ValueError:
        return parsedate_to_datetime(stamp).isoformat(timespec="seconds")


def class_label(storage_class: str, archive_status: str | None) -> str:
    """INTELLIGENT_TIERING/ARCHIVE_ACCESS, as the command line and the refusal of Expedited write it."""
    return f"{storage_class}/{archive_status}" if archive_status else storage_class


def sns_subject(text: str) -> str:
    """SNS subjects: at most 100 printable ASCII characters, no line breaks."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:100]


def started_by_a_batch(event: dict[str, Any]) -> str | None:
    """The batch execution that started this one, if any: Validate Input keeps it as request.startedBy only once it
    found that execution to be this one's batch (an input's claim alone silences nothing)."""
    request = event.get("request") or (event.get("progress") or {}).get("request") or {}
    parent = request.get("startedBy")
    return str(parent) if parent else None


def restore_text(restore: dict[str, Any]) -> str:
    outcome, storage_class = restore["requestOutcome"], restore["storageClass"]
    if outcome == "not-needed":
        if storage_class in ARCHIVED_CLASSES:
            return "no restore needed (S3 answered that the object is no longer archived)"
        return f"no restore needed (the object is readable: {storage_class})"
    if outcome == "joined-restore-in-progress":
        return "joined a restore already in progress"
    if outcome == "restored-before-this-run":
        return "the copy was already restored"
    return f"requested at {when(restore['requestedAt'])}, {restore['tier']} tier"


def success_summary(event: dict[str, Any]) -> dict[str, Any]:
    request, restore, image = event["request"], event["restore"], event["image"]
    tier_note = None
    if restore["tier"] and restore["tier"] != request["requestedTier"]:
        tier_note = f"{request['requestedTier']} capacity was not available; the restore used {restore['tier']}."
    return {
        "status": "SUCCEEDED",
        "imageId": image["imageId"],
        "imageName": image["imageName"],
        "region": image["region"],
        "recoveryPoint": f"s3://{request['recoveryPointBucket']}/{request['recoveryPoint']}",
        "storageClass": restore["storageClass"],
        "archiveStatus": restore["archiveStatus"],
        "restoreTier": restore["tier"],
        "tierNote": tier_note,
        "restoreOutcome": restore["requestOutcome"],
        "restoreSummary": restore_text(restore),
        "restoreRequestedAt": restore["requestedAt"],
        "copyReadyAt": restore["readyAt"],
        "copyExpiresAt": iso_time(restore["restoreExpiry"]),
        "copyExtendedFrom": iso_time(restore.get("copyExtendedFrom")),
        "sizeBytes": restore["sizeBytes"],
        "imageRequestedAt": image["requestedAt"],
        "imageAvailableAt": image["availableAt"],
        "consoleUrl": console_url(image["region"], image["imageId"]),
        "failedImageIds": image.get("failedImageIds", []),
        "copyNoticedBy": restore.get("noticedBy"),
        "imageNoticedBy": image.get("noticedBy"),
        "bucketSendsEvents": restore.get("bucketSendsEvents"),
        "bucket": request["recoveryPointBucket"],
        "execution": event["executionId"],
    }


def noticed_text(summary: dict[str, Any]) -> str | None:
    """How the workflow learnt that the copy was readable and that the image was available."""
    parts = [
        f"{what} by {NOTICED[what][by]}"
        for what, by in (("copy", summary.get("copyNoticedBy")), ("image", summary.get("imageNoticedBy")))
        if by
    ]
    return "; ".join(parts) if parts else None


def render_success(summary: dict[str, Any]) -> tuple[str, str]:
    """The email: (subject, message)."""
    subject = f"AMI restored: {summary['imageId']} in {summary['region']}"
    lines = [
        f"The recovery point {summary['recoveryPoint']} is restored as {summary['imageId']} "
        f"({summary['imageName']}) in {summary['region']}.",
        "",
        f"Storage class:         {class_label(summary['storageClass'], summary['archiveStatus'])}",
        f"Size:                  {human_size(summary['sizeBytes'])}",
        f"Restore:               {summary['restoreSummary']}",
    ]
    if summary["copyExpiresAt"]:
        if summary["restoreOutcome"] != "restored-before-this-run":
            lines.append(f"Copy readable at:      {when(summary['copyReadyAt'])}")
        lines.append(f"Copy expires at:       {when(summary['copyExpiresAt'])}")
    elif summary["restoreOutcome"] == "requested":  # Intelligent-Tiering: the object itself moves back, no copy
        lines.append(f"Readable at:           {when(summary['copyReadyAt'])}")
    lines += [
        f"Image requested at:    {when(summary['imageRequestedAt'])}",
        f"Image available at:    {when(summary['imageAvailableAt'])}",
        f"Console:               {summary['consoleUrl']}",
    ]
    if noticed := noticed_text(summary):
        lines.append(f"Noticed:               {noticed}")
    if summary["tierNote"]:
        lines.append(f"Note: {summary['tierNote']}")
    if summary.get("bucketSendsEvents") is False and summary.get("copyNoticedBy") != "event":
        lines.append(
            f"Note: the bucket {summary['bucket']} does not send events to Amazon EventBridge, so the restore was noticed by "
            f"polling only; glacier-ami-restore events enable --bucket {summary['bucket']} turns them on."
        )
    if summary["failedImageIds"]:
        lines.append(
            f"Note: {', '.join(summary['failedImageIds'])} failed over EC2's in-progress restore quota and were left in place; "
            "deregister them with aws ec2 deregister-image."
        )
    if summary["copyExtendedFrom"]:
        lines.append(f"Note: the copy was extended from {when(summary['copyExtendedFrom'])} so that it outlives the image restore.")
    lines += ["", f"Execution: {summary['execution']}"]
    return sns_subject(subject), "\n".join(lines)


def notify_success(sns_client: SNSClient, topic_arn: str, event: dict[str, Any]) -> dict[str, Any]:
    summary = success_summary(event)
    if parent := started_by_a_batch(event):
        logger.info("part of batch %s: its summary emails this outcome", parent)
        return {**summary, "messageId": None}
    subject, message = render_success(summary)
    message_id = sns_client.publish(TopicArn=topic_arn, Subject=subject, Message=message)["MessageId"]
    logger.info("published %s: %s", message_id, subject)
    return {**summary, "messageId": message_id}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return notify_success(sns, os.environ["TOPIC_ARN"], event)
