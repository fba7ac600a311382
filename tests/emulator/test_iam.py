"""IAM as AWS applies it where moto does not (emulator/adapters/iam.py), with enforcement on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.adapters import process
from emulator.facade import Emulator

TABLE = "budget"
KEY = {"kind": {"S": "lease"}, "id": {"S": "x"}}


@pytest.fixture
def writer(aws: Emulator) -> Iterator[Any]:
    """A user allowed PutItem and UpdateItem on the table, not DeleteItem; and IAM enforced."""
    aws.client("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "kind", "AttributeType": "S"}, {"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "kind", "KeyType": "HASH"}, {"AttributeName": "id", "KeyType": "RANGE"}],
    )
    iam = aws.client("iam")
    iam.create_user(UserName="writer")
    table = f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"], "Resource": table}],
    }
    iam.put_user_policy(UserName="writer", PolicyName="write", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="writer")["AccessKey"]
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )
    process.enforce_iam(True)
    try:
        yield client
    finally:
        process.enforce_iam(False)


def test_a_transaction_is_authorized_as_the_actions_it_holds(writer: Any) -> None:
    # Given a user allowed PutItem and UpdateItem (IAM has no dynamodb:TransactWriteItems action to grant)
    put = {"Put": {"TableName": TABLE, "Item": {**KEY, "n": {"N": "1"}}}}
    update = {"Update": {"TableName": TABLE, "Key": KEY, "UpdateExpression": "SET n = :n", "ExpressionAttributeValues": {":n": {"N": "2"}}}}
    # When it writes a transaction of a Put / Then allowed; of an Update and a Delete / Then refused for the Delete
    writer.transact_write_items(TransactItems=[put])
    with pytest.raises(ClientError) as refused:
        writer.transact_write_items(TransactItems=[update, {"Delete": {"TableName": TABLE, "Key": {**KEY, "id": {"S": "y"}}}}])
    error = refused.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (400, "AccessDeniedException")
    assert error["Error"]["Message"] == "User: arn:aws:iam::123456789012:user/writer is not authorized to perform: dynamodb:DeleteItem"
    # And an Update alone is allowed
    writer.transact_write_items(TransactItems=[update])


def test_head_bucket_is_authorized_as_list_bucket(aws: Emulator) -> None:
    # Given a user allowed s3:ListBucket on one bucket only (S3 authorizes HeadBucket as that action)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="other-vault")
    iam = aws.client("iam")
    iam.create_user(UserName="lister")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::my-ami-archive"}],
    }
    iam.put_user_policy(UserName="lister", PolicyName="list", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="lister")["AccessKey"]
    lister = boto3.client("s3", region_name="us-east-1", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    process.enforce_iam(True)
    try:
        # When it asks HeadBucket of both / Then its own bucket answers, the other is forbidden
        assert lister.head_bucket(Bucket="my-ami-archive")["ResponseMetadata"]["HTTPStatusCode"] == 200
        with pytest.raises(ClientError) as refused:
            lister.head_bucket(Bucket="other-vault")
        assert refused.value.response["Error"]["Code"] == "403"
    finally:
        process.enforce_iam(False)


def test_deregister_image_deletes_its_snapshots_only_with_the_callers_delete_snapshot(aws: Emulator) -> None:
    # Given an AMI of one snapshot, and a user allowed DeregisterImage but not DeleteSnapshot
    ec2 = aws.client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    mapping = [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}]
    image = ec2.register_image(Name="lp-image", RootDeviceName="/dev/xvda", BlockDeviceMappings=mapping)["ImageId"]
    iam = aws.client("iam")
    iam.create_user(UserName="remover")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:DeregisterImage", "Resource": "*"}]}
    iam.put_user_policy(UserName="remover", PolicyName="remove", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="remover")["AccessKey"]
    remover = boto3.client(
        "ec2", region_name="us-east-1", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )
    process.enforce_iam(True)
    try:
        # When it deregisters the AMI with its snapshots / Then the AMI is gone, its snapshot kept: missing-permissions
        answer = remover.deregister_image(ImageId=image, DeleteAssociatedSnapshots=True)
        assert answer["DeleteSnapshotResults"] == [{"SnapshotId": snapshot, "ReturnCode": "missing-permissions"}]
        # And DeleteSnapshot by itself is refused as EC2 refuses
        with pytest.raises(ClientError) as refused:
            remover.delete_snapshot(SnapshotId=snapshot)
        error = refused.value.response
        assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (403, "UnauthorizedOperation")
    finally:
        process.enforce_iam(False)
    assert [s["SnapshotId"] for s in ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"]] == [snapshot]
    assert ec2.describe_images(ImageIds=[image])["Images"] == []


def test_eventbridge_starts_a_state_machine_only_as_a_target_role_allowed_to(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a state machine and two rules targeting it, each with a role trusting EventBridge: one allowed
    # states:StartExecution on the state machine, one on another (EventBridge User Guide: "the role needs
    # states:StartExecution on the state machine"); the roles' sessions known, and the harness an administrator, as
    # Emulator.enforce_iam makes them for a stack
    sfn, iam, events, sts = (aws.client(s) for s in ("stepfunctions", "iam", "events", "sts"))
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    machine = sfn.create_state_machine(name="m", definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    for rule, resource in (("allowed", machine), ("elsewhere", f"{machine}-other")):
        role = iam.create_role(RoleName=rule, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "states:StartExecution", "Resource": resource}]}
        iam.put_role_policy(RoleName=rule, PolicyName="start", PolicyDocument=json.dumps(policy))
        events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["lp.test"], "detail-type": [rule]}))
        events.put_targets(Rule=rule, Targets=[{"Id": "m", "Arn": machine, "RoleArn": role}])
        session = sts.assume_role(RoleArn=role, RoleSessionName="emulated")["Credentials"]
        aws.invokers[role] = (session["AccessKeyId"], session["SessionToken"])
    iam.create_user(UserName="operator")
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="operator", PolicyName="admin", PolicyDocument=json.dumps(admin))
    key = iam.create_access_key(UserName="operator")["AccessKey"]
    monkeypatch.setattr(aws, "credentials", {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]})
    # When an event for each rule arrives with IAM enforced
    with aws.iam_enforced():
        for rule in ("allowed", "elsewhere"):
            aws.eventbridge.emit("us-east-1", "lp.test", rule, {}, [])
        aws.clock.advance(600)
    # Then only the allowed role's delivery started an execution; the other's failed, as EventBridge reports it
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1
    outcomes = sorted((d.rule, d.outcome) for d in aws.eventbridge.deliveries)
    assert outcomes == [
        ("allowed", "delivered"),
        ("elsewhere", f"error: PermissionError: arn:aws:iam::123456789012:role/elsewhere may not states:StartExecution {machine}"),
    ]


def test_a_bodiless_lambda_request_is_signed_as_botocore_signs_it(aws: Emulator) -> None:
    # Given a function with a resource policy, and a user allowed to read and change it
    awslambda, iam = aws.client("lambda"), aws.client("iam")
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))["Role"]["Arn"]
    awslambda.create_function(FunctionName="fn", Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": b"0"})
    awslambda.add_permission(FunctionName="fn", StatementId="rule", Action="lambda:InvokeFunction", Principal="events.amazonaws.com")
    iam.create_user(UserName="reader")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["lambda:GetPolicy", "lambda:RemovePermission"], "Resource": "*"}],
    }
    iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    reader = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )
    # When it reads the policy (a GET without body or query) and removes the statement (a DELETE) with IAM enforced
    with aws.iam_enforced():
        statements = json.loads(reader.get_policy(FunctionName="fn")["Policy"])["Statement"]
        reader.remove_permission(FunctionName="fn", StatementId="rule")
    # Then both are answered (moto had signed the request's headers as its body: SignatureDoesNotMatch)
    assert [s["Sid"] for s in statements] == ["rule"]
    with pytest.raises(ClientError) as gone:
        awslambda.get_policy(FunctionName="fn")
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
