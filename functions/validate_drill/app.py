"""Validate Drill: refuse a bad drill input, or a second drill while one runs, before anything touches AWS.

Event:  {"input": $$.Execution.Input, "execution": $$.Execution.Id, "executionName": $$.Execution.Name,
         "startTime": $$.Execution.StartTime, "stateMachine": $$.StateMachine.Id}
        The input, by hand: {"amiName": "<glob>", "selection": "newest" | "random", "count": N,
        "tier": "Bulk" | "Standard" | "Expedited", "bootCheck": true | false}, each optional; DrillScheduleRule sends
        {"scheduled": true}.
Result: {"amiName": "*", "selection": "random", "count": 1, "tier": "Bulk", "bootCheck": false, "boot": false,
         "scheduled": false, "execution", "executionName", "startTime"}; "boot" is true only when bootCheck is asked and
         the stack has a DrillSubnetId (no subnet, no boot: the report says so).
Raises InvalidInputError naming every field to fix, DrillAlreadyRunningError when another drill of this state machine
is RUNNING and started before this one (one drill at a time: ties go to the smaller name, so one of two drills
started together always runs).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:  # type stubs for mypy only; the Lambda runtime has plain boto3
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger()

sfn = boto3.client("stepfunctions")

DRILL_FIELDS = ("amiName", "selection", "count", "tier", "bootCheck", "scheduled")
SELECTIONS = ("newest", "random")
DRILL_TIERS = ("Bulk", "Standard", "Expedited")
MAX_DRILL_COUNT = 10  # archives per drill: each is a full restore
MAX_GLOB_LENGTH = 128
DEFAULTS = {"amiName": "*", "selection": "random", "count": 1, "tier": "Bulk", "bootCheck": False, "scheduled": False}


class InvalidInputError(Exception):
    """The drill input cannot be used; the message says what to fix."""


class DrillAlreadyRunningError(Exception):
    """Another drill is running: one drill at a time."""


def validate_drill(payload: Any) -> tuple[dict[str, Any], list[str]]:
    """The drill request with its defaults, and every problem (empty when valid)."""
    if not isinstance(payload, dict):
        return {}, [f"the input must be a JSON object with any of the fields {', '.join(DRILL_FIELDS)}"]
    problems = [f"{key}: unknown field (allowed: {', '.join(DRILL_FIELDS)})" for key in payload if key not in DRILL_FIELDS]
    request = {**DEFAULTS, **{k: v for k, v in payload.items() if k in DRILL_FIELDS}}
    glob = request["amiName"]
    if not isinstance(glob, str) or not 1 <= len(glob) <= MAX_GLOB_LENGTH:
        problems.append(f"amiName: a glob of 1-{MAX_GLOB_LENGTH} characters (* and ? as wildcards), got {glob!r}")
    if request["selection"] not in SELECTIONS:
        problems.append(f"selection: one of {', '.join(SELECTIONS)}, got {request['selection']!r}")
    count = request["count"]
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_DRILL_COUNT:
        problems.append(f"count: a whole number from 1 to {MAX_DRILL_COUNT}, got {count!r}")
    if request["tier"] not in DRILL_TIERS:
        problems.append(f"tier: one of {', '.join(DRILL_TIERS)}, got {request['tier']!r}")
    for flag in ("bootCheck", "scheduled"):
        if not isinstance(request[flag], bool):
            problems.append(f"{flag}: true or false, got {request[flag]!r}")
    return request, problems


def running_before(sfn_client: SFNClient, state_machine_arn: str, execution_arn: str, start_time: datetime) -> str | None:
    """Another RUNNING drill that started before this one (or at the same moment, with a smaller ARN), if any."""
    pages = sfn_client.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn, statusFilter="RUNNING")
    for page in pages:
        for other in page["executions"]:
            if other["executionArn"] != execution_arn and (other["startDate"], other["executionArn"]) < (start_time, execution_arn):
                return str(other["executionArn"])
    return None


def check_drill(sfn_client: SFNClient, event: dict[str, Any], subnet_id: str) -> dict[str, Any]:
    request, problems = validate_drill(event["input"])
    if problems:
        raise InvalidInputError("; ".join(problems))
    start = datetime.fromisoformat(event["startTime"].replace("Z", "+00:00"))
    other = running_before(sfn_client, event["stateMachine"], event["execution"], start)
    if other is not None:
        raise DrillAlreadyRunningError(f"another drill is running ({other}): one drill at a time; start this one when it ends")
    return {
        **request,
        "boot": bool(request["bootCheck"] and subnet_id),
        "execution": event["execution"],
        "executionName": event["executionName"],
        "startTime": event["startTime"],
    }


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return check_drill(sfn, event, os.environ.get("DRILL_SUBNET_ID", ""))
