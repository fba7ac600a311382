"""Waiting on S3's and EC2's own events, with the polls as the safety net (issue 9).

archive() pins every event's delivery to EVENT_DELAY (5 s) after the fact, so the times below are exact.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from emulator.facade import Emulator, Run
from tests.support import BUCKET, EVENT_DELAY, archive, event, images

HOUR = 3600
BULK = {**event("executions/deep-archive-bulk.json")}


def image_started(aws: Emulator, run: Run, n: int = 0) -> float:
    return float((aws.ec2.restore_image_calls[n]["at"] - run.started).total_seconds())


def notified(run: Run) -> float:
    entered = run.entered_at("Notify Success")
    assert entered is not None
    return (entered - run.started).total_seconds()


def test_a_deep_archive_bulk_restore_done_after_6_h_goes_on_within_seconds_of_each_event(aws: Emulator) -> None:
    # Given a Deep Archive Bulk restore that S3 finishes after 6 h (AWS says "within 48 h"; the polls alone would first
    # look at 24 h once S3's Object Restore Initiated proved that the bucket's events arrive) and a 15 min image restore
    stack = aws.deploy()
    key = archive(aws, "DEEP_ARCHIVE", restore_hours=6)
    run = aws.run(stack, {**BULK, "recoveryPoint": key})
    assert (run.status, run.error) == ("SUCCEEDED", None)
    # Then the image restore starts when Object Restore Completed arrives, 5 s after the copy is readable, and the email
    # goes out when EC2's AMI State Change arrives, 5 s after the AMI is available
    assert image_started(aws, run) == 6 * HOUR + EVENT_DELAY
    assert notified(run) == 6 * HOUR + EVENT_DELAY + 15 * 60 + EVENT_DELAY
    assert (run.output["copyNoticedBy"], run.output["imageNoticedBy"]) == ("event", "event")
    noticed = "Noticed:               copy by S3's Object Restore Completed event; image by EC2's AMI State Change event"
    assert noticed in run.emails[0]["message"]
    # and it cost 33 state transitions, 9 of them the image's safety net (each poll: the question, the next timeout, the
    # wait): its planned time for 8 GB is 12 min 40 s and the polls looked at a quarter, a half and all of it before the
    # event (fixed 60 s polling: 1,100 for the 6 h)
    assert len(run.states_entered()) == 33
    assert run.count("Schedule Next Copy Check") == 0 and run.count("Schedule Next Image Check") == 3


def test_with_every_event_lost_the_polls_finish_it_a_tenth_of_the_wait_late_at_most(aws: Emulator) -> None:
    # Given the same restore, and every S3 and EC2 event lost on the way
    aws.world.event_loss = 1.0
    stack = aws.deploy()
    key = archive(aws, "DEEP_ARCHIVE", restore_hours=6)
    run = aws.run(stack, {**BULK, "recoveryPoint": key})
    # Then it still succeeds: no Object Restore Initiated proved that events arrive, so the polls stay dense (every
    # 9.5 % of the time elapsed), and the copy is noticed at most 36 min (10 % of 6 h) after it was readable
    assert (run.status, run.output["copyNoticedBy"], run.output["imageNoticedBy"]) == ("SUCCEEDED", "poll", "poll")
    lag = image_started(aws, run) - 6 * HOUR
    assert 0 <= lag <= 0.10 * 6 * HOUR
    assert len(run.history) < 1000
    assert (len(aws.s3.restore_calls), len(images(aws))) == (1, 1)


def test_duplicate_events_make_no_second_restore_or_ami(aws: Emulator) -> None:
    # Given every event delivered twice (a second apart): EventBridge delivers at least once
    aws.world.event_duplication = 1.0
    stack = aws.deploy()
    key = archive(aws, "DEEP_ARCHIVE", restore_hours=6)
    run = aws.run(stack, {**BULK, "recoveryPoint": key})
    # Then one RestoreObject, one image restore, one AMI, one email; the first copy of each event moved it on
    assert (run.status, len(aws.s3.restore_calls), len(aws.ec2.restore_image_calls), len(images(aws)), len(run.emails)) == (
        "SUCCEEDED", 1, 1, 1, 1
    )  # fmt: skip
    assert image_started(aws, run) == 6 * HOUR + EVENT_DELAY
    # and the second copies found the execution waiting again (the second Object Restore Initiated: one more look, the
    # copy not yet readable), or nobody waiting, or a closed token: benign, Resume Waiting never failed
    assert run.count("Check Restore Status") == 4  # after the request, on each Initiated, on Completed
    aws.clock.advance(10)  # the AMI event's second copy, after the execution ended
    invocations = aws.functions["glacier-ami-restore-ResumeWaitingFunction"].invocations
    assert (len(invocations), [i for i in invocations if "error" in i]) == (6, [])


def test_every_execution_waiting_on_one_object_resumes(aws: Emulator) -> None:
    # Given two executions restoring the same object at the same instant (whichever comes second finds the first's
    # restore ongoing, or gets 409 RestoreAlreadyInProgress, and joins it: which one depends on thread timing)
    stack = aws.deploy()
    key = archive(aws, "DEEP_ARCHIVE", restore_hours=6)
    with aws.clock.hold():
        first = aws.start(stack, {**BULK, "recoveryPoint": key}, name="first")
        second = aws.start(stack, {**BULK, "recoveryPoint": key}, name="second")
    runs = [aws.wait(stack, first), aws.wait(stack, second)]
    # Then one Object Restore Completed resumes both, 5 s after the copy is readable: two image restores at that moment
    assert [r.status for r in runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert [(c["at"] - runs[0].started).total_seconds() for c in aws.ec2.restore_image_calls] == [6 * HOUR + EVENT_DELAY] * 2
    statuses = [c["status"] for c in aws.s3.restore_calls]
    assert (statuses.count(202), set(statuses) <= {202, 409}) == (1, True)
    assert [r.output["copyNoticedBy"] for r in runs] == ["event", "event"]


def test_unrelated_and_early_events_change_nothing(aws: Emulator) -> None:
    # Given a restore that finishes after 6 h, and while it waits: Object Restore Completed for another object of the
    # bucket and for a non-.bin object, an AMI event for another image, and a reordered Object Restore Completed for
    # this very object at 1 h (say, from an earlier restore), before its copy is readable
    stack = aws.deploy()
    key = archive(aws, "DEEP_ARCHIVE", restore_hours=6)

    def s3_event(object_key: str) -> dict[str, Any]:
        detail = {"bucket": {"name": BUCKET}, "object": {"key": object_key, "size": 1}, "source-storage-class": "DEEP_ARCHIVE"}
        return {"Source": "aws.s3", "DetailType": "Object Restore Completed", "Detail": json.dumps(detail), "Resources": []}

    ami_event: dict[str, Any] = {"Source": "aws.ec2", "DetailType": "EC2 AMI State Change", "Resources": [],
                 "Detail": json.dumps({"ImageId": "ami-0000000000000000f", "State": "available"})}  # fmt: skip

    def send(entries: list[dict[str, Any]]) -> None:
        aws.client("events").put_events(Entries=entries)

    with aws.clock.hold():
        arn = aws.start(stack, {**BULK, "recoveryPoint": key})
        at = aws.clock.now()
        unrelated = [s3_event("ami-0aaaaaaaaaaaaaaaa.bin"), s3_event("notes.txt"), ami_event]
        aws.clock.call_at(at + timedelta(minutes=30), lambda: send(unrelated))
        aws.clock.call_at(at + timedelta(hours=1), lambda: send([s3_event(key)]))
    run = aws.wait(stack, arn)
    # Then the early event woke the wait once: Check Restore Status saw no readable copy and it waited on; the rest found
    # nobody waiting. The outcome and its times are those of the undisturbed run.
    assert (run.status, len(aws.s3.restore_calls), len(images(aws))) == ("SUCCEEDED", 1, 1)
    assert image_started(aws, run) == 6 * HOUR + EVENT_DELAY
    assert run.count("Check Restore Status") == 4  # after the request, on Initiated, on the early Completed, on the real one
    results = [i["result"] for i in aws.functions["glacier-ami-restore-ResumeWaitingFunction"].invocations]
    assert sorted((r["subject"], r["resumed"]) for r in results if r["resumed"] == 0) == sorted(
        [(f"s3://{BUCKET}/ami-0aaaaaaaaaaaaaaaa.bin", 0), ("ec2:ami-0000000000000000f", 0)]
    )  # (notes.txt does not match the rule's .bin suffix: Resume Waiting never saw it)


def test_a_bucket_that_sends_no_events_is_restored_by_the_polls_and_the_email_says_so(aws: Emulator) -> None:
    # Given a bucket without "Send notifications to Amazon EventBridge"
    stack = aws.deploy()
    key = archive(aws, "GLACIER", restore_hours=4, events=False)
    run = aws.run(stack, {**event("executions/glacier-standard.json"), "recoveryPoint": key})
    # Then the polls find the copy (at most 10 % of the wait late), EC2's event the image, and the email says how to
    # turn the bucket's events on
    assert (run.status, run.output["copyNoticedBy"], run.output["imageNoticedBy"], run.output["bucketSendsEvents"]) == (
        "SUCCEEDED", "poll", "event", False
    )  # fmt: skip
    assert 0 <= image_started(aws, run) - 4 * HOUR <= 0.10 * 4 * HOUR
    assert (
        f"Note: the bucket {BUCKET} does not send events to Amazon EventBridge, so the restore was noticed by polling only; "
        f"glacier-ami-restore events enable --bucket {BUCKET} turns them on."
    ) in run.emails[0]["message"]


def test_a_forged_wake_up_is_only_a_reason_to_look(aws: Emulator) -> None:
    # Given a Deep Archive restore (12 h) waiting for S3, its token registered in the wait table
    import time

    from tests.support import until_entered

    stack = aws.deploy()
    key = archive(aws, "DEEP_ARCHIVE", restore_hours=12)
    dynamodb, sfn = aws.client("dynamodb"), aws.client("stepfunctions")
    with aws.clock.hold():
        arn = aws.start(stack, {"recoveryPoint": key, "recoveryPointBucket": BUCKET, "restoreRequestTier": "Bulk"})
        until_entered(aws, arn, "Wait For Restore")
        deadline = time.monotonic() + 20
        while not (items := dynamodb.scan(TableName=stack.physical["WaitTable"])["Items"]):
            assert time.monotonic() < deadline, "the wait never registered"
            time.sleep(0.01)
        # When its token is sent a wake-up that claims the deadline has passed (0 s after the request)
        forged = {"wokenBy": "deadline", "event": None, "at": "2026-01-05T09:00:00+00:00"}
        sfn.send_task_success(taskToken=items[0]["token"]["S"], output=json.dumps(forged))
    run = aws.wait(stack, arn)
    # Then Check Restore Status looked, found the restore still running, and waited on: the copy was readable after
    # 12 h, the restore succeeded, with one restore and one AMI
    assert (run.status, run.output["copyNoticedBy"], len(images(aws))) == ("SUCCEEDED", "event", 1)
    assert [c["status"] for c in aws.s3.restore_calls] == [202]
    assert (run.stopped - run.started).total_seconds() > 12 * 3600
