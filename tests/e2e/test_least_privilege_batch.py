"""Least privilege for batches, proven as tests/e2e/test_least_privilege.py proves the rest: with IAM enforced (the
functions as the stack's own role, each state machine as its own role), batch scenarios pass with the policies as
declared, and each grant only batches use, removed in turn, changes a scenario. The stack lists two archive buckets
(ArchiveBucketName "my-ami-archive,second-vault"): the functions may read exactly those. Every batch starts as the
console user starts it: on the restore state machine, which hands it over to the batch state machine."""

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
from tests.support import BUCKET, EVENT_DELAY, archive, until_entered

pytestmark = pytest.mark.long  # run first (tests/conftest.py)

SECOND, THIRD = "second-vault", "third-vault"
MISSING = "ami-00000000000000000.bin"
_names = itertools.count()
# The functions' grants only batches use (the rest: tests/e2e/test_least_privilege.py), and the restore state machine's
# policy for handing a batch over
FUNCTION_GRANTS = {"glacier-ami-restore-executions": ("FindTheChildrenOfAnEndedBatch", "WakeWaitingBatches")}
HAND_OVER = "glacier-ami-restore-hand-over-batches"
# The batch state machine role's log delivery and X-Ray statements serve its Logging and Tracing configuration, which
# no execution uses (as for the restore state machine's)
NOT_EXERCISED = ("DeliverLogs", "WriteTraces")


def proven_by_batches(policy: str, statement: dict[str, Any]) -> bool:
    """Is this statement of the functions' or the restore state machine's role proven here (used by batches only)?"""
    return policy == HAND_OVER or statement.get("Sid") in FUNCTION_GRANTS.get(policy, ())


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


def batch_of(stack: Stack, name: str) -> str:
    """The batch execution the restore state machine's execution `name` handed its batch to (it keeps the name)."""
    return f"{stack.attributes['BatchRestoreStateMachine']['Arn'].replace(':stateMachine:', ':execution:')}:{name}"


def children(aws: Emulator, stack: Stack, batch: str) -> list[str]:
    sfn = aws.client("stepfunctions")
    found = []
    for item in sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]:
        described = sfn.describe_execution(executionArn=item["executionArn"])
        if json.loads(described["input"]).get("AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID") == batch:
            found.append(described["status"])
    return sorted(found)


def subjects(aws: Emulator, stack: Stack, name: str) -> list[str]:
    return [e["subject"] for e in aws.emails(stack) if name in e["message"]]


def keys_batch(aws: Emulator, stack: Stack) -> tuple[Any, ...]:
    """An archived AMI whose copy S3 restores in 1 h, and a missing key: the AMI's child starts when S3's event wakes
    the batch's wait for the copy, and restores it; the missing key starts none; one summary."""
    name = f"lp-keys-{next(_names)}"
    key = archive(aws, "GLACIER", restore_hours=1, image_minutes=5, name=name)
    run = aws.run(stack, {"recoveryPoints": [key, MISSING], "recoveryPointBucket": BUCKET}, name=name)
    sfn = aws.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    started = [sfn.describe_execution(executionArn=e["executionArn"])["startDate"] for e in listed if e["name"].startswith(f"{name}-")]
    waited = [(at - run.started).total_seconds() for at in started]
    return run.status, run.error, subjects(aws, stack, name), children(aws, stack, batch_of(stack, name)), waited


def selector_batch(aws: Emulator, stack: Stack) -> tuple[Any, ...]:
    name = f"lp-sel-{next(_names)}"
    key = aws.archive_ami(name, BUCKET, "GLACIER_IR", size_gb=8)
    aws.world.image_seconds[key] = 300
    run = aws.run(stack, {"recoveryPoints": {"amiName": name}, "recoveryPointBucket": BUCKET}, name=name)
    return run.status, run.error, subjects(aws, stack, name)


def refused_batch(aws: Emulator, stack: Stack) -> tuple[Any, ...]:
    """A batch whose only key does not exist: refused before any side effect, in one email."""
    name = f"lp-refused-{next(_names)}"
    run = aws.run(stack, {"recoveryPoints": [MISSING], "recoveryPointBucket": BUCKET}, name=name)
    return run.status, run.error, subjects(aws, stack, name)


def stopped_batch(aws: Emulator, stack: Stack) -> tuple[Any, ...]:
    """A batch stopped by hand while its AMI's image restore runs: Step Functions stops the batch and its child; the
    batch's end is reported from facts."""
    name = f"lp-stop-{next(_names)}"
    with aws.clock.hold():
        arn = aws.start(stack, {"recoveryPoints": [readable(aws, "lp-stop")], "recoveryPointBucket": BUCKET}, name=name)
        until_entered(aws, batch_of(stack, name), "Restore One AMI")
        # the state is entered before its child execution starts: under load a stop could fall in between
        deadline = time.monotonic() + 20
        while not children(aws, stack, batch_of(stack, name)):
            assert time.monotonic() < deadline, "the batch's child never started within 20 real seconds"
            time.sleep(0.01)
        aws.client("stepfunctions").stop_execution(executionArn=arn)
    aws.wait(stack, arn)
    aws.clock.advance(600)  # the end events' delivery
    return children(aws, stack, batch_of(stack, name)), [s.removesuffix(f" ({name})") for s in subjects(aws, stack, name)]


SCENARIOS = {"keys": keys_batch, "selector": selector_batch, "refused": refused_batch, "stop": stopped_batch}
BASELINE = {
    # (the copy is readable at 1 h, S3's event reaches the stack EVENT_DELAY later and starts the AMI's child)
    "keys": (
        "FAILED",
        "BatchRestoreFailedError",
        ["AMI batch restore: 1 of 2 restored, 1 failed in us-east-1"],
        ["SUCCEEDED"],
        [3600.0 + EVENT_DELAY],
    ),
    "selector": ("SUCCEEDED", None, ["AMI batch restore: the AMI is restored in us-east-1"]),
    "refused": ("FAILED", "RecoveryPointNotFoundError", ["AMI batch restore failed: RecoveryPointNotFoundError at Plan Batch"]),
    "stop": (["ABORTED"], ["AMI batch restore ended ABORTED: 0 of 1 AMI restored"]),
}


def outcomes(aws: Emulator, stack: Stack, which: tuple[str, ...] = tuple(SCENARIOS)) -> dict[str, Any]:
    return {name: SCENARIOS[name](aws, stack) for name in which}


def test_declared_batch_policies_are_enough(enforced: tuple[Emulator, Stack]) -> None:
    aws, stack = enforced
    assert outcomes(aws, stack) == BASELINE


def batch_grants(aws: Emulator, stack: Stack) -> list[tuple[str, str, int, str, str]]:
    """(role, policy, statement index, action, what it is for) of every grant only batches use: the functions' and
    the restore state machine's named above, and all of the batch state machine's but its logs and traces (a Lambda
    invoke grant is for the function it names)."""
    iam = aws.client("iam")
    functions: dict[str, str] = {stack.attributes[lid]["Arn"]: lid for lid in stack.functions}
    found = []
    roles = (
        aws.function_role(stack).rsplit("/", 1)[1],
        stack.physical["RestoreStateMachineRole"],
        stack.physical["BatchRestoreStateMachineRole"],
    )
    for role in roles:
        for name in sorted(iam.list_role_policies(RoleName=role)["PolicyNames"]):
            for index, statement in enumerate(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]["Statement"]):
                batch_role = role == stack.physical["BatchRestoreStateMachineRole"]
                if not (proven_by_batches(name, statement) or batch_role) or statement.get("Sid") in NOT_EXERCISED:
                    continue
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                # (SAM's LambdaInvokePolicy grants the function and its versions: <function ARN>*)
                what = statement.get("Sid") or "Invoke " + ", ".join(functions.get(str(r).removesuffix("*"), str(r)) for r in resources)
                found += [(role, name, index, action, what) for action in actions]
    return found


# Which scenario shows each grant is needed (others may change too; one is enough and keeps this cheap).
NEEDED_BY = {
    ("FindTheChildrenOfAnEndedBatch", "states:ListExecutions"): "stop",  # the report of a stopped batch finds its children
    ("WakeWaitingBatches", "states:SendTaskSuccess"): "keys",  # Resume Waiting wakes Wait For Copy on S3's event
    ("StartBatches", "states:StartExecution"): "keys",
    ("FollowAndStopBatches", "states:DescribeExecution"): "keys",
    ("FollowAndStopBatches", "states:StopExecution"): "stop",
    ("LearnWhenBatchesEnd", "events:PutTargets"): "keys",
    ("LearnWhenBatchesEnd", "events:PutRule"): "keys",
    ("LearnWhenBatchesEnd", "events:DescribeRule"): "keys",
    ("Invoke ValidateBatchFunction", "lambda:InvokeFunction"): "keys",
    ("Invoke ResolveSelectionFunction", "lambda:InvokeFunction"): "selector",
    ("Invoke PlanBatchFunction", "lambda:InvokeFunction"): "keys",
    ("Invoke WaitForFunction", "lambda:InvokeFunction"): "keys",
    ("Invoke NotifyBatchSummaryFunction", "lambda:InvokeFunction"): "keys",
    ("Invoke NotifyFailureFunction", "lambda:InvokeFunction"): "refused",
    ("StartChildExecutions", "states:StartExecution"): "keys",
    ("FollowAndStopChildExecutions", "states:DescribeExecution"): "keys",
    ("FollowAndStopChildExecutions", "states:StopExecution"): "stop",
    ("LearnWhenChildExecutionsEnd", "events:PutTargets"): "keys",
    ("LearnWhenChildExecutionsEnd", "events:PutRule"): "keys",
    ("LearnWhenChildExecutionsEnd", "events:DescribeRule"): "keys",
}


def test_every_batch_grant_is_needed(enforced: tuple[Emulator, Stack]) -> None:
    aws, stack = enforced
    iam = aws.client("iam")
    grants = batch_grants(aws, stack)
    assert sorted((what, action) for *_, action, what in grants) == sorted(NEEDED_BY)
    unused = []
    for role, name, index, action, what in grants:
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
        scenario = NEEDED_BY[(what, action)]
        try:
            if outcomes(aws, stack, (scenario,)) == {scenario: BASELINE[scenario]}:
                unused.append((what, action))
        finally:
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    assert unused == []


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
