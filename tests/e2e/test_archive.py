"""The archive side end to end on the emulator: the real template (ArchiveVaultNames set), ArchiveStateMachine and its
handlers against AWS Backup's EC2 recovery points, EC2's store tasks under their quota, S3's events and lifecycle.
One deployment per test; sizes small and durations short (the world's store rate) to stay cheap."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from emulator.cloudformation import Stack
from emulator.facade import Emulator, Run
from tests.support import until_entered

pytestmark = pytest.mark.long  # run first (tests/conftest.py)

GIB = 2**30


def archive_run(aws: Emulator, stack: Stack, payload: Any) -> Run:
    arn = aws.client("stepfunctions").start_execution(stateMachineArn=stack.physical["ArchiveStateMachine"], input=json.dumps(payload))
    return aws.wait(stack, arn["executionArn"], timeout=120)


def in_flight_peak(aws: Emulator) -> int:
    """The most store work EC2 had in progress at once (ground truth: each task's start and end)."""
    moments = sorted({t.started_at for t in aws.ec2.store_tasks})
    return max(sum(t.work_bytes for t in aws.ec2.store_tasks if t.started_at <= m < (t.ended_at or m)) for m in moments)


def test_old_points_are_archived_once_with_their_tags_under_the_budget_then_deleted_unless_refused() -> None:
    with Emulator() as aws:
        # Given a stack archiving vault "daily" after 30 days with deletion on and a 250 GB store budget, and four old
        # 100 GiB points (one under a legal hold), a point of 3 days and a paravirtual one
        stack = aws.deploy(ArchiveVaultNames="daily", ImageStoreQuotaGb="250", DeleteRecoveryPointAfterArchive="true")
        bucket = stack.physical["ArchiveStoreBucket"]
        old = [aws.backup_ec2("daily", name=f"web-{n}", size_gb=100, days_ago=40 + n) for n in range(4)]
        young = aws.backup_ec2("daily", name="web-new", size_gb=100, days_ago=3)
        pv = aws.backup_ec2("daily", name="web-pv", virtualization="paravirtual", days_ago=50)
        aws.backup.hold(old[3])
        aws.world.backup_deleting_seconds = 60  # AWS Backup's DELETING lasts a minute: gone_at - 60 s is the request
        # When the daily run archives
        first = archive_run(aws, stack, {})
        # Then the four old points are stored once each, two at a time at most (200 GiB of the 250 GB budget)
        keys = {arn: f"{arn.rsplit('/', 1)[1]}.bin" for arn in old}
        assert (first.status, sorted(a["recoveryPointArn"] for a in first.output["archived"])) == ("SUCCEEDED", sorted(old))
        assert sorted(t.key for t in aws.ec2.store_tasks) == sorted(keys.values())
        assert [t.state for t in aws.ec2.store_tasks] == ["Completed"] * 4
        assert in_flight_peak(aws) == 200 * GIB
        # And each object carries its point's tags, and each point its archive's place
        s3 = aws.client("s3")
        for arn, key in keys.items():
            tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
            assert (tags["backup-recovery-point-arn"], tags["backup-vault"]) == (arn, "daily")
        assert aws.backup.points[old[3]].tags == {"glacier-ami-restore:archived-to": f"s3://{bucket}/{keys[old[3]]}"}
        # And three points are deleted after their object was written; the held one is kept and the email says why
        assert sorted(p.arn for p in aws.backup.deleted) == sorted(old[:3])
        written = {t.key: t.ended_at for t in aws.ec2.store_tasks}
        requested = {p.arn: p.gone_at - timedelta(seconds=60) for p in aws.backup.deleted if p.gone_at is not None}
        assert len(requested) == 3 and all(at >= (written[keys[arn]] or at) for arn, at in requested.items())
        assert all(written[keys[arn]] is not None for arn in requested)
        deletions = {a["recoveryPointArn"]: a["deletion"]["outcome"] for a in first.output["archived"]}
        assert deletions == {**dict.fromkeys(old[:3], "deleted"), old[3]: "refused"}
        assert [s["recoveryPointArn"] for s in first.output["skipped"]] == [pv]
        (email,) = aws.emails(stack, first.arn)
        assert email["subject"] == "AMI archive: 4 archived, 1 skipped, 0 failed"
        assert (
            "deletion refused: InvalidRequestException: The recovery point cannot be deleted because it has active legal hold(s)"
            in email["message"]
        )
        # When the run is repeated / Then nothing is stored twice: the held point counts as archived, the PV one is skipped
        second = archive_run(aws, stack, {})
        assert (second.status, second.output["archived"], second.output["alreadyArchived"]) == ("SUCCEEDED", [], 1)
        assert len(aws.ec2.store_tasks) == 4 and young in aws.backup.points
        # And the lifecycle rule moves every object to Deep Archive on its first night
        aws.clock.advance(2 * 24 * 3600)
        assert {s3.head_object(Bucket=bucket, Key=k)["StorageClass"] for k in keys.values()} == {"DEEP_ARCHIVE"}


def test_each_backup_job_starts_a_run_a_bad_input_fails_before_any_side_effect_and_a_stopped_run_reports() -> None:
    with Emulator() as aws:
        stack = aws.deploy(ArchiveVaultNames="daily", ArchiveAfterDays="0")
        # Given ArchiveAfterDays 0: AWS Backup's job event starts a run for the point it made
        arn = aws.backup_ec2("daily", name="fresh", size_gb=8, event=True)
        aws.clock.advance(3600)
        sfn = aws.client("stepfunctions")
        (started,) = sfn.list_executions(stateMachineArn=stack.physical["ArchiveStateMachine"])["executions"]
        by_event = aws.wait(stack, started["executionArn"], timeout=60)
        assert json.loads(sfn.describe_execution(executionArn=started["executionArn"])["input"]) == {
            "recoveryPointArns": [arn],
            "vaultName": "daily",
        }
        assert [a["recoveryPointArn"] for a in by_event.output["archived"]] == [arn]
        # When a run is started by hand with a bad input / Then it fails at once, emails what to fix, stores nothing
        tasks = len(aws.ec2.store_tasks)
        run = archive_run(aws, stack, {"olderThanDays": "30"})
        assert (run.status, run.error) == ("FAILED", "InvalidArchiveInputError")
        assert run.cause == "olderThanDays: must be a whole number from 0 to 36500, got '30'"
        assert len(aws.ec2.store_tasks) == tasks
        # Given a 200 GiB point whose store takes over an hour
        big = aws.backup_ec2("daily", name="big", size_gb=200, days_ago=1)
        image = big.rsplit("/", 1)[1]
        # When a run is stopped while EC2 stores it
        with aws.clock.hold():
            stopped = aws.client("stepfunctions").start_execution(
                stateMachineArn=stack.physical["ArchiveStateMachine"], input=json.dumps({"recoveryPointArns": [big]}), name="stopped-run"
            )["executionArn"]
            until_entered(aws, stopped, "Wait For Stored Object")
            sfn.stop_execution(executionArn=stopped)
        aws.wait(stack, stopped)
        aws.clock.advance(600)  # the end event's delivery
        # Then its report says, from EC2, that the store task goes on and the next run joins it; the refused input's run
        # emailed its own failure, so it gets no report
        refused = "AMI archive failed: InvalidArchiveInputError at SelectRecoveryPoints"
        assert [e["subject"] for e in aws.emails(stack, run.arn)] == [refused]
        (report,) = aws.emails(stack, stopped)
        assert report["subject"] == "AMI archive run ended ABORTED: stopped-run"
        assert (
            f"- {big} ({image}): EC2's store task into s3://{stack.physical['ArchiveStoreBucket']}/{image}.bin is in progress (0 %): "
            "the next run joins it"
        ) in report["message"]


def test_the_restore_side_reads_the_archive_bucket_without_further_settings() -> None:
    with Emulator() as aws:
        # Given a stack that may read only my-ami-archive, with the archive side on (its own bucket)
        stack = aws.deploy(ArchiveBucketName="my-ami-archive", ArchiveVaultNames="daily")
        aws.client("s3").create_bucket(Bucket="elsewhere")
        bucket = stack.physical["ArchiveStoreBucket"]
        point = aws.backup_ec2("daily", name="db-1", size_gb=8, days_ago=40)
        image = point.rsplit("/", 1)[1]
        # When the daily run archives the point, and the lifecycle rule has moved its object to Deep Archive (S3 runs it
        # at the midnight after the object's day: within two days)
        assert archive_run(aws, stack, {}).status == "SUCCEEDED"
        aws.clock.advance(2 * 24 * 3600)
        assert aws.client("s3").head_object(Bucket=bucket, Key=f"{image}.bin")["StorageClass"] == "DEEP_ARCHIVE"
        # Then, with IAM enforced from now on, the blog's payload for that bucket restores it as an AMI
        aws.enforce_iam(stack)
        restore = {"recoveryPoint": f"{image}.bin", "recoveryPointBucket": bucket, "restoreRequestDays": "1", "restoreRequestTier": "Bulk"}
        run = aws.run(stack, restore)
        (image_made,) = aws.client("ec2").describe_images(ImageIds=[run.output["imageId"]])["Images"]
        assert (run.status, image_made["State"], image_made["Name"]) == ("SUCCEEDED", "available", run.output["imageName"])
        # And a bucket neither listed nor the archive side's is still refused before any side effect
        refused = aws.run(stack, {**restore, "recoveryPointBucket": "elsewhere"})
        assert (refused.status, refused.error) == ("FAILED", "InvalidInputError")


def test_a_point_that_waits_past_the_budgets_hourly_look_still_waits_its_turn() -> None:
    with Emulator() as aws:
        # Given the default 1,200 GB store budget and two points of 1,000 GiB (each store takes over an hour)
        stack = aws.deploy(ArchiveVaultNames="daily")
        points = [aws.backup_ec2("daily", name=f"big-{n}", size_gb=1000, days_ago=40) for n in range(2)]
        # When one run archives both
        run = archive_run(aws, stack, {})
        # Then both are stored, one after the other: the second's wait timed out into itself each hour and never went on
        # to Store Image without its GB (EC2 was never asked while the first store ran)
        assert (run.status, sorted(a["recoveryPointArn"] for a in run.output["archived"])) == ("SUCCEEDED", sorted(points))
        first, second = sorted(aws.ec2.store_tasks, key=lambda t: t.started_at)
        assert first.ended_at is not None and second.started_at >= first.ended_at
        assert in_flight_peak(aws) == 1000 * GIB
        assert aws.requests["ec2.CreateStoreImageTask"] == 2
        hours_waited = int((first.ended_at - first.started_at).total_seconds() // 3600)
        entered = [e["stateEnteredEventDetails"]["name"] for e in aws.events(run.arn) if e["type"] == "TaskStateEntered"]
        assert (hours_waited >= 1, entered.count("Wait For Store Budget")) == (True, 2 + hours_waited)
