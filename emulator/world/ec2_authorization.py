"""What IAM authorizes for an EC2 or CloudWatch request: each action against the ARN of every resource the request
uses or creates, with that resource's condition keys. Decided by emulator/world/iam.py; applied by
emulator/adapters/iam.py (moto compares every EC2 action with "*" and ignores conditions).

Sources: Service Authorization Reference, "Actions, resources, and condition keys for Amazon EC2" [SAR-EC2] (each
action's resource types and, per resource type, the condition keys); "... for Amazon CloudWatch" [SAR-CW]; EC2 User
Guide, "Example policies to control access the Amazon EC2 API" [EC2-EX] and "Grant permission to tag Amazon EC2
resources during creation" [EC2-TAG]; EC2 API Reference, DeregisterImage [EC2-API].

- ARNs [SAR-EC2, resource types]: images and snapshots `arn:aws:ec2:<region>::image/<id>` (no account), the rest
  `arn:aws:ec2:<region>:<account>:<type>/<id>`. A resource the request creates has no id yet: `<type>/*`.
  ASSUMPTION: the ARN EC2 authorizes for a resource being created (its decoded authorization failures name
  `instance/*`; the documentation only shows policies that grant `<type>/*`).
- Context: every EC2 action has `ec2:Region` and `aws:RequestedRegion` [SAR-EC2, condition keys]. An existing resource
  has its tags as `aws:ResourceTag/<key>` and `ec2:ResourceTag/<key>`. A resource the request creates and tags has
  the tags given for it as `aws:RequestTag/<key>` and their keys as `aws:TagKeys`; the resources it only uses (the
  image, subnet, security groups) have no request tags: [SAR-EC2] lists `aws:RequestTag` for RunInstances' instance,
  volume and network-interface, not for its image, subnet or security-group, and [EC2-EX] ("Tag instances and volumes
  on creation with specific tags") grants the image, subnet and groups in a statement without the tag condition.
  ASSUMPTION: a created resource has the tags of its own resource type's TagSpecification (the drills tag the instance
  and its volumes alike, so this does not decide their outcome).
- RunInstances [SAR-EC2; EC2-EX "Launch instances"]: the image, the subnet, each security group, the network interface
  it creates (with `ec2:Subnet`), the instance (with `ec2:InstanceType`) and its volumes (once: `volume/*`;
  ASSUMPTION: every launch of the emulator's EBS-backed AMIs creates volumes). With TagSpecifications, also
  `ec2:CreateTags` on each tagged resource type with `ec2:CreateAction` RunInstances [EC2-TAG]. What the model does not
  decide (the default subnet or security group chosen when none is given, launch templates, instance profiles' PassRole,
  an existing network interface, snapshots in block device mappings, key pairs by name) is refused as undecided.
- TerminateInstances, DeregisterImage, DeleteSnapshot: each instance, image or snapshot named, with its tags; with
  DeregisterImage's DeleteAssociatedSnapshots each snapshot is deleted with the caller's ec2:DeleteSnapshot, and one
  refused is reported `missing-permissions` [EC2-API, SnapshotReturnCodes]. CreateTags: each resource named, with the
  request's tags. ASSUMPTION: a resource EC2 does not know is left to the action's own NotFound answer (it has no tags
  to evaluate).
- CreateStoreImageTask [SAR-EC2: resource type image*, condition keys aws:ResourceTag, ec2:ResourceTag, ec2:ImageID,
  ec2:ImageType, ec2:Owner, ec2:Public, ec2:RootDeviceType, ec2:Region]: the image it stores, with its tags (the other
  image keys are not in the context: a condition on them is false, so refused), and EC2's reads of its snapshots with
  the caller's ebs:ListSnapshotBlocks and GetSnapshotBlock (EC2 User Guide, "Permissions for storing and restoring AMIs
  using S3"). ASSUMPTION: the snapshot reads are authorized against `snapshot/*` and at the task's creation (a missing
  one refuses the task at once), as for CreateRestoreImageTask's writes below.
- CreateRestoreImageTask: the image it creates; EC2 writes its snapshots with the caller's ebs:StartSnapshot,
  PutSnapshotBlock and CompleteSnapshot and tags the image and snapshots with its ec2:CreateTags, `ec2:CreateAction`
  CreateRestoreImageTask (EC2 User Guide, "Permissions for storing and restoring AMIs using S3").
- Any other EC2 action: against "*" ([SAR-EC2] lists no resource type for the Describe actions; an action that has
  some is authorized here as moto did, so a policy scoped to its ARNs is refused: the model errs towards refusing).
- CloudWatch PutMetricData: against "*" with `cloudwatch:namespace` [SAR-CW].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from emulator.world.iam import ContextValue, Request, UndecidedCondition

ID_TYPES = {"ami": "image", "snap": "snapshot", "i": "instance", "vol": "volume", "sg": "security-group", "subnet": "subnet",
            "eni": "network-interface", "vpc": "vpc"}  # fmt: skip
REGIONLESS = ("image", "snapshot")  # their ARNs name no account
# RunInstances parameters whose resources or permissions the model does not decide
UNDECIDED_LAUNCH = ("LaunchTemplate", "IamInstanceProfile", "KeyName", "SecurityGroups", "CapacityReservationSpecification",
                    "ElasticGpuSpecification", "LicenseSpecifications")  # fmt: skip


class ResourceTags(Protocol):
    def tags(self, region: str, resource_id: str) -> dict[str, str] | None:
        """The resource's tags; None when EC2 does not know the resource."""


def arn(region: str, account: str, resource_type: str, resource_id: str) -> str:
    owner = "" if resource_type in REGIONLESS else account
    return f"arn:aws:ec2:{region}:{owner}:{resource_type}/{resource_id}"


def type_of(resource_id: str) -> str:
    prefix = resource_id.split("-", 1)[0]
    if prefix not in ID_TYPES:
        raise UndecidedCondition(f"the resource type of {resource_id} is not modelled")
    return ID_TYPES[prefix]


def _regional(region: str) -> dict[str, ContextValue]:
    return {"ec2:Region": region, "aws:RequestedRegion": region}


def _existing(region: str, tags: Mapping[str, str]) -> dict[str, ContextValue]:
    context = _regional(region)
    for key, value in tags.items():
        context[f"aws:ResourceTag/{key}"] = context[f"ec2:ResourceTag/{key}"] = value
    return context


def _requested(region: str, tags: Mapping[str, str]) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = {**_regional(region), **{f"aws:RequestTag/{k}": v for k, v in tags.items()}}
    if tags:
        context["aws:TagKeys"] = sorted(tags)
    return context


def tag_specifications(params: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """resource type -> the tags a request's TagSpecifications give it."""
    found: dict[str, dict[str, str]] = {}
    for spec in params.get("TagSpecifications") or []:
        found.setdefault(spec["ResourceType"], {}).update({t["Key"]: t["Value"] for t in spec.get("Tags", [])})
    return found


def _named(action: str, ids: Sequence[str], region: str, account: str, resources: ResourceTags) -> list[Request]:
    requests = []
    for resource_id in ids:
        tags = resources.tags(region, resource_id)
        if tags is not None:
            requests.append(Request(action, arn(region, account, type_of(resource_id), resource_id), _existing(region, tags)))
    return requests


def _tag_on_create(create_action: str, region: str, account: str, tagged: Mapping[str, Mapping[str, str]]) -> list[Request]:
    return [
        Request("ec2:CreateTags", arn(region, account, kind, "*"), {**_requested(region, tags), "ec2:CreateAction": create_action})
        for kind, tags in tagged.items()
    ]


def run_instances(params: Mapping[str, Any], region: str, account: str, resources: ResourceTags) -> list[Request]:
    undecided = [name for name in UNDECIDED_LAUNCH if params.get(name)]
    interfaces = params.get("NetworkInterfaces") or []
    primary: Mapping[str, Any] = next((n for n in interfaces if int(n.get("DeviceIndex", 0)) == 0), {})
    subnet = params.get("SubnetId") or primary.get("SubnetId")
    groups = list(params.get("SecurityGroupIds") or []) + [g for n in interfaces for g in n.get("Groups", [])]
    mapped_snapshots = [m for m in params.get("BlockDeviceMappings") or [] if m.get("Ebs", {}).get("SnapshotId")]
    if undecided or not subnet or not groups or any(n.get("NetworkInterfaceId") for n in interfaces) or mapped_snapshots:
        raise UndecidedCondition(
            "the emulator's IAM model decides RunInstances only with a subnet and security group ids given and none of "
            f"{', '.join(UNDECIDED_LAUNCH)}, an existing network interface or a mapped snapshot"
        )
    tagged = tag_specifications(params)
    subnet_arn = arn(region, account, "subnet", subnet)
    created = [
        Request("ec2:RunInstances", arn(region, account, "instance", "*"),
                {**_requested(region, tagged.get("instance", {})), "ec2:InstanceType": str(params.get("InstanceType"))}),
        Request("ec2:RunInstances", arn(region, account, "volume", "*"), _requested(region, tagged.get("volume", {}))),
        Request("ec2:RunInstances", arn(region, account, "network-interface", "*"),
                {**_requested(region, tagged.get("network-interface", {})), "ec2:Subnet": subnet_arn}),
    ]  # fmt: skip
    used = _named("ec2:RunInstances", [params["ImageId"], subnet, *dict.fromkeys(groups)], region, account, resources)
    return used + created + _tag_on_create("RunInstances", region, account, tagged)


def deleting_snapshot(region: str, snapshot_id: str, tags: Mapping[str, str]) -> Request:
    """DeleteSnapshot of one snapshot (alone, or one of those DeregisterImage deletes with its image)."""
    return Request("ec2:DeleteSnapshot", arn(region, "", "snapshot", snapshot_id), _existing(region, tags))


def ec2_requests(action: str, params: Mapping[str, Any], region: str, account: str, resources: ResourceTags) -> list[Request]:
    """Every authorization the EC2 request `action` (its API name) needs."""
    if action == "RunInstances":
        return run_instances(params, region, account, resources)
    if action == "TerminateInstances":
        return _named("ec2:TerminateInstances", params.get("InstanceIds") or [], region, account, resources)
    if action == "DeregisterImage":
        return _named("ec2:DeregisterImage", [params["ImageId"]], region, account, resources)
    if action == "DeleteSnapshot":
        return _named("ec2:DeleteSnapshot", [params["SnapshotId"]], region, account, resources)
    if action == "CreateTags":
        tags = {t["Key"]: t.get("Value", "") for t in params.get("Tags") or []}
        requests = _named("ec2:CreateTags", params.get("Resources") or [], region, account, resources)
        return [Request(r.action, r.resource, {**r.context, **_requested(region, tags)}) for r in requests]
    if action == "CreateStoreImageTask":
        # [SAR-EC2] CreateStoreImageTask: image* (the AMI stored, with its tags); EC2 reads its snapshots with the
        # caller's ebs:ListSnapshotBlocks and GetSnapshotBlock (EC2 User Guide, "Permissions for storing and restoring
        # AMIs using S3"), authorized here against `snapshot/*` as the restore's writes are. (It writes the object with
        # the caller's S3 permissions: S3's own evaluation, adapters/ec2.py.)
        snapshots = arn(region, account, "snapshot", "*")
        return [
            *_named("ec2:CreateStoreImageTask", [params["ImageId"]], region, account, resources),
            *(Request(f"ebs:{a}", snapshots) for a in ("ListSnapshotBlocks", "GetSnapshotBlock")),
        ]
    if action == "CreateRestoreImageTask":
        snapshots = arn(region, account, "snapshot", "*")
        return [
            Request("ec2:CreateRestoreImageTask", arn(region, account, "image", "*"), _regional(region)),
            *(Request(f"ebs:{a}", snapshots) for a in ("StartSnapshot", "PutSnapshotBlock", "CompleteSnapshot")),
            *_tag_on_create("CreateRestoreImageTask", region, account, tag_specifications(params)),
        ]
    return [Request(f"ec2:{action}", "*", _regional(region))]


def cloudwatch_requests(action: str, params: Mapping[str, Any]) -> list[Request]:
    if action == "PutMetricData":
        return [Request("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": str(params.get("Namespace"))})]
    return [Request(f"cloudwatch:{action}", "*")]
