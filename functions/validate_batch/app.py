"""Validate Batch: refuse a bad batch input (many AMIs: "recoveryPoints" instead of "recoveryPoint") before anything
touches AWS.

Event:  {"execution": "arn:...:execution:<batch state machine>:nightly-dr", "executionName": "nightly-dr",
         "startTime": "2026-11-26T10:00:00Z"}. The function reads the batch itself (DescribeExecution): this execution's
         input, or, when that input is only {"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": <arn>} (the single-restore
         state machine handed the batch over), the input of that execution of the single-restore state machine. A batch
         near Step Functions' 256 KiB input limit is so never copied into a state. ({"input": <the batch>, ...} works
         too, for `sam local invoke -e`.)
Result: {"batch": true, "recoveryPointBucket": "my-ami-archive", "restoreRequestDays": 1, "restoreRequestTier": "Standard",
         "requestedTier": "Standard", "amiName": null, "recoveryPoints": [<one execution input per AMI: recoveryPoint,
         recoveryPointBucket and only the fields that differ from the single restore's defaults>], "selector": null,
         "executionName": ..., "startTime": ...}
        or, for a selector, "recoveryPoints": null and "selector": {"amiName": "web-*", "archivedBefore": "2025-03-01",
        "newestOnly": true} (Resolve Selection turns it into the list).
Raises InvalidInputError naming every field to fix, every bad item by its position and key, or a batch whose states
would pass Step Functions' 256 KiB (each AMI adds its child's name and wait to the state: about STATE_BYTES_PER_AMI).

The shared values (recoveryPointBucket, restoreRequestDays, restoreRequestTier, amiName) follow Validate Input's rules,
and each item is validated as the single-restore input its child execution will receive: this file carries copies of
Validate Input's rules (it ships inline, on its own), and tests/static/test_shared_values.py checks they are the same.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
from collections.abc import Callable
from datetime import date, datetime
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
BATCH_FIELD = "recoveryPoints"
BATCH_FIELDS = ("recoveryPoints", "recoveryPointBucket", "restoreRequestDays", "restoreRequestTier", "amiName")
MAX_BATCH_ITEMS = 1000
SELECTOR_FIELDS = ("amiName", "archivedBefore", "newestOnly")
NAME_GLOB = re.compile(r"[A-Za-z0-9()\[\] ./\-'@_*?]{1,128}")
# Buckets the stack may read by tag (ArchiveBucketTag): the tag key is fixed, the template's IAM condition names it.
BUCKET_TAG_KEY = "ami-archive"
# Step Functions Developer Guide, service quotas: a state's input or output is at most 256 KiB. The batch's largest state
# is Plan Batch's output: the items as given, each with its child's name and copy wait (about 250 bytes) and the plan.
STATE_LIMIT_BYTES = 256 * 1024
STATE_BYTES_PER_AMI = 250
STATE_MARGIN_BYTES = 8 * 1024


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
        request["startedBy"] = parent  # a claim: lambda_handler keeps it only if that execution is this one's batch
    return request, problems


def child_input(item: dict[str, Any]) -> dict[str, Any]:
    """The single-restore input for one batch item: only the fields that differ from Validate Input's defaults."""
    payload = {"recoveryPoint": item["recoveryPoint"], "recoveryPointBucket": item["recoveryPointBucket"]}
    if item["restoreRequestDays"] != DEFAULT_DAYS:
        payload["restoreRequestDays"] = item["restoreRequestDays"]
    if item["restoreRequestTier"] != DEFAULT_TIER:
        payload["restoreRequestTier"] = item["restoreRequestTier"]
    if item["amiName"] is not None:
        payload["amiName"] = item["amiName"]
    return payload


def parse_date(value: str) -> datetime | None:
    """YYYY-MM-DD (midnight UTC) or an ISO 8601 time with its offset."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.fromisoformat(f"{date.fromisoformat(value).isoformat()}T00:00:00+00:00")
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def selector_problems(selector: dict[str, Any]) -> list[str]:
    found = [
        f"recoveryPoints.{key}: unknown selector field (allowed: {', '.join(SELECTOR_FIELDS)})"
        for key in selector
        if key not in SELECTOR_FIELDS
    ]
    name = selector.get("amiName")
    if not isinstance(name, str) or not NAME_GLOB.fullmatch(name):
        found.append(
            "recoveryPoints.amiName: required, the original AMI name to match (1-128 characters; * and ? match any "
            f"characters), got {shown(name)}"
        )
    before = selector.get("archivedBefore")
    if before is not None and (not isinstance(before, str) or parse_date(before) is None):
        found.append(f"recoveryPoints.archivedBefore: must be a date (YYYY-MM-DD) or an ISO 8601 time with its offset, got {shown(before)}")
    newest = selector.get("newestOnly", True)
    if not isinstance(newest, bool):
        found.append(f"recoveryPoints.newestOnly: must be true or false, got {shown(newest)}")
    return found


def validate_batch(
    payload: Any, allowed_bucket: str, tag_value: str = "", tagged: Callable[[str], bool] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Return the normalised batch request and the list of problems (empty when valid)."""
    if not isinstance(payload, dict):
        return {}, [f"the input must be a JSON object with the fields {', '.join(BATCH_FIELDS)}, got {shown(payload)}"]
    problems = [
        f"{field_label(key)}: unknown field in a batch (allowed: {', '.join(BATCH_FIELDS)})" for key in payload if key not in BATCH_FIELDS
    ]
    if "recoveryPoint" in payload:
        problems = [
            f"recoveryPoint and {BATCH_FIELD}: give one or the other (one AMI, or a list or selector of AMIs)",
            *[p for p in problems if not p.startswith("recoveryPoint:")],
        ]
    # The values every item shares, checked once (an item may override them).
    shared_values, shared_problems = field_values(payload, allowed_bucket, tag_value, tagged)
    problems += shared_problems
    request: dict[str, Any] = {"batch": True, **shared_values, "recoveryPoints": None, "selector": None}
    points = payload.get(BATCH_FIELD)
    if isinstance(points, dict):
        problems += selector_problems(points)
        request["selector"] = {
            "amiName": points.get("amiName"),
            "archivedBefore": points.get("archivedBefore"),
            "newestOnly": points.get("newestOnly", True),
        }
        return request, problems
    if not isinstance(points, list) or not 1 <= len(points) <= MAX_BATCH_ITEMS:
        problems.append(
            f"{BATCH_FIELD}: must be a list of 1 to {MAX_BATCH_ITEMS:,} object keys (or objects with recoveryPoint and "
            'overrides), or a selector such as {"amiName": "web-*", "newestOnly": true}'
        )
        return request, problems
    if shared_problems:
        return request, problems  # every item would repeat the shared problem
    items: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    given = {k: payload[k] for k in FIELDS if k in payload and k != "recoveryPoint"}  # as given: each item is validated whole
    for index, point in enumerate(points):
        if isinstance(point, str):
            item_payload = {**given, "recoveryPoint": point}
        elif isinstance(point, dict):
            item_payload = {**given, **point}
        else:
            problems.append(f"{BATCH_FIELD}[{index}]: must be an object key or an object with recoveryPoint, got {shown(point)}")
            continue
        label = f"{BATCH_FIELD}[{index}]" + (
            f" ({item_payload['recoveryPoint']})" if isinstance(item_payload.get("recoveryPoint"), str) else ""
        )
        item, item_problems = validate_input(item_payload, allowed_bucket, tag_value, tagged)
        if isinstance(point, dict) and STARTED_BY in point:
            item_problems.append(f"{STARTED_BY}: not allowed in a batch item")
        problems += [f"{label}: {p}" for p in item_problems]
        if item_problems:
            continue
        where = (item["recoveryPointBucket"], item["recoveryPoint"])
        if where in seen:
            problems.append(f"{label}: listed twice (also at {BATCH_FIELD}[{seen[where]}]): each AMI is restored once")
            continue
        seen[where] = index
        items.append(child_input(item))
    request["recoveryPoints"] = items
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


def state_problem(request: dict[str, Any]) -> str | None:
    """Would the batch's largest state pass 256 KiB? (None: it fits.)"""
    items = request.get("recoveryPoints") or []
    projected = len(json.dumps(request, separators=(",", ":")).encode()) + STATE_BYTES_PER_AMI * len(items)
    if projected + STATE_MARGIN_BYTES <= STATE_LIMIT_BYTES:
        return None
    fits = max(1, len(items) * (STATE_LIMIT_BYTES - STATE_MARGIN_BYTES) // projected)
    return (
        f"{BATCH_FIELD}: {len(items):,} AMIs with these keys would make a state of about {projected / 1024:,.0f} KiB, over the "
        f"{STATE_LIMIT_BYTES // 1024} KiB Step Functions allows: split the batch into batches of at most {fits:,} AMIs"
    )


def read_batch(sfn_client: SFNClient, execution_arn: str, restore_state_machine_arn: str) -> Any:
    """The batch: this execution's input, or the input of the single restore that handed it over."""
    given = json.loads(sfn_client.describe_execution(executionArn=execution_arn)["input"])
    if not (isinstance(given, dict) and set(given) == {STARTED_BY}):
        return given
    handed = sfn_client.describe_execution(executionArn=str(given[STARTED_BY]))
    if handed["stateMachineArn"] != restore_state_machine_arn:
        raise InvalidInputError(f"{STARTED_BY}: {given[STARTED_BY]} is not an execution of the restore state machine")
    return json.loads(handed["input"])


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    tag_value = os.environ.get("ALLOWED_BUCKET_TAG", "")
    tagged = bucket_has_tag(s3, tag_value) if tag_value else None
    payload = read_batch(sfn, event["execution"], os.environ["RESTORE_STATE_MACHINE_ARN"]) if "execution" in event else event.get("input")
    request, problems = validate_batch(payload, os.environ.get("ALLOWED_BUCKET", "*"), tag_value, tagged)
    if not problems and (problem := state_problem(request)) is not None:
        problems.append(problem)
    if problems:
        logger.info("refused input: %s", problems)
        raise InvalidInputError("; ".join(capped(problems)))
    return {**request, "executionName": event["executionName"], "startTime": event["startTime"]}
