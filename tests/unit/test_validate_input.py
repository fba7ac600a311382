"""Validate Input: every rule of the execution input, with the exact message the operator reads."""

from __future__ import annotations

import hashlib

import pytest

from emulator.facade import Emulator
from tests.support import load_function, stand_in_run

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


@pytest.mark.parametrize(
    "days, echoed",
    [("0", '"0"'), (0, "0"), (31, "31"), ("31", '"31"'), ("١", '"١"'), ("1.5", '"1.5"'), (1.0, "1.0"), (True, "true"), ("", '""'),
     (" 1", '" 1"'), (None, "null"), ("-1", '"-1"'), ("9999999", '"9999999"')],
)  # fmt: skip
def test_days_outside_1_to_30_or_not_whole_ascii_is_refused_echoing_the_json_value(days: object, echoed: str) -> None:
    # Given a Days value that is not a whole number from 1 to 30 (null too: a field left out takes its default, null does not)
    # When validated / Then the refusal echoes the value as the input's JSON spelled it
    assert problems({**VALID, "restoreRequestDays": days}) == [
        f"restoreRequestDays: must be a whole number from 1 to 30 (number or string of digits), got {echoed}"
    ]


@pytest.mark.parametrize("tier, expected", [("Standard", "Standard"), ("bulk", "Bulk"), ("EXPEDITED", "Expedited")])
def test_tier_is_normalised(tier: str, expected: str) -> None:
    request, found = app.validate_input({**VALID, "restoreRequestTier": tier}, "*")
    assert (found, request["restoreRequestTier"], request["requestedTier"]) == ([], expected, expected)


@pytest.mark.parametrize("tier, echoed", [("Fast", '"Fast"'), (None, "null"), (1, "1")])
def test_unknown_tier_is_refused_saying_that_any_letter_case_works(tier: object, echoed: str) -> None:
    # Given a tier that is none of the three in any letter case, or null / When validated / Then it is refused
    assert problems({**VALID, "restoreRequestTier": tier}) == [
        f"restoreRequestTier: must be one of Standard, Bulk, Expedited (any letter case), got {echoed}"
    ]


def test_a_null_ami_name_is_refused_as_null_days_and_tier_are() -> None:
    # Given amiName null (one rule for every optional field: leave it out for its default)
    # When validated / Then it is refused, saying so
    assert problems({**VALID, "amiName": None}) == [
        "amiName: must be 3-101 characters of letters, digits, spaces and ()[]./-'@_ (leave it out for the original name), got null"
    ]


# What a refusal says of a legacy bucket name, and of a key that is no stored AMI
LEGACY_BUCKET = (
    "is a legacy name (capitals, underscores or over 63 characters, allowed in us-east-1 before March 1, 2018): S3 still serves "
    "it, path-style only; this workflow takes the names valid today, 3-63 characters of a-z, 0-9, '.' and '-': copy the object "
    "into such a bucket"
)
NOT_AN_AMI_OBJECT = (
    ": an optional path, then ami- and 8 or 17 hex digits, then .bin (ami-0123456789abcdef0.bin, backups/ami-0123456789abcdef0.bin)"
)


@pytest.mark.parametrize(
    "bucket, reason",
    [
        ("My_Bucket", LEGACY_BUCKET),
        ("ab", "must be 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit"),
        ("a" * 64, LEGACY_BUCKET),
        ("my bucket", "must be 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit"),
        ("my..bucket", "must not contain '..'"),
        ("192.168.1.10", "must not be formatted as an IP address"),
        ("xn--bucket", "uses a prefix or suffix that S3 reserves"),
        ("data-s3alias", "uses a prefix or suffix that S3 reserves"),
    ],
)
def test_bucket_names_follow_s3_rules(bucket: str, reason: str) -> None:
    assert problems({**VALID, "recoveryPointBucket": bucket}) == [f'recoveryPointBucket: "{bucket}" {reason}']


def test_bucket_outside_the_stack_scope_is_refused_with_the_fix() -> None:
    assert problems(VALID, allowed="other-bucket") == [
        'recoveryPointBucket: "my-ami-archive" is not the bucket this stack may read (other-bucket); '
        "redeploy with ArchiveBucketName set to it"
    ]


def test_key_must_be_a_stored_ami_object() -> None:
    assert problems({**VALID, "recoveryPoint": "backup.tar"}) == [
        f'recoveryPoint: "backup.tar" is not an AMI object written by CreateStoreImageTask{NOT_AN_AMI_OBJECT}'
    ]


@pytest.mark.parametrize(
    "key, message",
    [
        ("é" * 511 + ".bin", "recoveryPoint: too long: 1,026 bytes, where an S3 key has at most 1,024"),
        ("a" * 1996 + ".bin", "recoveryPoint: too long: 2,000 bytes, where an S3 key has at most 1,024"),
        ("", 'recoveryPoint: required, the S3 key of the stored AMI, e.g. ami-0123456789abcdef0.bin, got ""'),
        (None, "recoveryPoint: required, the S3 key of the stored AMI, e.g. ami-0123456789abcdef0.bin, got null"),
    ],
)
def test_a_key_over_1024_bytes_is_too_long_and_an_empty_one_missing(key: object, message: str) -> None:
    # Given a key of 1,026 or 2,000 bytes, an empty one, null / When validated / Then each is refused for what it is
    assert problems({**VALID, "recoveryPoint": key}) == [message]


def test_a_missing_key_is_required() -> None:
    assert problems({"recoveryPointBucket": "my-ami-archive"}) == [
        "recoveryPoint: required, the S3 key of the stored AMI, e.g. ami-0123456789abcdef0.bin"
    ]


def test_unknown_fields_and_bad_ami_name_are_all_listed() -> None:
    assert problems({**VALID, "restoreRequestTeir": "Bulk", "amiName": "x"}) == [
        "restoreRequestTeir: unknown field (allowed: recoveryPoint, recoveryPointBucket, restoreRequestDays, restoreRequestTier, amiName)",
        'amiName: must be 3-101 characters of letters, digits, spaces and ()[]./-\'@_ (leave it out for the original name), got "x"',
    ]


@pytest.mark.parametrize("payload, echoed", [("ami-0123.bin", '"ami-0123.bin"'), (["a"], '["a"]'), (None, "null"), (42, "42")])
def test_input_that_is_not_an_object_is_refused_naming_the_batch_field_too(payload: object, echoed: str) -> None:
    assert problems(payload) == [
        "the input must be a JSON object with the fields recoveryPoint, recoveryPointBucket, restoreRequestDays, "
        f"restoreRequestTier, amiName (recoveryPoints instead of recoveryPoint for many AMIs), got {echoed}"
    ]


def test_handler_raises_named_error_listing_every_problem() -> None:
    # Given two bad fields / When the Lambda handler runs / Then one InvalidInputError names both
    with pytest.raises(app.InvalidInputError) as raised:
        app.lambda_handler(
            {"input": {**VALID, "restoreRequestDays": "0", "restoreRequestTier": "Fast"}, "executionName": "x", "startTime": "t"}, None
        )
    assert str(raised.value) == (
        'restoreRequestDays: must be a whole number from 1 to 30 (number or string of digits), got "0"; '
        'restoreRequestTier: must be one of Standard, Bulk, Expedited (any letter case), got "Fast"'
    )


def test_handler_passes_execution_identity_through() -> None:
    result = app.lambda_handler({"input": VALID, "executionName": "run-1", "startTime": "2026-01-05T09:00:00Z"}, None)
    assert (result["executionName"], result["startTime"]) == ("run-1", "2026-01-05T09:00:00Z")


# --- AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: a claim, kept only when the facts agree -------------------------------

BATCH_MACHINE = "BatchRestore-3f1c9a52"
BATCH_MACHINE_ARN = f"arn:aws:states:us-east-1:123456789012:stateMachine:{BATCH_MACHINE}"


def test_a_child_is_one_a_running_batch_names_so(aws: Emulator) -> None:
    # Given a running batch nightly-dr, a finished batch old-dr, and a running execution of another state machine
    with aws.clock.hold():
        running = stand_in_run(aws, BATCH_MACHINE, "nightly-dr", {}, hold=3600)
        ended = stand_in_run(aws, BATCH_MACHINE, "old-dr", {})
        other = stand_in_run(aws, "someone-elses", "nightly-dr", {}, hold=3600)
        check_children(aws, running, ended, other)


def check_children(aws: Emulator, running: str, ended: str, other: str) -> None:
    sfn, child = app.sfn, app.child_name
    # Then only a name the running batch gives its children, claimed by that batch's ARN, is its child
    assert app.is_child_of(sfn, running, child(running, 7), BATCH_MACHINE_ARN) is True
    assert child(running, 7) == f"nightly-dr-7-{hashlib.sha256(running.encode()).hexdigest()[:8]}"
    assert [
        app.is_child_of(sfn, running, "nightly-dr-7", BATCH_MACHINE_ARN),  # a name of the old form (no hash of the ARN)
        app.is_child_of(sfn, running, child(other, 7), BATCH_MACHINE_ARN),  # another parent's hash
        app.is_child_of(sfn, ended, child(ended, 7), BATCH_MACHINE_ARN),  # a console re-run after the batch ended
        app.is_child_of(sfn, other, child(other, 7), BATCH_MACHINE_ARN),  # not the batch state machine
        app.is_child_of(sfn, running.replace("nightly-dr", "gone"), child(running, 7), BATCH_MACHINE_ARN),  # no such execution
    ] == [False] * 5


def test_the_handler_keeps_the_claim_only_for_a_real_child(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a running batch, and two single restores claiming it: one named as its child, one re-run from the console
    monkeypatch.setenv("BATCH_STATE_MACHINE_ARN", BATCH_MACHINE_ARN)
    with aws.clock.hold():
        handler_keeps_the_claim_of_a_child_only(aws)


def handler_keeps_the_claim_of_a_child_only(aws: Emulator) -> None:
    parent = stand_in_run(aws, BATCH_MACHINE, "nightly-dr", {}, hold=3600)
    given = {"recoveryPoint": "ami-0123456789abcdef0.bin", "recoveryPointBucket": "my-ami-archive", app.STARTED_BY: parent}
    for name in (app.child_name(parent, 0), "console-rerun"):
        stand_in_run(aws, "restore", name, given)
    runs = {
        name: f"arn:aws:states:us-east-1:123456789012:execution:restore:{name}" for name in (app.child_name(parent, 0), "console-rerun")
    }
    # When Validate Input reads each one's input
    kept = [
        app.lambda_handler({"execution": arn, "executionName": name, "startTime": "2026-01-05T09:00:00+00:00"}, None).get("startedBy")
        for name, arn in runs.items()
    ]
    # Then the child keeps its parent (its emails are the batch's summary); the re-run emails like any restore
    assert kept == [parent, None]


DRILL_MACHINE = "Drill-3f1c9a52"
DRILL_MACHINE_ARN = f"arn:aws:states:us-east-1:123456789012:stateMachine:{DRILL_MACHINE}"


def test_a_drills_child_is_one_a_running_drill_names_so(aws: Emulator) -> None:
    # Given a running drill weekly, an ended drill old, and a running batch also named weekly
    with aws.clock.hold():
        running = stand_in_run(aws, DRILL_MACHINE, "weekly", {}, hold=3600)
        ended = stand_in_run(aws, DRILL_MACHINE, "old", {})
        batch = stand_in_run(aws, BATCH_MACHINE, "weekly", {}, hold=3600)
        sfn, drill_child = app.sfn, app.drill_child_name
        # Then only the name the running drill gives its children (functions/choose_archives), claimed by its ARN, is its child
        assert drill_child(running, 2) == f"drill-weekly-2-{hashlib.sha256(running.encode()).hexdigest()[:8]}"
        assert app.is_child_of(sfn, running, drill_child(running, 2), BATCH_MACHINE_ARN, DRILL_MACHINE_ARN) is True
        assert [
            app.is_child_of(sfn, running, app.child_name(running, 2), BATCH_MACHINE_ARN, DRILL_MACHINE_ARN),  # a batch's form
            app.is_child_of(sfn, running, drill_child(running, 2), BATCH_MACHINE_ARN),  # no drill state machine configured
            app.is_child_of(sfn, running, drill_child(batch, 2), BATCH_MACHINE_ARN, DRILL_MACHINE_ARN),  # another parent's hash
            app.is_child_of(sfn, ended, drill_child(ended, 2), BATCH_MACHINE_ARN, DRILL_MACHINE_ARN),  # the drill has ended
            app.is_child_of(sfn, batch, drill_child(batch, 2), BATCH_MACHINE_ARN, DRILL_MACHINE_ARN),  # a batch is no drill
        ] == [False] * 5


def test_the_handler_keeps_a_drills_claim_only_for_its_real_child(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a running drill, and two single restores claiming it: one named as its child, one re-run from the console
    monkeypatch.setenv("BATCH_STATE_MACHINE_ARN", BATCH_MACHINE_ARN)
    monkeypatch.setenv("DRILL_STATE_MACHINE_ARN", DRILL_MACHINE_ARN)
    with aws.clock.hold():
        parent = stand_in_run(aws, DRILL_MACHINE, "weekly", {}, hold=3600)
        given = {"recoveryPoint": "ami-0123456789abcdef0.bin", "recoveryPointBucket": "my-ami-archive", app.STARTED_BY: parent}
        names = (app.drill_child_name(parent, 0), "console-rerun")
        for name in names:
            stand_in_run(aws, "restore", name, given)
        # When Validate Input reads each one's input
        kept = [
            app.lambda_handler(
                {"execution": f"arn:aws:states:us-east-1:123456789012:execution:restore:{name}", "executionName": name,
                 "startTime": "2026-01-05T09:00:00+00:00"}, None,
            ).get("startedBy")
            for name in names
        ]  # fmt: skip
    # Then the drill's child keeps its parent (the drill's report is its email); the re-run emails like any restore
    assert kept == [parent, None]
