"""EC2 on moto, with the world's store and restore image tasks (emulator/world/ec2.py), which moto 5.2.5 lacks: it raises
NotImplementedError for CreateStoreImageTask, DescribeStoreImageTasks and CreateRestoreImageTask.

- The three actions are added to moto's EC2Response (moto dispatches a query action to the method named after it and
  serializes the result from botocore's model) and answered by the world; EC2 reads a stored image's snapshots and
  writes its object and tags, and writes a restored image's snapshots and tags, with the caller's permissions (EC2
  User Guide, "Permissions for storing and restoring AMIs using S3").
- DescribeImages settles the world's image restores first (pending -> available or failed), and leaves out the images
  a restore created less than the world's listing lag ago (EC2's eventual consistency; moto lists them at once); a restored image's
  snapshots are `pending` until then, `completed` or `error` with it (EC2 User Guide, ami-store-restore: "If the task
  fails, the AMI and snapshots are moved to a failed state"). moto: `completed` at once.
- RegisterImage with BlockDeviceMappings registers them, with the root device, virtualization type and architecture
  given (moto keeps a made-up 15 GB /dev/sda1 snapshot and ignores them); without mappings, moto's image stands.
- DeregisterImage deletes the image's snapshots with DeleteAssociatedSnapshots, as the world says (moto ignores it),
  each as the caller's ec2:DeleteSnapshot (adapters/iam.py), and a store task still reading the image fails.
- RunInstances: the security groups of the primary network interface are the instance's (moto leaves them out), and
  each instance's status checks are the world's (`initializing`, then `ok` or `impaired`; moto: `ok` at once).
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
from moto.ec2.models.elastic_block_store import Snapshot
from moto.ec2.models.instances import Instance, InstanceBackend
from moto.ec2.responses import EC2Response

from emulator.adapters import iam
from emulator.adapters.errors import answering_world_errors
from emulator.adapters.process import NOT_LISTED
from emulator.adapters.registry import bound, require
from emulator.world.ec2 import EC2Model, ImageFacts, store_location
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
        snapshots = tuple(
            (m["Ebs"]["SnapshotId"], int(m["Ebs"].get("VolumeSize") or 0))
            for m in image.block_device_mappings
            if m.get("Ebs", {}).get("SnapshotId")
        )
        shared = tuple(p["UserId"] for p in image.launch_permissions if "UserId" in p)
        # ASSUMPTION: moto registers images without a virtualization type; the emulator's images are HVM unless registered
        # otherwise, and moto's root device type "standard" (its made-up snapshot) is EBS.
        root = "instance-store" if image.root_device_type == "instance-store" else "ebs"
        facts = (str(image.name or image_id), image.description or "", str(image.creation_date), str(image.owner_id))
        return ImageFacts(*facts, root, image.virtualization_type or "hvm", snapshots, shared)

    def name_taken(self, region: str, name: str) -> bool:
        return any(image.name == name and image.owner_id == self.account_id for image in self._backend(region).amis.values())

    def register(self, region: str, name: str, description: str, size_bytes: int, tags: dict[str, dict[str, str]]) -> str:
        ec2 = self._backend(region)
        image = ec2.register_image(name, description)
        image.state = "pending"
        volume = ec2.create_volume(size=max(1, size_bytes // GB), zone_name=f"{region}a")
        snapshot = ec2.create_snapshot(volume.id, description)
        snapshot.status = "pending"  # until the restore ends (set_state)
        # The restored AMI's block device mapping names the snapshot EC2 wrote (moto mapped its own made-up 15 GB one,
        # which no restore writes: gone). ASSUMPTION: the emulator's archived AMIs are HVM x86_64 EBS AMIs with one root
        # volume (CreateStoreImageTask refuses PV and instance-store AMIs; the guide says the restore recreates "most of
        # the non-Region-specific AMI metadata", without listing it).
        ec2.snapshots.pop(image.ebs_snapshot.id, None)
        root = "/dev/xvda"
        image.root_device_name, image.root_device_type, image.virtualization_type, image.architecture = root, "ebs", "hvm", "x86_64"
        ebs = {"SnapshotId": snapshot.id, "VolumeSize": volume.size, "VolumeType": "gp3", "DeleteOnTermination": True, "Encrypted": False}
        image.emulated_mappings = [{"DeviceName": root, "Ebs": ebs}]
        snapshot.from_ami = image.id
        ec2.delete_volume(volume.id)
        for resource_type, values in tags.items():
            ec2.create_tags([image.id if resource_type == "image" else snapshot.id], values)
        return str(image.id)

    def exists(self, region: str, image_id: str) -> bool:
        return image_id in self._backend(region).amis

    def set_state(self, region: str, image_id: str, state: str, reason: dict[str, str] | None) -> None:
        ec2 = self._backend(region)
        image = ec2.amis[image_id]
        image.state = state
        if reason is not None:
            image.state_reason = reason
        for snapshot_id in self._image_snapshots(image):
            if snapshot_id in ec2.snapshots:
                ec2.snapshots[snapshot_id].status = {"pending": "pending", "available": "completed"}.get(state, "error")

    @staticmethod
    def _image_snapshots(image: Any) -> list[str]:
        return [m["Ebs"]["SnapshotId"] for m in image.block_device_mappings if m.get("Ebs", {}).get("SnapshotId")]

    def deregister(self, region: str, image_id: str) -> None:
        self._backend(region).deregister_image(image_id)

    def snapshot_images(self, region: str, snapshot_id: str) -> list[str]:
        return [i.id for i in self._backend(region).amis.values() if snapshot_id in self._image_snapshots(i)]

    def delete_snapshot(self, region: str, snapshot_id: str) -> None:
        self._backend(region).delete_snapshot(snapshot_id)


# --- EC2Response: the query actions moto dispatches by name ---------------------------------------------------------


def _model(response: Any) -> EC2Model:
    return require(response.current_account).ec2


@answering_world_errors
def _create_store_image_task(self: Any) -> ActionResult:
    # EC2 writes the object and its tags with the caller's permissions (EC2 User Guide, "Permissions for storing and
    # restoring AMIs using S3"; the image and the snapshot reads are the world's IAM model's: ec2_authorization.py).
    # ASSUMPTION: a missing one refuses the task at once.
    tags = {t["Key"]: t["Value"] for t in self._get_param("S3ObjectTags", [])}
    image_id, bucket = self._get_param("ImageId"), self._get_param("Bucket")
    name, key = store_location(image_id, bucket)
    credentials = iam.caller(self.headers)
    for action in ("s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload"):
        iam.require(credentials, action, f"arn:aws:s3:::{name}/{key}", self.region, self.current_account)
    key = _model(self).store_image(self.region, image_id, bucket, tags)
    return ActionResult({"ObjectKey": key})


@answering_world_errors
def _describe_store_image_tasks(self: Any) -> ActionResult:
    filters = {f["Name"]: f.get("Values", []) for f in self._get_param("Filters", [])}
    max_results = self._get_param("MaxResults")
    results, token = _model(self).store_task_results(
        self._get_param("ImageIds", []), filters, int(max_results) if max_results is not None else None, self._get_param("NextToken")
    )
    return ActionResult({"StoreImageTaskResults": results, **({"NextToken": token} if token else {})})


@answering_world_errors
def _deregister_image(self: Any) -> ActionResult:
    self.error_on_dryrun()
    credentials, region, account = iam.caller(self.headers), self.region, self.current_account
    results = _model(self).deregister_image(
        region,
        self._get_param("ImageId"),
        bool(self._get_param("DeleteAssociatedSnapshots")),
        lambda snapshot_id: iam.may_delete_snapshot(credentials, region, account, snapshot_id),
    )
    return ActionResult({"Return": True, **({"DeleteSnapshotResults": results} if results else {})})


def _register_image(original: Any) -> Any:
    def register_image(self: Any) -> Any:
        mappings = self._get_param("BlockDeviceMappings", [])
        answer = original(self)
        if not mappings:
            return answer  # moto's image, as before
        ec2 = self.ec2_backend
        image = ec2.amis[answer.result["ImageId"]]
        made_up = image.ebs_snapshot  # moto's own 15 GB snapshot for every image: gone, the registered mappings stand
        ec2.snapshots.pop(made_up.id, None)
        root = self._get_param("RootDeviceName") or mappings[0].get("DeviceName")
        image.root_device_name = root
        root_ebs = any(m.get("DeviceName") == root and "Ebs" in m for m in mappings)
        image.root_device_type = "ebs" if root_ebs else "instance-store"
        # EC2 API Reference, RegisterImage: VirtualizationType "Default: paravirtual"; Architecture as given.
        image.virtualization_type = self._get_param("VirtualizationType") or "paravirtual"
        image.architecture = self._get_param("Architecture") or image.architecture
        image.emulated_mappings = [_mapping(ec2, m) for m in mappings]
        for m in image.emulated_mappings:
            snapshot = ec2.snapshots.get(m.get("Ebs", {}).get("SnapshotId"))
            if snapshot is not None and snapshot.from_ami is None:
                snapshot.from_ami = image.id  # EC2 refuses to delete a snapshot a registered image uses
        return answer

    return register_image


def _mapping(ec2: Any, mapping: dict[str, Any]) -> dict[str, Any]:
    if "Ebs" not in mapping:
        return dict(mapping)
    ebs = dict(mapping["Ebs"])
    snapshot = ec2.snapshots.get(ebs.get("SnapshotId"))
    size = ebs.get("VolumeSize") or (snapshot.volume_size if snapshot is not None else None)
    values = {"DeleteOnTermination": True, "VolumeType": "gp2", **ebs, **({"VolumeSize": int(size)} if size else {})}
    for name in ("VolumeSize", "Iops", "Throughput"):
        if name in values:
            values[name] = int(values[name])
    for name in ("DeleteOnTermination", "Encrypted"):
        if isinstance(values.get(name), str):
            values[name] = values[name].lower() == "true"
    return {"DeviceName": mapping["DeviceName"], "Ebs": values}


def _block_device_mappings(original: Any) -> Any:
    def mappings(image: Any) -> list[dict[str, Any]]:
        registered: list[dict[str, Any]] | None = image.__dict__.get("emulated_mappings")
        return registered if registered is not None else original.fget(image)

    return property(mappings)


def _run_instances(original: Any) -> Any:
    def run_instances(self: Any, image_id: str, count: int, user_data: Any, security_group_names: list[str], **kwargs: Any) -> Any:
        reservation = original(self, image_id, count, user_data, security_group_names, **kwargs)
        nic_groups = [g for nic in kwargs.get("nics", []) if int(nic.get("DeviceIndex", 0)) == 0 for g in nic.get("Groups", [])]
        account = bound(self.account_id)
        for instance in reservation.instances:
            if nic_groups and not instance.security_groups:
                instance.security_groups = [self.get_security_group_from_id(g) for g in nic_groups]
            if account is not None:
                account.ec2.instance_launched(instance.id)
        return reservation

    return run_instances


def _status(original: Any, which: int) -> Any:
    def status(instance: Any) -> dict[str, Any]:
        account = bound(instance.ec2_backend.account_id)
        checks = account.ec2.status_checks(instance.id) if account is not None and instance.state_code == 16 else None
        return checks[which] if checks is not None else original.fget(instance)

    return property(status)


def _snapshot_progress(snapshot: Any) -> str:
    return "100%" if snapshot.status == "completed" else "0%"


@answering_world_errors
def _create_restore_image_task(self: Any) -> ActionResult:
    # (EC2 writes the snapshots and tags the AMI and snapshots with the caller's permissions: authorized with the request,
    # emulator/world/ec2_authorization.py)
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
    # moto ignores RegisterImage's block device mappings, root device and virtualization type: registered as given.
    EC2Response.register_image = _register_image(EC2Response.register_image)  # type: ignore[method-assign]
    moto_amis.Ami.block_device_mappings = _block_device_mappings(moto_amis.Ami.block_device_mappings)  # type: ignore[method-assign]
    # moto ignores DeleteAssociatedSnapshots: the world's deregistration.
    EC2Response.deregister_image = _deregister_image  # type: ignore[method-assign]
    # moto leaves the primary interface's groups out of the instance, and passes its status checks at once: the world's.
    InstanceBackend.run_instances = _run_instances(InstanceBackend.run_instances)  # type: ignore[method-assign]
    Instance.system_status = _status(Instance.system_status, 0)  # type: ignore[method-assign]
    Instance.instance_status = _status(Instance.instance_status, 1)  # type: ignore[method-assign]
    # moto's snapshots are always 100 % done: a pending one (a restore in progress) shows 0 %.
    Snapshot.progress = property(_snapshot_progress)  # type: ignore[method-assign,assignment]
