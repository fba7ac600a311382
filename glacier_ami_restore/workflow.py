"""The deployed stack's state machine: find it, start a restore exactly once, read an execution's progress.

Everything comes from public APIs: CloudFormation DescribeStacks (output StateMachineArn), Step Functions
StartExecution / DescribeExecution / GetExecutionHistory / ListExecutions, S3 HeadObject.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from glacier_ami_restore.archive import ArchivedAmi, list_archive, with_head
from glacier_ami_restore.aws import Aws, CliError
from glacier_ami_restore.estimate import WINDOWS, family, image_seconds, prices, restore_window

DEFAULT_STACK = "glacier-ami-restore"
OUTPUT_KEY = "StateMachineArn"
NAME_LIMIT = 80
STAGES = {
    "waiting for the copy": (
        "Request Restore", "Fall Back To Standard Tier", "Check Restore Status", "Wait For Restore", "Schedule Next Copy Check",
        "Is Copy Readable?",
    ),
    # Every image restore of the stack takes its GB from one budget (ImageRestoreQuotaGb), first come first served.
    "waiting for image-restore budget": ("Wait For Image Budget",),
    "restoring the image": ("Restore Image", "Check Image State", "Wait For Image", "Schedule Next Image Check", "Is Image Available?"),
    # A batch's own execution (and the single restore that handed it over); each AMI's child execution shows the stages above.
    "restoring the batch": (
        "Restore As A Batch", "Resolve Selection", "Plan Batch", "Restore Each AMI", "Wait For Copy", "Restore One AMI",
        "Note The Failure", "Notify Batch Summary", "Did Every AMI Restore?",
    ),
    "done": ("Notify Success", "Restore Succeeded", "Batch Succeeded"),
}  # fmt: skip
ADVICE = {
    "InvalidInputError": "fix the input named in the cause and run the restore again",
    "RecoveryPointNotFoundError": "check the key with `glacier-ami-restore list` and the stack's ArchiveBucketName",
    "RecoveryPointAccessDeniedError": "grant the stack's Lambda role s3:GetObject (and s3:ListBucket) on the bucket",
    "RestoreDeadlineExceededError": "start the restore again (S3 did not make the copy readable in time)",
    "ImageNameConflictError": "pass another --ami-name or deregister the AMI holding that name",
    "RestoreQuotaExceededError": "wait for other AMI restores to finish (600 GB in-progress quota), then restore again",
}


def default_stack(directory: Path | None = None) -> str:
    """stack_name from samconfig.toml in the current directory (as `sam deploy` writes it), else glacier-ami-restore."""
    path = (directory or Path.cwd()) / "samconfig.toml"
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return DEFAULT_STACK
    default = config.get("default", {})
    for command in ("deploy", "global"):
        name = default.get(command, {}).get("parameters", {}).get("stack_name")
        if isinstance(name, str) and name:
            return name
    return DEFAULT_STACK


def stack_outputs(aws: Aws, stack: str) -> dict[str, str]:
    try:
        stacks = aws.cloudformation().describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ValidationError":
            raise CliError(
                f"no CloudFormation stack '{stack}' in {aws.region}: deploy it (`sam deploy --guided`) or pass --stack / --region"
            ) from error
        raise
    return {o["OutputKey"]: o["OutputValue"] for s in stacks for o in s.get("Outputs", [])}


def state_machine_arn(aws: Aws, stack: str) -> str:
    outputs = stack_outputs(aws, stack)
    if OUTPUT_KEY not in outputs:
        raise CliError(f"stack '{stack}' has no output {OUTPUT_KEY}: is it a glacier-ami-restore stack? pass --stack NAME")
    return outputs[OUTPUT_KEY]


def payload(ami: ArchivedAmi, tier: str, days: str, ami_name: str | None) -> dict[str, str]:
    """Exactly what Validate Input accepts; Days as a string, as in the blog's example."""
    body = {"recoveryPoint": ami.key, "recoveryPointBucket": ami.bucket, "restoreRequestDays": days, "restoreRequestTier": tier}
    return {**body, "amiName": ami_name} if ami_name else body


def execution_name(body: dict[str, str], again: str | None = None) -> str:
    """cli-<key>-<sha256 of the request>: the same request gets the same name (StartExecution is then idempotent).
    again (a timestamp) makes a new name for a request that ran before (names stay taken for 90 days)."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode() + (again or "").encode()).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", body["recoveryPoint"].removesuffix(".bin")).strip("-")
    stem = stem[: NAME_LIMIT - len(digest) - 5]
    return f"cli-{stem}-{digest}" if stem else f"cli-{digest}"


def execution_arn(machine_arn: str, name: str) -> str:
    return machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def console_url(region: str, arn: str) -> str:
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"


def start(aws: Aws, machine_arn: str, body: dict[str, str], again: str | None = None) -> tuple[str, bool]:
    """Start the restore unless this very request already has an execution: (execution ARN, started now?)."""
    sfn = aws.sfn()
    name = execution_name(body, again)
    arn = execution_arn(machine_arn, name)
    try:
        sfn.describe_execution(executionArn=arn)
        return arn, False
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
            raise
    try:
        started: str = sfn.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(body))["executionArn"]
    except ClientError as error:  # started by someone else since DescribeExecution
        if error.response["Error"]["Code"] == "ExecutionAlreadyExists":
            return arn, False
        raise
    return started, True


# --- progress ------------------------------------------------------------------------------------------------------


@dataclass
class Progress:
    arn: str
    name: str
    status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    stage: str
    state: str | None
    started: datetime
    now: datetime
    stopped: datetime | None
    request: dict[str, Any]
    storage_class: str | None = None
    archive_status: str | None = None
    size_bytes: int | None = None
    tier: str | None = None
    copy_expiry: str | None = None
    image_id: str | None = None
    eta: tuple[datetime, datetime] | None = None
    error: str | None = None
    cause: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def elapsed(self) -> timedelta:
        return (self.stopped or self.now) - self.started

    @property
    def advice(self) -> str:
        return ADVICE.get(self.error or "", "see the execution's history in the Step Functions console")

    def as_json(self) -> dict[str, Any]:
        return {
            "executionArn": self.arn,
            "name": self.name,
            "status": self.status,
            "stage": self.stage,
            "state": self.state,
            "startedAt": stamp(self.started),
            "stoppedAt": stamp(self.stopped) if self.stopped else None,
            "elapsedSeconds": int(self.elapsed.total_seconds()),
            "recoveryPoint": self.request.get("recoveryPoint"),
            "recoveryPointBucket": self.request.get("recoveryPointBucket"),
            "storageClass": self.storage_class,
            "archiveStatus": self.archive_status,
            "sizeBytes": self.size_bytes,
            "tier": self.tier,
            "etaEarliest": stamp(self.eta[0]) if self.eta else None,
            "etaLatest": stamp(self.eta[1]) if self.eta else None,
            "copyExpiresAt": self.copy_expiry,
            "imageId": self.image_id,
            "error": self.error,
            "cause": self.cause,
        }


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def find(value: Any, key: str) -> Any:
    """The first non-null value of key in nested dicts (state outputs nest records under request/restore/image)."""
    if isinstance(value, dict):
        if value.get(key) is not None:
            return value[key]
        for inner in value.values():
            if (found := find(inner, key)) is not None:
                return found
    return None


def recent_events(aws: Aws, arn: str) -> list[dict[str, Any]]:
    """The newest history events, newest first: enough to see the current state and the latest task result."""
    sfn = aws.sfn()
    page: Any = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=100)
    events: list[dict[str, Any]] = list(page["events"])
    if len(events) > 1 and events[0]["id"] < events[-1]["id"]:  # oldest first: reverseOrder was not honoured, read all
        while token := page.get("nextToken"):
            page = sfn.get_execution_history(executionArn=arn, maxResults=1000, nextToken=token)
            events += page["events"]
    return sorted(events, key=lambda e: int(e["id"]), reverse=True)


def stage_of(state: str | None, status: str) -> str:
    if status == "SUCCEEDED":
        return "done"
    if status != "RUNNING":
        return status.lower().replace("_", " ")
    return next((stage for stage, states in STAGES.items() if state in states), "starting")


def facts_from(events: list[dict[str, Any]]) -> dict[str, Any]:
    """From the latest task results (newest first): the restore and image records' fields, whichever exist."""
    wanted = ("storageClass", "archiveStatus", "sizeBytes", "tier", "restoreExpiry", "copyExpiresAt", "imageId", "requestedAt")
    facts: dict[str, Any] = {}
    for event in events:
        details = event.get("stateExitedEventDetails") or event.get("lambdaFunctionSucceededEventDetails") or {}
        try:
            output = json.loads(details.get("output") or "null")
        except json.JSONDecodeError:
            continue
        for key in wanted:
            if key not in facts and (value := find(output, key)) is not None:
                facts[key] = value
    return facts


def read_progress(aws: Aws, arn: str, head_cache: dict[str, ArchivedAmi | None] | None = None) -> Progress:
    sfn = aws.sfn()
    try:
        described = sfn.describe_execution(executionArn=arn)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
            raise CliError(f"no execution {arn}: run `glacier-ami-restore history` to see the restores") from error
        raise
    now = aws.now()
    events = recent_events(aws, arn)
    state = next((e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e), None)
    request = json.loads(described.get("input") or "{}")
    output = json.loads(described.get("output") or "null") or {}
    facts = {**facts_from(events), **{k: v for k, v in output.items() if v is not None}} if isinstance(output, dict) else facts_from(events)
    status = described["status"]
    progress = Progress(
        arn=arn,
        name=described.get("name", arn.rsplit(":", 1)[-1]),
        status=status,
        stage=stage_of(state, status),
        state=state,
        started=described["startDate"].astimezone(UTC),
        now=now,
        stopped=described["stopDate"].astimezone(UTC) if described.get("stopDate") else None,
        request=request if isinstance(request, dict) else {},
        tier=facts.get("restoreTier") or facts.get("tier") or (request.get("restoreRequestTier") if isinstance(request, dict) else None),
        copy_expiry=facts.get("copyExpiresAt") or facts.get("restoreExpiry"),
        image_id=facts.get("imageId") if status == "SUCCEEDED" else None,
        error=described.get("error"),
        cause=readable_cause(described.get("cause")),
        facts=facts,
    )
    progress.storage_class = facts.get("storageClass")
    progress.archive_status = facts.get("archiveStatus")
    progress.size_bytes = facts.get("sizeBytes")
    if status == "RUNNING" and (progress.storage_class is None or progress.size_bytes is None):
        ami = _head(aws, progress.request, head_cache if head_cache is not None else {})
        if ami is not None:
            progress.storage_class = progress.storage_class or ami.storage_class
            progress.archive_status = progress.archive_status or ami.archive_status
            progress.size_bytes = ami.size_bytes if progress.size_bytes is None else progress.size_bytes
            if progress.copy_expiry is None and ami.restore_expiry is not None:
                progress.copy_expiry = stamp(ami.restore_expiry)
    if status == "RUNNING":
        progress.eta = eta(progress, events)
    return progress


def _head(aws: Aws, request: dict[str, Any], cache: dict[str, ArchivedAmi | None]) -> ArchivedAmi | None:
    bucket, key = request.get("recoveryPointBucket"), request.get("recoveryPoint")
    if not (isinstance(bucket, str) and isinstance(key, str)):
        return None
    where = f"{bucket}/{key}"
    if where not in cache:
        blank = ArchivedAmi(key, None, bucket, key, "STANDARD", None, 0, aws.now(), None, None, None)
        try:
            cache[where] = with_head(aws, blank)
        except ClientError:
            cache[where] = None  # no s3:GetObject for this caller: show what the history tells
    return cache[where]


def entered_at(events: list[dict[str, Any]], names: tuple[str, ...]) -> datetime | None:
    """When the earliest of the newest run of these states was entered (events are newest first)."""
    found = [e["timestamp"] for e in events if e.get("stateEnteredEventDetails", {}).get("name") in names]
    return min(found).astimezone(UTC) if found else None


def eta(progress: Progress, events: list[dict[str, Any]]) -> tuple[datetime, datetime] | None:
    """Earliest and latest time the AMI should be available: the tier's window and the image time by size."""
    size = progress.size_bytes or 0
    image = timedelta(seconds=image_seconds(size, prices()))
    if progress.stage == "waiting for image-restore budget":
        return None  # its turn depends on the restores ahead of it in the stack's queue
    if progress.stage == "restoring the image":
        since = entered_at(events, ("Restore Image",)) or progress.now
        return since + image, since + image
    kind = family(progress.storage_class or "STANDARD", progress.archive_status)
    if kind is None:
        return progress.started + image, progress.started + image
    tier = progress.tier if progress.tier and (kind, progress.tier) in WINDOWS else "Standard"
    requested = progress.facts.get("requestedAt")
    since = (_parse(requested) if isinstance(requested, str) else None) or progress.started
    earliest, latest = restore_window(kind, tier, size)
    return since + timedelta(seconds=earliest) + image, since + timedelta(seconds=latest) + image


def _parse(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def readable_cause(cause: str | None) -> str | None:
    """A Lambda error's cause is JSON ({"errorMessage": ..., "errorType": ...}): keep the message."""
    if not cause:
        return cause
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return cause
    return str(parsed.get("errorMessage", cause)) if isinstance(parsed, dict) else cause


# --- which execution ------------------------------------------------------------------------------------------------


def executions(aws: Aws, machine_arn: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The state machine's executions, newest first."""
    found: list[dict[str, Any]] = []
    pages: Any = aws.sfn().get_paginator("list_executions").paginate(stateMachineArn=machine_arn)
    for page in pages:
        found += page["executions"]
        if limit is not None and len(found) >= limit:
            break
    found.sort(key=lambda e: e["startDate"], reverse=True)
    return found[:limit] if limit is not None else found


def find_execution(aws: Aws, machine_arn: str, reference: str | None) -> str:
    """An execution ARN as given; no reference: the newest execution; a name or key: the newest execution whose
    input's recoveryPoint is that AMI's archived object."""
    if reference and reference.startswith("arn:"):
        return reference
    listed = executions(aws, machine_arn)
    if not listed:
        raise CliError("the state machine has no executions yet: start one with `glacier-ami-restore restore NAME`")
    if reference is None:
        return str(listed[0]["executionArn"])
    by_name = next((e for e in listed if e["name"] == reference), None)
    if by_name is not None:
        return str(by_name["executionArn"])
    keys = {reference, f"{reference}.bin"}
    targets = {(a.bucket, a.key) for a in list_archive(aws) if reference in (a.name, a.image_id) or a.key in keys}
    for execution in listed:
        request = json.loads(aws.sfn().describe_execution(executionArn=execution["executionArn"]).get("input") or "{}")
        if isinstance(request, dict) and (
            (request.get("recoveryPointBucket"), request.get("recoveryPoint")) in targets or request.get("recoveryPoint") in keys
        ):
            return str(execution["executionArn"])
    raise CliError(f"no restore of '{reference}' found: run `glacier-ami-restore history` to see the restores")
