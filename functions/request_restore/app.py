"""Request Restore: ask S3 for a temporary readable copy of an archived recovery point.

Event:  {"request": <Validate Input result>, "restore": <Check Storage Class result>}
Result: the restore record with "tier", "requestOutcome" and "requestedAt" filled in; requestOutcome is
        "requested" (202), "restored-before-this-run" (200: a copy exists, its expiry was extended),
        "joined-restore-in-progress" (409 RestoreAlreadyInProgress) or "not-needed" (403: the object is readable).
Raises ExpeditedRetrievalNotAvailableError (503: the state machine retries, then falls back to Standard),
ExpeditedNotOfferedError (S3 refused the Expedited tier for this object with a 4xx; AWS documents no code: the state
machine falls back to Standard at once), ThrottledError, RecoveryPointNotFoundError.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import RestoreRequestTypeDef

logger = logging.getLogger()

s3 = boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))

THROTTLING_CODES = ("SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "503")
# Outcomes that are not errors: the object is restoring or readable either way.
# Plausible forms of "Expedited is not offered for this object" (undocumented; Deep Archive is refused earlier).
TIER_REFUSED_CODES = ("InvalidArgument", "InvalidRequest", "NotImplemented", "InvalidTier")
OUTCOME_BY_CODE = {
    "RestoreAlreadyInProgress": "joined-restore-in-progress",
    "ObjectAlreadyInActiveTierError": "not-needed",
    "InvalidObjectState": "not-needed",
}


class ExpeditedRetrievalNotAvailableError(Exception):
    """503 GlacierExpeditedRetrievalNotAvailable: no Expedited capacity right now."""


class ExpeditedNotOfferedError(Exception):
    """S3 refused the Expedited tier for this object (4xx): not offered here, retrying cannot help."""


class ThrottledError(Exception):
    """S3 throttled the request after the SDK's own retries; the state machine retries with back-off."""


class RecoveryPointNotFoundError(Exception):
    """The object disappeared between Check Storage Class and Request Restore."""


def restore_request(request: dict[str, Any], restore: dict[str, Any]) -> RestoreRequestTypeDef:
    job: RestoreRequestTypeDef = {"GlacierJobParameters": {"Tier": request["restoreRequestTier"]}}
    if restore["storageClass"] != "INTELLIGENT_TIERING":
        job["Days"] = request["restoreRequestDays"]  # Intelligent-Tiering rejects Days: it moves the object back
    return job


def request_restore(s3_client: S3Client, request: dict[str, Any], restore: dict[str, Any], now: datetime) -> dict[str, Any]:
    bucket, key, tier = request["recoveryPointBucket"], request["recoveryPoint"], request["restoreRequestTier"]
    try:
        response = s3_client.restore_object(Bucket=bucket, Key=key, RestoreRequest=restore_request(request, restore))
        status = response["ResponseMetadata"]["HTTPStatusCode"]
        outcome = "requested" if status == 202 else "restored-before-this-run"
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "GlacierExpeditedRetrievalNotAvailable":
            raise ExpeditedRetrievalNotAvailableError(f"no Expedited capacity for s3://{bucket}/{key} right now") from error
        if code in THROTTLING_CODES:
            raise ThrottledError(f"S3 throttled RestoreObject on s3://{bucket}/{key}") from error
        if tier == "Expedited" and code in TIER_REFUSED_CODES:
            raise ExpeditedNotOfferedError(f"S3 refused Expedited for s3://{bucket}/{key}: {code}") from error
        if code in ("NoSuchKey", "404"):
            raise RecoveryPointNotFoundError(f"s3://{bucket}/{key} no longer exists") from error
        if code not in OUTCOME_BY_CODE:
            raise
        outcome = OUTCOME_BY_CODE[code]
    logger.info("RestoreObject s3://%s/%s tier=%s: %s", bucket, key, tier, outcome)
    return {
        **restore,
        "tier": tier,
        "requestOutcome": outcome,
        "requestedAt": now.isoformat(timespec="seconds") if outcome == "requested" else restore["requestedAt"],
    }


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return request_restore(s3, event["request"], event["restore"], datetime.now(UTC))
