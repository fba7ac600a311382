"""What the emulator saves moto's work on still answers as before: asymmetric KMS keys sign and verify with the key
drawn on first use, every account sees Amazon's public AMIs (ten of moto's catalogue), and botocore sessions that
share what they read still each answer with their own clients."""

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
    monkeypatch.setattr(JSONFileLoader, "load_file", lambda self, path: read.append(path) or original(self, path))
    # When a new session creates one and calls it
    client = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    client.create_bucket(Bucket="second-session")
    # Then no model file was read again, and the bucket is there for the emulator's own client
    assert read == []
    assert [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]] == ["my-ami-archive", "second-session"]
