"""Terminate Drill Instance: end the drill's instance as soon as its status checks have settled.

Event:  {"boot": <Check Instance Status's result>}
Result: the boot record with "terminatedAt" and "terminateState" (EC2's CurrentState: shutting-down or terminated).
TerminateInstances is idempotent (EC2 API Reference: terminating a terminated instance succeeds); an instance that no
longer exists is already gone. Clean Up Drill and the sweep terminate anything still running as well.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_ec2 import EC2Client

logger = logging.getLogger()

ec2 = boto3.client("ec2", config=Config(retries={"mode": "standard", "max_attempts": 5}))


def terminate(ec2_client: EC2Client, boot: dict[str, Any], now: datetime) -> dict[str, Any]:
    try:
        changed = ec2_client.terminate_instances(InstanceIds=[boot["instanceId"]])["TerminatingInstances"]
        state = changed[0]["CurrentState"]["Name"] if changed else "terminated"
    except ClientError as error:
        if error.response["Error"]["Code"] != "InvalidInstanceID.NotFound":
            raise
        state = "terminated"
    return {**boot, "terminatedAt": now.isoformat(timespec="seconds"), "terminateState": state}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return terminate(ec2, event["boot"], datetime.now(UTC))
