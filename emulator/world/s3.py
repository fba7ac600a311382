"""S3 as the workflow meets it: archived objects whose restores take time, temporary copies that expire, events.

What S3 does here (sources in emulator/world/facts.py):
- RestoreObject takes the world's time (`ongoing-request="true"` meanwhile) and answers 202 new, 200 already
  restored (the expiry moves to now + Days), 409 RestoreAlreadyInProgress, 403 ObjectAlreadyInActiveTierError on a
  readable object; a faster tier speeds a restore up. Days is refused for Intelligent-Tiering, which moves the object
  back to its frequent tier instead of making a copy. [S3-RST], [S3-RET]
- The copy expires at completion + Days, rounded up to the next midnight UTC; an expired copy is unreadable again.
- With EventBridge notifications on for the bucket (in effect after the settling time AWS states), each restore
  emits `Object Restore Initiated` at the request, `Object Restore Completed` when the copy is readable and
  `Object Restore Expired` when it expires [S3-EB]; a new object emits `Object Created` with the API that made it as
  `reason`, and a lifecycle transition `Object Storage Class Changed` [S3-EVT].
The objects themselves (their class, tags, etag) are kept by whoever stores them: an `ObjectStore`.
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
from emulator.world.facts import ARCHIVED_CLASSES, EVENTBRIDGE_SETTLING_SECONDS, TIER_RANK


class ObjectStore(Protocol):
    """The account's stored objects (the adapters keep them in moto)."""

    def storage_class(self, bucket: str, key: str) -> str | None:
        """The object's class ("STANDARD" when S3 shows none); None when there is no such object."""

    def etag(self, bucket: str, key: str) -> str: ...

    def tags(self, bucket: str, key: str) -> dict[str, str]: ...

    def put(self, bucket: str, key: str, tags: dict[str, str], reason: str) -> None:
        """Write an object (no bytes: its size is the world's) with these tags, made by the S3 API `reason` names (the
        bucket's own notifications follow; its EventBridge event is the world's: S3Model.object_created)."""


def next_midnight(moment: datetime) -> datetime:
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == moment else midnight + timedelta(days=1)


def family(storage_class: str, archive_status: str | None) -> str:
    deep = storage_class == "DEEP_ARCHIVE" or archive_status == "DEEP_ARCHIVE_ACCESS"
    return "DEEP_ARCHIVE" if deep else "GLACIER"


@dataclass
class Restore:
    tier: str
    days: int | None  # None: Intelligent-Tiering, no copy and no expiry
    requested_at: datetime
    ready_at: datetime
    extended_expiry: datetime | None = None  # set by a RestoreObject on the restored copy
    completion_sent: bool = False

    @property
    def expiry(self) -> datetime | None:
        if self.days is None:
            return None
        return self.extended_expiry or next_midnight(self.ready_at + timedelta(days=self.days))


@dataclass
class S3Model:
    world: World
    clock: VirtualClock
    objects: ObjectStore
    bus: EventBus | None = None
    account_id: str = "123456789012"
    region: str = "us-east-1"
    eventbridge_since: dict[str, datetime] = field(default_factory=dict)  # bucket -> when its events start flowing
    restores: dict[tuple[str, str], Restore] = field(default_factory=dict)
    expired: dict[tuple[str, str], Restore] = field(default_factory=dict)  # the last copy that expired, per object
    archive_status: dict[tuple[str, str], str] = field(default_factory=dict)  # Intelligent-Tiering archive tiers
    restore_calls: list[dict[str, Any]] = field(default_factory=list)  # every RestoreObject, with the status answered
    history: set[tuple[str, str]] = field(default_factory=set)  # objects being made as they were long ago: not announced
    _sequencer: int = 0

    def now(self) -> datetime:
        return self.clock.now()

    def restore(self, bucket: str, key: str) -> Restore | None:
        """The object's restore as S3 sees it now (an expired copy is gone)."""
        found = self.restores.get((bucket, key))
        if found is None:
            return None
        now = self.now()
        if found.expiry is not None and now >= max(found.expiry, found.ready_at):
            self.expired[(bucket, key)] = found
            self.restores.pop((bucket, key), None)  # server threads and timers may race to drop it
            return None
        if found.days is None and now >= found.ready_at:
            self.archive_status.pop((bucket, key), None)  # back in the frequent access tier for good
        return found

    def ready_at(self, bucket: str, key: str) -> datetime | None:
        """When the object's restore made (or will make) it readable: the benchmark's ground truth."""
        found = self.restores.get((bucket, key))
        return found.ready_at if found else None

    def is_readable(self, bucket: str, key: str, storage_class: str) -> bool:
        if storage_class == "INTELLIGENT_TIERING":
            self.restore(bucket, key)
            return (bucket, key) not in self.archive_status
        if storage_class not in ARCHIVED_CLASSES:
            return True
        found = self.restore(bucket, key)
        return found is not None and self.now() >= found.ready_at

    def is_restoring(self, bucket: str, key: str) -> bool:
        found = self.restore(bucket, key)
        return found is not None and self.now() < found.ready_at

    def restore_object(self, bucket: str, key: str, storage_class: str, days: int | None, tier: str) -> int:
        """The status of a successful RestoreObject (202 or 200); raises the errors S3 answers."""
        call: dict[str, Any] = {"bucket": bucket, "key": key, "tier": tier, "days": days, "at": self.now()}
        self.restore_calls.append(call)
        try:
            call["status"] = self._restore_object(bucket, key, storage_class, days, tier)
        except AWSError as error:
            call["status"] = error.http_status
            raise
        return int(call["status"])

    def _restore_object(self, bucket: str, key: str, storage_class: str, days: int | None, tier: str) -> int:
        self.restore(bucket, key)  # drop an expired copy, settle an Intelligent-Tiering restore
        tier_status = self.archive_status.get((bucket, key)) if storage_class == "INTELLIGENT_TIERING" else None
        if storage_class not in ARCHIVED_CLASSES and tier_status is None:
            raise AWSError("ObjectAlreadyInActiveTierError", "Restore is not allowed for the object's current storage class", 403)
        fam = family(storage_class, tier_status)
        if tier == "Expedited" and fam == "DEEP_ARCHIVE":
            # ASSUMPTION: the code is undocumented; S3's generic 400 for an impossible request.
            raise AWSError("InvalidArgument", "Expedited retrieval is not supported for this storage class or access tier", 400)
        if storage_class == "INTELLIGENT_TIERING" and days is not None:
            raise AWSError("InvalidArgument", "The specified object is not subject to restore expiry; Days must not be set", 400)
        if days is not None and days < 1:
            raise AWSError("MalformedXML", "Days must be a positive whole number", 400)
        if storage_class != "INTELLIGENT_TIERING" and days is None:
            raise AWSError("MalformedXML", "Days is required for objects in the GLACIER and DEEP_ARCHIVE classes", 400)
        now, found = self.now(), self.restore(bucket, key)
        duration = timedelta(seconds=self.world.restore_duration(key, fam, tier))
        if found is not None and now < found.ready_at:
            if TIER_RANK[tier] >= TIER_RANK[found.tier]:
                raise AWSError("RestoreAlreadyInProgress", "Object restore is already in progress", 409)
            found.tier, found.ready_at = tier, min(found.ready_at, now + duration)  # a faster tier speeds it up
            self._at(found.ready_at, lambda: self._completed(bucket, key, storage_class))
            return 202
        if found is not None:  # a restored copy: its expiry moves to now + Days
            if days is not None:
                found.extended_expiry = next_midnight(now + timedelta(days=days))
                self._at(found.extended_expiry, lambda: self._expired(bucket, key))
            return 200
        restore = self.restores[(bucket, key)] = Restore(tier=tier, days=days, requested_at=now, ready_at=now + duration)
        self._emit(bucket, key, "Object Restore Initiated", {"source-storage-class": storage_class})
        self._at(restore.ready_at, lambda: self._completed(bucket, key, storage_class))
        return 202

    # --- the bucket's EventBridge setting [S3-EB] ----------------------------------------------------------------

    def events_configured(self, bucket: str, on: bool) -> None:
        """PutBucketNotificationConfiguration: EventBridge on takes effect after the settling time; off at once."""
        if on:
            self.eventbridge_since.setdefault(bucket, self.now() + timedelta(seconds=EVENTBRIDGE_SETTLING_SECONDS))
        else:
            self.eventbridge_since.pop(bucket, None)

    def sends_events(self, bucket: str) -> bool:
        since = self.eventbridge_since.get(bucket)
        return since is not None and self.now() >= since

    # --- events: S3 -> EventBridge --------------------------------------------------------------------------------

    def _at(self, when: datetime, action: Callable[[], None]) -> None:
        if self.bus is not None:
            self.clock.call_at(when, action)

    def _completed(self, bucket: str, key: str, storage_class: str) -> None:
        found = self.restores.get((bucket, key))
        if found is None or self.now() < found.ready_at or found.completion_sent:
            return  # sped up and already announced, or gone
        found.completion_sent = True
        expiry = {"restore-expiry-time": found.expiry.strftime("%Y-%m-%dT%H:%M:%S.000Z")} if found.expiry else {}
        self._emit(bucket, key, "Object Restore Completed", {**expiry, "source-storage-class": storage_class})
        if found.expiry is not None:
            self._at(found.expiry, lambda: self._expired(bucket, key))

    def _expired(self, bucket: str, key: str) -> None:
        found = self.restores.get((bucket, key))
        if found is not None and found.expiry is not None and self.now() >= found.expiry and self.restore(bucket, key) is None:
            self._emit(bucket, key, "Object Restore Expired", {})

    def object_created(self, bucket: str, key: str, reason: str, size: int | None = None, requester: str | None = None) -> None:
        """[S3-EVT] `Object Created`: `reason` is the API that made it; `requester` the account (or service principal)
        whose request wrote it. ASSUMPTION: no source-ip-address for objects a service writes (EC2's store tasks)."""
        if (bucket, key) in self.history:
            return
        self._sequencer += 1
        self._emit(bucket, key, "Object Created", {"requester": requester or self.account_id, "reason": reason},
                   size=self.world.sizes.get(key, size or 0), sequencer=f"{self._sequencer:016X}")  # fmt: skip

    def storage_class_changed(self, bucket: str, key: str, storage_class: str) -> None:
        """[S3-EVT] `Object Storage Class Changed`, as a lifecycle transition makes it."""
        self._emit(bucket, key, "Object Storage Class Changed", {"destination-storage-class": storage_class})

    def _emit(self, bucket: str, key: str, detail_type: str, extra: dict[str, Any], size: int | None = None, sequencer: str = "0") -> None:
        if self.bus is None or not self.sends_events(bucket):
            return
        etag = self.objects.etag(bucket, key) if self.objects.storage_class(bucket, key) is not None else ""
        obj = {"key": key, "size": self.world.sizes.get(key, 0) if size is None else size, "etag": etag, "sequencer": sequencer}
        if detail_type == "Object Restore Expired":
            obj.pop("size")
        detail = {"version": "0", "bucket": {"name": bucket}, "object": obj, "request-id": "emulated",
                  "requester": "s3.amazonaws.com", **extra}  # fmt: skip
        self.bus.emit(self.region, "aws.s3", detail_type, detail, [f"arn:aws:s3:::{bucket}"])
