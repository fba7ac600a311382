"""Validate Input: refuse a bad single-restore input before anything touches AWS.

Event:  {"execution": "arn:...:execution:...", "executionName": "3f2c...", "startTime": "2026-11-26T10:00:00Z"}: the
        function reads the execution's input itself (DescribeExecution), any JSON but an object with "recoveryPoints"
        ("Is It A Batch?" hands those to the batch state machine), so that an input near Step Functions' 256 KiB limit is
        never copied into a state. ({"input": <the input>, ...} works too, for `sam local invoke -e`.)
Result: {"recoveryPoint": "ami-0123456789abcdef0.bin", "recoveryPointBucket": "my-ami-archive",
         "restoreRequestDays": 1, "restoreRequestTier": "Standard", "requestedTier": "Standard",
         "amiName": null, "executionName": "3f2c...", "startTime": "2026-11-26T10:00:00Z"}
        (+ "startedBy": <the batch's or drill's execution ARN> when a batch or a drill started this execution: the input
        carries AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID, the field Step Functions documents for linking a child to its
        parent, and that execution is a running execution of the batch state machine, or of the drill state machine, whose
        children are named as this one. Otherwise the field is ignored: a console re-run of a batch's or a drill's child
        with the same input emails like any restore.)
Raises InvalidInputError naming every field to fix.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger()

s3 = boto3.client("s3")
sfn = boto3.client("stepfunctions")

MAX_RESTORE_DAYS = 30  # the temporary copy is billed as S3 Standard for every day it lives
TIERS = ("Standard", "Bulk", "Expedited")
FIELDS = ("recoveryPoint", "recoveryPointBucket", "restoreRequestDays", "restoreRequestTier", "amiName")
# restore_image appends "-restored-YYYYMMDD-xxxxxxxx" (27 chars) to keep names unique; AMI names are 3-128 chars.
AMI_NAME_SUFFIX_LENGTH = 27
AMI_NAME_PATTERN = re.compile(rf"[A-Za-z0-9()\[\] ./\-'@_]{{3,{128 - AMI_NAME_SUFFIX_LENGTH}}}")
BUCKET_PATTERN = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", ".mrap")
ASCII_DIGITS = re.compile(r"[0-9]+")
MAX_KEY_BYTES = 1024  # S3 object keys
# CreateStoreImageTask writes <ami-id>.bin after the path given with the bucket (EC2 User Guide, "How AMI store and
# restore works": bucket/path1/path2); an AMI id is ami- and 8 (older) or 17 hex digits.
STORED_KEY_PATTERN = re.compile(r"(?:[^/]+/)*ami-(?:[0-9a-f]{8}|[0-9a-f]{17})\.bin")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Names S3 still serves in us-east-1 from before March 1, 2018: capitals, underscores, up to 255 characters (S3 User
# Guide, "General purpose bucket naming rules", legacy names).
LEGACY_BUCKET_PATTERN = re.compile(r"[A-Za-z0-9._-]{3,255}")
MAX_PROBLEMS = 20  # problems named one by one in a refusal (the error, the state and the email stay small)

# Step Functions Developer Guide, "Start workflow executions from a task state": a parent passes its execution ID
# under this name to associate the child execution with it.
STARTED_BY = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"
EXECUTION_ARN = re.compile(r"arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:\s]{1,80}:[^:\s]{1,80}")
DEFAULT_DAYS, DEFAULT_TIER = 1, "Standard"
BATCH_FIELD = "recoveryPoints"  # instead of recoveryPoint: a batch, which Validate Batch checks
# Buckets the stack may read by tag (ArchiveBucketTag): the tag key is fixed, the template's IAM condition names it.
BUCKET_TAG_KEY = "ami-archive"


class InvalidInputError(Exception):
    """The execution input cannot be used; the message says what to fix."""


def shown(value: Any) -> str:
    """A value as the input spelled it, in JSON (null, true, "0"), cut to 100 characters."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escaped, as JSON may spell it
        text = json.dumps(value, default=str)
    # JSON escapes U+0000-U+001F only: DEL and the C1 controls are escaped too, so nothing echoed can forge a line
    text = CONTROL_CHARACTERS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text if len(text) <= 100 else f"{text[:99]}…"


def field_label(name: str) -> str:
    """A field's name as given, or in JSON when it holds what could forge a line of the email (or is long)."""
    return name if name.isprintable() and len(name) <= 100 else shown(name)


def key_problem(key: str) -> str | None:
    """Why this key is not an object CreateStoreImageTask writes (None: it is)."""
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        return f"too long: {size:,} bytes, where an S3 key has at most {MAX_KEY_BYTES:,}"
    if CONTROL_CHARACTERS.search(key):
        return f"must not contain control characters (line breaks, tabs...), got {shown(key)}"
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid UTF-8"
    if not STORED_KEY_PATTERN.fullmatch(key):
        return (
            f"{shown(key)} is not an AMI object written by CreateStoreImageTask: an optional path, then ami- and 8 or 17 "
            "hex digits, then .bin (ami-0123456789abcdef0.bin, backups/ami-0123456789abcdef0.bin)"
        )
    return None


def capped(problems: list[str]) -> list[str]:
    """At most MAX_PROBLEMS problems, then how many more."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], f"and {len(problems) - MAX_PROBLEMS:,} more problems"]


def bucket_problem(name: str) -> str | None:
    if not BUCKET_PATTERN.fullmatch(name):
        if LEGACY_BUCKET_PATTERN.fullmatch(name):
            return (
                "is a legacy name (capitals, underscores or over 63 characters, allowed in us-east-1 before March 1, 2018): "
                "S3 still serves it, path-style only; this workflow takes the names valid today, 3-63 characters of a-z, "
                "0-9, '.' and '-': copy the object into such a bucket"
            )
        return "must be 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit"
    if ".." in name:
        return "must not contain '..'"
    if name.startswith(BUCKET_PREFIXES) or name.endswith(BUCKET_SUFFIXES):
        return "uses a prefix or suffix that S3 reserves"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return None
    return "must not be formatted as an IP address"


def parse_days(value: Any) -> int | None:
    """An int, or a string of ASCII digits (str.isdigit also accepts other scripts' digits, S3 does not)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and ASCII_DIGITS.fullmatch(value) and len(value) <= 6:
        return int(value)
    return None


def allowed_buckets(allowed_bucket: str) -> list[str]:
    """ArchiveBucketName: "*" (any bucket of the account), one name, or a comma-separated list of names."""
    return [b.strip() for b in allowed_bucket.split(",") if b.strip()]


def access_problem(bucket: str, allowed_bucket: str, tag_value: str, tagged: Callable[[str], bool] | None) -> str | None:
    """Why the stack may not read this bucket, and how to allow it (None: it may)."""
    names = allowed_buckets(allowed_bucket)
    if "*" in names or bucket in names:
        return None
    if tag_value and tagged is not None and tagged(bucket):
        return None
    by_tag = f", or tag the bucket {BUCKET_TAG_KEY}={tag_value}" if tag_value else ""
    if len(names) == 1 and not tag_value:
        return f"{shown(bucket)} is not the bucket this stack may read ({names[0]}); redeploy with ArchiveBucketName set to it"
    listed = ", ".join(names) if names else "none"
    return (
        f"{shown(bucket)} is not a bucket this stack may read (ArchiveBucketName: {listed}"
        f"{f'; ArchiveBucketTag: {BUCKET_TAG_KEY}={tag_value}' if tag_value else ''}): add it to ArchiveBucketName "
        f"(comma-separated) and update the stack{by_tag}; the functions' code does not change"
    )


def field_values(
    payload: dict[str, Any], allowed_bucket: str, tag_value: str, tagged: Callable[[str], bool] | None
) -> tuple[dict[str, Any], list[str]]:
    """The fields a single restore and a batch share (all but the key), normalised, and their problems."""
    problems: list[str] = []
    bucket = payload.get("recoveryPointBucket")
    if not isinstance(bucket, str):
        problems.append(
            "recoveryPointBucket: required, the name of the bucket holding the recovery point"
            + (f", got {shown(bucket)}" if "recoveryPointBucket" in payload else "")
        )
    elif (problem := bucket_problem(bucket)) is not None:
        problems.append(f"recoveryPointBucket: {shown(bucket)} {problem}")
    elif (problem := access_problem(bucket, allowed_bucket, tag_value, tagged)) is not None:
        problems.append(f"recoveryPointBucket: {problem}")

    # A field given as null is refused like any other wrong value: left out, it takes its default.
    days = parse_days(payload.get("restoreRequestDays", DEFAULT_DAYS))
    if days is None or not 1 <= days <= MAX_RESTORE_DAYS:
        problems.append(
            f"restoreRequestDays: must be a whole number from 1 to {MAX_RESTORE_DAYS} "
            f"(number or string of digits), got {shown(payload.get('restoreRequestDays'))}"
        )

    raw_tier = payload.get("restoreRequestTier", DEFAULT_TIER)
    tier = next((t for t in TIERS if isinstance(raw_tier, str) and raw_tier.lower() == t.lower()), None)
    if tier is None:
        problems.append(f"restoreRequestTier: must be one of {', '.join(TIERS)} (any letter case), got {shown(raw_tier)}")

    ami_name = payload.get("amiName")
    if "amiName" in payload and (not isinstance(ami_name, str) or not AMI_NAME_PATTERN.fullmatch(ami_name)):
        problems.append(
            f"amiName: must be 3-{128 - AMI_NAME_SUFFIX_LENGTH} characters of letters, digits, spaces and ()[]./-'@_ "
            f"(leave it out for the original name), got {shown(ami_name)}"
        )
    values = {
        "recoveryPointBucket": bucket,
        "restoreRequestDays": days,
        "restoreRequestTier": tier,
        "requestedTier": tier,
        "amiName": ami_name,
    }
    return values, problems


def validate_input(
    payload: Any, allowed_bucket: str, tag_value: str = "", tagged: Callable[[str], bool] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Return the normalised single-restore request and the list of problems (empty when valid)."""
    if not isinstance(payload, dict):
        return {}, [
            f"the input must be a JSON object with the fields {', '.join(FIELDS)} "
            f"({BATCH_FIELD} instead of recoveryPoint for many AMIs), got {shown(payload)}"
        ]
    problems = [f"{field_label(key)}: unknown field (allowed: {', '.join(FIELDS)})" for key in payload if key not in (*FIELDS, STARTED_BY)]

    key = payload.get("recoveryPoint")
    if not isinstance(key, str) or key == "":
        problems.append(
            "recoveryPoint: required, the S3 key of the stored AMI, e.g. ami-0123456789abcdef0.bin"
            + (f", got {shown(key)}" if "recoveryPoint" in payload else "")
        )
    elif (problem := key_problem(key)) is not None:
        problems.append(f"recoveryPoint: {problem}")

    values, value_problems = field_values(payload, allowed_bucket, tag_value, tagged)
    problems += value_problems
    request = {"recoveryPoint": key, **values}
    parent = payload.get(STARTED_BY)
    if isinstance(parent, str) and EXECUTION_ARN.fullmatch(parent):
        request["startedBy"] = parent  # a claim: lambda_handler keeps it only if that execution is this one's batch or drill
    return request, problems


def bucket_has_tag(s3_client: S3Client, tag_value: str) -> Callable[[str], bool]:
    """Does the bucket carry ArchiveBucketTag (GetBucketTagging: a read, no side effect)? Unreadable tags: no."""

    known: dict[str, bool] = {}  # one read per bucket, however often it is asked

    def tagged(bucket: str) -> bool:
        if bucket not in known:
            try:
                tags = s3_client.get_bucket_tagging(Bucket=bucket)["TagSet"]
            except ClientError as error:
                logger.info("cannot read the tags of %s: %s", bucket, error.response["Error"]["Code"])
                tags = []
            known[bucket] = {"Key": BUCKET_TAG_KEY, "Value": tag_value} in tags
        return known[bucket]

    return tagged


def child_name(parent_arn: str, index: int) -> str:
    """The name a batch gives its child number `index`: the batch's name (cut to 40 characters), the index, and a hash
    of the batch's ARN, so that no other execution's name can be taken for it (at most 53 of the 80 characters)."""
    name = parent_arn.rsplit(":", 1)[1]
    return f"{name[:40]}-{index}-{hashlib.sha256(parent_arn.encode()).hexdigest()[:8]}"


# The name a drill gives its child number `index` (a copy of functions/choose_archives'): "drill-", the drill's name
# (cut to 40 characters), the index and a hash of the drill's ARN.
def drill_child_name(drill_arn: str, index: int) -> str:
    name = drill_arn.rsplit(":", 1)[1]
    return f"drill-{name[:40]}-{index}-{hashlib.sha256(drill_arn.encode()).hexdigest()[:8]}"


def is_child_of(
    sfn_client: SFNClient, parent_arn: str, execution_name: str, batch_state_machine_arn: str, drill_state_machine_arn: str = ""
) -> bool:
    """Facts, not the claim: is `parent_arn` a running execution of the batch state machine (or of the drill state
    machine), and this execution named as that batch (or drill) names its children?"""
    try:
        parent = sfn_client.describe_execution(executionArn=parent_arn)
    except ClientError as error:
        logger.info("the execution named as this one's parent cannot be read: %s", error.response["Error"]["Code"])
        return False
    named = re.fullmatch(r"(.*)-(\d{1,3})-([0-9a-f]{8})", execution_name)
    if parent["status"] != "RUNNING" or not named:
        return False
    index = int(named.group(2))
    if parent["stateMachineArn"] == batch_state_machine_arn:
        return execution_name == child_name(parent_arn, index)
    if drill_state_machine_arn and parent["stateMachineArn"] == drill_state_machine_arn:
        return execution_name == drill_child_name(parent_arn, index)
    return False


def read_input(sfn_client: SFNClient, execution_arn: str) -> Any:
    """The execution's own input, as Step Functions keeps it (always JSON: StartExecution refuses anything else)."""
    return json.loads(sfn_client.describe_execution(executionArn=execution_arn)["input"])


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    tag_value = os.environ.get("ALLOWED_BUCKET_TAG", "")
    tagged = bucket_has_tag(s3, tag_value) if tag_value else None
    payload = read_input(sfn, event["execution"]) if "execution" in event else event.get("input")
    request, problems = validate_input(payload, os.environ.get("ALLOWED_BUCKET", "*"), tag_value, tagged)
    if problems:
        logger.info("refused input: %s", problems)
        raise InvalidInputError("; ".join(capped(problems)))
    claimed = request.pop("startedBy", None)
    if claimed and is_child_of(
        sfn, claimed, event["executionName"], os.environ["BATCH_STATE_MACHINE_ARN"], os.environ.get("DRILL_STATE_MACHINE_ARN", "")
    ):
        request["startedBy"] = claimed
    elif claimed:
        logger.info("%s is not a child of %s: it emails like any restore", event["executionName"], claimed)
    return {**request, "executionName": event["executionName"], "startTime": event["startTime"]}
