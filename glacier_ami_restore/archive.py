"""The archive: every `<ami-id>.bin` object EC2 CreateStoreImageTask wrote, with the original AMI's name from its tags.

Listing: ListObjectsV2 (paginated, OptionalObjectAttributes=RestoreStatus) per bucket, then one GetObjectTagging per
`.bin` object on a bounded thread pool; Intelligent-Tiering objects also get a HeadObject (only it tells the
archive tier). AWS does not document the tag keys CreateStoreImageTask writes, so several spellings are read. An AMI the
archive side stored (ArchiveStateMachine) also carries the S3ObjectTags Store Image gave it: the AWS Backup vault and
recovery point it came from, and the AMI's name.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import ClientError

from glacier_ami_restore.aws import POOL_SIZE, Aws, CliError

NAME_TAGS = ("ami-name", "AmiName", "Name", "backup-ami-name")
VAULT_TAG, RECOVERY_POINT_TAG = "backup-vault", "backup-recovery-point-arn"  # Store Image's S3ObjectTags
DESCRIPTION_TAGS = ("ami-description", "AmiDescription", "Description")
DATE_TAGS = ("ami-store-date", "ami-creation-date", "ami-registration-date", "CreationDate")
KEY_PATTERN = re.compile(r"(?:.*/)?(ami-[0-9a-f]{8,17})\.bin")
IMAGE_ID_PATTERN = re.compile(r"ami-[0-9a-f]{8,17}")
ARCHIVED_CLASSES = ("GLACIER", "DEEP_ARCHIVE")


@dataclass(frozen=True)
class ArchivedAmi:
    name: str
    image_id: str | None
    bucket: str
    key: str
    storage_class: str
    archive_status: str | None  # Intelligent-Tiering: ARCHIVE_ACCESS | DEEP_ARCHIVE_ACCESS | None
    size_bytes: int
    archived_at: datetime
    description: str | None
    restore_in_progress: bool | None  # None: no restore requested (or the service did not say)
    restore_expiry: datetime | None
    vault: str | None = None  # the AWS Backup vault and recovery point the archive side stored it from
    recovery_point_arn: str | None = None

    @property
    def restore_status(self) -> str:
        """not-needed (readable now) | archived | in-progress | restored (until restore_expiry)."""
        if self.restore_in_progress:
            return "in-progress"
        if self.restore_expiry is not None:
            return "restored"
        if self.storage_class in ARCHIVED_CLASSES or self.archive_status:
            return "archived"
        return "not-needed"

    @property
    def class_label(self) -> str:
        return f"{self.storage_class}/{self.archive_status}" if self.archive_status else self.storage_class

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "imageId": self.image_id,
            "bucket": self.bucket,
            "key": self.key,
            "storageClass": self.storage_class,
            "archiveStatus": self.archive_status,
            "sizeBytes": self.size_bytes,
            "archivedAt": iso(self.archived_at),
            "description": self.description,
            "restoreStatus": self.restore_status,
            "restoreExpiry": iso(self.restore_expiry) if self.restore_expiry else None,
            "vault": self.vault,
            "recoveryPointArn": self.recovery_point_arn,
        }


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_date(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def first(tags: Mapping[str, str], keys: Iterable[str]) -> str | None:
    return next((tags[k] for k in keys if tags.get(k)), None)


def from_listing(bucket: str, item: Mapping[str, Any], tags: Mapping[str, str], archive_status: str | None) -> ArchivedAmi:
    key: str = item["Key"]
    match = KEY_PATTERN.fullmatch(key)
    last_modified: datetime = item["LastModified"].astimezone(UTC)
    stored = first(tags, DATE_TAGS)
    restore = item.get("RestoreStatus") or {}
    expiry = restore.get("RestoreExpiryDate")
    return ArchivedAmi(
        name=first(tags, NAME_TAGS) or (match.group(1) if match else key),
        image_id=match.group(1) if match else None,
        bucket=bucket,
        key=key,
        storage_class=item.get("StorageClass") or "STANDARD",
        archive_status=archive_status,
        size_bytes=int(item.get("Size", 0)),
        archived_at=(parse_date(stored) if stored else None) or last_modified,
        description=first(tags, DESCRIPTION_TAGS),
        restore_in_progress=restore.get("IsRestoreInProgress"),
        restore_expiry=expiry.astimezone(UTC) if expiry else None,
        vault=tags.get(VAULT_TAG) or None,
        recovery_point_arn=tags.get(RECOVERY_POINT_TAG) or None,
    )


def list_buckets(aws: Aws) -> list[str]:
    """Buckets of this account in the session's Region (a bucket of another Region cannot feed a restore here)."""
    names: list[str] = []
    for page in aws.s3().get_paginator("list_buckets").paginate(BucketRegion=aws.region):
        names += [b["Name"] for b in page.get("Buckets", []) if b.get("BucketRegion", aws.region) == aws.region]
    return names


def list_objects(aws: Aws, bucket: str, prefix: str = "") -> Iterator[dict[str, Any]]:
    """The bucket's `.bin` objects, page by page as ListObjectsV2 answers (the caller can start on a page at once)."""
    pages = aws.s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, OptionalObjectAttributes=["RestoreStatus"])
    try:
        for page in pages:
            yield from (dict(o) for o in page.get("Contents", []) if o["Key"].endswith(".bin"))
    except ClientError as error:
        if (problem := listing_error(aws, bucket, error)) is None:
            raise
        raise problem from error


def listing_error(aws: Aws, bucket: str, error: ClientError) -> CliError | None:
    """What to tell the operator when ListObjectsV2 on the bucket failed (None: nothing to add to S3's error)."""
    code = error.response["Error"]["Code"]
    if code == "NoSuchBucket":
        return CliError(f"bucket '{bucket}' does not exist in {aws.region}: check --bucket and --region")
    if code in ("AccessDenied", "403"):
        return CliError(f"access denied listing s3://{bucket}: grant s3:ListBucket on it or pass another --bucket")
    return None


def describe(aws: Aws, bucket: str, item: Mapping[str, Any]) -> ArchivedAmi:
    s3 = aws.s3()
    try:
        tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=item["Key"])["TagSet"]}
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("AccessDenied", "403", "NoSuchKey", "404"):
            raise
        tags = {}  # without s3:GetObjectTagging the AMI is still listed, under its image id
    archive_status = None
    if item.get("StorageClass") == "INTELLIGENT_TIERING":
        archive_status = s3.head_object(Bucket=bucket, Key=item["Key"]).get("ArchiveStatus")
    return from_listing(bucket, item, tags, archive_status)


def sort_key(ami: ArchivedAmi) -> tuple[str, float, str, str]:
    return (ami.name, -ami.archived_at.timestamp(), ami.bucket, ami.key)


def list_archive(aws: Aws, buckets: Iterable[str] = (), prefix: str = "") -> list[ArchivedAmi]:
    """Every `.bin` object of the buckets (default: all buckets of the Region), sorted by name, newest first."""
    chosen = list(buckets) or list_buckets(aws)
    # The tag look-ups of a page start while the next page is listed.
    with ThreadPoolExecutor(max_workers=POOL_SIZE) as pool:
        pending = [pool.submit(describe, aws, bucket, item) for bucket in chosen for item in list_objects(aws, bucket, prefix)]
        found = [f.result() for f in pending]
    return sorted(found, key=sort_key)


def matches(ami: ArchivedAmi, pattern: str) -> bool:
    return fnmatch.fnmatchcase(ami.name, pattern)


def filter_archive(amis: Iterable[ArchivedAmi], name: str | None, archived_before: datetime | None) -> list[ArchivedAmi]:
    return [a for a in amis if (name is None or matches(a, name)) and (archived_before is None or a.archived_at < archived_before)]


def resolve(aws: Aws, reference: str, buckets: Iterable[str] = ()) -> ArchivedAmi:
    """NAME (newest archived object of that AMI name; a glob or a prefix naming one AMI), KEY (`ami-….bin`,
    `s3://bucket/key`), AMI-ID or the ARN of the AWS Backup recovery point the archive side stored it from. Several
    plausible matches, or none: CliError (exit 2) listing them."""
    chosen = list(buckets)
    if reference.startswith("arn:"):  # an AWS Backup recovery point (either ARN form) the archive side stored
        candidates = [a for a in list_archive(aws, chosen) if a.recovery_point_arn == reference]
        if not candidates:
            raise CliError(f"no archived AMI was stored from recovery point {reference}: run `glacier-ami-restore list` "
                           "(its RECOVERY POINT column) or `glacier-ami-restore archive list`")  # fmt: skip
        return candidates[0]  # newest first; one recovery point is stored once per bucket
    if reference.startswith("s3://"):
        bucket, _, key = reference[5:].partition("/")
        chosen, reference = [bucket], key
    if reference.endswith(".bin") or IMAGE_ID_PATTERN.fullmatch(reference):
        key = reference if reference.endswith(".bin") else f"{reference}.bin"
        candidates = [a for a in list_archive(aws, chosen, prefix=key) if a.key == key]
        what = f"key {key}"
    else:
        everything = list_archive(aws, chosen)
        exact = [a for a in everything if a.name == reference]
        glob = any(c in reference for c in "*?[")
        candidates = exact or [a for a in everything if (matches(a, reference) if glob else a.name.startswith(reference))]
        what = f"name '{reference}'"
    if not candidates:
        raise CliError(f"no archived AMI matches {what}: run `glacier-ami-restore list` to see the archived AMIs")
    # One key in several buckets, or a pattern naming several AMIs: the operator must choose.
    if len({(a.bucket, a.key) if what.startswith("key") else a.name for a in candidates}) > 1:
        listed = ", ".join(f"{a.name} (s3://{a.bucket}/{a.key})" for a in candidates[:10])
        more = f" and {len(candidates) - 10} more" if len(candidates) > 10 else ""
        raise CliError(f"{what} matches several archived AMIs: {listed}{more}; give the full name or the key")
    return candidates[0]  # one name: sorted newest first


def with_head(aws: Aws, ami: ArchivedAmi) -> ArchivedAmi:
    """Refresh class, size and restore state from HeadObject (what the workflow itself will see)."""
    head = aws.s3().head_object(Bucket=ami.bucket, Key=ami.key)
    restore = head.get("Restore") or ""
    expiry = re.search(r'expiry-date="([^"]+)"', restore)
    return replace(
        ami,
        storage_class=head.get("StorageClass") or "STANDARD",
        archive_status=head.get("ArchiveStatus"),
        size_bytes=int(head.get("ContentLength", ami.size_bytes)),
        restore_in_progress=True if 'ongoing-request="true"' in restore else (False if restore else None),
        restore_expiry=_http_date(expiry.group(1)) if expiry else None,
    )


def _http_date(value: str) -> datetime | None:
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None
