"""Restore drills (docs/drills.md) from the command line: start one, follow it, and read past drills back.

Everything is read from AWS, never estimated: the drill state machine (the stack's output DrillStateMachineArn) and its
executions (StartExecution, DescribeExecution, GetExecutionHistory, ListExecutions), the reports Record Drill Results
keeps in DrillResultsTable (output DrillResultsTableName; DynamoDB Query), and each drill restore's own progress
(glacier_ami_restore.workflow.read_progress).
"""

from __future__ import annotations

import json
import secrets
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from glacier_ami_restore.aws import Aws, CliError
from glacier_ami_restore.workflow import Progress, read_progress, readable_cause, stack_outputs, stamp

MACHINE_OUTPUT, TABLE_OUTPUT = "DrillStateMachineArn", "DrillResultsTableName"
# Validate Drill's rules (functions/validate_drill: MAX_DRILL_COUNT, MAX_GLOB_LENGTH; tests/static checks they agree)
MAX_DRILL_COUNT = 10
MAX_GLOB_LENGTH = 128
TRENDED = 8  # restore times shown per class and tier, oldest to newest


def drill_outputs(aws: Aws, stack: str) -> tuple[str, str]:
    """(the drill state machine's ARN, the results table's name) from the stack's outputs."""
    outputs = stack_outputs(aws, stack)
    if MACHINE_OUTPUT not in outputs or TABLE_OUTPUT not in outputs:
        raise CliError(f"stack '{stack}' has no output {MACHINE_OUTPUT}: it predates restore drills; update it (`sam deploy`)")
    return outputs[MACHINE_OUTPUT], outputs[TABLE_OUTPUT]


def glob_problem(glob: str) -> str | None:
    if not 1 <= len(glob) <= MAX_GLOB_LENGTH:
        return f"--name must be a glob of 1-{MAX_GLOB_LENGTH} characters (* and ? as wildcards)"
    return None


def payload(name: str, selection: str, count: int, tier: str, boot: bool) -> dict[str, Any]:
    """Exactly the fields Validate Drill accepts (every one given: the drill's input says what was asked)."""
    return {"amiName": name, "selection": selection, "count": count, "tier": tier, "bootCheck": boot}


def start(aws: Aws, machine_arn: str, body: dict[str, Any]) -> str:
    """A new drill: its name says the command line started it, and when (service time), with a random suffix."""
    name = f"cli-{aws.now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    started: str = aws.sfn().start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(body))["executionArn"]
    return started


# --- one drill ------------------------------------------------------------------------------------------------------


@dataclass
class Drill:
    arn: str
    name: str
    status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    state: str | None
    started: datetime
    stopped: datetime | None
    request: dict[str, Any]
    error: str | None = None
    cause: str | None = None
    archives: list[dict[str, Any]] = field(default_factory=list)  # Choose Archives' items
    restores: list[Progress] = field(default_factory=list)  # each drilled archive's restore, read now
    report: dict[str, Any] | None = None  # Record Drill Results' report (DrillResultsTable)

    def as_json(self) -> dict[str, Any]:
        names = {item["child"]: item["amiName"] for item in self.archives}
        return {
            "executionArn": self.arn,
            "name": self.name,
            "status": self.status,
            "state": self.state,
            "startedAt": stamp(self.started),
            "stoppedAt": stamp(self.stopped) if self.stopped else None,
            "request": self.request,
            "error": self.error,
            "cause": self.cause,
            "restores": [{**p.as_json(), "amiName": names.get(p.arn)} for p in self.restores],
            "report": self.report,
        }


def history_events(aws: Aws, arn: str) -> list[dict[str, Any]]:
    sfn = aws.sfn()
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events += [dict(e) for e in page["events"]]
    return sorted(events, key=lambda e: int(e["id"]))


def chosen(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Choose Archives' items, from the history (the state's output keeps them under "archives")."""
    for event in events:
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == "Choose Archives":
            output = json.loads(details.get("output") or "{}")
            items = (output.get("archives") or {}).get("items") if isinstance(output, dict) else None
            return list(items) if isinstance(items, list) else []
    return []


def current_state(events: list[dict[str, Any]]) -> str | None:
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    return entered[-1] if entered else None


def read_drill(aws: Aws, arn: str, table: str) -> Drill:
    sfn = aws.sfn()
    try:
        described = sfn.describe_execution(executionArn=arn)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
            raise CliError(f"no drill {arn}: run `glacier-ami-restore drill history` to see the drills") from error
        raise
    events = history_events(aws, arn)
    request = json.loads(described.get("input") or "{}")
    drill = Drill(
        arn=arn,
        name=described["name"],
        status=described["status"],
        state=current_state(events),
        started=described["startDate"].astimezone(UTC),
        stopped=described["stopDate"].astimezone(UTC) if described.get("stopDate") else None,
        request=request if isinstance(request, dict) else {},
        error=described.get("error"),
        cause=readable_cause(described.get("cause")),
        archives=chosen(events),
    )
    drill.restores = [read_progress(aws, item["child"]) for item in drill.archives if restore_started(aws, item["child"])]
    drill.report = report_of(aws, table, drill)
    return drill


def restore_started(aws: Aws, arn: str) -> bool:
    try:
        aws.sfn().describe_execution(executionArn=arn)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return False  # the drill has not reached this archive (or ended before it)
        raise
    return True


def report_of(aws: Aws, table: str, drill: Drill) -> dict[str, Any] | None:
    """The report Record Drill Results kept: its id is "<the drill's start time>#<its name>"."""
    found = aws.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="#kind = :kind AND begins_with(#id, :day)",
        ExpressionAttributeNames={"#kind": "kind", "#id": "id"},
        ExpressionAttributeValues={":kind": {"S": "drill"}, ":day": {"S": f"{drill.started:%Y-%m-%d}"}},
    )["Items"]
    for item in found:
        if item["id"]["S"].endswith(f"#{drill.name}"):
            report: dict[str, Any] = json.loads(item["report"]["S"])
            if report.get("drill") == drill.arn:
                return report
    return None


def newest(aws: Aws, machine_arn: str, reference: str | None) -> str:
    """An execution ARN as given; a drill's name; else the newest drill."""
    if reference and reference.startswith("arn:"):
        return reference
    if reference:
        return f"{machine_arn.replace(':stateMachine:', ':execution:', 1)}:{reference}"
    listed = aws.sfn().list_executions(stateMachineArn=machine_arn, maxResults=100)["executions"]
    if not listed:
        raise CliError("no drill has run yet: start one with `glacier-ami-restore drill run`")
    return str(max(listed, key=lambda e: e["startDate"])["executionArn"])


# --- past drills ----------------------------------------------------------------------------------------------------


def reports(aws: Aws, table: str, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` reports DrillResultsTable keeps, newest first."""
    found: list[dict[str, Any]] = []
    query: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#kind = :kind",
        "ExpressionAttributeNames": {"#kind": "kind"},
        "ExpressionAttributeValues": {":kind": {"S": "drill"}},
        "ScanIndexForward": False,
    }
    while len(found) < limit:
        page = aws.client("dynamodb").query(**query, Limit=limit - len(found))
        found += [json.loads(item["report"]["S"]) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return found


def past_drills(aws: Aws, machine_arn: str, table: str, limit: int) -> list[dict[str, Any]]:
    """One row per drill, newest first: its report when Record Drill Results kept one; otherwise (a drill refused,
    stopped by hand, timed out or running) what its execution says."""
    kept = {r["drill"]: r for r in reports(aws, table, limit)}
    listed: list[dict[str, Any]] = []
    for page in aws.sfn().get_paginator("list_executions").paginate(stateMachineArn=machine_arn):
        listed += [dict(e) for e in page["executions"]]
        if len(listed) >= limit:
            break
    rows = []
    for execution in sorted(listed, key=lambda e: e["startDate"], reverse=True)[:limit]:
        report = kept.get(execution["executionArn"])
        row = {
            "executionArn": execution["executionArn"],
            "name": execution["name"],
            "status": execution["status"],
            "startedAt": stamp(execution["startDate"]),
            "stoppedAt": stamp(execution["stopDate"]) if execution.get("stopDate") else None,
            "passed": report["passed"] if report else None,
            "error": report["error"] if report else None,
            "archives": [archive_row(a) for a in report["archives"]] if report else [],
            "costUsd": report["costUsd"] if report else None,
            "clean": (report.get("cleanup") or {}).get("clean") if report else None,
        }
        if report is None and execution["status"] == "FAILED":
            row["error"] = aws.sfn().describe_execution(executionArn=execution["executionArn"]).get("error")
        rows.append(row)
    return rows


def archive_row(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "amiName": result["amiName"],
        "recoveryPoint": result["recoveryPoint"],
        "storageClass": result["storageClass"],
        "tier": result["tier"],
        "passed": result["passed"],
        "hours": result["hours"],
        "imageId": result.get("imageId"),
    }


def trend(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per storage class and tier, the measured restore times (child start to image available, in hours) of the
    drilled archives that got that far, oldest first: count, min, median, max, and the last TRENDED of them."""
    times: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for row in rows:
        for archive in row["archives"]:
            total = archive["hours"].get("total")
            if total is not None:
                times.setdefault((archive["storageClass"], archive["tier"]), []).append((row["startedAt"], float(total)))
    found = []
    for (storage_class, tier), measured in sorted(times.items()):
        ordered = [hours for _, hours in sorted(measured)]
        found.append({
            "storageClass": storage_class, "tier": tier, "restores": len(ordered), "minHours": min(ordered),
            "medianHours": round(statistics.median(ordered), 2), "maxHours": max(ordered), "lastHours": ordered[-TRENDED:],
        })  # fmt: skip
    return found


def readable_report_cause(cause: str | None) -> str | None:
    """A report's cause is "<the state that failed>: <its cause>", a Lambda error's cause being JSON: keep its message."""
    if not cause or ": " not in cause:
        return cause
    step, rest = cause.split(": ", 1)
    return f"{step}: {readable_cause(rest)}"
