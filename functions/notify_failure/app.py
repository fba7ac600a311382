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
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger()

_config = Config(retries={"mode": "standard", "max_attempts": 5})
sns = boto3.client("sns", config=_config)
sfn = boto3.client("stepfunctions", config=_config)
s3 = boto3.client("s3", config=_config)
ec2 = boto3.client("ec2", config=_config)

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
NOTHING_THIS_RUN_LEFT = (
    "Nothing this run made is left in AWS (read from AWS now: no AMI carries its tag, and the object has no restored copy "
    "or restore in progress)."
)
LAMBDA_WHAT_TO_DO = (
    "AWS Lambda kept failing after the state's retries: read the function's logs, then start a new execution "
    "(it reuses a restore in progress or a restored copy)."
)
# Steps whose functions only read AWS (DescribeExecution, HeadBucket, HeadObject, GetObjectTagging, ListObjectsV2,
# GetBucketNotificationConfiguration), and before which nothing changes AWS: whatever their error, this run changed
# nothing.
READ_ONLY_STEPS = ("Validate Input", "Validate Batch", "Check Storage Class", "Resolve Selection")
# The refusals that change nothing at a step that can change AWS: each is raised before any call that changes AWS (Plan
# Batch refuses before it requests any restore), or is S3's refusal of the one call that would have (Request Restore).
NO_SIDE_EFFECT_ERRORS = {
    "Plan Batch": ("InvalidInputError", "RecoveryPointNotFoundError", "RecoveryPointAccessDeniedError"),
    "Request Restore": ("RecoveryPointNotFoundError", "ExpeditedNotOfferedError"),
}
BATCH_STEPS = ("Validate Batch", "Resolve Selection", "Plan Batch", "Restore Each AMI", "Notify Batch Summary")
TAG_PREFIX = "glacier-ami-restore:"  # Restore Image tags every AMI and snapshot it creates
ARCHIVED_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
LOOKED_AT_ITEMS = 200  # a batch's recovery points looked at one by one (HeadObject); the rest are counted
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


def changed_nothing(step: str, error: str) -> bool:
    """Did this run change nothing in AWS? Only for the steps and refusals listed above: any other error may have lost
    the answer to a call that changed AWS, so Notify Failure looks (left_in_place)."""
    return step in READ_ONLY_STEPS or error in NO_SIDE_EFFECT_ERRORS.get(step, ())


def images_of(ec2_client: EC2Client, execution_arn: str) -> list[dict[str, Any]]:
    """The AMIs an execution made: they carry its tag (Restore Image tags every AMI and snapshot it creates)."""
    found = ec2_client.describe_images(Owners=["self"], Filters=[{"Name": f"tag:{TAG_PREFIX}execution", "Values": [execution_arn]}])
    return [dict(image) for image in found["Images"]]


def images_from(ec2_client: EC2Client, bucket: str, keys: set[str], since: datetime) -> list[dict[str, Any]]:
    """The AMIs restored from these objects since `since` (a batch's children tag them with their own executions)."""
    found = ec2_client.describe_images(Owners=["self"], Filters=[{"Name": f"tag:{TAG_PREFIX}source-bucket", "Values": [bucket]}])
    made = []
    for image in found["Images"]:
        tags = {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}
        if tags.get(f"{TAG_PREFIX}source-key") in keys and datetime.fromisoformat(image["CreationDate"].replace("Z", "+00:00")) >= since:
            made.append(dict(image))
    return made


def deregister_command(region: str, image_id: str) -> str:
    return f"aws ec2 deregister-image --region {region} --image-id {image_id} --delete-associated-snapshots"


def image_lines(images: list[dict[str, Any]], region: str) -> list[str]:
    lines = []
    for image in images:
        command, named = deregister_command(region, image["ImageId"]), f"AMI {image['ImageId']} ({image.get('Name', '')})"
        if image["State"] == "available":
            lines.append(f"{named} is available: it was restored; keep it or run {command}")
        else:
            lines.append(f"{named}, {image['State']}: if you do not keep it, run {command}")
    return lines


def copy_line(s3_client: S3Client, bucket: str, key: str) -> str | None:
    """The object's restored copy or restore in progress, as S3 reports it now (None: neither). Raises ClientError
    when S3 cannot tell (the caller says it could not look)."""
    head = s3_client.head_object(Bucket=bucket, Key=key)
    restore = head.get("Restore", "")
    if head.get("StorageClass", "STANDARD") not in ARCHIVED_CLASSES or not restore:
        return None
    if 'ongoing-request="true"' in restore:
        return f"S3 is restoring a copy of s3://{bucket}/{key}: when it is done, it lives the restore's Days at S3 Standard's price."
    expiry = restore.split('expiry-date="', 1)[1].split('"', 1)[0] if "expiry-date=" in restore else None
    size = int(head.get("ContentLength", 0))
    until = f"{parsedate_to_datetime(expiry):%Y-%m-%dT%H:%M:%SZ}" if expiry else "its expiry"
    return f"A restored copy of s3://{bucket}/{key} exists until {until}: {copy_cost(size)}."


def restored_objects(progress: dict[str, Any], given: Any) -> list[tuple[str, str]]:
    """The objects this run may have restored: the request's one, or a batch's every one (its state, else its input)."""
    state, source = progress.get("request"), given
    request: dict[str, Any] = state if isinstance(state, dict) else source if isinstance(source, dict) else {}
    if isinstance(request.get("recoveryPoint"), str) and isinstance(request.get("recoveryPointBucket"), str):
        return [(request["recoveryPointBucket"], request["recoveryPoint"])]
    found = []
    for item in request.get("recoveryPoints") or []:
        if isinstance(item, dict) and isinstance(item.get("recoveryPoint"), str):
            found.append((str(item.get("recoveryPointBucket", request.get("recoveryPointBucket"))), item["recoveryPoint"]))
        elif isinstance(item, str) and isinstance(request.get("recoveryPointBucket"), str):
            found.append((request["recoveryPointBucket"], item))
    return found


def left_in_place(
    clients: dict[str, Any], progress: dict[str, Any], given: Any, execution_id: str, started: datetime, region: str
) -> dict[str, Any]:
    """What this run left in AWS, read from AWS now: every AMI carrying its execution's tag (or, for a batch, restored
    from its objects since it started), and each object's restored copy or restore in progress. Whatever could not be
    looked at is said so, with the command that looks: "nothing is left" only when every look answered."""
    s3_client, ec2_client = clients["s3"], clients["ec2"]
    points = restored_objects(progress, given)
    found: list[str] = []
    unchecked: list[str] = []
    state = progress.get("request")
    batch = "recoveryPoints" in (state if isinstance(state, dict) else given if isinstance(given, dict) else {})
    try:
        if batch:
            images = []
            for bucket in sorted({b for b, _ in points}):
                images += images_from(ec2_client, bucket, {k for b, k in points if b == bucket}, started)
        else:
            images = images_of(ec2_client, execution_id)
        found += image_lines(images, region)
    except ClientError as error:
        unchecked.append(
            f"Could not list the AMIs this run made ({error.response['Error']['Code']}): aws ec2 describe-images --owners self "
            f"--region {region} --filters Name=tag:{TAG_PREFIX}execution,Values={execution_id}"
        )
    for bucket, key in points[:LOOKED_AT_ITEMS]:
        try:
            copy = copy_line(s3_client, bucket, key)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
                continue  # no such object: S3 restores nothing of it
            unchecked.append(f"Could not look at s3://{bucket}/{key} ({code}): aws s3api head-object --bucket {bucket} --key {key}")
            continue
        except ValueError:  # not a valid bucket name or key: S3 never had it
            continue
        if copy:
            found.append(copy)
    if len(points) > LOOKED_AT_ITEMS:
        unchecked.append(
            f"{len(points) - LOOKED_AT_ITEMS:,} more recovery points were not looked at: glacier-ami-restore list shows their restores"
        )
    return {"found": found, "unchecked": unchecked}


def failure_summary(event: dict[str, Any], region: str, given: Any, looked: dict[str, Any] | None) -> dict[str, Any]:
    """`looked`: what left_in_place found in AWS (None when this run changed nothing: nothing to look for)."""
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
        "leftInPlace": (looked or {}).get("found", []),
        "notLookedAt": (looked or {}).get("unchecked", []),
        "changedNothing": looked is None,
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
    elif summary["leftInPlace"] or summary["notLookedAt"]:
        left = []
        if summary["leftInPlace"]:
            left += ["Left in place (read from AWS now):", *(f"- {item}" for item in summary["leftInPlace"])]
        if summary["notLookedAt"]:
            left += ["Not looked at (check these yourself):", *(f"- {item}" for item in summary["notLookedAt"])]
    else:
        left = [NOTHING_THIS_RUN_LEFT]
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


def read_execution(sfn_client: SFNClient, execution_arn: str) -> tuple[Any, datetime]:
    """The execution's input, as Step Functions keeps it (a note instead if it cannot be read), and its start."""
    try:
        described = sfn_client.describe_execution(executionArn=execution_arn)
    except ClientError as error:
        return f"(the input could not be read: {error.response['Error']['Code']})", datetime.fromtimestamp(0, UTC)
    return json.loads(described["input"]), described["startDate"]


def notify_failure(clients: dict[str, Any], topic_arn: str, event: dict[str, Any]) -> dict[str, Any]:
    sns_client, sfn_client = clients["sns"], clients["sfn"]
    region = topic_arn.split(":")[3]
    given, started = read_execution(sfn_client, event["executionId"])
    ((key, error),) = (event["progress"].get("failed") or {"Unknown": {}}).items()
    nothing = changed_nothing(state_name(key), error.get("Error", "Unknown"))
    looked = None if nothing else left_in_place(clients, event["progress"], given, event["executionId"], started, region)
    summary = failure_summary(event, region, given, looked)
    if parent := started_by_a_batch(event):
        logger.info("part of batch %s: its summary emails this outcome", parent)
        return {**summary, "messageId": None}
    subject, message = render_failure(summary)
    message_id = sns_client.publish(TopicArn=topic_arn, Subject=subject, Message=message)["MessageId"]
    logger.info("published %s: %s", message_id, subject)
    return {**summary, "messageId": message_id}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return notify_failure({"sns": sns, "sfn": sfn, "s3": s3, "ec2": ec2}, os.environ["TOPIC_ARN"], event)
