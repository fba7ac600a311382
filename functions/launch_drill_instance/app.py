"""Launch Drill Instance: boot the drill's AMI once, isolated, to see EC2's status checks pass.

Event:  {"item": <Choose Archives' item>, "image": <Check Drill Image's result>}
Result: {"instanceId": "i-0...", "instanceType": "t3.nano", "launchedAt": "2026-01-05T20:00:00+00:00"}
Raises NoDrillInstanceTypeError (no small instance type for the AMI's architecture), ThrottledError.

RunInstances (EC2 API Reference): the smallest current instance type of the architecture (x86_64: t3.nano,
arm64: t4g.nano), one instance in DRILL_SUBNET_ID with no public IP, in DRILL_SECURITY_GROUP_ID (no inbound rule),
IMDSv2 required, shutdown terminates it, the instance and its volumes tagged as the drill's at launch (so the sweep
and the policy, which allows launching only with that tag, both see them). ClientToken makes a retried step return the
instance the first attempt launched instead of a second one (EC2 "Ensure idempotency").
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import TagTypeDef

logger = logging.getLogger()

ec2 = boto3.client("ec2", config=Config(retries={"mode": "standard", "max_attempts": 5}))

TAG_PREFIX = "glacier-ami-restore:"
DRILL_TAG = f"{TAG_PREFIX}drill"
SMALLEST_TYPE = {"x86_64": "t3.nano", "arm64": "t4g.nano"}
EC2_THROTTLING_CODES = ("RequestLimitExceeded", "Throttling", "ThrottlingException")


class NoDrillInstanceTypeError(Exception):
    """No small instance type is known for the AMI's architecture."""


class ThrottledError(Exception):
    """EC2 throttled the request after the SDK's own retries; the state machine retries with back-off."""


def launch(
    ec2_client: EC2Client, item: dict[str, Any], image: dict[str, Any], subnet_id: str, group_id: str, now: datetime
) -> dict[str, Any]:
    architecture = (image.get("facts") or {}).get("architecture")
    instance_type = SMALLEST_TYPE.get(str(architecture))
    if instance_type is None:
        raise NoDrillInstanceTypeError(f"no drill instance type for architecture {architecture!r} (known: {', '.join(SMALLEST_TYPE)})")
    tags: list[TagTypeDef] = [{"Key": DRILL_TAG, "Value": item["drill"]}, {"Key": "Name", "Value": f"drill {item['amiName']}"[:255]}]
    try:
        reservation = ec2_client.run_instances(
            ImageId=image["imageId"], InstanceType=instance_type, MinCount=1, MaxCount=1,  # type: ignore[arg-type]
            ClientToken=hashlib.sha256(f"{item['drill']}#{image['imageId']}".encode()).hexdigest()[:64],
            NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet_id, "Groups": [group_id], "AssociatePublicIpAddress": False}],
            MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
            InstanceInitiatedShutdownBehavior="terminate",
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}, {"ResourceType": "volume", "Tags": tags}],
        )  # fmt: skip
    except ClientError as error:
        if error.response["Error"]["Code"] in EC2_THROTTLING_CODES:
            raise ThrottledError("EC2 throttled RunInstances") from error
        raise
    instance = reservation["Instances"][0]
    logger.info("launched %s (%s) from %s", instance["InstanceId"], instance_type, image["imageId"])
    return {"instanceId": instance["InstanceId"], "instanceType": instance_type, "launchedAt": now.isoformat(timespec="seconds")}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    subnet, group = os.environ["DRILL_SUBNET_ID"], os.environ["DRILL_SECURITY_GROUP_ID"]
    return launch(ec2, event["item"], event["image"], subnet, group, datetime.now(UTC))
