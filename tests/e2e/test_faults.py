"""Fault matrix: every fault AWS can throw at the workflow ends SUCCEEDED through a bounded retry, or FAILED with a
named error and an email; never RUNNING forever, never a second AMI or restore. One test per row of the README's
fault table (tests/static checks that the two match)."""

from __future__ import annotations

from typing import Any

from emulator import runtime
from emulator.aws import Fault
from emulator.session import Emulator, Run
from tests.conftest import BUCKET, event, images, load_function

HOUR = 3600


def restore(
    aws: Emulator, storage_class: str = "GLACIER", payload: str = "glacier-standard", name: str | None = None, before: Any = None
) -> Run:
    stack = aws.deploy()
    key = aws.archive_ami("web-server", BUCKET, storage_class)
    body = {**event(f"executions/{payload}.json"), "recoveryPoint": key}
    if before is not None:
        before(stack, body)
    return aws.run(stack, body, name=name)


def accepted_restores(aws: Emulator) -> int:
    return sum(1 for c in aws.behaviour.restore_calls if c["status"] == 202)


def assert_one_ami(aws: Emulator, run: Run) -> None:
    (image,) = images(aws)
    assert (run.status, image["State"], image["ImageId"]) == ("SUCCEEDED", "available", run.output["imageId"])
    assert [e["subject"] for e in run.emails] == [f"AMI restored: {image['ImageId']} in us-east-1"]


def assert_failed(run: Run, error: str, step: str) -> None:
    assert (run.status, run.error) == ("FAILED", error)
    assert [e["subject"] for e in run.emails] == [f"AMI restore failed: {error} at {step}"]


def test_fault_throttled_head_object(aws: Emulator) -> None:
    # 12 throttled HEADs: the SDK's 5 attempts fail twice, the state's retry succeeds on its third attempt
    aws.behaviour.faults.append(Fault("s3.HeadObject", "SlowDown", 503, times=12))
    run = restore(aws)
    assert_one_ami(aws, run)
    assert accepted_restores(aws) == 1
    assert sum(1 for e in run.history if e["type"] == "LambdaFunctionFailed") == 2


def test_fault_throttled_restore_object(aws: Emulator) -> None:
    aws.behaviour.faults.append(Fault("s3.RestoreObject", "SlowDown", 503, times=7))
    run = restore(aws)
    assert_one_ami(aws, run)
    assert [c["status"] for c in aws.behaviour.restore_calls] == [202]  # throttled requests never reached S3


def test_fault_restore_already_in_progress_409(aws: Emulator) -> None:
    def someone_started_it(stack: Any, body: dict[str, Any]) -> None:
        aws.client("s3").restore_object(
            Bucket=BUCKET, Key=body["recoveryPoint"], RestoreRequest={"Days": 2, "GlacierJobParameters": {"Tier": "Standard"}}
        )

    run = restore(aws, before=someone_started_it)
    assert_one_ami(aws, run)
    assert (accepted_restores(aws), run.output["restoreOutcome"]) == (1, "joined-restore-in-progress")


def test_fault_expedited_capacity_503(aws: Emulator) -> None:
    aws.behaviour.expedited_capacity_errors = 1000
    run = restore(aws, payload="glacier-expedited")
    assert_one_ami(aws, run)
    assert (run.output["restoreTier"], accepted_restores(aws)) == ("Standard", 1)
    assert "Note: Expedited capacity was not available; the restore used Standard." in run.emails[0]["message"]


def test_fault_not_archived_403(aws: Emulator) -> None:
    # A readable object is never sent to RestoreObject (S3 would answer 403 ObjectAlreadyInActiveTierError)
    run = restore(aws, storage_class="GLACIER_IR")
    assert_one_ami(aws, run)
    assert aws.behaviour.restore_calls == []


def test_fault_missing_object_404(aws: Emulator) -> None:
    stack = aws.deploy()
    run = aws.run(stack, event("executions/glacier-standard.json"))
    assert_failed(run, "RecoveryPointNotFoundError", "Check Storage Class")
    assert (aws.behaviour.restore_calls, images(aws)) == ([], [])


def test_fault_access_denied(aws: Emulator) -> None:
    aws.behaviour.faults.append(Fault("s3.HeadObject", "AccessDenied", 403, times=1000))
    run = restore(aws)
    assert_failed(run, "RecoveryPointAccessDeniedError", "Check Storage Class")
    assert (aws.behaviour.restore_calls, images(aws)) == ([], [])


def test_fault_restore_image_quota_then_success(aws: Emulator) -> None:
    aws.behaviour.restore_image_quota_errors = 2
    run = restore(aws, storage_class="GLACIER_IR")
    assert_one_ami(aws, run)
    assert len(aws.behaviour.restore_image_calls) == 3  # two refused, then accepted after back-off


def test_fault_restore_image_quota_never_drains(aws: Emulator) -> None:
    aws.behaviour.restore_image_quota_errors = 1000
    run = restore(aws, storage_class="GLACIER_IR")
    assert_failed(run, "RestoreQuotaExceededError", "Restore Image")
    assert (len(aws.behaviour.restore_image_calls), images(aws)) == (7, [])  # 1 + 6 retries, bounded


def test_fault_duplicate_ami_name(aws: Emulator) -> None:
    def name_taken(stack: Any, body: dict[str, Any]) -> None:
        app = load_function("restore_image")
        arn = stack.state_machine_arn.replace(":stateMachine:", ":execution:") + ":taken"
        taken = app.image_name({**body, "amiName": None}, {"originalAmiName": "web-server"}, arn, "2026-01-05")
        aws.client("ec2").register_image(Name=taken)

    run = restore(aws, storage_class="GLACIER_IR", name="taken", before=name_taken)
    assert_failed(run, "ImageNameConflictError", "Restore Image")
    assert len(images(aws)) == 1  # only the unrelated AMI that holds the name


def test_fault_image_failed(aws: Emulator) -> None:
    aws.behaviour.image_failure = "Snapshot data is corrupted"
    run = restore(aws, storage_class="GLACIER_IR")
    assert_failed(run, "ImageRestoreFailedError", "Check Image State")
    assert "Snapshot data is corrupted" in run.emails[0]["message"]


def test_fault_copy_expired_before_image_restore(aws: Emulator) -> None:
    aws.behaviour.faults.append(Fault("ec2.CreateRestoreImageTask", "InvalidObjectState", 400, times=1000))
    run = restore(aws)
    assert_failed(run, "RestoredCopyUnavailableError", "Restore Image")
    assert (accepted_restores(aws), images(aws)) == (1, [])


def test_fault_lambda_service_exception(aws: Emulator) -> None:
    runtime.lambda_faults.append(runtime.LambdaFault("CheckRestoreStatusFunction", "ServiceException", times=2))
    run = restore(aws)
    assert_one_ami(aws, run)
    failed = [e["lambdaFunctionFailedEventDetails"]["error"] for e in run.history if e["type"] == "LambdaFunctionFailed"]
    assert failed == ["Lambda.ServiceException"] * 2


def test_fault_lambda_timeout_after_creating_the_ami(aws: Emulator) -> None:
    # Restore Image creates the AMI, then Lambda reports a timeout: the retry adopts that AMI, no second one
    runtime.lambda_faults.append(runtime.LambdaFault("RestoreImageFunction", "Sandbox.Timedout", times=1))
    run = restore(aws, storage_class="GLACIER_IR")
    assert_one_ami(aws, run)
    assert len(aws.behaviour.restore_image_calls) == 2


def test_fault_sns_publish_fails_once(aws: Emulator) -> None:
    aws.behaviour.faults.append(Fault("sns.Publish", "InternalError", 500, times=1))
    run = restore(aws, storage_class="GLACIER_IR")
    assert_one_ami(aws, run)  # the SDK's retry delivered it


def test_fault_sns_publish_down(aws: Emulator) -> None:
    # No email can be sent: the execution still ends FAILED with the publishing error (alarms notify the operator)
    aws.behaviour.faults.append(Fault("sns.Publish", "InternalError", 500, times=1000))
    run = restore(aws, storage_class="GLACIER_IR")
    assert (run.status, run.error, run.emails) == ("FAILED", "InternalErrorException", [])
    assert run.states_entered()[-3:] == ["Notify Success", "Notify Failure", "Restore Failed"]
    assert len(images(aws)) == 1


def test_fault_restore_never_finishes(aws: Emulator) -> None:
    def never(stack: Any, body: dict[str, Any]) -> None:
        aws.behaviour.restore_seconds[body["recoveryPoint"]] = 1000 * HOUR

    run = restore(aws, before=never)
    assert_failed(run, "RestoreDeadlineExceededError", "Check Restore Status")
    assert (run.stopped - run.started).total_seconds() == 10 * HOUR
    assert (accepted_restores(aws), images(aws)) == (1, [])
