"""Least privilege, proven: with IAM enforced, the handlers run as the stack's own functions' role (the default: no
LambdaExecutionRoleName) with exactly the policy template.yaml attaches, and the state machine invokes them as its
own role. The scenarios pass with the policies as
declared; then each granted action is removed in turn and some scenario changes, so every action is used."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.cloudformation import Stack
from emulator.facade import Emulator
from tests.e2e.test_least_privilege_batch import proven_by_batches
from tests.support import BUCKET, archive, event, until_entered

pytestmark = pytest.mark.long  # run first (tests/conftest.py)

# The state machine role's log delivery and X-Ray statements (the functions' role's X-Ray and log writes are proven:
# the emulated Lambda runtime writes with that role) serve its Logging and Tracing configuration: AWS uses
# them when it sets up log delivery and sends traces, which no execution does. Not provable by running scenarios.
NOT_EXERCISED = {"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
                 "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
                 "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}  # fmt: skip


@pytest.fixture(scope="module")
def enforced() -> Iterator[tuple[Emulator, Stack]]:
    with Emulator() as aws:
        aws.client("s3").create_bucket(Bucket=BUCKET)
        aws.send_bucket_events(BUCKET)
        stack = aws.deploy()
        aws.enforce_iam(stack)
        yield aws, stack


def outcomes(aws: Emulator, stack: Stack) -> dict[str, Any]:
    """What the operator sees in the scenarios that between them use every permission of a single restore: a restore
    that S3's and EC2's events resume, through the image-restore budget; a missing recovery point; a restore stopped
    by hand (reported from facts); and an event that Resume Waiting fails on three times."""
    return dict(scenarios(aws, stack))


def differs(aws: Emulator, stack: Stack) -> bool:
    """Whether any outcome differs from BASELINE, running the scenarios only up to the first that does."""
    return any(value != BASELINE[name] for name, value in scenarios(aws, stack))


def budget_answers(history: list[dict[str, Any]]) -> list[Any]:
    """What each pass through Wait For Image Budget was told (its token's output)."""
    exited = [e["stateExitedEventDetails"] for e in history if e.get("stateExitedEventDetails", {}).get("name") == "Wait For Image Budget"]
    return [json.loads(e["output"])["budget"] for e in exited]


def scenarios(aws: Emulator, stack: Stack) -> Iterator[tuple[str, Any]]:
    """The outcomes one after another; each scenario is finished (its fault used, its queue drained) before it yields."""
    aws.runtime_writes.clear()
    # (times and the events' delay pinned: drawn, they follow the AMI id, and so any request that draws an id first)
    key = archive(aws, "GLACIER", restore_hours=4, image_minutes=15)
    restored = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
    yield "restore", (restored.status, restored.error, len(restored.emails))
    yield "noticed", {k: restored.output.get(k) for k in ("copyNoticedBy", "imageNoticedBy", "bucketSendsEvents")}
    yield "budget", budget_answers(restored.history)
    missing = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": "ami-00000000000000000.bin"})
    yield "missing", (missing.status, missing.error, len(missing.emails))
    with aws.clock.hold():
        stopped = aws.start(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
        until_entered(aws, stopped, "Wait For Image")  # the copy is still readable: its image restore is running
        aws.client("stepfunctions").stop_execution(executionArn=stopped)
    aws.clock.advance(600)  # the end event's delivery
    kept = drained(aws, stack.attributes["FailedExecutionQueue"]["QueueUrl"])
    yield (
        "stopped",
        ([e["subject"].split(":")[0] for e in aws.emails(stack, stopped)], [json.loads(m)["execution"] for m in kept] == [stopped]),
    )
    aws.faults.lambda_error("ResumeWaitingFunction", "Unhandled", times=3)
    detail = json.dumps({"ImageId": "ami-0123456789abcdef0", "State": "available"})
    entry = {"Source": "aws.ec2", "DetailType": "EC2 AMI State Change", "Resources": [], "Detail": detail}
    aws.client("events").put_events(Entries=[entry])
    aws.clock.advance(600)  # delivery, and Lambda's two retries 1 and 2 min apart
    yield "unprocessed events kept", [json.loads(m)["detail"] for m in drained(aws, stack.outputs["UnprocessedEventQueueUrl"])]
    yield "lost runtime writes", sorted({action for _, action, allowed in aws.runtime_writes if not allowed})


def drained(aws: Emulator, queue: str) -> list[str]:
    """The bodies of the queue's messages, deleted once read (each scenario starts with it empty)."""
    kept = aws.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    for message in kept:
        aws.client("sqs").delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return [m["Body"] for m in kept]


BASELINE = {
    "restore": ("SUCCEEDED", None, 1),
    "noticed": {"copyNoticedBy": "event", "imageNoticedBy": "event", "bucketSendsEvents": True},
    "budget": [{"admitted": True, "heldBy": "queue"}],
    "missing": ("FAILED", "RecoveryPointNotFoundError", 1),
    # stopped while its image restore ran: Report Ended Execution tells it, by email and in its queue
    "stopped": (["AMI restore ended ABORTED"], True),
    "unprocessed events kept": [{"ImageId": "ami-0123456789abcdef0", "State": "available"}],
    "lost runtime writes": [],
}


DRILLS = "glacier-ami-restore-drills"


def grants(aws: Emulator, stack: Stack) -> list[tuple[str, str, int, str]]:
    """(role, policy name, statement index, action) for every action the template grants the functions' role and the
    restore state machine's (but what only batches use: tests/e2e/test_least_privilege_batch.py proves those)."""
    iam = aws.client("iam")
    found = []
    for role in (function_role(aws, stack), stack.physical["RestoreStateMachineRole"]):
        for name in sorted(iam.list_role_policies(RoleName=role)["PolicyNames"]):
            document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            for index, statement in enumerate(document["Statement"]):
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if name != DRILLS:  # what only drills use: tests/e2e/test_least_privilege_drills.py
                    found += [(role, name, index, action) for action in actions if not proven_by_batches(name, statement)]
    return found


def function_role(aws: Emulator, stack: Stack) -> str:
    """The name of the role the functions run as (the role Lambda answered when it created them)."""
    return aws.function_role(stack).rsplit("/", 1)[1]


def test_the_functions_run_as_the_stacks_own_role(enforced: tuple[Emulator, Stack]) -> None:
    aws, stack = enforced
    assert function_role(aws, stack) == stack.physical["FunctionRole"] == "glacier-ami-restore-FunctionRole"
    trust = aws.client("iam").get_role(RoleName="glacier-ami-restore-FunctionRole")["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]
    policies = sorted(stack.policies["glacier-ami-restore-FunctionRole"])
    assert policies == ["glacier-ami-restore-drills", "glacier-ami-restore-executions", "glacier-ami-restore-functions"]


def test_declared_policies_are_enough(enforced: tuple[Emulator, Stack]) -> None:
    aws, stack = enforced
    assert outcomes(aws, stack) == BASELINE


def exercised(aws: Emulator, stack: Stack) -> list[tuple[str, str, int, str]]:
    functions_role = function_role(aws, stack)
    return [g for g in grants(aws, stack) if g[0] == functions_role or g[3] not in NOT_EXERCISED]


def test_the_template_grants_42_actions_the_scenarios_exercise(enforced: tuple[Emulator, Stack]) -> None:
    aws, stack = enforced
    # 31 for the functions' role (but the two only batches use), 11 lambda:InvokeFunction grants for the restore state
    # machine's (one per function a single restore runs)
    roles = [role for role, *_ in exercised(aws, stack)]
    assert (roles.count(function_role(aws, stack)), roles.count(stack.physical["RestoreStateMachineRole"])) == (31, 11)


@pytest.mark.parametrize("half", [0, 1])  # two halves, so that the two test workers share the work
def test_every_granted_action_is_needed(enforced: tuple[Emulator, Stack], half: int) -> None:
    aws, stack = enforced
    iam = aws.client("iam")
    proven: list[str] = []
    unused: list[str] = []
    for role, name, index, action in exercised(aws, stack)[half::2]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        reduced = json.loads(json.dumps(document))
        statement = reduced["Statement"][index]
        statement["Action"] = [
            a for a in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]) if a != action
        ]
        if not statement["Action"]:
            del reduced["Statement"][index]
        if reduced["Statement"]:
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(reduced))
        else:
            iam.delete_role_policy(RoleName=role, PolicyName=name)
        try:
            (proven if differs(aws, stack) else unused).append(action)
        finally:
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    assert (unused, len(proven)) == ([], 21)
