"""Notify: email the outcome through SNS ("Notify Success" and "Notify Failure" states).

Event (success): {"outcome": "succeeded", "executionId": "arn:...", "request": {...}, "restore": {...}, "image": {...}}
Event (failure): {"outcome": "failed", "executionId": "arn:...", "progress": <the state data when a Catch fired:
                  {"input": ..., "request"?: ..., "restore"?: ..., "image"?: ...,
                   "failed": {"RestoreImage": {"Error": "ImageNameConflictError", "Cause": "<Lambda error JSON or text>"}}}>}
                  The failing state's own Catch wrote the "failed" key: its name without spaces is the failed step.
Result: the summary that was emailed (the execution's output on success), plus "messageId"; on failure also the
        original "Error" and "Cause", which the Fail state "Restore Failed" reports.
An execution that a batch started (its input carries AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID) sends no email
of its own: the summary is its output (or its error) and the batch emails one summary of all its AMIs.
Event (batch): {"outcome": "batch", "executionId": "arn:...", "stateMachineArn": "arn:...", "startTime": "...",
                "request": <Plan Batch's result: rounds of {"index", "input"}, childPrefix, plan, selection?>}
Result (batch): {"status": "SUCCEEDED" | "FAILED", "restored": 11, "failed": 1, "amis": [{"recoveryPoint", "status",
                 "imageId" | "error"}, ...], "messageId": "...", "execution": "arn:..."} and, when any AMI failed,
                "Error": "BatchRestoreFailedError" and "Cause" for the Fail state "Batch Failed". Each AMI's outcome
                is its child execution's (DescribeExecution of "<childPrefix>-<index>").
"""

from __future__ import annotations

import json
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger()

sns = boto3.client("sns")
BATCH_THREADS = 8  # DescribeExecution of a batch's AMIs in parallel: 1,000 take seconds, within the state's 60 s
stepfunctions = boto3.client(
    "stepfunctions", config=Config(retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=BATCH_THREADS)
)

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
    "EmptySelectionError": "Fix the selector (see the archive with glacier-ami-restore list) and start a new execution.",
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
        "changedNothing": step in ("Validate Input", "Check Storage Class", "Resolve Selection")
        or (step == "Plan Batch" and name == "InvalidInputError"),
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
    if started_by_a_batch(event):
        logger.info("part of batch %s: its summary emails this outcome", started_by_a_batch(event))
        return {**summary, "messageId": None}
    subject, message = render(summary)
    message_id = sns_client.publish(TopicArn=topic_arn, Subject=subject, Message=message)["MessageId"]
    logger.info("published %s: %s", message_id, subject)
    return {**summary, "messageId": message_id}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    if event["outcome"] == "batch":
        return notify_batch(sns, stepfunctions, os.environ["TOPIC_ARN"], event)
    return notify(sns, os.environ["TOPIC_ARN"], event)


# --- batches: one summary email for every AMI ---------------------------------------------------------------------

STARTED_BY = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"  # the field a parent passes to its child (Step Functions DG)
SNS_MESSAGE_BYTES = 256 * 1024  # SNS's largest message
FAIL_CAUSE_CHARACTERS = 32_768  # a Fail state's Cause
SHOWN_ERROR_CHARACTERS = 300


def started_by_a_batch(event: dict[str, Any]) -> str | None:
    """The batch execution that started this one, if any (Validate Input keeps it as request.startedBy)."""
    request = event.get("request") or (event.get("progress") or {}).get("request") or {}
    raw = (event.get("progress") or {}).get("input")
    parent = request.get("startedBy") or (raw.get(STARTED_BY) if isinstance(raw, dict) else None)
    return str(parent) if parent else None


def duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return " ".join(p for p in (f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min") if p)


def batch_items(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Every AMI of the plan, in the order of the request."""
    return sorted((item for lanes in request["rounds"] for lane in lanes for item in lane), key=lambda item: item["index"])


def child_outcome(sfn_client: SFNClient, state_machine_arn: str, name: str, item: dict[str, Any], region: str) -> dict[str, Any]:
    source = item["input"]
    arn = f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
    outcome: dict[str, Any] = {"recoveryPoint": f"s3://{source['recoveryPointBucket']}/{source['recoveryPoint']}", "execution": arn}
    try:
        found = sfn_client.describe_execution(executionArn=arn)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
            raise
        return {**outcome, "status": "NOT_STARTED", "error": "NotStarted", "cause": "the batch could not start its execution"}
    outcome["status"] = found["status"]
    if found["status"] == "SUCCEEDED":
        summary = json.loads(found.get("output") or "{}")
        keys = (
            "imageId",
            "imageName",
            "storageClass",
            "sizeBytes",
            "restoreOutcome",
            "copyReadyAt",
            "imageRequestedAt",
            "imageAvailableAt",
            "failedImageIds",
        )
        return {**outcome, **{k: summary.get(k) for k in keys}}
    name_of_error = found.get("error") or found["status"]
    return {**outcome, "error": name_of_error, "cause": error_message(found.get("cause") or "")[:SHOWN_ERROR_CHARACTERS]}


def batch_summary(sfn_client: SFNClient, event: dict[str, Any], region: str) -> dict[str, Any]:
    request = event["request"]
    items = batch_items(request)
    names = [f"{request['childPrefix']}-{item['index']}" for item in items]
    with ThreadPoolExecutor(max_workers=BATCH_THREADS) as pool:
        amis = list(
            pool.map(
                lambda pair: child_outcome(sfn_client, event["stateMachineArn"], pair[0], pair[1], region), zip(names, items, strict=True)
            )
        )
    failed = [a for a in amis if a["status"] != "SUCCEEDED"]
    summary: dict[str, Any] = {
        "status": "FAILED" if failed else "SUCCEEDED",
        "region": region,
        "restored": len(amis) - len(failed),
        "failed": len(failed),
        "amis": amis,
        "plan": request.get("plan"),
        "selection": request.get("selection"),
        "startTime": event.get("startTime"),
        "execution": event["executionId"],
    }
    if failed:
        listed = ", ".join(f"{a['recoveryPoint']} ({a['error']})" for a in failed)
        summary["Error"] = "BatchRestoreFailedError"
        summary["Cause"] = (
            f"{len(failed)} of {len(amis)} AMI restores failed: {listed}. The others are restored; the summary was emailed."
        )[:FAIL_CAUSE_CHARACTERS]
    return summary


def render_batch(summary: dict[str, Any], now: datetime) -> tuple[str, str]:
    total, region = len(summary["amis"]), summary["region"]
    if summary["failed"]:
        subject = f"AMI batch restore: {summary['restored']} of {total} restored, {summary['failed']} failed in {region}"
        head = f"{summary['restored']} of {total} AMIs are restored in {region}; {summary['failed']} failed (below)."
    else:
        subject = f"AMI batch restore: all {total} restored in {region}"
        head = f"All {total} AMIs are restored in {region}."
    lines = [head]
    if summary.get("selection"):
        lines.append(f"Selection: {summary['selection']}: {total} AMI{'s' if total != 1 else ''}.")
    plan = summary.get("plan")
    if plan:
        rounds = ", then ".join(f"{r['amis']} in {r['lanes']} lane{'s' if r['lanes'] != 1 else ''}" for r in plan["rounds"])
        lines.append(
            f"Plan: {plan['totalGb']:,.1f} GB under the {plan['quotaGb']:,.0f} GB image-restore quota: {rounds}; "
            f"{plan['restoresRequested']} restore{'s' if plan['restoresRequested'] != 1 else ''} requested up front."
        )
    if summary.get("startTime"):
        started = datetime.fromisoformat(summary["startTime"].replace("Z", "+00:00"))
        lines.append(
            f"Started {when(summary['startTime'])}, summarised {now:%Y-%m-%d %H:%M:%S} UTC ({duration((now - started).total_seconds())})."
        )
    restored = [a for a in summary["amis"] if a["status"] == "SUCCEEDED"]
    failed = [a for a in summary["amis"] if a["status"] != "SUCCEEDED"]
    if restored:
        lines += ["", "Restored:"]
        for a in restored:
            if a.get("restoreOutcome") == "not-needed" or not a.get("copyReadyAt"):
                copy = "no restore needed, "
            else:
                copy = f"copy readable {when(a['copyReadyAt'])}, "
            size = human_size(a["sizeBytes"]) if a.get("sizeBytes") is not None else "-"
            lines.append(
                f"- {a['imageId']} ({a['imageName']}) from {a['recoveryPoint']}, {a['storageClass']}, {size}: {copy}"
                f"image requested {when(a['imageRequestedAt'])}, available {when(a['imageAvailableAt'])}"
            )
            if a.get("failedImageIds"):
                lines.append(f"  Note: {', '.join(a['failedImageIds'])} failed over EC2's in-progress quota and were left in place.")
    if failed:
        lines += ["", "Failed (each restore stopped on its own; the others went on):"]
        for a in failed:
            advice = WHAT_TO_DO.get(a["error"], "Read the execution's history.")
            lines.append(
                f"- {a['recoveryPoint']}: {a['status']} {a['error']}: {a['cause']} What to do: {advice} Execution: {a['execution']}"
            )
    lines += ["", f"Execution: {summary['execution']}"]
    message = "\n".join(lines)
    if len(message.encode()) > SNS_MESSAGE_BYTES:
        cut = message.encode()[: SNS_MESSAGE_BYTES - 200].decode(errors="ignore").rsplit("\n", 1)[0]
        message = f"{cut}\n... (cut at SNS's 256 KB: every AMI is in the execution's output)\n\nExecution: {summary['execution']}"
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in subject)[:100], message


def notify_batch(sns_client: SNSClient, sfn_client: SFNClient, topic_arn: str, event: dict[str, Any]) -> dict[str, Any]:
    region = topic_arn.split(":")[3]
    summary = batch_summary(sfn_client, event, region)
    subject, message = render_batch(summary, datetime.now(UTC))
    message_id = sns_client.publish(TopicArn=topic_arn, Subject=subject, Message=message)["MessageId"]
    logger.info("published %s: %s", message_id, subject)
    # The execution's output (and the state data) keeps one short line per AMI: state data is at most 256 KB.
    compact = [
        {
            "recoveryPoint": a["recoveryPoint"],
            "status": a["status"],
            **({"imageId": a["imageId"]} if a["status"] == "SUCCEEDED" else {"error": a["error"]}),
        }
        for a in summary["amis"]
    ]
    return {**{k: v for k, v in summary.items() if k not in ("plan", "startTime")}, "amis": compact, "messageId": message_id}
