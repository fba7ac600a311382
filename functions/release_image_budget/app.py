"""Release Image Budget: give an ended restore's GB back to the stack's image-restore budget, and admit whoever waits.

Invoked by RestoreEndedRule on Step Functions' "Step Functions Execution Status Change" event of the restore state
machine (SUCCEEDED, FAILED, TIMED_OUT, ABORTED): a restore gives its GB back however it ended, its AMI available or
failed, stopped by hand or timed out. An execution that ended while EC2 still makes its image (stopped by hand mid-
image: EC2 goes on, and counts the GB against its quota) keeps its GB until that image is available or failed:
ImageEventRule's "EC2 AMI State Change" event releases them then. Releasing twice changes nothing. Then the queue is
admitted from its head while the budget has room (first come, first served), each admitted execution's wait woken at
once (Wait For Image Budget explains the table). Events are best effort: a waiting restore's every look also releases
the leases of executions that have ended (read from Step Functions and EC2), and a lease expires by itself.

Event:  the EventBridge event (Step Functions': detail.executionArn and status; EC2's: detail.ImageId), or
        {"execution": <ARN>} (sam local invoke: as a success).
Result: {"execution", "released": <bytes released, 0 if it held none>, "admitted": [<executions admitted>]}, or for
        an image {"image", "released": [<executions whose GB were held for it>], "admitted"}.
No error of the budget's table fails anything: it is logged, and the lease is released later or expires.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger()

_config = Config(retries={"mode": "standard", "max_attempts": 5})
dynamodb = boto3.client("dynamodb", config=_config)
sfn = boto3.client("stepfunctions", config=_config)
ec2 = boto3.client("ec2", config=_config)

GB = 10**9
TAG_PREFIX = "glacier-ami-restore:"  # Restore Image tags each AMI with the execution that made it
CLOSED_TOKEN_CODES = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")
# A grant or release that loses a race to another reads the budget again, after a short random pause (restores that
# reach the budget together, a batch's children, contend for the version item)
GRANT_ATTEMPTS = 30
RACE_PAUSE_SECONDS = 0.02
# Planning figures for CreateRestoreImageTask, as in Check Image State (tests/static checks the copies agree).
IMAGE_STARTUP_SECONDS = 600
IMAGE_PLANNED_BYTES_PER_SECOND = 50 * 10**6
MIN_DEADLINE_SECONDS = 24 * 3600
QUOTA_WAIT_SECONDS = 24 * 3600


def image_deadline_seconds(size_bytes: int) -> int:
    """Check Image State's deadline for the image restore: twice the planned time, at least a day."""
    return max(MIN_DEADLINE_SECONDS, 2 * (IMAGE_STARTUP_SECONDS + -(-size_bytes // IMAGE_PLANNED_BYTES_PER_SECOND)))


def lease_seconds(size_bytes: int) -> int:
    """How long a lease counts: the image restore's deadline, plus the day Restore Image may wait for EC2's quota."""
    return QUOTA_WAIT_SECONDS + image_deadline_seconds(size_bytes)


def key(kind: str, item_id: str) -> dict[str, Any]:
    return {"kind": {"S": kind}, "id": {"S": item_id}}


def items(dynamodb_client: DynamoDBClient, table: str, kind: str) -> list[dict[str, Any]]:
    """Every item of a kind, oldest queue ticket first (the sort key starts with the time it was queued)."""
    found: list[dict[str, Any]] = []
    pages = dynamodb_client.get_paginator("query").paginate(
        TableName=table,
        ConsistentRead=True,
        KeyConditionExpression="#kind = :kind",
        ExpressionAttributeNames={"#kind": "kind"},
        ExpressionAttributeValues={":kind": {"S": kind}},
    )
    for page in pages:
        found += page["Items"]
    return found


def version(dynamodb_client: DynamoDBClient, table: str) -> int | None:
    got = dynamodb_client.get_item(TableName=table, Key=key("total", "version"), ConsistentRead=True).get("Item")
    return int(got["version"]["N"]) if got else None


def held(leases: list[dict[str, Any]], now: datetime) -> int:
    """GB in flight: the bytes of every lease that has not expired."""
    return sum(int(lease["sizeBytes"]["N"]) for lease in leases if int(lease["expiresAt"]["N"]) > now.timestamp())


def bump(table: str, seen: int | None) -> TransactWriteItemTypeDef:
    """The transaction's update of the version item, conditional on the version this call read."""
    condition = "attribute_not_exists(#v)" if seen is None else "#v = :seen"
    values: dict[str, Any] = {":next": {"N": str((seen or 0) + 1)}}
    if seen is not None:
        values[":seen"] = {"N": str(seen)}
    return {
        "Update": {
            "TableName": table,
            "Key": key("total", "version"),
            "UpdateExpression": "SET #v = :next",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": values,
        }
    }


def grant(dynamodb_client: DynamoDBClient, table: str, ticket: dict[str, Any], quota_bytes: int, now: datetime) -> dict[str, Any] | None:
    """Give the ticket's execution its GB if the budget has room (or holds nothing): its lease, and the ticket gone, in
    one transaction conditional on the budget's version and on the ticket's token (a wait that renewed its token
    meanwhile is granted with the new one). Returns the ticket granted (with the token to wake), None if no room."""
    size, execution = int(ticket["sizeBytes"]["N"]), ticket["execution"]["S"]
    for attempt in range(GRANT_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, RACE_PAUSE_SECONDS))  # noqa: S311 - a pause, not a secret
        seen = version(dynamodb_client, table)
        leases = items(dynamodb_client, table, "lease")
        if any(lease["id"]["S"] == execution for lease in leases):  # granted meanwhile, by another call: it woke it
            return None
        in_flight = held(leases, now)
        if in_flight > 0 and in_flight + size > quota_bytes:
            return None
        lease = {
            **key("lease", execution),
            "sizeBytes": {"N": str(size)},
            "acquiredAt": {"S": now.isoformat(timespec="seconds")},
            "expiresAt": {"N": str(int(now.timestamp()) + lease_seconds(size))},
        }
        try:
            dynamodb_client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": lease}},
                    {"Delete": {"TableName": table, "Key": key("queue", ticket["id"]["S"]), "ConditionExpression": "#token = :token",
                                "ExpressionAttributeNames": {"#token": "token"}, "ExpressionAttributeValues": {":token": ticket["token"]}}},
                    bump(table, seen),
                ]
            )  # fmt: skip
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            # Another grant or release changed the budget, or the wait renewed its token: read both again
            renewed = dynamodb_client.get_item(TableName=table, Key=key("queue", ticket["id"]["S"]), ConsistentRead=True).get("Item")
            if renewed is None:
                return None  # granted by another call, or its execution ended
            ticket = renewed
            continue
        logger.info("admitted %s (%.1f GB; %.1f GB were in flight)", execution, size / GB, in_flight / GB)
        return ticket
    return None


def wake(sfn_client: SFNClient, token: str, output: dict[str, Any]) -> bool:
    """Send the waiting task its token; False if the task is closed already (it timed out into its next look)."""
    try:
        sfn_client.send_task_success(taskToken=token, output=json.dumps(output))
    except ClientError as error:
        if error.response["Error"]["Code"] not in CLOSED_TOKEN_CODES:
            raise
        return False
    return True


def ended(sfn_client: SFNClient, execution: str) -> bool:
    """Has the execution ended? A fact from Step Functions (False when it cannot be read: the lease then expires)."""
    try:
        return sfn_client.describe_execution(executionArn=execution)["status"] != "RUNNING"
    except ClientError as error:
        return error.response["Error"]["Code"] == "ExecutionDoesNotExist"


def admit_waiters(
    dynamodb_client: DynamoDBClient, sfn_client: SFNClient, ec2_client: EC2Client, table: str, quota_bytes: int, now: datetime
) -> list[str]:
    """Admit the queue from its head while the budget has room, and wake each admitted execution. Nobody overtakes the
    head: a restore larger than the room waits until enough is released (or, larger than the budget, until none is
    held). Returns the executions admitted."""
    admitted: list[str] = []
    for ticket in items(dynamodb_client, table, "queue"):
        if int(ticket["expiresAt"]["N"]) <= now.timestamp():
            dynamodb_client.delete_item(TableName=table, Key=key("queue", ticket["id"]["S"]))  # its execution is gone
            continue
        granted = grant(dynamodb_client, table, ticket, quota_bytes, now)
        if granted is None:
            if dynamodb_client.get_item(TableName=table, Key=key("lease", ticket["execution"]["S"]), ConsistentRead=True).get("Item"):
                continue  # another call granted it (and woke it) meanwhile: look at the next one
            break
        admitted.append(granted["execution"]["S"])
        try:
            woken = wake(sfn_client, granted["token"]["S"], {"admitted": True, "heldBy": "queue"})
        except ClientError as error:  # another execution's wake never fails this call: its next look finds the lease
            logger.warning("could not wake %s: %s", granted["execution"]["S"], error.response["Error"]["Code"])
            continue
        if not woken and ended(sfn_client, granted["execution"]["S"]):  # it ended while queued (its end event lost)
            release_ended_lease(dynamodb_client, ec2_client, table, granted["execution"]["S"])
            admitted.pop()
        elif not woken:  # its wait timed out into its next look, which finds the lease
            logger.info("%s was admitted while its wait was closed; its next look finds the lease", granted["execution"]["S"])
    return admitted


def release(dynamodb_client: DynamoDBClient, table: str, execution: str) -> int:
    """Delete the execution's lease and any ticket it left in the queue; the bytes the lease held (0: none)."""
    released = 0
    for attempt in range(GRANT_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, RACE_PAUSE_SECONDS))  # noqa: S311 - a pause, not a secret
        lease = dynamodb_client.get_item(TableName=table, Key=key("lease", execution), ConsistentRead=True).get("Item")
        if lease is None:
            break
        seen = version(dynamodb_client, table)
        try:
            dynamodb_client.transact_write_items(
                TransactItems=[
                    {"Delete": {"TableName": table, "Key": key("lease", execution), "ConditionExpression": "attribute_exists(#id)",
                                "ExpressionAttributeNames": {"#id": "id"}}},
                    bump(table, seen),
                ]
            )  # fmt: skip
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            continue  # released meanwhile, or the budget changed: look again
        released = int(lease["sizeBytes"]["N"])
        logger.info("released %.1f GB of %s", released / GB, execution)
        break
    for ticket in items(dynamodb_client, table, "queue"):
        if ticket["execution"]["S"] == execution:  # it ended while waiting
            dynamodb_client.delete_item(TableName=table, Key=key("queue", ticket["id"]["S"]))
    return released


def image_in_progress(ec2_client: EC2Client, execution: str) -> str | None:
    """The AMI the execution's image restore is still making (EC2 counts its GB against its quota until the image is
    available or failed, whatever became of the execution): read from EC2 by the tag Restore Image gives it."""
    found = ec2_client.describe_images(
        Owners=["self"], Filters=[{"Name": f"tag:{TAG_PREFIX}execution", "Values": [execution]}, {"Name": "state", "Values": ["pending"]}]
    )["Images"]
    return str(found[0]["ImageId"]) if found else None


def hold_for_image(dynamodb_client: DynamoDBClient, table: str, execution: str, image_id: str) -> None:
    """Keep the ended execution's lease until its image is available or failed (EC2's AMI State Change releases it)."""
    try:
        dynamodb_client.update_item(
            TableName=table,
            Key=key("lease", execution),
            UpdateExpression="SET #image = :image",
            ConditionExpression="attribute_exists(#id)",
            ExpressionAttributeNames={"#image": "imageId", "#id": "id"},
            ExpressionAttributeValues={":image": {"S": image_id}},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


def release_ended_lease(dynamodb_client: DynamoDBClient, ec2_client: EC2Client, table: str, execution: str) -> int:
    """An execution ended: release its lease, unless its image restore is still in progress (then the lease waits for
    the image). The bytes released."""
    image_id = image_in_progress(ec2_client, execution)
    if image_id is not None:
        hold_for_image(dynamodb_client, table, execution, image_id)
        logger.info("%s ended while %s is still being restored: its GB are released when the image is", execution, image_id)
        return 0
    return release(dynamodb_client, table, execution)


def release_image(dynamodb_client: DynamoDBClient, table: str, image_id: str) -> list[str]:
    """The image is available or failed: release the leases of ended executions held for it."""
    held_for = [lease["id"]["S"] for lease in items(dynamodb_client, table, "lease") if lease.get("imageId", {}).get("S") == image_id]
    return [execution for execution in held_for if release(dynamodb_client, table, execution)]


def release_image_budget(clients: dict[str, Any], table: str, quota_bytes: int, event: dict[str, Any], now: datetime) -> dict[str, Any]:
    dynamodb_client, sfn_client, ec2_client = clients["dynamodb"], clients["sfn"], clients["ec2"]
    if event.get("detail-type") == "EC2 AMI State Change":
        image_id = event["detail"]["ImageId"]
        released = release_image(dynamodb_client, table, image_id)
        admitted = admit_waiters(dynamodb_client, sfn_client, ec2_client, table, quota_bytes, now)
        return {"image": image_id, "released": released, "admitted": admitted}
    detail = event.get("detail") or {"executionArn": event["execution"], "status": "SUCCEEDED"}
    execution = detail["executionArn"]
    if detail["status"] == "SUCCEEDED":  # its AMI is available
        freed = release(dynamodb_client, table, execution)
    else:
        freed = release_ended_lease(dynamodb_client, ec2_client, table, execution)
    admitted = admit_waiters(dynamodb_client, sfn_client, ec2_client, table, quota_bytes, now)
    return {"execution": execution, "released": freed, "admitted": admitted}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    quota_bytes = int(float(os.environ["IMAGE_RESTORE_QUOTA_GB"]) * GB)
    clients = {"dynamodb": dynamodb, "sfn": sfn, "ec2": ec2}
    try:
        return release_image_budget(clients, os.environ["IMAGE_BUDGET_TABLE"], quota_bytes, event, datetime.now(UTC))
    except ClientError as error:
        # The table cannot be used: the lease is released at a waiting restore's look, or expires by itself; nothing
        # is ever failed for it.
        subject = event.get("execution") or event.get("detail", {}).get("executionArn") or event.get("detail", {}).get("ImageId")
        logger.warning("could not release the image-restore budget of %s: %s", subject, error.response["Error"]["Code"])
        return {"execution": subject, "released": 0, "admitted": [], "error": error.response["Error"]["Code"]}
