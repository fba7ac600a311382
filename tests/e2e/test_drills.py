"""Restore drills end to end on the emulator (issue 23): the real drill state machine, its handlers and the restore
state machine as it is, on one module-scoped emulator whose stack boots drills in an isolated subnet. Each test drills
its own archive (a name no other test uses), one drill at a time, and ends with nothing of the drill left in EC2."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.cloudformation import Stack
from emulator.facade import Emulator
from tests.support import BUCKET, archive, started_and_paused_at, until_entered

pytestmark = pytest.mark.long  # run first (tests/conftest.py)

DRILL_TAG = "glacier-ami-restore:drill"
STARTED_BY = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"
_names = itertools.count()
SCHEDULE = "cron(0 3 1 * ? *)"


@pytest.fixture(scope="module")
def drills() -> Iterator[tuple[Emulator, Stack]]:
    with Emulator(seed=23) as aws:
        ec2 = aws.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.23.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.23.1.0/24")["Subnet"]["SubnetId"]
        aws.client("s3").create_bucket(Bucket=BUCKET)
        # (scheduled drills at 03:00 on the first of each month: the clock starts on 5 January, and the other tests move it
        # by hours, so only test_a_scheduled_drill_fires_on_the_clock_and_runs reaches a firing)
        stack = aws.deploy(DrillBucketName=BUCKET, DrillSubnetId=subnet, DrillVpcId=vpc, DrillMaxGb="50", DrillSchedule=SCHEDULE)
        yield aws, stack


def archived(aws: Emulator, prefix: str, **kwargs: Any) -> str:
    name = f"{prefix}-{next(_names)}"
    archive(aws, "GLACIER", restore_hours=6, image_minutes=20, name=name, **kwargs)
    return name


def drill(aws: Emulator, stack: Stack, payload: dict[str, Any]) -> Any:
    arn = aws.client("stepfunctions").start_execution(stateMachineArn=stack.physical["DrillStateMachine"], input=json.dumps(payload))
    return aws.wait(stack, arn["executionArn"], timeout=60)


def left_in_ec2(aws: Emulator) -> dict[str, list[str]]:
    """What EC2 still shows of any drill: AMIs and snapshots with the drill tag or made by a drill's restore, and instances
    not terminated."""
    ec2 = aws.client("ec2")
    tagged = [{"Name": "tag-key", "Values": [DRILL_TAG, "glacier-ami-restore:execution"]}]
    instances = [
        i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"] if i["State"]["Name"] != "terminated"
    ]
    return {
        "images": [i["ImageId"] for i in ec2.describe_images(Owners=["self"], Filters=tagged)["Images"]],
        "snapshots": [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=tagged)["Snapshots"]],
        "instances": instances,
    }


def report_of(aws: Emulator, stack: Stack, arn: str) -> dict[str, Any]:
    items = aws.client("dynamodb").query(
        TableName=stack.physical["DrillResultsTable"], KeyConditionExpression="kind = :k", ExpressionAttributeValues={":k": {"S": "drill"}}
    )["Items"]
    found: list[dict[str, Any]] = [json.loads(i["report"]["S"]) for i in items]
    (report,) = [r for r in found if r["drill"] == arn]
    return report


def test_a_drill_restores_checks_boots_and_leaves_nothing(drills: tuple[Emulator, Stack]) -> None:
    aws, stack = drills
    # Given an 8 GB archive in Flexible Retrieval (copy in 6 h, image in 20 min) / When a drill with a boot check runs
    name = archived(aws, "pass")
    run = drill(aws, stack, {"amiName": name, "bootCheck": True})
    # Then it passed: restored through the restore state machine (Bulk, Days 1), checked, booted, and reported
    assert (run.status, run.error) == ("SUCCEEDED", None)
    report = report_of(aws, stack, run.arn)
    (result,) = report["archives"]
    assert (result["amiName"], result["storageClass"], result["tier"], result["passed"]) == (name, "GLACIER", "Bulk", True)
    assert result["hours"] == {"copy": 6.0, "image": 0.33, "total": 6.34}
    assert [(c["name"], c["passed"]) for c in result["checks"]] == [
        ("image available", True), ("snapshots completed", True), ("snapshot sizes", True), ("root device mapped", True)]  # fmt: skip
    assert result["facts"] == {
        "architecture": "x86_64",
        "rootDeviceName": "/dev/xvda",
        "virtualizationType": "hvm",
        "volumes": {"/dev/xvda": 8},
    }
    boot = result["boot"]
    assert (boot["instanceType"], boot["system"], boot["instance"], boot["passed"]) == ("t3.nano", "ok", "ok", True)
    # The instance: in the drill subnet, no public IP, IMDSv2 required, the drill's security group only, tagged
    (instance,) = [
        i for r in aws.client("ec2").describe_instances(InstanceIds=[boot["instanceId"]])["Reservations"] for i in r["Instances"]
    ]
    assert instance["SubnetId"] == stack.parameters["DrillSubnetId"] and "PublicIpAddress" not in instance
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [stack.physical["DrillSecurityGroup"]]
    assert {"Key": DRILL_TAG, "Value": run.arn} in instance["Tags"]
    assert (
        aws.client("ec2").describe_security_groups(GroupIds=[stack.physical["DrillSecurityGroup"]])["SecurityGroups"][0]["IpPermissions"]
        == []
    )
    # Nothing of the drill is left, one email says so, and the results are kept
    assert left_in_ec2(aws) == {"images": [], "snapshots": [], "instances": []}
    assert report["cleanup"]["clean"] is True and report["cleanup"]["removed"]["images"] == [result["imageId"]]
    emails = [e for e in aws.emails(stack) if run.arn in e["message"]]
    assert [e["subject"] for e in emails] == ["Restore drill passed: 1 of 1 archive(s) restored and checked"]
    # (the drill's restore sent none of its own: Validate Input found it a child of this running drill)
    assert [e["subject"] for e in aws.emails(stack) if result["restore"]["execution"] in e["message"]] == [emails[0]["subject"]]
    assert "Time:               copy 6.00 h, image 0.33 h, total 6.34 h" in emails[0]["message"]
    # A second drill of the same archive compares against the first one's recorded facts
    again = drill(aws, stack, {"amiName": name, "selection": "newest"})
    (second,) = report_of(aws, stack, again.arn)["archives"]
    assert second["expectedFrom"] == f"drill of {report['startTime']}" and second["passed"] is True
    assert [c["name"] for c in second["checks"]][-4:] == ["architecture", "rootDeviceName", "virtualizationType", "volumes"]


def test_a_drill_whose_image_fails_reports_it_and_leaves_nothing(drills: tuple[Emulator, Stack]) -> None:
    aws, stack = drills
    # Given an archive whose image restore ends failed / When it is drilled
    name = archived(aws, "broken")
    aws.faults.image_failure("Snapshot data is corrupt")
    run = drill(aws, stack, {"amiName": name})
    # Then the drill ends FAILED with DrillFailedError, the email names what failed, and nothing is left
    assert (run.status, run.error) == ("FAILED", "DrillFailedError")
    (result,) = report_of(aws, stack, run.arn)["archives"]
    assert (result["passed"], result["restore"]["status"], result["restore"]["error"]) == (False, "FAILED", "ImageRestoreFailedError")
    assert result["checks"][:2] == [
        {"name": "restore", "passed": False, "detail": "ImageRestoreFailedError"},
        {"name": "image available", "passed": False, "detail": "failed: Snapshot data is corrupt"},
    ]
    (email,) = [e for e in aws.emails(stack) if run.arn in e["message"] and e["subject"].startswith("Restore drill")]
    assert email["subject"] == "Restore drill FAILED: 0 of 1 archive(s) restored and checked"
    assert "BAD image available: failed: Snapshot data is corrupt" in email["message"]
    assert left_in_ec2(aws) == {"images": [], "snapshots": [], "instances": []}
    # And its restore's own failure email is not sent: the drill's report is the one
    assert [e["subject"] for e in aws.emails(stack) if result["restore"]["execution"] in e["message"]] == [email["subject"]]


def test_a_boot_check_whose_status_checks_fail(drills: tuple[Emulator, Stack]) -> None:
    aws, stack = drills
    # Given an archive that restores, but whose instance fails its instance status check
    name = archived(aws, "noboot")
    aws.faults.instance_impaired("instance")
    run = drill(aws, stack, {"amiName": name, "bootCheck": True})
    # Then the drill fails on the boot check, the instance is terminated, and nothing is left
    assert (run.status, run.error) == ("FAILED", "DrillFailedError")
    (result,) = report_of(aws, stack, run.arn)["archives"]
    assert (result["boot"]["system"], result["boot"]["instance"], result["boot"]["passed"]) == ("ok", "impaired", False)
    assert left_in_ec2(aws) == {"images": [], "snapshots": [], "instances": []}


def test_too_large_archives_are_not_drilled_and_a_drill_with_nothing_fails(drills: tuple[Emulator, Stack]) -> None:
    aws, stack = drills
    # Given only an archive over DrillMaxGb (50 GB here) / When it is drilled / Then nothing is restored and it fails
    name = archived(aws, "huge", size_gb=60)
    run = drill(aws, stack, {"amiName": name})
    assert (run.status, run.error) == ("FAILED", "NoArchiveToDrillError")
    assert f"nothing to drill for amiName '{name}' in {BUCKET}: every match is over DrillMaxGb (50 GB)" in str(run.cause)


@contextlib.contextmanager
def drill_paused_at(aws: Emulator, stack: Stack, payload: dict[str, Any], seconds: float) -> Iterator[str]:
    """Start a drill and let virtual time run `seconds` from its start, then keep it still while the test acts."""
    machine = stack.physical["DrillStateMachine"]
    start = lambda: str(aws.client("stepfunctions").start_execution(stateMachineArn=machine, input=json.dumps(payload))["executionArn"])  # noqa: E731
    with started_and_paused_at(aws, start, seconds) as arn:
        yield arn


# (state, its execution: the drill's restore or the drill, seconds after the start): the copy is readable at 6 h. The
# later phases, a drill stopped while its restore waits for the image or while its instance's status checks run, are
# tested with IAM enforced, with the same assertions (tests/e2e/test_least_privilege_drills.py): not twice.
PHASES = [("Wait For Restore", "restore", 3600)]


@pytest.mark.parametrize(("state", "where", "seconds"), PHASES, ids=[p[0] for p in PHASES])
def test_a_drill_stopped_by_hand_leaves_nothing(drills: tuple[Emulator, Stack], state: str, where: str, seconds: int) -> None:
    aws, stack = drills
    sfn = aws.client("stepfunctions")
    # Given a drill with a boot check, stopped by hand while its restore waits for the copy or the image, or while its
    # instance's status checks run
    name = archived(aws, f"stop-{state.split()[-1].lower()}")
    aws.world.status_check_seconds = 300
    with drill_paused_at(aws, stack, {"amiName": name, "bootCheck": True}, seconds) as arn:
        (child,) = [e["executionArn"] for e in sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
                    if json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]).get(STARTED_BY) == arn]  # fmt: skip
        until_entered(aws, child if where == "restore" else arn, state)
        sfn.stop_execution(executionArn=arn)
    # When DrillEndedRule's sweep has run / Then nothing of the drill is left in EC2
    assert aws.wait(stack, arn, timeout=20).status == "ABORTED"
    aws.clock.advance(600)
    assert [sfn.describe_execution(executionArn=a)["status"] for a in (arn, child)] == [
        "ABORTED",
        "ABORTED" if where == "restore" else "SUCCEEDED",
    ]
    assert left_in_ec2(aws) == {"images": [], "snapshots": [], "instances": []}
    # And the stopped restore sends no email of its own (Report Ended Execution finds it a drill's child)
    assert [e["subject"] for e in aws.emails(stack) if child in e["message"]] == []


def test_a_scheduled_drill_fires_on_the_clock_and_runs(drills: tuple[Emulator, Stack]) -> None:
    aws, stack = drills
    sfn = aws.client("stepfunctions")
    # Given the stack's DrillSchedule (03:00 UTC on the first of each month) and an archive to drill
    archived(aws, "scheduled")
    before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=stack.physical["DrillStateMachine"])["executions"]}
    now = aws.clock.now()
    firing = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, 3, tzinfo=UTC)
    # When the virtual clock reaches the next firing (and EventBridge's delivery)
    aws.clock.advance((firing - now).total_seconds() + 60)
    # Then DrillScheduleRule started one drill, as the schedule starts it: {"scheduled": true}, the defaults for the rest
    (arn,) = [e["executionArn"] for e in sfn.list_executions(stateMachineArn=stack.physical["DrillStateMachine"])["executions"]
              if e["executionArn"] not in before]  # fmt: skip
    described = sfn.describe_execution(executionArn=arn)
    assert (json.loads(described["input"]), described["startDate"].astimezone(UTC) >= firing) == ({"scheduled": True}, True)
    # And it ran: one archive restored (Bulk) and checked, its report kept as scheduled, one email, nothing left
    run = aws.wait(stack, arn, timeout=60)
    assert (run.status, run.error) == ("SUCCEEDED", None)
    report = report_of(aws, stack, arn)
    assert (report["scheduled"], report["request"]) == (True, {"amiName": "*", "selection": "random", "count": 1, "tier": "Bulk",
                                                                "bootCheck": False})  # fmt: skip
    assert [(r["passed"], r["tier"]) for r in report["archives"]] == [(True, "Bulk")]
    assert [e["subject"] for e in aws.emails(stack) if arn in e["message"]] == [
        "Restore drill passed: 1 of 1 archive(s) restored and checked"
    ]
    assert left_in_ec2(aws) == {"images": [], "snapshots": [], "instances": []}
