"""Resume Waiting: an S3 restore event or an EC2 AMI state event resumes every execution waiting on that object or
image, at once.

Invoked asynchronously by the stack's EventBridge rules (Lambda retries it twice, then the event goes to the
undelivered-event queue, which raises an alarm). Event: the EventBridge event, as S3 and EC2 send it.
Result: {"subject", "resumed", "closed"} (for the log; EventBridge ignores it).

The event is only a reason to look: each woken execution asks S3 or EC2 for the truth (Check Restore Status, Check
Image State), so a duplicate, late, reordered or unrelated event changes nothing. A token that closed already
(TaskTimedOut: the wait timed out into its next poll, or the execution ended) is benign. The item is removed only if it
still holds the token we sent, so a newer wait of the same execution stays registered. `Object Restore Initiated`
also leaves a marker: it proves the bucket's events reach the stack, and a wait registered after it still sees it.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger()

_config = Config(retries={"mode": "standard", "max_attempts": 5})
dynamodb = boto3.client("dynamodb", config=_config)
sfn = boto3.client("stepfunctions", config=_config)

MARKER_TTL_SECONDS = 7 * 24 * 3600
INITIATED = "Object Restore Initiated"
CLOSED_TOKEN_CODES = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")


def subjects_of(event: dict[str, Any]) -> list[str]:
    """The table's partition keys the event may name, as Wait For writes them; none for an event this stack does not
    wait on. S3 documents no encoding for the key in EventBridge events; its other notifications URL-encode it (and
    AWS's Powertools decodes it), so both forms are looked up."""
    detail = event.get("detail") or {}
    if event.get("source") == "aws.ec2" and detail.get("ImageId"):
        return [f"ec2:{detail['ImageId']}"]
    if event.get("source") == "aws.s3" and detail.get("bucket", {}).get("name") and detail.get("object", {}).get("key"):
        key = detail["object"]["key"]
        return list(dict.fromkeys(f"s3://{detail['bucket']['name']}/{k}" for k in (key, unquote_plus(key))))
    return []


def mark(table: str, dynamodb_client: DynamoDBClient, subject: str, event: dict[str, Any], now: datetime) -> None:
    dynamodb_client.put_item(
        TableName=table,
        Item={
            "subject": {"S": subject},
            "waiter": {"S": f"event#{event['detail-type']}"},
            "at": {"S": event["time"]},
            "expiresAt": {"N": str(int(now.timestamp()) + MARKER_TTL_SECONDS)},
        },
    )


def resume_waiting(
    table: str, dynamodb_client: DynamoDBClient, sfn_client: SFNClient, event: dict[str, Any], now: datetime
) -> dict[str, Any]:
    subjects = subjects_of(event)
    if not subjects:
        logger.info("ignored an event with no object or image: %s", event.get("detail-type"))
        return {"subject": None, "resumed": 0, "closed": 0}
    resumed = closed = 0
    for subject in subjects:
        done = resume_subject(table, dynamodb_client, sfn_client, event, subject, now)
        resumed, closed = resumed + done[0], closed + done[1]
    logger.info("%s from %s: resumed %d, %d already closed", event["detail-type"], subjects[0], resumed, closed)
    return {"subject": subjects[0], "resumed": resumed, "closed": closed}


def resume_subject(
    table: str, dynamodb_client: DynamoDBClient, sfn_client: SFNClient, event: dict[str, Any], subject: str, now: datetime
) -> tuple[int, int]:
    if event["detail-type"] == INITIATED:
        mark(table, dynamodb_client, subject, event, now)
    pages = dynamodb_client.get_paginator("query").paginate(
        TableName=table,
        ConsistentRead=True,
        KeyConditionExpression="#subject = :s AND begins_with(#waiter, :arn)",
        ExpressionAttributeNames={"#subject": "subject", "#waiter": "waiter"},
        ExpressionAttributeValues={":s": {"S": subject}, ":arn": {"S": "arn:"}},
    )
    output = {"wokenBy": "event", "event": event["detail-type"], "at": event["time"], "state": event["detail"].get("State")}
    resumed = closed = 0
    for item in (item for page in pages for item in page["Items"]):
        if "wakeOn" in item and item["wakeOn"]["S"] != event["detail-type"]:
            continue  # this wait waits for another of the subject's events
        token = item["token"]["S"]
        try:
            sfn_client.send_task_success(taskToken=token, output=json.dumps(output))
            resumed += 1
        except ClientError as error:
            if error.response["Error"]["Code"] not in CLOSED_TOKEN_CODES:
                raise
            closed += 1
        try:
            dynamodb_client.delete_item(
                TableName=table,
                Key={"subject": item["subject"], "waiter": item["waiter"]},
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise  # else: the execution registered a newer wait meanwhile; it stays
    return resumed, closed


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return resume_waiting(os.environ["WAIT_TABLE"], dynamodb, sfn, event, datetime.now(UTC))
