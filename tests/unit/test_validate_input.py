"""Validate Input: every rule of the execution input, with the exact message the operator reads."""

from __future__ import annotations

import pytest

from tests.support import load_function

app = load_function("validate_input")
VALID = {"recoveryPoint": "ami-0123456789abcdef0.bin", "recoveryPointBucket": "my-ami-archive"}


def problems(payload: object, allowed: str = "*") -> list[str]:
    found: list[str] = app.validate_input(payload, allowed)[1]
    return found


def test_minimal_input_gets_documented_defaults() -> None:
    # Given only the two required fields / When validated / Then Days=1 and Tier=Standard
    request, found = app.validate_input(VALID, "*")
    assert found == []
    assert request == {**VALID, "restoreRequestDays": 1, "restoreRequestTier": "Standard", "requestedTier": "Standard", "amiName": None}


@pytest.mark.parametrize("days, expected", [("1", 1), (3, 3), ("30", 30), ("007", 7)])
def test_days_accepts_integers_and_ascii_digit_strings(days: object, expected: int) -> None:
    request, found = app.validate_input({**VALID, "restoreRequestDays": days}, "*")
    assert (found, request["restoreRequestDays"]) == ([], expected)


@pytest.mark.parametrize("days", ["0", 0, 31, "31", "١", "1.5", 1.0, True, "", " 1", None, "-1", "9999999"])
def test_days_outside_1_to_30_or_not_whole_ascii_is_refused(days: object) -> None:
    assert problems({**VALID, "restoreRequestDays": days}) == [
        f"restoreRequestDays: must be a whole number from 1 to 30 (number or string of digits), got {days!r}"
    ]


@pytest.mark.parametrize("tier, expected", [("Standard", "Standard"), ("bulk", "Bulk"), ("EXPEDITED", "Expedited")])
def test_tier_is_normalised(tier: str, expected: str) -> None:
    request, found = app.validate_input({**VALID, "restoreRequestTier": tier}, "*")
    assert (found, request["restoreRequestTier"], request["requestedTier"]) == ([], expected, expected)


def test_unknown_tier_is_refused() -> None:
    assert problems({**VALID, "restoreRequestTier": "Fast"}) == ["restoreRequestTier: must be one of Standard, Bulk, Expedited, got 'Fast'"]


@pytest.mark.parametrize(
    "bucket, reason",
    [
        ("My_Bucket", "must be 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit"),
        ("ab", "must be 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit"),
        ("a" * 64, "must be 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit"),
        ("my..bucket", "must not contain '..'"),
        ("192.168.1.10", "must not be formatted as an IP address"),
        ("xn--bucket", "uses a prefix or suffix that S3 reserves"),
        ("data-s3alias", "uses a prefix or suffix that S3 reserves"),
    ],
)
def test_bucket_names_follow_s3_rules(bucket: str, reason: str) -> None:
    assert problems({**VALID, "recoveryPointBucket": bucket}) == [f"recoveryPointBucket: '{bucket}' {reason}"]


def test_bucket_outside_the_stack_scope_is_refused_with_the_fix() -> None:
    assert problems(VALID, allowed="other-bucket") == [
        "recoveryPointBucket: 'my-ami-archive' is not the bucket this stack may read (other-bucket); "
        "redeploy with ArchiveBucketName set to it"
    ]


def test_key_must_be_a_stored_ami_object() -> None:
    assert problems({**VALID, "recoveryPoint": "backup.tar"}) == [
        "recoveryPoint: 'backup.tar' is not an AMI object written by CreateStoreImageTask (<ami-id>.bin)"
    ]


def test_key_over_1024_bytes_is_refused() -> None:
    assert problems({**VALID, "recoveryPoint": "é" * 511 + ".bin"}) == [
        "recoveryPoint: required, the S3 key of the stored AMI (1-1024 bytes), e.g. ami-0123456789abcdef0.bin"
    ]


def test_unknown_fields_and_bad_ami_name_are_all_listed() -> None:
    assert problems({**VALID, "restoreRequestTeir": "Bulk", "amiName": "x"}) == [
        "restoreRequestTeir: unknown field (allowed: recoveryPoint, recoveryPointBucket, restoreRequestDays, restoreRequestTier, amiName)",
        "amiName: must be 3-101 characters of letters, digits, spaces and ()[]./-'@_, got 'x'",
    ]


@pytest.mark.parametrize("payload", ["ami-0123.bin", ["a"], None, 42])
def test_input_that_is_not_an_object_is_refused(payload: object) -> None:
    assert problems(payload) == [
        "the input must be a JSON object with the fields "
        "recoveryPoint, recoveryPointBucket, restoreRequestDays, restoreRequestTier, amiName"
    ]


def test_handler_raises_named_error_listing_every_problem() -> None:
    # Given two bad fields / When the Lambda handler runs / Then one InvalidInputError names both
    with pytest.raises(app.InvalidInputError) as raised:
        app.lambda_handler(
            {"input": {**VALID, "restoreRequestDays": "0", "restoreRequestTier": "Fast"}, "executionName": "x", "startTime": "t"}, None
        )
    assert str(raised.value) == (
        "restoreRequestDays: must be a whole number from 1 to 30 (number or string of digits), got '0'; "
        "restoreRequestTier: must be one of Standard, Bulk, Expedited, got 'Fast'"
    )


def test_handler_passes_execution_identity_through() -> None:
    result = app.lambda_handler({"input": VALID, "executionName": "run-1", "startTime": "2026-01-05T09:00:00Z"}, None)
    assert (result["executionName"], result["startTime"]) == ("run-1", "2026-01-05T09:00:00Z")
