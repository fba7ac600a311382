"""Check Drill Image: check the drill's restored AMI without booting it.

Event:  {"item": <Choose Archives' item>, "restore": {"output": <the child execution's output>} or
         "restoreError": {"Error", "Cause"} (the child failed)}
Result: {"imageId": "ami-0f..." | null, "imageIds": [every AMI the child made], "state": "available",
         "facts": {"architecture", "rootDeviceName", "virtualizationType", "volumes": {"/dev/xvda": 8}},
         "expectedFrom": "original AMI ami-..." | "drill of <time>" | null, "checks": [{"name", "passed", "detail"}],
         "passed": true | false}
The AMIs are found by the tag Restore Image puts on every AMI and snapshot it makes (the child execution's ARN, a
"drill-" execution: that tag marks them as the drill's), so an AMI of a child that failed is found too.
The checks (EC2 API Reference, DescribeImages and DescribeSnapshots): the image is `available`; every snapshot of its
block device mappings exists and is `completed`,
with the mapping's volume size; the root device is one of its mappings; and architecture, root device, virtualization
type and volume sizes equal the original AMI's (when it is still registered: its id is the object's name) or, failing
that, the last drill of this archive that passed (kept in DRILL_RESULTS_TABLE). With neither, nothing is compared and
the report says so.
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
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client

logger = logging.getLogger()

_config = Config(retries={"mode": "standard", "max_attempts": 5})
ec2 = boto3.client("ec2", config=_config)
dynamodb = boto3.client("dynamodb", config=_config)

TAG_PREFIX = "glacier-ami-restore:"
COMPARED = ("architecture", "rootDeviceName", "virtualizationType", "volumes")


def child_error(failure: dict[str, Any]) -> tuple[str, str]:
    """The child restore's own error and cause: a failed `.sync:2` task fails States.TaskFailed with the child's
    DescribeExecution as its Cause (Step Functions Developer Guide, "Run a Job (.sync)")."""
    error, cause = str(failure.get("Error", "States.TaskFailed")), str(failure.get("Cause", ""))
    try:
        described = json.loads(cause)
    except ValueError:
        return error, cause
    if isinstance(described, dict) and described.get("Error"):
        return str(described["Error"]), str(described.get("Cause", ""))
    return error, cause


def facts_of(image: dict[str, Any]) -> dict[str, Any]:
    volumes = {m["DeviceName"]: int(m["Ebs"].get("VolumeSize", 0)) for m in image.get("BlockDeviceMappings", []) if "Ebs" in m}
    return {
        "architecture": image.get("Architecture"),
        "rootDeviceName": image.get("RootDeviceName"),
        "virtualizationType": image.get("VirtualizationType"),
        "volumes": volumes,
    }


def drill_images(ec2_client: EC2Client, child_arn: str) -> list[dict[str, Any]]:
    """The AMIs the child execution made, oldest first (a restore that retried after a quota failure made several)."""
    found = ec2_client.describe_images(Owners=["self"], Filters=[{"Name": f"tag:{TAG_PREFIX}execution", "Values": [child_arn]}])["Images"]
    return sorted((dict(i) for i in found), key=lambda i: (i.get("CreationDate", ""), i["ImageId"]))


def snapshots_of(image: dict[str, Any]) -> list[str]:
    return [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")]


def expected(
    ec2_client: EC2Client, dynamodb_client: DynamoDBClient, table: str, item: dict[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    """What the AMI should be: the original's facts, else those of the last drill of this archive that passed."""
    original_id = item["recoveryPoint"].rsplit("/", 1)[-1].removesuffix(".bin")
    if original_id.startswith("ami-"):
        try:
            originals = ec2_client.describe_images(ImageIds=[original_id])["Images"]
        except ClientError as error:
            if not error.response["Error"]["Code"].startswith("InvalidAMIID"):
                raise
            originals = []
        if originals and originals[0].get("State") == "available":
            return facts_of(dict(originals[0])), f"original AMI {original_id}"
    past = dynamodb_client.query(
        TableName=table, KeyConditionExpression="#kind = :kind", ExpressionAttributeNames={"#kind": "kind"},
        ExpressionAttributeValues={":kind": {"S": f"archive#s3://{item['bucket']}/{item['recoveryPoint']}"}},
        ScanIndexForward=False, Limit=1, ConsistentRead=True,
    )["Items"]  # fmt: skip
    if past:
        volumes = {k: int(v["N"]) for k, v in past[0]["volumes"]["M"].items()}
        recorded = {name: past[0][name]["S"] for name in COMPARED[:3] if name in past[0]}
        return {**recorded, "volumes": volumes}, f"drill of {past[0]['id']['S']}"
    return None, None


def check(ec2_client: EC2Client, image: dict[str, Any], want: dict[str, Any] | None) -> list[dict[str, Any]]:
    checks = [{"name": "image available", "passed": image["State"] == "available", "detail": image["State"]
               + (f": {image['StateReason'].get('Message', '')}" if image.get("StateReason") else "")}]  # fmt: skip
    mappings = {m["Ebs"]["SnapshotId"]: m for m in image.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")}
    found: dict[str, Any] = {}
    if mappings:
        try:
            found = {s["SnapshotId"]: s for s in ec2_client.describe_snapshots(SnapshotIds=list(mappings))["Snapshots"]}
        except ClientError as error:
            if error.response["Error"]["Code"] != "InvalidSnapshot.NotFound":
                raise
            found = {
                s["SnapshotId"]: s for s in ec2_client.describe_snapshots(OwnerIds=["self"])["Snapshots"] if s["SnapshotId"] in mappings
            }
    bad = [
        f"{sid} {found[sid]['State'] if sid in found else 'missing'}" for sid in mappings if found.get(sid, {}).get("State") != "completed"
    ]
    checks.append({"name": "snapshots completed", "passed": bool(mappings) and not bad,
                   "detail": ", ".join(bad) if bad else f"{len(mappings)} of {len(mappings)} completed"})  # fmt: skip
    sizes = [f"{sid} {found[sid]['VolumeSize']} GB for {m['Ebs'].get('VolumeSize')} GB" for sid, m in mappings.items()
             if sid in found and int(found[sid]["VolumeSize"]) != int(m["Ebs"].get("VolumeSize", found[sid]["VolumeSize"]))]  # fmt: skip
    checks.append({"name": "snapshot sizes", "passed": not sizes, "detail": ", ".join(sizes) or "as mapped"})
    facts = facts_of(image)
    root = facts["rootDeviceName"]
    checks.append({"name": "root device mapped", "passed": root in facts["volumes"], "detail": str(root)})
    if want is not None:
        for name in COMPARED:
            checks.append({"name": name, "passed": facts[name] == want.get(name), "detail": f"{facts[name]} (expected {want.get(name)})"})
    return checks


def check_drill_image(ec2_client: EC2Client, dynamodb_client: DynamoDBClient, table: str, event: dict[str, Any]) -> dict[str, Any]:
    item = event["item"]
    images = drill_images(ec2_client, item["child"])
    result: dict[str, Any] = {"imageId": None, "imageIds": [i["ImageId"] for i in images], "state": None, "facts": None,
                              "expectedFrom": None, "checks": [], "passed": False}  # fmt: skip
    if not images:
        failure = event.get("restoreError") or {}
        detail = f"{child_error(failure)[0]}: the restore made no AMI" if failure else "the restore made no AMI"
        result["checks"] = [{"name": "restore", "passed": False, "detail": detail}]
        return result
    image = next((i for i in reversed(images) if i["State"] == "available"), images[-1])
    want, source = expected(ec2_client, dynamodb_client, table, item)
    checks = check(ec2_client, image, want)
    if event.get("restoreError"):
        checks.insert(0, {"name": "restore", "passed": False, "detail": child_error(event["restoreError"])[0]})
    return {**result, "imageId": image["ImageId"], "state": image["State"], "facts": facts_of(image), "expectedFrom": source,
            "checks": checks, "passed": all(c["passed"] for c in checks)}  # fmt: skip


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return check_drill_image(ec2, dynamodb, os.environ["DRILL_RESULTS_TABLE"], event)
