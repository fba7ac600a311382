"""Notify Failure: email which step failed, why, what this run left in AWS and what to do, through SNS.

Event:  {"executionId": "arn:...", "progress": <the state data when a Catch fired:
         {"request"?: ..., "restore"?: ..., "image"?: ...,
          "failed": {"RestoreImage": {"Error": "ImageNameConflictError", "Cause": "<Lambda error JSON or text>"}}}>}
         The failing state's own Catch wrote the "failed" key: its name without spaces is the failed step. The
         execution's input is read here (DescribeExecution), and shown cut: the state never carries it whole.
Result: the summary that was emailed, plus "messageId" and the original "Error" and "Cause", which the Fail state
        "Restore Failed" reports:
        {"status": "FAILED", "failedStep": "Restore Image", "error": "ImageNameConflictError", "cause": "...",
         "leftInPlace": [...], "changedNothing": false, "whatToDo": "...", "input": ..., "execution": "arn:...",
         "Error": "ImageNameConflictError", "Cause": "...", "messageId": "..."}
An execution that a batch started (Validate Input found its AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID to name a
running batch that names its children so) sends no email of its own: "messageId" is null, and the batch emails one
summary of all its AMIs.
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
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger()

sns = boto3.client("sns")
sfn = boto3.client("stepfunctions")

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
    "EmptySelectionError": "Fix the selector (see the archive with glacier-ami-restore list) and start a new execution.",
}
# Check Image State raises these when DescribeImages shows the image `failed`.
IMAGE_FAILED_ERRORS = ("ImageRestoreFailedError", "RestoredCopyUnavailableError")
LAMBDA_WHAT_TO_DO = (
    "AWS Lambda kept failing after the state's retries: read the function's logs, then start a new execution "
    "(it reuses a restore in progress or a restored copy)."
)
# The steps that fail before any side effect (Plan Batch only when it refuses the batch, before any restore).
CHANGE_NOTHING = ("Validate Input", "Validate Batch", "Check Storage Class", "Resolve Selection", "Restore As A Batch")
PLAN_REFUSALS = ("InvalidInputError", "RecoveryPointNotFoundError", "RecoveryPointAccessDeniedError")
BATCH_STEPS = ("Validate Batch", "Resolve Selection", "Plan Batch", "Restore Each AMI", "Notify Batch Summary")
SHOWN_INPUT_CHARACTERS = 2000


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


def sns_subject(text: str) -> str:
    """SNS subjects: at most 100 printable ASCII characters, no line breaks."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:100]


def started_by_a_batch(event: dict[str, Any]) -> str | None:
    """The batch execution that started this one, if any: Validate Input keeps it as request.startedBy only once it
    found that execution to be this one's batch (an input's claim alone silences nothing)."""
    request = event.get("request") or (event.get("progress") or {}).get("request") or {}
    parent = request.get("startedBy")
    return str(parent) if parent else None


def shown_input(given: Any) -> str:
    """The input as JSON, cut to SHOWN_INPUT_CHARACTERS (an input may be up to 256 KiB), with control characters
    escaped (json.dumps does), so that no input can forge lines of the email."""
    text = json.dumps(given, ensure_ascii=False)
    if len(text) <= SHOWN_INPUT_CHARACTERS:
        return text
    return (
        f"{text[:SHOWN_INPUT_CHARACTERS]}... (cut: {len(text.encode()):,} bytes in all; the execution's input in the console has it whole)"
    )


def usd_per_day(size_bytes: int) -> str:
    cost = size_bytes / 10**9 * STANDARD_USD_PER_GB_MONTH / 30
    return f"${cost:,.2f}" if cost >= 1 else f"${cost:.2g}"


def copy_cost(size_bytes: int) -> str:
    return (
        f"about {usd_per_day(size_bytes)} per day (estimate: {human_size(size_bytes)} at S3 Standard's "
        f"${STANDARD_USD_PER_GB_MONTH} per GB-month)"
    )


def state_name(key: str) -> str:
    """ "RestoreImage" -> "Restore Image": each Task's Catch writes $.failed.<its name without spaces>."""
    return re.sub(r"(?<!^)([A-Z])", r" \1", key)


def left_in_place(step: str, error: str, progress: dict[str, Any], execution_id: str, region: str) -> list[str]:
    """What this run made that is still in AWS, from the state data (Notify Failure has no permission to look). A
    handler's own named error (…Error) means it changed nothing; a Lambda error or timeout may have lost the result of a
    call."""
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


def failure_summary(event: dict[str, Any], region: str, given: Any) -> dict[str, Any]:
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
        "changedNothing": step in CHANGE_NOTHING or (step == "Plan Batch" and name in PLAN_REFUSALS),
        "whatToDo": advice or "Read the cause above and the execution history.",
        "input": shown_input(given),
        "execution": execution_id,
        "Error": name,
        "Cause": cause,
    }


def render_failure(summary: dict[str, Any]) -> tuple[str, str]:
    """The email: (subject, message)."""
    what = "batch restore" if summary["failedStep"] in BATCH_STEPS else "restore"
    subject = f"AMI {what} failed: {summary['error']} at {summary['failedStep']}"
    if summary["changedNothing"]:
        left = ["Nothing was changed in AWS."]
    elif summary["leftInPlace"]:
        left = ["Left in place:", *(f"- {item}" for item in summary["leftInPlace"])]
    else:
        left = ["Nothing this run made is left in AWS."]
    lines = [
        f"The {what} stopped at '{summary['failedStep']}' with {summary['error']}:",
        f"  {summary['cause']}",
        "",
        *left,
        "",
        f"What to do: {summary['whatToDo']}",
        "",
        f"Input: {summary['input']}",
        "",
        f"Execution: {summary['execution']}",
    ]
    return sns_subject(subject), "\n".join(lines)


def read_input_or_note(sfn_client: SFNClient, execution_arn: str) -> Any:
    """The execution's input, as Step Functions keeps it; a note instead if it cannot be read."""
    try:
        return json.loads(sfn_client.describe_execution(executionArn=execution_arn)["input"])
    except ClientError as error:
        return f"(the input could not be read: {error.response['Error']['Code']})"


def notify_failure(sns_client: SNSClient, sfn_client: SFNClient, topic_arn: str, event: dict[str, Any]) -> dict[str, Any]:
    summary = failure_summary(event, topic_arn.split(":")[3], read_input_or_note(sfn_client, event["executionId"]))
    if parent := started_by_a_batch(event):
        logger.info("part of batch %s: its summary emails this outcome", parent)
        return {**summary, "messageId": None}
    subject, message = render_failure(summary)
    message_id = sns_client.publish(TopicArn=topic_arn, Subject=subject, Message=message)["MessageId"]
    logger.info("published %s: %s", message_id, subject)
    return {**summary, "messageId": message_id}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return notify_failure(sns, sfn, os.environ["TOPIC_ARN"], event)
