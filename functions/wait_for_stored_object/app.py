"""Wait For Stored Object: register this AMI's task token for S3's `Object Created` event of its key, then look once at
the store task, so that an end that came before the registration is not missed.

Invoked by the "Wait For Stored Object" state (`lambda:invoke.waitForTaskToken`), whose timeout is the safety net's next
look (Store Image's pollSeconds). The object appears only when the store task has completed (EC2 API Reference,
CreateStoreImageTask), so S3's event for its key is the completion signal: Resume Waiting sends the token when
StoredObjectRule hears it. EC2 sends no event for store tasks (EC2 User Guide, "Monitor AMI events"), so a failure
is seen only here, by DescribeStoreImageTasks.

Event:  {"token": $$.Task.Token, "execution": $$.Execution.Id, "enteredAt": $$.State.EnteredTime,
         "item": {"imageId", "bucket", "key"}, "store": {"startedAt", "deadlineAt", "pollSeconds"}}
Result: none (Step Functions ignores it). This function sends the token itself, {"state": "Completed", "noticedBy":
        "check"}, when the task has completed (or the object is there without a visible task: older than DescribeStore-
        ImageTasks' 31 days); Resume Waiting sends {"wokenBy": "event", ...}, after which the state machine looks again.
Raises StoreTaskFailedError (EC2's StoreTaskFailureReason) and StoreDeadlineExceededError (still not stored at the
deadline Store Image set from the AMI's size).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger()

_config = Config(retries={"mode": "standard", "max_attempts": 5})
dynamodb = boto3.client("dynamodb", config=_config)
ec2 = boto3.client("ec2", config=_config)
s3 = boto3.client("s3", config=_config)
sfn = boto3.client("stepfunctions", config=_config)

TTL_AFTER_WAIT_SECONDS = 24 * 3600
CREATED = "Object Created"
TABLE_THROTTLING_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "LimitExceededException")


class StoreTaskFailedError(Exception):
    """EC2 ended the store task Failed."""


class StoreDeadlineExceededError(Exception):
    """The store task was not done by the deadline sized to the AMI."""


def register_wait(dynamodb_client: DynamoDBClient, table: str, event: dict[str, Any], now: datetime) -> None:
    """The wait, as Resume Waiting finds it: under the object (s3://bucket/key), one per execution and AMI, woken only by
    Object Created. A throttled table leaves the wait to its poll."""
    item = event["item"]
    try:
        dynamodb_client.put_item(
            TableName=table,
            Item={
                "subject": {"S": f"s3://{item['bucket']}/{item['key']}"},
                "waiter": {"S": f"{event['execution']}#{item['imageId']}"},
                "token": {"S": event["token"]},
                "enteredAt": {"S": event["enteredAt"]},
                "wakeOn": {"S": CREATED},
                "expiresAt": {"N": str(int(now.timestamp()) + int(event["store"]["pollSeconds"]) + TTL_AFTER_WAIT_SECONDS)},
            },
        )
    except ClientError as error:
        if error.response["Error"]["Code"] not in TABLE_THROTTLING_CODES:
            raise
        logger.warning("the wait table throttled: %s waits for its poll", item["imageId"])


def store_state(ec2_client: EC2Client, s3_client: S3Client, item: dict[str, Any]) -> tuple[str, str | None]:
    """(InProgress | Completed | Failed, EC2's failure reason), read from EC2 (the AMI's latest task, in this bucket), or
    from S3 when no task is visible."""
    found = ec2_client.describe_store_image_tasks(ImageIds=[item["imageId"]])["StoreImageTaskResults"]
    if found and found[0]["Bucket"] == item["bucket"]:
        return found[0]["StoreTaskState"], found[0].get("StoreTaskFailureReason")
    try:
        s3_client.head_object(Bucket=item["bucket"], Key=item["key"])
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
        return "InProgress", None  # no task to see yet, and no object: the deadline decides
    return "Completed", None


def wait_for_stored_object(clients: dict[str, Any], table: str, event: dict[str, Any], now: datetime) -> str:
    item = event["item"]
    register_wait(clients["dynamodb"], table, event, now)
    state, reason = store_state(clients["ec2"], clients["s3"], item)
    if state == "Failed":
        raise StoreTaskFailedError(f"EC2's store task for {item['imageId']} failed: {reason or 'no reason given'}")
    if state == "Completed":
        clients["sfn"].send_task_success(taskToken=event["token"], output=json.dumps({"state": "Completed", "noticedBy": "check"}))
        return "Completed"
    if now >= datetime.fromisoformat(event["store"]["deadlineAt"]):
        raise StoreDeadlineExceededError(
            f"{item['imageId']} was still being stored into s3://{item['bucket']}/{item['key']} at {event['store']['deadlineAt']} "
            f"(started {event['store']['startedAt']})"
        )
    return "InProgress"


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, str]:
    clients = {"dynamodb": dynamodb, "ec2": ec2, "s3": s3, "sfn": sfn}
    return {"state": wait_for_stored_object(clients, os.environ["WAIT_TABLE"], event, datetime.now(UTC))}
