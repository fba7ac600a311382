"""The AWS behaviour moto lacks, in one place for the unit tests, the end-to-end tests, the demo and the benchmark.

`install()` patches moto once per process; `behaviour` holds the knobs a test turns (restore speed, Expedited
capacity, image outcome, quotas). What it adds (see ../shared/reference/aws-facts.md):

S3   GetObjectTagging works on archived objects. RestoreObject takes the class and tier's time
     (ongoing-request="true" meanwhile), answers 202 / 200 / 409 RestoreAlreadyInProgress /
     503 GlacierExpeditedRetrievalNotAvailable / 403 ObjectAlreadyInActiveTierError, refuses Expedited for
     Deep Archive and Days for Intelligent-Tiering, lets a faster tier speed up a restore, and expires the copy
     at request time + Days rounded up to midnight UTC. Intelligent-Tiering archive tiers
     (x-amz-archive-status) are modelled. Every RestoreObject call is logged in `behaviour.restore_calls`.
Any  request of the handlers can fail on demand (`behaviour.faults`, answered before moto sees it); every request
     is counted in `behaviour.requests`.
EC2  CreateStoreImageTask (object <ami-id>.bin with the AMI name in its tags), DescribeStoreImageTasks,
     CreateRestoreImageTask (image pending, then available or failed after `behaviour.image_seconds`, unique
     names, readable object required, in-progress quota). Calls logged in `behaviour.restore_image_calls`.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import xmltodict  # moto's own dependency
from botocore.awsrequest import AWSResponse
from moto import settings
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core import serialize as moto_serialize
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse
from moto.core.errors import ErrorShape
from moto.core.exceptions import AccessDeniedError
from moto.core.responses import ActionResult
from moto.ec2.models import ec2_backends
from moto.ec2.responses import EC2Response
from moto.iam.access_control import IAMRequest
from moto.s3 import models as s3_models
from moto.s3 import responses as s3_responses
from moto.s3.exceptions import MissingKey, S3ClientError
from moto.sns.models import sns_backends
from moto.sns.responses import SNSResponse

HOUR = 3600
ARCHIVED_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
TIER_SPEED = {"Expedited": 0, "Standard": 1, "Bulk": 2}  # lower is faster
# How long a restore takes, by (family, tier): early, typical and slow ends of AWS's published ranges.
RESTORE_SECONDS = {
    ("GLACIER", "Expedited"): {"early": 60, "typical": 3 * 60, "slow": 5 * 60},
    ("GLACIER", "Standard"): {"early": 3 * HOUR, "typical": 4 * HOUR, "slow": 5 * HOUR},
    ("GLACIER", "Bulk"): {"early": 5 * HOUR, "typical": 8 * HOUR, "slow": 12 * HOUR},
    ("DEEP_ARCHIVE", "Standard"): {"early": 9 * HOUR, "typical": 11 * HOUR, "slow": 12 * HOUR},
    ("DEEP_ARCHIVE", "Bulk"): {"early": 24 * HOUR, "typical": 36 * HOUR, "slow": 48 * HOUR},
}


class EmulatedError(S3ClientError):
    """An AWS error moto does not model, with the HTTP status AWS sends (S3's handler only serializes its own
    error class; EC2's serializes any ServiceException, which this is too)."""

    def __init__(self, code: str, message: str, http_status: int) -> None:
        super().__init__(code, message)
        self.http_status = http_status


@dataclass
class Fault:
    """The next `times` requests to `operation` ("s3.HeadObject", "ec2.CreateRestoreImageTask", "sns.Publish") fail."""

    operation: str
    code: str
    status: int = 400
    times: int = 1
    message: str = "injected by the emulator"


@dataclass
class Behaviour:
    """What the emulated AWS does; tests change these fields, `reset()` restores the defaults."""

    restore_speed: str = "typical"  # early | typical | slow
    restore_seconds: dict[str, float] = field(default_factory=dict)  # per object key: exact duration
    expedited_capacity_errors: int = 0  # the next N Expedited requests answer 503
    image_seconds: float = 10 * 60
    image_failure: str | None = None  # StateReason message: the next restored images end "failed"
    restore_image_quota_errors: int = 0  # the next N CreateRestoreImageTask calls are over the quota
    faults: list[Fault] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)  # "s3.HeadObject": HTTP requests sent, SDK retries included
    restore_calls: list[dict[str, Any]] = field(default_factory=list)
    restore_image_calls: list[dict[str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


behaviour = Behaviour()
_installed = False
_lock = threading.Lock()


def utcnow() -> datetime:
    return datetime.now(UTC)


def family(storage_class: str, archive_status: str | None) -> str:
    deep = storage_class == "DEEP_ARCHIVE" or archive_status == "DEEP_ARCHIVE_ACCESS"
    return "DEEP_ARCHIVE" if deep else "GLACIER"


def expiry_after(requested: datetime, days: int) -> datetime:
    """S3: request time + Days, rounded up to the next midnight UTC."""
    end = requested + timedelta(days=days)
    midnight = end.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == end else midnight + timedelta(days=1)


# --- S3: restores that take time ------------------------------------------------------------------------------


@dataclass
class RestoreState:
    tier: str
    ready_at: datetime
    expiry: datetime | None  # None for Intelligent-Tiering: the object moves back, no copy


def restore_state(key: Any) -> RestoreState | None:
    state: RestoreState | None = key.__dict__.get("_emulated_restore")
    if state is not None and state.expiry is not None and utcnow() >= max(state.expiry, state.ready_at):
        key.__dict__["_emulated_restore"] = None  # the temporary copy expired
        return None
    return state


def restore_ready_at(bucket_name: str, key_name: str) -> datetime | None:
    """When the emulated restore of the object made (or will make) it readable."""
    key = s3_models.s3_backends[_account()][_partition()].get_object(bucket_name, key_name)
    state: RestoreState | None = key.__dict__.get("_emulated_restore") if key else None
    return state.ready_at if state else None


def archive_status(key: Any) -> str | None:
    status: str | None = key.__dict__.get("_emulated_archive_status")
    state = restore_state(key)
    if status and state is not None and state.expiry is None and utcnow() >= state.ready_at:
        return None  # an Intelligent-Tiering restore moved it back to the Frequent Access tier
    return status


def set_archive_status(key: Any, status: str | None) -> None:
    key.__dict__["_emulated_archive_status"] = status


def is_readable(key: Any) -> bool:
    if key.storage_class == "INTELLIGENT_TIERING":
        return archive_status(key) is None
    if key.storage_class not in ARCHIVED_CLASSES:
        return True
    state = restore_state(key)
    return state is not None and utcnow() >= state.ready_at


def _expiry_get(key: Any) -> datetime | None:
    # moto prints x-amz-restore whenever _expiry is set; only an archived class's copy has one.
    state = restore_state(key)
    if state is None or key.storage_class not in ARCHIVED_CLASSES:
        return None
    return state.expiry


def _expiry_set(key: Any, value: datetime | None) -> None:
    if value is None:
        key.__dict__["_emulated_restore"] = None


def _status_get(key: Any) -> str:
    state = restore_state(key)
    return "IN_PROGRESS" if state is not None and utcnow() < state.ready_at else "RESTORED"


def _response_dict(original: Any) -> Any:
    def response_dict(key: Any) -> dict[str, Any]:
        headers: dict[str, Any] = original.fget(key)
        status = archive_status(key)
        if status:
            headers["x-amz-archive-status"] = status
        state = restore_state(key)
        if key.storage_class == "INTELLIGENT_TIERING" and state is not None and utcnow() < state.ready_at:
            headers["x-amz-restore"] = 'ongoing-request="true"'
        return headers

    return property(response_dict)


def restore_object(bucket_name: str, key_name: str, days: int | None, tier: str) -> int:
    """Returns the HTTP status of a successful RestoreObject (202 or 200); raises the AWS errors."""
    backend = s3_models.s3_backends[_account()][_partition()]
    key = backend.get_object(bucket_name, key_name)
    call = {"bucket": bucket_name, "key": key_name, "tier": tier, "days": days, "at": utcnow()}
    behaviour.restore_calls.append(call)
    if not key:
        call["status"] = 404
        raise MissingKey(key=key_name)
    storage_class, tier_status = key.storage_class, archive_status(key)
    archived = storage_class in ARCHIVED_CLASSES or (storage_class == "INTELLIGENT_TIERING" and tier_status)
    try:
        call["status"] = _restore_status(key, storage_class, tier_status, archived, days, tier)
    except EmulatedError as error:
        call["status"] = error.http_status
        raise
    return int(call["status"])


def _restore_status(key: Any, storage_class: str, tier_status: str | None, archived: bool, days: int | None, tier: str) -> int:
    if not archived:
        raise EmulatedError("ObjectAlreadyInActiveTierError", "Restore is not allowed for the object's current storage class", 403)
    fam = family(storage_class, tier_status)
    if tier == "Expedited" and fam == "DEEP_ARCHIVE":
        raise EmulatedError(
            "InvalidArgument", "Expedited retrieval is not supported for the Deep Archive storage class or access tier", 400
        )
    if (storage_class == "INTELLIGENT_TIERING") == (days is not None):
        raise EmulatedError("InvalidArgument", "Days must be set for GLACIER and DEEP_ARCHIVE and omitted for INTELLIGENT_TIERING", 400)
    if tier == "Expedited" and behaviour.expedited_capacity_errors > 0:
        behaviour.expedited_capacity_errors -= 1
        raise EmulatedError(
            "GlacierExpeditedRetrievalNotAvailable", "Glacier expedited retrievals are currently not available, please try again later", 503
        )
    now, state = utcnow(), restore_state(key)
    duration = timedelta(seconds=behaviour.restore_seconds.get(key.name, RESTORE_SECONDS[(fam, tier)][behaviour.restore_speed]))
    if state is not None and now < state.ready_at:
        if TIER_SPEED[tier] >= TIER_SPEED[state.tier]:
            raise EmulatedError("RestoreAlreadyInProgress", "Object restore is already in progress", 409)
        state.tier, state.ready_at = tier, min(state.ready_at, now + duration)  # a faster tier speeds it up
        return 202
    expiry = expiry_after(now, days) if days is not None else None
    if state is not None:  # already restored: S3 extends the copy's life
        state.expiry = expiry
        return 200
    key.__dict__["_emulated_restore"] = RestoreState(tier=tier, ready_at=now + duration, expiry=expiry)
    return 202


def _s3_key_response_post(original: Any) -> Any:
    def key_response_post(self: Any, request: Any, body: Any, bucket_name: str, query: dict[str, Any], key_name: str) -> Any:
        if "restore" not in query:
            return original(self, request, body, bucket_name, query, key_name)
        self._set_action("KEY", "POST", query)
        self._authenticate_and_authorize_s3_action(bucket_name=bucket_name, key_name=key_name)

        params = xmltodict.parse(body)["RestoreRequest"]
        days = params.get("Days")
        tier = (params.get("GlacierJobParameters") or {}).get("Tier") or params.get("Tier") or "Standard"
        return restore_object(bucket_name, key_name, int(days) if days is not None else None, tier), {}, ""

    return key_response_post


def _s3_get_object_tagging(original: Any) -> Any:
    """AWS serves an archived object's tags (they are metadata); moto refuses them like its data."""

    def get_object_tagging(self: Any) -> Any:
        get_key = self._get_key
        self._get_key = lambda validate_storage_class=True: get_key(validate_storage_class=False)
        try:
            return original(self)
        finally:
            del self._get_key

    return get_object_tagging


# --- EC2: store and restore image tasks ------------------------------------------------------------------------

# Tag keys CreateStoreImageTask writes on the object (the AMI's name, description and owner).
STORE_TAGS = ("ami-name", "ami-description", "ami-owner-id")


@dataclass
class ImageRestore:
    image_id: str
    ready_at: datetime
    failure: str | None


_image_restores: dict[str, ImageRestore] = {}
_store_tasks: list[dict[str, Any]] = []


def create_store_image_task(region: str, image_id: str, bucket_name: str, extra_tags: list[dict[str, str]]) -> str:
    ec2 = ec2_backends[_account()][region]
    image = ec2.describe_images(ami_ids=[image_id])[0]
    s3 = s3_models.s3_backends[_account()][_partition()]
    key_name = f"{image_id}.bin"
    key = s3.put_object(bucket_name, key_name, f"emulated AMI {image_id}".encode())
    tags = {"ami-name": image.name or image_id, "ami-description": image.description or "", "ami-owner-id": image.owner_id}
    tags.update({t["Key"]: t["Value"] for t in extra_tags})
    s3.tagger.tag_resource(key.arn, [{"Key": k, "Value": v} for k, v in tags.items()])
    _store_tasks.append(
        {
            "AmiId": image_id,
            "Bucket": bucket_name,
            "S3objectKey": key_name,
            "StoreTaskState": "Completed",
            "ProgressPercentage": 100,
            "TaskStartTime": utcnow(),
        }
    )
    return key_name


def create_restore_image_task(region: str, bucket_name: str, key_name: str, name: str | None, tag_specs: list[dict[str, Any]]) -> str:
    call = {"bucket": bucket_name, "key": key_name, "name": name, "at": utcnow()}
    behaviour.restore_image_calls.append(call)
    s3 = s3_models.s3_backends[_account()][_partition()]
    key = s3.get_object(bucket_name, key_name)
    if not key:
        raise EmulatedError("InvalidParameterValue", f"The S3 object s3://{bucket_name}/{key_name} does not exist", 400)
    if not is_readable(key):
        raise EmulatedError("InvalidObjectState", f"The S3 object s3://{bucket_name}/{key_name} is archived and not restored", 400)
    if behaviour.restore_image_quota_errors > 0:
        behaviour.restore_image_quota_errors -= 1
        raise EmulatedError("ResourceLimitExceeded", "You have exceeded the quota for in-progress image restores", 400)
    ec2 = ec2_backends[_account()][region]
    name = name or s3.tagger.get_tag_dict_for_resource(key.arn).get("ami-name") or key_name
    if not 3 <= len(name) <= 128:
        raise EmulatedError("InvalidAMIName.Malformed", "AMI names must be between 3 and 128 characters long", 400)
    if any(image.name == name for image in ec2.amis.values()):
        raise EmulatedError("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by another AMI", 400)
    image = ec2.register_image(name, f"Restored from s3://{bucket_name}/{key_name}")
    image.state = "pending"
    volume = ec2.create_volume(size=8, zone_name=f"{region}a")
    snapshot = ec2.create_snapshot(volume.id, f"Restored from s3://{bucket_name}/{key_name}")
    for spec in tag_specs:
        target = image.id if spec["ResourceType"] == "image" else snapshot.id
        ec2.create_tags([target], {t["Key"]: t["Value"] for t in spec.get("Tags", [])})
    _image_restores[image.id] = ImageRestore(image.id, utcnow() + timedelta(seconds=behaviour.image_seconds), behaviour.image_failure)
    call["imageId"] = image.id
    return str(image.id)


def refresh_images(region: str) -> None:
    """pending -> available / failed once the emulated restore time has passed."""
    ec2 = ec2_backends[_account()][region]
    for restore in list(_image_restores.values()):
        image = ec2.amis.get(restore.image_id)
        if image is None or utcnow() < restore.ready_at:
            continue
        image.state = "failed" if restore.failure else "available"
        if restore.failure:
            image.state_reason = {"Code": "Client.RestoreImageTaskFailed", "Message": restore.failure}
        del _image_restores[restore.image_id]


def _ec2_create_store_image_task(self: Any) -> ActionResult:
    tags = self._get_param("S3ObjectTags", [])
    key = create_store_image_task(self.region, self._get_param("ImageId"), self._get_param("Bucket"), tags)
    return ActionResult({"ObjectKey": key})


def _ec2_describe_store_image_tasks(self: Any) -> ActionResult:
    ids = self._get_param("ImageIds", [])
    return ActionResult({"StoreImageTaskResults": [t for t in _store_tasks if not ids or t["AmiId"] in ids]})


def _ec2_create_restore_image_task(self: Any) -> ActionResult:
    # EC2 writes the snapshots and tags the AMI and snapshots with the caller's permissions.
    snapshots = f"arn:aws:ec2:{self.region}::snapshot/*"
    for action in ("ebs:StartSnapshot", "ebs:PutSnapshotBlock", "ebs:CompleteSnapshot"):
        _require(caller(self.headers), action, snapshots, self.region, "UnauthorizedOperation", 403)
    for spec in self._get_param("TagSpecifications", []):
        resource = f"arn:aws:ec2:{self.region}::{spec['ResourceType']}/*"
        _require(caller(self.headers), "ec2:CreateTags", resource, self.region, "UnauthorizedOperation", 403)
    image_id = create_restore_image_task(
        self.region,
        self._get_param("Bucket"),
        self._get_param("ObjectKey"),
        self._get_param("Name"),
        self._get_param("TagSpecifications", []),
    )
    return ActionResult({"ImageId": image_id})


def _ec2_describe_images(original: Any) -> Any:
    def describe_images(self: Any) -> Any:
        refresh_images(self.region)
        return original(self)

    return describe_images


# --- IAM: what AWS authorizes beyond the called action ------------------------------------------------------------

Credentials = tuple[str, str | None]  # access key id, session token


def enforcing() -> bool:
    """moto checks IAM only once its no-auth request allowance is used up (the least-privilege tests set it to 0)."""
    return bool(ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT)


def caller(headers: Any) -> Credentials:
    credential = headers["Authorization"].split("Credential=", 1)[1].split("/", 1)[0]
    return credential, headers.get("X-Amz-Security-Token")


def authorize(credentials: Credentials, action: str, resource: str, region: str) -> bool:
    """Would IAM let these credentials perform `action` on `resource`? moto's own policy evaluation."""
    access_key, token = credentials
    service = action.split(":", 1)[0]
    scope = f"{access_key}/20260101/{region}/{service}/aws4_request"  # moto reads the key and service from it
    headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0"}
    if token:
        headers["X-Amz-Security-Token"] = token
    request = IAMRequest(account_id=_account(), method="POST", path="/", data={}, body=b"", headers=headers, action=action.split(":", 1)[1])
    try:
        request.check_action_permitted(resource)
    except AccessDeniedError:
        return False
    return True


def _require(credentials: Credentials, action: str, resource: str, region: str, code: str, status: int) -> None:
    if enforcing() and not authorize(credentials, action, resource, region):
        raise EmulatedError(code, f"You are not authorized to perform: {action} on {resource}", status)


def _sns_publish(original: Any) -> Any:
    """Publishing to a topic encrypted with a customer managed key needs the publisher's KMS permissions."""

    def publish(self: Any) -> Any:
        topic_arn = self._get_param("TopicArn")
        topic = sns_backends[_account()][self.region].topics.get(topic_arn)
        key = getattr(topic, "kms_master_key_id", "") if topic else ""
        if key and not key.startswith("alias/aws/"):
            key_arn = key if key.startswith("arn:") else f"arn:aws:kms:{self.region}:{_account()}:key/{key}"
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                _require(caller(self.headers), action, key_arn, self.region, "KMSAccessDenied", 400)
        return original(self)

    return publish


def _sns_resource(self: Any) -> str:
    """Authorize sns:Publish against the topic, not "*" (moto's default for services it does not scope)."""
    return str(self._get_param("TopicArn") or self._get_param("TargetArn") or "*")


def _s3_head_object(original: Any) -> Any:
    """Without s3:ListBucket on the bucket, S3 answers a missing key with 403 instead of 404."""

    def head_object(self: Any, *args: Any, **kwargs: Any) -> Any:
        response = original(self, *args, **kwargs)
        if response[0] == 404 and enforcing():
            bucket = self.bucket_name
            if not authorize(caller(self.headers), "s3:ListBucket", f"arn:aws:s3:::{bucket}", self.region):
                return 403, response[1], ""
        return response

    return head_object


# --- moto plumbing ----------------------------------------------------------------------------------------------


def _account() -> str:
    return DEFAULT_ACCOUNT_ID


def _partition() -> str:
    return "aws"


def _error_model(original: Any) -> Any:
    """Give EmulatedError the HTTP status AWS sends (moto defaults unknown codes to 400)."""

    def get_error_model(exception: Exception, service_model: Any) -> ErrorShape:
        shape: ErrorShape = original(exception, service_model)
        status = getattr(exception, "http_status", None)
        if status is None:
            return shape
        model = dict(shape._shape_model)
        model["error"] = {**model.get("error", {}), "code": exception.code, "httpStatusCode": status}
        return ErrorShape(shape.name, model)

    return get_error_model


_ERROR_BODIES = {  # each protocol's error document
    "s3": "<Error><Code>{code}</Code><Message>{message}</Message></Error>",
    "ec2": "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
    "<RequestID>emulated</RequestID></Response>",
    "sns": "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
    "<RequestId>emulated</RequestId></ErrorResponse>",
}


def _stubber_call(original: Any) -> Any:
    """Count every request sent to the emulated account (SDK retries included) and answer injected faults before
    moto sees them, so a faulted request has no side effect."""

    def call(self: Any, event_name: str, request: Any, **kwargs: Any) -> AWSResponse | None:
        if not self.enabled:
            return original(self, event_name, request, **kwargs)
        operation = event_name.removeprefix("before-send.")
        behaviour.requests[operation] += 1
        fault = next((f for f in behaviour.faults if f.operation == operation and f.times > 0), None)
        if fault is None:
            return original(self, event_name, request, **kwargs)
        fault.times -= 1
        body = _ERROR_BODIES[operation.split(".")[0]].format(code=fault.code, message=fault.message)
        return AWSResponse(request.url, fault.status, {"Content-Type": "text/xml"}, MockRawResponse(body))  # type: ignore[arg-type]

    return call


def install() -> None:
    """Patch moto (idempotent). Safe to call from every test, the demo and the server."""
    global _installed
    with _lock:
        if _installed:
            return
        key_cls = s3_models.FakeKey
        key_cls._expiry = property(_expiry_get, _expiry_set)  # type: ignore[assignment]
        key_cls.status = property(_status_get, lambda key, value: None)  # type: ignore[assignment]
        key_cls.response_dict = _response_dict(key_cls.response_dict)  # type: ignore[method-assign]
        s3_responses.S3Response._key_response_post = _s3_key_response_post(s3_responses.S3Response._key_response_post)  # type: ignore[method-assign]
        s3_responses.S3Response.get_object_tagging = _s3_get_object_tagging(s3_responses.S3Response.get_object_tagging)  # type: ignore[method-assign]
        SNSResponse.publish = _sns_publish(SNSResponse.publish)  # type: ignore[method-assign]
        SNSResponse._determine_resource = _sns_resource  # type: ignore[attr-defined]
        s3_responses.S3Response.head_object = _s3_head_object(s3_responses.S3Response.head_object)  # type: ignore[method-assign]
        EC2Response.create_store_image_task = _ec2_create_store_image_task  # type: ignore[attr-defined]
        EC2Response.describe_store_image_tasks = _ec2_describe_store_image_tasks  # type: ignore[attr-defined]
        EC2Response.create_restore_image_task = _ec2_create_restore_image_task  # type: ignore[attr-defined]
        EC2Response.describe_images = _ec2_describe_images(EC2Response.describe_images)  # type: ignore[method-assign]
        moto_serialize.get_error_model = _error_model(moto_serialize.get_error_model)
        BotocoreStubber.__call__ = _stubber_call(BotocoreStubber.__call__)  # type: ignore[method-assign]
        _installed = True


def reset() -> None:
    """Forget emulated state between scenarios (moto's own backends are reset by mock_aws)."""
    behaviour.reset()
    _image_restores.clear()
    _store_tasks.clear()
