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
