"""Wait For Store Budget: take one AMI's GB from the stack's store budget before CreateStoreImageTask, or queue for it,
first come first served.

Invoked by the "Wait For Store Budget" state (`lambda:invoke.waitForTaskToken`) of each recovery point an archive run
stores. EC2 rejects store tasks while the store work in progress is at its quota (1,200 GB per account in the current
EC2 User Guide, "Store and restore an AMI using S3"); the budget (ImageStoreQuotaGb, STORE_BUDGET_TABLE) keeps every
archive run of the stack under it, so EC2 need not refuse. This function sends the task token itself when the budget
admits the AMI at once; otherwise the token waits in the queue, and Release Store Budget (run when a store task ends)
sends it when this AMI is first in line and fits. Every look here also releases the leases of executions Step
Functions says have ended, and leases past their expiry stop counting. The state's timeout is the safety net: the
state runs again and looks for itself.

Event:  {"token": $$.Task.Token, "execution": $$.Execution.Id, "imageId": "ami-...", "sizeBytes": 107374182400}
Result: {"outcome": "held" | "admitted" | "waiting" | "unbudgeted"} (Step Functions ignores it). The token's output is
        {"admitted": true, "heldBy": "lease" | "queue"} or, when the table cannot be used, {"admitted": false,
        "reason"}: the store goes on without it (Store Image handles EC2's own refusal).

The table holds one lease per admitted AMI ("lease", <execution ARN>#<AMI id>) with its size and expiry, one ticket per
waiting AMI ("queue", <queued at, to the second>#<size>#<lease id>) with its task token, and a version item ("total",
"version") every grant and release changes (a transaction conditional on the version read: two grants never both see
the same room). An AMI larger than the whole budget is admitted when nothing else is held; nobody overtakes the head.
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
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger()

_config = Config(retries={"mode": "standard", "max_attempts": 5})
dynamodb = boto3.client("dynamodb", config=_config)
sfn = boto3.client("stepfunctions", config=_config)

GB = 10**9
MB = 10**6
CLOSED_TOKEN_CODES = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")
GRANT_ATTEMPTS = 30
RACE_PAUSE_SECONDS = 0.02
# A lease counts for as long as Store Image gives a store task (12 h and the size at 20 MB/s), and a day more.
STORE_LEASE_MARGIN_SECONDS = 36 * 3600
SLOWEST_STORE_BYTES_PER_SECOND = 20 * MB
# A place in the queue is worth every GB ahead of it at the slowest store rate, and two days more.
STORE_QUEUE_MARGIN_SECONDS = 48 * 3600


class StoreBudgetDeadlineExceededError(Exception):
    """The AMI waited for the store budget longer than the GB ahead of it can take."""


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


def store_lease_seconds(size_bytes: int) -> int:
    return STORE_LEASE_MARGIN_SECONDS + size_bytes // SLOWEST_STORE_BYTES_PER_SECOND


def grant_store(
    dynamodb_client: DynamoDBClient, table: str, ticket: dict[str, Any], quota_bytes: int, now: datetime
) -> dict[str, Any] | None:
    """Give the ticket's AMI its GB if the budget has room (or holds nothing): its lease, and the ticket gone, in one
    transaction conditional on the version and on the ticket's token. The ticket granted, or None (no room, or granted
    meanwhile by another call)."""
    size, lease_id = int(ticket["sizeBytes"]["N"]), ticket["lease"]["S"]
    for attempt in range(GRANT_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, RACE_PAUSE_SECONDS))  # noqa: S311 - a pause, not a secret
        seen = version(dynamodb_client, table)
        leases = items(dynamodb_client, table, "lease")
        if any(lease["id"]["S"] == lease_id for lease in leases):
            return None
        in_flight = held(leases, now)
        if in_flight > 0 and in_flight + size > quota_bytes:
            return None
        lease = {**key("lease", lease_id), "sizeBytes": {"N": str(size)}, "acquiredAt": {"S": now.isoformat(timespec="seconds")},
                 "expiresAt": {"N": str(int(now.timestamp()) + store_lease_seconds(size))}}  # fmt: skip
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
            renewed = dynamodb_client.get_item(TableName=table, Key=key("queue", ticket["id"]["S"]), ConsistentRead=True).get("Item")
            if renewed is None:
                return None
            ticket = renewed
            continue
        logger.info("admitted %s (%.1f GB; %.1f GB were in flight)", lease_id, size / GB, in_flight / GB)
        return ticket
    return None


def admit_store_waiters(dynamodb_client: DynamoDBClient, sfn_client: SFNClient, table: str, quota_bytes: int, now: datetime) -> list[str]:
    """Admit the queue from its head while the budget has room, and wake each admitted AMI's wait. The leases admitted."""
    admitted: list[str] = []
    for ticket in items(dynamodb_client, table, "queue"):
        if int(ticket["expiresAt"]["N"]) <= now.timestamp():
            dynamodb_client.delete_item(TableName=table, Key=key("queue", ticket["id"]["S"]))
            continue
        granted = grant_store(dynamodb_client, table, ticket, quota_bytes, now)
        if granted is None:
            if dynamodb_client.get_item(TableName=table, Key=key("lease", ticket["lease"]["S"]), ConsistentRead=True).get("Item"):
                continue  # granted (and woken) by another call meanwhile
            break
        admitted.append(granted["lease"]["S"])
        try:
            wake(sfn_client, granted["token"]["S"], {"admitted": True, "heldBy": "queue"})
        except ClientError as error:  # another wait's failed wake never fails this call: its next look finds the lease
            logger.warning("could not wake %s: %s", granted["lease"]["S"], error.response["Error"]["Code"])
    return admitted


def release_ended_executions(dynamodb_client: DynamoDBClient, sfn_client: SFNClient, table: str, now: datetime) -> list[str]:
    """Delete the leases and tickets of executions that have ended (stopped, timed out) or whose lease expired. Each
    execution is described once per call: a run's AMIs share it, and a hundred waiters each describing a hundred
    leases at every look would be Step Functions' DescribeExecution quota spent many times over."""
    released = []
    status: dict[str, bool] = {}
    for kind in ("lease", "queue"):
        for found in items(dynamodb_client, table, kind):
            lease_id = found["id"]["S"] if kind == "lease" else found["lease"]["S"]
            execution = lease_id.rsplit("#", 1)[0]
            if int(found["expiresAt"]["N"]) > now.timestamp() and execution not in status:
                status[execution] = ended(sfn_client, execution)
            if int(found["expiresAt"]["N"]) <= now.timestamp() or status[execution]:
                dynamodb_client.delete_item(TableName=table, Key=key(kind, found["id"]["S"]))
                released.append(lease_id)
    return released


def wait_for_store_budget(clients: dict[str, Any], table: str, quota_bytes: int, event: dict[str, Any], now: datetime) -> str:
    """What this call found: "held" (a lease from before), "admitted", or "waiting"."""
    dynamodb_client, sfn_client = clients["dynamodb"], clients["sfn"]
    lease_id, token, size = f"{event['execution']}#{event['imageId']}", event["token"], int(event["sizeBytes"])
    if "Item" in dynamodb_client.get_item(TableName=table, Key=key("lease", lease_id), ConsistentRead=True):
        wake(sfn_client, token, {"admitted": True, "heldBy": "lease"})
        return "held"
    release_ended_executions(dynamodb_client, sfn_client, table, now)
    queue = items(dynamodb_client, table, "queue")
    mine = next((t for t in queue if t["lease"]["S"] == lease_id), None)
    if mine is None:
        ahead = held(items(dynamodb_client, table, "lease"), now) + sum(int(t["sizeBytes"]["N"]) for t in queue) + size
        deadline = now + timedelta(seconds=ahead // SLOWEST_STORE_BYTES_PER_SECOND + STORE_QUEUE_MARGIN_SECONDS)
        dynamodb_client.put_item(TableName=table, Item={
            **key("queue", f"{now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}#{size:016d}#{lease_id}"), "lease": {"S": lease_id},
            "sizeBytes": {"N": str(size)}, "deadlineAt": {"S": deadline.isoformat(timespec="seconds")},
            "expiresAt": {"N": str(int(deadline.timestamp()))}, "token": {"S": token},
        })  # fmt: skip
    elif now >= datetime.fromisoformat(mine["deadlineAt"]["S"]):
        dynamodb_client.delete_item(TableName=table, Key=key("queue", mine["id"]["S"]))
        raise StoreBudgetDeadlineExceededError(
            f"waited for {size / GB:,.1f} GB of the store budget ({quota_bytes / GB:,.0f} GB) until {mine['deadlineAt']['S']}"
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
            if "Item" in dynamodb_client.get_item(TableName=table, Key=key("lease", lease_id), ConsistentRead=True):
                wake(sfn_client, token, {"admitted": True, "heldBy": "lease"})  # granted meanwhile: its wake went to the old token
                return "held"
            raise
    admitted = admit_store_waiters(dynamodb_client, sfn_client, table, quota_bytes, now)
    return "admitted" if lease_id in admitted else "waiting"


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, str]:
    quota_bytes = int(float(os.environ["IMAGE_STORE_QUOTA_GB"]) * GB)
    try:
        found = wait_for_store_budget(
            {"dynamodb": dynamodb, "sfn": sfn}, os.environ["STORE_BUDGET_TABLE"], quota_bytes, event, datetime.now(UTC)
        )
    except ClientError as error:
        if error.response["Error"]["Code"] in CLOSED_TOKEN_CODES or error.operation_name == "SendTaskSuccess":
            raise
        reason = f"{error.operation_name}: {error.response['Error']['Code']}"
        logger.warning("the store budget cannot be used (%s): %s goes on without it", reason, event["imageId"])
        wake(sfn, event["token"], {"admitted": False, "reason": f"the budget's table answered {reason}"})
        found = "unbudgeted"
    return {"outcome": found}
