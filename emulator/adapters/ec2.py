"""EC2 on moto, with the world's store and restore image tasks (emulator/world/ec2.py), which moto 5.2.5 lacks: it raises
NotImplementedError for CreateStoreImageTask, DescribeStoreImageTasks and CreateRestoreImageTask.

- The three actions are added to moto's EC2Response (moto dispatches a query action to the method named after it and
  serializes the result from botocore's model) and answered by the world; EC2 writes a restored image's snapshots and
  tags with the caller's permissions (EC2 User Guide, "Permissions for storing and restoring AMIs using S3").
- DescribeImages settles the world's image restores first (pending -> available or failed), and leaves out the images
  a restore created less than the world's listing lag ago (EC2's eventual consistency; moto lists them at once).
- Every account sees Amazon's public AMIs: the first PUBLIC_AMIS of moto's catalogue, not its 1,300. ASSUMPTION: ten
  stand for the public catalogue (the workflow only lists its own images); moto loads each of the 1,300 with a volume
  and a snapshot (0.2 s of every emulator's first EC2 request), and the ids they draw from moto's seeded random would
  shift every id drawn after them.
"""

from __future__ import annotations

from typing import Any

from moto.core.parse import default_timestamp_parser
from moto.core.responses import ActionResult
from moto.ec2.exceptions import InvalidAMIIdError
from moto.ec2.models import amis as moto_amis
from moto.ec2.models import ec2_backends
from moto.ec2.responses import EC2Response

from emulator.adapters import iam
from emulator.adapters.errors import answering_world_errors
from emulator.adapters.process import NOT_LISTED
from emulator.adapters.registry import bound, require
from emulator.world.ec2 import EC2Model, ImageFacts
from emulator.world.facts import GB

PUBLIC_AMIS = 10


class MotoImages:
    """The world's ImageRegistry: the account's images, volumes and snapshots in moto's EC2 backends."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def _backend(self, region: str) -> Any:
        return ec2_backends[self.account_id][region]

    def describe(self, region: str, image_id: str) -> ImageFacts:
        image = self._backend(region).describe_images(ami_ids=[image_id])[0]
        return ImageFacts(str(image.name or image_id), image.description or "", str(image.creation_date), str(image.owner_id))

    def name_taken(self, region: str, name: str) -> bool:
        return any(image.name == name and image.owner_id == self.account_id for image in self._backend(region).amis.values())

    def register(self, region: str, name: str, description: str, size_bytes: int, tags: dict[str, dict[str, str]]) -> str:
        ec2 = self._backend(region)
        image = ec2.register_image(name, description)
        image.state = "pending"
        volume = ec2.create_volume(size=max(1, size_bytes // GB), zone_name=f"{region}a")
        snapshot = ec2.create_snapshot(volume.id, description)
        for resource_type, values in tags.items():
            ec2.create_tags([image.id if resource_type == "image" else snapshot.id], values)
        return str(image.id)

    def exists(self, region: str, image_id: str) -> bool:
        return image_id in self._backend(region).amis

    def set_state(self, region: str, image_id: str, state: str, reason: dict[str, str] | None) -> None:
        image = self._backend(region).amis[image_id]
        image.state = state
        if reason is not None:
            image.state_reason = reason


# --- EC2Response: the query actions moto dispatches by name ---------------------------------------------------------


def _model(response: Any) -> EC2Model:
    return require(response.current_account).ec2


@answering_world_errors
def _create_store_image_task(self: Any) -> ActionResult:
    tags = {t["Key"]: t["Value"] for t in self._get_param("S3ObjectTags", [])}
    key = _model(self).store_image(self.region, self._get_param("ImageId"), self._get_param("Bucket"), tags)
    return ActionResult({"ObjectKey": key})


def _describe_store_image_tasks(self: Any) -> ActionResult:
    return ActionResult({"StoreImageTaskResults": _model(self).store_task_results(self._get_param("ImageIds", []))})


@answering_world_errors
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
        account = bound(self.current_account)
        if account is None:
            return original(self)
        account.ec2.settle_images(self.region)
        token = NOT_LISTED.set(frozenset(account.ec2.unlisted(self.region)))
        try:
            return original(self)
        finally:
            NOT_LISTED.reset(token)

    return describe_images


def _listed_images(original: Any) -> Any:
    def describe_images(self: Any, ami_ids: list[str] | None = None, *args: Any, **kwargs: Any) -> Any:
        hidden = NOT_LISTED.get()
        if hidden and ami_ids and any(ami_id in hidden for ami_id in ami_ids):
            raise InvalidAMIIdError(next(ami_id for ami_id in ami_ids if ami_id in hidden))  # [EC2-EC]
        found = original(self, ami_ids, *args, **kwargs)
        return [image for image in found if image.id not in hidden] if hidden else found

    return describe_images


def _load_public_amis(self: Any) -> None:
    """moto's AmiBackend._load_amis, for the first PUBLIC_AMIS of its catalogue (owned by Amazon, as moto assumes)."""
    for ami in moto_amis.AMIS[:PUBLIC_AMIS]:
        fields = {**ami, "owner_alias": "amazon"}
        if isinstance(fields.get("creation_date"), str):
            fields["creation_date"] = default_timestamp_parser(fields["creation_date"])
        self.amis[fields["ami_id"]] = moto_amis.Ami(self, **fields)


def install() -> None:
    # moto loads 1,300 public AMIs, each with a volume and a snapshot: ten (see the module's docstring).
    moto_amis.AmiBackend._load_amis = _load_public_amis  # type: ignore[method-assign]
    # moto raises NotImplementedError for the store and restore tasks: the world's tasks.
    EC2Response.create_store_image_task = _create_store_image_task  # type: ignore[attr-defined]
    EC2Response.describe_store_image_tasks = _describe_store_image_tasks  # type: ignore[attr-defined]
    EC2Response.create_restore_image_task = _create_restore_image_task  # type: ignore[attr-defined]
    # moto's images never change state by themselves: the world's restores settle first.
    EC2Response.describe_images = _describe_images(EC2Response.describe_images)  # type: ignore[method-assign]
    # moto lists a new image at once: during DescribeImages, the images EC2 does not list yet are left out [EC2-EC].
    moto_amis.AmiBackend.describe_images = _listed_images(moto_amis.AmiBackend.describe_images)  # type: ignore[method-assign]
