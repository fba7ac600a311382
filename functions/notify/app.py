"""Notify: email the outcome through SNS ("Notify Success" and "Notify Failure" states).

Event (success): {"outcome": "succeeded", "executionId": "arn:...", "request": {...}, "restore": {...}, "image": {...}}
Event (failure): {"outcome": "failed", "executionId": "arn:...", "progress": <the state data when a Catch fired:
                  {"input": ..., "request"?: ..., "restore"?: ..., "image"?: ...,
                   "failed": {"RestoreImage": {"Error": "ImageNameConflictError", "Cause": "<Lambda error JSON or text>"}}}>}
                  The failing state's own Catch wrote the "failed" key: its name without spaces is the failed step.
Result: the summary that was emailed (the execution's output on success), plus "messageId"; on failure also the
        original "Error" and "Cause", which the Fail state "Restore Failed" reports.
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_sns import SNSClient

logger = logging.getLogger()

sns = boto3.client("sns")

ARCHIVED_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
# S3 Standard in us-east-1, first 50 TB: $0.023 per GB-month (a restored copy is billed as S3 Standard); an estimate.
STANDARD_USD_PER_GB_MONTH = 0.023
WHAT_TO_DO = {
    "InvalidInputError": "Fix the input as described above and start a new execution.",
    "RecoveryPointNotFoundError": "Check recoveryPoint and recoveryPointBucket (aws s3 ls s3://<bucket>/) and start a new execution.",
    "RecoveryPointAccessDeniedError": "Add the bucket to the stack parameter ArchiveBucketName (or fix its bucket policy) and redeploy.",
    "RestoreDeadlineExceededError": "S3 has not finished the restore. Check it with aws s3api head-object; when the Restore header "
    'shows ongoing-request="false", start a new execution: it will skip the restore.',
    "RestoreNotFoundError": "Start a new execution; consider a larger restoreRequestDays.",
    "RestoredCopyUnavailableError": "Start a new execution with a larger restoreRequestDays.",
    "RestoreQuotaExceededError": "Too many image restores are in progress in this account and Region; retry later.",
    "ImageRestoreFailedError": "Read the reason above; deregister the failed AMI (command above) before retrying.",
    "ImageRestoreDeadlineExceededError": "The AMI may still become available: check it with aws ec2 describe-images.",
    "ImageNameConflictError": "Pass a different amiName and start a new execution.",
}
# Check Image State raises these when DescribeImages shows the image `failed`.
IMAGE_FAILED_ERRORS = ("ImageRestoreFailedError", "RestoredCopyUnavailableError")
LAMBDA_WHAT_TO_DO = (
    "AWS Lambda kept failing after the state's retries: read the function's logs, then start a new execution "
    "(it reuses a restore in progress or a restored copy)."
)


def console_url(region: str, image_id: str) -> str:
    domain = {"cn-": "console.amazonaws.cn", "us-gov-": "console.amazonaws-us-gov.com"}
    host = next((d for prefix, d in domain.items() if region.startswith(prefix)), "console.aws.amazon.com")
    return f"https://{region}.{host}/ec2/home?region={region}#ImageDetails:imageId={image_id}"


def error_message(cause: str) -> str:
    """A Lambda error's Cause is JSON with errorMessage; other errors carry plain text."""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        return str(cause)
    return str(parsed.get("errorMessage", cause)) if isinstance(parsed, dict) else str(cause)


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


def usd_per_day(size_bytes: int) -> str:
    cost = size_bytes / 10**9 * STANDARD_USD_PER_GB_MONTH / 30
    return f"${cost:,.2f}" if cost >= 1 else f"${cost:.2g}"


def copy_cost(size_bytes: int) -> str:
    return (
        f"about {usd_per_day(size_bytes)} per day (estimate: {human_size(size_bytes)} at S3 Standard's "
        f"${STANDARD_USD_PER_GB_MONTH} per GB-month)"
    )


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
        "storageClass": restore["storageClass"] + (f" ({restore['archiveStatus']})" if restore["archiveStatus"] else ""),
        "restoreTier": restore["tier"],
        "tierNote": tier_note,
        "restoreOutcome": restore["requestOutcome"],
        "restoreSummary": restore_text(restore),
        "restoreRequestedAt": restore["requestedAt"],
        "copyReadyAt": restore["readyAt"],
        "copyExpiresAt": restore["restoreExpiry"],
        "copyExtendedFrom": restore.get("copyExtendedFrom"),
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


NOTICED = {
    "copy": {"event": "S3's Object Restore Completed event", "poll": "polling"},
    "image": {"event": "EC2's AMI State Change event", "poll": "polling"},
}


def noticed_text(summary: dict[str, Any]) -> str | None:
    """How the workflow learnt that the copy was readable and that the image was available."""
    parts = [
        f"{what} by {NOTICED[what][by]}"
        for what, by in (("copy", summary.get("copyNoticedBy")), ("image", summary.get("imageNoticedBy")))
        if by
    ]
    return "; ".join(parts) if parts else None


def state_name(key: str) -> str:
    """ "RestoreImage" -> "Restore Image": each Task's Catch writes $.failed.<its name without spaces>."""
    return re.sub(r"(?<!^)([A-Z])", r" \1", key)


def left_in_place(step: str, error: str, progress: dict[str, Any], execution_id: str, region: str) -> list[str]:
    """What this run made that is still in AWS, from the state data (Notify has no permission to look). A handler's
    own named error (…Error) means it changed nothing; a Lambda error or timeout may have lost the result of a call."""
    lost = not error.endswith("Error")
    request, restore, image = progress.get("request"), progress.get("restore"), progress.get("image") or {}
    found: list[str] = []
    if request and restore:
        where = f"s3://{request['recoveryPointBucket']}/{request['recoveryPoint']}"
        size = restore["sizeBytes"]
        if step == "Request Restore" and lost:
            found.append(
                f"A restore of {where} may have been requested before the failure: check the Restore header with "
                f"aws s3api head-object --bucket {request['recoveryPointBucket']} --key {request['recoveryPoint']}"
            )
        elif restore["status"] == "ready-to-restore" and restore["restoreExpiry"]:
            made = "" if restore["requestOutcome"] == "requested" else " (restored before this run)"
            found.append(
                f"The temporary restored copy of {where}{made}: it expires {when(restore['restoreExpiry'])}; "
                f"until then it costs {copy_cost(size)}."
            )
        elif restore["status"] == "preparing-for-restore" and restore["requestOutcome"] in ("requested", "joined-restore-in-progress"):
            lasts = (
                ""
                if restore["storageClass"] == "INTELLIGENT_TIERING"
                else (f"; when S3 finishes, its copy lives {request['restoreRequestDays']} day(s) and costs {copy_cost(size)}")
            )
            found.append(f"The restore of {where} is still in progress{lasts}.")
    failed = image.get("failedImageIds") or []
    image_id = image.get("imageId") if image.get("state") in ("pending", "available", "failed") else None
    if image_id in failed:
        image_id = None
    if image_id and image.get("state") == "available":
        found.append(f"AMI {image_id} ({image['imageName']}) is available: the restore itself succeeded.")
    elif image_id:
        seen = "failed" if error in IMAGE_FAILED_ERRORS else f"{image['state']} when last checked"
        found.append(
            f"AMI {image_id} ({image['imageName']}), {seen}: if you do not keep it, run "
            f"aws ec2 deregister-image --region {region} --image-id {image_id} (and delete its snapshots, tagged "
            "glacier-ami-restore:execution with this execution)."
        )
    elif step == "Restore Image" and lost:
        found.append(
            "An AMI may have been created before the failure: aws ec2 describe-images --owners self --region "
            f"{region} --filters Name=tag:glacier-ami-restore:execution,Values={execution_id}"
        )
    if failed:
        found.append(
            f"AMIs {', '.join(failed)} failed over EC2's in-progress restore quota: deregister each with "
            f"aws ec2 deregister-image --region {region} --image-id <id>."
        )
    return found


def failure_summary(event: dict[str, Any], region: str) -> dict[str, Any]:
    progress, execution_id = event["progress"], event["executionId"]
    ((key, error),) = (progress.get("failed") or {"Unknown": {}}).items()
    step = state_name(key)
    name, cause = error.get("Error", "Unknown"), error.get("Cause", "")
    if step == "Notify Success":
        advice: str | None = "The AMI is restored (above); only the success email failed. Nothing to redo."
    else:
        advice = WHAT_TO_DO.get(name) or (LAMBDA_WHAT_TO_DO if name.startswith(("Lambda.", "Sandbox.", "States.Timeout")) else None)
    return {
        "status": "FAILED",
        "failedStep": step,
        "error": name,
        "cause": error_message(cause),
        "leftInPlace": left_in_place(step, name, progress, execution_id, region),
        "changedNothing": step in ("Validate Input", "Check Storage Class"),
        "whatToDo": advice or "Read the cause above and the execution history.",
        "input": progress["input"],
        "execution": execution_id,
        "Error": name,
        "Cause": cause,
    }


def render(summary: dict[str, Any]) -> tuple[str, str]:
    if summary["status"] == "SUCCEEDED":
        subject = f"AMI restored: {summary['imageId']} in {summary['region']}"
        lines = [
            f"The recovery point {summary['recoveryPoint']} is restored as {summary['imageId']} "
            f"({summary['imageName']}) in {summary['region']}.",
            "",
            f"Storage class:         {summary['storageClass']}",
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
    else:
        subject = f"AMI restore failed: {summary['error']} at {summary['failedStep']}"
        if summary["changedNothing"]:
            left = ["Nothing was changed in AWS."]
        elif summary["leftInPlace"]:
            left = ["Left in place:", *(f"- {item}" for item in summary["leftInPlace"])]
        else:
            left = ["Nothing this run made is left in AWS."]
        lines = [
            f"The restore stopped at '{summary['failedStep']}' with {summary['error']}:",
            f"  {summary['cause']}",
            "",
            *left,
            "",
            f"What to do: {summary['whatToDo']}",
            "",
            f"Input: {json.dumps(summary['input'], ensure_ascii=False)[:2000]}",
        ]
    lines += ["", f"Execution: {summary['execution']}"]
    # SNS subjects: at most 100 printable ASCII characters, no line breaks.
    subject = "".join(c if 32 <= ord(c) < 127 else "?" for c in subject)[:100]
    return subject, "\n".join(lines)


def notify(sns_client: SNSClient, topic_arn: str, event: dict[str, Any]) -> dict[str, Any]:
    region = topic_arn.split(":")[3]
    summary = success_summary(event) if event["outcome"] == "succeeded" else failure_summary(event, region)
    subject, message = render(summary)
    message_id = sns_client.publish(TopicArn=topic_arn, Subject=subject, Message=message)["MessageId"]
    logger.info("published %s: %s", message_id, subject)
    return {**summary, "messageId": message_id}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return notify(sns, os.environ["TOPIC_ARN"], event)
