"""Report Ended Execution: when an execution of the stack ends FAILED, TIMED_OUT or ABORTED without having emailed its
outcome, email what it left in AWS, read from AWS; a batch's and a drill's children stay silent (the batch's summary
names them; the drill's report, and its sweep, say what became of them).

Invoked asynchronously by ExecutionEndedRule (Step Functions' "Step Functions Execution Status Change" event of either
state machine). Event: the EventBridge event (detail: executionArn, stateMachineArn, name, status, input, error, cause,
startDate, stopDate). Result (for the log): {"execution", "reported": true | false, "why"}.

Whom it reports, from facts:
- An execution of the restore state machine that a running-or-ended batch started (its input names the batch, the batch
  is an execution of the batch state machine, and this execution is named as that batch names its children): nobody,
  the batch's summary is the message (a batch's failed children never fan out one message each).
- An execution of the restore state machine that a drill started, checked the same way against the drill state machine
  and the name a drill gives its children ("drill-" first): nobody, the drill's report (or, for a drill stopped by hand,
  its sweep) is the message.
- An execution that handed a batch over (its history holds "Restore As A Batch"): nobody, the batch reports.
- An execution whose workflow emailed (its history holds a notification that SNS accepted: a result with a messageId):
  nobody, unless it was stopped or timed out after that.
- Anyone else: one email (and the same message in FailedExecutionQueue, which does not depend on SNS) naming what it
  left: for a single restore, every AMI carrying its execution tag (pending or available, with the command that
  deregisters it and its snapshots) and the object's restored copy or restore in progress; for a batch, every child it
  started (read from the restore state machine's executions, each checked to name this batch), with its AMI or what
  it left, and the AMIs it never started.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from email.utils import parsedate_to_datetime
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

_config = Config(retries={"mode": "standard", "max_attempts": 5})
sns = boto3.client("sns", config=_config)
sqs = boto3.client("sqs", config=_config)
sfn = boto3.client("stepfunctions", config=_config)
ec2 = boto3.client("ec2", config=_config)
s3 = boto3.client("s3", config=_config)

REPORTED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
STARTED_BY = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"
TAG_PREFIX = "glacier-ami-restore:"
ARCHIVED_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
# S3 Standard in us-east-1, first 50 TB: $0.023 per GB-month (a restored copy is billed as S3 Standard); an estimate.
STANDARD_USD_PER_GB_MONTH = 0.023
SNS_MESSAGE_BYTES = 256 * 1024  # SNS's largest message
SQS_MESSAGE_BYTES = 256 * 1024  # SQS's largest message
SHOWN_ITEMS = 200  # AMIs listed one by one in a batch's report; the rest are counted
NOTHING_LEFT = (
    "Nothing this execution made is in AWS now: no AMI carries its tag, and the object has no restored copy or restore in progress."
)


def child_name(parent_arn: str, index: int) -> str:
    """The name a batch gives its child number `index`: the batch's name (cut to 40 characters), the index, and a hash
    of the batch's ARN, so that no other execution's name can be taken for it (at most 53 of the 80 characters)."""
    name = parent_arn.rsplit(":", 1)[1]
    return f"{name[:40]}-{index}-{hashlib.sha256(parent_arn.encode()).hexdigest()[:8]}"


def sns_subject(text: str) -> str:
    """SNS subjects: at most 100 printable ASCII characters, no line breaks."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:100]


def human_size(size_bytes: int) -> str:
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:,.1f} {unit}"
    return f"{size_bytes:,} bytes"


def usd_per_day(size_bytes: int) -> str:
    cost = size_bytes / 10**9 * STANDARD_USD_PER_GB_MONTH / 30
    return f"${cost:,.2f}" if cost >= 1 else f"${cost:.2g}"


def copy_cost(size_bytes: int) -> str:
    return (
        f"about {usd_per_day(size_bytes)} per day (estimate: {human_size(size_bytes)} at S3 Standard's "
        f"${STANDARD_USD_PER_GB_MONTH} per GB-month)"
    )


def console_url(region: str, execution_arn: str) -> str:
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"


def history(sfn_client: SFNClient, execution_arn: str) -> list[dict[str, Any]]:
    """The execution's history, newest first."""
    events: list[dict[str, Any]] = []
    for page in sfn_client.get_paginator("get_execution_history").paginate(executionArn=execution_arn, reverseOrder=True):
        events += [dict(event) for event in page["events"]]
    return events


def results(events: list[dict[str, Any]]) -> list[Any]:
    """What the execution's Lambda tasks returned (parsed), newest first."""
    found = []
    for event in events:
        output = event.get("lambdaFunctionSucceededEventDetails", {}).get("output")
        if output:
            try:
                found.append(json.loads(output))
            except ValueError:
                continue
    return found


def entered(events: list[dict[str, Any]]) -> set[str]:
    return {e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e}


def emailed(events: list[dict[str, Any]]) -> bool:
    """Did the workflow's own notification go out? A fact: SNS gave its message an id."""
    return any(isinstance(r, dict) and r.get("messageId") for r in results(events))


def batch_of(sfn_client: SFNClient, detail: dict[str, Any], batch_state_machine_arn: str, drill_state_machine_arn: str = "") -> str | None:
    """The batch (or drill) that started this execution, checked: an execution of the batch (or drill) state machine,
    whose child this execution's name is. None for any other execution (a console re-run of a child reports like any
    restore)."""
    try:
        given = json.loads(detail.get("input") or "null")
    except ValueError:
        return None
    parent = given.get(STARTED_BY) if isinstance(given, dict) else None
    if not isinstance(parent, str):
        return None
    try:
        found = sfn_client.describe_execution(executionArn=parent)
    except ClientError:
        return None
    named = re.fullmatch(r"(.*)-(\d{1,3})-([0-9a-f]{8})", detail["name"])
    if not named:
        return None
    if found["stateMachineArn"] == batch_state_machine_arn and detail["name"] == child_name(parent, int(named.group(2))):
        return parent
    drill = bool(drill_state_machine_arn) and found["stateMachineArn"] == drill_state_machine_arn
    if drill and detail["name"] == f"drill-{child_name(parent, int(named.group(2)))}":
        return parent
    return None


def images_of(ec2_client: EC2Client, execution_arn: str) -> list[dict[str, Any]]:
    """The AMIs an execution made: they carry its tag (Restore Image tags every AMI and snapshot it creates)."""
    found = ec2_client.describe_images(Owners=["self"], Filters=[{"Name": f"tag:{TAG_PREFIX}execution", "Values": [execution_arn]}])
    return [dict(image) for image in found["Images"]]


def deregister_command(region: str, image_id: str) -> str:
    return f"aws ec2 deregister-image --region {region} --image-id {image_id} --delete-associated-snapshots"


def image_lines(images: list[dict[str, Any]], region: str) -> list[str]:
    lines = []
    for image in images:
        command, named = deregister_command(region, image["ImageId"]), f"AMI {image['ImageId']} ({image.get('Name', '')})"
        if image["State"] == "available":
            lines.append(f"{named} is available: it was restored; keep it or run {command}")
        else:
            lines.append(f"{named}, {image['State']}: if you do not keep it, run {command}")
    return lines


def copy_line(s3_client: S3Client, bucket: str, key: str) -> str | None:
    """The object's restored copy or restore in progress, as S3 reports it now (None: neither). Raises ClientError
    when S3 cannot tell (the caller says it could not look)."""
    head = s3_client.head_object(Bucket=bucket, Key=key)
    restore = head.get("Restore", "")
    if head.get("StorageClass", "STANDARD") not in ARCHIVED_CLASSES or not restore:
        return None
    if 'ongoing-request="true"' in restore:
        return f"S3 is restoring a copy of s3://{bucket}/{key}: when it is done, it lives the restore's Days at S3 Standard's price."
    expiry = restore.split('expiry-date="', 1)[1].split('"', 1)[0] if "expiry-date=" in restore else None
    size = int(head.get("ContentLength", 0))
    until = f"{parsedate_to_datetime(expiry):%Y-%m-%dT%H:%M:%SZ}" if expiry else "its expiry"
    return f"A restored copy of s3://{bucket}/{key} exists until {until}: {copy_cost(size)}."


def copy_or_why(s3_client: S3Client, bucket: str, key: str) -> str | None:
    """copy_line, or why S3 could not tell (so that no report says "nothing left" without having looked)."""
    try:
        return copy_line(s3_client, bucket, key)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
            return None  # no such object: S3 restores nothing of it
        return f"Could not look at s3://{bucket}/{key} ({code}): aws s3api head-object --bucket {bucket} --key {key}"


def single_report(
    sfn_client: SFNClient, ec2_client: EC2Client, s3_client: S3Client, detail: dict[str, Any], region: str
) -> tuple[str, str]:
    arn, status = detail["executionArn"], detail["status"]
    try:
        given = json.loads(detail.get("input") or "null")
    except ValueError:
        given = None
    left = image_lines(images_of(ec2_client, arn), region)
    where = None
    if isinstance(given, dict) and isinstance(given.get("recoveryPoint"), str) and isinstance(given.get("recoveryPointBucket"), str):
        where = f"s3://{given['recoveryPointBucket']}/{given['recoveryPoint']}"
        try:
            copy = copy_or_why(s3_client, given["recoveryPointBucket"], given["recoveryPoint"])
        except ValueError:  # not a valid bucket or key: S3 never had it
            copy = None
        if copy:
            left.append(copy)
    why = f" with {detail['error']}" if detail.get("error") else ""
    subject = f"AMI restore ended {status}: {detail['name']}"
    lines = [
        f"The AMI restore execution {detail['name']} ended {status}{why}, without its own email.",
        *([f"  {detail['cause'][:1000]}"] if detail.get("cause") else []),
        "",
        f"Recovery point: {where}" if where else "Recovery point: (the input names none)",
        "",
        *(["Left in place (read from AWS now):", *(f"- {line}" for line in left)] if left else [NOTHING_LEFT]),
        "",
        "What to do: start a new execution with the same input if you still need the AMI (it reuses a restored copy).",
        "",
        f"Execution: {arn}",
        f"Console:   {console_url(region, arn)}",
    ]  # fmt: skip
    return sns_subject(subject), "\n".join(lines)


def children(sfn_client: SFNClient, restore_state_machine_arn: str, batch_arn: str) -> list[dict[str, Any]]:
    """Every execution the batch started: named as it names its children, and whose input names it (DescribeExecution)."""
    name = batch_arn.rsplit(":", 1)[1]
    pattern = re.compile(rf"{re.escape(name[:40])}-(\d{{1,3}})-{hashlib.sha256(batch_arn.encode()).hexdigest()[:8]}")
    found = []
    for page in sfn_client.get_paginator("list_executions").paginate(stateMachineArn=restore_state_machine_arn):
        for execution in page["executions"]:
            named = pattern.fullmatch(execution["name"])
            if not named:
                continue
            described = sfn_client.describe_execution(executionArn=execution["executionArn"])
            if json.loads(described["input"]).get(STARTED_BY) == batch_arn:
                found.append({**described, "index": int(named.group(1))})
    return sorted(found, key=lambda child: child["index"])


def batch_subject(status: str, restored: int, total: int | None, name: str) -> str:
    """'2 of 3 AMIs restored', '1 of 1 AMI restored'; without the plan (the batch ended before it), the AMIs made."""
    amis = f"AMI{'' if (restored if total is None else total) == 1 else 's'}"
    counted = f"{restored} {amis}" if total is None else f"{restored} of {total} {amis}"
    return f"AMI batch restore ended {status}: {counted} restored ({name})"


def batch_report(
    clients: dict[str, Any],
    restore_state_machine_arn: str,
    detail: dict[str, Any],
    events: list[dict[str, Any]],
    region: str,
) -> tuple[str, str]:
    sfn_client, ec2_client, s3_client = clients["sfn"], clients["ec2"], clients["s3"]
    arn, status = detail["executionArn"], detail["status"]
    planned = next((r for r in results(events) if isinstance(r, dict) and "plan" in r and "items" in r), None)
    total = planned["plan"]["amis"] if planned else None
    started = children(sfn_client, restore_state_machine_arn, arn)
    restored, stopped = [], []
    for child in started:
        source = json.loads(child["input"])
        where = f"s3://{source['recoveryPointBucket']}/{source['recoveryPoint']}"
        if child["status"] == "SUCCEEDED":
            output = json.loads(child.get("output") or "{}")
            restored.append(f"{output.get('imageId')} ({output.get('imageName')}) from {where}")
            continue
        left = image_lines(images_of(ec2_client, child["executionArn"]), region)
        state = child["status"] + (f" {child['error']}" if child.get("error") else "")
        stopped.append(f"{where}: {state}" + ("; " + "; ".join(left) if left else "; no AMI of it is left"))
    # The AMIs the batch never started (their turn never came), and the copies its up-front restores leave
    ran = {child["index"] for child in started}
    never = [item["input"] for item in (planned or {}).get("items", []) if item["index"] not in ran]
    never_lines = []
    for n, item in enumerate(never):
        where = f"s3://{item['recoveryPointBucket']}/{item['recoveryPoint']}"
        copy = copy_or_why(s3_client, item["recoveryPointBucket"], item["recoveryPoint"]) if n < SHOWN_ITEMS else None
        never_lines.append(f"{where}" + (f": {copy}" if copy else ""))
    missing = (planned or {}).get("notFound", [])
    why = f" with {detail['error']}" if detail.get("error") else ""
    subject = batch_subject(status, len(restored), total, detail["name"])
    lines = [
        f"The batch restore {detail['name']} ended {status}{why}, before its summary email.",
        "What its child executions did, read from AWS now:",
        "",
        f"Restored ({len(restored)}):" if restored else "Restored: none.",
        *(f"- {line}" for line in restored[:SHOWN_ITEMS]),
        *([f"- ... and {len(restored) - SHOWN_ITEMS} more"] if len(restored) > SHOWN_ITEMS else []),
    ]
    if stopped:
        lines += ["", f"Not restored ({len(stopped)}): stopped with the batch, or failed:"]
        lines += [f"- {line}" for line in stopped[:SHOWN_ITEMS]]
    if never:
        lines += [
            "",
            f"Never started ({len(never)}): the batch ended before their turn; restore them in a new batch:",
            *(f"- {line}" for line in never_lines[:SHOWN_ITEMS]),
            *([f"- ... and {len(never) - SHOWN_ITEMS} more"] if len(never) > SHOWN_ITEMS else []),
        ]
    if missing:
        lines += ["", f"Not found ({len(missing)}): no such object in the bucket:",
                  *(f"- s3://{m['recoveryPointBucket']}/{m['recoveryPoint']}" for m in missing[:SHOWN_ITEMS])]  # fmt: skip
    if total is None:
        lines += ["", "The batch ended before it planned its AMIs: none was started."]
    lines += ["", f"Execution: {arn}", f"Console:   {console_url(region, arn)}"]
    return sns_subject(subject), "\n".join(lines)


def deliver(
    sns_client: SNSClient, sqs_client: SQSClient, topic_arn: str, queue_url: str, subject: str, message: str, execution: str
) -> None:
    """The same message to the queue (kept 14 days, whatever SNS does) and to the topic (the email)."""
    body = json.dumps({"subject": subject, "message": message, "execution": execution})
    sqs_client.send_message(QueueUrl=queue_url, MessageBody=body.encode()[:SQS_MESSAGE_BYTES].decode(errors="ignore"))
    sns_client.publish(TopicArn=topic_arn, Subject=subject, Message=message.encode()[:SNS_MESSAGE_BYTES].decode(errors="ignore"))


def report_ended_execution(clients: dict[str, Any], environment: dict[str, str], event: dict[str, Any]) -> dict[str, Any]:
    detail = event["detail"]
    arn, status, machine = detail["executionArn"], detail["status"], detail["stateMachineArn"]
    region = arn.split(":")[3]
    outcome = {"execution": arn, "reported": False}
    if status not in REPORTED_STATUSES:
        return {**outcome, "why": f"ended {status}"}
    parents = (environment["BATCH_STATE_MACHINE_ARN"], environment.get("DRILL_STATE_MACHINE_ARN", ""))
    if machine == environment["RESTORE_STATE_MACHINE_ARN"] and (batch := batch_of(clients["sfn"], detail, *parents)):
        if batch.startswith(parents[0].replace(":stateMachine:", ":execution:", 1) + ":"):
            return {**outcome, "why": f"a child of {batch}: the batch's summary names it"}
        return {**outcome, "why": f"a child of drill {batch}: the drill's report names it"}
    events = history(clients["sfn"], arn)
    if "Restore As A Batch" in entered(events):
        return {**outcome, "why": "it handed a batch over: the batch reports"}
    if status == "FAILED" and emailed(events):
        return {**outcome, "why": "the workflow emailed its failure"}
    if machine == environment["BATCH_STATE_MACHINE_ARN"]:
        subject, message = batch_report(clients, environment["RESTORE_STATE_MACHINE_ARN"], detail, events, region)
    else:
        subject, message = single_report(clients["sfn"], clients["ec2"], clients["s3"], detail, region)
    deliver(clients["sns"], clients["sqs"], environment["TOPIC_ARN"], environment["FAILED_EXECUTION_QUEUE_URL"], subject, message, arn)
    logger.info("reported %s: %s", arn, subject)
    return {**outcome, "reported": True, "why": subject}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    clients = {"sns": sns, "sqs": sqs, "sfn": sfn, "ec2": ec2, "s3": s3}
    names = ("TOPIC_ARN", "FAILED_EXECUTION_QUEUE_URL", "RESTORE_STATE_MACHINE_ARN", "BATCH_STATE_MACHINE_ARN")
    environment = {name: os.environ[name] for name in names}
    return report_ended_execution(clients, {**environment, "DRILL_STATE_MACHINE_ARN": os.environ.get("DRILL_STATE_MACHINE_ARN", "")}, event)
