"""Validate Input: refuse a bad execution input before anything touches AWS.

Event:  {"input": <the execution input, any JSON>, "executionName": "3f2c...", "startTime": "2026-11-26T10:00:00Z"}
Result: {"recoveryPoint": "ami-0123456789abcdef0.bin", "recoveryPointBucket": "my-ami-archive",
         "restoreRequestDays": 1, "restoreRequestTier": "Standard", "requestedTier": "Standard",
         "amiName": null, "executionName": "3f2c...", "startTime": "2026-11-26T10:00:00Z"}
Raises InvalidInputError naming every field to fix.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from typing import Any

logger = logging.getLogger()

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


class InvalidInputError(Exception):
    """The execution input cannot be used; the message says what to fix."""


def bucket_problem(name: str) -> str | None:
    if not BUCKET_PATTERN.fullmatch(name):
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


def validate_input(payload: Any, allowed_bucket: str) -> tuple[dict[str, Any], list[str]]:
    """Return the normalised request and the list of problems (empty when valid)."""
    if not isinstance(payload, dict):
        return {}, [f"the input must be a JSON object with the fields {', '.join(FIELDS)}"]
    problems = [f"{key}: unknown field (allowed: {', '.join(FIELDS)})" for key in payload if key not in FIELDS]

    key = payload.get("recoveryPoint")
    if not isinstance(key, str) or not 1 <= len(key.encode("utf-8", "surrogatepass")) <= 1024:
        problems.append("recoveryPoint: required, the S3 key of the stored AMI (1-1024 bytes), e.g. ami-0123456789abcdef0.bin")
    elif not key.endswith(".bin"):
        problems.append(f"recoveryPoint: '{key}' is not an AMI object written by CreateStoreImageTask (<ami-id>.bin)")
    else:
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            problems.append("recoveryPoint: must be valid UTF-8")

    bucket = payload.get("recoveryPointBucket")
    if not isinstance(bucket, str):
        problems.append("recoveryPointBucket: required, the name of the bucket holding the recovery point")
    elif (problem := bucket_problem(bucket)) is not None:
        problems.append(f"recoveryPointBucket: '{bucket}' {problem}")
    elif allowed_bucket not in ("*", bucket):
        problems.append(
            f"recoveryPointBucket: '{bucket}' is not the bucket this stack may read ({allowed_bucket}); "
            "redeploy with ArchiveBucketName set to it"
        )

    days = parse_days(payload.get("restoreRequestDays", 1))
    if days is None or not 1 <= days <= MAX_RESTORE_DAYS:
        problems.append(
            f"restoreRequestDays: must be a whole number from 1 to {MAX_RESTORE_DAYS} "
            f"(number or string of digits), got {payload.get('restoreRequestDays')!r}"
        )

    raw_tier = payload.get("restoreRequestTier", "Standard")
    tier = next((t for t in TIERS if isinstance(raw_tier, str) and raw_tier.lower() == t.lower()), None)
    if tier is None:
        problems.append(f"restoreRequestTier: must be one of {', '.join(TIERS)}, got {raw_tier!r}")

    ami_name = payload.get("amiName")
    if ami_name is not None and (not isinstance(ami_name, str) or not AMI_NAME_PATTERN.fullmatch(ami_name)):
        problems.append(
            f"amiName: must be 3-{128 - AMI_NAME_SUFFIX_LENGTH} characters of letters, digits, spaces and ()[]./-'@_, got {ami_name!r}"
        )

    request = {
        "recoveryPoint": key,
        "recoveryPointBucket": bucket,
        "restoreRequestDays": days,
        "restoreRequestTier": tier,
        "requestedTier": tier,
        "amiName": ami_name,
    }
    return request, problems


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request, problems = validate_input(event.get("input"), os.environ.get("ALLOWED_BUCKET", "*"))
    if problems:
        logger.info("refused input: %s", problems)
        raise InvalidInputError("; ".join(problems))
    return {**request, "executionName": event["executionName"], "startTime": event["startTime"]}
