"""Fault matrix, the archive side: every fault AWS can throw at ArchiveStateMachine ends SUCCEEDED through a bounded
retry, or with the point FAILED (a named error, one email); never a second store task, never a deletion before the
object was verified, never a refused deletion retried. One test per row of docs/emulator.md's archive fault rows
(tests/static checks that the two match). One 20 GiB point each, deletion on: cheap, and every outcome is exact."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.cloudformation import Stack
from emulator.facade import Emulator, Run
from tests.e2e.test_faults import after_handler

GIB = 2**30


def archive_run(aws: Emulator, payload: Any | None = None) -> tuple[Stack, str, Run]:
    """Deploy with deletion on, back up one 20 GiB point 40 days ago, run the archive: (stack, point ARN, run)."""
    stack = aws.deploy(ArchiveVaultNames="daily", DeleteRecoveryPointAfterArchive="true")
    arn = aws.backup_ec2("daily", name="app-1", size_gb=20, days_ago=40)
    return stack, arn, run_again(aws, stack, payload)


def run_again(aws: Emulator, stack: Stack, payload: Any | None = None) -> Run:
    started = aws.client("stepfunctions").start_execution(
        stateMachineArn=stack.physical["ArchiveStateMachine"], input=json.dumps({} if payload is None else payload)
    )
    return aws.wait(stack, started["executionArn"], timeout=120)


def assert_item_failed(aws: Emulator, stack: Stack, run: Run, arn: str, error: str) -> str:
    """FAILED with the point's named error, one email; the point neither tagged nor deleted. The email's text."""
    assert (run.status, run.error) == ("FAILED", "ArchiveIncompleteError")
    assert json.loads(run.cause or "") == {"failed": [{"recoveryPointArn": arn, "imageId": arn.rsplit("/", 1)[1], "error": error}]}
    assert (aws.backup.points[arn].tags, aws.backup.deleted, aws.requests["backup.DeleteRecoveryPoint"]) == ({}, [], 0)
    (email,) = aws.emails(stack, run.arn)
    assert email["subject"] == "AMI archive: 0 archived, 0 skipped, 1 failed"
    return email["message"]


def assert_archived_once(aws: Emulator, run: Run, arn: str) -> None:
    assert (run.status, [a["recoveryPointArn"] for a in run.output["archived"]]) == ("SUCCEEDED", [arn])
    assert [(t.image_id, t.state) for t in aws.ec2.store_tasks] == [(arn.rsplit("/", 1)[1], "Completed")]


def test_fault_store_task_failed(aws: Emulator) -> None:
    # Given EC2 failing the point's store task / When the run archives / Then the point fails, nothing is stored twice,
    # tagged or deleted, and the email says what to do
    aws.faults.store_failure("InternalError: the store task failed")
    stack, arn, run = archive_run(aws, {"vaultName": "daily", "olderThanDays": 30})
    message = assert_item_failed(aws, stack, run, arn, "StoreTaskFailedError")
    assert [t.state for t in aws.ec2.store_tasks] == ["Failed"]
    assert "What to do: EC2 failed the store task (reason above); the next run stores it again." in message
    # And the next run stores it (a failed task does not block a new one), then deletes the point
    again = run_again(aws, stack)
    assert (again.status, [a["recoveryPointArn"] for a in again.output["archived"]]) == ("SUCCEEDED", [arn])
    assert ([t.state for t in aws.ec2.store_tasks], [p.arn for p in aws.backup.deleted]) == (["Failed", "Completed"], [arn])


def test_fault_store_quota_refused_then_stored(aws: Emulator) -> None:
    # EC2 refuses CreateStoreImageTask over its in-progress quota twice (other tools' tasks): 10 min waits, one task
    aws.faults.request("ec2.CreateStoreImageTask", "ResourceLimitExceeded", 400, times=2)
    _, arn, run = archive_run(aws)
    assert_archived_once(aws, run, arn)
    assert (run.count("Wait For Store Quota"), aws.requests["ec2.CreateStoreImageTask"]) == (2, 3)
    accepted = aws.ec2.store_tasks[0].submitted_at
    first_try = run.entered_at("Store Image")
    assert first_try is not None and (accepted - first_try).total_seconds() >= 2 * 600


def test_fault_store_quota_never_drains(aws: Emulator) -> None:
    # Still refused after 36 waits of 10 min (6 h): the point fails named, bounded, with no store task
    aws.faults.request("ec2.CreateStoreImageTask", "ResourceLimitExceeded", 400, times=1000)
    stack, arn, run = archive_run(aws)
    message = assert_item_failed(aws, stack, run, arn, "StoreQuotaExceededError")
    assert (aws.ec2.store_tasks, run.count("Wait For Store Quota"), aws.requests["ec2.CreateStoreImageTask"]) == ([], 36, 37)
    assert "EC2 refused to store" in message and "over its in-progress store quota 37 times" in message


def test_fault_backup_throttled_then_answers(aws: Emulator) -> None:
    # AWS Backup throttles ListRecoveryPointsByBackupVault 7 times: the SDK's 6 requests (5 retries) fail once
    # (ThrottledError), the state's retry gets one more throttle and then the answer; the point is archived once
    aws.faults.request("backup.ListRecoveryPointsByBackupVault", "ThrottlingException", 400, times=7)
    _, arn, run = archive_run(aws)
    assert_archived_once(aws, run, arn)
    failed = [e["lambdaFunctionFailedEventDetails"]["error"] for e in run.history if e["type"] == "LambdaFunctionFailed"]
    assert (failed, aws.requests["backup.ListRecoveryPointsByBackupVault"]) == (["ThrottledError"], 8)


def test_fault_backup_throttled_throughout(aws: Emulator) -> None:
    # Throttled through the state's 6 attempts of 6 requests each: the run fails at Select Recovery Points, named, one email, no side effect
    aws.faults.request("backup.ListRecoveryPointsByBackupVault", "ThrottlingException", 400, times=1000)
    stack, arn, run = archive_run(aws)
    assert (run.status, run.error) == ("FAILED", "ThrottledError")
    assert (aws.requests["backup.ListRecoveryPointsByBackupVault"], aws.ec2.store_tasks, aws.backup.points[arn].tags) == (36, [], {})
    (email,) = aws.emails(stack, run.arn)
    assert email["subject"] == "AMI archive failed: ThrottledError at SelectRecoveryPoints"
    assert "What to do: AWS throttled the run's reads beyond its retries; the next run (daily) tries again." in email["message"]


@pytest.mark.parametrize("refusal", ["vault-lock", "snapshot-lock"])
def test_fault_deletion_refused(aws: Emulator, refusal: str) -> None:
    # The vault is locked within the point's retention (DeleteRecoveryPoint refused), or the point's snapshots carry an
    # EBS Snapshot Lock (accepted, the point only EXPIRED): archived and tagged, the point kept, asked once, reported
    stack = aws.deploy(ArchiveVaultNames="daily", DeleteRecoveryPointAfterArchive="true")
    arn = aws.backup_ec2("daily", name="app-1", size_gb=20, days_ago=40, delete_after_days=365)
    if refusal == "vault-lock":
        aws.client("backup").put_backup_vault_lock_configuration(BackupVaultName="daily", MinRetentionDays=30)
    else:
        aws.backup.points[arn].snapshot_locked = True
    run = run_again(aws, stack)
    assert_archived_once(aws, run, arn)
    ((item,),) = [run.output["archived"]]
    reason = {
        "vault-lock": "InvalidRequestException: The recovery point cannot be deleted because backup vault daily is locked and "
        "the recovery point is within its retention period",
        "snapshot-lock": "AWS Backup accepted the deletion but the recovery point is only EXPIRED: Deletion failed: the "
        "recovery point's snapshots are locked by an Amazon EBS Snapshot Lock",
    }[refusal]
    assert item["deletion"] == {"outcome": "refused", "reason": reason, "checks": 1}
    assert (aws.requests["backup.DeleteRecoveryPoint"], aws.backup.deleted, arn in aws.backup.points) == (1, [], True)
    assert aws.backup.points[arn].tags == {"glacier-ami-restore:archived-to": f"s3://{item['bucket']}/{item['key']}"}
    (email,) = aws.emails(stack, run.arn)
    assert f"  the recovery point is kept: deletion refused: {reason}. Its archive is safe;" in email["message"]


@pytest.mark.parametrize("fault", ["not-written", "wrong-size"])
def test_fault_object_unverified(aws: Emulator, monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    # The store task completed, but the object is gone before Verify Archive reads it (deleted by someone), or it holds
    # 30 GiB for an AMI of 20 GiB: the point fails ArchiveVerificationError; nothing is tagged or deleted
    stack = aws.deploy(ArchiveVaultNames="daily", DeleteRecoveryPointAfterArchive="true")
    arn = aws.backup_ec2("daily", name="app-1", size_gb=20, days_ago=40)
    image = arn.rsplit("/", 1)[1]
    bucket, s3 = stack.physical["ArchiveStoreBucket"], aws.client("s3")
    if fault == "not-written":
        after_handler(monkeypatch, stack, "ReleaseStoreBudgetFunction", lambda: s3.delete_object(Bucket=bucket, Key=f"{image}.bin"))
    else:
        aws.world.sizes[f"{image}.bin"] = 30 * GIB
    run = run_again(aws, stack)
    message = assert_item_failed(aws, stack, run, arn, "ArchiveVerificationError")
    assert [t.state for t in aws.ec2.store_tasks] == ["Completed"]
    cause = {
        "not-written": f"s3://{bucket}/{image}.bin does not exist although its store task completed",
        "wrong-size": f"s3://{bucket}/{image}.bin holds {30 * GIB:,} bytes, implausible for an AMI of {20 * GIB:,} bytes of snapshot data",
    }[fault]
    assert f"- {arn} ({image}): ArchiveVerificationError: {cause}" in message
