"""Clean Up Drill: whatever happened, remove everything this drill made, and read back what is left.

Event:  {"drill": $$.Execution.Id, "state": <the drill's state: "archives" is Choose Archives' result, absent when it failed>}
Result: {"removed": {"instances": ["i-..."], "images": ["ami-..."], "snapshots": ["snap-..."]},
         "left": {"instances": [...], "images": [...], "snapshots": [...]}, "terminating": ["i-..."], "clean": true}
What belongs to the drill is read from EC2's tags, never inferred: instances tagged `glacier-ami-restore:drill` = this
drill (Launch Drill Instance tags them at launch), and the AMIs and snapshots Restore Image tagged with one of this
drill's child executions (`glacier-ami-restore:execution`).
Instances are terminated; AMIs deregistered with DeleteAssociatedSnapshots (EC2 API Reference, DeregisterImage: a
snapshot another AMI uses is skipped, and stays); snapshots left over (an AMI deregistered without them) deleted.
"left" is what EC2 still shows afterwards; an instance `shutting-down` is on its way and listed apart. The sweep
(functions/sweep_drill_resources, at the end of every drill and daily) removes whatever a stopped drill left.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import FilterTypeDef

logger = logging.getLogger()

ec2 = boto3.client("ec2", config=Config(retries={"mode": "standard", "max_attempts": 5}))

TAG_PREFIX = "glacier-ami-restore:"
DRILL_TAG = f"{TAG_PREFIX}drill"
EXECUTION_TAG = f"{TAG_PREFIX}execution"
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
GONE_CODES = ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable", "InvalidSnapshot.NotFound", "InvalidInstanceID.NotFound")


def found(ec2_client: EC2Client, drills: list[str], children: list[str]) -> dict[str, list[str]]:
    """The drills' instances (tagged with the drill at launch; not terminated, `shutting-down` included), and the AMIs
    and snapshots their restores made (tagged by Restore Image with the child execution), from EC2's tags."""
    instances: set[str] = set()
    images: set[str] = set()
    snapshots: set[str] = set()
    if drills:
        tag: list[FilterTypeDef] = [{"Name": f"tag:{DRILL_TAG}", "Values": drills}]
        states: list[FilterTypeDef] = [{"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}]
        for page in ec2_client.get_paginator("describe_instances").paginate(Filters=tag + states):
            instances |= {i["InstanceId"] for r in page["Reservations"] for i in r["Instances"]}
    for start in range(0, len(children), 200):
        made: list[FilterTypeDef] = [{"Name": f"tag:{EXECUTION_TAG}", "Values": children[start : start + 200]}]
        images |= {i["ImageId"] for i in ec2_client.describe_images(Owners=["self"], Filters=made)["Images"]}
        for listed in ec2_client.get_paginator("describe_snapshots").paginate(OwnerIds=["self"], Filters=made):
            snapshots |= {s["SnapshotId"] for s in listed["Snapshots"]}
    return {"instances": sorted(instances), "images": sorted(images), "snapshots": sorted(snapshots)}


def terminating(ec2_client: EC2Client, instance_ids: list[str]) -> list[str]:
    if not instance_ids:
        return []
    pages = ec2_client.get_paginator("describe_instances").paginate(InstanceIds=instance_ids)
    return sorted(
        i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"] if i["State"]["Name"] == "shutting-down"
    )


def remove(ec2_client: EC2Client, drills: list[str], children: list[str]) -> dict[str, Any]:
    """Terminate, deregister (with snapshots) and delete what the tags name; then read back what is left."""
    before = found(ec2_client, drills, children)
    removed: dict[str, list[str]] = {"instances": [], "images": [], "snapshots": []}
    if before["instances"]:
        ec2_client.terminate_instances(InstanceIds=before["instances"])
        removed["instances"] = before["instances"]
    for image_id in before["images"]:
        try:
            answer = ec2_client.deregister_image(ImageId=image_id, DeleteAssociatedSnapshots=True)
        except ClientError as error:
            if error.response["Error"]["Code"] not in GONE_CODES:
                raise
            continue
        removed["images"].append(image_id)
        removed["snapshots"] += [r["SnapshotId"] for r in answer.get("DeleteSnapshotResults", []) if r.get("ReturnCode") == "success"]
    for snapshot_id in before["snapshots"]:
        if snapshot_id in removed["snapshots"]:
            continue
        try:
            ec2_client.delete_snapshot(SnapshotId=snapshot_id)
        except ClientError as error:
            if error.response["Error"]["Code"] in GONE_CODES:
                continue
            if error.response["Error"]["Code"] != "InvalidSnapshot.InUse":
                raise
            logger.info("%s is used by an AMI the drill did not make: kept", snapshot_id)
            continue
        removed["snapshots"].append(snapshot_id)
    after = found(ec2_client, drills, children)
    going = terminating(ec2_client, after["instances"])
    left = {**after, "instances": [i for i in after["instances"] if i not in going]}
    removed["snapshots"] = sorted(set(removed["snapshots"]))
    return {"removed": removed, "left": left, "terminating": going, "clean": not any(left.values())}


def clean_up_drill(ec2_client: EC2Client, drill: str, archives: dict[str, Any] | None) -> dict[str, Any]:
    children = [item["child"] for item in (archives or {}).get("items", [])]
    result = remove(ec2_client, [drill], children)
    logger.info("drill %s: removed %s, left %s", drill, result["removed"], result["left"])
    return result


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return clean_up_drill(ec2, event["drill"], event["state"].get("archives"))
