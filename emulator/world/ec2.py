"""EC2's store and restore image tasks as AWS runs them (EC2 User Guide, "Store and restore an AMI using S3": [EC2-SR]).

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
The images, volumes and snapshots themselves are the account's (an `ImageRegistry`, kept in moto by the adapters).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from emulator.world.clock import VirtualClock
from emulator.world.draws import World
from emulator.world.errors import AWSError
from emulator.world.events import EventBus
from emulator.world.facts import ARCHIVED_CLASSES, GB, STORE_TAG_KEYS
from emulator.world.s3 import S3Model

UNREADABLE_REASON = "The restore task could not read s3://{bucket}/{key}: the object is archived or its restored copy expired"
QUOTA_REASON = "The restore task exceeded the in-progress restore quota for this account"


@dataclass(frozen=True)
class ImageFacts:
    name: str
    description: str
    creation_date: str
    owner_id: str


class ImageRegistry(Protocol):
    """The account's images, volumes and snapshots (the adapters keep them in moto)."""

    def describe(self, region: str, image_id: str) -> ImageFacts:
        """The image's facts; raises the error EC2 answers for an image that does not exist."""

    def name_taken(self, region: str, name: str) -> bool:
        """Does one of the account's own images carry this name?"""

    def register(self, region: str, name: str, description: str, size_bytes: int, tags: dict[str, dict[str, str]]) -> str:
        """A `pending` image with one snapshot of the size; `tags` by resource type ("image", "snapshot")."""

    def exists(self, region: str, image_id: str) -> bool: ...

    def set_state(self, region: str, image_id: str, state: str, reason: dict[str, str] | None) -> None: ...


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
    clock: VirtualClock
    s3: S3Model
    images: ImageRegistry
    account_id: str
    bus: EventBus | None = None
    take_image_fault: Callable[[], str | None] | None = None  # the emulator's faults: the next image that fails
    store_tasks: list[StoreTask] = field(default_factory=list)
    image_restores: dict[str, ImageRestore] = field(default_factory=dict)
    restore_image_calls: list[dict[str, Any]] = field(default_factory=list)

    def now(self) -> datetime:
        return self.clock.now()

    # --- CreateStoreImageTask ---------------------------------------------------------------------------------

    def store_image(self, region: str, image_id: str, bucket: str, extra_tags: dict[str, str], started_at: datetime | None = None) -> str:
        """Start a store task; `started_at` in the past stands for the archive side's history (months ago)."""
        key = f"{image_id}.bin"
        if any(t.image_id == image_id and t.bucket == bucket for t in self.store_tasks):
            # ASSUMPTION: the code is undocumented.
            raise AWSError("InvalidParameterValue", f"{image_id} is already stored in bucket {bucket}", 400)
        image = self.images.describe(region, image_id)
        start = started_at or self.now()
        values = (image.name, image.description, image.creation_date, image.owner_id, start.isoformat(timespec="seconds"))
        tags = dict(zip(STORE_TAG_KEYS, values, strict=True))
        self.world.object_size(key)
        completes = start + timedelta(seconds=self.world.store_duration(key))
        self.store_tasks.append(StoreTask(image_id, bucket, key, image.name, {**tags, **extra_tags}, start, completes))
        self.settle_store_tasks()
        return key

    def settle_store_tasks(self) -> None:
        """Write each finished store task's object (S3 reads call this first)."""
        for task in self.store_tasks:
            if task.written or self.now() < task.completes_at:
                continue
            self.s3.objects.put(task.bucket, task.key, task.tags)
            task.written = True

    def store_task_results(self, image_ids: list[str]) -> list[dict[str, Any]]:
        self.settle_store_tasks()
        results = []
        for task in self.store_tasks:
            if image_ids and task.image_id not in image_ids:
                continue
            done = task.written
            total = (task.completes_at - task.started_at).total_seconds()
            progress = 100 if done else int(100 * (self.now() - task.started_at).total_seconds() / total)
            results.append({"AmiId": task.image_id, "Bucket": task.bucket, "S3objectKey": task.key, "TaskStartTime": task.started_at,
                            "StoreTaskState": "Completed" if done else "InProgress", "ProgressPercentage": progress})  # fmt: skip
        return results

    # --- CreateRestoreImageTask -------------------------------------------------------------------------------

    def in_flight_bytes(self, region: str) -> int:
        self.settle_images(region)
        return sum(r.size for r in self.image_restores.values() if not r.settled and r.region == region)  # per account and Region

    def restore_image(self, region: str, bucket: str, key: str, name: str | None, tag_specs: list[dict[str, Any]]) -> str:
        call: dict[str, Any] = {"bucket": bucket, "key": key, "name": name, "at": self.now()}
        self.restore_image_calls.append(call)
        try:
            image_id = self._restore_image(region, bucket, key, name, tag_specs)
        except AWSError as error:
            call["error"] = error.code
            raise
        call["imageId"] = image_id
        return image_id

    def _restore_image(self, region: str, bucket: str, key: str, name: str | None, tag_specs: list[dict[str, Any]]) -> str:
        self.settle_store_tasks()
        storage_class = self.s3.objects.storage_class(bucket, key)
        if storage_class is None:
            raise AWSError("InvalidParameterValue", f"The S3 object s3://{bucket}/{key} does not exist", 400)
        readable = self.s3.is_readable(bucket, key, storage_class)
        failure = None
        if not readable:
            if self.world.unreadable_object_answer == "error":
                raise AWSError("InvalidObjectState", f"The S3 object s3://{bucket}/{key} is archived and not restored", 400)
            failure = UNREADABLE_REASON.format(bucket=bucket, key=key)
        size = self.world.object_size(key)
        in_flight = self.in_flight_bytes(region)
        # ASSUMPTION: a task larger than the whole quota is admitted when nothing else is in flight (AWS documents
        # AMIs up to 5,000 GB, so such a restore must be possible).
        if in_flight > 0 and in_flight + size > self.world.image_restore_quota_gb * GB:
            if self.world.quota_answer == "error":
                raise AWSError("ResourceLimitExceeded", "You have exceeded the quota for in-progress image restores", 400)
            failure = failure or QUOTA_REASON
        name = name or self.s3.objects.tags(bucket, key).get("ami-name") or key
        if not 3 <= len(name) <= 128:
            raise AWSError("InvalidAMIName.Malformed", "AMI names must be between 3 and 128 characters long", 400)
        if self.images.name_taken(region, name):
            raise AWSError("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI owned by this account", 400)
        tags = {spec["ResourceType"]: {t["Key"]: t["Value"] for t in spec.get("Tags", [])} for spec in tag_specs}
        image_id = self.images.register(region, name, f"Restored from s3://{bucket}/{key}", size, tags)
        now = self.now()
        ready = now + timedelta(seconds=self.world.image_duration(key))
        # ASSUMPTION: a rejection in the failed-image form shows within a minute; an injected fault (data found
        # corrupt) at the end of the restore.
        fail_at = now + timedelta(minutes=1) if failure else ready
        failure = failure or (self.take_image_fault() if self.take_image_fault else None)
        self.image_restores[image_id] = ImageRestore(image_id, region, bucket, key, size, now, ready, failure, fail_at)
        if self.bus is not None:  # settle at the moments the state can change, so its event goes out then
            copy = self.s3.restores.get((bucket, key))
            for moment in {ready, fail_at, *([copy.expiry] if copy and copy.expiry and copy.expiry < ready else [])}:
                self.clock.call_at(moment, lambda: self.settle_images(region))
        return image_id

    def unlisted(self, region: str) -> set[str]:
        """The images DescribeImages does not list yet: created by a restore less than the world's listing lag ago
        [EC2-EC] (EC2 knows them: their name is taken, their id can be tagged)."""
        lag, now = timedelta(seconds=self.world.image_listing_lag_seconds), self.now()
        return {r.image_id for r in self.image_restores.values() if r.region == region and now < r.started_at + lag}

    def settle_images(self, region: str) -> None:
        """pending -> available, or failed: at the copy's expiry if it expires before the image is read."""
        now = self.now()
        for restore in list(self.image_restores.values()):
            if restore.settled or restore.region != region or not self.images.exists(region, restore.image_id):
                continue
            reason = restore.failure if restore.fail_at is not None and now >= restore.fail_at else None
            if reason is None and self._copy_lost_before(restore, min(now, restore.ready_at)):
                reason = UNREADABLE_REASON.format(bucket=restore.bucket, key=restore.key)
            if reason is not None:
                self.images.set_state(region, restore.image_id, "failed", {"Code": "Client.RestoreImageTaskFailed", "Message": reason})
                restore.settled = True
                self._emit_state(restore, "failed", reason)
            elif restore.failure is None and now >= restore.ready_at:
                self.images.set_state(region, restore.image_id, "available", None)
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
        storage_class = self.s3.objects.storage_class(restore.bucket, restore.key)
        if storage_class is None:
            return True
        if storage_class not in ARCHIVED_CLASSES:
            return False
        # The copy it reads: the current one, or the one that expired since (S3 drops it when it is next read)
        copy = self.s3.restores.get((restore.bucket, restore.key)) or self.s3.expired.get((restore.bucket, restore.key))
        return copy is None or (copy.expiry is not None and copy.expiry <= moment)
