"""Least privilege for the archive side, proven as tests/e2e/test_least_privilege_drills.py proves the drills': with IAM
enforced (the archive functions as ArchiveFunctionRole, Resume Waiting as the functions' role, the archive state machine
as its own role, EventBridge as ArchiveStartRole) archive scenarios pass with the policies as declared, and each grant
the archive side adds, removed in turn per action and resource, changes a scenario. EC2 is decided by the emulator's IAM
model (CreateStoreImageTask on the image it stores and EC2's reads of its snapshots with the caller's ebs:* permissions,
CreateTags with the request's tag keys as condition keys: emulator/world/ec2_authorization.py); EC2's writes of the
object with the caller's S3 permissions, and S3, DynamoDB, Step Functions, SNS, SQS, KMS and AWS Backup, by moto's
evaluation against the resource each request names (emulator/adapters/iam.py): the vault listed, the archive bucket,
the store budget's table, the archive state machine's executions."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.cloudformation import Stack
from emulator.facade import Emulator, Run
from tests.e2e.test_least_privilege_drills import listed, without
from tests.support import EVENT_DELAY, until_entered

pytestmark = pytest.mark.long  # run first (tests/conftest.py)

VAULT = "daily"
ARCHIVED_TAG = "glacier-ami-restore:archived-to"
ARCHIVE_FUNCTIONS = "glacier-ami-restore-archive-functions"
WAKE_ARCHIVE_RUNS = "glacier-ami-restore-wake-archive-runs"
# The archive state machine role's log delivery and X-Ray statements serve its Logging and Tracing configuration, which
# no execution uses (as for the other state machines')
NOT_EXERCISED = ("DeliverLogs", "WriteTraces")
_names = itertools.count()


@pytest.fixture(scope="module")
def enforced() -> Iterator[tuple[Emulator, Stack]]:
    with Emulator(seed=22) as aws:
        # Given a stack archiving vault "daily" and deleting each point once archived, with a store budget of 10 GB (one
        # 8 GiB point at a time), IAM enforced, and the world's timings pinned. The scenarios name their points; the daily
        # run (points older than 10 years) finds none, and stays cheap whatever the scenarios before it left.
        stack = aws.deploy(ArchiveVaultNames=VAULT, DeleteRecoveryPointAfterArchive="true", ImageStoreQuotaGb="10", ArchiveAfterDays="3650")
        aws.world.event_delay_seconds = EVENT_DELAY
        aws.world.backup_deleting_seconds = 0
        aws.clock.advance(300)  # the bucket's EventBridge notifications take effect (after S3's settling time)
        aws.enforce_iam(stack)
        yield aws, stack


def point(aws: Emulator, what: str) -> str:
    """A fresh 8 GiB EC2 recovery point of the vault, 40 days old (a run archives it when named); its ARN."""
    return aws.backup_ec2(VAULT, name=f"lp-{what}-{next(_names)}", size_gb=8, days_ago=40)


def archive_run(aws: Emulator, stack: Stack, payload: Any) -> Run:
    arn = aws.client("stepfunctions").start_execution(stateMachineArn=stack.physical["ArchiveStateMachine"], input=json.dumps(payload))
    return aws.wait(stack, arn["executionArn"], timeout=120)


def budget(run: Run) -> list[Any]:
    """What each pass through Wait For Store Budget was told (its token's output), or the error its Catch kept."""
    return exited(run, "Wait For Store Budget", "budget")


def woken(run: Run) -> list[Any]:
    """What ended each pass through Wait For Stored Object: S3's event (through Resume Waiting), its own look, its
    timeout (the next look), or the error its Catch kept."""
    ends = exited(run, "Wait For Stored Object", "stored")
    return [end.get("wokenBy") or end.get("noticedBy") or end.get("Error") for end in ends]


def exited(run: Run, state: str, key: str) -> list[Any]:
    """Each pass's result under `key`, the error its Catch kept, or "timed out" (a timeout into the next look, whose
    Catch keeps nothing)."""
    outputs = [json.loads(e["stateExitedEventDetails"]["output"]) for e in run.history
               if e.get("stateExitedEventDetails", {}).get("name") == state]  # fmt: skip
    return [output.get(key, output.get("error", "timed out")) for output in outputs]


def drained(aws: Emulator, queue: str) -> list[Any]:
    """The queue's messages (parsed), deleted once read (each scenario starts with it empty)."""
    sqs = aws.client("sqs")
    kept = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    for message in kept:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in kept]


def lost_writes(aws: Emulator) -> list[str]:
    """The log and trace writes the Lambda runtime could not make as the function's role (on AWS: lost, the run goes on)."""
    return sorted({action for _, action, allowed in aws.runtime_writes if not allowed})


def archived(aws: Emulator, stack: Stack) -> tuple[Any, ...]:
    """A run that stores a point, verifies its object, tags the point and deletes it: the whole path of one point."""
    aws.runtime_writes.clear()
    fresh = point(aws, "fresh")
    run = archive_run(aws, stack, {"recoveryPointArns": [fresh], "vaultName": VAULT})
    bucket, key = stack.physical["ArchiveStoreBucket"], f"{fresh.rsplit('/', 1)[1]}.bin"
    outcomes = [(p["taggedOn"], p["deletion"]["outcome"]) for p in run.output.get("archived", [])]
    try:
        tags = {t["Key"]: t["Value"] for t in aws.client("s3").get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
    except ClientError as error:
        tags = {"error": error.response["Error"]["Code"]}
    # facts from AWS: the object names its point; the point was tagged with its archive, then deleted (AWS Backup's record)
    gone = next((p for p in aws.backup.deleted if p.arn == fresh), None)
    facts = (tags.get("backup-recovery-point-arn") == fresh, gone.tags.get(ARCHIVED_TAG) == f"s3://{bucket}/{key}" if gone else None,
             fresh in aws.backup.points)  # fmt: skip
    subjects = [e["subject"] for e in aws.emails(stack, run.arn)]
    return run.status, run.error, outcomes, facts, subjects, budget(run), woken(run), lost_writes(aws)


def counted(aws: Emulator, stack: Stack) -> tuple[Any, ...]:
    """A run given a point an earlier run archived (its recovery point tagged so): counted, nothing stored again."""
    earlier = point(aws, "earlier")
    aws.client("backup").tag_resource(ResourceArn=earlier, Tags={ARCHIVED_TAG: "s3://an-earlier-run/ami-0.bin"})
    run = archive_run(aws, stack, {"recoveryPointArns": [earlier]})
    stored = [t.key for t in aws.ec2.store_tasks if t.image_id == earlier.rsplit("/", 1)[1]]
    return run.status, run.output.get("alreadyArchived"), len(run.output.get("archived", [])), stored


def tagged_on_image(aws: Emulator, stack: Stack) -> tuple[Any, ...]:
    """A run where AWS Backup refuses to tag (and list the tags of) an arn:aws:ec2 recovery point, as its API allows:
    the AMI carries the archived tag. (A legal hold keeps the point, and so its AMI, to be read.)"""
    aws.world.image_arn_tagging = "error"
    try:
        fresh = point(aws, "image")
        aws.backup.hold(fresh)
        run = archive_run(aws, stack, {"recoveryPointArns": [fresh]})
    finally:
        aws.world.image_arn_tagging = "tags"
    (image,) = aws.client("ec2").describe_images(ImageIds=[fresh.rsplit("/", 1)[1]])["Images"]
    tag = {t["Key"]: t["Value"] for t in image.get("Tags", [])}.get(ARCHIVED_TAG)
    where = f"s3://{stack.physical['ArchiveStoreBucket']}/{fresh.rsplit('/', 1)[1]}.bin"
    return run.status, run.error, [(p["taggedOn"], p["deletion"]["outcome"]) for p in run.output.get("archived", [])], tag == where


def stopped(aws: Emulator, stack: Stack) -> tuple[Any, ...]:
    """A run stopped by hand while EC2 stores its point: Report Ended Archive Run emails what AWS says of it, and keeps
    the message in FailedExecutionQueue."""
    held, arn = stop_while_storing(aws, stack)
    reports = aws.emails(stack, arn)
    lines = [line for report in reports for line in report["message"].splitlines() if line.startswith(f"- {held}")]
    image, bucket = held.rsplit("/", 1)[1], stack.physical["ArchiveStoreBucket"]
    facts = [re.sub(r"\(\d+ %\)", "(N %)", line.replace(held, "POINT").replace(image, "AMI").replace(bucket, "BUCKET")) for line in lines]
    kept = [m["execution"] == arn for m in drained(aws, stack.attributes["FailedExecutionQueue"]["QueueUrl"])]
    return [r["subject"].split(":")[0] for r in reports], facts, kept


def released(aws: Emulator, stack: Stack) -> str:
    """After a run stopped while EC2 stores its point, the next run's point is admitted at its first look (a lease, not
    a place in the queue): the stopped run's 8 GiB lease, within a 10 GB budget, is released as its run has ended."""
    stop_while_storing(aws, stack)
    sfn = aws.client("stepfunctions")
    with aws.clock.hold():
        following = sfn.start_execution(
            stateMachineArn=stack.physical["ArchiveStateMachine"], input=json.dumps({"recoveryPointArns": [point(aws, "next")]})
        )["executionArn"]
        admission = budget_entry(aws, stack, following)
        sfn.stop_execution(executionArn=following)  # (it has shown what it was told)
    aws.wait(stack, following)
    aws.clock.advance(60)  # its report
    return admission


def stop_while_storing(aws: Emulator, stack: Stack) -> tuple[str, str]:
    """(the point, the run): a run of one point stopped while it waits for EC2's store task; its end reported."""
    sfn = aws.client("stepfunctions")
    held = point(aws, "stopped")
    with aws.clock.hold():
        arn = sfn.start_execution(
            stateMachineArn=stack.physical["ArchiveStateMachine"],
            input=json.dumps({"recoveryPointArns": [held]}),
            name=f"stopped-{next(_names)}",
        )["executionArn"]
        until_entered(aws, arn, "Wait For Stored Object")
        sfn.stop_execution(executionArn=arn)
    aws.wait(stack, arn)
    aws.clock.advance(60)  # the end event's delivery (pinned), and the report
    return held, arn


def budget_entry(aws: Emulator, stack: Stack, execution: str) -> str:
    """What Wait For Store Budget's first look left the execution in the budget's table once its function returned (Step
    Functions' TaskSubmitted): "lease" (admitted) or "queue" (waiting). Read as the administrator, within 20 real
    seconds."""
    sfn, dynamodb, table = aws.client("stepfunctions"), aws.client("dynamodb"), stack.physical["StoreBudgetTable"]
    deadline = time.monotonic() + 20
    while not any(e["type"] == "TaskSubmitted" for e in sfn.get_execution_history(executionArn=execution)["events"]):
        assert time.monotonic() < deadline, f"{execution}'s Wait For Store Budget never returned within 20 real seconds"
        time.sleep(0.01)
    entries = dynamodb.scan(TableName=table)["Items"]
    return "".join(sorted({item["kind"]["S"] for item in entries if execution in json.dumps(item)}))


def scheduled(aws: Emulator, stack: Stack) -> list[Any]:
    """The daily run: at 06:00 UTC ArchiveScheduleRule's EventBridge target starts it, as ArchiveStartRole, with {}."""
    sfn, machine = aws.client("stepfunctions"), stack.physical["ArchiveStateMachine"]
    before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    now = aws.clock.now()
    six = now.replace(hour=6, minute=0, second=0, microsecond=0) + timedelta(days=1 if now.hour >= 6 else 0)
    aws.clock.advance((six - now).total_seconds() + 60)
    started = [e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"] if e["executionArn"] not in before]
    runs = [aws.wait(stack, arn) for arn in started]
    inputs = [json.loads(sfn.describe_execution(executionArn=arn)["input"]) for arn in started]
    return [(given, run.status, [e["subject"] for e in aws.emails(stack, run.arn)]) for given, run in zip(inputs, runs, strict=True)]


def unreported(aws: Emulator, stack: Stack) -> tuple[Any, ...]:
    """A run refused for its input (its own email says what to fix) whose end Report Ended Archive Run fails on three
    times: Lambda keeps the event in UnprocessedEventQueue, its dead-letter queue."""
    aws.faults.lambda_error("ReportEndedArchiveRunFunction", "Unhandled", times=3)
    run = archive_run(aws, stack, {"olderThanDays": "thirty"})
    aws.clock.advance(600)  # delivery, and Lambda's two retries 1 and 2 min apart
    kept = [m["detail"]["executionArn"] == run.arn for m in drained(aws, stack.outputs["UnprocessedEventQueueUrl"])]
    return run.status, run.error, kept


SCENARIOS = {
    "archive": archived,
    "counted": counted,
    "on image": tagged_on_image,
    "stopped": stopped,
    "released": released,
    "unreported": unreported,
    "scheduled": scheduled,
}
BASELINE: dict[str, Any] = {
    # stored (the object tagged with its point's ARN), the point tagged with its archive and deleted; one email; the
    # budget admitted it at once; S3's Object Created woke the wait, whose next look saw the task Completed
    "archive": (
        "SUCCEEDED",
        None,
        [("recovery-point", "deleted")],
        (True, True, False),
        ["AMI archive: 1 archived, 0 skipped, 0 failed"],
        [{"admitted": True, "heldBy": "queue"}],
        ["event", "check"],
        [],
    ),
    "counted": ("SUCCEEDED", 1, 0, []),
    "on image": ("SUCCEEDED", None, [("image", "refused")], True),
    "stopped": (
        ["AMI archive run ended ABORTED"],
        ["- POINT (AMI): EC2's store task into s3://BUCKET/AMI.bin is in progress (N %): the next run joins it"],
        [True],
    ),
    "released": "lease",
    "unreported": ("FAILED", "InvalidArchiveInputError", [True]),
    # (nothing is older than ArchiveAfterDays: the run archives nothing, and emails so)
    "scheduled": [({}, "SUCCEEDED", ["AMI archive: 0 archived, 0 skipped, 0 failed"])],
}


def outcomes(aws: Emulator, stack: Stack, which: tuple[str, ...] = tuple(SCENARIOS)) -> dict[str, Any]:
    return {name: SCENARIOS[name](aws, stack) for name in which}


def test_declared_archive_policies_are_enough(enforced: tuple[Emulator, Stack]) -> None:
    aws, stack = enforced
    # When every scenario runs with the policies as template.yaml declares them / Then each ends as the archive side is
    # meant to: stored, verified, tagged, deleted, counted, reported, released, kept, started on schedule
    assert outcomes(aws, stack) == BASELINE


def archive_grants(aws: Emulator, stack: Stack) -> list[tuple[str, str, int, str, str, str]]:
    """(role, policy, statement index, action, resource, what it is for) of every grant the archive side adds: each
    action on each resource of ArchiveFunctionPolicy, of the functions' role's WakeArchiveRunsPolicy, of ArchiveStartRole
    (EventBridge's) and of the archive state machine's role but its logs and traces (a Lambda invoke grant is for the
    function it names)."""
    iam = aws.client("iam")
    functions: dict[str, str] = {stack.attributes[lid]["Arn"]: lid for lid in stack.functions}
    machine_role = stack.physical["ArchiveStateMachineRole"]
    policies = [(stack.physical["ArchiveFunctionRole"], ARCHIVE_FUNCTIONS), (stack.physical["FunctionRole"], WAKE_ARCHIVE_RUNS),
                (stack.physical["ArchiveStartRole"], "start-archive-runs")]  # fmt: skip
    policies += [(machine_role, name) for name in sorted(iam.list_role_policies(RoleName=machine_role)["PolicyNames"])]
    found = []
    for role, name in policies:
        for index, statement in enumerate(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]["Statement"]):
            if role == machine_role and statement.get("Sid") in NOT_EXERCISED:
                continue
            resources = listed(statement["Resource"])
            # (SAM's LambdaInvokePolicy grants the function and its versions: <function ARN>*)
            what = statement.get("Sid") or "Invoke " + ", ".join(functions.get(r.removesuffix("*"), r) for r in resources)
            found += [(role, name, index, a, r, what) for a in listed(statement["Action"]) for r in resources]
    return found


def short(resource: str) -> str:
    """What a resource names: the bucket or its objects, the stack's queue by its logical name, its topic, else the type
    (arn:...::image/* -> image; "*" stays)."""
    if resource.startswith("arn:aws:s3:::"):
        return "objects" if resource.endswith("/*") else "bucket"
    if resource.startswith("arn:aws:sqs:"):
        return resource.rsplit("-", 1)[1]
    if resource.startswith("arn:aws:sns:"):
        return "topic"
    return re.split("[:/]", resource.split(":", 5)[5], maxsplit=1)[0] if resource.startswith("arn:") else resource


RUNTIME_WRITES = "archive, the runtime's writes"
# Which scenario shows each grant is needed (others may change too; one is enough and keeps this cheap).
NEEDED_BY = {
    ("ListRecoveryPoints", "backup:ListRecoveryPointsByBackupVault", "backup-vault"): "archive",  # Select Recovery Points
    ("ReadTagAndDeleteRecoveryPoints", "backup:DescribeRecoveryPoint", "image"): "archive",  # Delete Recovery Point: gone?
    ("ReadTagAndDeleteRecoveryPoints", "backup:ListTags", "image"): "counted",  # the earlier run's tag on the point
    ("ReadTagAndDeleteRecoveryPoints", "backup:TagResource", "image"): "archive",  # Mark Recovery Point Archived
    ("ReadTagAndDeleteRecoveryPoints", "backup:DeleteRecoveryPoint", "image"): "archive",
    ("ReadImagesAndStoreTasks", "ec2:DescribeImages", "*"): "archive",  # Select: what CreateStoreImageTask can store
    ("ReadImagesAndStoreTasks", "ec2:DescribeStoreImageTasks", "*"): "archive",  # Store Image: a task to join?
    ("StoreImages", "ec2:CreateStoreImageTask", "image"): "archive",
    ("TagArchivedImages", "ec2:CreateTags", "image"): "on image",
    ("ReadSnapshotsForTheStore", "ebs:ListSnapshotBlocks", "snapshot"): "archive",  # EC2 reads as the caller
    ("ReadSnapshotsForTheStore", "ebs:GetSnapshotBlock", "snapshot"): "archive",
    ("WriteAndVerifyArchives", "s3:PutObject", "objects"): "archive",  # EC2 writes as the caller
    ("WriteAndVerifyArchives", "s3:PutObjectTagging", "objects"): "archive",
    ("WriteAndVerifyArchives", "s3:AbortMultipartUpload", "objects"): "archive",
    ("WriteAndVerifyArchives", "s3:GetObject", "objects"): "archive",  # HeadObject: Store Image, Verify Archive
    ("WriteAndVerifyArchives", "s3:GetObjectTagging", "objects"): "archive",  # Verify Archive
    ("TellMissingFromForbidden", "s3:ListBucket", "bucket"): "archive",  # Store Image: no object yet (404, not 403)
    ("TakeAndReleaseTheStoreBudget", "dynamodb:GetItem", "table"): "archive",
    ("TakeAndReleaseTheStoreBudget", "dynamodb:PutItem", "table"): "archive",
    ("TakeAndReleaseTheStoreBudget", "dynamodb:UpdateItem", "table"): "archive",
    ("TakeAndReleaseTheStoreBudget", "dynamodb:Query", "table"): "archive",
    ("TakeAndReleaseTheStoreBudget", "dynamodb:DeleteItem", "table"): "archive",
    ("RegisterStoredObjectWaits", "dynamodb:PutItem", "table"): "archive",
    ("WakeAndFollowArchiveRuns", "states:SendTaskSuccess", "stateMachine"): "archive",  # the budget admits its own wait
    ("TellEndedArchiveRuns", "states:DescribeExecution", "execution"): "released",  # the stopped run's lease released
    ("TellEndedArchiveRuns", "states:GetExecutionHistory", "execution"): "stopped",  # what the stopped run selected
    ("EmailTheSummary", "sns:Publish", "topic"): "archive",
    ("KeepTheReportOfAnEndedRun", "sqs:SendMessage", "FailedExecutionQueue"): "stopped",
    ("KeepTheReportOfAnEndedRun", "sqs:SendMessage", "UnprocessedEventQueue"): "unreported",  # Lambda's dead-letter queue
    ("PublishToTheEncryptedTopic", "kms:GenerateDataKey", "key"): "archive",
    ("PublishToTheEncryptedTopic", "kms:Decrypt", "key"): "archive",
    # the Lambda runtime's writes as the function's role: removed together, each lost write is named apart
    ("WriteLogs", "logs:CreateLogStream", "log-group"): RUNTIME_WRITES,
    ("WriteLogs", "logs:PutLogEvents", "log-group"): RUNTIME_WRITES,
    ("WriteTraces", "xray:PutTraceSegments", "*"): RUNTIME_WRITES,
    ("WriteTraces", "xray:PutTelemetryRecords", "*"): RUNTIME_WRITES,
    ("WakeStoredObjectWaits", "states:SendTaskSuccess", "stateMachine"): "archive",  # Resume Waiting, on S3's event
    ("StartArchiveRuns", "states:StartExecution", "stateMachine"): "scheduled",  # EventBridge, as ArchiveStartRole
    **{
        (f"Invoke {f}Function", "lambda:InvokeFunction", "function"): "archive"
        for f in (
            "SelectRecoveryPoints",
            "WaitForStoreBudget",
            "StoreImage",
            "WaitForStoredObject",
            "ReleaseStoreBudget",
            "VerifyArchive",
            "MarkRecoveryPointArchived",
            "DeleteRecoveryPoint",
            "NotifyArchiveSummary",
        )
    },
}


def clear_up(aws: Emulator, stack: Stack) -> None:
    """As the administrator, end what a run under a reduced policy left running, a fault no invocation used, the store
    budget's leases and the queues' messages, so that the next scenario starts as the baseline's did."""
    sfn = aws.client("stepfunctions")
    running = sfn.list_executions(stateMachineArn=stack.physical["ArchiveStateMachine"], statusFilter="RUNNING")["executions"]
    for execution in running:
        sfn.stop_execution(executionArn=execution["executionArn"])
    if running:
        aws.clock.advance(600)  # (the end events, and their reports)
    aws.faults.lambdas.clear()
    dynamodb, table = aws.client("dynamodb"), stack.physical["StoreBudgetTable"]  # the leases of stores EC2 still runs
    for item in dynamodb.scan(TableName=table, ProjectionExpression="kind, id")["Items"]:
        dynamodb.delete_item(TableName=table, Key=item)
    for queue in (stack.attributes["FailedExecutionQueue"]["QueueUrl"], stack.outputs["UnprocessedEventQueueUrl"]):
        drained(aws, queue)


def test_every_archive_grant_is_needed(enforced: tuple[Emulator, Stack]) -> None:
    aws, stack = enforced
    iam = aws.client("iam")
    clear_up(aws, stack)
    # Given every grant the archive side adds, each named in NEEDED_BY with the scenario that shows it is needed
    grants = archive_grants(aws, stack)
    assert sorted((what, action, short(resource)) for *_, action, resource, what in grants) == sorted(NEEDED_BY)
    # When each is removed in turn (its statement's other actions and resources kept) / Then its scenario changes
    unused = []
    for role, name, index, action, resource, what in grants:
        scenario = NEEDED_BY[(what, action, short(resource))]
        if scenario == RUNTIME_WRITES:
            continue
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        reduced = without(document, index, action, resource)
        if reduced["Statement"]:
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(reduced))
        else:
            iam.delete_role_policy(RoleName=role, PolicyName=name)
        try:
            if outcomes(aws, stack, (scenario,)) == {scenario: BASELINE[scenario]}:
                unused.append((what, action, short(resource)))
        finally:
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
            clear_up(aws, stack)
    assert unused == []


def test_the_runtime_loses_each_write_whose_grant_is_removed(enforced: tuple[Emulator, Stack]) -> None:
    """The four log and trace grants, removed at once: the run is the baseline's (the Lambda runtime's writes never fail
    a function on AWS either), and the four writes lost are named one by one."""
    aws, stack = enforced
    iam = aws.client("iam")
    role, name = stack.physical["ArchiveFunctionRole"], ARCHIVE_FUNCTIONS
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    # Given the functions' log and trace statements (the four grants NEEDED_BY leaves to this test)
    writes = [s for s in document["Statement"] if s.get("Sid") in ("WriteLogs", "WriteTraces")]
    assert sorted((s["Sid"], a, short(r)) for s in writes for a in s["Action"] for r in listed(s["Resource"])) == sorted(
        key for key, scenario in NEEDED_BY.items() if scenario == RUNTIME_WRITES
    )
    # When they are removed and a point is archived
    reduced = {**document, "Statement": [s for s in document["Statement"] if s not in writes]}
    iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(reduced))
    try:
        found = archived(aws, stack)
    finally:
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    # Then the run is the baseline's but for the writes lost: each of the four, by its action
    lost = ["logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    assert found == (*BASELINE["archive"][:-1], lost)


def as_archive_functions(aws: Emulator, stack: Stack, service: str) -> Any:
    """A client with ArchiveFunctionRole's credentials (what every archive handler runs as)."""
    env = stack.functions["StoreImageFunction"].environment
    make: Any = boto3.client  # (any service by name)
    return make(service, region_name="us-east-1", aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], aws_session_token=env["AWS_SESSION_TOKEN"])  # fmt: skip


def refused(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return str(raised.value.response["Error"]["Code"])


def test_the_archive_role_reaches_only_its_vaults_bucket_and_runs_and_writes_only_the_archived_tag(
    enforced: tuple[Emulator, Stack],
) -> None:
    aws, stack = enforced
    backup, ec2, s3, sfn = (as_archive_functions(aws, stack, s) for s in ("backup", "ec2", "s3", "stepfunctions"))
    bucket, other = stack.physical["ArchiveStoreBucket"], "another-teams-archive"
    # Given a point of the archive's vault and one of another vault, another bucket holding an AMI object, and an
    # execution of the restore state machine
    mine, theirs = point(aws, "mine"), aws.backup_ec2("weekly", name="lp-theirs", size_gb=8, days_ago=40)
    image = mine.rsplit("/", 1)[1]
    aws.client("s3").create_bucket(Bucket=other)
    aws.client("s3").put_object(Bucket=other, Key=f"{image}.bin", Body=b"an AMI")
    restore = aws.client("stepfunctions").start_execution(stateMachineArn=stack.state_machine_arn, input="{}")["executionArn"]
    # When the archive functions' role lists, stores and reads / Then only vault "daily", only into and from its bucket
    listed = [p["RecoveryPointArn"] for p in backup.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)["RecoveryPoints"]]
    assert (mine in listed, refused(backup.list_recovery_points_by_backup_vault, BackupVaultName="weekly")) == (
        True,
        "AccessDeniedException",
    )
    assert refused(ec2.create_store_image_task, ImageId=image, Bucket=other) == "UnauthorizedOperation"
    assert ec2.create_store_image_task(ImageId=image, Bucket=bucket)["ObjectKey"] == f"{image}.bin"
    assert (
        refused(s3.head_object, Bucket=other, Key=f"{image}.bin"),
        refused(s3.get_object_tagging, Bucket=other, Key=f"{image}.bin"),
    ) == (
        "403",
        "AccessDenied",
    )
    # And only its own runs' executions: not the restore's
    assert refused(sfn.describe_execution, executionArn=restore) == "AccessDeniedException"
    # And on an AMI only the archived tag (ForAllValues aws:TagKeys), on nothing but AMIs: not the restore's execution tag
    # (the drills' removals trust it), not the archived tag with another, not on the AMI's snapshot
    archived_tag = {"Key": ARCHIVED_TAG, "Value": f"s3://{bucket}/{image}.bin"}
    execution_tag = {"Key": "glacier-ami-restore:execution", "Value": f"{restore}"}
    (snapshot,) = [m["Ebs"]["SnapshotId"] for m in aws.client("ec2").describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"]]
    assert [
        refused(ec2.create_tags, Resources=[image], Tags=[execution_tag]),
        refused(ec2.create_tags, Resources=[image], Tags=[archived_tag, execution_tag]),
        refused(ec2.create_tags, Resources=[snapshot], Tags=[archived_tag]),
    ] == ["UnauthorizedOperation"] * 3
    ec2.create_tags(Resources=[image], Tags=[archived_tag])
    tags = aws.client("ec2").describe_images(ImageIds=[image])["Images"][0]["Tags"]
    assert tags == [archived_tag]
    assert theirs in [
        p["RecoveryPointArn"] for p in aws.client("backup").list_recovery_points_by_backup_vault(BackupVaultName="weekly")["RecoveryPoints"]
    ]


def test_every_invoke_permission_the_archive_side_adds_is_needed(enforced: tuple[Emulator, Stack]) -> None:
    """The archive rules' Lambda permissions (resource-based: EventBridge invokes a function only if its policy admits
    the rule), each removed in turn: S3's Object Created no longer wakes a stored object's wait (its timeout's look
    does), a stopped run is no longer reported."""
    aws, stack = enforced
    awslambda = aws.client("lambda")
    rules = {stack.attributes[lid]["Arn"]: lid for lid in ("StoredObjectRule", "ArchiveRunEndedRule")}
    permissions = {}  # (function, statement) -> the archive rule it admits, in every function's policy
    for lid, function in stack.functions.items():
        try:
            policy = json.loads(awslambda.get_policy(FunctionName=function.name)["Policy"])
        except ClientError:  # (no policy: nothing invokes it but Step Functions)
            continue
        for statement in policy["Statement"]:
            source = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
            if source in rules:
                permissions[(lid, statement["Sid"])] = source
    needed_by = {
        ("ResumeWaitingFunction", "StoredObjectPermission"): "archive",  # S3's Object Created wakes the wait
        ("ReportEndedArchiveRunFunction", "ArchiveRunEndedPermission"): "stopped",  # the stopped run's report
    }
    assert sorted(permissions) == sorted(needed_by)
    clear_up(aws, stack)
    unused = []
    for (lid, sid), source in permissions.items():
        name = stack.functions[lid].name
        awslambda.remove_permission(FunctionName=name, StatementId=sid)
        scenario = needed_by[(lid, sid)]
        try:
            if outcomes(aws, stack, (scenario,)) == {scenario: BASELINE[scenario]}:
                unused.append((lid, sid))
        finally:
            awslambda.add_permission(
                FunctionName=name, StatementId=sid, Action="lambda:InvokeFunction", Principal="events.amazonaws.com", SourceArn=source
            )
            clear_up(aws, stack)
    assert unused == []
