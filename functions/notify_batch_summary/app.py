"""Notify Batch Summary: one email for a whole batch, every AMI with its outcome, id and times, through SNS.

Event:  {"executionId": "arn:...", "startTime": "2026-01-05T09:00:00Z",
         "request": <Plan Batch's result whose "items" Restore Each AMI replaced by one outcome per AMI: {"name",
         "status": "SUCCEEDED", "imageId"} as the child execution's `.sync:2` task returned it, or {"name", "status":
         "FAILED", "error", "recoveryPoint"} when it failed or could not start>, and "notFound", "plan", "selection"?}
Result: {"status": "SUCCEEDED" | "FAILED", "region": "us-east-1", "restored": 11, "failed": 1,
         "amis": [{"recoveryPoint", "status", "imageId" | "error"}, ...], "selection": ..., "execution": "arn:...",
         "messageId": "..."} and, when any AMI failed, "Error": "BatchRestoreFailedError" and "Cause" for the Fail
        state "Batch Failed".
Each AMI's details come from the execution its task ran (the name in the task's result; DescribeExecution, its input
checked to name this batch): an AMI whose execution could not start (its name taken by another execution, the
execution limit) is reported failed with that error, never with someone else's outcome.
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
FAIL_CAUSE_CHARACTERS = 30_000  # a Fail state's Cause is at most 32,768; a single restore that handed the batch adds to it
SHOWN_ERROR_CHARACTERS = 300
STARTED_BY = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"
NOT_STARTED = {  # why a child execution did not start, when the task says so, and what to do
    "StepFunctions.ExecutionAlreadyExistsException": (
        "its execution's name was taken by another execution: this AMI was not restored",
        "Restore this AMI in a new execution (a single restore, or a new batch).",
    ),
    "StepFunctions.ExecutionLimitExceededException": (
        "the account's limit of open executions was reached: this AMI was not restored",
        "Wait for executions to end (or raise the quota), then restore this AMI in a new execution.",
    ),
}
NOT_STARTED_OTHERWISE = ("its execution could not start: this AMI was not restored", "Restore this AMI in a new execution.")
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


def index_of(name: str) -> int:
    """The AMI's place in the batch, from its child's name (<batch name>-<index>-<hash>)."""
    return int(name.rsplit("-", 2)[1])


def child_outcome(sfn_client: SFNClient, restore_state_machine_arn: str, batch_arn: str, outcome: dict[str, Any]) -> dict[str, Any]:
    """One AMI's line: the facts of the execution its task ran, or why none ran."""
    arn = f"{restore_state_machine_arn.replace(':stateMachine:', ':execution:')}:{outcome['name']}"
    noted = f"s3://{outcome.get('recoveryPointBucket', '?')}/{outcome.get('recoveryPoint', '?')}"
    if str(outcome.get("error", "")).startswith("StepFunctions."):  # StartExecution refused: no child of ours ran
        cause, advice = NOT_STARTED.get(outcome["error"], NOT_STARTED_OTHERWISE)
        refused = {"recoveryPoint": noted, "status": "NOT_STARTED", "error": outcome["error"], "cause": cause, "whatToDo": advice}
        return {**refused, "execution": None}
    try:
        found = sfn_client.describe_execution(executionArn=arn)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
            raise
        cause, advice = NOT_STARTED_OTHERWISE
        return {"recoveryPoint": noted, "status": "NOT_STARTED", "error": outcome.get("error") or "NotStarted", "cause": cause,
                "whatToDo": advice, "execution": None}  # fmt: skip
    source = json.loads(found["input"])
    if not isinstance(source, dict) or source.get(STARTED_BY) != batch_arn:  # a fact check: that execution is this batch's
        cause = f"the execution {arn} was not started by this batch: this AMI was not restored"
        return {"recoveryPoint": noted, "status": "FAILED", "error": "NotThisBatchsExecutionError", "cause": cause, "execution": None}
    line: dict[str, Any] = {
        "recoveryPoint": f"s3://{source['recoveryPointBucket']}/{source['recoveryPoint']}",
        "status": found["status"],
        "execution": arn,
    }
    if found["status"] == "SUCCEEDED":
        summary = json.loads(found.get("output") or "{}")
        return {**line, **{k: summary.get(k) for k in CHILD_KEYS}}
    name_of_error = found.get("error") or found["status"]
    return {**line, "error": name_of_error, "cause": error_message(found.get("cause") or "")[:SHOWN_ERROR_CHARACTERS]}


def not_found(missing: dict[str, Any]) -> dict[str, Any]:
    """An AMI Plan Batch found missing (or unreadable): no execution was started for it."""
    why = "no such object in the bucket" if missing["error"] == "RecoveryPointNotFoundError" else "the stack may not read it"
    where = f"s3://{missing['recoveryPointBucket']}/{missing['recoveryPoint']}"
    return {"recoveryPoint": where, "status": "NOT_STARTED", "error": missing["error"], "cause": f"{why} (HeadObject)", "execution": None}


def batch_summary(sfn_client: SFNClient, restore_state_machine_arn: str, event: dict[str, Any], region: str) -> dict[str, Any]:
    request, batch_arn = event["request"], event["executionId"]
    outcomes = sorted(request["items"], key=lambda o: index_of(o["name"]))
    with ThreadPoolExecutor(max_workers=BATCH_THREADS) as pool:
        ran = list(pool.map(lambda o: child_outcome(sfn_client, restore_state_machine_arn, batch_arn, o), outcomes))
    missing = [(m["index"], not_found(m)) for m in request.get("notFound", [])]
    amis = [a for _, a in sorted([*zip((index_of(o["name"]) for o in outcomes), ran, strict=True), *missing], key=lambda pair: pair[0])]
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
        "execution": batch_arn,
    }
    if failed:
        listed = ", ".join(f"{a['recoveryPoint']} ({a['error']})" for a in failed)
        summary["Error"] = "BatchRestoreFailedError"
        summary["Cause"] = (
            f"{len(failed)} of {len(amis)} AMI restores failed: {listed}. {len(amis) - len(failed)} restored; the summary was emailed."
        )[:FAIL_CAUSE_CHARACTERS]
    return summary


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def render_batch_summary(summary: dict[str, Any], now: datetime) -> tuple[str, str]:
    """The email: (subject, message); `now` is when it is summarised (the elapsed time since startTime)."""
    total, region = len(summary["amis"]), summary["region"]
    if summary["failed"]:
        subject = f"AMI batch restore: {summary['restored']} of {total} restored, {summary['failed']} failed in {region}"
        head = f"{summary['restored']} of {plural(total, 'AMI')} restored in {region}; {summary['failed']} failed (below)."
    elif total == 1:
        subject = f"AMI batch restore: the AMI is restored in {region}"
        head = f"The batch's AMI is restored in {region}."
    else:
        subject = f"AMI batch restore: all {total} restored in {region}"
        head = f"All {total} AMIs are restored in {region}."
    lines = [head]
    if summary.get("selection"):
        lines.append(f"Selection: {summary['selection']}: {plural(total, 'AMI')}.")
    plan = summary.get("plan")
    if plan:
        lines.append(
            f"Plan: {plural(plan['amis'], 'AMI')}, {plan['totalGb']:,.1f} GB, through the stack's {plan['quotaGb']:,.0f} GB image-restore "
            f"budget (shared with every restore of the stack); {plural(plan['restoresRequested'], 'restore')} requested up front."
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
            advice = a.get("whatToDo") or WHAT_TO_DO.get(a["error"], "Read the execution's history.")
            execution = f" Execution: {a['execution']}" if a.get("execution") else ""
            lines.append(f"- {a['recoveryPoint']}: {a['status']} {a['error']}: {a['cause']} What to do: {advice}{execution}")
    lines += ["", f"Execution: {summary['execution']}"]
    message = "\n".join(lines)
    if len(message.encode()) > SNS_MESSAGE_BYTES:
        cut = message.encode()[: SNS_MESSAGE_BYTES - 200].decode(errors="ignore").rsplit("\n", 1)[0]
        message = f"{cut}\n... (cut at SNS's 256 KB: every AMI is in the execution's output)\n\nExecution: {summary['execution']}"
    return sns_subject(subject), message


def notify_batch_summary(
    sns_client: SNSClient, sfn_client: SFNClient, topic_arn: str, restore_state_machine_arn: str, event: dict[str, Any]
) -> dict[str, Any]:
    summary = batch_summary(sfn_client, restore_state_machine_arn, event, topic_arn.split(":")[3])
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
    return notify_batch_summary(sns, stepfunctions, os.environ["TOPIC_ARN"], os.environ["RESTORE_STATE_MACHINE_ARN"], event)
