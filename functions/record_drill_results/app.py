"""Record Drill Results: the drill's result per archive, kept for `glacier-ami-restore drill history`, and its metrics.

Event:  {"execution": $$.Execution.Id, "startTime": $$.Execution.StartTime, "state": <the drill's state: "request",
         "archives", "drilled" (one record per archive: item, restore, restoreError, image, boot, failure), "cleanup",
         "failed">}
Result: the report: {"drill", "startTime", "scheduled", "passed", "error", "cause", "archives": [{"amiName",
         "recoveryPoint", "storageClass", "tier", "sizeBytes", "passed", "restore", "phases", "hours", "checks", "boot",
         "costUsd"}], "tooLarge", "cleanup", "costUsd", "maxGb", "bootSkipped"}
The phases are the child restore's own record (its output: restore requested, copy readable, image requested, image
available): "hours" are copy (requested -> readable), image (requested -> available) and total (the child's start ->
available). The cost is an estimate at us-east-1 list prices (PRICES: S3, EBS and EC2 pricing pages, 2025-11; GB =
2^30 bytes): the retrieval, the copy at S3 Standard until it expires, the restored snapshots (EBS snapshot storage
from image requested to the cleanup, and PutSnapshotBlock, counted as if every 512 KiB block of the volumes was
written: an upper bound), and the boot check's instance (per second, a minute at least).
Kept in DRILL_RESULTS_TABLE: ("drill", "<start>#<name>") with the report as JSON, and for each archive that passed
("archive#s3://bucket/key", "<start>") with the AMI's facts, the baseline Check Drill Image compares the next drill
against. CloudWatch (namespace GlacierAmiRestore, dimension Stack): DrillFailed and DrillPassed (1 or 0; the alarm
watches DrillFailed), ArchivesFailed, and RestoreHours per StorageClass and Tier.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger()

_config = Config(retries={"mode": "standard", "max_attempts": 5})
dynamodb = boto3.client("dynamodb", config=_config)
cloudwatch = boto3.client("cloudwatch", config=_config)  # typed Any: the dev requirements carry no CloudWatch stubs

BYTES_PER_GIB = 2**30
METRIC_NAMESPACE = "GlacierAmiRestore"
# us-east-1 list prices of 2025-11 (retrieval as glacier_ami_restore/prices.json: tests/static checks they agree).
RETRIEVAL = {
    "GLACIER": {"Expedited": (0.03, 10.0), "Standard": (0.01, 0.05), "Bulk": (0.0, 0.0)},
    "DEEP_ARCHIVE": {"Standard": (0.02, 0.10), "Bulk": (0.0025, 0.025)},
}
STANDARD_USD_PER_GB_MONTH = 0.023
SNAPSHOT_USD_PER_GB_MONTH = 0.05  # EBS snapshots, standard tier (Amazon EBS pricing)
PUT_SNAPSHOT_BLOCK_USD_PER_1000 = 0.006  # EBS direct APIs pricing; blocks of 512 KiB
BLOCKS_PER_GIB = 2048
INSTANCE_USD_PER_HOUR = {"t3.nano": 0.0052, "t4g.nano": 0.0042}  # Amazon EC2 On-Demand pricing, Linux
HOURS_PER_MONTH = 730
DAYS_PER_MONTH = 30


def child_error(failure: dict[str, Any]) -> tuple[str, str]:
    """The child restore's own error and cause: a failed `.sync:2` task fails States.TaskFailed with the child's
    DescribeExecution as its Cause (Step Functions Developer Guide, "Run a Job (.sync)")."""
    error, cause = str(failure.get("Error", "States.TaskFailed")), str(failure.get("Cause", ""))
    try:
        described = json.loads(cause)
    except ValueError:
        return error, cause
    if isinstance(described, dict) and described.get("Error"):
        return str(described["Error"]), str(described.get("Cause", ""))
    return error, cause


def moment(stamp: str) -> datetime:
    """ISO 8601 (our records) or RFC 1123 (S3's expiry-date, as the restore keeps it)."""
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return parsedate_to_datetime(stamp)


def hours(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((moment(end) - moment(start)).total_seconds() / 3600, 2)


def archive_cost(
    item: dict[str, Any], output: dict[str, Any], image: dict[str, Any], boot: dict[str, Any] | None, cleaned_at: str
) -> float:
    gib = item["sizeBytes"] / BYTES_PER_GIB
    per_gb, per_1000 = RETRIEVAL.get(str(item["storageClass"]), {}).get(str(item["tier"]), (0.0, 0.0))
    retrieval = gib * per_gb + per_1000 / 1000 if output.get("restoreOutcome") == "requested" else 0.0
    copy_days = (hours(output.get("copyReadyAt"), output.get("copyExpiresAt")) or 0) / 24
    copy = gib * STANDARD_USD_PER_GB_MONTH * copy_days / DAYS_PER_MONTH
    volume_gib = sum((image.get("facts") or {}).get("volumes", {}).values())
    snapshot_hours = hours(output.get("imageRequestedAt"), cleaned_at) or 0
    snapshots = volume_gib * SNAPSHOT_USD_PER_GB_MONTH * snapshot_hours / HOURS_PER_MONTH
    blocks = volume_gib * BLOCKS_PER_GIB * PUT_SNAPSHOT_BLOCK_USD_PER_1000 / 1000
    instance = 0.0
    if boot and boot.get("launchedAt"):
        seconds = max(60.0, 3600 * (hours(boot["launchedAt"], boot.get("terminatedAt") or cleaned_at) or 0))
        instance = INSTANCE_USD_PER_HOUR.get(boot.get("instanceType", ""), 0.0) * seconds / 3600
    return round(float(retrieval + copy + snapshots + blocks + instance), 4)


def archive_result(record: dict[str, Any], cleaned_at: str) -> dict[str, Any]:
    item, image = record["item"], record.get("image") or {}
    output = (record.get("restore") or {}).get("output") or {}
    restore_error = record.get("restoreError")
    boot = record.get("boot")
    failure = record.get("failure")
    restore = {"status": "FAILED" if restore_error else "SUCCEEDED", "execution": item["child"]}
    if restore_error:
        error, cause = child_error(restore_error)
        restore |= {"error": error, "cause": cause[:500]}
    phases = {k: output.get(k) for k in ("restoreRequestedAt", "copyReadyAt", "imageRequestedAt", "imageAvailableAt")}
    started = (record.get("restore") or {}).get("startDate")
    started_at = datetime.fromtimestamp(started / 1000, UTC).isoformat(timespec="seconds") if isinstance(started, int | float) else started
    times = {
        "copy": hours(phases["restoreRequestedAt"], phases["copyReadyAt"]),
        "image": hours(phases["imageRequestedAt"], phases["imageAvailableAt"]),
        "total": hours(started_at, phases["imageAvailableAt"]),
    }
    boot_passed = boot is None or not item.get("boot") or bool(boot.get("passed"))
    passed = not restore_error and not failure and bool(image.get("passed")) and boot_passed and (not item.get("boot") or boot is not None)
    return {
        "amiName": item["amiName"], "recoveryPoint": f"s3://{item['bucket']}/{item['recoveryPoint']}", "storageClass": item["storageClass"],
        "tier": output.get("restoreTier") or item["tier"], "sizeBytes": item["sizeBytes"], "passed": passed, "restore": restore,
        "phases": phases, "hours": times, "imageId": image.get("imageId"), "checks": image.get("checks", []),
        "expectedFrom": image.get("expectedFrom"), "facts": image.get("facts"),
        "boot": None if boot is None else {k: boot.get(k) for k in ("instanceId", "instanceType", "state", "system", "instance", "passed")},
        "failure": None if not failure else {"error": failure.get("Error"), "cause": str(failure.get("Cause", ""))[:500]},
        "costUsd": archive_cost(item, output, image, boot, cleaned_at),
    }  # fmt: skip


def build_report(execution: str, start: str, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    request, archives = state.get("request") or {}, state.get("archives") or {}
    cleanup = state.get("cleanup")
    cleaned_at = now.isoformat(timespec="seconds")
    results = [archive_result(record, cleaned_at) for record in state.get("drilled") or []]
    failed = state.get("failed") or {}
    error = cause = None
    if failed:
        step, caught = next(iter(failed.items()))
        error, cause = caught.get("Error", "States.TaskFailed"), f"{step}: {caught.get('Cause', '')}"[:2000]
    elif cleanup is None or not cleanup.get("clean"):
        error, cause = "DrillCleanupIncompleteError", f"left in AWS after the drill: {json.dumps((cleanup or {}).get('left'))}"
    elif not results or not all(r["passed"] for r in results):
        bad = [r["amiName"] for r in results if not r["passed"]]
        error, cause = "DrillFailedError", f"{len(bad)} of {len(results)} archive(s) failed the drill: {', '.join(bad)}"
    return {
        "drill": execution, "startTime": start, "endTime": cleaned_at, "scheduled": bool(request.get("scheduled")),
        "request": {k: request.get(k) for k in ("amiName", "selection", "count", "tier", "bootCheck")},
        "passed": error is None, "error": error, "cause": cause, "archives": results,
        "tooLarge": archives.get("tooLarge", []), "maxGb": archives.get("maxGb"), "matched": archives.get("matched"),
        "bootSkipped": bool(request.get("bootCheck")) and not request.get("boot"), "cleanup": cleanup,
        "costUsd": round(sum(r["costUsd"] for r in results), 4),
    }  # fmt: skip


def keep(dynamodb_client: DynamoDBClient, table: str, report: dict[str, Any]) -> None:
    name = report["drill"].rsplit(":", 1)[1]
    item = {"kind": {"S": "drill"}, "id": {"S": f"{report['startTime']}#{name}"}, "passed": {"BOOL": report["passed"]},
            "report": {"S": json.dumps(report)}}  # fmt: skip
    dynamodb_client.put_item(TableName=table, Item=item)
    for result in report["archives"]:
        if result["passed"] and result["facts"]:
            facts = result["facts"]
            baseline = {"kind": {"S": f"archive#{result['recoveryPoint']}"}, "id": {"S": report["startTime"]},
                        "volumes": {"M": {k: {"N": str(v)} for k, v in facts["volumes"].items()}}}  # fmt: skip
            baseline |= {k: {"S": str(facts[k])} for k in ("architecture", "rootDeviceName", "virtualizationType") if facts.get(k)}
            dynamodb_client.put_item(TableName=table, Item=baseline)


def metrics(cloudwatch_client: Any, stack: str, report: dict[str, Any]) -> None:
    dimension = {"Name": "Stack", "Value": stack}
    failed = float(sum(not r["passed"] for r in report["archives"]))
    data: list[dict[str, Any]] = [
        {"MetricName": "DrillFailed", "Dimensions": [dimension], "Value": 0.0 if report["passed"] else 1.0, "Unit": "Count"},
        {"MetricName": "DrillPassed", "Dimensions": [dimension], "Value": 1.0 if report["passed"] else 0.0, "Unit": "Count"},
        {"MetricName": "ArchivesFailed", "Dimensions": [dimension], "Value": failed, "Unit": "Count"},
    ]  # fmt: skip
    for result in report["archives"]:
        if result["hours"]["total"] is not None:
            dims = [dimension, {"Name": "StorageClass", "Value": result["storageClass"]}, {"Name": "Tier", "Value": result["tier"]}]
            data.append({"MetricName": "RestoreHours", "Dimensions": dims, "Value": float(result["hours"]["total"]), "Unit": "None"})
    cloudwatch_client.put_metric_data(Namespace=METRIC_NAMESPACE, MetricData=data)


def record(
    dynamodb_client: DynamoDBClient, cloudwatch_client: Any, table: str, stack: str, event: dict[str, Any], now: datetime
) -> dict[str, Any]:
    report = build_report(event["execution"], event["startTime"], event["state"], now)
    keep(dynamodb_client, table, report)
    metrics(cloudwatch_client, stack, report)
    return report


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return record(dynamodb, cloudwatch, os.environ["DRILL_RESULTS_TABLE"], os.environ["STACK_NAME"], event, datetime.now(UTC))
