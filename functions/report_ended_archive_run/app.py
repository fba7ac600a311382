"""Report Ended Archive Run: when an archive run ends FAILED, TIMED_OUT or ABORTED without its summary email, email what
became of each recovery point it selected, read from AWS now (the archive side's Report Ended Execution).

Invoked asynchronously by ArchiveRunEndedRule (Step Functions' "Step Functions Execution Status Change" event of
ArchiveStateMachine). Event: the EventBridge event (detail: executionArn, stateMachineArn, name, status, input, error,
cause, startDate, stopDate). Result (for the log): {"execution", "reported": true | false, "why"}.

Whom it reports, from facts: a run whose Notify Archive Summary returned (the handler returns only once SNS accepted
its message) and that then ended FAILED has emailed: nobody. Anyone else (stopped, timed out, or failed before its
summary): one email, and the same message in FailedExecutionQueue (which does not depend on SNS). For each recovery point
Select Recovery Points chose (its result in the run's history), what AWS says now: tagged archived (and the recovery
point kept, deleting, expired or gone), or the AMI's latest store task into the bucket (in progress: EC2 goes on; the
object stored; failed, with EC2's reason), or nothing stored. The next run joins a store task in progress, verifies a
stored object and tags it: nothing is stored twice.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger()
BackupClient = Any  # no type stubs for AWS Backup are installed

_config = Config(retries={"mode": "standard", "max_attempts": 5})
backup = boto3.client("backup", config=_config)
ec2 = boto3.client("ec2", config=_config)
s3 = boto3.client("s3", config=_config)
sfn = boto3.client("stepfunctions", config=_config)
sns = boto3.client("sns", config=_config)
sqs = boto3.client("sqs", config=_config)

REPORTED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
ARCHIVED_TAG = "glacier-ami-restore:archived-to"
SELECT_STATE = "Select Recovery Points"
SUMMARY_STATE = "Notify Archive Summary"
SNS_MESSAGE_BYTES = 256 * 1024  # SNS's largest message
SQS_MESSAGE_BYTES = 256 * 1024  # SQS's largest message
LISTED_POINTS = 100  # a run stores at most 100 points (Select Recovery Points): every one is listed


def sns_subject(text: str) -> str:
    """SNS subjects: at most 100 printable ASCII characters, no line breaks."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:100]


def console_url(region: str, execution_arn: str) -> str:
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"


def history(sfn_client: SFNClient, execution_arn: str) -> list[dict[str, Any]]:
    """The execution's history, newest first."""
    events: list[dict[str, Any]] = []
    for page in sfn_client.get_paginator("get_execution_history").paginate(executionArn=execution_arn, reverseOrder=True):
        events += [dict(event) for event in page["events"]]
    return events


def task_results(events: list[dict[str, Any]], state: str) -> list[Any]:
    """What the Lambda tasks of `state` returned (parsed), oldest first: from a history read newest first."""
    found, current = [], None
    for event in reversed(events):
        if "stateEnteredEventDetails" in event:
            current = event["stateEnteredEventDetails"]["name"]
        output = event.get("lambdaFunctionSucceededEventDetails", {}).get("output")
        if current == state and output:
            found.append(json.loads(output))
    return found


def tagged_to(backup_client: BackupClient, ec2_client: EC2Client, item: dict[str, Any]) -> str | None:
    """Where the recovery point is tagged archived to (on the point, or on its AMI where AWS Backup refused the tag)."""
    try:
        tags = backup_client.list_tags(ResourceArn=item["recoveryPointArn"])["Tags"]
    except ClientError as error:
        logger.info("ListTags refused %s: %s", item["recoveryPointArn"], error.response["Error"]["Code"])
        tags = {}
    if ARCHIVED_TAG in tags:
        return str(tags[ARCHIVED_TAG])
    try:
        images = ec2_client.describe_images(ImageIds=[item["imageId"]])["Images"]
    except ClientError as error:
        if not error.response["Error"]["Code"].startswith("InvalidAMIID"):
            raise
        images = []  # deregistered
    image_tags = {t["Key"]: t["Value"] for image in images for t in image.get("Tags", [])}
    return image_tags.get(ARCHIVED_TAG)


def point_status(backup_client: BackupClient, item: dict[str, Any]) -> str:
    try:
        found = backup_client.describe_recovery_point(BackupVaultName=item["vault"], RecoveryPointArn=item["recoveryPointArn"])
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return "deleted"
        raise
    return f"kept ({found.get('Status')})" if found.get("Status") == "COMPLETED" else str(found.get("Status"))


def store_fact(ec2_client: EC2Client, s3_client: S3Client, item: dict[str, Any]) -> str:
    """The AMI's latest store task into the bucket (DescribeStoreImageTasks with ImageIds answers only that one), or
    whether the object is there (a task older than EC2's 31 days is not listed)."""
    found = ec2_client.describe_store_image_tasks(ImageIds=[item["imageId"]])["StoreImageTaskResults"]
    where = f"s3://{item['bucket']}/{item['key']}"
    if found and found[0]["Bucket"] == item["bucket"]:
        task = found[0]
        if task["StoreTaskState"] == "InProgress":
            return f"EC2's store task into {where} is in progress ({task.get('ProgressPercentage', 0)} %): the next run joins it"
        if task["StoreTaskState"] == "Failed":
            return f"EC2's store task into {where} failed: {task.get('StoreTaskFailureReason') or 'no reason given'}"
    if not object_stored(s3_client, item):
        return f"nothing is stored in {where}"
    return f"stored as {where}, not yet verified nor tagged: the next run verifies and tags it"


def object_stored(s3_client: S3Client, item: dict[str, Any]) -> bool:
    try:
        s3_client.head_object(Bucket=item["bucket"], Key=item["key"])
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound", "403"):
            raise
        return False
    return True


def point_line(clients: dict[str, Any], item: dict[str, Any]) -> str:
    named, where = f"{item['recoveryPointArn']} ({item['imageId']})", f"s3://{item['bucket']}/{item['key']}"
    status = point_status(clients["backup"], item)
    if status == "deleted":  # the run deletes a point only after its archive was verified and tagged
        stored = f"its archive {where} is there" if object_stored(clients["s3"], item) else f"nothing is stored in {where}"
        return f"{named}: the recovery point is deleted; {stored}"
    archived = tagged_to(clients["backup"], clients["ec2"], item)
    if archived is not None:
        return f"{named}: archived to {archived} and tagged; the recovery point is {status}"
    return f"{named}: {store_fact(clients['ec2'], clients['s3'], item)}"


def deliver(
    sns_client: SNSClient, sqs_client: SQSClient, topic_arn: str, queue_url: str, subject: str, message: str, execution: str
) -> None:
    """The same message to the queue (kept 14 days, whatever SNS does) and to the topic (the email)."""
    body = json.dumps({"subject": subject, "message": message, "execution": execution})
    sqs_client.send_message(QueueUrl=queue_url, MessageBody=body.encode()[:SQS_MESSAGE_BYTES].decode(errors="ignore"))
    sns_client.publish(TopicArn=topic_arn, Subject=subject, Message=message.encode()[:SNS_MESSAGE_BYTES].decode(errors="ignore"))


def report_ended_archive_run(clients: dict[str, Any], environment: dict[str, str], event: dict[str, Any]) -> dict[str, Any]:
    detail = event["detail"]
    arn, status = detail["executionArn"], detail["status"]
    region = arn.split(":")[3]
    outcome = {"execution": arn, "reported": False}
    if status not in REPORTED_STATUSES:
        return {**outcome, "why": f"ended {status}"}
    events = history(clients["sfn"], arn)
    if status == "FAILED" and task_results(events, SUMMARY_STATE):
        return {**outcome, "why": "the run emailed its summary"}
    selected = next(iter(task_results(events, SELECT_STATE)), None)
    items = selected.get("items", []) if isinstance(selected, dict) else []
    why = f" with {detail['error']}" if detail.get("error") else ""
    lines = [f"The archive run {detail['name']} ended {status}{why}, without its summary email.",
             *([f"  {detail['cause'][:1000]}"] if detail.get("cause") else []), ""]  # fmt: skip
    if selected is None:
        lines.append("It ended before it selected any recovery point: nothing was stored.")
    else:
        lines += [f"The recovery points it selected ({len(items)}), as AWS reports them now:",
                  *(f"- {point_line(clients, item)}" for item in items[:LISTED_POINTS])]  # fmt: skip
        if not items:
            lines.append("- none")
    lines += ["", "What to do: nothing is stored twice; the next run (daily, or start one) joins a store task in progress, "
              "verifies what was stored and tags it, and stores the rest.", "", f"Execution: {arn}",
              f"Console:   {console_url(region, arn)}"]  # fmt: skip
    subject, message = sns_subject(f"AMI archive run ended {status}: {detail['name']}"), "\n".join(lines)
    deliver(clients["sns"], clients["sqs"], environment["TOPIC_ARN"], environment["FAILED_EXECUTION_QUEUE_URL"], subject, message, arn)
    logger.info("reported %s: %s", arn, subject)
    return {**outcome, "reported": True, "why": subject}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    clients = {"backup": backup, "ec2": ec2, "s3": s3, "sfn": sfn, "sns": sns, "sqs": sqs}
    names = ("TOPIC_ARN", "FAILED_EXECUTION_QUEUE_URL")
    return report_ended_archive_run(clients, {name: os.environ[name] for name in names}, event)
