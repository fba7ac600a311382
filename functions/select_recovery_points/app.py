"""Select Recovery Points: the AWS Backup EC2 recovery points this archive run stores, and those it skips with why.

Invoked by the "Select Recovery Points" state, first; it changes nothing in AWS (a refused input fails here, before any
side effect). Event: {"input": the execution's input, "startTime": $$.Execution.StartTime}. The input is one of
  {}                                        every vault of ARCHIVE_VAULT_NAMES, points older than ARCHIVE_AFTER_DAYS
  {"vaultName": "v", "olderThanDays": N}    either key may be left out
  {"recoveryPointArns": ["..."], "vaultName"?: "v"}  these points (the Backup Job State Change rule passes one)
  the daily schedule's Scheduled Event       as {}
Result: {"run": {"bucket", "storageClass", "deleteAfterArchive", "olderThanDays", "vaults", "alreadyArchived",
                 "deferred"},
         "items": [{"recoveryPointArn", "vault", "imageId", "amiName", "amiCreated", "resourceArn", "sizeBytes",
                    "bucket", "key"}],
         "skipped": [{"recoveryPointArn", "imageId", "bucket", "key", "vault", "reason"}]}
Raises InvalidArchiveInputError (the input, with every field to fix), ThrottledError (AWS Backup, EC2 or S3 throttled
after the SDK's retries: the state retries).

A point is selected when it is COMPLETED, older than the limit, and not tagged archived (its recovery point, or its AMI
when AWS Backup refused the tag). A point whose object is already in the bucket is selected too: Store Image then stores
nothing, and Verify Archive decides whether that object is this point's archive. What CreateStoreImageTask cannot store
is skipped with the reason (EC2 User Guide, "Store and restore an AMI using S3": instance-store-backed and paravirtual
AMIs, AMIs over 5,000 GB), as is a point of a logically air-gapped vault (its AMI is AWS Backup's, outside the
account: AWS Backup Developer Guide, logically air-gapped vaults). Points tagged archived are counted, not listed (a
vault of years would not fit a state's 256 KiB); at most MAX_ITEMS_PER_RUN points are stored per run, the oldest
first, the rest counted as deferred to the next run.
"""

from __future__ import annotations

import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

logger = logging.getLogger()
BackupClient = Any  # no type stubs for AWS Backup are installed

_config = Config(retries={"mode": "standard", "max_attempts": 5})
backup = boto3.client("backup", config=_config)
ec2 = boto3.client("ec2", config=_config)

GIB_BYTES = 2**30  # EBS volume sizes are GiB
MAX_STORABLE_GIB = 5000  # EC2 User Guide, "Store and restore an AMI using S3": AMIs up to 5,000 GB
MAX_ITEMS_PER_RUN = 100  # each item and its outcome stay well under the state's 256 KiB
MAX_ARNS = 100
MAX_DAYS = 36500
ARCHIVED_TAG = "glacier-ami-restore:archived-to"
IMAGE_ARN = re.compile(r"arn:aws[\w-]*:ec2:[a-z0-9-]+::image/(ami-[0-9a-f]{8,17})")
RECOVERY_POINT_ARN = re.compile(r"arn:aws[\w-]*:backup:[a-z0-9-]+:\d{12}:recovery-point:[\w-]{1,100}")
READ_THROTTLING_CODES = ("ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown")
POOL_THREADS = 8
INPUT_KEYS = ("vaultName", "olderThanDays", "recoveryPointArns")


class InvalidArchiveInputError(Exception):
    """The execution's input cannot be archived as given."""


class ThrottledError(Exception):
    """AWS throttled a read after the SDK's retries; the state retries with back-off."""


def archive_settings() -> dict[str, Any]:
    """The stack's parameters, as the template passes them."""
    return {
        "vaults": [v.strip() for v in os.environ["ARCHIVE_VAULT_NAMES"].split(",") if v.strip()],
        "olderThanDays": int(os.environ["ARCHIVE_AFTER_DAYS"]),
        "bucket": os.environ["ARCHIVE_BUCKET"],
        "storageClass": os.environ["ARCHIVE_STORAGE_CLASS"],
        "deleteAfterArchive": os.environ["DELETE_RECOVERY_POINT_AFTER_ARCHIVE"] == "true",
    }


def read_archive_input(given: Any, configured: dict[str, Any]) -> dict[str, Any]:
    """The run's vaults, age limit and ARNs; raises InvalidArchiveInputError naming every field to fix."""
    if isinstance(given, dict) and given.get("source") == "aws.events" and given.get("detail-type") == "Scheduled Event":
        given = {}  # the daily schedule
    if not isinstance(given, dict):
        raise InvalidArchiveInputError(f"the input must be a JSON object, got {type(given).__name__}")
    problems = [f"{k}: not a field of an archive run (allowed: {', '.join(INPUT_KEYS)})" for k in given if k not in INPUT_KEYS]
    vaults = configured["vaults"]
    if "vaultName" in given:
        if given["vaultName"] not in vaults:
            problems.append(
                f"vaultName: {given['vaultName']!r} is not one of ArchiveVaultNames ({', '.join(vaults)}); "
                "add it to the stack's parameter first"
            )
        else:
            vaults = [given["vaultName"]]
    days = given.get("olderThanDays", configured["olderThanDays"])
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DAYS:
        problems.append(f"olderThanDays: must be a whole number from 0 to {MAX_DAYS}, got {days!r}")
    arns = given.get("recoveryPointArns")
    if arns is not None:
        if not isinstance(arns, list) or not 1 <= len(arns) <= MAX_ARNS:
            problems.append(f"recoveryPointArns: must be a list of 1 to {MAX_ARNS} recovery point ARNs")
        elif "olderThanDays" in given:
            problems.append("olderThanDays: not with recoveryPointArns (the points named are archived whatever their age)")
        else:
            bad = [a for a in arns if not isinstance(a, str) or not (IMAGE_ARN.fullmatch(a) or RECOVERY_POINT_ARN.fullmatch(a))]
            if bad:
                problems.append(f"recoveryPointArns: not an EC2 recovery point ARN (arn:aws:ec2:<region>::image/ami-... or "
                                f"arn:aws:backup:...:recovery-point:...): {', '.join(repr(a) for a in bad)}")  # fmt: skip
    if problems:
        raise InvalidArchiveInputError("; ".join(problems))
    return {"vaults": vaults, "olderThanDays": days, "arns": list(arns) if arns is not None else None}


def throttled(error: ClientError) -> bool:
    return error.response["Error"]["Code"] in READ_THROTTLING_CODES


def recovery_points(backup_client: BackupClient, vault: str, created_before: datetime | None) -> list[dict[str, Any]]:
    """The vault's EC2 recovery points (created before the limit, when one is given)."""
    kwargs: dict[str, Any] = {"BackupVaultName": vault, "ByResourceType": "EC2"}
    if created_before is not None:
        kwargs["ByCreatedBefore"] = created_before
    found: list[dict[str, Any]] = []
    for page in backup_client.get_paginator("list_recovery_points_by_backup_vault").paginate(**kwargs):
        found += page["RecoveryPoints"]
    return found


def skipped(point: dict[str, Any], image_id: str | None, bucket: str, reason: str) -> dict[str, Any]:
    return {"recoveryPointArn": point["RecoveryPointArn"], "imageId": image_id, "bucket": bucket,
            "key": f"{image_id}.bin" if image_id else None, "vault": point["BackupVaultName"], "reason": reason}  # fmt: skip


def tagged_archived(backup_client: BackupClient, arn: str, image_tags: dict[str, str]) -> bool:
    """Tagged archived by an earlier run: on the recovery point, or on its AMI (where AWS Backup refused the tag)."""
    if ARCHIVED_TAG in image_tags:
        return True
    try:
        return ARCHIVED_TAG in backup_client.list_tags(ResourceArn=arn)["Tags"]
    except ClientError as error:
        if throttled(error):
            raise
        return False  # ListTags "may" refuse arn:aws:ec2 ARNs (AWS Backup API Reference): the AMI's tags then say it


def examine(clients: dict[str, Any], point: dict[str, Any], bucket: str) -> tuple[str, dict[str, Any]]:
    """("item" | "skipped" | "archived", what the summary needs) for one COMPLETED recovery point."""
    backup_client, ec2_client = clients["backup"], clients["ec2"]
    arn = point["RecoveryPointArn"]
    matched = IMAGE_ARN.fullmatch(arn)
    if matched is None:
        reason = ("a logically air-gapped vault's recovery point: AWS Backup keeps its AMI outside this account, so "
                  "CreateStoreImageTask cannot read it (restore it first, then archive the AMI)")  # fmt: skip
        return "skipped", skipped(point, None, bucket, reason)
    image_id = matched.group(1)
    try:
        images = ec2_client.describe_images(ImageIds=[image_id])["Images"]
    except ClientError as error:
        if throttled(error):
            raise
        images = []
    if not images:
        return "skipped", skipped(point, image_id, bucket, f"its AMI {image_id} is not in this account any more")
    image = images[0]
    if tagged_archived(backup_client, arn, {t["Key"]: t["Value"] for t in image.get("Tags", [])}):
        return "archived", {}
    volumes = [m["Ebs"].get("VolumeSize", 0) for m in image.get("BlockDeviceMappings", []) if "Ebs" in m]
    if image.get("RootDeviceType") == "instance-store":
        return "skipped", skipped(point, image_id, bucket, "instance store-backed AMI: CreateStoreImageTask stores EBS-backed AMIs only")
    if image.get("VirtualizationType") == "paravirtual":
        return "skipped", skipped(point, image_id, bucket, "paravirtual (PV) AMI: CreateStoreImageTask cannot store it")
    if sum(volumes) > MAX_STORABLE_GIB:
        return "skipped", skipped(
            point, image_id, bucket, f"{sum(volumes):,} GiB of volumes: over the 5,000 GB CreateStoreImageTask stores"
        )
    size = int(point.get("BackupSizeInBytes") or sum(volumes) * GIB_BYTES)
    return "item", {
        "recoveryPointArn": arn, "vault": point["BackupVaultName"], "imageId": image_id, "amiName": image.get("Name", ""),
        "amiCreated": image.get("CreationDate", ""), "resourceArn": point.get("ResourceArn", ""), "sizeBytes": size,
        "bucket": bucket, "key": f"{image_id}.bin",
    }  # fmt: skip


def select_recovery_points(clients: dict[str, Any], given: Any, configured: dict[str, Any], now: datetime) -> dict[str, Any]:
    request = read_archive_input(given, configured)
    bucket = configured["bucket"]
    limit = None if request["arns"] is not None else now - timedelta(days=request["olderThanDays"])
    listed: list[dict[str, Any]] = []
    try:
        for vault in request["vaults"]:
            listed += recovery_points(clients["backup"], vault, limit)
    except ClientError as error:
        if throttled(error):
            raise ThrottledError(f"AWS Backup throttled ListRecoveryPointsByBackupVault: {error}") from error
        raise
    found_skipped: list[dict[str, Any]] = []
    if request["arns"] is not None:
        by_arn = {p["RecoveryPointArn"]: p for p in listed}
        for arn in request["arns"]:
            if arn not in by_arn:
                matched = IMAGE_ARN.fullmatch(arn)
                found_skipped.append({"recoveryPointArn": arn, "imageId": matched.group(1) if matched else None, "bucket": bucket,
                                      "key": f"{matched.group(1)}.bin" if matched else None, "vault": None,
                                      "reason": f"not a recovery point of {', '.join(request['vaults'])}"})  # fmt: skip
        listed = [by_arn[a] for a in dict.fromkeys(request["arns"]) if a in by_arn]
    candidates = []
    for point in sorted(listed, key=lambda p: p["CreationDate"]):
        if point.get("Status") == "COMPLETED":
            candidates.append(point)
        elif request["arns"] is not None:  # named by hand or by the job's event: say why nothing happens
            found_skipped.append(skipped(point, None, bucket, f"status {point.get('Status')}: only COMPLETED recovery points are archived"))
    try:
        with ThreadPoolExecutor(POOL_THREADS) as pool:
            examined = list(pool.map(lambda p: examine(clients, p, bucket), candidates))
    except ClientError as error:
        if throttled(error):
            raise ThrottledError(f"AWS throttled a read of the recovery points: {error}") from error
        raise
    items = [found for kind, found in examined if kind == "item"]
    found_skipped += [found for kind, found in examined if kind == "skipped"]
    run = {**{k: configured[k] for k in ("bucket", "storageClass", "deleteAfterArchive")}, "olderThanDays": request["olderThanDays"],
           "vaults": request["vaults"], "alreadyArchived": sum(1 for kind, _ in examined if kind == "archived"),
           "deferred": max(0, len(items) - MAX_ITEMS_PER_RUN)}  # fmt: skip
    logger.info(
        "selected %d, skipped %d, %d already archived", min(len(items), MAX_ITEMS_PER_RUN), len(found_skipped), run["alreadyArchived"]
    )
    return {"run": run, "items": items[:MAX_ITEMS_PER_RUN], "skipped": found_skipped}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    clients = {"backup": backup, "ec2": ec2}
    return select_recovery_points(clients, event["input"], archive_settings(), datetime.now(UTC))
