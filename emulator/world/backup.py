"""AWS Backup's EC2 recovery points as AWS keeps them ([BKP] in facts.py): moto 5.2.5 has vaults and plans, no recovery
points.

- An EC2 recovery point is a registered AMI and its snapshots (the account's, in EC2), COMPLETED at its completion date,
  with its size, encryption, lifecycle and the backup plan that made it. Its ARN is the image's,
  `arn:aws:ec2:<region>::image/ami-...`, in a standard vault, and `arn:aws:backup:<region>:<account>:recovery-point:<id>`
  in a logically air-gapped vault (logicallyairgappedvault).
- ListRecoveryPointsByBackupVault filters by resource type, resource ARN, plan and creation date, and pages;
  DescribeRecoveryPoint; TagResource, UntagResource and ListTags on a recovery point ARN (an `arn:aws:ec2:` one "may
  return" an error: World.image_arn_tagging selects).
- DeleteRecoveryPoint has the documented outcomes: refused while the vault is locked and the point inside its retention
  (vault-lock: "AWS Backup will deny the operation") or while a legal hold is active (legalhold); refused while the
  point is already DELETING (InvalidResourceStateException, the API's meaning of it); answered 200 while the point only
  becomes EXPIRED when its snapshots carry an EBS Snapshot Lock (deleting-backups) or when the role that made it may no
  longer delete it (API_DeleteRecoveryPoint); answered 200 and done otherwise: DELETING, then gone with its AMI
  deregistered and its snapshots deleted.
- A backup job's completion emits `Backup Job State Change` (state COMPLETED, the recovery point ARN in `resources`:
  eventbridge), at the next 5-minute mark: AWS Backup emits "in a best-effort manner every 5 minutes".
The vaults are the account's (a `VaultRegistry`, moto's backup vaults); the AMIs are EC2's (the world's EC2Model).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from emulator.world.clock import VirtualClock
from emulator.world.draws import World
from emulator.world.ec2 import EC2Model
from emulator.world.errors import AWSError
from emulator.world.events import EventBus
from emulator.world.facts import BACKUP_JOB_WINDOW_HOURS, BACKUP_LIST_PAGE, LEGAL_HOLD_MESSAGE

STANDARD, AIR_GAPPED = "BACKUP_VAULT", "LOGICALLY_AIR_GAPPED_BACKUP_VAULT"
# ASSUMPTION: the words of the answers AWS documents without quoting them; the vault lock refusal's code and message.
LOCKED_MESSAGE = (
    "The recovery point cannot be deleted because backup vault {vault} is locked and the recovery point is within its retention period"
)
SNAPSHOT_LOCK_MESSAGE = "Deletion failed: the recovery point's snapshots are locked by an Amazon EBS Snapshot Lock"
NO_PERMISSION_MESSAGE = "Deletion failed: the IAM role used to create the recovery point lacks permission to delete it"


@dataclass(frozen=True)
class VaultLock:
    min_retention_days: int | None
    max_retention_days: int | None


class VaultRegistry(Protocol):
    """The account's backup vaults (moto's)."""

    def arn(self, region: str, vault: str) -> str | None:
        """The vault's ARN; None when there is no such vault."""

    def lock(self, region: str, vault: str) -> VaultLock | None:
        """The vault's Vault Lock, if one is in place."""

    def counted(self, region: str, vault: str, recovery_points: int) -> None:
        """How many recovery points the vault holds (DescribeBackupVault's NumberOfRecoveryPoints)."""


@dataclass
class RecoveryPoint:
    arn: str
    vault: str
    region: str
    image_id: str
    resource_arn: str  # the backed-up instance
    created: datetime
    completed: datetime
    size_bytes: int
    encrypted: bool
    lifecycle: dict[str, int]  # MoveToColdStorageAfterDays, DeleteAfterDays (absent: kept until deleted)
    created_by: dict[str, str]  # BackupPlanId, BackupPlanArn, BackupPlanVersion, BackupRuleId
    iam_role_arn: str
    vault_type: str
    job_id: str
    status: str = "COMPLETED"
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    legal_holds: set[str] = field(default_factory=set)  # active holds
    snapshot_locked: bool = False  # an EBS Snapshot Lock on its snapshots
    role_may_delete: bool = True  # the role that made it may still delete it
    gone_at: datetime | None = None  # DELETING until then

    def retention_end(self) -> datetime | None:
        days = self.lifecycle.get("DeleteAfterDays")
        return self.created + timedelta(days=days) if days is not None else None


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class BackupModel:
    world: World
    clock: VirtualClock
    ec2: EC2Model
    vaults: VaultRegistry
    account_id: str
    bus: EventBus | None = None
    points: dict[str, RecoveryPoint] = field(default_factory=dict)  # by ARN, deleted ones gone
    air_gapped: set[tuple[str, str]] = field(default_factory=set)  # (region, vault) of logically air-gapped vaults
    deleted: list[RecoveryPoint] = field(default_factory=list)  # ground truth
    _count: int = 0

    def now(self) -> datetime:
        return self.clock.now()

    def _uuid(self, purpose: str) -> str:
        self._count += 1
        seed = random.Random(f"{self.world.seed}:backup:{purpose}:{self._count}")  # noqa: S311 - ids for a simulation
        return str(uuid.UUID(int=seed.getrandbits(128), version=4))

    # --- what a backup plan's job leaves behind -------------------------------------------------------------------

    def record_ec2(
        self,
        region: str,
        vault: str,
        image_id: str,
        instance_id: str,
        created: datetime,
        size_bytes: int,
        *,
        encrypted: bool = False,
        lifecycle: dict[str, int] | None = None,
        created_by: dict[str, str] | None = None,
        iam_role_arn: str = "",
        job_minutes: float = 0,
    ) -> RecoveryPoint:
        """An EC2 recovery point over a registered AMI, COMPLETED `job_minutes` after `created`."""
        if self.vaults.arn(region, vault) is None:
            raise AWSError("ResourceNotFoundException", f"Backup vault {vault} does not exist", 400)
        air_gapped = (region, vault) in self.air_gapped
        arn = (f"arn:aws:backup:{region}:{self.account_id}:recovery-point:{self._uuid('point').upper()}" if air_gapped
               else f"arn:aws:ec2:{region}::image/{image_id}")  # fmt: skip
        point = RecoveryPoint(
            arn=arn, vault=vault, region=region, image_id=image_id,
            resource_arn=f"arn:aws:ec2:{region}:{self.account_id}:instance/{instance_id}",
            created=created, completed=created + timedelta(minutes=job_minutes), size_bytes=size_bytes, encrypted=encrypted,
            lifecycle=dict(lifecycle or {}), created_by=dict(created_by or {}), iam_role_arn=iam_role_arn,
            vault_type=AIR_GAPPED if air_gapped else STANDARD, job_id=self._uuid("job").upper(),
        )  # fmt: skip
        self.points[arn] = point
        self._recount(region, vault)
        return point

    def announce(self, point: RecoveryPoint) -> None:
        """`Backup Job State Change` COMPLETED for the job that made the point, at the next 5-minute mark after its
        completion (or now, for a job long done). ASSUMPTION: the batching AWS describes as "every 5 minutes"."""
        if self.bus is None:
            return
        start = max(point.completed, self.now())
        mark = start.replace(minute=start.minute - start.minute % 5, second=0, microsecond=0)
        when = mark if mark == start else mark + timedelta(minutes=5)
        self.clock.call_at(when, lambda: self._emit_job(point))

    def _emit_job(self, point: RecoveryPoint) -> None:
        assert self.bus is not None  # noqa: S101 - announce() checked
        vault_arn = self.vaults.arn(point.region, point.vault) or ""
        detail: dict[str, Any] = {
            "backupJobId": point.job_id,
            "backupSizeInBytes": str(point.size_bytes),
            "backupVaultArn": vault_arn,
            "backupVaultName": point.vault,
            "bytesTransferred": str(point.size_bytes),
            "creationDate": iso(point.created),
            "iamRoleArn": point.iam_role_arn,
            "resourceArn": point.resource_arn,
            "resourceType": "EC2",
            "state": "COMPLETED",
            "completionDate": iso(point.completed),
            "startBy": iso(point.created + timedelta(hours=BACKUP_JOB_WINDOW_HOURS)),
            "percentDone": 100,
        }
        names = {"BackupPlanId": "backupPlanId", "BackupPlanArn": "backupPlanArn", "BackupPlanVersion": "backupPlanVersion",
                 "BackupRuleId": "backupPlanRuleId"}  # fmt: skip
        if point.created_by:  # ASSUMPTION: as the RUNNING and EXPIRED examples carry it (the COMPLETED example has none)
            detail["createdBy"] = {names[k]: v for k, v in point.created_by.items() if k in names}
        self.bus.emit(point.region, "aws.backup", "Backup Job State Change", detail, [point.arn])

    # --- the API -------------------------------------------------------------------------------------------------------

    def _vault(self, region: str, vault: str) -> str:
        arn = self.vaults.arn(region, vault)
        if arn is None:
            raise AWSError("ResourceNotFoundException", f"Backup vault {vault} does not exist", 400)
        return arn

    def _point(self, region: str, vault: str, arn: str) -> RecoveryPoint:
        self._vault(region, vault)
        self.settle()
        point = self.points.get(arn)
        if point is None or point.vault != vault or point.region != region:
            raise AWSError("ResourceNotFoundException", f"Recovery point {arn} does not exist in backup vault {vault}", 400)
        return point

    def list_by_vault(
        self, region: str, vault: str, filters: dict[str, Any], max_results: int | None = None, token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """ListRecoveryPointsByBackupVault. ASSUMPTION: newest first; ByCreatedBefore/After strict."""
        self._vault(region, vault)
        self.settle()
        found = [p for p in self.points.values() if p.vault == vault and p.region == region]
        if filters.get("ByResourceType"):
            found = [p for p in found if filters["ByResourceType"] == "EC2"]
        if filters.get("ByResourceArn"):
            found = [p for p in found if p.resource_arn == filters["ByResourceArn"]]
        if filters.get("ByBackupPlanId"):
            found = [p for p in found if p.created_by.get("BackupPlanId") == filters["ByBackupPlanId"]]
        if filters.get("ByCreatedBefore") is not None:
            found = [p for p in found if p.created < filters["ByCreatedBefore"]]
        if filters.get("ByCreatedAfter") is not None:
            found = [p for p in found if p.created > filters["ByCreatedAfter"]]
        found.sort(key=lambda p: p.created, reverse=True)
        low, high = BACKUP_LIST_PAGE
        if max_results is not None and not low <= max_results <= high:
            raise AWSError("InvalidParameterValueException", f"MaxResults must be between {low} and {high}", 400)
        start = int(token) if token else 0
        end = len(found) if max_results is None else start + max_results
        return [self.summary(p) for p in found[start:end]], (str(end) if end < len(found) else None)

    def summary(self, point: RecoveryPoint) -> dict[str, Any]:
        """A RecoveryPointByBackupVault."""
        answer: dict[str, Any] = {
            "RecoveryPointArn": point.arn,
            "BackupVaultName": point.vault,
            "BackupVaultArn": self.vaults.arn(point.region, point.vault),
            "ResourceArn": point.resource_arn,
            "ResourceType": "EC2",
            "IamRoleArn": point.iam_role_arn,
            "Status": point.status,
            "CreationDate": point.created,
            "CompletionDate": point.completed,
            "BackupSizeInBytes": point.size_bytes,
            "IsEncrypted": point.encrypted,
            "IsParent": False,
            "VaultType": point.vault_type,
        }
        if point.created_by:
            answer["CreatedBy"] = dict(point.created_by)
        if point.status_message:
            answer["StatusMessage"] = point.status_message
        if point.lifecycle:
            answer["Lifecycle"] = dict(point.lifecycle)
            calculated = {}
            if "DeleteAfterDays" in point.lifecycle:
                calculated["DeleteAt"] = point.created + timedelta(days=point.lifecycle["DeleteAfterDays"])
            if "MoveToColdStorageAfterDays" in point.lifecycle:
                calculated["MoveToColdStorageAt"] = point.created + timedelta(days=point.lifecycle["MoveToColdStorageAfterDays"])
            answer["CalculatedLifecycle"] = calculated
        return answer

    def describe(self, region: str, vault: str, arn: str) -> dict[str, Any]:
        """DescribeRecoveryPoint."""
        point = self._point(region, vault, arn)
        return {**self.summary(point), "StorageClass": "WARM"}  # EC2 backups have no cold tier (AWS Backup pricing)

    def delete(self, region: str, vault: str, arn: str) -> None:
        """DeleteRecoveryPoint: raises the refusals; an accepted deletion may still only make the point EXPIRED."""
        point = self._point(region, vault, arn)
        if point.status == "DELETING":
            raise AWSError("InvalidResourceStateException", "AWS Backup is already performing an action on this recovery point", 400)
        if point.legal_holds:
            raise AWSError("InvalidRequestException", LEGAL_HOLD_MESSAGE, 400)  # [BKP] re:Post's message; ASSUMPTION: the code
        lock = self.vaults.lock(region, vault)
        end = point.retention_end()
        if lock is not None and (end is None or self.now() < end):
            raise AWSError("InvalidRequestException", LOCKED_MESSAGE.format(vault=vault), 400)  # ASSUMPTION: code and message
        if point.snapshot_locked:
            point.status, point.status_message = "EXPIRED", SNAPSHOT_LOCK_MESSAGE
            return
        if not point.role_may_delete:
            point.status, point.status_message = "EXPIRED", NO_PERMISSION_MESSAGE
            return
        point.status, point.status_message = "DELETING", None
        point.gone_at = self.now() + timedelta(seconds=self.world.backup_deleting(arn))
        if self.bus is not None:
            self.clock.call_at(point.gone_at, self.settle)

    def settle(self) -> None:
        """Points whose deletion finished are gone, with their AMI deregistered and its snapshots deleted."""
        now = self.now()
        for point in [p for p in list(self.points.values()) if p.gone_at is not None and now >= p.gone_at]:
            if self.points.pop(point.arn, None) is None:
                continue  # a timer and a request settled it at once: the other one finishes it
            self.deleted.append(point)
            if self.ec2.images.exists(point.region, point.image_id):
                self.ec2.deregister_image(point.region, point.image_id, delete_snapshots=True)
            self._recount(point.region, point.vault)

    def _recount(self, region: str, vault: str) -> None:
        self.vaults.counted(region, vault, sum(1 for p in self.points.values() if p.vault == vault and p.region == region))

    # --- tags and holds --------------------------------------------------------------------------------------------

    def is_recovery_point(self, arn: str) -> bool:
        return (arn.startswith("arn:aws:ec2:") and ":image/" in arn) or ":recovery-point:" in arn

    def _tagged(self, arn: str) -> RecoveryPoint:
        self.settle()
        point = self.points.get(arn)
        if point is None:
            raise AWSError("ResourceNotFoundException", f"Resource {arn} does not exist", 400)
        if not arn.startswith("arn:aws:backup:") and self.world.image_arn_tagging == "error":
            # [BKP] ListTags: "other than arn:aws:backup, it may return one of the exceptions listed". ASSUMPTION: which.
            raise AWSError("InvalidParameterValueException", f"Tags of {arn} are not managed by AWS Backup: tag the resource itself", 400)
        return point

    def tag(self, arn: str, tags: dict[str, str]) -> None:
        self._tagged(arn).tags.update(tags)

    def untag(self, arn: str, keys: list[str]) -> None:
        point = self._tagged(arn)
        for key in keys:
            point.tags.pop(key, None)

    def list_tags(self, arn: str) -> dict[str, str]:
        return dict(self._tagged(arn).tags)

    def hold(self, arn: str, title: str = "legal hold") -> str:
        """A legal hold on the point (CreateLegalHold's effect on it); its id."""
        self.points[arn].legal_holds.add(hold_id := self._uuid("hold"))
        return hold_id

    def release(self, arn: str, hold_id: str) -> None:
        self.points[arn].legal_holds.discard(hold_id)
