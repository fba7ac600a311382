"""Least privilege for batches, proven as tests/e2e/test_least_privilege.py proves the rest: with IAM enforced (the
functions as the stack's own role, the state machine as its role), batch scenarios pass with the policies as
declared, and each action of the batch policies, removed in turn, changes a scenario. The stack lists two archive
buckets (ArchiveBucketName "my-ami-archive,second-vault"): the functions may read exactly those."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.adapters import awslambda
from emulator.cloudformation import Stack
from emulator.facade import Emulator
from tests.support import BUCKET

pytestmark = pytest.mark.long  # run first (tests/conftest.py)

BATCH_POLICIES = ("glacier-ami-restore-batch-functions", "glacier-ami-restore-batches")
SECOND, THIRD = "second-vault", "third-vault"
MISSING = "ami-00000000000000000.bin"
_names = itertools.count()


@pytest.fixture(scope="module")
def enforced() -> Iterator[tuple[Emulator, Stack]]:
    with Emulator() as aws:
        for bucket in (BUCKET, SECOND, THIRD):
            aws.client("s3").create_bucket(Bucket=bucket)
        stack = aws.deploy(ArchiveBucketName=f"{BUCKET},{SECOND}")
        aws.enforce_iam(stack)
        yield aws, stack


def readable(aws: Emulator, prefix: str, bucket: str = BUCKET) -> str:
    """A fresh readable AMI (Glacier Instant Retrieval, 8 GB, 5 min image restore) with a name no other scenario uses."""
    key = aws.archive_ami(f"{prefix}-{next(_names)}", bucket, "GLACIER_IR", size_gb=8)
    aws.world.image_seconds[key] = 300
    return key


def children(aws: Emulator, stack: Stack, parent: str) -> list[str]:
    sfn = aws.client("stepfunctions")
    found = []
    for item in sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]:
        described = sfn.describe_execution(executionArn=item["executionArn"])
        if json.loads(described["input"]).get("AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID") == parent:
            found.append(described["status"])
    return sorted(found)


def keys_batch(aws: Emulator, stack: Stack) -> tuple[Any, ...]:
    """A missing key (the cheapest child: it fails at Check Storage Class): the batch FAILED with one summary; the
    batch's own view of its child (its child task failed or not) counts too. The selector scenario restores one."""
    run = aws.run(stack, {"recoveryPoints": [MISSING], "recoveryPointBucket": BUCKET})
    return run.status, run.error, [e["subject"] for e in run.emails], children(aws, stack, run.arn), run.count("Note The Failure")


def selector_batch(aws: Emulator, stack: Stack) -> tuple[Any, ...]:
    name = f"lp-sel-{next(_names)}"
    key = aws.archive_ami(name, BUCKET, "GLACIER_IR", size_gb=8)
    aws.world.image_seconds[key] = 300
    run = aws.run(stack, {"recoveryPoints": {"amiName": name}, "recoveryPointBucket": BUCKET})
    return run.status, run.error, run.output.get("restored"), run.count("Note The Failure")


def stopped_batch(aws: Emulator, stack: Stack) -> list[str]:
    """A batch stopped while its AMI's restore is in progress: Step Functions stops the child execution too."""
    key = aws.archive_ami(f"lp-stop-{next(_names)}", BUCKET, "GLACIER", size_gb=8)
    aws.world.restore_seconds[key] = 4 * 3600
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + 20
    with aws.clock.hold():
        arn = aws.start(stack, {"recoveryPoints": [key], "recoveryPointBucket": BUCKET})
        while not children(aws, stack, arn):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        sfn.stop_execution(executionArn=arn)
    aws.wait(stack, arn)
    statuses = children(aws, stack, arn)
    for item in sfn.list_executions(stateMachineArn=stack.state_machine_arn, statusFilter="RUNNING")["executions"]:
        sfn.stop_execution(executionArn=item["executionArn"])  # a child left running must not outlive its scenario
    return statuses


SCENARIOS = {"keys": keys_batch, "selector": selector_batch, "stop": stopped_batch}
BASELINE = {
    "keys": (
        "FAILED",
        "BatchRestoreFailedError",
        ["AMI batch restore: 0 of 1 restored, 1 failed in us-east-1"],
        ["FAILED"],
        1,
    ),
    "selector": ("SUCCEEDED", None, 1, 0),
    "stop": ["ABORTED"],
}


def outcomes(aws: Emulator, stack: Stack, which: tuple[str, ...] = tuple(SCENARIOS)) -> dict[str, Any]:
    return {name: SCENARIOS[name](aws, stack) for name in which}


def test_declared_batch_policies_are_enough(enforced: tuple[Emulator, Stack]) -> None:
    aws, stack = enforced
    assert outcomes(aws, stack) == BASELINE


# Which scenario shows each grant is needed (the others would change too; one is enough and keeps this cheap).
NEEDED_BY = {
    ("glacier-ami-restore-batch-functions", "states:DescribeExecution"): "keys",  # the summary reads each AMI's outcome
    ("glacier-ami-restore-batches", "lambda:InvokeFunction"): "keys",
    ("glacier-ami-restore-batches", "states:StartExecution"): "keys",
    ("glacier-ami-restore-batches", "states:DescribeExecution"): "selector",  # the child task reads its child's end
    ("glacier-ami-restore-batches", "states:StopExecution"): "stop",
    ("glacier-ami-restore-batches", "events:PutTargets"): "keys",
    ("glacier-ami-restore-batches", "events:PutRule"): "keys",
    ("glacier-ami-restore-batches", "events:DescribeRule"): "keys",
}


def batch_grants(aws: Emulator, stack: Stack) -> list[tuple[str, str, int, str]]:
    iam = aws.client("iam")
    found = []
    for role in (aws.function_role(stack).rsplit("/", 1)[1], stack.physical["RestoreStateMachineRole"]):
        for name in sorted(set(iam.list_role_policies(RoleName=role)["PolicyNames"]) & set(BATCH_POLICIES)):
            for index, statement in enumerate(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]["Statement"]):
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                found += [(role, name, index, action) for action in actions]
    return found


def test_every_batch_grant_is_needed(enforced: tuple[Emulator, Stack]) -> None:
    aws, stack = enforced
    iam = aws.client("iam")
    grants = batch_grants(aws, stack)
    assert sorted((name, action) for _, name, _, action in grants) == sorted(NEEDED_BY)
    unused = []
    for role, name, index, action in grants:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        reduced = json.loads(json.dumps(document))
        statement = reduced["Statement"][index]
        kept = [a for a in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]) if a != action]
        if kept:
            statement["Action"] = kept
        else:
            del reduced["Statement"][index]
        if reduced["Statement"]:
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(reduced))
        else:
            iam.delete_role_policy(RoleName=role, PolicyName=name)
        scenario = NEEDED_BY[(name, action)]
        try:
            if outcomes(aws, stack, (scenario,)) == {scenario: BASELINE[scenario]}:
                unused.append(action)
        finally:
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    assert unused == []


def test_each_batch_function_the_state_machine_may_invoke_is_needed(enforced: tuple[Emulator, Stack]) -> None:
    # Given the one statement granting lambda:InvokeFunction on Validate Batch, Resolve Selection, Plan Batch and Notify
    # Batch Summary / When each resource is removed in turn / Then the scenario that calls it changes
    aws, stack = enforced
    iam = aws.client("iam")
    role, name = stack.physical["RestoreStateMachineRole"], "glacier-ami-restore-batches"
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    (index,) = [i for i, s in enumerate(document["Statement"]) if s["Sid"] == "InvokeBatchFunctions"]
    for resource, scenario in zip(document["Statement"][index]["Resource"], ("keys", "selector", "keys", "keys"), strict=True):
        reduced = json.loads(json.dumps(document))
        reduced["Statement"][index]["Resource"] = [r for r in reduced["Statement"][index]["Resource"] if r != resource]
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(reduced))
        try:
            assert outcomes(aws, stack, (scenario,)) != {scenario: BASELINE[scenario]}, resource
        finally:
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))


def test_the_functions_may_read_exactly_the_listed_buckets(enforced: tuple[Emulator, Stack]) -> None:
    # Given the functions' role as the stack deploys it for ArchiveBucketName "my-ami-archive,second-vault"
    aws, stack = enforced
    document = stack.policies["glacier-ami-restore-FunctionRole"]["glacier-ami-restore-functions"]
    by_sid = {s["Sid"]: s["Resource"] for s in document["Statement"]}
    assert by_sid["ReadAndRestoreRecoveryPoints"] == [f"arn:*:s3:::{BUCKET}/*", f"arn:*:s3:::{SECOND}/*"]
    assert by_sid["TellMissingFromForbidden"] == [f"arn:*:s3:::{BUCKET}", f"arn:*:s3:::{SECOND}"]
    # Then, as that role, Check Storage Class reads an object of the second bucket, and is refused one of a third
    check = stack.functions["CheckStorageClassFunction"]
    request = {"restoreRequestTier": "Standard"}
    second = readable(aws, "lp-second", SECOND)
    third = aws.archive_ami(f"lp-third-{next(_names)}", THIRD, "GLACIER_IR", size_gb=8)
    found, errored = awslambda.invoke(aws, check, {"request": {**request, "recoveryPointBucket": SECOND, "recoveryPoint": second}})
    assert (errored, found["storageClass"]) == (False, "GLACIER_IR")
    found, errored = awslambda.invoke(aws, check, {"request": {**request, "recoveryPointBucket": THIRD, "recoveryPoint": third}})
    assert (errored, found["errorType"]) == (True, "RecoveryPointAccessDeniedError")


def test_a_second_listed_bucket_works_and_another_is_refused_saying_how_to_allow_it(enforced: tuple[Emulator, Stack]) -> None:
    # Given the stack listing two buckets / When a batch names an AMI of each / Then both are restored, as the role
    aws, stack = enforced
    items = [readable(aws, "lp-first"), {"recoveryPoint": readable(aws, "lp-second", SECOND), "recoveryPointBucket": SECOND}]
    run = aws.run(stack, {"recoveryPoints": items, "recoveryPointBucket": BUCKET})
    assert (run.status, run.output["restored"]) == ("SUCCEEDED", 2)
    # When one names a third bucket / Then Validate Batch refuses it before any side effect, saying how to allow it
    requests = aws.requests["s3.HeadObject"]
    refused = aws.run(stack, {"recoveryPoints": [readable(aws, "lp-third", THIRD)], "recoveryPointBucket": THIRD})
    assert (refused.status, refused.error, aws.requests["s3.HeadObject"]) == ("FAILED", "InvalidInputError", requests)
    assert (
        'recoveryPointBucket: "third-vault" is not a bucket this stack may read (ArchiveBucketName: my-ami-archive, second-vault): '
        "add it to ArchiveBucketName (comma-separated) and update the stack; the functions' code does not change"
    ) in json.loads(refused.cause or "{}")["errorMessage"]
    # The list reaches the functions as configuration only: one variable of Validate Input and of Validate Batch (and the
    # policy above)
    assert stack.functions["ValidateInputFunction"].environment["ALLOWED_BUCKET"] == f"{BUCKET},{SECOND}"
    assert stack.functions["ValidateBatchFunction"].environment["ALLOWED_BUCKET"] == f"{BUCKET},{SECOND}"
