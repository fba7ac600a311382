"""EC2's store and restore image tasks, which moto lacks (it raises NotImplementedError for all three calls).

- CreateStoreImageTask writes `<ami-id>.bin` with the AMI's name and dates in its tags; the object "appears in the
  bucket only after the upload task has completed" (EC2 API Reference, CreateStoreImageTask) and takes the world's
  time by size. A second store of one AMI into one bucket fails.
- CreateRestoreImageTask returns a `pending` image at once; it becomes `available` after the world's time by size,
  or `failed` with a StateReason: when the restored copy it reads expires first, or when a test injects a failure.
  The in-progress quota is counted in GB (World.image_restore_quota_gb, 600 by default) and a task over it is
  rejected at once. AMI names are unique among the account's own AMIs.
- Undocumented answers (ASSUMPTIONS, each with a selectable form in World so the workflow is tested against both):
  the quota rejection (`ResourceLimitExceeded`, or an accepted task whose image ends `failed`) and an object that is
  not readable (`InvalidObjectState`, or an accepted task whose image ends `failed`).
- Every account sees public AMIs, owned by Amazon: the first PUBLIC_AMIS of moto's catalogue, not its 1,300 (loading
  those, each with its volume and snapshot, took 0.2 s of every emulator's first EC2 request).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from moto.core.parse import default_timestamp_parser
from moto.core.responses import ActionResult
from moto.ec2.models import amis as moto_amis
from moto.ec2.models import ec2_backends
from moto.ec2.responses import EC2Response
from moto.s3.models import s3_backends

from emulator import binding, iam
from emulator.wire import EmulatedError

if TYPE_CHECKING:
    from emulator.eventbridge import EventBus
    from emulator.s3 import S3Model
    from emulator.world import World

GB = 10**9
# ASSUMPTION: the tag keys (the EC2 User Guide lists what is stored - name, description, registration date, owner,
# store time - but not the keys).
STORE_TAG_KEYS = ("ami-name", "ami-description", "ami-creation-date", "ami-owner-id", "ami-store-date")
UNREADABLE_REASON = "The restore task could not read s3://{bucket}/{key}: the object is archived or its restored copy expired"
QUOTA_REASON = "The restore task exceeded the in-progress restore quota for this account"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class StoreTask:
    image_id: str
    bucket: str
    key: str
    name: str
    tags: dict[str, str]
    started_at: datetime
    completes_at: datetime
    written: bool = False


@dataclass
class ImageRestore:
    image_id: str
    region: str
    bucket: str
    key: str
    size: int
    started_at: datetime
    ready_at: datetime
    failure: str | None = None  # decided at creation: an injected fault, or a rejection in the failed-image form
    fail_at: datetime | None = None
    settled: bool = False
    available_at: datetime | None = None  # ground truth for the benchmark


@dataclass
class EC2Model:
    world: World
    s3: S3Model
    account_id: str
    store_tasks: list[StoreTask] = field(default_factory=list)
    image_restores: dict[str, ImageRestore] = field(default_factory=dict)
    restore_image_calls: list[dict[str, Any]] = field(default_factory=list)
    take_image_fault: Any = None  # set by the emulator: Faults.take_image
    bus: EventBus | None = None

    # --- CreateStoreImageTask ---------------------------------------------------------------------------------

    def store_image(self, region: str, image_id: str, bucket: str, extra_tags: dict[str, str], started_at: datetime | None = None) -> str:
        """Start a store task; `started_at` in the past stands for the archive side's history (months ago)."""
        key = f"{image_id}.bin"
        if any(t.image_id == image_id and t.bucket == bucket for t in self.store_tasks):
            # ASSUMPTION: the code is undocumented.
            raise EmulatedError("InvalidParameterValue", f"{image_id} is already stored in bucket {bucket}", 400)
        image = ec2_backends[self.account_id][region].describe_images(ami_ids=[image_id])[0]
        start = started_at or utcnow()
        name = str(image.name or image_id)
        values = (name, image.description or "", str(image.creation_date), str(image.owner_id), start.isoformat(timespec="seconds"))
        tags = dict(zip(STORE_TAG_KEYS, values, strict=True))
        self.world.object_size(key)
        completes = start + timedelta(seconds=self.world.store_duration(key))
        self.store_tasks.append(StoreTask(image_id, bucket, key, name, {**tags, **extra_tags}, start, completes))
        self.settle_store_tasks()
        return key

    def settle_store_tasks(self) -> None:
        """Write each finished store task's object (S3 reads call this first)."""
        s3 = s3_backends[self.account_id][binding.PARTITION]
        for task in self.store_tasks:
            if task.written or utcnow() < task.completes_at:
                continue
            stored = s3.put_object(task.bucket, task.key, b"")
            s3.tagger.tag_resource(stored.arn, [{"Key": k, "Value": v} for k, v in task.tags.items()])
            task.written = True

    def store_task_results(self, image_ids: list[str]) -> list[dict[str, Any]]:
        self.settle_store_tasks()
        results = []
        for task in self.store_tasks:
            if image_ids and task.image_id not in image_ids:
                continue
            done = task.written
            total = (task.completes_at - task.started_at).total_seconds()
            progress = 100 if done else int(100 * (utcnow() - task.started_at).total_seconds() / total)
            results.append({"AmiId": task.image_id, "Bucket": task.bucket, "S3objectKey": task.key, "TaskStartTime": task.started_at,
                            "StoreTaskState": "Completed" if done else "InProgress", "ProgressPercentage": progress})  # fmt: skip
        return results

    # --- CreateRestoreImageTask -------------------------------------------------------------------------------

    def in_flight_bytes(self, region: str) -> int:
        self.settle_images(region)
        return sum(r.size for r in self.image_restores.values() if not r.settled and r.region == region)  # per account and Region

    def restore_image(self, region: str, bucket: str, key: str, name: str | None, tag_specs: list[dict[str, Any]]) -> str:
        call: dict[str, Any] = {"bucket": bucket, "key": key, "name": name, "at": utcnow()}
        self.restore_image_calls.append(call)
        try:
            image_id = self._restore_image(region, bucket, key, name, tag_specs)
        except EmulatedError as error:
            call["error"] = error.code
            raise
        call["imageId"] = image_id
        return image_id

    def _restore_image(self, region: str, bucket: str, key: str, name: str | None, tag_specs: list[dict[str, Any]]) -> str:
        s3 = s3_backends[self.account_id][binding.PARTITION]
        self.settle_store_tasks()
        stored = s3.get_object(bucket, key)
        if not stored:
            raise EmulatedError("InvalidParameterValue", f"The S3 object s3://{bucket}/{key} does not exist", 400)
        readable = self.s3.is_readable(bucket, key, stored.storage_class or "STANDARD")
        failure = None
        if not readable:
            if self.world.unreadable_object_answer == "error":
                raise EmulatedError("InvalidObjectState", f"The S3 object s3://{bucket}/{key} is archived and not restored", 400)
            failure = UNREADABLE_REASON.format(bucket=bucket, key=key)
        size = self.world.object_size(key)
        in_flight = self.in_flight_bytes(region)
        # ASSUMPTION: a task larger than the whole quota is admitted when nothing else is in flight (AWS documents
        # AMIs up to 5,000 GB, so such a restore must be possible).
        if in_flight > 0 and in_flight + size > self.world.image_restore_quota_gb * GB:
            if self.world.quota_answer == "error":
                raise EmulatedError("ResourceLimitExceeded", "You have exceeded the quota for in-progress image restores", 400)
            failure = failure or QUOTA_REASON
        ec2 = ec2_backends[self.account_id][region]
        name = name or s3.tagger.get_tag_dict_for_resource(stored.arn).get("ami-name") or key
        if not 3 <= len(name) <= 128:
            raise EmulatedError("InvalidAMIName.Malformed", "AMI names must be between 3 and 128 characters long", 400)
        if any(image.name == name and image.owner_id == self.account_id for image in ec2.amis.values()):
            raise EmulatedError("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI owned by this account", 400)
        image = ec2.register_image(name, f"Restored from s3://{bucket}/{key}")
        image.state = "pending"
        volume = ec2.create_volume(size=max(1, size // GB), zone_name=f"{region}a")
        snapshot = ec2.create_snapshot(volume.id, f"Restored from s3://{bucket}/{key}")
        for spec in tag_specs:
            target = image.id if spec["ResourceType"] == "image" else snapshot.id
            ec2.create_tags([target], {t["Key"]: t["Value"] for t in spec.get("Tags", [])})
        now = utcnow()
        ready = now + timedelta(seconds=self.world.image_duration(key))
        # ASSUMPTION: a rejection in the failed-image form shows within a minute; an injected fault (data found
        # corrupt) at the end of the restore.
        fail_at = now + timedelta(minutes=1) if failure else ready
        failure = failure or (self.take_image_fault() if self.take_image_fault else None)
        self.image_restores[image.id] = ImageRestore(image.id, region, bucket, key, size, now, ready, failure, fail_at)
        if self.bus is not None:  # settle at the moments the state can change, so its event goes out then
            copy = self.s3.restores.get((bucket, key))
            for moment in {ready, fail_at, *([copy.expiry] if copy and copy.expiry and copy.expiry < ready else [])}:
                self.bus.clock.call_at(moment, lambda: self.settle_images(region))
        return str(image.id)

    def settle_images(self, region: str) -> None:
        """pending -> available, or failed: at the copy's expiry if it expires before the image is read."""
        ec2 = ec2_backends[self.account_id][region]
        now = utcnow()
        for restore in self.image_restores.values():
            image = ec2.amis.get(restore.image_id)
            if restore.settled or image is None or restore.region != region:
                continue
            reason = restore.failure if restore.fail_at is not None and now >= restore.fail_at else None
            if reason is None and self._copy_lost_before(restore, min(now, restore.ready_at)):
                reason = UNREADABLE_REASON.format(bucket=restore.bucket, key=restore.key)
            if reason is not None:
                image.state = "failed"
                image.state_reason = {"Code": "Client.RestoreImageTaskFailed", "Message": reason}  # type: ignore[attr-defined]
                restore.settled = True
                self._emit_state(restore, "failed", reason)
            elif restore.failure is None and now >= restore.ready_at:
                image.state = "available"
                restore.settled, restore.available_at = True, restore.ready_at
                self._emit_state(restore, "available", "")

    def _emit_state(self, restore: ImageRestore, state: str, reason: str) -> None:
        """EC2 AMI State Change (EC2 User Guide, monitor-ami-events), best effort: the bus may lose it."""
        if self.bus is not None:
            detail = {"RequestId": f"emulated-{restore.image_id}", "ImageId": restore.image_id, "State": state, "ErrorMessage": reason}
            self.bus.emit(
                restore.region, "aws.ec2", "EC2 AMI State Change", detail, [f"arn:aws:ec2:{restore.region}::image/{restore.image_id}"]
            )

    def _copy_lost_before(self, restore: ImageRestore, moment: datetime) -> bool:
        stored = s3_backends[self.account_id][binding.PARTITION].get_object(restore.bucket, restore.key)
        if stored is None:
            return True
        if stored.storage_class not in ("GLACIER", "DEEP_ARCHIVE"):
            return False
        # The copy it reads: the current one, or the one that expired since (S3 drops it when it is next read)
        copy = self.s3.restores.get((restore.bucket, restore.key)) or self.s3.expired.get((restore.bucket, restore.key))
        return copy is None or (copy.expiry is not None and copy.expiry <= moment)


# --- EC2Response: the query actions moto dispatches by name ---------------------------------------------------------


def _model(response: Any) -> EC2Model:
    return binding.require(response.current_account).ec2


def _create_store_image_task(self: Any) -> ActionResult:
    tags = {t["Key"]: t["Value"] for t in self._get_param("S3ObjectTags", [])}
    key = _model(self).store_image(self.region, self._get_param("ImageId"), self._get_param("Bucket"), tags)
    return ActionResult({"ObjectKey": key})


def _describe_store_image_tasks(self: Any) -> ActionResult:
    return ActionResult({"StoreImageTaskResults": _model(self).store_task_results(self._get_param("ImageIds", []))})


def _create_restore_image_task(self: Any) -> ActionResult:
    # EC2 writes the snapshots and tags the AMI and snapshots with the caller's permissions.
    credentials = iam.caller(self.headers)
    snapshots = f"arn:aws:ec2:{self.region}::snapshot/*"
    for action in ("ebs:StartSnapshot", "ebs:PutSnapshotBlock", "ebs:CompleteSnapshot"):
        iam.require(credentials, action, snapshots, self.region, self.current_account)
    for spec in self._get_param("TagSpecifications", []):
        iam.require(
            credentials, "ec2:CreateTags", f"arn:aws:ec2:{self.region}::{spec['ResourceType']}/*", self.region, self.current_account
        )
    image_id = _model(self).restore_image(
        self.region,
        self._get_param("Bucket"),
        self._get_param("ObjectKey"),
        self._get_param("Name"),
        self._get_param("TagSpecifications", []),
    )
    return ActionResult({"ImageId": image_id})


def _describe_images(original: Any) -> Any:
    def describe_images(self: Any) -> Any:
        if binding.bound(self.current_account) is not None:
            _model(self).settle_images(self.region)
        return original(self)

    return describe_images


PUBLIC_AMIS = 10


def _load_public_amis(self: Any) -> None:
    """moto's AmiBackend._load_amis, for the first PUBLIC_AMIS of its catalogue (owned by Amazon, as moto assumes)."""
    for ami in moto_amis.AMIS[:PUBLIC_AMIS]:
        fields = {**ami, "owner_alias": "amazon"}
        if isinstance(fields.get("creation_date"), str):
            fields["creation_date"] = default_timestamp_parser(fields["creation_date"])
        self.amis[fields["ami_id"]] = moto_amis.Ami(self, **fields)


def install() -> None:
    moto_amis.AmiBackend._load_amis = _load_public_amis  # type: ignore[method-assign]
    EC2Response.create_store_image_task = _create_store_image_task  # type: ignore[attr-defined]
    EC2Response.describe_store_image_tasks = _describe_store_image_tasks  # type: ignore[attr-defined]
    EC2Response.create_restore_image_task = _create_restore_image_task  # type: ignore[attr-defined]
    EC2Response.describe_images = _describe_images(EC2Response.describe_images)  # type: ignore[method-assign]
