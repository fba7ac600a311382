"""Check Instance Status: have EC2's system and instance status checks of the drill's instance settled?

Event:  {"boot": <Launch Drill Instance's result, with "checks" from the previous look>}
Result: the boot record with "state" (running, ...), "system" and "instance" ("initializing", "ok", "impaired", ...),
        "done" (both settled, or the deadline passed) and "passed" (both "ok").
EC2 API Reference, DescribeInstanceStatus (IncludeAllInstances, so a pending or stopped instance answers too): each
check is `ok`, `impaired`, `insufficient-data`, `not-applicable` or `initializing`. EC2 runs the checks every minute;
a healthy instance passes them within minutes of launch (EC2 User Guide, "Status checks for your instances"). The drill
gives up BOOT_DEADLINE_SECONDS after the launch: not `ok` by then is a failed boot check.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_ec2 import EC2Client

logger = logging.getLogger()

ec2 = boto3.client("ec2", config=Config(retries={"mode": "standard", "max_attempts": 5}))

BOOT_DEADLINE_SECONDS = 15 * 60
SETTLED = ("ok", "impaired")


def check_instance_status(ec2_client: EC2Client, boot: dict[str, Any], now: datetime) -> dict[str, Any]:
    statuses = ec2_client.describe_instance_status(InstanceIds=[boot["instanceId"]], IncludeAllInstances=True)["InstanceStatuses"]
    status = statuses[0] if statuses else {}
    state = status.get("InstanceState", {}).get("Name", "unknown")
    system = status.get("SystemStatus", {}).get("Status", "unknown")
    instance = status.get("InstanceStatus", {}).get("Status", "unknown")
    late = (now - datetime.fromisoformat(boot["launchedAt"])).total_seconds() >= BOOT_DEADLINE_SECONDS
    settled = system in SETTLED and instance in SETTLED
    passed = state == "running" and system == "ok" and instance == "ok"
    return {**boot, "state": state, "system": system, "instance": instance, "checkedAt": now.isoformat(timespec="seconds"),
            "done": passed or settled or late or state in ("shutting-down", "terminated", "stopped"), "passed": passed}  # fmt: skip


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return check_instance_status(ec2, event["boot"], datetime.now(UTC))
