"""What the emulator saves moto's work on still answers as before: asymmetric KMS keys sign and verify with the key
drawn on first use, and every account sees Amazon's public AMIs (ten of moto's catalogue)."""

from __future__ import annotations

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
