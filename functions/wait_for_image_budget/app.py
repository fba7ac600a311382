"""Wait For Image Budget: take this restore's GB from the stack's image-restore budget before CreateRestoreImageTask, or
queue for it, first come first served.

Invoked by the "Wait For Image Budget" state (`lambda:invoke.waitForTaskToken`). Every image restore of the stack, in
a batch or started alone, passes here: the budget (ImageRestoreQuotaGb, EC2's in-progress restore quota less what
other tools need) bounds the GB of image restores in flight, so EC2 never has to refuse one. This function sends the
task token itself when the budget admits the restore at once; otherwise the token waits in the queue, and Release
Image Budget sends it when GB is released and this restore is first in line with room for it (it takes the GB on the
restore's behalf) when RestoreEndedRule tells it a restore ended. Every look here also releases the leases of
executions that have ended without that event reaching the stack (DescribeExecution). The state's timeout is the
safety net: every 2 h the state runs again (through Extend Copy) and looks for itself.

Event:  {"token": $$.Task.Token, "execution": $$.Execution.Id, "sizeBytes": 107374182400}
Result: {"outcome": "held" | "admitted" | "waiting" | "unbudgeted"} (Step Functions ignores it). The token's output
        is {"admitted": true, "heldBy": "lease" (it held one already) | "queue" (admitted from the queue)} or, when
        the budget's table cannot be used, {"admitted": false, "reason": "..."}: the restore goes on without it (EC2's
        own refusal of an image restore over its quota is still handled by Restore Image).
Raises ImageBudgetDeadlineExceededError when the restore has waited longer than its place in the queue allows.

The table (IMAGE_BUDGET_TABLE) holds one lease per admitted execution ("lease", <execution ARN>) with its size and
expiry, one ticket per waiting execution ("queue", <queued at, to the second>#<size>#<execution ARN>: first come,
first served, the smallest first within a second) with its task token, and one
version item ("total", "version") that every grant and release changes, so that two of them never both see the same
room (optimistic concurrency: a transaction conditional on the version read). GB in flight is the sum of the leases
that have not expired: a lease whose execution vanished without releasing it stops counting at its expiry.
A restore larger than the whole budget is admitted when nothing else holds any; the queue is never overtaken, so it
does not starve.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from datetime import UTC, datetime, timedelta
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
# The slowest image restore we plan for (AWS documents no throughput): a restore's place in the queue is worth this.
SLOWEST_IMAGE_BYTES_PER_SECOND = 20 * 10**6
QUEUE_MARGIN_SECONDS = 24 * 3600


class ImageBudgetDeadlineExceededError(Exception):
    """The restore waited for the image-restore budget longer than the GB ahead of it can take."""


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


def release_ended(dynamodb_client: DynamoDBClient, sfn_client: SFNClient, ec2_client: EC2Client, table: str, now: datetime) -> list[str]:
    """Release the leases whose execution has ended (its end event not delivered yet, or lost) and whose image restore
    is not in progress, read from Step Functions and EC2: every look of a waiting restore is a reason to check.
    Returns the executions released."""
    found = []
    for lease in items(dynamodb_client, table, "lease"):
        live = int(lease["expiresAt"]["N"]) > now.timestamp()
        if live and ended(sfn_client, lease["id"]["S"]) and release_ended_lease(dynamodb_client, ec2_client, table, lease["id"]["S"]):
            found.append(lease["id"]["S"])
    return found


def queue_deadline(queue: list[dict[str, Any]], in_flight: int, size: int, now: datetime) -> datetime:
    """How long this place in the queue may take: every GB ahead (in flight and queued) and its own at the slowest rate
    we plan for, one after another, and a day more."""
    ahead = in_flight + sum(int(t["sizeBytes"]["N"]) for t in queue) + size
    return now + timedelta(seconds=ahead / SLOWEST_IMAGE_BYTES_PER_SECOND + QUEUE_MARGIN_SECONDS)


def ticket_id(now: datetime, size: int, execution: str) -> str:
    """A ticket's place: the second it was queued, then its size (the queue is read in this order: first come, first
    served; of the restores that came in the same second, the smallest first, so that more AMIs are ready sooner)."""
    return f"{now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}#{size:016d}#{execution}"


def has_lease(dynamodb_client: DynamoDBClient, table: str, execution: str) -> bool:
    return "Item" in dynamodb_client.get_item(TableName=table, Key=key("lease", execution), ConsistentRead=True)


def wait_for_image_budget(clients: dict[str, Any], table: str, quota_bytes: int, event: dict[str, Any], now: datetime) -> str:
    """What this call found: "held" (a lease from before), "admitted", or "waiting"."""
    dynamodb_client, sfn_client, ec2_client = clients["dynamodb"], clients["sfn"], clients["ec2"]
    execution, token, size = event["execution"], event["token"], int(event["sizeBytes"])
    if has_lease(dynamodb_client, table, execution):
        wake(sfn_client, token, {"admitted": True, "heldBy": "lease"})
        return "held"
    release_ended(dynamodb_client, sfn_client, ec2_client, table, now)
    queue = items(dynamodb_client, table, "queue")
    mine = next((t for t in queue if t["execution"]["S"] == execution), None)
    if mine is None:
        deadline = queue_deadline(queue, held(items(dynamodb_client, table, "lease"), now), size, now)
        ticket = {
            **key("queue", ticket_id(now, size, execution)),
            "execution": {"S": execution},
            "sizeBytes": {"N": str(size)},
            "deadlineAt": {"S": deadline.isoformat(timespec="seconds")},
            "expiresAt": {"N": str(int(deadline.timestamp()))},
            "token": {"S": token},
        }
        dynamodb_client.put_item(TableName=table, Item=ticket)
    elif now >= datetime.fromisoformat(mine["deadlineAt"]["S"]):
        dynamodb_client.delete_item(TableName=table, Key=key("queue", mine["id"]["S"]))
        raise ImageBudgetDeadlineExceededError(
            f"waited for {size / GB:,.1f} GB of the stack's image-restore budget ({quota_bytes / GB:,.0f} GB) until "
            f"{mine['deadlineAt']['S']}, longer than the restores ahead of it should take at the slowest rate planned"
        )
    else:
        try:  # this wait's token, the newest, on the ticket that keeps its place; only while the ticket is there
            dynamodb_client.update_item(
                TableName=table,
                Key=key("queue", mine["id"]["S"]),
                UpdateExpression="SET #token = :token",
                ConditionExpression="attribute_exists(#id)",
                ExpressionAttributeNames={"#token": "token", "#id": "id"},
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # Granted meanwhile (its wake went to the wait that timed out): the lease is there
            if has_lease(dynamodb_client, table, execution):
                wake(sfn_client, token, {"admitted": True, "heldBy": "lease"})
                return "held"
            raise
    admitted = admit_waiters(dynamodb_client, sfn_client, ec2_client, table, quota_bytes, now)
    return "admitted" if execution in admitted else "waiting"


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, str]:
    quota_bytes = int(float(os.environ["IMAGE_RESTORE_QUOTA_GB"]) * GB)
    try:
        clients = {"dynamodb": dynamodb, "sfn": sfn, "ec2": ec2}
        found = wait_for_image_budget(clients, os.environ["IMAGE_BUDGET_TABLE"], quota_bytes, event, datetime.now(UTC))
    except ClientError as error:
        if error.response["Error"]["Code"] in CLOSED_TOKEN_CODES or error.operation_name == "SendTaskSuccess":
            raise
        # The budget's table cannot be used (an outage, throttling, a missing table or permission): the restore goes on
        # without it. EC2 refuses an image restore over its own quota, and Restore Image waits for that.
        reason = f"{error.operation_name}: {error.response['Error']['Code']}"
        logger.warning("the image-restore budget cannot be used (%s): %s goes on without it", reason, event["execution"])
        wake(sfn, event["token"], {"admitted": False, "reason": f"the budget's table answered {reason}"})
        found = "unbudgeted"
    logger.info("%s: %s", event["execution"], found)
    return {"outcome": found}
