"""The archive side, as the command line reads it: AWS Backup's EC2 recovery points and their archive status, and the
stack's ArchiveStateMachine runs.

Public APIs only: AWS Backup ListBackupVaults, ListRecoveryPointsByBackupVault and ListTags; EC2 DescribeImages (the
archived tag on the AMI, where AWS Backup refused it on the recovery point) and DescribeStoreImageTasks (store tasks in
progress); CloudFormation DescribeStacks (output ArchiveStateMachineArn); Step Functions StartExecution,
DescribeExecution and ListExecutions.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from glacier_ami_restore.archive import iso
from glacier_ami_restore.aws import POOL_SIZE, Aws, CliError

ARCHIVE_OUTPUT_KEY = "ArchiveStateMachineArn"
ARCHIVED_TAG = "glacier-ami-restore:archived-to"  # Mark Recovery Point Archived's tag: where the archive is
IMAGE_ARN = re.compile(r"arn:aws[\w-]*:ec2:[a-z0-9-]+::image/(ami-[0-9a-f]{8,17})")
MAX_DAYS = 36500  # Select Recovery Points' limit for olderThanDays


@dataclass(frozen=True)
class RecoveryPoint:
    vault: str
    arn: str
    image_id: str | None  # None: a logically air-gapped vault's point (AWS Backup keeps its AMI)
    created: datetime
    size_bytes: int | None
    backup_status: str  # AWS Backup's: COMPLETED, PARTIAL, DELETING, EXPIRED, ...
    archived_to: str | None  # s3://bucket/key, as the archive side tagged it
    storing: bool  # EC2 has a store task in progress for its AMI

    @property
    def status(self) -> str:
        """archived | storing | not archived."""
        return "archived" if self.archived_to else ("storing" if self.storing else "not archived")

    def as_json(self) -> dict[str, Any]:
        return {
            "vault": self.vault,
            "recoveryPointArn": self.arn,
            "imageId": self.image_id,
            "createdAt": iso(self.created),
            "sizeBytes": self.size_bytes,
            "backupStatus": self.backup_status,
            "archiveStatus": self.status,
            "archivedTo": self.archived_to,
        }


def vaults(aws: Aws) -> list[str]:
    names: list[str] = []
    for page in aws.client("backup").get_paginator("list_backup_vaults").paginate():
        names += [v["BackupVaultName"] for v in page["BackupVaultList"]]
    return sorted(names)


def listed_points(aws: Aws, vault: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    pages = aws.client("backup").get_paginator("list_recovery_points_by_backup_vault").paginate(BackupVaultName=vault, ByResourceType="EC2")
    try:
        for page in pages:
            found += page["RecoveryPoints"]
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("ResourceNotFoundException", "AccessDeniedException"):
            raise CliError(f"cannot list the recovery points of vault '{vault}' in {aws.region}: {code}") from error
        raise
    return found


def point_tags(aws: Aws, arn: str) -> dict[str, str]:
    try:
        tags: dict[str, str] = aws.client("backup").list_tags(ResourceArn=arn)["Tags"]
    except ClientError as error:
        if error.response["Error"]["Code"] in ("ThrottlingException", "TooManyRequestsException"):
            raise
        return {}  # ListTags "may" refuse an arn:aws:ec2 ARN (AWS Backup API Reference): the AMI's tags then say it
    return tags


def image_tags(aws: Aws, image_ids: list[str]) -> dict[str, dict[str, str]]:
    """Each AMI's tags (AMIs not in the account any more are absent), 200 ids per request."""
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(image_ids), 200):
        chunk = image_ids[start : start + 200]
        for image in aws.client("ec2").describe_images(Filters=[{"Name": "image-id", "Values": chunk}])["Images"]:
            found[image["ImageId"]] = {t["Key"]: t["Value"] for t in image.get("Tags", [])}
    return found


def storing(aws: Aws) -> set[str]:
    """The AMIs EC2 is storing now (DescribeStoreImageTasks, task-state InProgress)."""
    found: set[str] = set()
    paginator = aws.client("ec2").get_paginator("describe_store_image_tasks")
    for page in paginator.paginate(Filters=[{"Name": "task-state", "Values": ["InProgress"]}]):
        found |= {t["AmiId"] for t in page["StoreImageTaskResults"]}
    return found


def points_with_status(aws: Aws, chosen: list[str]) -> list[RecoveryPoint]:
    """The EC2 recovery points of the vaults (default: every vault of the Region), oldest first, with archive status."""
    names = chosen or vaults(aws)
    listed = [p for vault in names for p in listed_points(aws, vault)]
    with ThreadPoolExecutor(max_workers=POOL_SIZE) as pool:
        tags = list(pool.map(lambda p: point_tags(aws, p["RecoveryPointArn"]), listed))
    images = {arn: m.group(1) for p in listed if (m := IMAGE_ARN.fullmatch(arn := p["RecoveryPointArn"]))}
    on_images = image_tags(aws, sorted(set(images.values()))) if images else {}
    in_progress = storing(aws) if images else set()
    found = []
    for point, own in zip(listed, tags, strict=True):
        image_id = images.get(point["RecoveryPointArn"])
        archived = own.get(ARCHIVED_TAG) or on_images.get(image_id or "", {}).get(ARCHIVED_TAG)
        size = point.get("BackupSizeInBytes")
        found.append(RecoveryPoint(
            vault=point["BackupVaultName"], arn=point["RecoveryPointArn"], image_id=image_id,
            created=point["CreationDate"].astimezone(UTC), size_bytes=int(size) if size is not None else None,
            backup_status=point.get("Status", "?"), archived_to=archived, storing=image_id in in_progress,
        ))  # fmt: skip
    return sorted(found, key=lambda p: (p.created, p.arn))


def archive_state_machine(aws: Aws, stack: str) -> str:
    try:
        stacks = aws.cloudformation().describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ValidationError":
            raise CliError(f"no CloudFormation stack '{stack}' in {aws.region}: pass --stack / --region") from error
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for s in stacks for o in s.get("Outputs", [])}
    if ARCHIVE_OUTPUT_KEY not in outputs:
        raise CliError(f"stack '{stack}' has no archive side (output {ARCHIVE_OUTPUT_KEY}): deploy it with ArchiveVaultNames set")
    return outputs[ARCHIVE_OUTPUT_KEY]


def run_input(vault: str | None, older_than_days: int | None) -> dict[str, Any]:
    """Exactly what Select Recovery Points accepts: {} (the stack's vaults and ArchiveAfterDays), or either key."""
    if older_than_days is not None and not 0 <= older_than_days <= MAX_DAYS:
        raise CliError(f"--older-than-days must be a whole number from 0 to {MAX_DAYS}")
    body: dict[str, Any] = {}
    if vault is not None:
        body["vaultName"] = vault
    if older_than_days is not None:
        body["olderThanDays"] = older_than_days
    return body


def start_run(aws: Aws, machine: str, body: dict[str, Any]) -> str:
    arn: str = aws.sfn().start_execution(stateMachineArn=machine, input=json.dumps(body))["executionArn"]
    return arn


@dataclass(frozen=True)
class Run:
    arn: str
    name: str
    status: str
    started: datetime
    stopped: datetime | None
    input: dict[str, Any]
    output: dict[str, Any]  # the summary (archived, skipped, failed, alreadyArchived, deferred); {} while running
    error: str | None
    cause: str | None

    def counts(self) -> dict[str, int]:
        return {k: len(self.output.get(k) or []) for k in ("archived", "skipped", "failed")} | {
            k: int(self.output.get(k) or 0) for k in ("alreadyArchived", "deferred")
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "executionArn": self.arn, "name": self.name, "status": self.status, "startedAt": iso(self.started),
            "stoppedAt": iso(self.stopped) if self.stopped else None, "input": self.input, **self.output,
            "error": self.error, "cause": self.cause,
        }  # fmt: skip


def read_run(aws: Aws, arn: str) -> Run:
    described = aws.sfn().describe_execution(executionArn=arn)
    output = json.loads(described.get("output") or "null")
    given = json.loads(described.get("input") or "null")
    return Run(
        arn=arn, name=described["name"], status=described["status"], started=described["startDate"].astimezone(UTC),
        stopped=described["stopDate"].astimezone(UTC) if described.get("stopDate") else None,
        input=given if isinstance(given, dict) else {}, output=output if isinstance(output, dict) else {},
        error=described.get("error"), cause=described.get("cause"),
    )  # fmt: skip


def newest_run(aws: Aws, machine: str) -> str:
    listed = aws.sfn().list_executions(stateMachineArn=machine, maxResults=100)["executions"]
    if not listed:
        raise CliError("the archive state machine has no runs yet: start one with `glacier-ami-restore archive run`")
    return str(max(listed, key=lambda e: e["startDate"])["executionArn"])
