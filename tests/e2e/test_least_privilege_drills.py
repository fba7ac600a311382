"""Least privilege for drills, proven as tests/e2e/test_least_privilege.py proves the restore's: with IAM enforced (the
functions as the stack's own role, the drill state machine as its own role) drill scenarios pass with the policies as
declared, and each grant only drills use, removed in turn, changes a scenario. EC2's resource-level permissions and
the policy's conditions are evaluated by the emulator's IAM model (emulator/world/iam.py, ec2_authorization.py): the
instance only in DrillSubnetId with the drill's group, only from a drill's AMI, only tagged as a drill's; only drill
AMIs, snapshots and instances removed; metrics only in the product's namespace."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.cloudformation import Stack
from emulator.facade import Emulator
from tests.e2e.test_drills import DRILL_TAG, STARTED_BY, drill, drill_paused_at, left_in_ec2, report_of
from tests.support import BUCKET, archive, until_entered

pytestmark = pytest.mark.long  # run first (tests/conftest.py)

DRILLS = "glacier-ami-restore-drills"
# The drill state machine role's log delivery and X-Ray statements serve its Logging and Tracing configuration, which
# no execution uses (as for the other state machines')
NOT_EXERCISED = ("DeliverLogs", "WriteTraces")
_names = itertools.count()


@pytest.fixture(scope="module")
def enforced() -> Iterator[tuple[Emulator, Stack]]:
    with Emulator(seed=23) as aws:
        ec2 = aws.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.23.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.23.1.0/24")["Subnet"]["SubnetId"]
        ec2.create_subnet(VpcId=vpc, CidrBlock="10.23.2.0/24")  # another subnet: no drill may launch there
        aws.client("s3").create_bucket(Bucket=BUCKET)
        stack = aws.deploy(DrillBucketName=BUCKET, DrillSubnetId=subnet, DrillVpcId=vpc, DrillMaxGb="50")
        aws.enforce_iam(stack)
        yield aws, stack


def archived(aws: Emulator, prefix: str) -> str:
    """A fresh archive in Glacier Instant Retrieval (no copy to wait for), its image restored in 20 minutes."""
    name = f"lp-{prefix}-{next(_names)}"
    archive(aws, "GLACIER_IR", image_minutes=20, name=name)
    return name


def emails_of(aws: Emulator, stack: Stack, arn: str) -> list[str]:
    return [e["subject"] for e in aws.emails(stack) if arn in e["message"]]


def child_of(aws: Emulator, stack: Stack, drill_arn: str) -> str:
    sfn = aws.client("stepfunctions")
    (child,) = [e["executionArn"] for e in sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
                if json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]).get(STARTED_BY) == drill_arn]  # fmt: skip
    return str(child)


def drilled(aws: Emulator, stack: Stack, boot: bool) -> tuple[Any, ...]:
    """A drill that passes: restored, checked, booted if `boot`, cleaned up, recorded, reported."""
    run = drill(aws, stack, {"amiName": archived(aws, "boot" if boot else "check"), "bootCheck": boot})
    if run.status != "SUCCEEDED":
        return run.status, run.error, emails_of(aws, stack, run.arn), left_in_ec2(aws)
    (result,) = report_of(aws, stack, run.arn)["archives"]
    booted = result["boot"]["passed"] if boot else result.get("boot")
    return run.status, run.error, emails_of(aws, stack, run.arn), left_in_ec2(aws), result["passed"], booted


def checked(aws: Emulator, stack: Stack) -> tuple[Any, ...]:
    return drilled(aws, stack, boot=False)


def booted(aws: Emulator, stack: Stack) -> tuple[Any, ...]:
    return drilled(aws, stack, boot=True)


def stopped(aws: Emulator, stack: Stack, state: str, where: str, seconds: int) -> tuple[Any, ...]:
    """A drill with a boot check stopped by hand while `where` (its restore, or the drill) waits in `state`: Step
    Functions stops the drill's restore; DrillEndedRule's sweep removes what the drill left, and says so. (These are
    the phases "a drill stopped by hand leaves nothing" of tests/e2e/test_drills.py after the copy: run here only,
    with IAM enforced.)"""
    sfn = aws.client("stepfunctions")
    aws.world.status_check_seconds = 300
    with drill_paused_at(aws, stack, {"amiName": archived(aws, "stop"), "bootCheck": True}, seconds) as arn:
        child = child_of(aws, stack, arn)
        until_entered(aws, child if where == "restore" else arn, state)
        sfn.stop_execution(executionArn=arn)
    aws.wait(stack, arn, timeout=20)
    aws.clock.advance(600)  # the end events' delivery, and the sweep
    statuses = [sfn.describe_execution(executionArn=a)["status"] for a in (arn, child)]
    # (the stopped drill's restore sends no email of its own: Report Ended Execution finds it a drill's child)
    return statuses, left_in_ec2(aws), emails_of(aws, stack, arn), emails_of(aws, stack, child)


def stopped_in_restore(aws: Emulator, stack: Stack) -> tuple[Any, ...]:
    return stopped(aws, stack, "Wait For Image", "restore", 600)


def stopped_in_checks(aws: Emulator, stack: Stack) -> tuple[Any, ...]:
    return stopped(aws, stack, "Wait For Status Checks", "drill", 23 * 60)


SCENARIOS = {"check": checked, "boot": booted, "stop restore": stopped_in_restore, "stop checks": stopped_in_checks}
NOTHING: dict[str, list[str]] = {"images": [], "snapshots": [], "instances": []}
BASELINE = {
    # (without a boot check no instance is launched: the cheaper scenario for what does not concern the boot)
    "check": ("SUCCEEDED", None, ["Restore drill passed: 1 of 1 archive(s) restored and checked"], NOTHING, True, None),
    "boot": ("SUCCEEDED", None, ["Restore drill passed: 1 of 1 archive(s) restored and checked"], NOTHING, True, True),
    # the restore's AMI, still pending, was left (stopped in its own wait, then the instance and the AMI): the sweep
    # removed it and emailed that
    "stop restore": (["ABORTED", "ABORTED"], NOTHING, ["Drill sweep removed leftovers"], []),
    "stop checks": (["ABORTED", "SUCCEEDED"], NOTHING, ["Drill sweep removed leftovers"], []),
}


def outcomes(aws: Emulator, stack: Stack, which: tuple[str, ...] = tuple(SCENARIOS)) -> dict[str, Any]:
    return {name: SCENARIOS[name](aws, stack) for name in which}


def test_declared_drill_policies_are_enough(enforced: tuple[Emulator, Stack]) -> None:
    aws, stack = enforced
    assert outcomes(aws, stack) == BASELINE


def listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def drill_grants(aws: Emulator, stack: Stack) -> list[tuple[str, str, int, str, str, str]]:
    """(role, policy, statement index, action, resource, what it is for) of every grant only drills use: each action on
    each resource of the functions' drill policy, and of the drill state machine's policies but its logs and traces (a
    Lambda invoke grant is for the function it names)."""
    iam = aws.client("iam")
    functions: dict[str, str] = {stack.attributes[lid]["Arn"]: lid for lid in stack.functions}
    drill_role = stack.physical["DrillStateMachineRole"]
    found = []
    for role in (aws.function_role(stack).rsplit("/", 1)[1], drill_role):
        for name in sorted(iam.list_role_policies(RoleName=role)["PolicyNames"]):
            if role != drill_role and name != DRILLS:
                continue
            for index, statement in enumerate(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]["Statement"]):
                if statement.get("Sid") in NOT_EXERCISED:
                    continue
                resources = listed(statement["Resource"])
                # (SAM's LambdaInvokePolicy grants the function and its versions: <function ARN>*)
                what = statement.get("Sid") or "Invoke " + ", ".join(functions.get(r.removesuffix("*"), r) for r in resources)
                found += [(role, name, index, a, r, what) for a in listed(statement["Action"]) for r in resources]
    return found


def without(document: dict[str, Any], index: int, action: str, resource: str) -> dict[str, Any]:
    """The policy document without `action` on `resource` in statement `index` (its other grants kept)."""
    reduced: dict[str, Any] = json.loads(json.dumps(document))
    statement = reduced["Statement"].pop(index)
    actions, resources = listed(statement["Action"]), listed(statement["Resource"])
    kept = [{**statement, "Action": [a for a in actions if a != action]}] if len(actions) > 1 else []
    if len(resources) > 1:
        kept.append({**statement, "Action": action, "Resource": [r for r in resources if r != resource]})
    for part in kept:
        part.pop("Sid", None)  # (two statements may not share one Sid)
    reduced["Statement"][index:index] = kept
    return reduced


def short(resource: str) -> str:
    """The resource type an ARN names (arn:...:ec2:<region>::image/* -> image; "*" stays)."""
    return re.split("[:/]", resource.split(":", 5)[5], maxsplit=1)[0] if resource.startswith("arn:") else resource


# Which scenario shows each grant is needed (others may change too; one is enough and keeps this cheap).
NEEDED_BY = {
    ("OneDrillAtATime", "states:ListExecutions", "stateMachine"): "check",  # Validate Drill: is another drill running?
    ("TellEndedDrills", "states:DescribeExecution", "execution"): "stop checks",  # the sweep: has the drill ended?
    ("LookAtDrillResources", "ec2:DescribeSnapshots", "*"): "check",  # Check Drill Image: the snapshots completed?
    ("LookAtDrillResources", "ec2:DescribeInstances", "*"): "check",  # Clean Up Drill finds the drill's instance
    ("LookAtDrillResources", "ec2:DescribeInstanceStatus", "*"): "boot",  # Check Instance Status
    ("RemoveOnlyDrillImages", "ec2:DeregisterImage", "image"): "check",
    ("RemoveOnlyDrillSnapshots", "ec2:DeleteSnapshot", "snapshot"): "check",  # DeleteAssociatedSnapshots uses it
    ("TerminateOnlyDrillInstances", "ec2:TerminateInstances", "instance"): "boot",
    ("LaunchOnlyInTheDrillSubnet", "ec2:RunInstances", "subnet"): "boot",
    ("LaunchOnlyInTheDrillSubnet", "ec2:RunInstances", "security-group"): "boot",
    ("LaunchOnlyInTheDrillSubnet", "ec2:RunInstances", "network-interface"): "boot",
    ("LaunchOnlyDrillImages", "ec2:RunInstances", "image"): "boot",
    ("LaunchOnlyTaggedInstances", "ec2:RunInstances", "instance"): "boot",
    ("LaunchOnlyTaggedInstances", "ec2:RunInstances", "volume"): "boot",
    ("TagDrillInstancesAtLaunch", "ec2:CreateTags", "instance"): "boot",
    ("TagDrillInstancesAtLaunch", "ec2:CreateTags", "volume"): "boot",
    ("KeepDrillResults", "dynamodb:PutItem", "table"): "check",  # Record Drill Results
    ("KeepDrillResults", "dynamodb:Query", "table"): "check",  # Check Drill Image: the archive's last drill
    ("PutDrillMetrics", "cloudwatch:PutMetricData", "*"): "check",
    ("Invoke ValidateDrillFunction", "lambda:InvokeFunction", "function"): "check",
    ("Invoke ChooseArchivesFunction", "lambda:InvokeFunction", "function"): "check",
    ("Invoke CheckDrillImageFunction", "lambda:InvokeFunction", "function"): "check",
    ("Invoke LaunchDrillInstanceFunction", "lambda:InvokeFunction", "function"): "boot",
    ("Invoke CheckInstanceStatusFunction", "lambda:InvokeFunction", "function"): "boot",
    ("Invoke TerminateDrillInstanceFunction", "lambda:InvokeFunction", "function"): "boot",
    ("Invoke CleanUpDrillFunction", "lambda:InvokeFunction", "function"): "check",
    ("Invoke RecordDrillResultsFunction", "lambda:InvokeFunction", "function"): "check",
    ("Invoke NotifyDrillReportFunction", "lambda:InvokeFunction", "function"): "check",
    ("StartDrillRestores", "states:StartExecution", "stateMachine"): "check",
    ("FollowAndStopDrillRestores", "states:DescribeExecution", "execution"): "check",
    ("FollowAndStopDrillRestores", "states:StopExecution", "execution"): "stop restore",
    ("LearnWhenDrillRestoresEnd", "events:PutTargets", "rule"): "check",
    ("LearnWhenDrillRestoresEnd", "events:PutRule", "rule"): "check",
    ("LearnWhenDrillRestoresEnd", "events:DescribeRule", "rule"): "check",
}


def clear_up(aws: Emulator, stack: Stack) -> None:
    """As the administrator, end what a drill under a reduced policy left (a running drill or restore, an instance, an
    AMI, a snapshot), so that the next scenario starts from an empty account as the baseline's did."""
    sfn, ec2 = aws.client("stepfunctions"), aws.client("ec2")
    running = [e["executionArn"] for machine in (stack.physical["DrillStateMachine"], stack.state_machine_arn)
               for e in sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]]  # fmt: skip
    for arn in running:
        sfn.stop_execution(executionArn=arn)
    if running:
        aws.clock.advance(600)  # (the end events, and the sweep they start)
    left = left_in_ec2(aws)
    if left["instances"]:
        ec2.terminate_instances(InstanceIds=left["instances"])
    for image in left["images"]:
        ec2.deregister_image(ImageId=image)
    for snapshot in left_in_ec2(aws)["snapshots"]:
        ec2.delete_snapshot(SnapshotId=snapshot)


@pytest.mark.parametrize("half", [0, 1])  # two halves, so that the two test workers share the work
def test_every_drill_grant_is_needed(enforced: tuple[Emulator, Stack], half: int) -> None:
    aws, stack = enforced
    iam = aws.client("iam")
    grants = drill_grants(aws, stack)
    assert sorted((what, action, short(resource)) for *_, action, resource, what in grants) == sorted(NEEDED_BY)
    unused = []
    for role, name, index, action, resource, what in grants[half::2]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        reduced = without(document, index, action, resource)
        if reduced["Statement"]:
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(reduced))
        else:
            iam.delete_role_policy(RoleName=role, PolicyName=name)
        scenario = NEEDED_BY[(what, action, short(resource))]
        try:
            if outcomes(aws, stack, (scenario,)) == {scenario: BASELINE[scenario]}:
                unused.append((what, action, short(resource)))
        finally:
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
            clear_up(aws, stack)
    assert unused == []


def as_functions(aws: Emulator, stack: Stack, service: str) -> Any:
    """A client with the functions' role's credentials (what every drill handler runs as)."""
    env = stack.functions["LaunchDrillInstanceFunction"].environment
    make: Any = boto3.client  # (any service by name)
    return make(service, region_name="us-east-1", aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], aws_session_token=env["AWS_SESSION_TOKEN"])  # fmt: skip


def refused(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return str(raised.value.response["Error"]["Code"])


def test_the_conditions_bind_what_the_functions_may_launch_and_remove(enforced: tuple[Emulator, Stack]) -> None:
    aws, stack = enforced
    admin = aws.client("ec2")
    ec2, cloudwatch = as_functions(aws, stack, "ec2"), as_functions(aws, stack, "cloudwatch")
    subnet, group = stack.parameters["DrillSubnetId"], stack.physical["DrillSecurityGroup"]
    (other,) = [s["SubnetId"] for s in admin.describe_subnets(Filters=[{"Name": "cidr-block", "Values": ["10.23.2.0/24"]}])["Subnets"]]
    # Given an AMI a drill's restore made (tagged with a "drill-" execution of the restore state machine) and one it did
    # not (tagged with another execution)
    executions = stack.state_machine_arn.replace(":stateMachine:", ":execution:")
    drill_ami, other_ami = (
        admin.register_image(Name=f"lp-{which}", RootDeviceName="/dev/xvda",
                             BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
        for which in ("drill", "restore")
    )  # fmt: skip
    for image, execution in ((drill_ami, "drill-lp-0-1"), (other_ami, "lp-restore")):
        admin.create_tags(Resources=[image], Tags=[{"Key": "glacier-ami-restore:execution", "Value": f"{executions}:{execution}"}])
    tags = [{"Key": DRILL_TAG, "Value": "arn:aws:states:us-east-1:123456789012:execution:Drill-x:lp"}]
    launch: dict[str, Any] = {
        "InstanceType": "t3.nano", "MinCount": 1, "MaxCount": 1,
        "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group], "AssociatePublicIpAddress": False}],
        "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}, {"ResourceType": "volume", "Tags": tags}],
    }  # fmt: skip
    # When the functions' role launches otherwise than a drill does / Then EC2 refuses: another subnet, another AMI,
    # without the drill tag
    elsewhere = {**launch, "NetworkInterfaces": [{**launch["NetworkInterfaces"][0], "SubnetId": other}]}
    assert refused(ec2.run_instances, ImageId=drill_ami, **elsewhere) == "UnauthorizedOperation"
    assert refused(ec2.run_instances, ImageId=other_ami, **launch) == "UnauthorizedOperation"
    untagged = {k: v for k, v in launch.items() if k != "TagSpecifications"}
    assert refused(ec2.run_instances, ImageId=drill_ami, **untagged) == "UnauthorizedOperation"
    # And as a drill launches, it may, and terminate that instance, but not one without the drill tag
    (launched,) = ec2.run_instances(ImageId=drill_ami, **launch)["Instances"]
    plain = admin.run_instances(
        ImageId=drill_ami, InstanceType="t3.nano", MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroupIds=[group]
    )["Instances"][0]
    assert refused(ec2.terminate_instances, InstanceIds=[plain["InstanceId"]]) == "UnauthorizedOperation"
    terminated = ec2.terminate_instances(InstanceIds=[launched["InstanceId"]])["TerminatingInstances"]
    assert [t["InstanceId"] for t in terminated] == [launched["InstanceId"]]
    # And it may deregister the drill's AMI, not the other; and put metrics only in the product's namespace
    assert refused(ec2.deregister_image, ImageId=other_ami) == "UnauthorizedOperation"
    assert ec2.deregister_image(ImageId=drill_ami)["Return"] is True
    metric = [{"MetricName": "DrillFailed", "Value": 0}]
    assert refused(cloudwatch.put_metric_data, Namespace="Elsewhere", MetricData=metric) == "AccessDenied"
    cloudwatch.put_metric_data(Namespace="GlacierAmiRestore", MetricData=metric)
    admin.terminate_instances(InstanceIds=[plain["InstanceId"]])
    admin.deregister_image(ImageId=other_ami)
