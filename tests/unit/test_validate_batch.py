"""Validate Batch: a list of keys or item objects, or a selector; every bad item named, nothing half-accepted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import load_function

app, single = load_function("validate_batch"), load_function("validate_input")
K1, K2, K3 = "ami-0a1b2c3d4e5f60001.bin", "ami-0a1b2c3d4e5f60002.bin", "ami-0a1b2c3d4e5f60003.bin"
BATCH = {"recoveryPoints": [K1, K2], "recoveryPointBucket": "my-ami-archive"}
PARENT = "arn:aws:states:us-east-1:123456789012:execution:glacier-ami-restore-RestoreStateMachine:nightly"


def validate(payload: Any, allowed: str = "*", tag: str = "", tagged: Any = None) -> tuple[dict[str, Any], list[str]]:
    """As the state machine validates: "Is It A Batch?" sends an input with recoveryPoints to Validate Batch, any other
    to Validate Input."""
    if isinstance(payload, dict) and "recoveryPoints" in payload:
        request, problems = app.validate_batch(payload, allowed, tag, tagged)
    else:
        request, problems = single.validate_input(payload, allowed, tag, tagged)
    return request, problems


def test_a_list_of_keys_becomes_one_single_restore_input_per_ami() -> None:
    # Given two keys sharing the bucket and defaults / When validated / Then one child input each, defaults left out
    request, problems = validate(BATCH)
    assert problems == []
    assert request == {
        "batch": True,
        "recoveryPointBucket": "my-ami-archive",
        "restoreRequestDays": 1,
        "restoreRequestTier": "Standard",
        "requestedTier": "Standard",
        "amiName": None,
        "recoveryPoints": [
            {"recoveryPoint": K1, "recoveryPointBucket": "my-ami-archive"},
            {"recoveryPoint": K2, "recoveryPointBucket": "my-ami-archive"},
        ],
        "selector": None,
    }


def test_items_override_the_shared_values() -> None:
    payload = {
        "recoveryPoints": [K1, {"recoveryPoint": K2, "restoreRequestTier": "expedited", "restoreRequestDays": "3", "amiName": "db-dr"}],
        "recoveryPointBucket": "my-ami-archive",
        "restoreRequestTier": "Bulk",
        "restoreRequestDays": 2,
    }
    request, problems = validate(payload)
    assert problems == []
    assert request["recoveryPoints"] == [
        {"recoveryPoint": K1, "recoveryPointBucket": "my-ami-archive", "restoreRequestDays": 2, "restoreRequestTier": "Bulk"},
        {"recoveryPoint": K2, "recoveryPointBucket": "my-ami-archive", "restoreRequestDays": 3, "restoreRequestTier": "Expedited",
         "amiName": "db-dr"},
    ]  # fmt: skip


def test_every_bad_item_is_named_by_position_and_key() -> None:
    payload = {
        "recoveryPoints": [K1, "backup.tar", {"recoveryPoint": K3, "restoreRequestTier": "Fast"}, K1, 42, {"restoreRequestDays": 2}],
        "recoveryPointBucket": "my-ami-archive",
    }
    assert validate(payload)[1] == [
        'recoveryPoints[1] (backup.tar): recoveryPoint: "backup.tar" is not an AMI object written by CreateStoreImageTask: an optional '
        "path, then ami- and 8 or 17 hex digits, then .bin (ami-0123456789abcdef0.bin, backups/ami-0123456789abcdef0.bin)",
        f'recoveryPoints[2] ({K3}): restoreRequestTier: must be one of Standard, Bulk, Expedited (any letter case), got "Fast"',
        f"recoveryPoints[3] ({K1}): listed twice (also at recoveryPoints[0]): each AMI is restored once",
        "recoveryPoints[4]: must be an object key or an object with recoveryPoint, got 42",
        "recoveryPoints[5]: recoveryPoint: required, the S3 key of the stored AMI, e.g. ami-0123456789abcdef0.bin",
    ]


@pytest.mark.parametrize(
    "points",
    [[], [f"ami-{n:017x}.bin" for n in range(1001)], "ami-0a1b2c3d4e5f60001.bin", None, 7],
    ids=["empty", "1001", "str", "null", "int"],
)
def test_the_list_holds_1_to_1000_items(points: Any) -> None:
    assert validate({**BATCH, "recoveryPoints": points})[1] == [
        "recoveryPoints: must be a list of 1 to 1,000 object keys (or objects with recoveryPoint and overrides), or a selector "
        'such as {"amiName": "web-*", "newestOnly": true}'
    ]


def test_a_thousand_items_are_accepted() -> None:
    request, problems = validate({**BATCH, "recoveryPoints": [f"ami-{n:017x}.bin" for n in range(1000)]})
    assert (problems, len(request["recoveryPoints"])) == ([], 1000)


def test_recovery_point_and_recovery_points_exclude_each_other() -> None:
    assert validate({**BATCH, "recoveryPoint": K3})[1] == [
        "recoveryPoint and recoveryPoints: give one or the other (one AMI, or a list or selector of AMIs)"
    ]


def test_shared_problems_are_reported_once_not_per_item() -> None:
    payload = {"recoveryPoints": [K1, K2], "recoveryPointBucket": "Bad_Bucket", "restoreRequestDays": 0, "restoreRequestTeir": "Bulk"}
    assert validate(payload)[1] == [
        "restoreRequestTeir: unknown field in a batch (allowed: recoveryPoints, recoveryPointBucket, restoreRequestDays, "
        "restoreRequestTier, amiName)",
        'recoveryPointBucket: "Bad_Bucket" is a legacy name (capitals, underscores or over 63 characters, allowed in us-east-1 '
        "before March 1, 2018): S3 still serves it, path-style only; this workflow takes the names valid today, 3-63 characters "
        "of a-z, 0-9, '.' and '-': copy the object into such a bucket",
        "restoreRequestDays: must be a whole number from 1 to 30 (number or string of digits), got 0",
    ]


def test_a_selector_is_kept_for_resolve_selection_with_newest_only_by_default() -> None:
    request, problems = validate({**BATCH, "recoveryPoints": {"amiName": "web-*", "archivedBefore": "2025-03-01"}})
    assert problems == []
    assert (request["recoveryPoints"], request["selector"]) == (
        None,
        {"amiName": "web-*", "archivedBefore": "2025-03-01", "newestOnly": True},
    )


def test_a_bad_selector_names_each_field() -> None:
    selector = {"amiName": "", "archivedBefore": "March 2025", "newestOnly": "yes", "bucket": "x"}
    assert validate({**BATCH, "recoveryPoints": selector})[1] == [
        "recoveryPoints.bucket: unknown selector field (allowed: amiName, archivedBefore, newestOnly)",
        'recoveryPoints.amiName: required, the original AMI name to match (1-128 characters; * and ? match any characters), got ""',
        'recoveryPoints.archivedBefore: must be a date (YYYY-MM-DD) or an ISO 8601 time with its offset, got "March 2025"',
        'recoveryPoints.newestOnly: must be true or false, got "yes"',
    ]


def test_a_bucket_outside_the_listed_ones_is_refused_with_how_to_allow_it() -> None:
    payload = {"recoveryPoints": [K1, {"recoveryPoint": K2, "recoveryPointBucket": "other-vault"}], "recoveryPointBucket": "vault-a"}
    assert validate(payload, allowed="vault-a,vault-b")[1] == [
        f'recoveryPoints[1] ({K2}): recoveryPointBucket: "other-vault" is not a bucket this stack may read (ArchiveBucketName: '
        "vault-a, vault-b): add it to ArchiveBucketName (comma-separated) and update the stack; the functions' code does not change"
    ]


def test_a_bucket_carrying_the_archive_tag_is_allowed_and_its_tags_read_once() -> None:
    asked: list[str] = []

    def tagged(bucket: str) -> bool:
        asked.append(bucket)
        return bucket == "tagged-vault"

    payload = {"recoveryPoints": [K1, K2], "recoveryPointBucket": "tagged-vault"}
    assert validate(payload, allowed="vault-a", tag="dr", tagged=tagged)[1] == []
    _, problems = validate({**payload, "recoveryPointBucket": "untagged"}, allowed="vault-a", tag="dr", tagged=tagged)
    assert problems == [
        'recoveryPointBucket: "untagged" is not a bucket this stack may read (ArchiveBucketName: vault-a; ArchiveBucketTag: '
        "ami-archive=dr): add it to ArchiveBucketName (comma-separated) and update the stack, or tag the bucket ami-archive=dr; "
        "the functions' code does not change"
    ]


def test_the_parent_field_is_a_claim_kept_for_checking_and_a_batch_item_may_not_carry_it() -> None:
    # Given the input a batch passes to a child (the single payload + AWS's parent field) / Then accepted, the claim kept
    # (Validate Input's handler keeps it only if that execution is a running batch that names its children so)
    request, problems = validate({"recoveryPoint": K1, "recoveryPointBucket": "my-ami-archive", app.STARTED_BY: PARENT})
    assert (problems, request["startedBy"]) == ([], PARENT)
    # ...a value that is no execution ARN is no claim at all: no problem, nothing kept (the restore emails as any other)
    request, problems = validate({"recoveryPoint": K1, "recoveryPointBucket": "my-ami-archive", app.STARTED_BY: "me"})
    assert (problems, "startedBy" in request) == ([], False)
    # ...and a batch's item may not carry it
    assert validate({**BATCH, "recoveryPoints": [{"recoveryPoint": K1, app.STARTED_BY: PARENT}]})[1] == [
        f"recoveryPoints[0] ({K1}): AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: not allowed in a batch item"
    ]


def test_the_blogs_single_payload_is_unchanged() -> None:
    blog = {"recoveryPoint": K1, "recoveryPointBucket": "my-ami-archive", "restoreRequestDays": "1", "restoreRequestTier": "Standard"}
    request, problems = validate(blog)
    assert problems == [] and "batch" not in request and "startedBy" not in request


def test_the_handler_refuses_a_bad_batch_with_one_error_naming_every_item() -> None:
    with pytest.raises(app.InvalidInputError) as refused:
        app.lambda_handler({"input": {**BATCH, "recoveryPoints": ["a.tar", "b.tar"]}, "executionName": "x", "startTime": "t"}, None)
    assert str(refused.value).count("is not an AMI object") == 2
