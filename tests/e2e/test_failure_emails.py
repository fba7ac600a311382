"""Each Task state, made to fail (Lambda answers ServiceException on every attempt the state's Retry allows): its
failure email names that state - read from the fact its own Catch wrote, not guessed - and lists what was left in
place. The world is seeded, so the AMI ids and (with a fixed execution name) the AMI names are the same every run; the
values below were read off a run and checked by hand. "{key}" stands for the object the test archived, "{ami}" for the
one AMI EC2 holds after the run."""

from __future__ import annotations

import pytest

from emulator.facade import Emulator
from tests.support import archive, event, images

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:glacier-ami-restore-RestoreStateMachine:fails"
COPY = (
    "- A restored copy of s3://my-ami-archive/{key} exists until 2026-01-07T00:00:00Z: about $0.0061 per day (estimate: "
    "8.0 GB at S3 Standard's $0.023 per GB-month)."
)
AMI = "AMI {ami} (web-server-2025-01-restored-20260105-324cc64e)"
DEREGISTER = "aws ec2 deregister-image --region us-east-1 --image-id {ami} --delete-associated-snapshots"
LAMBDA_ADVICE = (
    "What to do: AWS Lambda kept failing after the state's retries: read the function's logs, then start a new execution "
    "(it reuses a restore in progress or a restored copy)."
)


@pytest.mark.parametrize(
    "function, state, storage_class, left",
    [
        ("ValidateInputFunction", "Validate Input", "GLACIER_IR", ["Nothing was changed in AWS."]),
        ("CheckStorageClassFunction", "Check Storage Class", "GLACIER_IR", ["Nothing was changed in AWS."]),
        (
            "RequestRestoreFunction",
            "Request Restore",
            "GLACIER",
            [
                "Nothing this run made is left in AWS (read from AWS now: no AMI carries its tag, and the object has no "
                "restored copy or restore in progress)."
            ],
        ),
        (
            "CheckRestoreStatusFunction",
            "Check Restore Status",
            "GLACIER",
            [
                "Left in place (read from AWS now):",
                "- S3 is restoring a copy of s3://my-ami-archive/{key}: when it is done, it lives the restore's Days at S3 "
                "Standard's price.",
            ],
        ),
        ("ExtendCopyFunction", "Extend Copy", "GLACIER", ["Left in place (read from AWS now):", COPY]),
        ("RestoreImageFunction", "Restore Image", "GLACIER", ["Left in place (read from AWS now):", COPY]),
        (
            "CheckImageStateFunction",
            "Check Image State",
            "GLACIER",
            ["Left in place (read from AWS now):", f"- {AMI}, pending: if you do not keep it, run {DEREGISTER}", COPY],
        ),
        (
            "NotifySuccessFunction",
            "Notify Success",
            "GLACIER_IR",
            ["Left in place (read from AWS now):", f"- {AMI} is available: it was restored; keep it or run {DEREGISTER}"],
        ),
    ],
)
def test_each_task_state_that_fails_is_named_in_its_email(
    aws: Emulator, function: str, state: str, storage_class: str, left: list[str]
) -> None:
    # Given an 8 GB AMI (Flexible Retrieval restores by Expedited in 3 min) and Lambda failing the state's 5 attempts
    stack = aws.deploy()
    key = archive(aws, storage_class, restore_hours=0.05)
    payload = "glacier-expedited" if storage_class == "GLACIER" else "glacier-instant-retrieval"
    aws.faults.lambda_error(function, "ServiceException", times=5)
    # When the console payload runs
    run = aws.run(stack, {**event(f"executions/{payload}.json"), "recoveryPoint": key}, name="fails")
    # Then it ends FAILED with the original error, and the one email names the state and what is left in place
    assert (run.status, run.error, run.cause) == ("FAILED", "Lambda.ServiceException", "injected by the emulator")
    assert run.states_entered()[-2:] == ["Notify Failure", "Restore Failed"]
    (email,) = run.emails
    assert email["subject"] == f"AMI restore failed: Lambda.ServiceException at {state}"
    advice = (
        "What to do: The AMI is restored (above); only the success email failed. Nothing to redo."
        if state == "Notify Success"
        else LAMBDA_ADVICE
    )
    assert email["message"].splitlines()[:4] == [
        f"The restore stopped at '{state}' with Lambda.ServiceException:",
        "  injected by the emulator",
        "",
        *left[:1],
    ]
    made = [i["ImageId"] for i in images(aws)]
    assert len(made) == (1 if state in ("Check Image State", "Notify Success") else 0)
    expected = "\n".join(line.replace("{ami}", "".join(made)).replace("{key}", key) for line in left)
    assert email["message"].split("\n\n")[1:3] == [expected, advice]


def test_a_restore_stopped_by_hand_mid_image_names_its_ami_and_its_copy(aws: Emulator) -> None:
    # Given a Flexible Retrieval restore (4 h) whose image restore takes an hour, stopped by hand 4 h 10 min after its
    # start, into its image wait (the pause counts from the start: time cannot run past the image's end meanwhile)
    from tests.support import BUCKET, started_and_paused_at, until_entered

    stack = aws.deploy()
    key = archive(aws, "GLACIER", restore_hours=4, image_minutes=60)
    start = lambda: aws.start(stack, {"recoveryPoint": key, "recoveryPointBucket": BUCKET}, name="stopped-mid-image")  # noqa: E731
    with started_and_paused_at(aws, start, 4 * 3600 + 600) as arn:
        until_entered(aws, arn, "Wait For Image")
        aws.client("stepfunctions").stop_execution(executionArn=arn)
    run = aws.wait(stack, arn)
    aws.clock.advance(60)  # the rule's event reaches Report Ended Execution
    # Then it ended ABORTED, and one email names what it left, read from AWS: its AMI (still pending: EC2 goes on) with
    # the command that removes it and its snapshots, and the restored copy with its expiry and cost
    (image,) = images(aws)
    (report,) = aws.emails(stack)
    command = f"aws ec2 deregister-image --region us-east-1 --image-id {image['ImageId']} --delete-associated-snapshots"
    assert (run.status, report["subject"]) == ("ABORTED", "AMI restore ended ABORTED: stopped-mid-image")
    assert report["message"].split("\n\n")[2].splitlines() == [
        "Left in place (read from AWS now):",
        f"- AMI {image['ImageId']} ({image['Name']}), pending: if you do not keep it, run {command}",
        f"- A restored copy of s3://{BUCKET}/{key} exists until 2026-01-07T00:00:00Z: about $0.0061 per day (estimate: 8.0 GB at "
        "S3 Standard's $0.023 per GB-month).",
    ]
