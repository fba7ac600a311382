"""Notify Batch Summary: one email for a whole batch, every AMI with its outcome, id and times, through SNS.

Event:  {"executionId": "arn:...", "stateMachineArn": "arn:...", "startTime": "2026-01-05T09:00:00Z",
         "request": <Plan Batch's result: rounds of {"index", "input"}, childPrefix, plan, selection?>}
Result: {"status": "SUCCEEDED" | "FAILED", "region": "us-east-1", "restored": 11, "failed": 1,
         "amis": [{"recoveryPoint", "status", "imageId" | "error"}, ...], "selection": ..., "execution": "arn:...",
         "messageId": "..."} and, when any AMI failed, "Error": "BatchRestoreFailedError" and "Cause" for the Fail
        state "Batch Failed". Each AMI's outcome is its child execution's (DescribeExecution of "<childPrefix>-<index>").
"""

from __future__ import annotations

import json
import logging
import os
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
SNS_MESSAGE_BYTES = 256 * 1024  # SNS's largest message
FAIL_CAUSE_CHARACTERS = 32_768  # a Fail state's Cause
SHOWN_ERROR_CHARACTERS = 300
# What the summary keeps of each restored AMI's output (its Notify Success summary).
CHILD_KEYS = (
    "imageId",
    "imageName",
    "storageClass",
    "archiveStatus",
    "sizeBytes",
    "restoreOutcome",
    "copyReadyAt",
    "imageRequestedAt",
    "imageAvailableAt",
    "failedImageIds",
)


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


def duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return " ".join(p for p in (f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min") if p)


def batch_items(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Every AMI of the plan, in the order of the request."""
    return sorted((item for lanes in request["rounds"] for lane in lanes for item in lane), key=lambda item: item["index"])


def child_outcome(sfn_client: SFNClient, state_machine_arn: str, name: str, item: dict[str, Any]) -> dict[str, Any]:
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
        return {**outcome, **{k: summary.get(k) for k in CHILD_KEYS}}
    name_of_error = found.get("error") or found["status"]
    return {**outcome, "error": name_of_error, "cause": error_message(found.get("cause") or "")[:SHOWN_ERROR_CHARACTERS]}


def batch_summary(sfn_client: SFNClient, event: dict[str, Any], region: str) -> dict[str, Any]:
    request = event["request"]
    items = batch_items(request)
    names = [f"{request['childPrefix']}-{item['index']}" for item in items]
    with ThreadPoolExecutor(max_workers=BATCH_THREADS) as pool:
        amis = list(
            pool.map(lambda pair: child_outcome(sfn_client, event["stateMachineArn"], pair[0], pair[1]), zip(names, items, strict=True))
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


def render_batch_summary(summary: dict[str, Any], now: datetime) -> tuple[str, str]:
    """The email: (subject, message); `now` is when it is summarised (the elapsed time since startTime)."""
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
                f"- {a['imageId']} ({a['imageName']}) from {a['recoveryPoint']}, {a['storageClass']}"
                f"{'/' + a['archiveStatus'] if a.get('archiveStatus') else ''}, {size}: {copy}"
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
    return sns_subject(subject), message


def notify_batch_summary(sns_client: SNSClient, sfn_client: SFNClient, topic_arn: str, event: dict[str, Any]) -> dict[str, Any]:
    summary = batch_summary(sfn_client, event, topic_arn.split(":")[3])
    subject, message = render_batch_summary(summary, datetime.now(UTC))
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


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return notify_batch_summary(sns, stepfunctions, os.environ["TOPIC_ARN"], event)
