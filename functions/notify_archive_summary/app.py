"""Notify Archive Summary: one email per archive run, read from the run's own state: what was archived (object, class,
size, cost per month at list price against what the recovery point cost in AWS Backup), what was skipped and why, what
failed and what to do; the same lists are the execution's output.

Invoked by the "Notify Archive Summary" state, last, whatever happened before. Event: {"execution": $$.Execution.Id,
"state": the state: {"run", "items": each recovery point's outcome, "skipped"} or, when the run itself failed,
{"failed": {"<State name without spaces>": {"Error", "Cause"}}}}.
Result: {"archived": [...], "skipped": [...], "failed": [...], "alreadyArchived": n, "deferred": n} (each item with
recoveryPointArn, imageId, bucket, key), plus {"error", "cause"} when anything failed: the state machine then ends
FAILED with them (a failure never ends green).

Prices: us-east-1 list prices per GB-month (GB = 2^30 bytes) of 2025-11 (S3 pricing; glacier_ami_restore/prices.json
holds the same figures) and EBS snapshots' standard tier, which AWS Backup bills for EC2 backups (AWS Backup pricing:
EC2 backups have no cold tier). ASSUMPTION: a recovery point costs its BackupSizeInBytes at that rate (snapshots are
incremental, so it may cost less).
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_sns import SNSClient

logger = logging.getLogger()

_config = Config(retries={"mode": "standard", "max_attempts": 5})
sns = boto3.client("sns", config=_config)

BILLED_GB = 2**30
ARCHIVE_PRICE_PER_GB_MONTH = {"GLACIER_IR": 0.004, "GLACIER": 0.0036, "DEEP_ARCHIVE": 0.00099}
SNAPSHOT_PRICE_PER_GB_MONTH = 0.05
ARCHIVE_WHAT_TO_DO = {
    "StoreTaskFailedError": "EC2 failed the store task (reason above); the next run stores it again. If it fails again, check that "
    "the AMI's snapshots still exist and that the functions' role may read them (and their KMS key, if encrypted).",
    "StoreDeadlineExceededError": "The store task outlived its deadline; see aws ec2 describe-store-image-tasks --image-ids <imageId>. "
    "Its GB stay counted until the task ends; the next run joins it.",
    "StoreQuotaExceededError": "EC2 kept refusing the store over its in-progress quota: lower ImageStoreQuotaGb to leave room for "
    "other tools' store tasks, or raise the quota in Service Quotas. The next run tries again.",
    "StoreBudgetDeadlineExceededError": "It waited too long for the stack's store budget; the next run tries again.",
    "ImageNotStorableError": "EC2 refused to store this AMI (reason above); it cannot be archived this way.",
    "ArchiveVerificationError": "The object is not a verified archive of this recovery point: inspect it; if it is not a "
    "complete archive of this AMI, delete it and the next run stores the AMI again. Nothing was tagged or deleted.",
    "InvalidArchiveInputError": "Fix the input as described above and start a new execution. Nothing was changed in AWS.",
    "ThrottledError": "AWS throttled the run's reads beyond its retries; the next run (daily) tries again.",
}
ARCHIVE_DEFAULT_TO_DO = "See the error above and the execution's history; the next run tries again (it never stores an AMI twice)."


def in_gb(size_bytes: int) -> float:
    return size_bytes / BILLED_GB


def monthly(item: dict[str, Any]) -> tuple[float, float]:
    """(the archive's cost per month in its class, the recovery point's in AWS Backup), at list price."""
    return in_gb(item["sizeBytes"]) * ARCHIVE_PRICE_PER_GB_MONTH[item["storageClass"]], in_gb(
        item["sourceBytes"]
    ) * SNAPSHOT_PRICE_PER_GB_MONTH


def error_message(cause: str) -> str:
    """A Lambda error's Cause is JSON with errorMessage; other errors carry plain text."""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        return str(cause)
    return str(parsed.get("errorMessage", cause)) if isinstance(parsed, dict) else str(cause)


def summarise_run(state: dict[str, Any]) -> dict[str, Any]:
    outcomes = state.get("items") or []
    run = state.get("run") or {}
    summary: dict[str, Any] = {
        "archived": [o for o in outcomes if o.get("status") == "archived"],
        "skipped": state.get("skipped") or [],
        "failed": [{**o, "cause": error_message(o.get("cause") or "")} for o in outcomes if o.get("status") == "failed"],
        "alreadyArchived": run.get("alreadyArchived", 0),
        "deferred": run.get("deferred", 0),
    }
    if state.get("failed"):  # the run itself failed (its input, its selection): no recovery point was touched
        ((step, error),) = state["failed"].items()
        summary["error"], summary["cause"] = error.get("Error", "States.Runtime"), error_message(error.get("Cause", ""))
        summary["failedStep"] = step
    elif summary["failed"]:
        summary["error"] = "ArchiveIncompleteError"
        summary["cause"] = json.dumps(
            {"failed": [{k: o.get(k) for k in ("recoveryPointArn", "imageId", "error")} for o in summary["failed"]]}
        )
    return summary


def summary_email(summary: dict[str, Any], execution: str) -> tuple[str, str]:
    if "failedStep" in summary:
        subject = f"AMI archive failed: {summary['error']} at {summary['failedStep']}"
        body = [f"The archive run stopped at {summary['failedStep']} with {summary['error']}:", f"  {summary['cause']}", "",
                f"What to do: {ARCHIVE_WHAT_TO_DO.get(summary['error'], ARCHIVE_DEFAULT_TO_DO)}"]  # fmt: skip
        return subject, "\n".join([*body, "", f"Execution: {execution}"])
    archived, skipped, failed = summary["archived"], summary["skipped"], summary["failed"]
    subject = f"AMI archive: {len(archived)} archived, {len(skipped)} skipped, {len(failed)} failed"
    body = [f"{len(archived)} recovery points archived, {len(skipped)} skipped, {len(failed)} failed; "
            f"{summary['alreadyArchived']} archived by earlier runs; {summary['deferred']} left for the next run."]  # fmt: skip
    if archived:
        body += ["", "Archived (verified: object, size and tags):"]
        saving = 0.0
        for item in archived:
            archive_cost, backup_cost = monthly(item)
            saving += backup_cost - archive_cost
            where = f"s3://{item['bucket']}/{item['key']}"
            body.append(f"- {item['recoveryPointArn']} ({item['vault']}) -> {where}, {in_gb(item['sizeBytes']):,.1f} GB to "
                        f"{item['storageClass']}: ${archive_cost:,.2f} per month, against ${backup_cost:,.2f} in AWS Backup")  # fmt: skip
            deletion = item.get("deletion") or {}
            if deletion.get("outcome") == "deleted":
                body.append("  the recovery point is deleted (AWS Backup confirmed it is gone)")
            elif deletion.get("outcome") in ("refused", "unconfirmed"):
                body.append(f"  the recovery point is kept: deletion {deletion['outcome']}: {deletion['reason']}. Its archive is safe; "
                            "delete it in AWS Backup when the lock, hold or permission allows, or let its lifecycle expire "
                            "it.")  # fmt: skip
        body.append(f"Saving at list price once the recovery points are gone: ${saving:,.2f} per month.")
    if skipped:
        body += ["", "Skipped:"] + [f"- {s['recoveryPointArn']}: {s['reason']}" for s in skipped]
    if failed:
        body += ["", "Failed (nothing was tagged or deleted for these):"]
        for item in failed:
            body += [f"- {item['recoveryPointArn']} ({item['imageId']}): {item['error']}: {item['cause']}",
                     f"  What to do: {ARCHIVE_WHAT_TO_DO.get(item['error'], ARCHIVE_DEFAULT_TO_DO)}"]  # fmt: skip
    return subject, "\n".join([*body, "", f"Execution: {execution}"])


def notify_archive_summary(sns_client: SNSClient, topic: str, event: dict[str, Any]) -> dict[str, Any]:
    summary = summarise_run(event["state"])
    subject, text = summary_email(summary, event["execution"])
    sns_client.publish(TopicArn=topic, Subject=subject[:100], Message=text)
    logger.info("%s", subject)
    summary.pop("failedStep", None)
    return summary


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return notify_archive_summary(sns, os.environ["TOPIC_ARN"], event)
