"""Fault matrix: every fault AWS can throw at the workflow ends SUCCEEDED through a bounded retry, or FAILED with a
named error and an email; never RUNNING forever, never a second AMI or restore. One test per row of the fault matrix
in docs/emulator.md (tests/static checks that the two match)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from emulator.facade import Emulator, Run
from tests.support import BUCKET, archive, event, images

HOUR = 3600


def restore(
    aws: Emulator,
    storage_class: str = "GLACIER",
    payload: str = "glacier-standard",
    name: str | None = None,
    before: Callable[[Any, dict[str, Any]], None] | None = None,
) -> Run:
    stack = aws.deploy()
    key = archive(aws, storage_class, restore_hours=4)
    body = {**event(f"executions/{payload}.json"), "recoveryPoint": key}
    if before is not None:
        before(stack, body)
    return aws.run(stack, body, name=name)


def accepted_restores(aws: Emulator) -> int:
    return sum(1 for c in aws.s3.restore_calls if c["status"] == 202)


def assert_one_ami(aws: Emulator, run: Run) -> None:
    available = [i for i in images(aws) if i["State"] == "available"]
    assert (run.status, [i["ImageId"] for i in available]) == ("SUCCEEDED", [run.output["imageId"]])
    assert [e["subject"] for e in run.emails] == [f"AMI restored: {run.output['imageId']} in us-east-1"]


def assert_failed(run: Run, error: str, step: str) -> None:
    assert (run.status, run.error) == ("FAILED", error)
    assert [e["subject"] for e in run.emails] == [f"AMI restore failed: {error} at {step}"]


def after_handler(monkeypatch: pytest.MonkeyPatch, stack: Any, function: str, then: Callable[[], object]) -> None:
    """Something changes in AWS right after the function ran (a race with the next step)."""
    module = stack.functions[function].module
    original = module.lambda_handler

    def handler(event: Any, context: Any) -> Any:
        result = original(event, context)
        then()
        return result

    monkeypatch.setattr(module, "lambda_handler", handler)


def test_fault_throttled_head_object(aws: Emulator) -> None:
    # 12 throttled HEADs (no body: the SDK sees "503"): the SDK's 6 requests fail twice, the state's 3rd attempt succeeds
    aws.faults.request("s3.HeadObject", "SlowDown", 503, times=12)
    run = restore(aws)
    assert_one_ami(aws, run)
    assert accepted_restores(aws) == 1
    assert sum(1 for e in run.history if e["type"] == "LambdaFunctionFailed") == 2


def test_fault_throttled_restore_object(aws: Emulator) -> None:
    aws.faults.request("s3.RestoreObject", "SlowDown", 503, times=7)
    run = restore(aws)
    assert_one_ami(aws, run)
    assert [c["status"] for c in aws.s3.restore_calls] == [202]  # throttled requests never reached S3


def test_fault_restore_already_in_progress_409(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Someone starts a restore of the object right after Check Storage Class looked (it saw none): Request Restore's
    # RestoreObject answers 409 RestoreAlreadyInProgress, and the run joins that restore instead of failing
    def someone_starts_it_after_the_check(stack: Any, body: dict[str, Any]) -> None:
        def start() -> None:
            request = {"Days": 2, "GlacierJobParameters": {"Tier": "Standard"}}
            aws.client("s3").restore_object(Bucket=BUCKET, Key=body["recoveryPoint"], RestoreRequest=request)

        after_handler(monkeypatch, stack, "CheckStorageClassFunction", start)

    run = restore(aws, before=someone_starts_it_after_the_check)
    assert_one_ami(aws, run)
    assert [c["status"] for c in aws.s3.restore_calls] == [202, 409]  # someone's, then ours, refused as in progress
    assert (accepted_restores(aws), run.output["restoreOutcome"]) == (1, "joined-restore-in-progress")


def test_fault_expedited_capacity_503(aws: Emulator) -> None:
    aws.faults.request("s3.RestoreObject", "GlacierExpeditedRetrievalNotAvailable", 503, times=1000, match="Expedited")
    run = restore(aws, payload="glacier-expedited")
    assert_one_ami(aws, run)
    assert (run.output["restoreTier"], accepted_restores(aws)) == ("Standard", 1)
    assert "Note: Expedited capacity was not available; the restore used Standard." in run.emails[0]["message"]


def test_fault_expedited_refused_4xx(aws: Emulator) -> None:
    # S3 documents no code for a tier it will not serve: a 400 of the family falls back to Standard at once
    aws.faults.request("s3.RestoreObject", "InvalidArgument", 400, times=1, match="Expedited")
    run = restore(aws, payload="glacier-expedited")
    assert_one_ami(aws, run)
    assert (run.output["restoreTier"], [c["tier"] for c in aws.s3.restore_calls]) == ("Standard", ["Standard"])
    assert run.count("Request Restore") == 2


def test_fault_not_archived_403(aws: Emulator) -> None:
    # RestoreObject answers 403 ObjectAlreadyInActiveTierError for an object HeadObject still shows in GLACIER (a
    # racing lifecycle change): an outcome, not an error - but the workflow believes HeadObject, which shows no
    # restore, so it stops cleanly instead of reading an archived object
    aws.faults.request("s3.RestoreObject", "ObjectAlreadyInActiveTierError", 403)
    run = restore(aws)
    assert_failed(run, "RestoreNotFoundError", "Check Restore Status")
    assert (aws.s3.restore_calls, aws.ec2.restore_image_calls, images(aws)) == ([], [], [])
    assert run.emails[0]["message"].split("\n\n")[1] == (
        "Nothing this run made is left in AWS (read from AWS now: no AMI carries its tag, and the object has no restored copy "
        "or restore in progress)."
    )


def test_fault_object_replaced_by_a_readable_copy(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Right after Check Storage Class saw it in GLACIER, the object is overwritten in STANDARD: S3 itself answers
    # RestoreObject with 403 ObjectAlreadyInActiveTierError ("not-needed") and the readable object is restored
    def replaced(stack: Any, body: dict[str, Any]) -> None:
        s3, key = aws.client("s3"), body["recoveryPoint"]
        after_handler(monkeypatch, stack, "CheckStorageClassFunction", lambda: s3.put_object(Bucket=BUCKET, Key=key, Body=b""))

    run = restore(aws, before=replaced)
    assert_one_ami(aws, run)
    assert [(c["tier"], c["status"]) for c in aws.s3.restore_calls] == [("Standard", 403)]
    assert (run.output["restoreOutcome"], run.output["copyExpiresAt"]) == ("not-needed", None)


def test_fault_missing_object_404(aws: Emulator) -> None:
    stack = aws.deploy()
    run = aws.run(stack, event("executions/glacier-standard.json"))
    assert_failed(run, "RecoveryPointNotFoundError", "Check Storage Class")
    assert (aws.s3.restore_calls, images(aws)) == ([], [])


def test_fault_access_denied(aws: Emulator) -> None:
    aws.faults.request("s3.HeadObject", "AccessDenied", 403, times=1000)  # no body on HEAD: the SDK sees "403"
    run = restore(aws)
    assert_failed(run, "RecoveryPointAccessDeniedError", "Check Storage Class")
    assert (aws.s3.restore_calls, images(aws)) == ([], [])


def test_fault_restore_image_quota_then_success(aws: Emulator) -> None:
    # Refused twice at once (ResourceLimitExceeded): waits about 5 and 10 minutes, then starts; one AMI
    aws.faults.request("ec2.CreateRestoreImageTask", "ResourceLimitExceeded", 400, times=2)
    run = restore(aws, storage_class="GLACIER_IR")
    assert_one_ami(aws, run)
    assert (run.count("Wait For Quota"), aws.requests["ec2.CreateRestoreImageTask"]) == (2, 3)
    (accepted,) = aws.ec2.restore_image_calls  # the refused requests never reached EC2
    first_try = run.entered_at("Restore Image")
    assert first_try is not None
    assert 300 + 600 <= (accepted["at"] - first_try).total_seconds() <= 300 + 600 + 2 * 60  # each wait adds up to 60 s


def test_fault_restore_image_quota_never_drains(aws: Emulator) -> None:
    # Still over the quota: it waits (5, 10, 20, then every 30 min) for 24 h, then fails named - bounded, no AMI
    aws.faults.request("ec2.CreateRestoreImageTask", "ResourceLimitExceeded", 400, times=1000)
    run = restore(aws, storage_class="GLACIER_IR")
    assert_failed(run, "RestoreQuotaExceededError", "Restore Image")
    waited = run.stopped - run.started
    assert timedelta(hours=24) <= waited < timedelta(hours=24, minutes=32)
    assert images(aws) == []
    assert run.count("Restore Image") == aws.requests["ec2.CreateRestoreImageTask"] < 60
    assert len(run.history) < 1000


def test_fault_restore_image_quota_as_failed_image(aws: Emulator) -> None:
    # The other plausible form: EC2 accepts the task and the image ends failed over the quota; it is left in place
    # (and named in the email) and the restore tries again under a new name, once there is room
    aws.world.quota_answer, aws.world.image_restore_quota_gb = "failed-image", 8
    stack = aws.deploy()
    busy = aws.client("ec2").create_restore_image_task(Bucket=BUCKET, ObjectKey=archive(aws, "GLACIER_IR", name="busy", image_minutes=20))
    key = archive(aws, "GLACIER_IR")
    run = aws.run(stack, {"recoveryPoint": key, "recoveryPointBucket": BUCKET})
    assert (run.status, [e["subject"] for e in run.emails]) == ("SUCCEEDED", [f"AMI restored: {run.output['imageId']} in us-east-1"])
    # The busy image holds the quota for 20 min: attempts at 0, 6 min 5 s and 17 min 10 s fail a minute later, EC2's
    # "failed" event resumes the wait 5 s after that (then waits of 5, 10 and 20 min), and the attempt at 38 min 15 s
    # starts: three failed images, listed in the email, and one available
    failed = [i["ImageId"] for i in images(aws) if i["State"] == "failed"]
    assert (len(failed), run.output["failedImageIds"]) == (3, failed)
    assert run.entered_at("Restore Image") is not None
    assert [(c["at"] - run.started).total_seconds() for c in aws.ec2.restore_image_calls[1:]] == [0, 6 * 60 + 5, 17 * 60 + 10, 38 * 60 + 15]
    assert sorted(i["ImageId"] for i in images(aws) if i["State"] == "available") == sorted([busy["ImageId"], run.output["imageId"]])
    assert f"Note: {', '.join(failed)} failed over EC2's in-progress restore quota and were left in place" in run.emails[0]["message"]


def test_fault_duplicate_ami_name(aws: Emulator) -> None:
    def name_taken(stack: Any, body: dict[str, Any]) -> None:
        # sha256 of the execution ARN ending ":taken" begins b3223013
        aws.client("ec2").register_image(Name="web-server-2025-01-restored-20260105-b3223013")

    run = restore(aws, storage_class="GLACIER_IR", name="taken", before=name_taken)
    assert_failed(run, "ImageNameConflictError", "Restore Image")
    assert len(images(aws)) == 1  # only the unrelated AMI that holds the name


def test_fault_image_failed(aws: Emulator) -> None:
    aws.faults.image_failure("Snapshot data is corrupted")
    run = restore(aws, storage_class="GLACIER_IR")
    assert_failed(run, "ImageRestoreFailedError", "Check Image State")
    # the email gives EC2's reason and the failed AMI with the command that removes it
    ((failed, name),) = [(i["ImageId"], i["Name"]) for i in images(aws) if i["State"] == "failed"]
    assert run.emails[0]["message"].split("\n\n")[:3] == [
        f"The restore stopped at 'Check Image State' with ImageRestoreFailedError:\n  {failed} is failed: Snapshot data is corrupted",
        f"Left in place (read from AWS now):\n- AMI {failed} ({name}), failed: if you do not keep it, run aws ec2 deregister-image "
        f"--region us-east-1 --image-id {failed} --delete-associated-snapshots",
        "What to do: Read the reason above; deregister the failed AMI (command above) before retrying.",
    ]
    assert name.startswith("web-server-2025-01-restored-20260105-")


@pytest.mark.parametrize("form, step", [("error", "Restore Image"), ("failed-image", "Check Image State")])
def test_fault_copy_expired_before_image_restore(aws: Emulator, monkeypatch: pytest.MonkeyPatch, form: str, step: str) -> None:
    # The copy is gone between Extend Copy and Restore Image; EC2 refuses at once, or accepts and the image fails
    aws.world.unreadable_object_answer = form

    def copy_expires(stack: Any, body: dict[str, Any]) -> None:
        after_handler(monkeypatch, stack, "ExtendCopyFunction", lambda: aws.s3.restores.pop((BUCKET, body["recoveryPoint"])))

    run = restore(aws, before=copy_expires)
    assert_failed(run, "RestoredCopyUnavailableError", step)
    assert accepted_restores(aws) == 1
    assert [i["State"] for i in images(aws)] == ([] if form == "error" else ["failed"])


def test_fault_lambda_service_exception(aws: Emulator) -> None:
    aws.faults.lambda_error("CheckRestoreStatusFunction", "ServiceException", times=2)
    run = restore(aws)
    assert_one_ami(aws, run)
    failed = [e["lambdaFunctionFailedEventDetails"]["error"] for e in run.history if e["type"] == "LambdaFunctionFailed"]
    assert failed == ["Lambda.ServiceException"] * 2


def test_fault_lambda_timeout_after_creating_the_ami(aws: Emulator) -> None:
    # Restore Image creates the AMI, then Lambda reports a timeout: the retry adopts that AMI, no second one
    aws.faults.lambda_error("RestoreImageFunction", "Sandbox.Timedout")
    run = restore(aws, storage_class="GLACIER_IR")
    assert_one_ami(aws, run)
    assert [c.get("error") for c in aws.ec2.restore_image_calls] == [None, "InvalidAMIName.Duplicate"]


def test_fault_lambda_timeout_after_creating_the_ami_then_its_lookup_throttled_and_listed_late(aws: Emulator) -> None:
    # Restore Image creates the AMI, then Lambda reports a timeout; the retry's look-up of that AMI is throttled past the
    # SDK's retries, then EC2 does not list the new AMI for 60 s (eventual consistency): the step retries until it is
    # listed and adopts it, no second one, no "conflict"
    aws.world.image_listing_lag_seconds = 60
    aws.faults.lambda_error("RestoreImageFunction", "Sandbox.Timedout")
    aws.faults.request("ec2.DescribeImages", "RequestLimitExceeded", 503, times=10, match="Filter.1.Name=name")
    run = restore(aws, storage_class="GLACIER_IR")
    assert_one_ami(aws, run)
    calls = aws.ec2.restore_image_calls
    assert (calls[0].get("error"), {c.get("error") for c in calls[1:]}, [f.times for f in aws.faults.requests]) == (
        None, {"InvalidAMIName.Duplicate"}, [0]
    )  # fmt: skip
    # ...each retry for its own reason (the retries' jitter decides how many looks the lag costs), and the AMI adopted
    # once EC2 listed it, 60 s after it was made
    failures = [(e.get("lambdaFunctionFailedEventDetails") or {}).get("error") for e in run.history]
    errors = [error for error in failures if error]
    assert errors[:2] == ["Sandbox.Timedout", "ThrottledError"] and set(errors[2:]) == {"ImageNotYetListedError"}
    adopted = next(e["timestamp"] for e in run.history if e.get("stateEnteredEventDetails", {}).get("name") == "Has Image Restore Started?")
    assert (adopted - calls[0]["at"]).total_seconds() >= 60


def test_fault_sns_publish_fails_once(aws: Emulator) -> None:
    aws.faults.request("sns.Publish", "InternalError", 500)
    run = restore(aws, storage_class="GLACIER_IR")
    assert_one_ami(aws, run)  # the SDK's retry delivered it


def test_fault_sns_publish_down(aws: Emulator) -> None:
    # No email can be sent: the execution still ends FAILED with the publishing error (the failed-execution rule also
    # keeps a message in the stack's SQS queue, which does not depend on SNS; the emulator emits no status-change events)
    aws.faults.request("sns.Publish", "InternalError", 500, times=1000)
    run = restore(aws, storage_class="GLACIER_IR")
    assert (run.status, run.error, run.emails) == ("FAILED", "InternalErrorException", [])
    assert run.states_entered()[-3:] == ["Notify Success", "Notify Failure", "Restore Failed"]
    assert len(images(aws)) == 1


def test_fault_resume_waiting_fails(aws: Emulator) -> None:
    # Resume Waiting fails on every event (say, DynamoDB is down for it): Lambda retries each event twice, then keeps it
    # in the unprocessed-event queue (whose alarm emails the topic); the waits go on by their polls
    aws.faults.lambda_error("ResumeWaitingFunction", "Unhandled", times=1000)
    stack = aws.deploy()
    key = archive(aws, "GLACIER", restore_hours=4)
    run = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
    assert_one_ami(aws, run)
    assert (run.output["copyNoticedBy"], run.output["imageNoticedBy"]) == ("poll", "poll")
    aws.clock.advance(600)  # the last event's retries
    kept = aws.client("sqs").receive_message(QueueUrl=stack.outputs["UnprocessedEventQueueUrl"], MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(m["Body"])["detail-type"] for m in kept) == [
        "EC2 AMI State Change", "Object Restore Completed", "Object Restore Initiated"
    ]  # fmt: skip
    assert accepted_restores(aws) == 1


def test_fault_wait_table_throttled(aws: Emulator) -> None:
    # DynamoDB throttles every registration beyond the SDK's retries: the waits are not registered, so no event can
    # resume them, and they end at their polls; the restore still succeeds, once
    aws.faults.request("dynamodb.PutItem", "ProvisionedThroughputExceededException", 400, times=10_000)
    run = restore(aws)
    assert_one_ami(aws, run)
    assert (run.output["copyNoticedBy"], run.output["imageNoticedBy"]) == ("poll", "poll")
    assert accepted_restores(aws) == 1


@pytest.mark.parametrize("fault", ["500", "access-denied", "table-deleted"])
def test_fault_wait_table_unusable(aws: Emulator, fault: str) -> None:
    # The wait table answers 500 to every registration, or denies it, or is gone (deleted by hand): the waits are not
    # registered and end at their polls; the restore still succeeds, once (the table is never load-bearing)
    def before(stack: Any, body: dict[str, Any]) -> None:
        if fault == "table-deleted":
            aws.client("dynamodb").delete_table(TableName=stack.physical["WaitTable"])

    if fault == "500":
        aws.faults.request("dynamodb.PutItem", "InternalServerError", 500, times=10_000)
    elif fault == "access-denied":
        aws.faults.request("dynamodb.PutItem", "AccessDeniedException", 400, times=10_000)
    run = restore(aws, before=before)
    assert_one_ami(aws, run)
    assert (run.output["copyNoticedBy"], run.output["imageNoticedBy"], accepted_restores(aws)) == ("poll", "poll", 1)


def test_fault_wait_function_never_sends_its_token(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Wait For's function returns without registering or sending any token (every wait ends at its timeout, the last
    # one past the end of its schedule, where the function should have answered at once): the question before each
    # Schedule Next ... Check sends the run to its check, which makes a new schedule; no States.Runtime
    def before(stack: Any, body: dict[str, Any]) -> None:
        monkeypatch.setattr(stack.functions["WaitForFunction"].module, "lambda_handler", lambda event, context: {"outcome": "lost"})

    run = restore(aws, before=before)
    assert_one_ami(aws, run)
    entered = run.states_entered()
    assert (run.output["copyNoticedBy"], run.output["imageNoticedBy"], accepted_restores(aws)) == ("poll", "poll", 1)
    assert (
        entered.count("Is The Copy Schedule Used Up?") > entered.count("Schedule Next Copy Check"),
        "Check Restore Status" in entered,
    ) == (True, True)


def test_fault_restore_never_finishes(aws: Emulator) -> None:
    def never(stack: Any, body: dict[str, Any]) -> None:
        aws.world.restore_seconds[body["recoveryPoint"]] = 1000 * HOUR

    run = restore(aws, before=never)
    assert_failed(run, "RestoreDeadlineExceededError", "Check Restore Status")
    # Flexible Standard, 8 GB: max(2 x (5 h + 27 s), + 1 h) + 8 GB at 75 MB/s (107 s)
    assert (run.stopped - run.started).total_seconds() == 2 * (5 * HOUR + 27) + 107
    assert (accepted_restores(aws), images(aws)) == (1, [])
    # the restore S3 is still running is left in place, with what its copy will cost
    key = aws.s3.restore_calls[0]["key"]
    assert run.emails[0]["message"].split("\n\n")[1] == (
        f"Left in place (read from AWS now):\n- S3 is restoring a copy of s3://my-ami-archive/{key}: when it is done, it lives the "
        "restore's Days at S3 Standard's price."
    )
