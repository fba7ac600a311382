"""What the emulator saves moto's and botocore's work on still answers as before: asymmetric KMS keys sign and verify
with the key drawn on first use, every account sees Amazon's public AMIs (ten of moto's catalogue), botocore sessions
that share what they read and the methods they build still each answer with their own clients, and a request's
remembered route reaches the handler moto would pick."""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.loaders import JSONFileLoader

from emulator.session import Emulator


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
