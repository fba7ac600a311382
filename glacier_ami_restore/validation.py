"""The Validate Input rules, checked before any AWS call.

The handler (functions/validate_input/app.py) ships inline in the template and this package installs on its own, so
this is a copy; tests/cli/test_static.py asserts that the constants agree with the handler's.
"""

from __future__ import annotations

import ipaddress
import re

MAX_RESTORE_DAYS = 30
TIERS = ("Standard", "Bulk", "Expedited")
FIELDS = ("recoveryPoint", "recoveryPointBucket", "restoreRequestDays", "restoreRequestTier", "amiName")
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


def tier_problem(tier: str) -> str | None:
    if tier not in TIERS:
        return f"--tier must be one of {', '.join(TIERS)}, in any letter case (got {tier!r})"
    return None


def days_problem(days: str) -> str | None:
    """ASCII digits only: str.isdigit() and int() also accept other scripts' digits, S3 does not."""
    if not (ASCII_DIGITS.fullmatch(days) and len(days) <= 6 and 1 <= int(days) <= MAX_RESTORE_DAYS):
        return f"--days must be a whole number from 1 to {MAX_RESTORE_DAYS} (got {days!r})"
    return None


def ami_name_problem(name: str) -> str | None:
    if not AMI_NAME_PATTERN.fullmatch(name):
        return f"--ami-name must be 3-{128 - AMI_NAME_SUFFIX_LENGTH} characters of letters, digits, spaces and ()[]./-'@_ (got {name!r})"
    return None


def key_problem(key: str) -> str | None:
    size = len(key.encode("utf-8", "surrogatepass"))
    if size == 0:
        return "the object key must not be empty"
    if size > MAX_KEY_BYTES:
        return f"the object key is too long: {size:,} bytes, where an S3 key has at most {MAX_KEY_BYTES:,}"
    if CONTROL_CHARACTERS.search(key):
        return f"the object key must not contain control characters (line breaks, tabs...), got {key!r}"
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "the object key must be valid UTF-8"
    if not STORED_KEY_PATTERN.fullmatch(key):
        return (
            f"{key!r} is not an AMI object written by CreateStoreImageTask: an optional path, then ami- and 8 or 17 hex digits, then .bin"
        )
    return None


def normalise_tier(tier: str) -> str:
    """The handler accepts any letter case and normalises it; so does the command line."""
    return next((t for t in TIERS if t.lower() == tier.lower()), tier)
