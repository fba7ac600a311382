"""Delete Recovery Point: when DeleteRecoveryPointAfterArchive is true, delete the archived recovery point through AWS
Backup (never DeregisterImage on a Backup AMI: AWS Backup owns it), and check from AWS Backup that it is gone.

Invoked by the "Delete Recovery Point" state after Mark Recovery Point Archived, and again after each "Wait For
Deletion" while AWS Backup is still deleting. Event: {"item": a Select Recovery Points item, "checks": how many times
this state looked}. Result: {"outcome": "deleted" | "deleting" | "refused" | "unconfirmed", "reason", "checks"}.

The outcomes AWS Backup documents (AWS Backup Developer Guide, "Deleting backups"; API Reference, DeleteRecoveryPoint):
a vault lock within the retention period or a legal hold refuses the call; a call accepted with HTTP 200 may still
only make the point EXPIRED (an EBS Snapshot Lock, or a role that may no longer delete it), which DescribeRecoveryPoint
shows with its StatusMessage; otherwise the point is DELETING and then gone (ResourceNotFoundException). A refusal is
reported, never retried: the archive is kept either way. A point still DELETING after MAX_CHECKS looks is reported
as unconfirmed (AWS Backup goes on deleting it).
"""

from __future__ import annotations

import logging
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

logger = logging.getLogger()
BackupClient = Any  # no type stubs for AWS Backup are installed

_config = Config(retries={"mode": "standard", "max_attempts": 5})
backup = boto3.client("backup", config=_config)

MAX_CHECKS = 15  # 2 min apart (the state machine's Wait For Deletion): 30 min
REFUSALS = ("InvalidRequestException", "AccessDeniedException", "InvalidParameterValueException")


def described(backup_client: BackupClient, item: dict[str, Any]) -> dict[str, Any] | None:
    """The recovery point as AWS Backup describes it; None when it is gone."""
    try:
        found: dict[str, Any] = backup_client.describe_recovery_point(
            BackupVaultName=item["vault"], RecoveryPointArn=item["recoveryPointArn"]
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise
    return found


def deletion_outcome(point: dict[str, Any] | None, checks: int) -> dict[str, Any]:
    if point is None:
        return {"outcome": "deleted", "reason": None, "checks": checks}
    status = point.get("Status")
    if status == "EXPIRED":
        reason = point.get("StatusMessage") or "AWS Backup gave no reason"
        return {
            "outcome": "refused",
            "reason": f"AWS Backup accepted the deletion but the recovery point is only EXPIRED: {reason}",
            "checks": checks,
        }
    if status == "DELETING" and checks < MAX_CHECKS:
        return {"outcome": "deleting", "reason": None, "checks": checks}
    if status == "DELETING":
        return {
            "outcome": "unconfirmed",
            "reason": f"still DELETING after {checks} looks; AWS Backup goes on deleting it",
            "checks": checks,
        }
    return {"outcome": "refused", "reason": f"AWS Backup accepted the deletion but the recovery point is still {status}", "checks": checks}


def delete_recovery_point(backup_client: BackupClient, item: dict[str, Any], checks: int) -> dict[str, Any]:
    point = described(backup_client, item)
    if checks == 0 and point is not None and point.get("Status") not in ("DELETING", "EXPIRED"):
        try:
            backup_client.delete_recovery_point(BackupVaultName=item["vault"], RecoveryPointArn=item["recoveryPointArn"])
        except ClientError as error:
            code, message = error.response["Error"]["Code"], error.response["Error"].get("Message", "")
            if code in REFUSALS:
                logger.info("AWS Backup refused to delete %s: %s", item["recoveryPointArn"], message)
                return {"outcome": "refused", "reason": f"{code}: {message}", "checks": 1}
            if code != "InvalidResourceStateException":  # already being deleted: look below
                raise
        point = described(backup_client, item)
    return deletion_outcome(point, checks + 1)


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return delete_recovery_point(backup, event["item"], int(event["checks"]))
