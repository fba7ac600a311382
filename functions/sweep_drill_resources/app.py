"""Sweep Drill Resources: remove what ended drills left behind, found by EC2's tags, and report it.

Invoked by DrillEndedRule (Step Functions' status change of any drill: SUCCEEDED, FAILED, TIMED_OUT or ABORTED, so a
drill stopped by hand or timed out, which runs no state of its own, is swept too) and by DrillSweepRule once a day.
Event:  the EventBridge event (detail.executionArn for a drill that ended), or {} (sam local invoke).
Result: {"drills": [the ended drills swept], "removed": {...}, "left": {...}, "terminating": [...], "clean",
         "messageId": <the email, only when something had to be removed or is left>}
What is a drill's, read from AWS: instances tagged `glacier-ami-restore:drill` with a drill that is not RUNNING
(DescribeExecution; a drill Step Functions no longer knows has ended); and AMIs and snapshots Restore Image tagged with
a child execution whose input names, under AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID, an execution of the drill state
machine that is not RUNNING. A running
drill's resources are never touched. An AMI of an ordinary restore is never a drill's: its execution names no drill.
Removal as Clean Up Drill does it (the same code: tests/static checks the copies agree).
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import FilterTypeDef
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger()

_config = Config(retries={"mode": "standard", "max_attempts": 5})
ec2 = boto3.client("ec2", config=_config)
sfn = boto3.client("stepfunctions", config=_config)
sns = boto3.client("sns")

STARTED_BY = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"
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


def tag_values(ec2_client: EC2Client, key: str) -> set[str]:
    """Every value of the tag on the account's instances (not terminated), AMIs and snapshots."""
    tag: list[FilterTypeDef] = [{"Name": "tag-key", "Values": [key]}]
    states: list[FilterTypeDef] = [{"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}]
    values: set[str] = set()
    for page in ec2_client.get_paginator("describe_instances").paginate(Filters=tag + states):
        values |= {t["Value"] for r in page["Reservations"] for i in r["Instances"] for t in i.get("Tags", []) if t["Key"] == key}
    values |= {
        t["Value"] for i in ec2_client.describe_images(Owners=["self"], Filters=tag)["Images"] for t in i.get("Tags", []) if t["Key"] == key
    }
    for listed in ec2_client.get_paginator("describe_snapshots").paginate(OwnerIds=["self"], Filters=tag):
        values |= {t["Value"] for s in listed["Snapshots"] for t in s.get("Tags", []) if t["Key"] == key}
    return values


def drill_ended(sfn_client: SFNClient, execution_arn: str) -> bool:
    """Has this execution ended? One Step Functions no longer knows has (its history outlived)."""
    try:
        return sfn_client.describe_execution(executionArn=execution_arn)["status"] != "RUNNING"
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "InvalidArn":  # a tag someone else wrote: not a drill this sweep may judge
            return False
        if code != "ExecutionDoesNotExist":
            raise
        return True


def drill_of(sfn_client: SFNClient, child_arn: str, drill_executions: str) -> str | None:
    """The drill that started this restore execution, from the execution's own input (None: not a drill's)."""
    if not child_arn.startswith("arn:") or ":execution:" not in child_arn:
        return None
    try:
        described = sfn_client.describe_execution(executionArn=child_arn)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
            return None
        raise
    parent = json.loads(described.get("input") or "{}").get(STARTED_BY) if described.get("input", "").startswith("{") else None
    return str(parent) if isinstance(parent, str) and parent.startswith(drill_executions) else None


def sweep_report(result: dict[str, Any], drills: list[str]) -> tuple[str, str]:
    removed, left = result["removed"], result["left"]
    lines = [f"The drill sweep removed what {len(drills)} ended drill(s) had left in AWS:", ""]
    for kind in ("instances", "images", "snapshots"):
        lines.append(f"{kind.capitalize():<11}removed {', '.join(removed[kind]) or '-'}; left {', '.join(left[kind]) or '-'}")
    if result["terminating"]:
        lines.append(f"Terminating: {', '.join(result['terminating'])}")
    lines += ["", "Drills: " + ", ".join(drills)]
    subject = "Drill sweep removed leftovers" if result["clean"] else "Drill sweep: resources still left"
    return subject, "\n".join(lines)


def sweep(ec2_client: EC2Client, sfn_client: SFNClient, sns_client: SNSClient, topic_arn: str, drill_sm_arn: str) -> dict[str, Any]:
    drill_executions = drill_sm_arn.replace(":stateMachine:", ":execution:") + ":"
    drills = sorted(d for d in tag_values(ec2_client, DRILL_TAG) if drill_ended(sfn_client, d))
    children: list[str] = []
    for child in sorted(tag_values(ec2_client, EXECUTION_TAG)):
        parent = drill_of(sfn_client, child, drill_executions)
        if parent is not None and drill_ended(sfn_client, parent):
            children.append(child)
            drills = sorted({*drills, parent})
    if not drills:
        return {"drills": [], "removed": {"instances": [], "images": [], "snapshots": []}, "left": {}, "terminating": [], "clean": True,
                "messageId": None}  # fmt: skip
    result = remove(ec2_client, drills, children)
    message_id = None
    if any(result["removed"].values()) or not result["clean"]:
        subject, text = sweep_report(result, drills)
        message_id = sns_client.publish(TopicArn=topic_arn, Subject=subject, Message=text)["MessageId"]
    return {"drills": drills, **result, "messageId": message_id}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return sweep(ec2, sfn, sns, os.environ["TOPIC_ARN"], os.environ["DRILL_STATE_MACHINE_ARN"])
