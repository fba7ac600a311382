"""What the emulator saves moto's and botocore's work on still answers as before: asymmetric KMS keys sign and verify
with the key drawn on first use, every account sees Amazon's public AMIs (ten of moto's catalogue), botocore sessions
that share what they read and the methods they build still each answer with their own clients, and a request's
remembered route reaches the handler moto would pick."""

from __future__ import annotations

import gc
import json
import time
import weakref
from typing import Any

import botocore.session
from botocore.loaders import JSONFileLoader

from emulator.adapters import speed
from emulator.facade import Emulator


def test_an_asymmetric_key_signs_and_verifies_and_a_symmetric_key_encrypts(aws: Emulator) -> None:
    kms = aws.client("kms")
    signing = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signed = kms.sign(KeyId=signing, Message=b"restore", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    verified = kms.verify(KeyId=signing, Message=b"restore", Signature=signed, SigningAlgorithm="RSASSA_PSS_SHA_256")
    public = kms.get_public_key(KeyId=signing)
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=symmetric, Plaintext=b"restore")["CiphertextBlob"]
    assert (verified["SignatureValid"], public["CustomerMasterKeySpec"], len(public["PublicKey"])) == (True, "RSA_2048", 294)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"restore"


def test_every_account_sees_ten_public_amis_owned_by_amazon(aws: Emulator) -> None:
    images = aws.client("ec2").describe_images(Owners=["amazon"])["Images"]
    assert (len(images), {i["ImageOwnerAlias"] for i in images}) == (10, {"amazon"})
    assert aws.client("ec2").describe_images(Owners=["self"])["Images"] == []


def test_a_second_botocore_session_reads_no_model_file_again_and_its_clients_work(aws: Emulator, monkeypatch: Any) -> None:
    # Given a session that created an S3 client (it read S3's model and endpoint rules)
    botocore.session.get_session().create_client("s3", region_name="us-east-1")
    read: list[str] = []
    original = JSONFileLoader.load_file

    def spy(self: JSONFileLoader, path: str) -> Any:
        read.append(path)
        return original(self, path)

    monkeypatch.setattr(JSONFileLoader, "load_file", spy)
    # When a new session creates one and calls it
    client: Any = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    client.create_bucket(Bucket="second-session")
    # Then no model file was read again, and the bucket is there for the emulator's own client
    assert read == []
    assert [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]] == ["my-ami-archive", "second-session"]


def test_requests_reach_the_handler_moto_would_pick_and_its_errors_keep_their_status(aws: Emulator) -> None:
    # Given an object under a prefix (S3's key route, not its bucket route) and a table that does not exist
    s3, dynamodb = aws.client("s3"), aws.client("dynamodb")
    s3.put_object(Bucket="my-ami-archive", Key="backups/2025/ami-0123456789abcdef0.bin", Body=b"image")
    # When both are read, twice (the second time by the remembered route)
    hits = speed.route.cache_info().hits
    bodies = [s3.get_object(Bucket="my-ami-archive", Key="backups/2025/ami-0123456789abcdef0.bin")["Body"].read() for _ in range(2)]
    errors = []
    for _ in range(2):
        try:
            dynamodb.describe_table(TableName="missing")
        except dynamodb.exceptions.ResourceNotFoundException as error:
            errors.append((error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]))
    # Then the object's bytes come back, and the missing table is DynamoDB's 400 each time
    assert bodies == [b"image", b"image"]
    assert errors == [("ResourceNotFoundException", 400)] * 2
    assert speed.route.cache_info().hits - hits >= 2  # the second read of each went by the remembered route


def test_a_seeded_emulator_in_another_region_draws_the_same_ids_every_time() -> None:
    # Given two emulators of one seed in eu-west-1, one after the other (the second finds every route remembered)
    drawn = []
    for _ in range(2):
        with Emulator(region="eu-west-1", seed=1) as aws:
            ec2 = aws.client("ec2")
            drawn.append((ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"], ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]))
    # Then both drew what moto draws after building the default account's EC2 (its default VPC draws ids first)
    assert drawn == [("vpc-51d5673438e61beab", "vpc-78db71354912601d0")] * 2


def test_clients_of_one_service_share_their_methods_and_each_answers_for_its_own_credentials(aws: Emulator) -> None:
    # Given two clients of EC2 from two sessions
    first: Any = botocore.session.get_session().create_client("ec2", region_name="us-east-1")
    second: Any = botocore.session.get_session().create_client(
        "ec2", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    # Then they call the same method functions, and the second answers with the account's ten public AMIs
    assert type(first).describe_images is type(second).describe_images
    assert type(first) is not type(second)
    assert len(second.describe_images(Owners=["amazon"])["Images"]) == 10


def test_a_closed_emulator_is_freed_once_its_executions_have_finished() -> None:
    # Given an emulator that ran an execution to its end and left a restore in progress (a timer on its clock), then
    # closed
    with Emulator() as closed:
        closed.client("s3").create_bucket(Bucket="my-ami-archive")
        key = closed.archive_ami("web-server-2025-01", "my-ami-archive", "GLACIER", size_gb=8)
        closed.client("s3").restore_object(Bucket="my-ami-archive", Key=key, RestoreRequest={"Days": 1})
        sfn = closed.client("stepfunctions")
        definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        role = f"arn:aws:iam::{closed.account_id}:role/states"
        machine = sfn.create_state_machine(name="pass", definition=json.dumps(definition), roleArn=role)["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        deadline = time.monotonic() + 10
        while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    left = weakref.ref(closed)
    del closed, sfn
    # When the garbage is collected
    gc.collect()
    # Then nothing holds it any more (moto kept every execution thread, and each thread the emulator's clock)
    assert left() is None
