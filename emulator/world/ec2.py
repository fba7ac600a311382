"""EC2's store and restore image tasks as AWS runs them (EC2 User Guide, "Store and restore an AMI using S3": [EC2-SR],
and "How AMI store and restore works": [EC2-SRW]), deregistration, and the status checks of launched instances.

- CreateStoreImageTask writes `<ami-id>.bin` (after the path given with the bucket: `bucket/path1/path2`) with the
  AMI's name and dates in its tags and the caller's S3ObjectTags; the object "appears in the bucket only after the
  upload task has completed" (EC2 API Reference, CreateStoreImageTask), an S3 multipart upload, so S3 announces it
  with the reason CompleteMultipartUpload, and takes the world's time by size. Refused at once: what AWS cannot store
  (instance-store-backed, paravirtual, over 5,000 GB, not the account's), a second copy of one AMI in one bucket, and
  any task while the store work in progress (GB of snapshot data) is at the quota (World.image_store_quota_gb, 1,200
  by default). A task fails when a test injects it or when the AMI is deregistered before the task ends.
  DescribeStoreImageTasks shows the last 31 days, newest first, filtered and paginated; with ImageIds, only the latest
  task of each AMI, filters ignored (aws/aws-sdk#601).
- CreateRestoreImageTask returns a `pending` image at once; it becomes `available` after the world's time by size,
  or `failed` with a StateReason: when the restored copy it reads expires first, or when a test injects a failure.
  The in-progress quota is counted in GB (World.image_restore_quota_gb, 600 by default) and a task over it is
  rejected at once. AMI names are unique among the account's own AMIs.
- DeregisterImage with DeleteAssociatedSnapshots deletes the image's snapshots, except those another AMI uses
  ("skipped"). [EC2-ST]
- A launched instance's system and instance status checks are `initializing`, then `ok` (or `impaired` when a test
  injects it) after the world's drawn time. [EC2-ST]
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
from emulator.world.facts import (
    ARCHIVED_CLASSES,
    GB,
    GIB,
    MAX_STORABLE_AMI_GB,
    OBJECT_TAGS_MAX,
    STORE_FAILURE_AT,
    STORE_OBJECT_REASON,
    STORE_TAG_KEYS,
    STORE_TASKS_IMAGE_IDS_MAX,
    STORE_TASKS_PAGE,
    STORE_TASKS_VISIBLE_DAYS,
    TAG_KEY_MAX,
    TAG_VALUE_MAX,
)
from emulator.world.s3 import S3Model

UNREADABLE_REASON = "The restore task could not read s3://{bucket}/{key}: the object is archived or its restored copy expired"
QUOTA_REASON = "The restore task exceeded the in-progress restore quota for this account"
# ASSUMPTION: the words of the failures AWS documents without quoting them.
SNAPSHOTS_GONE_REASON = "The snapshots of {image_id} were deleted or became inaccessible during the store task"
TAG_OVERFLOW_REASON = "The object's tags could not be set: S3 allows at most 10 tags per object"


@dataclass(frozen=True)
class ImageFacts:
    name: str
    description: str
    creation_date: str
    owner_id: str
    root_device_type: str = "ebs"  # "ebs" or "instance-store"
    virtualization_type: str = "hvm"  # "hvm" or "paravirtual"
    snapshots: tuple[tuple[str, int], ...] = ()  # (snapshot id, volume size in GB) of its EBS block device mappings
    shared_with: tuple[str, ...] = ()  # accounts with a launch permission on it (a direct share)

    @property
    def snapshot_bytes(self) -> int:
        return sum(gb for _, gb in self.snapshots) * GIB


class ImageRegistry(Protocol):
    """The account's images, volumes and snapshots (the adapters keep them in moto)."""

    def describe(self, region: str, image_id: str) -> ImageFacts:
        """The image's facts; raises the error EC2 answers for an image that does not exist."""

    def name_taken(self, region: str, name: str) -> bool:
        """Does one of the account's own images carry this name?"""

    def register(self, region: str, name: str, description: str, size_bytes: int, tags: dict[str, dict[str, str]]) -> str:
        """A `pending` image with one snapshot of the size; `tags` by resource type ("image", "snapshot")."""

    def exists(self, region: str, image_id: str) -> bool: ...

    def set_state(self, region: str, image_id: str, state: str, reason: dict[str, str] | None) -> None:
        """The image's state, and its snapshots' (pending, completed, error) with it."""

    def deregister(self, region: str, image_id: str) -> None: ...

    def snapshot_images(self, region: str, snapshot_id: str) -> list[str]:
        """The registered images whose block device mappings use the snapshot."""

    def delete_snapshot(self, region: str, snapshot_id: str) -> None: ...


@dataclass
class StoreTask:
    image_id: str
    region: str
    bucket: str  # the bucket's name (a path given with it is in the key)
    key: str
    name: str
    tags: dict[str, str]
    started_at: datetime
    completes_at: datetime
    work_bytes: int  # what the task counts against the store quota
    submitted_at: datetime  # when CreateStoreImageTask was called (after started_at for the archive side's history)
    state: str = "InProgress"  # InProgress | Completed | Failed
    failure: str | None = None  # the StoreTaskFailureReason it will end with, decided at creation
    fail_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def written(self) -> bool:
        return self.state == "Completed"

    def progress(self, now: datetime) -> int:
        end = min(now, self.ended_at or now)
        total = (self.completes_at - self.started_at).total_seconds()
        return 100 if self.state == "Completed" else min(99, int(100 * (end - self.started_at).total_seconds() / total))


def store_location(image_id: str, bucket: str) -> tuple[str, str]:
    """(bucket name, object key) a store task writes: `bucket/path1/path2` puts the key under `path1/path2/`."""
    name, _, path = bucket.partition("/")
    return name, f"{path.strip('/')}/{image_id}.bin" if path.strip("/") else f"{image_id}.bin"


@dataclass
class InstanceChecks:
    instance_id: str
    launched_at: datetime
    settles_at: datetime
    impaired: str | None  # "instance" or "system": the check that fails when they settle


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
    take_store_fault: Callable[[], str | None] | None = None  # the next store task that fails, and why
    take_instance_fault: Callable[[], str | None] | None = None  # the next instance whose checks fail, and which
    store_tasks: list[StoreTask] = field(default_factory=list)
    instances: dict[str, InstanceChecks] = field(default_factory=dict)
    image_restores: dict[str, ImageRestore] = field(default_factory=dict)
    restore_image_calls: list[dict[str, Any]] = field(default_factory=list)

    def now(self) -> datetime:
        return self.clock.now()

    # --- CreateStoreImageTask [EC2-SRW] --------------------------------------------------------------------------

    def store_image(self, region: str, image_id: str, bucket: str, extra_tags: dict[str, str], started_at: datetime | None = None) -> str:
        """Start a store task (the key it will write); `started_at` in the past stands for the archive side's history."""
        self.settle_store_tasks()
        name, key = store_location(image_id, bucket)
        for tag_key, value in extra_tags.items():
            if tag_key.startswith("aws:") or len(tag_key) > TAG_KEY_MAX or len(value) > TAG_VALUE_MAX:
                # ASSUMPTION: the code; the constraints are the S3ObjectTag type's.
                raise AWSError("InvalidParameterValue", f"Invalid S3 object tag {tag_key!r}: keys up to 128 characters, not starting "
                               "with aws:, values up to 256", 400)  # fmt: skip
        if any(t.image_id == image_id and t.bucket == name and t.state != "Failed" for t in self.store_tasks):
            # ASSUMPTION: the code is undocumented ("You can't create multiple copies of an AMI in the same S3 bucket").
            raise AWSError("InvalidParameterValue", f"{image_id} is already stored in bucket {name}", 400)
        image = self.images.describe(region, image_id)
        self._refuse_unstorable(image_id, image)
        start = started_at or self.now()
        values = (image.name, image.description, image.creation_date, image.owner_id, start.isoformat(timespec="seconds"))
        tags = {**dict(zip(STORE_TAG_KEYS, values, strict=True)), **extra_tags}
        overflow = len(tags) > OBJECT_TAGS_MAX
        if overflow and self.world.tag_overflow_answer == "error":
            raise AWSError("InvalidParameterValue", TAG_OVERFLOW_REASON, 400)  # ASSUMPTION: the code and the moment
        size = self._object_bytes(image_id, key, image.snapshot_bytes)
        work = max(image.snapshot_bytes, size)
        if self.store_work_bytes(region) >= self.world.image_store_quota_gb * GIB:
            # [EC2-SRW] rejected while the work in progress is at the quota. ASSUMPTION: the code (as for restores).
            raise AWSError("ResourceLimitExceeded", "You have exceeded the quota for in-progress image store tasks", 400)
        completes = start + timedelta(seconds=self.world.store_duration(key))
        task = StoreTask(image_id, region, name, key, image.name, tags, start, completes, work, self.now())
        injected = self.take_store_fault() if self.take_store_fault else None
        if injected is not None:
            task.failure, task.fail_at = injected, start + (completes - start) * STORE_FAILURE_AT
        elif overflow:  # ASSUMPTION: the tags are set as the upload completes, and fail it then
            task.failure, task.fail_at = TAG_OVERFLOW_REASON, completes
        self.store_tasks.append(task)
        if self.bus is not None:  # settle at the moment the task ends, so S3's event goes out then
            self.clock.call_at(task.fail_at or completes, self.settle_store_tasks)
        self.settle_store_tasks()
        return key

    def _refuse_unstorable(self, image_id: str, image: ImageFacts) -> None:
        """[EC2-SRW] what cannot be stored. ASSUMPTION: the codes (the guide lists the limits, not the answers)."""
        if image.root_device_type == "instance-store":
            raise AWSError("UnsupportedOperation", f"{image_id} is instance store-backed: only EBS-backed AMIs can be stored", 400)
        if image.virtualization_type == "paravirtual":
            raise AWSError("UnsupportedOperation", f"{image_id} is a paravirtual (PV) AMI, which cannot be stored", 400)
        if image.snapshot_bytes > MAX_STORABLE_AMI_GB * GIB:
            raise AWSError("InvalidParameterValue", f"{image_id} is larger than 5000 GB, the largest AMI that can be stored", 400)
        if image.owner_id != self.account_id and self.account_id not in image.shared_with:
            raise AWSError("InvalidParameterValue", f"{image_id} is neither owned by nor directly shared with this account", 400)

    def _object_bytes(self, image_id: str, key: str, snapshot_bytes: int) -> int:
        """The stored object's size: pinned by a test (by key, or as `<ami-id>.bin`), else the AMI's snapshot data
        compressed, else the world's draw for the key."""
        size = self.world.sizes.get(key) or self.world.sizes.get(f"{image_id}.bin")
        if size is None:
            size = int(snapshot_bytes * self.world.compression(image_id)) if snapshot_bytes else self.world.object_size(key)
        self.world.sizes[key] = size
        return size

    def store_work_bytes(self, region: str) -> int:
        """The store work in progress in the Region (what the quota counts)."""
        self.settle_store_tasks()
        return sum(t.work_bytes for t in self.store_tasks if t.state == "InProgress" and t.region == region)

    def settle_store_tasks(self) -> None:
        """End each task whose time has come: its object written (S3 reads call this first), or Failed."""
        now = self.now()
        for task in self.store_tasks:
            if task.state != "InProgress":
                continue
            if task.fail_at is not None and now >= task.fail_at:
                task.state, task.ended_at = "Failed", task.fail_at
            elif task.failure is None and now >= task.completes_at:
                self.s3.objects.put(task.bucket, task.key, task.tags, STORE_OBJECT_REASON)
                task.state, task.ended_at = "Completed", task.completes_at
                if task.completes_at >= task.submitted_at:  # the archive side's history was announced long ago
                    self.s3.object_created(task.bucket, task.key, STORE_OBJECT_REASON)

    def image_removed(self, region: str, image_id: str) -> None:
        """[EC2-SR] "the snapshots must not be deleted during the store task ... otherwise the store process will fail"."""
        self.settle_store_tasks()
        now = self.now()
        for task in self.store_tasks:
            if task.state == "InProgress" and task.region == region and task.image_id == image_id:
                task.state, task.ended_at, task.failure = "Failed", now, SNAPSHOTS_GONE_REASON.format(image_id=image_id)

    def store_task_results(
        self, image_ids: list[str], filters: dict[str, list[str]] | None = None, max_results: int | None = None, token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """DescribeStoreImageTasks: (results, next token)."""
        self.settle_store_tasks()
        now = self.now()
        visible = sorted((t for t in self.store_tasks if now - t.started_at <= timedelta(days=STORE_TASKS_VISIBLE_DAYS)),
                         key=lambda t: t.started_at, reverse=True)  # fmt: skip
        if image_ids:
            if max_results is not None:  # [EC2-SRW] ASSUMPTION: the code
                raise AWSError("InvalidParameterCombination", "The parameters ImageIds and MaxResults cannot be used together", 400)
            if len(image_ids) > STORE_TASKS_IMAGE_IDS_MAX:
                raise AWSError("InvalidParameterValue", "Up to 20 AMI IDs can be specified", 400)  # ASSUMPTION: the code
            latest = {t.image_id: t for t in reversed(visible) if t.image_id in image_ids}  # aws/aws-sdk#601: filters ignored
            return [self._store_result(t) for t in visible if latest.get(t.image_id) is t], None
        for name, values in (filters or {}).items():
            field_of = {"task-state": lambda t: t.state, "bucket": lambda t: t.bucket}.get(name)
            if field_of is None:
                raise AWSError("InvalidParameterValue", f"The filter '{name}' is invalid", 400)
            visible = [t for t in visible if field_of(t) in values]
        low, high = STORE_TASKS_PAGE
        if max_results is not None and not low <= max_results <= high:
            raise AWSError("InvalidParameterValue", f"MaxResults must be between {low} and {high}", 400)
        start = int(token) if token else 0
        end = len(visible) if max_results is None else start + max_results
        return [self._store_result(t) for t in visible[start:end]], (str(end) if end < len(visible) else None)

    def _store_result(self, task: StoreTask) -> dict[str, Any]:
        result = {"AmiId": task.image_id, "TaskStartTime": task.started_at, "Bucket": task.bucket, "S3objectKey": task.key,
                  "StoreTaskState": task.state, "ProgressPercentage": task.progress(self.now())}  # fmt: skip
        return {**result, "StoreTaskFailureReason": task.failure} if task.state == "Failed" else result

    # --- DeregisterImage [EC2-ST] -----------------------------------------------------------------------------------

    def deregister_image(
        self, region: str, image_id: str, delete_snapshots: bool, may_delete: Callable[[str], bool] = lambda _: True
    ) -> list[dict[str, str]]:
        """Deregister the image; with DeleteAssociatedSnapshots, delete each of its snapshots that no other AMI uses
        (ASSUMPTION: those are reported `skipped`) and the caller may delete (`may_delete`: its ec2:DeleteSnapshot; one
        refused is reported `missing-permissions`, EC2 API Reference, SnapshotReturnCodes). The DeleteSnapshotResults."""
        image = self.images.describe(region, image_id)
        self.images.deregister(region, image_id)
        self.image_removed(region, image_id)
        results = []
        for snapshot_id, _ in image.snapshots if delete_snapshots else ():
            if self.images.snapshot_images(region, snapshot_id):
                results.append({"SnapshotId": snapshot_id, "ReturnCode": "skipped"})
            elif not may_delete(snapshot_id):
                results.append({"SnapshotId": snapshot_id, "ReturnCode": "missing-permissions"})
            else:
                self.images.delete_snapshot(region, snapshot_id)
                results.append({"SnapshotId": snapshot_id, "ReturnCode": "success"})
        return results

    # --- status checks of launched instances [EC2-ST] -------------------------------------------------------------

    def instance_launched(self, instance_id: str) -> None:
        now = self.now()
        impaired = self.take_instance_fault() if self.take_instance_fault else None
        settles = now + timedelta(seconds=self.world.status_checks(instance_id))
        self.instances[instance_id] = InstanceChecks(instance_id, now, settles, impaired)

    def status_checks(self, instance_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(SystemStatus, InstanceStatus) of a running instance, as DescribeInstanceStatus shows them; None for an
        instance launched outside the world (moto's answer stands)."""
        checks = self.instances.get(instance_id)
        if checks is None:
            return None

        def summary(check: str) -> dict[str, Any]:
            if self.now() < checks.settles_at:
                return {"Status": "initializing", "Details": [{"Name": "reachability", "Status": "initializing"}]}
            if checks.impaired == check:
                detail = {"Name": "reachability", "Status": "failed", "ImpairedSince": checks.settles_at}
                return {"Status": "impaired", "Details": [detail]}
            return {"Status": "ok", "Details": [{"Name": "reachability", "Status": "passed"}]}

        return summary("system"), summary("instance")

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
