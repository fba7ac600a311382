"""End to end, batches: many AMIs in one execution of the real state machine, each restored by a child execution of
that same state machine (the single-restore states), under EC2's image-restore quota, with one summary email.

Durations are pinned (conftest.archive) and image restores kept short, so each test runs a few hundred milliseconds
of real time; the emulator's virtual clock does the waiting."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.facade import Emulator, Run
from tests.support import BUCKET, EVENT_DELAY, archive, event, images

pytestmark = pytest.mark.long  # run first (tests/conftest.py)

GB = 10**9


def child_runs(aws: Emulator, stack: Any, parent: Run) -> list[dict[str, Any]]:
    """The executions the batch started (their input names the batch, as Step Functions links a child to its parent)."""
    sfn = aws.client("stepfunctions")
    found = []
    for item in sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]:
        described = sfn.describe_execution(executionArn=item["executionArn"])
        if json.loads(described["input"]).get("AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID") == parent.arn:
            found.append(described)
    return sorted(found, key=lambda e: int(e["name"].rsplit("-", 1)[1]))


def most_gb_in_flight(aws: Emulator) -> float:
    """The most image-restore GB EC2 had in progress at any instant (each restore holds its size from start to end)."""
    restores = list(aws.ec2.image_restores.values())
    ends = {r.image_id: r.available_at or r.ready_at for r in restores}
    return max(sum(o.size for o in restores if o.started_at <= r.started_at < ends[o.image_id]) for r in restores) / GB


def test_twelve_100_gb_amis_under_the_600_gb_quota_all_restore_with_no_refusal_and_one_summary(aws: Emulator) -> None:
    # Given 12 readable AMIs of 100 GB (image restores of 3 min), EC2's 600 GB in-progress quota answering over it
    # with an accepted task whose image fails (the form that would leave failed AMIs behind)
    aws.world.quota_answer = "failed-image"
    stack = aws.deploy()
    keys = [archive(aws, "GLACIER_IR", size_gb=100, image_minutes=3, name=f"web-{n:02d}") for n in range(12)]
    # When one execution restores them all
    run = aws.run(stack, {"recoveryPoints": keys, "recoveryPointBucket": BUCKET})
    # Then all succeed: 12 AMIs, available, none failed, no CreateRestoreImageTask refused, never over 600 GB in flight
    assert (run.status, run.error) == ("SUCCEEDED", None)
    assert sorted(i["State"] for i in images(aws)) == ["available"] * 12
    assert [c.get("error") for c in aws.ec2.restore_image_calls] == [None] * 12
    assert most_gb_in_flight(aws) == 600
    # ...six side by side, then six more, each through the single-restore states
    children = child_runs(aws, stack, run)
    assert [c["status"] for c in children] == ["SUCCEEDED"] * 12
    # (each image is available at 3 min; EC2's event resumes its child EVENT_DELAY later, and the lane goes on)
    assert [(c["startDate"] - run.started).total_seconds() for c in children] == [0] * 6 + [180 + EVENT_DELAY] * 6
    entered = [e["stateEnteredEventDetails"]["name"] for e in aws.history(children[0]["executionArn"]) if "stateEnteredEventDetails" in e]
    assert entered[:5] == ["Receive Request", "Is It A Batch?", "Validate Input", "Check Storage Class", "Is Recovery Point Readable?"]
    # ...and one email: the summary, naming every AMI id; the children send none of their own
    (email,) = aws.emails(stack)
    assert email["subject"] == "AMI batch restore: all 12 restored in us-east-1"
    assert all(i["ImageId"] in email["message"] for i in images(aws))
    assert "Plan: 1,200.0 GB under the 600 GB image-restore quota: 12 in 6 lanes; 0 restores requested up front." in email["message"]
    assert (run.output["restored"], run.output["failed"], len(run.output["amis"])) == (12, 0, 12)
    # The parent's history: 8 events per AMI (Map iteration started, Task entered, scheduled, started, submitted,
    # succeeded, exited, iteration succeeded), 6 per lane and 6 per round (a Map state and its iteration), 31 fixed.
    # Each AMI's own states are in its child's history. With at most 14 rounds of 40 lanes the 25,000 events are
    # reached at about 2,700 AMIs, above the 1,000 a batch may hold (README: Restoring many AMIs).
    assert len(run.history) == 8 * 12 + 6 * 6 + 6 * 1 + 31


def test_a_batch_with_a_missing_key_restores_the_others_and_ends_failed_with_the_summary(aws: Emulator) -> None:
    # Given two archived AMIs (one with its own tier) and a key that does not exist
    stack = aws.deploy()
    standard = archive(aws, "GLACIER", restore_hours=3.05, image_minutes=3, name="app-01")
    bulk = archive(aws, "GLACIER", restore_hours=5.05, image_minutes=3, name="db-01")
    missing = "ami-00000000000000000.bin"
    payload = {
        **event("executions/batch-keys.json"),
        "recoveryPoints": [standard, {"recoveryPoint": bulk, "restoreRequestTier": "Bulk"}, missing],
    }
    # When the batch runs
    run = aws.run(stack, payload)
    # Then the two are restored, the missing one fails on its own, and the batch ends FAILED naming it
    assert (run.status, run.error) == ("FAILED", "BatchRestoreFailedError")
    assert run.cause == (
        f"1 of 3 AMI restores failed: s3://{BUCKET}/{missing} (RecoveryPointNotFoundError). "
        "The others are restored; the summary was emailed."
    )
    assert sorted(i["State"] for i in images(aws)) == ["available"] * 2
    # ...the restores were requested up front, once each, with the item's tier; the children joined them
    assert sorted((c["key"], c["tier"], c["status"]) for c in aws.s3.restore_calls) == sorted(
        [(standard, "Standard", 202), (bulk, "Bulk", 202)]
    )
    assert [c["status"] for c in child_runs(aws, stack, run)] == ["SUCCEEDED", "SUCCEEDED", "FAILED"]
    # ...and one email says all of it
    (email,) = aws.emails(stack)
    assert email["subject"] == "AMI batch restore: 2 of 3 restored, 1 failed in us-east-1"
    message = email["message"]
    assert all(i["ImageId"] in message for i in images(aws))
    assert f"- s3://{BUCKET}/{missing}: FAILED RecoveryPointNotFoundError: s3://{BUCKET}/{missing} does not exist" in message
    # (one round per readiness: the missing key at once, the Standard copy from 5 h, the Bulk one from 12 h)
    plan = "Plan: 16.0 GB under the 600 GB image-restore quota: 1 in 1 lane, then 1 in 1 lane, then 1 in 1 lane; 2 restores requested"
    assert plan in message


def test_a_selector_restores_the_newest_archive_of_each_matching_name_before_a_date(aws: Emulator) -> None:
    # Given web-01 archived twice (200 and 100 days ago), web-02 once, web-03 only after the date, db-01 not matching
    stack = aws.deploy()
    old_web_01 = archive(aws, "GLACIER_IR", name="web-01", image_minutes=3)
    aws.world.sizes.clear()
    keys = {
        "old web-01": aws.archive_ami("web-01", BUCKET, "GLACIER_IR", size_gb=8, archived_days_ago=200),
        "web-01": aws.archive_ami("web-01", BUCKET, "GLACIER_IR", size_gb=8, archived_days_ago=100),
        "web-02": aws.archive_ami("web-02", BUCKET, "GLACIER_IR", size_gb=8, archived_days_ago=150),
        "web-03": aws.archive_ami("web-03", BUCKET, "GLACIER_IR", size_gb=8, archived_days_ago=3),
        "db-01": aws.archive_ami("db-01", BUCKET, "GLACIER_IR", size_gb=8, archived_days_ago=100),
    }
    for key in [old_web_01, *keys.values()]:
        aws.world.image_seconds[key] = 180
    # When a batch selects web-* archived before 2025-12-01 (the clock is at 2026-01-05), newest only
    run = aws.run(
        stack, {**event("executions/batch-selector.json"), "recoveryPoints": {"amiName": "web-*", "archivedBefore": "2025-12-01"}}
    )
    # Then exactly the newest web-01 archive and web-02 are restored, and the email says what the selector resolved to
    assert (run.status, run.error) == ("SUCCEEDED", None)
    assert [a["recoveryPoint"] for a in run.output["amis"]] == [f"s3://{BUCKET}/{keys['web-01']}", f"s3://{BUCKET}/{keys['web-02']}"]
    assert sorted(c["key"] for c in aws.ec2.restore_image_calls) == sorted([keys["web-01"], keys["web-02"]])
    (email,) = aws.emails(stack)
    assert (
        f"Selection: amiName 'web-*', archived before 2025-12-01, newest archive of each name in s3://{BUCKET}: 2 AMIs." in email["message"]
    )


def test_an_empty_selection_fails_clearly_before_any_side_effect(aws: Emulator) -> None:
    stack = aws.deploy()
    archive(aws, "GLACIER", name="db-01")
    run = aws.run(stack, {**event("executions/batch-selector.json"), "recoveryPoints": {"amiName": "web-*"}})
    assert (run.status, run.error) == ("FAILED", "EmptySelectionError")
    assert "no archived AMI matches amiName 'web-*', newest archive of each name in s3://my-ami-archive" in (run.cause or "")
    (email,) = aws.emails(stack)
    assert email["subject"] == "AMI restore failed: EmptySelectionError at Resolve Selection"
    assert "Nothing was changed in AWS." in email["message"]
    assert (aws.s3.restore_calls, aws.ec2.restore_image_calls) == ([], [])


@pytest.mark.parametrize("payload", ["invalid-batch", "expedited-deep-archive"])
def test_a_bad_batch_fails_before_any_side_effect_naming_each_bad_item(aws: Emulator, payload: str) -> None:
    stack = aws.deploy()
    deep = archive(aws, "DEEP_ARCHIVE", name="db-01")
    flexible = archive(aws, "GLACIER", name="app-01")
    if payload == "invalid-batch":
        body, step = event("executions/invalid-batch.json"), "Validate Batch"
        expected = ["recoveryPoints[1] (backup.tar)", "recoveryPoints[2] (ami-5a0f3616665c35d46.bin): listed twice", "recoveryPoints[3]"]
    else:  # only HeadObject can tell: Plan Batch refuses it before requesting any restore
        body = {"recoveryPoints": [flexible, deep], "recoveryPointBucket": BUCKET, "restoreRequestTier": "Expedited"}
        step, expected = "Plan Batch", [f"recoveryPoints[1] ({deep}): restoreRequestTier: Expedited is not offered for Deep Archive"]
    run = aws.run(stack, body)
    assert (run.status, run.error) == ("FAILED", "InvalidInputError")
    assert all(text in (run.cause or "") for text in expected)
    (email,) = aws.emails(stack)
    assert (email["subject"], "Nothing was changed in AWS." in email["message"]) == (
        f"AMI restore failed: InvalidInputError at {step}",
        True,
    )
    assert (aws.s3.restore_calls, aws.ec2.restore_image_calls, aws.requests["s3.RestoreObject"]) == ([], [], 0)


def test_buckets_tagged_ami_archive_are_allowed_by_their_tag(aws: Emulator) -> None:
    # Given a stack with ArchiveBucketTag "dr", a bucket tagged ami-archive=dr and one that is not
    s3 = aws.client("s3")
    for bucket, tags in (("dr-vault", [{"Key": "ami-archive", "Value": "dr"}]), ("plain-vault", [{"Key": "team", "Value": "dr"}])):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    stack = aws.deploy(ArchiveBucketName=BUCKET, ArchiveBucketTag="dr")
    # Then the stack grants the archive actions on buckets carrying the tag (S3 ABAC; moto does not evaluate conditions)
    statements = stack.policies["glacier-ami-restore-FunctionRole"]["glacier-ami-restore-tagged-archive-buckets"]["Statement"]
    assert [
        (s["Sid"], s["Resource"], s.get("Condition", {}).get("StringEquals", {}).get("aws:ResourceTag/ami-archive")) for s in statements
    ] == [
        ("ReadAndRestoreRecoveryPointsOfTaggedBuckets", "arn:aws:s3:::*/*", "dr"),
        ("ListTaggedBuckets", "arn:aws:s3:::*", "dr"),
        ("TellTaggedBuckets", "arn:aws:s3:::*", None),
    ]
    # ...Validate Input lets the tagged bucket through (the key is then found missing) and refuses the other
    missing = {"recoveryPoint": "ami-00000000000000000.bin"}
    tagged = aws.run(stack, {**missing, "recoveryPointBucket": "dr-vault"})
    plain = aws.run(stack, {**missing, "recoveryPointBucket": "plain-vault"})
    assert (tagged.error, plain.error) == ("RecoveryPointNotFoundError", "InvalidInputError")
    assert "or tag the bucket ami-archive=dr" in (plain.cause or "")
