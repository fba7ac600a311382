"""Notify: email the outcome through SNS ("Notify Success" and "Notify Failure" states).

Event (success): {"outcome": "succeeded", "executionId": "arn:...", "request": {...}, "restore": {...}, "image": {...}}
Event (failure): {"outcome": "failed", "executionId": "arn:...", "progress": <the state data when a Catch fired:
                  {"input": ..., "request"?: ..., "restore"?: ..., "image"?: ...,
                   "error": {"Error": "InvalidInputError", "Cause": "<Lambda error JSON or text>"}}>}
Result: the summary that was emailed (the execution's output on success), plus "messageId".
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_sns import SNSClient

logger = logging.getLogger()

sns = boto3.client("sns")

# Failures before "Request Restore" have changed nothing in AWS.
READ_ONLY_STEPS = ("Validate Input", "Check Storage Class")
WHAT_TO_DO = {
    "InvalidInputError": "Fix the input as described above and start a new execution.",
    "RecoveryPointNotFoundError": "Check recoveryPoint and recoveryPointBucket (aws s3 ls s3://<bucket>/) and start a new execution.",
    "RecoveryPointAccessDeniedError": "Add the bucket to the stack parameter ArchiveBucketName (or fix its bucket policy) and redeploy.",
    "RestoreDeadlineExceededError": "S3 has not finished the restore. Check it with aws s3api head-object; when the Restore header "
    'shows ongoing-request="false", start a new execution: it will skip the restore.',
    "RestoreNotFoundError": "Start a new execution; consider a larger restoreRequestDays.",
    "RestoredCopyUnavailableError": "Start a new execution with a larger restoreRequestDays.",
    "RestoreQuotaExceededError": "Too many image restores are in progress in this account and Region; retry later.",
    "ImageRestoreFailedError": "Read the reason above; deregister the failed AMI (aws ec2 deregister-image) before retrying.",
    "ImageRestoreDeadlineExceededError": "The AMI may still become available: check it with aws ec2 describe-images.",
    "ImageNameConflictError": "Pass a different amiName and start a new execution.",
}


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
        "restoreRequestedAt": restore["requestedAt"],
        "copyReadyAt": restore["readyAt"],
        "copyExpiresAt": restore["restoreExpiry"],
        "copyExtendedFrom": restore.get("copyExtendedFrom"),
        "sizeBytes": restore["sizeBytes"],
        "imageRequestedAt": image["requestedAt"],
        "imageAvailableAt": image["availableAt"],
        "consoleUrl": console_url(image["region"], image["imageId"]),
        "failedImageIds": image.get("failedImageIds", []),
        "execution": event["executionId"],
    }


def failed_step(progress: dict[str, Any]) -> str:
    """Each step writes its own result key, so the first one missing or unfinished names the step that failed."""
    restore, image = progress.get("restore"), progress.get("image")
    if "request" not in progress:
        return "Validate Input"
    if restore is None:
        return "Check Storage Class"
    if image is None:
        return "Request Restore" if restore["requestOutcome"] is None else "Check Restore Status"
    if image["state"] == "not-started":
        return "Restore Image" if "copyExtension" in restore else "Extend Copy"
    if image["state"] == "waiting-for-quota":
        return "Restore Image"
    return "Check Image State" if image["state"] != "available" else "Notify Success"


def failure_summary(event: dict[str, Any]) -> dict[str, Any]:
    progress = event["progress"]
    error = progress["error"]
    step = failed_step(progress)
    return {
        "status": "FAILED",
        "failedStep": step,
        "error": error.get("Error", "Unknown"),
        "cause": error_message(error.get("Cause", "")),
        "changedNothing": step in READ_ONLY_STEPS,
        "whatToDo": WHAT_TO_DO.get(error.get("Error", ""), "Read the cause above and the execution history."),
        "input": progress["input"],
        "execution": event["executionId"],
    }


def render(summary: dict[str, Any]) -> tuple[str, str]:
    if summary["status"] == "SUCCEEDED":
        subject = f"AMI restored: {summary['imageId']} in {summary['region']}"
        lines = [
            f"The recovery point {summary['recoveryPoint']} is restored as {summary['imageId']} "
            f"({summary['imageName']}) in {summary['region']}.",
            "",
            f"Storage class:         {summary['storageClass']}",
            f"Size:                  {summary['sizeBytes'] / 10**9:,.1f} GB",
            f"Restore tier:          {summary['restoreTier'] or 'none needed'}",
            f"Restore requested at:  {summary['restoreRequestedAt'] or 'not by this run (' + summary['restoreOutcome'] + ')'}",
            f"Copy readable at:      {summary['copyReadyAt']}",
            f"Copy expires at:       {summary['copyExpiresAt'] or 'n/a'}",
            f"Image requested at:    {summary['imageRequestedAt']}",
            f"Image available at:    {summary['imageAvailableAt']}",
            f"Console:               {summary['consoleUrl']}",
        ]
        if summary["tierNote"]:
            lines.append(f"Note: {summary['tierNote']}")
        if summary["failedImageIds"]:
            lines.append(
                f"Note: {', '.join(summary['failedImageIds'])} failed over EC2's in-progress restore quota and were left in place; "
                "deregister them with aws ec2 deregister-image."
            )
        if summary["copyExtendedFrom"]:
            lines.append(f"Note: the copy was extended from {summary['copyExtendedFrom']} so that it outlives the image restore.")
    else:
        subject = f"AMI restore failed: {summary['error']} at {summary['failedStep']}"
        lines = [
            f"The restore stopped at '{summary['failedStep']}' with {summary['error']}:",
            f"  {summary['cause']}",
            "",
            "Nothing was changed in AWS." if summary["changedNothing"] else "Resources made so far are left in place.",
            f"What to do: {summary['whatToDo']}",
            "",
            f"Input: {json.dumps(summary['input'], ensure_ascii=False)[:2000]}",
        ]
    lines += ["", f"Execution: {summary['execution']}"]
    # SNS subjects: at most 100 printable ASCII characters, no line breaks.
    subject = "".join(c if 32 <= ord(c) < 127 else "?" for c in subject)[:100]
    return subject, "\n".join(lines)


def notify(sns_client: SNSClient, topic_arn: str, event: dict[str, Any]) -> dict[str, Any]:
    summary = success_summary(event) if event["outcome"] == "succeeded" else failure_summary(event)
    subject, message = render(summary)
    message_id = sns_client.publish(TopicArn=topic_arn, Subject=subject, Message=message)["MessageId"]
    logger.info("published %s: %s", message_id, subject)
    return {**summary, "messageId": message_id}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return notify(sns, os.environ["TOPIC_ARN"], event)
