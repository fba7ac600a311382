"""Release Store Budget: give one AMI's GB back to the stack's store budget once its store task has ended, and admit the
next in line.

Invoked by the "Release Store Budget" state when the object is stored, and by "Release Store Budget After Failure" when
the AMI's path failed (a no-op when it never held GB). A store task EC2 still runs (a deadline passed, a later step
failed) keeps its GB: EC2 counts it against its quota until it ends, whatever became of the execution; its lease
expires by itself (Wait For Store Budget's STORE_LEASE_MARGIN_SECONDS after its grant). Then the queue is admitted
from its head while there is room, and each admitted AMI's wait is woken (its token sent).

Event:  {"execution": $$.Execution.Id, "imageId": "ami-..."}
Result: {"releasedBytes": 120000000000 | 0, "keptBecause": null | "store task in progress", "admitted": [lease ids]}
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
MB = 10**6
CLOSED_TOKEN_CODES = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")
GRANT_ATTEMPTS = 30
RACE_PAUSE_SECONDS = 0.02
STORE_LEASE_MARGIN_SECONDS = 36 * 3600
SLOWEST_STORE_BYTES_PER_SECOND = 20 * MB


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


def store_in_progress(ec2_client: EC2Client, image_id: str) -> bool:
    """Is EC2 still storing the AMI? (its latest task: DescribeStoreImageTasks with ImageIds answers only that one)"""
    found = ec2_client.describe_store_image_tasks(ImageIds=[image_id])["StoreImageTaskResults"]
    return bool(found) and found[0]["StoreTaskState"] == "InProgress"


def release_lease(dynamodb_client: DynamoDBClient, table: str, lease_id: str) -> int:
    """Delete the lease (conditional on the budget's version) and any ticket it left; the bytes it held (0: none)."""
    released = 0
    for attempt in range(GRANT_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, RACE_PAUSE_SECONDS))  # noqa: S311 - a pause, not a secret
        lease = dynamodb_client.get_item(TableName=table, Key=key("lease", lease_id), ConsistentRead=True).get("Item")
        if lease is None:
            break
        seen = version(dynamodb_client, table)
        try:
            dynamodb_client.transact_write_items(
                TransactItems=[
                    {"Delete": {"TableName": table, "Key": key("lease", lease_id), "ConditionExpression": "attribute_exists(#id)",
                                "ExpressionAttributeNames": {"#id": "id"}}},
                    bump(table, seen),
                ]
            )  # fmt: skip
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            continue
        released = int(lease["sizeBytes"]["N"])
        logger.info("released %.1f GB of %s", released / GB, lease_id)
        break
    for ticket in items(dynamodb_client, table, "queue"):
        if ticket["lease"]["S"] == lease_id:  # its path failed while it waited
            dynamodb_client.delete_item(TableName=table, Key=key("queue", ticket["id"]["S"]))
    return released


def release_store_budget(clients: dict[str, Any], table: str, quota_bytes: int, event: dict[str, Any], now: datetime) -> dict[str, Any]:
    dynamodb_client, sfn_client, ec2_client = clients["dynamodb"], clients["sfn"], clients["ec2"]
    if store_in_progress(ec2_client, event["imageId"]):
        return {"releasedBytes": 0, "keptBecause": "store task in progress", "admitted": []}
    released = release_lease(dynamodb_client, table, f"{event['execution']}#{event['imageId']}")
    admitted = admit_store_waiters(dynamodb_client, sfn_client, table, quota_bytes, now)
    return {"releasedBytes": released, "keptBecause": None, "admitted": admitted}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    quota_bytes = int(float(os.environ["IMAGE_STORE_QUOTA_GB"]) * GB)
    clients = {"dynamodb": dynamodb, "sfn": sfn, "ec2": ec2}
    return release_store_budget(clients, os.environ["STORE_BUDGET_TABLE"], quota_bytes, event, datetime.now(UTC))
