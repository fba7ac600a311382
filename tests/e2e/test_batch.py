"""End to end, batches: many AMIs started as the console user starts them (recoveryPoints, on the restore state machine,
which hands the batch over to the batch state machine), each AMI restored by a child execution of the restore state
machine, under the stack's image-restore budget, with one summary email.

Durations are pinned (tests/support.archive) and image restores kept short, so each test runs a few hundred
milliseconds of real time; the emulator's virtual clock does the waiting."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.cloudformation import Stack
from emulator.facade import Emulator
from tests.support import BUCKET, EVENT_DELAY, archive, event, images, load_function, paused_at, until_entered

pytestmark = pytest.mark.long  # run first (tests/conftest.py)

GB = 10**9
plan = load_function("plan_batch")


def batch_of(stack: Stack, name: str) -> str:
    """The batch execution an execution `name` of the restore state machine handed its batch to (it keeps the name)."""
    return f"{stack.attributes['BatchRestoreStateMachine']['Arn'].replace(':stateMachine:', ':execution:')}:{name}"


def child_runs(aws: Emulator, stack: Stack, batch: str) -> list[dict[str, Any]]:
    """The executions the batch started (their input names the batch, as Step Functions links a child to its parent),
    by their index in the batch."""
    sfn = aws.client("stepfunctions")
    found = []
    for item in sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]:
        described = sfn.describe_execution(executionArn=item["executionArn"])
        if json.loads(described["input"]).get("AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID") == batch:
            found.append(described)
    return sorted(found, key=lambda e: int(e["name"].rsplit("-", 2)[1]))


def most_gb_in_flight(aws: Emulator) -> float:
    """The most image-restore GB EC2 had in progress at any instant (each restore holds its size from start to end)."""
    restores = list(aws.ec2.image_restores.values())
    ends = {r.image_id: r.available_at or r.ready_at for r in restores}
    return max(sum(o.size for o in restores if o.started_at <= r.started_at < ends[o.image_id]) for r in restores) / GB


def test_eight_150_gb_amis_under_the_600_gb_budget_all_restore_with_no_refusal_and_one_summary(aws: Emulator) -> None:
    # Given 8 readable AMIs of 150 GB (image restores of 3 min), EC2 answering an image restore over its 600 GB quota
    # with an accepted task whose image fails (the form that would leave failed AMIs behind)
    aws.world.quota_answer = "failed-image"
    stack = aws.deploy()
    keys = [archive(aws, "GLACIER_IR", size_gb=150, image_minutes=3, name=f"web-{n:02d}") for n in range(8)]
    # When one execution restores them all
    run = aws.run(stack, {"recoveryPoints": keys, "recoveryPointBucket": BUCKET}, name="nightly")
    # Then all succeed: 8 AMIs, available, none failed, no CreateRestoreImageTask refused, never over 600 GB in flight
    assert (run.status, run.error) == ("SUCCEEDED", None)
    assert sorted(i["State"] for i in images(aws)) == ["available"] * 8
    assert [c.get("error") for c in aws.ec2.restore_image_calls] == [None] * 8
    assert most_gb_in_flight(aws) == 600
    # ...every child started at once (BatchConcurrency 40), each through the single-restore states; the budget admitted
    # four image restores, and four more when they ended (3 min, EC2's event 5 s later ends each child, Step Functions'
    # event of its end 5 s later gives its GB back)
    children = child_runs(aws, stack, batch_of(stack, "nightly"))
    assert [(c["status"], (c["startDate"] - run.started).total_seconds()) for c in children] == [("SUCCEEDED", 0.0)] * 8
    assert sorted((c["at"] - run.started).total_seconds() for c in aws.ec2.restore_image_calls) == [0.0] * 4 + [180.0 + 2 * EVENT_DELAY] * 4
    entered = [e["stateEnteredEventDetails"]["name"] for e in aws.history(children[0]["executionArn"]) if "stateEnteredEventDetails" in e]
    assert entered[:5] == ["Is It A Batch?", "Validate Input", "Check Storage Class", "Is Recovery Point Readable?", "Extend Copy"]
    # ...and one email: the summary, naming every AMI id; the children send none of their own
    (email,) = aws.emails(stack)
    assert email["subject"] == "AMI batch restore: all 8 restored in us-east-1"
    assert all(i["ImageId"] in email["message"] for i in images(aws))
    assert (
        "Plan: 8 AMIs, 1,200.0 GB, through the stack's 600 GB image-restore budget (shared with every restore of the stack); 0 "
        "restores requested up front."
    ) in email["message"]
    assert (run.output["restored"], run.output["failed"], len(run.output["amis"])) == (8, 0, 8)
    # The batch's history: 14 events per AMI (its Map iteration's start and end, and two tasks of 6: the copy wait and
    # the child) and 27 of its own; each AMI's own states are in its child's history. The 25,000 events an execution
    # may have are reached at about 1,780 AMIs, above the 1,000 a batch may hold. The execution that handed the batch
    # over has 10.
    assert (len(aws.history(batch_of(stack, "nightly"))), len(run.history)) == (14 * 8 + 27, 10)


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
    run = aws.run(stack, payload, name="dr-drill")
    # Then the two are restored, the missing key starts no execution, and the batch (and the execution that handed it
    # over) ends FAILED naming it
    assert (run.status, run.error) == ("FAILED", "BatchRestoreFailedError")
    assert (
        run.cause
        == f"1 of 3 AMI restores failed: s3://{BUCKET}/{missing} (RecoveryPointNotFoundError). 2 restored; the summary was emailed."
    )
    assert sorted(i["State"] for i in images(aws)) == ["available"] * 2
    # ...the restores were requested up front, once each, with the item's tier; the children found the copies readable
    assert sorted((c["key"], c["tier"], c["status"]) for c in aws.s3.restore_calls) == sorted(
        [(standard, "Standard", 202), (bulk, "Bulk", 202)]
    )
    children = child_runs(aws, stack, batch_of(stack, "dr-drill"))
    assert [(c["name"], c["status"]) for c in children] == [(plan.child_name(batch_of(stack, "dr-drill"), n), "SUCCEEDED") for n in (0, 1)]
    # ...each child started when S3's event told the batch its copy was readable (3.05 h and 5.05 h, 5 s later)
    assert [(c["startDate"] - run.started).total_seconds() for c in children] == [3.05 * 3600 + EVENT_DELAY, 5.05 * 3600 + EVENT_DELAY]
    # ...and one email says all of it
    (email,) = aws.emails(stack)
    assert email["subject"] == "AMI batch restore: 2 of 3 restored, 1 failed in us-east-1"
    message = email["message"]
    assert all(i["ImageId"] in message for i in images(aws))
    assert (
        f"- s3://{BUCKET}/{missing}: NOT_STARTED RecoveryPointNotFoundError: no such object in the bucket (HeadObject) What to do: "
        "Check recoveryPoint and recoveryPointBucket (aws s3 ls s3://<bucket>/) and start a new execution."
    ) in message.splitlines()
    assert "Plan: 3 AMIs, 16.0 GB, through the stack's 600 GB image-restore budget" in message


def test_a_child_name_taken_by_another_execution_fails_that_ami_and_the_email_says_so(aws: Emulator) -> None:
    # Given a single restore of another object, run earlier under the name the batch "drill" gives its second child
    stack = aws.deploy()
    other = archive(aws, "GLACIER_IR", image_minutes=3, name="other-01")
    taken = plan.child_name(batch_of(stack, "drill"), 1)
    assert aws.run(stack, {"recoveryPoint": other, "recoveryPointBucket": BUCKET}, name=taken).status == "SUCCEEDED"
    keys = [archive(aws, "GLACIER_IR", image_minutes=3, name=f"web-{n:02d}") for n in range(2)]
    # When the batch "drill" restores two AMIs
    run = aws.run(stack, {"recoveryPoints": keys, "recoveryPointBucket": BUCKET}, name="drill")
    # Then its first AMI is restored; its second is not (its child could not start), never reported as the other
    # execution's AMI; the batch ends FAILED and its summary says why
    assert (run.status, run.error) == ("FAILED", "BatchRestoreFailedError")
    ours = [i for i in images(aws) if "other-01" not in i["Name"]]
    assert [i["Name"].split("-restored-")[0] for i in ours] == ["web-00"]
    assert run.output == {}
    summary = aws.emails(stack)[-1]
    assert summary["subject"] == "AMI batch restore: 1 of 2 restored, 1 failed in us-east-1"
    assert (
        f"- s3://{BUCKET}/{keys[1]}: NOT_STARTED StepFunctions.ExecutionAlreadyExistsException: its execution's name was taken by "
        "another execution: this AMI was not restored What to do: Restore this AMI in a new execution (a single restore, or a new "
        "batch)."
    ) in summary["message"].splitlines()


def test_a_selector_restores_the_newest_archive_of_each_matching_name_before_a_date(aws: Emulator) -> None:
    # Given web-01 archived twice (200 and 100 days ago), web-02 once, web-03 only after the date, db-01 not matching
    stack = aws.deploy()
    keys = {
        "old web-01": aws.archive_ami("web-01", BUCKET, "GLACIER_IR", size_gb=8, archived_days_ago=200),
        "web-01": aws.archive_ami("web-01", BUCKET, "GLACIER_IR", size_gb=8, archived_days_ago=100),
        "web-02": aws.archive_ami("web-02", BUCKET, "GLACIER_IR", size_gb=8, archived_days_ago=150),
        "web-03": aws.archive_ami("web-03", BUCKET, "GLACIER_IR", size_gb=8, archived_days_ago=3),
        "db-01": aws.archive_ami("db-01", BUCKET, "GLACIER_IR", size_gb=8, archived_days_ago=100),
    }
    for key in keys.values():
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
    assert email["subject"] == "AMI batch restore failed: EmptySelectionError at Resolve Selection"
    assert "Nothing was changed in AWS." in email["message"]
    assert (aws.s3.restore_calls, aws.ec2.restore_image_calls) == ([], [])


@pytest.mark.parametrize("payload", ["invalid-batch", "expedited-deep-archive", "no-key-exists", "no-such-bucket"])
def test_a_batch_that_cannot_work_fails_before_any_side_effect_in_one_email(aws: Emulator, payload: str) -> None:
    stack = aws.deploy()
    deep = archive(aws, "DEEP_ARCHIVE", name="db-01")
    flexible = archive(aws, "GLACIER", name="app-01")
    missing = [f"ami-{n:017x}.bin" for n in range(3)]
    if payload == "invalid-batch":
        body, step, error = event("executions/invalid-batch.json"), "Validate Batch", "InvalidInputError"
        expected = ["recoveryPoints[1] (backup.tar)", "recoveryPoints[2] (ami-5a0f3616665c35d46.bin): listed twice", "recoveryPoints[3]"]
    elif payload == "expedited-deep-archive":  # only HeadObject can tell: Plan Batch refuses it before requesting any restore
        body = {"recoveryPoints": [flexible, deep], "recoveryPointBucket": BUCKET, "restoreRequestTier": "Expedited"}
        step, error = "Plan Batch", "InvalidInputError"
        expected = [f"recoveryPoints[1] ({deep}): restoreRequestTier: Expedited is not offered for Deep Archive"]
    elif payload == "no-key-exists":  # a typo in every key: one email, not one failed execution per key
        body, step, error = {"recoveryPoints": missing, "recoveryPointBucket": BUCKET}, "Plan Batch", "RecoveryPointNotFoundError"
        expected = [f"none of the batch's 3 keys exists (s3://{BUCKET}/{missing[0]}"]
    else:  # the bucket itself is gone (deleted, or a typo in ArchiveBucketName and the payload alike)
        stack_bucket_missing(aws)
        body, step, error = {"recoveryPoints": missing, "recoveryPointBucket": BUCKET}, "Plan Batch", "RecoveryPointNotFoundError"
        expected = [f"the bucket {BUCKET} does not exist: nothing was restored"]
    run = aws.run(stack, body)
    assert (run.status, run.error) == ("FAILED", error)
    assert all(text in (run.cause or "") for text in expected), run.cause
    (email,) = aws.emails(stack)
    assert (email["subject"], "Nothing was changed in AWS." in email["message"]) == (f"AMI batch restore failed: {error} at {step}", True)
    assert (aws.s3.restore_calls, aws.ec2.restore_image_calls, aws.requests["s3.RestoreObject"]) == ([], [], 0)
    # ...and no child execution was started
    assert [e["name"] for e in aws.client("stepfunctions").list_executions(stateMachineArn=stack.state_machine_arn)["executions"]] == [
        run.arn.rsplit(":", 1)[1]
    ]


def stack_bucket_missing(aws: Emulator) -> None:
    """The archive bucket the stack may read is gone (deleted, or a typo in ArchiveBucketName and the payload alike)."""
    s3 = aws.client("s3")
    for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=item["Key"])
    s3.delete_bucket(Bucket=BUCKET)


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


# --- The parent field: only a real child is silent -----------------------------------------------------------------


def test_a_console_rerun_of_a_batch_child_emails_like_any_restore(aws: Emulator) -> None:
    # Given a batch that restored one AMI and ended
    stack = aws.deploy()
    key = archive(aws, "GLACIER_IR", image_minutes=3, name="web-01")
    assert aws.run(stack, {"recoveryPoints": [key], "recoveryPointBucket": BUCKET}, name="nightly").status == "SUCCEEDED"
    (child,) = child_runs(aws, stack, batch_of(stack, "nightly"))
    emails = len(aws.emails(stack))
    # When an operator re-runs the child from the console with the same input (its parent field included), and another
    # runs a bad input with a made-up parent field
    rerun = aws.run(stack, json.loads(child["input"]), name="console-rerun")
    made_up = aws.run(stack, {"recoveryPoint": key, "recoveryPointBucket": BUCKET, "restoreRequestTier": "Fast",
                              "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": "me"})  # fmt: skip
    # Then each emails its own outcome: the success, and the refusal of the bad input
    assert (rerun.status, [e["subject"] for e in rerun.emails]) == ("SUCCEEDED", [f"AMI restored: {rerun.output['imageId']} in us-east-1"])
    assert (made_up.status, made_up.error, [e["subject"] for e in made_up.emails]) == (
        "FAILED", "InvalidInputError", ["AMI restore failed: InvalidInputError at Validate Input"])  # fmt: skip
    assert len(aws.emails(stack)) == emails + 2


# --- A batch that ends another way: its AMIs are still named --------------------------------------------------------


def test_a_batch_stopped_by_hand_is_reported_with_every_ami_it_made(aws: Emulator) -> None:
    # Given a batch of three: two readable AMIs (image restores of 3 min) and one whose Deep Archive copy takes 10 h
    stack = aws.deploy()
    quick = [archive(aws, "GLACIER_IR", image_minutes=3, name=f"web-{n:02d}") for n in range(2)]
    slow = archive(aws, "DEEP_ARCHIVE", restore_hours=10, image_minutes=3, name="db-01")
    arn = aws.start(stack, {"recoveryPoints": [*quick, slow], "recoveryPointBucket": BUCKET}, name="drill")
    # When the operator stops it at 1 h (the execution they started: Step Functions stops the batch and its children)
    with paused_at(aws, 3600):
        aws.client("stepfunctions").stop_execution(executionArn=arn)
    assert aws.wait(stack, arn).status == "ABORTED"
    aws.clock.advance(600)  # the end events' delivery
    # Then one email names the two AMIs made and the one not made; the children send none
    made = sorted(i["ImageId"] for i in images(aws))
    (report,) = aws.emails(stack)
    assert report["subject"] == "AMI batch restore ended ABORTED: 2 of 3 AMIs restored (drill)"
    lines = report["message"].splitlines()
    assert lines[:4] == [
        "The batch restore drill ended ABORTED, before its summary email.",
        "What its child executions did, read from AWS now:",
        "",
        "Restored (2):",
    ]
    assert sorted(line.split(" ")[1] for line in lines[4:6]) == made
    # ...and the one whose turn never came, with the copy its up-front restore is making
    assert lines[6:9] == [
        "",
        "Never started (1): the batch ended before their turn; restore them in a new batch:",
        f"- s3://{BUCKET}/{slow}: S3 is restoring a copy of s3://{BUCKET}/{slow}: when it is done, it lives the restore's Days at "
        "S3 Standard's price.",
    ]


def test_a_batch_that_times_out_is_reported_with_every_ami_it_made(aws: Emulator) -> None:
    # Given a batch state machine whose executions may run 2 h (a test's stand-in for the year), and a batch of a
    # readable AMI and one whose Deep Archive copy takes 10 h
    stack = aws.deploy()
    sfn = aws.client("stepfunctions")
    machine = stack.attributes["BatchRestoreStateMachine"]["Arn"]
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=machine)["definition"])
    sfn.update_state_machine(stateMachineArn=machine, definition=json.dumps({**definition, "TimeoutSeconds": 7200}))
    quick = archive(aws, "GLACIER_IR", image_minutes=3, name="web-01")
    slow = archive(aws, "DEEP_ARCHIVE", restore_hours=10, image_minutes=3, name="db-01")
    # When it runs
    run = aws.run(stack, {"recoveryPoints": [quick, slow], "recoveryPointBucket": BUCKET}, name="drill")
    aws.clock.advance(600)
    # Then the batch timed out at 2 h (the Deep Archive copy still restoring, its child not started), the execution that
    # handed it over failed saying so, and one email names the AMI made and the one never started
    assert (run.status, run.error, run.cause) == (
        "FAILED", "BatchRestoreEndedError", "the batch drill ended TIMED_OUT; its report names every AMI it made")  # fmt: skip
    assert [c["status"] for c in child_runs(aws, stack, batch_of(stack, "drill"))] == ["SUCCEEDED"]
    (report,) = aws.emails(stack)
    assert report["subject"] == "AMI batch restore ended TIMED_OUT: 1 of 2 AMIs restored (drill)"
    (image,) = images(aws)
    lines = report["message"].splitlines()
    assert f"- {image['ImageId']} ({image['Name']}) from s3://{BUCKET}/{quick}" in lines
    assert lines[lines.index("Never started (1): the batch ended before their turn; restore them in a new batch:") + 1].startswith(
        f"- s3://{BUCKET}/{slow}: S3 is restoring a copy"
    )


# --- The budget: no GB leak ---------------------------------------------------------------------------------------


def test_a_restore_stopped_mid_image_gives_its_gb_back_once_ec2_has_made_the_image(aws: Emulator) -> None:
    # Given two 400 GB AMIs (image restores of 1 h) under the 600 GB budget: the second waits for the first's GB
    stack = aws.deploy()
    first, second = (archive(aws, "GLACIER_IR", size_gb=400, image_minutes=60, name=f"big-{n}") for n in range(2))
    with aws.clock.hold():
        running = aws.start(stack, {"recoveryPoint": first, "recoveryPointBucket": BUCKET})
        until_entered(aws, running, "Wait For Image")
        waiting = aws.start(stack, {"recoveryPoint": second, "recoveryPointBucket": BUCKET})
        until_entered(aws, waiting, "Wait For Image Budget")
    # When the first is stopped by hand 10 min into its image restore (EC2 goes on making the image, and counts its
    # 400 GB against its quota until it is done)
    with paused_at(aws, 600):
        aws.client("stepfunctions").stop_execution(executionArn=running)
    run = aws.wait(stack, waiting)
    # Then its GB are held until EC2's AMI State Change says the image is available (1 h, 5 s later), then given back:
    # the second's image restore starts at once, EC2 refuses nothing, and it is restored
    (made,) = [r for r in aws.ec2.image_restores.values() if r.key == first]
    assert made.available_at is not None
    calls = [(c["key"], c.get("error"), (c["at"] - made.available_at).total_seconds()) for c in aws.ec2.restore_image_calls]
    assert (calls[1:], run.status) == ([(second, None, EVENT_DELAY)], "SUCCEEDED")
    # ...and nothing is held once both ended
    aws.clock.advance(60)
    assert [i["kind"]["S"] for i in aws.client("dynamodb").scan(TableName=stack.physical["ImageBudgetTable"])["Items"]] == ["total"]


def test_a_plan_that_timed_out_after_requesting_its_restores_names_them_in_its_email(aws: Emulator) -> None:
    # Given a batch of two Flexible Retrieval AMIs, and Lambda reporting a timeout each time Plan Batch ran (3 attempts:
    # the restores it requested stay requested)
    stack = aws.deploy()
    keys = [archive(aws, "GLACIER", restore_hours=4, name=f"app-{n}") for n in range(2)]
    aws.faults.lambda_error("PlanBatchFunction", "Sandbox.Timedout", times=3)
    # When it runs
    run = aws.run(stack, {"recoveryPoints": keys, "recoveryPointBucket": BUCKET}, name="plan-timeout")
    # Then it failed at Plan Batch, and its one email says what it left, read from S3 (never "nothing was changed")
    assert (run.status, run.error) == ("FAILED", "Sandbox.Timedout")
    assert [c["status"] for c in aws.s3.restore_calls] == [202, 202]  # the retries found them restoring: no new request
    (email,) = aws.emails(stack)
    assert email["subject"] == "AMI batch restore failed: Sandbox.Timedout at Plan Batch"
    assert email["message"].split("\n\n")[1].splitlines() == [
        "Left in place (read from AWS now):",
        *(
            f"- S3 is restoring a copy of s3://{BUCKET}/{key}: when it is done, it lives the restore's Days at S3 Standard's price."
            for key in keys
        ),
    ]
