"""The emulator's IAM model on its own (emulator/world/iam.py, emulator/world/ec2_authorization.py): no moto, expected
values worked out by hand from the IAM User Guide's evaluation rules and the Service Authorization Reference."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.world.ec2_authorization import cloudwatch_requests, ec2_requests, run_instances
from emulator.world.iam import Request, UndecidedCondition, evaluate

REGION, ACCOUNT = "us-east-1", "123456789012"
DRILL_EXECUTIONS = "arn:aws:states:us-east-1:123456789012:execution:Restore-1:drill-*"


def policy(*statements: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"Version": "2012-10-17", "Statement": list(statements)}]


def allow(action: str, resource: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **({"Condition": condition} if condition else {})}


def test_an_explicit_deny_wins_an_allow_is_needed_and_wildcards_match_as_iam_says() -> None:
    # Given an Allow of ec2:Describe* on everything and a Deny of image deregistration
    documents = policy(allow("ec2:Describe*", "*"), {"Effect": "Deny", "Action": "ec2:*", "Resource": "arn:aws:ec2:*::image/ami-?1"})
    # Then: allowed; implicitly denied (nothing allows it); explicitly denied beats nothing and an Allow alike
    assert evaluate(documents, Request("EC2:describeimages", "*")) == "Allow"  # action names: any case
    assert evaluate(documents, Request("ec2:DeregisterImage", "arn:aws:ec2:us-east-1::image/ami-01")) == "Deny"
    assert evaluate(documents, Request("ec2:DeregisterImage", "arn:aws:ec2:us-east-1::image/ami-001")) == "ImplicitDeny"  # ? is one
    documents += policy(allow("*", "*"))
    assert evaluate(documents, Request("ec2:DeregisterImage", "arn:aws:ec2:us-east-1::image/ami-01")) == "Deny"
    # And ARNs compare with case
    assert (
        evaluate(policy(allow("s3:GetObject", "arn:aws:s3:::Bucket/*")), Request("s3:GetObject", "arn:aws:s3:::bucket/k")) == "ImplicitDeny"
    )


def decide(condition: dict[str, Any], context: dict[str, Any]) -> str:
    return evaluate(policy(allow("ec2:DeleteSnapshot", "*", condition)), Request("ec2:DeleteSnapshot", "*", context))


def test_string_and_arn_conditions() -> None:
    tag = "ec2:ResourceTag/glacier-ami-restore:execution"
    drill_child = "arn:aws:states:us-east-1:123456789012:execution:Restore-1:drill-weekly-0-4c8b4302"
    # StringLike: * and ?, with case; a key absent from the context makes it false
    assert decide({"StringLike": {tag: DRILL_EXECUTIONS}}, {tag: drill_child}) == "Allow"
    assert decide({"StringLike": {tag: DRILL_EXECUTIONS}}, {tag: drill_child.replace("drill-", "Drill-")}) == "ImplicitDeny"
    assert decide({"StringLike": {tag: DRILL_EXECUTIONS}}, {}) == "ImplicitDeny"
    # key names without regard to case; several values: any one; several keys: all
    assert decide({"StringEquals": {"EC2:Region": ["eu-west-1", "us-east-1"]}}, {"ec2:Region": "us-east-1"}) == "Allow"
    both = {"StringEquals": {"ec2:Region": "us-east-1", "ec2:CreateAction": "RunInstances"}}
    assert decide(both, {"ec2:Region": "us-east-1"}) == "ImplicitDeny"
    assert decide(both, {"ec2:Region": "us-east-1", "ec2:CreateAction": "RunInstances"}) == "Allow"
    # ...IfExists: true when absent; negated operators: none of the values, when the key is there
    assert decide({"StringEqualsIfExists": {"ec2:InstanceType": "t3.nano"}}, {}) == "Allow"
    assert decide({"StringEqualsIfExists": {"ec2:InstanceType": "t3.nano"}}, {"ec2:InstanceType": "m5.large"}) == "ImplicitDeny"
    assert decide({"StringNotEquals": {"ec2:InstanceType": ["a", "b"]}}, {"ec2:InstanceType": "c"}) == "Allow"
    assert decide({"StringNotEquals": {"ec2:InstanceType": ["a", "b"]}}, {"ec2:InstanceType": "b"}) == "ImplicitDeny"
    # ArnLike: part by part (a * in one part does not reach into the next)
    subnet = "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-1"
    assert decide({"ArnLike": {"ec2:Subnet": "arn:aws:ec2:*:123456789012:subnet/*"}}, {"ec2:Subnet": subnet}) == "Allow"
    assert decide({"ArnLike": {"ec2:Subnet": "arn:aws:ec2:*:subnet/*"}}, {"ec2:Subnet": subnet}) == "ImplicitDeny"


def test_null_bool_and_set_conditions() -> None:
    drill_tag = "aws:RequestTag/glacier-ami-restore:drill"
    # Null "false": the key must be there; "true": it must not
    assert decide({"Null": {drill_tag: "false"}}, {drill_tag: "arn:drill"}) == "Allow"
    assert decide({"Null": {drill_tag: "false"}}, {}) == "ImplicitDeny"
    assert decide({"Null": {drill_tag: "true"}}, {}) == "Allow"
    assert decide({"Bool": {"ec2:Encrypted": "true"}}, {"ec2:Encrypted": "True"}) == "Allow"
    # ForAllValues: every value one of the policy's (and true with none); ForAnyValue: at least one
    assert decide({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a", "b"]}) == "Allow"
    assert decide({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {"aws:TagKeys": ["a", "c"]}) == "ImplicitDeny"
    assert decide({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {}) == "Allow"
    assert decide({"ForAnyValue:StringEquals": {"aws:TagKeys": ["c"]}}, {"aws:TagKeys": ["a", "c"]}) == "Allow"
    assert decide({"ForAnyValue:StringEquals": {"aws:TagKeys": ["c"]}}, {}) == "ImplicitDeny"


@pytest.mark.parametrize(
    ("condition", "context"),
    [
        ({"NumericLessThan": {"ec2:VolumeSize": "100"}}, {"ec2:VolumeSize": "8"}),  # an operator not modelled
        ({"StringEquals": {"aws:ResourceTag/owner": "${aws:username}"}}, {"aws:ResourceTag/owner": "x"}),  # a policy variable
        ({"StringNotEquals": {"ec2:InstanceType": "t3.nano"}}, {}),  # a negated operator on an absent key
        ({"StringEquals": {"aws:TagKeys": "a"}}, {"aws:TagKeys": ["a"]}),  # a multivalued key, single-valued operator
    ],
)
def test_what_the_model_cannot_decide_it_refuses_to_guess(condition: dict[str, Any], context: dict[str, Any]) -> None:
    with pytest.raises(UndecidedCondition):
        decide(condition, context)


class Tags:
    """An account's EC2 resources and their tags, as the adapter reads them from moto."""

    def __init__(self, known: dict[str, dict[str, str]]) -> None:
        self.known = known

    def tags(self, region: str, resource_id: str) -> dict[str, str] | None:
        return self.known.get(resource_id)


DRILL = "arn:aws:states:us-east-1:123456789012:execution:Drill-1:weekly"
TAGS = [{"Key": "glacier-ami-restore:drill", "Value": DRILL}]
LAUNCH = {
    "ImageId": "ami-1", "InstanceType": "t3.nano",
    "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": "subnet-1", "Groups": ["sg-1"], "AssociatePublicIpAddress": False}],
    "TagSpecifications": [{"ResourceType": "instance", "Tags": TAGS}, {"ResourceType": "volume", "Tags": TAGS}],
}  # fmt: skip


def test_run_instances_authorizes_every_resource_it_uses_or_creates() -> None:
    # Given a drill AMI (tagged with its restore's execution), the subnet and group, and the drill's launch request
    account = Tags({"ami-1": {"glacier-ami-restore:execution": "exec"}, "subnet-1": {}, "sg-1": {"Name": "drill"}})
    region = {"ec2:Region": REGION, "aws:RequestedRegion": REGION}
    requested = {**region, "aws:RequestTag/glacier-ami-restore:drill": DRILL, "aws:TagKeys": ["glacier-ami-restore:drill"]}
    execution = {"aws:ResourceTag/glacier-ami-restore:execution": "exec", "ec2:ResourceTag/glacier-ami-restore:execution": "exec"}
    # When its authorizations are listed / Then one per resource, with its own tags or the request's, and CreateTags
    # for the two resource types it tags
    assert run_instances(LAUNCH, REGION, ACCOUNT, account) == [
        Request("ec2:RunInstances", "arn:aws:ec2:us-east-1::image/ami-1", {**region, **execution}),
        Request("ec2:RunInstances", "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-1", region),
        Request("ec2:RunInstances", "arn:aws:ec2:us-east-1:123456789012:security-group/sg-1",
                {**region, "aws:ResourceTag/Name": "drill", "ec2:ResourceTag/Name": "drill"}),
        Request("ec2:RunInstances", "arn:aws:ec2:us-east-1:123456789012:instance/*", {**requested, "ec2:InstanceType": "t3.nano"}),
        Request("ec2:RunInstances", "arn:aws:ec2:us-east-1:123456789012:volume/*", requested),
        Request("ec2:RunInstances", "arn:aws:ec2:us-east-1:123456789012:network-interface/*",
                {**region, "ec2:Subnet": "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-1"}),
        Request("ec2:CreateTags", "arn:aws:ec2:us-east-1:123456789012:instance/*", {**requested, "ec2:CreateAction": "RunInstances"}),
        Request("ec2:CreateTags", "arn:aws:ec2:us-east-1:123456789012:volume/*", {**requested, "ec2:CreateAction": "RunInstances"}),
    ]  # fmt: skip


def test_a_request_tag_condition_on_the_image_refuses_the_launch() -> None:
    # Given the drill policy as first written: the image in the statement that requires the drill tag in the request
    documents = policy(
        allow("ec2:RunInstances", "arn:aws:ec2:us-east-1::image/*", {"Null": {"aws:RequestTag/glacier-ami-restore:drill": "false"}})
    )
    account = Tags({"ami-1": {}, "subnet-1": {}, "sg-1": {}})
    (image, *_) = run_instances(LAUNCH, REGION, ACCOUNT, account)
    # Then the image's authorization is refused: the request's tags are the created resources', not the image's
    assert evaluate(documents, image) == "ImplicitDeny"


def test_run_instances_without_what_the_model_decides_is_undecided() -> None:
    account = Tags({"ami-1": {}})
    with pytest.raises(UndecidedCondition):
        run_instances({"ImageId": "ami-1", "InstanceType": "t3.nano"}, REGION, ACCOUNT, account)  # the default subnet
    with pytest.raises(UndecidedCondition):
        run_instances({**LAUNCH, "IamInstanceProfile": {"Name": "p"}}, REGION, ACCOUNT, account)  # iam:PassRole


def test_removal_and_tagging_requests_name_each_resource_with_its_tags() -> None:
    account = Tags({"i-1": {"glacier-ami-restore:drill": DRILL}, "ami-1": {}, "snap-1": {"k": "v"}})
    region = {"ec2:Region": REGION, "aws:RequestedRegion": REGION}
    drill_tag = {"aws:ResourceTag/glacier-ami-restore:drill": DRILL, "ec2:ResourceTag/glacier-ami-restore:drill": DRILL}
    # TerminateInstances: each instance EC2 knows (i-2 is left to EC2's own NotFound)
    assert ec2_requests("TerminateInstances", {"InstanceIds": ["i-1", "i-2"]}, REGION, ACCOUNT, account) == [
        Request("ec2:TerminateInstances", "arn:aws:ec2:us-east-1:123456789012:instance/i-1", {**region, **drill_tag})
    ]
    # Images and snapshots: ARNs without an account
    assert ec2_requests("DeregisterImage", {"ImageId": "ami-1"}, REGION, ACCOUNT, account) == [
        Request("ec2:DeregisterImage", "arn:aws:ec2:us-east-1::image/ami-1", region)
    ]
    assert ec2_requests("DeleteSnapshot", {"SnapshotId": "snap-1"}, REGION, ACCOUNT, account) == [
        Request(
            "ec2:DeleteSnapshot", "arn:aws:ec2:us-east-1::snapshot/snap-1", {**region, "aws:ResourceTag/k": "v", "ec2:ResourceTag/k": "v"}
        )
    ]
    # CreateTags: the resource's tags and the request's, no ec2:CreateAction (called by itself)
    assert ec2_requests("CreateTags", {"Resources": ["ami-1"], "Tags": [{"Key": "a", "Value": "b"}]}, REGION, ACCOUNT, account) == [
        Request("ec2:CreateTags", "arn:aws:ec2:us-east-1::image/ami-1", {**region, "aws:RequestTag/a": "b", "aws:TagKeys": ["a"]})
    ]
    # Describe actions: "*"; CloudWatch's PutMetricData: its namespace
    assert ec2_requests("DescribeInstances", {}, REGION, ACCOUNT, account) == [Request("ec2:DescribeInstances", "*", region)]
    assert cloudwatch_requests("PutMetricData", {"Namespace": "GlacierAmiRestore"}) == [
        Request("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "GlacierAmiRestore"})
    ]


def test_a_restore_image_task_writes_snapshots_and_tags_with_the_callers_permissions() -> None:
    spec = [
        {"ResourceType": "image", "Tags": [{"Key": "e", "Value": "x"}]},
        {"ResourceType": "snapshot", "Tags": [{"Key": "e", "Value": "x"}]},
    ]
    tagged = {
        "ec2:Region": REGION,
        "aws:RequestedRegion": REGION,
        "aws:RequestTag/e": "x",
        "aws:TagKeys": ["e"],
        "ec2:CreateAction": "CreateRestoreImageTask",
    }
    assert ec2_requests("CreateRestoreImageTask", {"TagSpecifications": spec}, REGION, ACCOUNT, Tags({})) == [
        Request("ec2:CreateRestoreImageTask", "arn:aws:ec2:us-east-1::image/*", {"ec2:Region": REGION, "aws:RequestedRegion": REGION}),
        Request("ebs:StartSnapshot", "arn:aws:ec2:us-east-1::snapshot/*"),
        Request("ebs:PutSnapshotBlock", "arn:aws:ec2:us-east-1::snapshot/*"),
        Request("ebs:CompleteSnapshot", "arn:aws:ec2:us-east-1::snapshot/*"),
        Request("ec2:CreateTags", "arn:aws:ec2:us-east-1::image/*", tagged),
        Request("ec2:CreateTags", "arn:aws:ec2:us-east-1::snapshot/*", tagged),
    ]


def test_a_store_image_task_is_authorized_against_its_image_and_reads_snapshots_with_the_callers_permissions() -> None:
    # Given an AMI tagged by its backup and one EC2 does not know
    account = Tags({"ami-1": {"aws:backup:source-resource": "i-1"}})
    region = {"ec2:Region": REGION, "aws:RequestedRegion": REGION}
    backed_up = {"aws:ResourceTag/aws:backup:source-resource": "i-1", "ec2:ResourceTag/aws:backup:source-resource": "i-1"}
    # When it is stored / Then the image named with its tags (Service Authorization Reference: image*), and EC2's reads of
    # the snapshots (EC2 User Guide's store policy)
    reads = [
        Request("ebs:ListSnapshotBlocks", "arn:aws:ec2:us-east-1::snapshot/*"),
        Request("ebs:GetSnapshotBlock", "arn:aws:ec2:us-east-1::snapshot/*"),
    ]
    assert ec2_requests("CreateStoreImageTask", {"ImageId": "ami-1"}, REGION, ACCOUNT, account) == [
        Request("ec2:CreateStoreImageTask", "arn:aws:ec2:us-east-1::image/ami-1", {**region, **backed_up}),
        *reads,
    ]
    # And an unknown AMI is left to EC2's own answer
    assert ec2_requests("CreateStoreImageTask", {"ImageId": "ami-2"}, REGION, ACCOUNT, account) == reads
    # And a policy scoped to images as AWS advises allows it; one scoped to another image, or conditioned on a key the
    # model does not put in the context (ec2:Owner), refuses it
    (store, *_) = ec2_requests("CreateStoreImageTask", {"ImageId": "ami-1"}, REGION, ACCOUNT, account)
    assert evaluate(policy(allow("ec2:CreateStoreImageTask", "arn:aws:ec2:*::image/*")), store) == "Allow"
    assert evaluate(policy(allow("ec2:CreateStoreImageTask", "arn:aws:ec2:*::image/ami-2")), store) == "ImplicitDeny"
    owner = {"StringEquals": {"ec2:Owner": ACCOUNT}}
    assert evaluate(policy(allow("ec2:CreateStoreImageTask", "arn:aws:ec2:*::image/*", owner)), store) == "ImplicitDeny"
