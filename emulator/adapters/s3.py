"""S3 on moto, answering as the world's S3 (emulator/world/s3.py) does. Each patch replaces one thing moto 5.2.5 does
differently from S3:

- Sizes: HeadObject `ContentLength` and ListObjectsV2 `Size` come from the world (gigabytes to terabytes; no bytes
  are stored). moto: the stored bytes.
- RestoreObject is the world's (time, tiers, 409, 200, 403, expiry). moto: instant, any tier, never 409.
- The `x-amz-restore` header and Intelligent-Tiering's `x-amz-archive-status` show the world's restore.
- ListObjectsV2 returns `RestoreStatus` when asked with OptionalObjectAttributes (moto: never); GetObjectTagging
  works on archived objects (tags are metadata; moto refuses them like the data).
- HeadObject on a missing key answers 403 without s3:ListBucket on the bucket, 404 with it, when IAM is enforced
  (S3 User Guide, HeadObject permissions). moto: 404 always.
- PutBucketNotificationConfiguration with EventBridgeConfiguration turns the world's S3 events on (after the settling
  time AWS states); GetBucketNotificationConfiguration answers `EventBridgeConfiguration` when it is on, and filter
  rule names as S3 does (`Prefix`, `Suffix`, whatever case was written), so a read-modify-write meets S3's own
  document. moto leaves the first out and refuses those names on Put.
- A store task's object appears when the task completes: reads settle EC2's store tasks and the buckets' lifecycle
  transitions first (moto stores lifecycle rules and never applies them: the world's LifecycleModel does).
- PutBucketLifecycleConfiguration hands the rules to the world, which refuses what S3 refuses (Days under a class's
  minimum) before moto stores them; DeleteBucketLifecycle stops them.
- S3's `Object Created` EventBridge event is the world's (S3Model.object_created: AWS's fields, the bucket's settling
  time, the bus's delay, and only to the rules it matches). moto sends its own shape at once, with the event name as
  reason, to the targets of every rule. Its other EventBridge events stay moto's.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import xmltodict  # moto's own dependency
from moto.s3 import models as s3_models
from moto.s3 import notifications
from moto.s3 import responses as s3_responses
from moto.s3.exceptions import MissingKey
from moto.s3.notifications import S3NotificationEvent

from emulator.adapters import iam
from emulator.adapters.errors import answering_world_errors
from emulator.adapters.process import enforcing
from emulator.adapters.registry import PARTITION, bound, require
from emulator.world.facts import ARCHIVED_CLASSES
from emulator.world.lifecycle import StoredObject
from emulator.world.s3 import S3Model

# The API that made an object (the world's `reason`, S3 User Guide ev-events) and moto's notification event for it.
CREATED_EVENTS = {
    "PutObject": S3NotificationEvent.OBJECT_CREATED_PUT_EVENT,
    "POST Object": S3NotificationEvent.OBJECT_CREATED_POST_EVENT,
    "CopyObject": S3NotificationEvent.OBJECT_CREATED_COPY_EVENT,
    "CompleteMultipartUpload": S3NotificationEvent.OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD_EVENT,
}
CREATED_REASONS = {event.value: reason for reason, event in CREATED_EVENTS.items()}


class MotoObjects:
    """The world's ObjectStore: the account's objects in moto's S3 backend."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def _backend(self) -> Any:
        return s3_models.s3_backends[self.account_id][PARTITION]

    def storage_class(self, bucket: str, key: str) -> str | None:
        stored = self._backend().get_object(bucket, key)
        return (stored.storage_class or "STANDARD") if stored else None

    def etag(self, bucket: str, key: str) -> str:
        stored = self._backend().get_object(bucket, key)
        return str(stored.etag).strip('"') if stored else ""

    def tags(self, bucket: str, key: str) -> dict[str, str]:
        backend = self._backend()
        stored = backend.get_object(bucket, key)
        return dict(backend.tagger.get_tag_dict_for_resource(stored.arn)) if stored else {}

    def put(self, bucket: str, key: str, tags: dict[str, str], reason: str) -> None:
        backend = self._backend()
        stored = backend.put_object(bucket, key, b"", disable_notification=True)
        backend.tagger.tag_resource(stored.arn, [{"Key": k, "Value": v} for k, v in tags.items()])
        stored.announced_by_world = True  # its EventBridge event is the world's (the store task announces it)
        notifications.send_event(self.account_id, CREATED_EVENTS[reason], backend.get_bucket(bucket), stored)

    # --- the world's LifecycleStore -----------------------------------------------------------------------------------

    def listing(self, bucket: str) -> list[StoredObject]:
        backend = self._backend()
        found = backend.buckets.get(bucket)
        objects = []
        for key in found.keys.values() if found is not None else []:
            created = key.last_modified if key.last_modified.tzinfo else key.last_modified.replace(tzinfo=UTC)
            tags = dict(backend.tagger.get_tag_dict_for_resource(key.arn))
            objects.append(StoredObject(key.name, created, _size(key), tags, key.storage_class or "STANDARD"))
        return objects

    def set_storage_class(self, bucket: str, key: str, storage_class: str) -> None:
        stored = self._backend().get_object(bucket, key)
        if stored is not None:
            stored.set_storage_class(storage_class)


def _model(key: Any) -> S3Model | None:
    account = bound(key.account_id)
    return account.s3 if account is not None else None


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
    if model is None or key.storage_class not in ARCHIVED_CLASSES:
        return None
    found = model.restore(key.bucket_name, key.name)
    if found is None:
        return None
    return found.expiry if model.now() >= found.ready_at else found.ready_at


def _expiry_set(key: Any, value: datetime | None) -> None:
    """moto's own restore sets this; the emulated restore replaces it."""


def _status_get(key: Any) -> str:
    model = _model(key)
    return "IN_PROGRESS" if model is not None and model.is_restoring(key.bucket_name, key.name) else "RESTORED"


def _response_dict(original: Any) -> Any:
    def response_dict(key: Any) -> dict[str, Any]:
        headers: dict[str, Any] = original.fget(key)
        model = _model(key)
        if model is None or key.storage_class != "INTELLIGENT_TIERING":
            return headers
        restoring = model.is_restoring(key.bucket_name, key.name)
        status = model.archive_status.get((key.bucket_name, key.name))
        if status:
            headers["x-amz-archive-status"] = status
        if restoring:
            headers["x-amz-restore"] = 'ongoing-request="true"'
        return headers

    return property(response_dict)


# --- S3Response: the request handlers ------------------------------------------------------------------------------


def _key_response_post(original: Any) -> Any:
    @answering_world_errors
    def key_response_post(self: Any, request: Any, body: Any, bucket_name: str, query: dict[str, Any], key_name: str) -> Any:
        if "restore" not in query:
            return original(self, request, body, bucket_name, query, key_name)
        self._set_action("KEY", "POST", query)
        self._authenticate_and_authorize_s3_action(bucket_name=bucket_name, key_name=key_name)
        _settle_store_tasks(self.current_account)
        key = self.backend.get_object(bucket_name, key_name)
        if not key:
            raise MissingKey(key=key_name)
        params = xmltodict.parse(body)["RestoreRequest"]
        days = params.get("Days")
        tier = (params.get("GlacierJobParameters") or {}).get("Tier") or params.get("Tier") or "Standard"
        model = require(self.current_account).s3
        status = model.restore_object(bucket_name, key_name, key.storage_class, int(days) if days is not None else None, tier)
        return status, {}, ""

    return key_response_post


def _get_object_tagging(original: Any) -> Any:
    def get_object_tagging(self: Any) -> Any:
        get_key = self._get_key
        self._get_key = lambda validate_storage_class=True: get_key(validate_storage_class=False)
        try:
            return original(self)
        finally:
            del self._get_key

    return get_object_tagging


def _settle_store_tasks(account_id: str) -> None:
    """What S3 shows next may have changed with time: store tasks write their objects, lifecycle moves them."""
    account = bound(account_id)
    if account is not None:
        account.ec2.settle_store_tasks()
        account.lifecycle.settle()


def _get_object(original: Any) -> Any:
    def get_object(self: Any) -> Any:
        _settle_store_tasks(self.current_account)
        return original(self)

    return get_object


def _put_lifecycle(original: Any) -> Any:
    @answering_world_errors
    def put(self: Any, bucket_name: str, rules: list[dict[str, Any]]) -> None:
        account = bound(self.account_id)
        if account is not None:
            account.lifecycle.configured(bucket_name, copy.deepcopy(rules))  # refuses what S3 refuses, before moto stores it
        original(self, bucket_name, rules)

    return put


def _delete_lifecycle(original: Any) -> Any:
    def delete(self: Any, bucket_name: str) -> None:
        original(self, bucket_name)
        account = bound(self.account_id)
        if account is not None:
            account.lifecycle.removed(bucket_name)

    return delete


def _event_bridge_message(original: Any) -> Any:
    def send(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        account = bound(account_id)
        if account is None or event_name not in CREATED_REASONS:
            original(account_id, bucket, event_name, key)
        elif not getattr(key, "announced_by_world", False):
            account.s3.object_created(bucket.name, key.name, CREATED_REASONS[event_name], size=_size(key), requester=account_id)

    return send


def _list_objects_v2(original: Any) -> Any:
    def list_objects_v2(self: Any) -> Any:
        _settle_store_tasks(self.current_account)
        if "RestoreStatus" not in self.headers.get("x-amz-optional-object-attributes", ""):
            return original(self)
        serialized = self.serialized
        model = require(self.current_account).s3

        def with_restore_status(result: Any) -> Any:
            for item in result.result.get("Contents", []):
                key = self.backend.get_object(self.bucket_name, item["Key"])
                found = model.restore(self.bucket_name, item["Key"]) if key and key.storage_class in ARCHIVED_CLASSES else None
                if found is None:
                    continue
                ongoing = model.now() < found.ready_at
                item["RestoreStatus"] = {"IsRestoreInProgress": ongoing, **({} if ongoing else {"RestoreExpiryDate": found.expiry})}
            return serialized(result)

        self.serialized = with_restore_status
        try:
            return original(self)
        finally:
            del self.serialized

    return list_objects_v2


def _head_object(original: Any) -> Any:
    def head_object(self: Any, *args: Any, **kwargs: Any) -> Any:
        _settle_store_tasks(self.current_account)
        response = original(self, *args, **kwargs)
        if response[0] == 404 and enforcing():
            resource = f"arn:aws:s3:::{self.bucket_name}"
            if not iam.authorize(iam.caller(self.headers), "s3:ListBucket", resource, self.region, self.current_account):
                return 403, response[1], ""
        return response

    return head_object


def _put_notification_configuration(original: Any) -> Any:
    def put(self: Any, bucket_name: str, notification_config: dict[str, Any]) -> None:
        original(self, bucket_name, notification_config)
        account = bound(self.account_id)
        if account is not None:
            account.s3.events_configured(bucket_name, "EventBridgeConfiguration" in notification_config)

    return put


# S3 answers filter rule names capitalised (aws/aws-sdk#389) and takes them back in either case; moto asserts lowercase.
_FILTER_RULE_NAME = re.compile(r"<Name>\s*(prefix|suffix)\s*</Name>", re.IGNORECASE)
NOTIFICATION_KINDS = ("TopicConfigurations", "QueueConfigurations", "LambdaFunctionConfigurations")


def _notification_config_from_body(original: Any) -> Any:
    def parse(self: Any) -> Any:
        body = self.body.decode() if isinstance(self.body, bytes) else self.body
        self.body = _FILTER_RULE_NAME.sub(lambda m: f"<Name>{m.group(1).lower()}</Name>", body)
        return original(self)

    return parse


def _get_bucket_notification(original: Any) -> Any:
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
    # moto stores the configuration only: the world's S3 events start flowing (after S3's settling time) or stop.
    backend.put_bucket_notification_configuration = _put_notification_configuration(backend.put_bucket_notification_configuration)  # type: ignore[method-assign]
    # moto stores lifecycle rules and never applies them: the world applies them on the virtual clock.
    backend.put_bucket_lifecycle_configuration = _put_lifecycle(backend.put_bucket_lifecycle_configuration)  # type: ignore[method-assign]
    backend.delete_bucket_lifecycle = _delete_lifecycle(backend.delete_bucket_lifecycle)  # type: ignore[method-assign]
    # moto sends `Object Created` to EventBridge itself (its shape, at once, to every rule's targets): the world's event.
    notifications._send_event_bridge_message = _event_bridge_message(notifications._send_event_bridge_message)
    key_cls = s3_models.FakeKey
    # moto's size is the bytes stored (none here): the world's size of the AMI object.
    key_cls.size = property(_size)  # type: ignore[assignment,method-assign]
    # moto's restore expiry and status are its instant restore's: the world's restore in progress, copy and expiry.
    key_cls._expiry = property(_expiry_get, _expiry_set)  # type: ignore[assignment]
    key_cls.status = property(_status_get, lambda key, value: None)  # type: ignore[assignment]
    # moto shows no Intelligent-Tiering archive status or restore: both headers from the world.
    key_cls.response_dict = _response_dict(key_cls.response_dict)  # type: ignore[method-assign]
    # moto authorizes HeadBucket as s3:HeadBucket, an action IAM does not have: S3 authorizes it as s3:ListBucket (S3 API
    # Reference, HeadBucket: "you must have permissions to perform the s3:ListBucket action").
    s3_responses.ACTION_MAP["BUCKET"]["HEAD"]["DEFAULT"] = "ListBucket"
    response = s3_responses.S3Response
    # moto's RestoreObject completes at once, ignores the tier and never answers 409: the world's restore.
    response._key_response_post = _key_response_post(response._key_response_post)  # type: ignore[method-assign]
    # moto refuses an archived object's tags like its data: S3 serves them (they are metadata).
    response.get_object_tagging = _get_object_tagging(response.get_object_tagging)  # type: ignore[method-assign]
    # moto ignores OptionalObjectAttributes=RestoreStatus: each archived object's restore status, as S3 lists it.
    response.list_objects_v2 = _list_objects_v2(response.list_objects_v2)  # type: ignore[method-assign]
    # moto answers 404 for a missing key whatever the caller may list: 403 without s3:ListBucket, as S3 does.
    response.head_object = _head_object(response.head_object)  # type: ignore[method-assign]
    # moto's GetObject knows neither store tasks nor lifecycle: both settle first (an archived object is unreadable).
    response.get_object = _get_object(response.get_object)  # type: ignore[method-assign]
    # moto leaves EventBridgeConfiguration out and lowercases filter rule names: S3's own document.
    response.get_bucket_notification = _get_bucket_notification(response.get_bucket_notification)  # type: ignore[method-assign]
    # moto refuses `Prefix`/`Suffix` rule names, which S3 accepts in either case.
    response._notification_config_from_body = _notification_config_from_body(response._notification_config_from_body)  # type: ignore[method-assign]
