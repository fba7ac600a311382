"""Wait For (Restore, Image): register this execution's task token for an object's restored copy or a restored image, then
look once, so that an event that came before the registration is not missed.

Invoked by the "Wait For Restore" and "Wait For Image" states (`lambda:invoke.waitForTaskToken`). The state waits
for the token until its TimeoutSecondsPath; Resume Waiting sends the token when S3's `Object Restore Initiated` /
`Object Restore Completed` or EC2's `EC2 AMI State Change` event arrives. A timeout is the safety net's next poll.

Event:  {"token": $$.Task.Token, "execution": $$.Execution.Id, "enteredAt": $$.State.EnteredTime,
         "subject": {"bucket", "key"} | {"imageId"}, "schedule": {"timeouts", "next", "seconds"}, "deadlineAt",
         "eventsConfirmed", "since": when the restore was requested (copy waits only),
         "wakeOn": only this event type wakes the wait (optional; a batch's "Wait For Copy" waits for "Object Restore
         Completed" only, its "execution" the batch's ARN and the AMI's index)}
Result: none (Step Functions ignores it); this function itself sends the token
        ({"wokenBy": "check" | "deadline" | "schedule" | "event", "event", "at"}) when there is nothing to wait for:
        the copy or image is there, the deadline passed, the schedule is used up (the check renews it), or an
        `Object Restore Initiated` came before this registration.

The table holds one item per (subject, execution): a retried or late registration never overwrites a newer one
(conditional on enteredAt), and items expire by TTL a day after their wait. Resume Waiting also leaves a marker item
per (subject, event): an `Object Restore Initiated` that came before this registration still counts.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger()

_config = Config(retries={"mode": "standard", "max_attempts": 5})
dynamodb = boto3.client("dynamodb", config=_config)
s3 = boto3.client("s3", config=_config)
ec2 = boto3.client("ec2", config=_config)
sfn = boto3.client("stepfunctions", config=_config)

TTL_AFTER_WAIT_SECONDS = 24 * 3600
NAMES = {"#subject": "subject", "#waiter": "waiter"}  # placeholders, not bare names: DynamoDB reserves hundreds of words
ARCHIVED_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
# Tokens that are closed already: the execution moved on (or was stopped); nothing to do.
CLOSED_TOKEN_CODES = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")
# The table throttled after the SDK's own retries: wait unregistered (the poll still comes), do not fail the restore.
INITIATED = "Object Restore Initiated"
MARKER_SKEW = timedelta(minutes=1)  # the event's time and the workflow's clock may differ slightly


def subject_of(subject: dict[str, str]) -> str:
    """The table's partition key, as Resume Waiting derives it from an event."""
    if "imageId" in subject:
        return f"ec2:{subject['imageId']}"
    return f"s3://{subject['bucket']}/{subject['key']}"


def register(table: str, dynamodb_client: DynamoDBClient, event: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """Put this wait's token (newer registrations win), then return the subject's event markers."""
    subject = subject_of(event["subject"])
    expires = int(now.timestamp()) + int(event["schedule"]["seconds"]) + TTL_AFTER_WAIT_SECONDS
    try:
        dynamodb_client.put_item(
            TableName=table,
            Item={
                "subject": {"S": subject},
                "waiter": {"S": event["execution"]},
                "token": {"S": event["token"]},
                "enteredAt": {"S": event["enteredAt"]},
                "expiresAt": {"N": str(expires)},
                **({"wakeOn": {"S": event["wakeOn"]}} if event.get("wakeOn") else {}),
            },
            ConditionExpression="attribute_not_exists(#waiter) OR #entered <= :entered",
            ExpressionAttributeNames={"#waiter": "waiter", "#entered": "enteredAt"},
            ExpressionAttributeValues={":entered": {"S": event["enteredAt"]}},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        logger.info("a newer wait of %s is registered for %s: this one is stale", event["execution"], subject)
    items = dynamodb_client.query(
        TableName=table,
        ConsistentRead=True,  # the item just written, and a marker written a moment ago
        KeyConditionExpression="#subject = :s AND begins_with(#waiter, :marker)",
        ExpressionAttributeNames=NAMES,
        ExpressionAttributeValues={":s": {"S": subject}, ":marker": {"S": "event#"}},
    )["Items"]
    return [{"event": item["waiter"]["S"].removeprefix("event#"), "at": item["at"]["S"]} for item in items]


def copy_is_readable(s3_client: S3Client, bucket: str, key: str) -> bool:
    """Readable, or nothing left to wait for (no restore at all: Check Restore Status tells which)."""
    head = s3_client.head_object(Bucket=bucket, Key=key)
    if head.get("StorageClass", "STANDARD") not in ARCHIVED_CLASSES:
        return head.get("ArchiveStatus") is None  # Intelligent-Tiering: a finished restore leaves the archive tier
    restore = head.get("Restore", "")
    return 'ongoing-request="true"' not in restore


def image_is_settled(ec2_client: EC2Client, image_id: str) -> bool:
    try:
        images = ec2_client.describe_images(ImageIds=[image_id])["Images"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "InvalidAMIID.NotFound":
            return False  # EC2 is eventually consistent: Check Image State decides how long that may last
        raise
    return bool(images) and images[0]["State"] != "pending"


def settled(s3_client: S3Client, ec2_client: EC2Client, subject: dict[str, str]) -> bool:
    """The one look; a failed look (throttled, 5xx) only means this wait ends at its poll, which looks again."""
    try:
        if "imageId" in subject:
            return image_is_settled(ec2_client, subject["imageId"])
        return copy_is_readable(s3_client, subject["bucket"], subject["key"])
    except ClientError as error:
        logger.warning("could not look at %s (%s); waiting for the event or the poll", subject_of(subject), error.response["Error"]["Code"])
        return False


def wake(sfn_client: SFNClient, token: str, output: dict[str, Any]) -> bool:
    """Send the waiting task its token; False if the task is closed already (it timed out into its next look)."""
    try:
        sfn_client.send_task_success(taskToken=token, output=json.dumps(output))
    except ClientError as error:
        if error.response["Error"]["Code"] not in CLOSED_TOKEN_CODES:
            raise
        return False
    return True


def fresh(marker: dict[str, str], event: dict[str, Any]) -> bool:
    """A marker of this restore, not of an earlier one (the table keeps markers for days)."""
    since = event.get("since")
    return since is None or datetime.fromisoformat(marker["at"].replace("Z", "+00:00")) >= datetime.fromisoformat(since) - MARKER_SKEW


def wait_for_event(
    table: str,
    dynamodb_client: DynamoDBClient,
    s3_client: S3Client,
    ec2_client: EC2Client,
    sfn_client: SFNClient,
    event: dict[str, Any],
    now: datetime,
) -> str:
    """What this registration found: "waiting", or why it sent the token at once."""
    stamp = now.isoformat(timespec="seconds")
    try:
        markers = register(table, dynamodb_client, event, now)
    except (ClientError, BotoCoreError) as error:
        # The table only lets an event end the wait early: whatever went wrong with it (throttled, 500, access denied, a
        # missing table, no connection), the wait is not registered and ends at its poll, which looks again.
        why = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error).__name__
        logger.warning("%s: not registered (%s); this wait ends at its poll", subject_of(event["subject"]), why)
        markers = []
    subject = event["subject"]
    schedule = event["schedule"]
    if now >= datetime.fromisoformat(event["deadlineAt"]):
        found = {"wokenBy": "deadline", "event": None, "at": stamp}
    elif schedule["next"] >= len(schedule["timeouts"]):
        found = {"wokenBy": "schedule", "event": None, "at": stamp}
    elif settled(s3_client, ec2_client, subject):
        found = {"wokenBy": "check", "event": None, "at": stamp}
    elif not event["eventsConfirmed"] and (initiated := next((m for m in markers if m["event"] == INITIATED and fresh(m, event)), None)):
        found = {"wokenBy": "event", "event": INITIATED, "at": initiated["at"]}  # came before we registered
    else:
        return "waiting"
    wake(sfn_client, event["token"], found)
    return str(found["wokenBy"])


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, str]:
    outcome = wait_for_event(os.environ["WAIT_TABLE"], dynamodb, s3, ec2, sfn, event, datetime.now(UTC))
    logger.info("%s: %s", subject_of(event["subject"]), outcome)
    return {"outcome": outcome}
