"""S3 as the workflow meets it, on top of moto: objects with real sizes, restores that take time, copies that expire.

What this adds to moto (sources cited in emulator/world.py):
- Sizes: an object's size comes from the world (gigabytes to terabytes; no bytes are stored), in HeadObject
  `ContentLength` and ListObjectsV2 `Size`.
- RestoreObject takes the world's time (`ongoing-request="true"` meanwhile) and answers 202 new, 200 already
  restored (the expiry moves to now + Days), 409 RestoreAlreadyInProgress, 403 ObjectAlreadyInActiveTierError on a
  readable object; a faster tier speeds a restore up. Days is refused for Intelligent-Tiering, which moves the
  object back to its frequent tier instead of making a copy.
- The copy expires at completion + Days, rounded up to the next midnight UTC; an expired copy is unreadable again.
- ListObjectsV2 returns `RestoreStatus` when asked with OptionalObjectAttributes; GetObjectTagging works on archived
  objects (tags are metadata). moto 5.2.5 gets all of these wrong or lacks them.
- With EventBridge notifications on for the bucket (PutBucketNotificationConfiguration with EventBridgeConfiguration,
  in effect after the settling time AWS states), each restore emits `Object Restore Initiated` at the request,
  `Object Restore Completed` when the copy is readable and `Object Restore Expired` when it expires.
- GetBucketNotificationConfiguration answers `EventBridgeConfiguration` when it is on, and filter rule names as S3
  does (`Prefix`, `Suffix`, whatever case was written), so a read-modify-write meets S3's own document; moto 5.2.5
  leaves the first out and refuses those names on Put.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import xmltodict  # moto's own dependency
from moto.s3 import models as s3_models
from moto.s3 import responses as s3_responses
from moto.s3.exceptions import MissingKey

from emulator import binding
from emulator.wire import EmulatedError
from emulator.world import EVENTBRIDGE_SETTLING_SECONDS

if TYPE_CHECKING:
    from emulator.eventbridge import EventBus
    from emulator.world import World

ARCHIVED = ("GLACIER", "DEEP_ARCHIVE")
TIER_RANK = {"Expedited": 0, "Standard": 1, "Bulk": 2}  # lower is faster


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    account_id: str = "123456789012"
    region: str = "us-east-1"
    bus: EventBus | None = None
    eventbridge_since: dict[str, datetime] = field(default_factory=dict)  # bucket -> when its events start flowing
    restores: dict[tuple[str, str], Restore] = field(default_factory=dict)
    expired: dict[tuple[str, str], Restore] = field(default_factory=dict)  # the last copy that expired, per object
    archive_status: dict[tuple[str, str], str] = field(default_factory=dict)  # Intelligent-Tiering archive tiers
    restore_calls: list[dict[str, Any]] = field(default_factory=list)  # every RestoreObject, with the status answered

    def restore(self, bucket: str, key: str) -> Restore | None:
        """The object's restore as S3 sees it now (an expired copy is gone)."""
        found = self.restores.get((bucket, key))
        if found is None:
            return None
        now = utcnow()
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
        if storage_class not in ARCHIVED:
            return True
        found = self.restore(bucket, key)
        return found is not None and utcnow() >= found.ready_at

    def restore_object(self, bucket: str, key: str, storage_class: str, days: int | None, tier: str) -> int:
        """The status of a successful RestoreObject (202 or 200); raises the errors S3 answers."""
        call: dict[str, Any] = {"bucket": bucket, "key": key, "tier": tier, "days": days, "at": utcnow()}
        self.restore_calls.append(call)
        try:
            call["status"] = self._restore_object(bucket, key, storage_class, days, tier)
        except EmulatedError as error:
            call["status"] = error.http_status
            raise
        return int(call["status"])

    def _restore_object(self, bucket: str, key: str, storage_class: str, days: int | None, tier: str) -> int:
        self.restore(bucket, key)  # drop an expired copy, settle an Intelligent-Tiering restore
        tier_status = self.archive_status.get((bucket, key)) if storage_class == "INTELLIGENT_TIERING" else None
        if storage_class not in ARCHIVED and tier_status is None:
            raise EmulatedError("ObjectAlreadyInActiveTierError", "Restore is not allowed for the object's current storage class", 403)
        fam = family(storage_class, tier_status)
        if tier == "Expedited" and fam == "DEEP_ARCHIVE":
            # ASSUMPTION: the code is undocumented; S3's generic 400 for an impossible request.
            raise EmulatedError("InvalidArgument", "Expedited retrieval is not supported for this storage class or access tier", 400)
        if storage_class == "INTELLIGENT_TIERING" and days is not None:
            raise EmulatedError("InvalidArgument", "The specified object is not subject to restore expiry; Days must not be set", 400)
        if days is not None and days < 1:
            raise EmulatedError("MalformedXML", "Days must be a positive whole number", 400)
        if storage_class != "INTELLIGENT_TIERING" and days is None:
            raise EmulatedError("MalformedXML", "Days is required for objects in the GLACIER and DEEP_ARCHIVE classes", 400)
        now, found = utcnow(), self.restore(bucket, key)
        duration = timedelta(seconds=self.world.restore_duration(key, fam, tier))
        if found is not None and now < found.ready_at:
            if TIER_RANK[tier] >= TIER_RANK[found.tier]:
                raise EmulatedError("RestoreAlreadyInProgress", "Object restore is already in progress", 409)
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

    # --- events: S3 -> EventBridge ----------------------------------------------------------------------------

    def sends_events(self, bucket: str) -> bool:
        since = self.eventbridge_since.get(bucket)
        return since is not None and utcnow() >= since

    def _at(self, when: datetime, action: Any) -> None:
        if self.bus is not None:
            self.bus.clock.call_at(when, action)

    def _completed(self, bucket: str, key: str, storage_class: str) -> None:
        found = self.restores.get((bucket, key))
        if found is None or utcnow() < found.ready_at or found.completion_sent:
            return  # sped up and already announced, or gone
        found.completion_sent = True
        expiry = {"restore-expiry-time": found.expiry.strftime("%Y-%m-%dT%H:%M:%S.000Z")} if found.expiry else {}
        self._emit(bucket, key, "Object Restore Completed", {**expiry, "source-storage-class": storage_class})
        if found.expiry is not None:
            self._at(found.expiry, lambda: self._expired(bucket, key))

    def _expired(self, bucket: str, key: str) -> None:
        found = self.restores.get((bucket, key))
        if found is not None and found.expiry is not None and utcnow() >= found.expiry and self.restore(bucket, key) is None:
            self._emit(bucket, key, "Object Restore Expired", {})

    def _emit(self, bucket: str, key: str, detail_type: str, extra: dict[str, Any]) -> None:
        if self.bus is None or not self.sends_events(bucket):
            return
        stored = s3_models.s3_backends[self.account_id][binding.PARTITION].get_object(bucket, key)
        obj = {"key": key, "size": self.world.sizes.get(key, 0), "etag": stored.etag.strip('"') if stored else "", "sequencer": "0"}
        if detail_type == "Object Restore Expired":
            obj.pop("size")
        detail = {"version": "0", "bucket": {"name": bucket}, "object": obj, "request-id": "emulated",
                  "requester": "s3.amazonaws.com", **extra}  # fmt: skip
        self.bus.emit(self.region, "aws.s3", detail_type, detail, [f"arn:aws:s3:::{bucket}"])


def _model(key: Any) -> S3Model | None:
    emulator = binding.bound(key.account_id)
    return emulator.s3 if emulator is not None else None


# --- FakeKey: what HeadObject, GetObject and listings show ---------------------------------------------------------


def _size(key: Any) -> int:
    model = _model(key)
    if model is not None and key.name in model.world.sizes:
        return model.world.sizes[key.name]
    return int(key.contentsize)


def _expiry_get(key: Any) -> datetime | None:
    # moto prints x-amz-restore whenever _expiry is set (ongoing while `status` is IN_PROGRESS); only an archived
    # class's restore has the header.
    model = _model(key)
    if model is None or key.storage_class not in ARCHIVED:
        return None
    found = model.restore(key.bucket_name, key.name)
    if found is None:
        return None
    return found.expiry if utcnow() >= found.ready_at else found.ready_at


def _expiry_set(key: Any, value: datetime | None) -> None:
    """moto's own restore sets this; the emulated restore replaces it."""


def _status_get(key: Any) -> str:
    model = _model(key)
    found = model.restore(key.bucket_name, key.name) if model else None
    return "IN_PROGRESS" if found is not None and utcnow() < found.ready_at else "RESTORED"


def _response_dict(original: Any) -> Any:
    def response_dict(key: Any) -> dict[str, Any]:
        headers: dict[str, Any] = original.fget(key)
        model = _model(key)
        if model is None or key.storage_class != "INTELLIGENT_TIERING":
            return headers
        found = model.restore(key.bucket_name, key.name)
        status = model.archive_status.get((key.bucket_name, key.name))
        if status:
            headers["x-amz-archive-status"] = status
        if found is not None and utcnow() < found.ready_at:
            headers["x-amz-restore"] = 'ongoing-request="true"'
        return headers

    return property(response_dict)


# --- S3Response: the request handlers ------------------------------------------------------------------------------


def _key_response_post(original: Any) -> Any:
    def key_response_post(self: Any, request: Any, body: Any, bucket_name: str, query: dict[str, Any], key_name: str) -> Any:
        if "restore" not in query:
            return original(self, request, body, bucket_name, query, key_name)
        self._set_action("KEY", "POST", query)
        self._authenticate_and_authorize_s3_action(bucket_name=bucket_name, key_name=key_name)
        key = self.backend.get_object(bucket_name, key_name)
        if not key:
            raise MissingKey(key=key_name)
        params = xmltodict.parse(body)["RestoreRequest"]
        days = params.get("Days")
        tier = (params.get("GlacierJobParameters") or {}).get("Tier") or params.get("Tier") or "Standard"
        model = binding.require(self.current_account).s3
        status = model.restore_object(bucket_name, key_name, key.storage_class, int(days) if days is not None else None, tier)
        return status, {}, ""

    return key_response_post


def _get_object_tagging(original: Any) -> Any:
    """AWS serves an archived object's tags (they are metadata); moto refuses them like its data."""

    def get_object_tagging(self: Any) -> Any:
        get_key = self._get_key
        self._get_key = lambda validate_storage_class=True: get_key(validate_storage_class=False)
        try:
            return original(self)
        finally:
            del self._get_key

    return get_object_tagging


def _list_objects_v2(original: Any) -> Any:
    """OptionalObjectAttributes=RestoreStatus adds each archived object's restore status, as S3 does."""

    def list_objects_v2(self: Any) -> Any:
        if "RestoreStatus" not in self.headers.get("x-amz-optional-object-attributes", ""):
            return original(self)
        serialized = self.serialized
        model = binding.require(self.current_account).s3

        def with_restore_status(result: Any) -> Any:
            for item in result.result.get("Contents", []):
                key = self.backend.get_object(self.bucket_name, item["Key"])
                found = model.restore(self.bucket_name, item["Key"]) if key and key.storage_class in ARCHIVED else None
                if found is None:
                    continue
                ongoing = utcnow() < found.ready_at
                item["RestoreStatus"] = {"IsRestoreInProgress": ongoing, **({} if ongoing else {"RestoreExpiryDate": found.expiry})}
            return serialized(result)

        self.serialized = with_restore_status
        try:
            return original(self)
        finally:
            del self.serialized

    return list_objects_v2


def _settling(original: Any) -> Any:
    """A store task's object appears once the task completes: settle finished tasks before S3 answers a read."""

    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        emulator = binding.bound(self.current_account)
        if emulator is not None:
            emulator.ec2.settle_store_tasks()
        return original(self, *args, **kwargs)

    return read


def _put_notification_configuration(original: Any) -> Any:
    """Turning EventBridge notifications on takes effect after the settling time AWS states; off at once."""

    def put(self: Any, bucket_name: str, notification_config: dict[str, Any]) -> None:
        original(self, bucket_name, notification_config)
        emulator = binding.bound(self.account_id)
        if emulator is None:
            return
        if "EventBridgeConfiguration" in notification_config:
            emulator.s3.eventbridge_since.setdefault(bucket_name, utcnow() + timedelta(seconds=EVENTBRIDGE_SETTLING_SECONDS))
        else:
            emulator.s3.eventbridge_since.pop(bucket_name, None)

    return put


# S3 answers filter rule names capitalised (aws/aws-sdk#389) and takes them back in either case; moto asserts lowercase.
_FILTER_RULE_NAME = re.compile(r"<Name>\s*(prefix|suffix)\s*</Name>", re.IGNORECASE)
NOTIFICATION_KINDS = ("TopicConfigurations", "QueueConfigurations", "LambdaFunctionConfigurations")


def _notification_config_from_body(original: Any) -> Any:
    """PutBucketNotificationConfiguration takes `Prefix`/`Suffix` as S3 does (stored lowercase, as moto matches them)."""

    def parse(self: Any) -> Any:
        body = self.body.decode() if isinstance(self.body, bytes) else self.body
        self.body = _FILTER_RULE_NAME.sub(lambda m: f"<Name>{m.group(1).lower()}</Name>", body)
        return original(self)

    return parse


def _get_bucket_notification(original: Any) -> Any:
    """GetBucketNotificationConfiguration as S3 answers it: EventBridgeConfiguration when on, rule names capitalised."""

    def get(self: Any) -> Any:
        found = self.backend.get_bucket_notification_configuration(self.bucket_name)
        serialized = self.serialized

        def as_s3_answers(result: Any) -> Any:
            document = result.result
            if found is None or not isinstance(document, dict):
                return serialized(result)
            for kind in NOTIFICATION_KINDS:
                for item in document.get(kind, []):
                    if "Filter" in item:  # a copy: moto matches keys with its stored lowercase names
                        rules = item["Filter"]["Key"]["FilterRules"]
                        item["Filter"] = {"Key": {"FilterRules": [{**r, "Name": r["Name"].capitalize()} for r in rules]}}
            if found.event_bridge is not None:
                document["EventBridgeConfiguration"] = {}
            return serialized(result)

        self.serialized = as_s3_answers
        try:
            return original(self)
        finally:
            del self.serialized

    return get


def install() -> None:
    backend = s3_models.S3Backend
    backend.put_bucket_notification_configuration = _put_notification_configuration(backend.put_bucket_notification_configuration)  # type: ignore[method-assign]
    key_cls = s3_models.FakeKey
    key_cls.size = property(_size)  # type: ignore[assignment,method-assign]
    key_cls._expiry = property(_expiry_get, _expiry_set)  # type: ignore[assignment]
    key_cls.status = property(_status_get, lambda key, value: None)  # type: ignore[assignment]
    key_cls.response_dict = _response_dict(key_cls.response_dict)  # type: ignore[method-assign]
    response = s3_responses.S3Response
    response._key_response_post = _key_response_post(response._key_response_post)  # type: ignore[method-assign]
    response.get_object_tagging = _get_object_tagging(response.get_object_tagging)  # type: ignore[method-assign]
    response.list_objects_v2 = _settling(_list_objects_v2(response.list_objects_v2))  # type: ignore[method-assign]
    response.head_object = _settling(response.head_object)  # type: ignore[method-assign]
    response.get_bucket_notification = _get_bucket_notification(response.get_bucket_notification)  # type: ignore[method-assign]
    response._notification_config_from_body = _notification_config_from_body(response._notification_config_from_body)  # type: ignore[method-assign]
