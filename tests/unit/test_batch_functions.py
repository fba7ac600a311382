"""Plan Batch, Resolve Selection and Notify Batch Summary, handler by handler, against emulated AWS."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime

import pytest
from moto.sns.models import sns_backends

from emulator.facade import Emulator
from tests.support import BUCKET, event, load_function, stand_in_run

GB = 10**9
HOUR, DAY = 3600, 86400
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
BATCH = event("notify_batch_summary.json")["executionId"]
RESTORE_MACHINE = "glacier-ami-restore-RestoreStateMachine"
RESTORE_MACHINE_ARN = f"arn:aws:states:us-east-1:123456789012:stateMachine:{RESTORE_MACHINE}"
plan = load_function("plan_batch")
resolve = load_function("resolve_selection")
notify = load_function("notify_batch_summary")


def slowest(size_gb: int) -> int:
    """An image restore at the slowest rate planned: 10 min, then 20 MB/s."""
    return 600 + size_gb * GB // (20 * 10**6)


@pytest.mark.parametrize(
    "budget_gb, sizes_gb, ready, starts",
    [
        (600, [100] * 12, [0] * 12, [0] * 6 + [slowest(100)] * 6),  # 600 / 100 = 6 at once, the next 6 as the first end
        (600, [590] + [100] * 6, [0] * 7, [0] + [slowest(590)] * 6),  # the 590 GB first (it came first), then the six
        (600, [900, 50], [0, 0], [0, slowest(900)]),  # larger than the budget: alone, when nothing else holds any
        (600, [50, 900], [0, 0], [0, slowest(50)]),  # ...and it waits only for what is in flight, never starves
        (100, [100, 100], [3600, 0], [slowest(100), 0]),  # readable first, admitted first; the other waits for the GB
        (100, [100, 100], [7200, 0], [7200, 0]),  # ...unless the GB are free again by the time its copy is readable
    ],
)
def test_image_restores_are_planned_first_come_first_served_under_the_budget(
    budget_gb: int, sizes_gb: list[int], ready: list[int], starts: list[int]
) -> None:
    assert plan.plan_images([s * GB for s in sizes_gb], ready, budget_gb * GB) == starts


def test_child_names_are_unique_to_their_batch_and_fit_80_characters() -> None:
    # Given two batches of one 80-character name on two state machines
    name = "n" * 80
    one, two = (f"arn:aws:states:us-east-1:123456789012:execution:{m}:{name}" for m in ("BatchRestore-a", "BatchRestore-b"))
    # Then a child's name is the batch's name cut to 40, its index and a hash of the batch's ARN: 53 characters at most
    assert plan.child_name(one, 999) == f"{'n' * 40}-999-{plan.hashlib.sha256(one.encode()).hexdigest()[:8]}"
    assert (len(plan.child_name(one, 999)), plan.child_name(one, 999) != plan.child_name(two, 999)) == (53, True)
    assert plan.child_name(BATCH, 0) == "nightly-dr-0-f295ddf6"  # the name events/notify_batch_summary.json carries


def put(
    aws: Emulator, key: str, storage_class: str, size_gb: float, name: str = "web", stored: str | None = None, bucket: str = BUCKET
) -> None:
    tags = urllib.parse.urlencode({"ami-name": name, **({"ami-store-date": stored} if stored else {})})
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=b"", StorageClass=storage_class, Tagging=tags)
    aws.world.sizes[key] = int(size_gb * GB)


def test_plan_batch_event_requests_the_archives_restores_up_front(aws: Emulator) -> None:
    # Given events/plan_batch.json: two Deep Archive objects of 120 GB, the second to be restored with Bulk, in a bucket
    # that sends its events to EventBridge
    given = event("plan_batch.json")
    request = given["request"]
    for item in request["recoveryPoints"]:
        put(aws, item["recoveryPoint"], "DEEP_ARCHIVE", 120)
    aws.send_bucket_events(BUCKET)
    # When planned under a 600 GB budget at 09:00
    result = plan.plan_batch(plan.s3, request, 600.0, 40, given["execution"], NOW)
    # Then both restores are requested now with their tier and Days 1 (neither copy waits for GB: both fit at once)
    assert sorted((c["key"], c["tier"], c["days"], c["status"]) for c in aws.s3.restore_calls) == [
        ("ami-0123456789abcdef0.bin", "Standard", 1, 202),
        ("ami-0a1b2c3d4e5f60002.bin", "Bulk", 1, 202),
    ]
    # ...and each AMI waits for S3's event of its copy until its latest typical time and an hour: Deep Archive Standard
    # 12 h, Bulk 48 h, each plus 120 GB at 300 MB/s (400 s), in that order
    first, second = 12 * HOUR + 400 + HOUR, 48 * HOUR + 400 + HOUR
    assert result["items"] == [
        {"index": 0, "name": "nightly-dr-0-f295ddf6", "input": request["recoveryPoints"][0],
         "copyWait": {"timeouts": [first, 60], "next": 1, "seconds": first}, "copyDeadlineAt": "2026-01-05T22:06:40+00:00"},
        {"index": 1, "name": "nightly-dr-1-f295ddf6", "input": request["recoveryPoints"][1],
         "copyWait": {"timeouts": [second, 60], "next": 1, "seconds": second}, "copyDeadlineAt": "2026-01-07T10:06:40+00:00"},
    ]  # fmt: skip
    assert (result["notFound"], result["concurrency"], "recoveryPoints" in result) == ([], 40, False)
    assert result["plan"] == {
        "amis": 2,
        "totalGb": 240.0,
        "quotaGb": 600.0,
        "plannedSeconds": 48 * HOUR + 400 + slowest(120),  # the Bulk copy, then its image restore at 20 MB/s
        "restoresRequested": 2,
        "restoresLeftToTheirExecution": 0,
        "notFound": 0,
    }
    assert result["plan"] == event("notify_batch_summary.json")["request"]["plan"] | {"amis": 2, "notFound": 0}


def test_without_the_buckets_events_a_child_follows_its_copy_from_the_earliest_typical_time(aws: Emulator) -> None:
    # Given the same two Deep Archive objects in a bucket that sends no events to EventBridge
    given = event("plan_batch.json")
    for item in given["request"]["recoveryPoints"]:
        put(aws, item["recoveryPoint"], "DEEP_ARCHIVE", 120)
    # When planned / Then each child starts at its copy's earliest typical time (Standard 9 h, Bulk 24 h, each + 400 s)
    # and follows the restore with its own polls, as a single restore would
    result = plan.plan_batch(plan.s3, given["request"], 600.0, 40, given["execution"], NOW)
    assert [(i["copyWait"]["seconds"], i["copyDeadlineAt"]) for i in result["items"]] == [
        (9 * HOUR + 400, "2026-01-05T18:06:40+00:00"),
        (24 * HOUR + 400, "2026-01-06T09:06:40+00:00"),
    ]


def test_a_copy_that_waits_for_the_budget_gets_the_days_of_its_wait(aws: Emulator) -> None:
    # Given three Flexible Retrieval AMIs of 400 GB under 600 GB: one image restore at a time, each 10 min + 400 GB at
    # 20 MB/s = 5.7 h; the second copy waits 5.7 h for its GB, the third 11.4 h: 1.5 x that rounds up to a day more
    items = [{"recoveryPoint": f"ami-0000000000000000{n}.bin", "recoveryPointBucket": BUCKET} for n in range(3)]
    for item in items:
        put(aws, item["recoveryPoint"], "GLACIER", 400)
    plan.plan_batch(plan.s3, {"recoveryPoints": items}, 600.0, 40, BATCH, NOW)
    assert [c["days"] for c in sorted(aws.s3.restore_calls, key=lambda c: c["key"])] == [1, 2, 2]


def test_expedited_is_left_to_the_child_and_expedited_deep_archive_is_refused_by_name(aws: Emulator) -> None:
    put(aws, "ami-00000000000000001.bin", "GLACIER", 8)
    put(aws, "ami-00000000000000002.bin", "DEEP_ARCHIVE", 8)
    flexible = {"recoveryPoint": "ami-00000000000000001.bin", "recoveryPointBucket": BUCKET, "restoreRequestTier": "Expedited"}
    result = plan.plan_batch(plan.s3, {"recoveryPoints": [flexible]}, 600.0, 40, BATCH, NOW)
    assert (aws.s3.restore_calls, result["plan"]["restoresLeftToTheirExecution"], result["items"][0]["copyWait"]["seconds"]) == ([], 1, 1)
    deep = {**flexible, "recoveryPoint": "ami-00000000000000002.bin"}
    with pytest.raises(plan.InvalidInputError) as refused:
        plan.plan_batch(plan.s3, {"recoveryPoints": [flexible, deep]}, 600.0, 40, BATCH, NOW)
    assert str(refused.value) == (
        "recoveryPoints[1] (ami-00000000000000002.bin): restoreRequestTier: Expedited is not offered for Deep Archive "
        "(DEEP_ARCHIVE); use Standard (within 12 h) or Bulk (within 48 h)"
    )


def test_a_batch_longer_than_an_execution_may_run_is_refused_before_any_restore(aws: Emulator) -> None:
    # Given 120 AMIs of 5,000 GB under a 600 GB budget: each alone, at 20 MB/s 250,600 s, after their copies (5 h +
    # 5 TB at 300 MB/s = 34,667 s), and the last one's image deadline (2 x (10 min + 5 TB at 50 MB/s) = 201,200 s):
    # 34,667 + 120 x 250,600 + 201,200 s = 350.8 days, more than the 335 days a batch may take
    items = [{"recoveryPoint": f"ami-{n:017x}.bin", "recoveryPointBucket": BUCKET} for n in range(120)]
    for item in items:
        put(aws, item["recoveryPoint"], "GLACIER", 5000)
    with pytest.raises(plan.InvalidInputError) as refused:
        plan.plan_batch(plan.s3, {"recoveryPoints": items}, 600.0, 40, BATCH, NOW)
    assert str(refused.value) == (
        "recoveryPoints: 120 AMIs of 600,000 GB could take 351 days under the 600 GB image-restore budget at the slowest rate "
        "planned (20 MB/s), more than the 335 days a batch may take (an execution runs at most 365 days): split the batch, or "
        "raise the account's quota (Service Quotas) and the stack's ImageRestoreQuotaGb"
    )
    assert aws.s3.restore_calls == []


def test_a_missing_bucket_or_a_batch_without_one_existing_key_is_refused_before_any_restore(aws: Emulator) -> None:
    keys = [{"recoveryPoint": f"ami-0000000000000000{n}.bin", "recoveryPointBucket": BUCKET} for n in range(3)]
    with pytest.raises(plan.RecoveryPointNotFoundError) as refused:
        plan.plan_batch(plan.s3, {"recoveryPoints": [{**keys[0], "recoveryPointBucket": "no-such-vault"}]}, 600.0, 40, BATCH, NOW)
    assert str(refused.value) == "the bucket no-such-vault does not exist: nothing was restored"
    with pytest.raises(plan.RecoveryPointNotFoundError) as refused:
        plan.plan_batch(plan.s3, {"recoveryPoints": keys}, 600.0, 40, BATCH, NOW)
    assert str(refused.value) == (
        "none of the batch's 3 keys exists (s3://my-ami-archive/ami-00000000000000000.bin, s3://my-ami-archive/ami-00000000000000001.bin, "
        "s3://my-ami-archive/ami-00000000000000002.bin): nothing was restored; check recoveryPoints and recoveryPointBucket "
        "(aws s3 ls s3://<bucket>/)"
    )
    assert aws.s3.restore_calls == []


def test_a_missing_key_is_listed_and_starts_no_execution(aws: Emulator) -> None:
    keys = [{"recoveryPoint": f"ami-0000000000000000{n}.bin", "recoveryPointBucket": BUCKET} for n in range(3)]
    put(aws, keys[1]["recoveryPoint"], "GLACIER_IR", 8)
    result = plan.plan_batch(plan.s3, {"recoveryPoints": keys}, 600.0, 40, BATCH, NOW)
    assert [(i["index"], i["name"]) for i in result["items"]] == [(1, plan.child_name(BATCH, 1))]
    assert result["notFound"] == [
        {"index": n, "recoveryPoint": keys[n]["recoveryPoint"], "recoveryPointBucket": BUCKET, "error": "RecoveryPointNotFoundError"}
        for n in (0, 2)
    ]


def test_resolve_selection_event_picks_the_newest_archive_of_each_name_before_the_date(aws: Emulator) -> None:
    put(aws, "ami-00000000000000001.bin", "GLACIER", 8, "web-server-01", "2025-06-01T09:00:00+00:00")
    put(aws, "ami-00000000000000002.bin", "GLACIER", 8, "web-server-01", "2025-09-01T09:00:00+00:00")
    put(aws, "ami-00000000000000003.bin", "GLACIER", 8, "web-server-02", "2026-01-02T09:00:00+00:00")  # after the date
    put(aws, "ami-00000000000000004.bin", "GLACIER", 8, "db-server-01", "2025-09-01T09:00:00+00:00")
    aws.client("s3").put_object(Bucket=BUCKET, Key="notes.txt", Body=b"")
    result = resolve.lambda_handler(event("resolve_selection.json"), None)
    assert result["recoveryPoints"] == [{"recoveryPoint": "ami-00000000000000002.bin", "recoveryPointBucket": BUCKET}]
    assert result["resolved"] == [
        {"recoveryPoint": "ami-00000000000000002.bin", "amiName": "web-server-01", "archivedAt": "2025-09-01T09:00:00+00:00"}
    ]
    assert result["selection"] == "amiName 'web-server-*', archived before 2026-01-01, newest archive of each name in s3://my-ami-archive"


def test_every_archive_and_the_shared_values_when_not_newest_only(aws: Emulator) -> None:
    put(aws, "ami-00000000000000001.bin", "GLACIER", 8, "web-01", "2025-06-01T09:00:00+00:00")
    put(aws, "ami-00000000000000002.bin", "GLACIER", 8, "web-01", "2025-09-01T09:00:00+00:00")
    request = {**event("resolve_selection.json")["request"], "restoreRequestTier": "Bulk", "restoreRequestDays": 3}
    request["selector"] = {"amiName": "web-??", "archivedBefore": None, "newestOnly": False}
    result = resolve.resolve_selection(resolve.s3, request)
    assert result["recoveryPoints"] == [
        {
            "recoveryPoint": f"ami-0000000000000000{n}.bin",
            "recoveryPointBucket": BUCKET,
            "restoreRequestDays": 3,
            "restoreRequestTier": "Bulk",
        }
        for n in (2, 1)
    ]


def test_an_empty_selection_names_the_selector(aws: Emulator) -> None:
    with pytest.raises(resolve.EmptySelectionError, match="no archived AMI matches amiName 'web-server-\\*', archived before 2026-01-01"):
        resolve.lambda_handler(event("resolve_selection.json"), None)


def topic(aws: Emulator) -> str:
    arn: str = aws.client("sns").create_topic(Name="notifications")["TopicArn"]
    return arn


def sent(aws: Emulator, topic_arn: str) -> list[dict[str, str]]:
    notifications = sns_backends[aws.account_id][aws.region].topics[topic_arn].sent_notifications
    return [{"subject": subject or "", "message": message} for _id, message, subject, _attrs, _group in notifications]


def test_the_summary_reads_each_ami_from_the_execution_its_task_ran(aws: Emulator) -> None:
    # Given a batch of three: its first child restored its AMI, its second failed on its own, its third could not start
    # (the account's limit of open executions)
    success = {
        "imageId": "ami-0fedcba9876543210", "imageName": "web-01-restored-20260105-1a2b3c4d", "storageClass": "GLACIER",
        "sizeBytes": 8 * GB, "copyReadyAt": "2026-01-05T13:00:00+00:00", "imageRequestedAt": "2026-01-05T13:00:00+00:00",
        "imageAvailableAt": "2026-01-05T13:20:00+00:00", "failedImageIds": [], "restoreOutcome": "requested",
    }  # fmt: skip
    cause = json.dumps({"errorMessage": "the restored copy was not readable 10 h after the request", "errorType": "X"})
    keys = [f"ami-0000000000000000{n}.bin" for n in range(3)]
    for n, outcome in ((0, {"output": success}), (1, {"error": "RestoreDeadlineExceededError", "cause": cause})):
        given = {"recoveryPoint": keys[n], "recoveryPointBucket": BUCKET, notify.STARTED_BY: BATCH}
        stand_in_run(aws, RESTORE_MACHINE, plan.child_name(BATCH, n), given, **outcome)
    limit = "StepFunctions.ExecutionLimitExceededException"
    items = [
        {"name": plan.child_name(BATCH, 0), "status": "SUCCEEDED", "imageId": "ami-0fedcba9876543210"},
        {"name": plan.child_name(BATCH, 1), "status": "FAILED", "error": "States.TaskFailed", "recoveryPoint": keys[1],
         "recoveryPointBucket": BUCKET},
        {"name": plan.child_name(BATCH, 2), "status": "FAILED", "error": limit, "recoveryPoint": keys[2], "recoveryPointBucket": BUCKET},
    ]  # fmt: skip
    topic_arn = topic(aws)
    # When summarised
    payload = {"executionId": BATCH, "startTime": "2026-01-05T09:00:00+00:00", "request": {"items": items, "notFound": [], "plan": None}}
    result = notify.notify_batch_summary(notify.sns, notify.stepfunctions, topic_arn, RESTORE_MACHINE_ARN, payload)
    # Then each line is its execution's facts, or why none ran
    child = f"arn:aws:states:us-east-1:123456789012:execution:{RESTORE_MACHINE}:{plan.child_name(BATCH, 1)}"
    assert result["amis"] == [
        {"recoveryPoint": f"s3://{BUCKET}/{keys[0]}", "status": "SUCCEEDED", "imageId": "ami-0fedcba9876543210"},
        {"recoveryPoint": f"s3://{BUCKET}/{keys[1]}", "status": "FAILED", "error": "RestoreDeadlineExceededError"},
        {"recoveryPoint": f"s3://{BUCKET}/{keys[2]}", "status": "NOT_STARTED", "error": limit},
    ]
    (email,) = sent(aws, topic_arn)
    assert email["subject"] == "AMI batch restore: 1 of 3 restored, 2 failed in us-east-1"
    assert email["message"].splitlines()[4:] == [
        f"- ami-0fedcba9876543210 (web-01-restored-20260105-1a2b3c4d) from s3://{BUCKET}/{keys[0]}, GLACIER, 8.0 GB: copy readable "
        "2026-01-05 13:00:00 UTC, image requested 2026-01-05 13:00:00 UTC, available 2026-01-05 13:20:00 UTC",
        "",
        "Failed (each restore stopped on its own; the others went on):",
        f"- s3://{BUCKET}/{keys[1]}: FAILED RestoreDeadlineExceededError: the restored copy was not readable 10 h after the request "
        "What to do: S3 has not finished the restore. Check it with aws s3api head-object; when the Restore header shows "
        f'ongoing-request="false", start a new execution: it will skip the restore. Execution: {child}',
        f"- s3://{BUCKET}/{keys[2]}: NOT_STARTED {limit}: the account's limit of open executions was reached: this AMI was not "
        "restored What to do: Wait for executions to end (or raise the quota), then restore this AMI in a new execution.",
        "",
        f"Execution: {BATCH}",
    ]


def test_an_execution_of_the_childs_name_that_this_batch_did_not_start_is_never_its_outcome(aws: Emulator) -> None:
    # Given an execution with the child's name that restored another object, started by no batch (or another one)
    other = {"recoveryPoint": "ami-0ffffffffffffffff.bin", "recoveryPointBucket": BUCKET}
    stand_in_run(aws, RESTORE_MACHINE, plan.child_name(BATCH, 0), other, output={"imageId": "ami-0eeeeeeeeeeeeeeee"})
    # When the batch's task reports that name failed
    item = {"name": plan.child_name(BATCH, 0), "status": "FAILED", "error": "States.TaskFailed", "recoveryPoint": "ami-01.bin",
            "recoveryPointBucket": BUCKET}  # fmt: skip
    line = notify.child_outcome(notify.stepfunctions, RESTORE_MACHINE_ARN, BATCH, item)
    # Then the AMI failed, and the other execution's AMI is nowhere
    assert line == {
        "recoveryPoint": f"s3://{BUCKET}/ami-01.bin",
        "status": "FAILED",
        "error": "NotThisBatchsExecutionError",
        "cause": f"the execution arn:aws:states:us-east-1:123456789012:execution:{RESTORE_MACHINE}:{plan.child_name(BATCH, 0)} was "
        "not started by this batch: this AMI was not restored",
        "execution": None,
    }


def test_the_batch_email_renders_every_ami() -> None:
    # Given the summary of a selection of three AMIs: one restored from a copy (after an image failed over the quota), one
    # readable as it was, and one that failed
    summary = {
        "status": "FAILED", "region": "us-east-1", "restored": 2, "failed": 1,
        "selection": "amiName 'web-*', newest archive of each name in s3://vault", "startTime": "2026-01-05T09:00:00Z",
        "plan": {"amis": 3, "totalGb": 1208.0, "quotaGb": 600.0, "restoresRequested": 1},
        "amis": [
            {"recoveryPoint": "s3://vault/ami-01.bin", "status": "SUCCEEDED", "imageId": "ami-0f1", "imageName": "web-01-restored",
             "storageClass": "INTELLIGENT_TIERING", "archiveStatus": "ARCHIVE_ACCESS", "sizeBytes": 600 * 10**9,
             "restoreOutcome": "requested", "copyReadyAt": "2026-01-05T13:00:00+00:00",
             "imageRequestedAt": "2026-01-05T13:00:00+00:00", "imageAvailableAt": "2026-01-05T16:30:00+00:00",
             "failedImageIds": ["ami-0e1"], "execution": "arn:x:batch-0"},
            {"recoveryPoint": "s3://vault/ami-02.bin", "status": "SUCCEEDED", "imageId": "ami-0f2", "imageName": "web-02-restored",
             "storageClass": "GLACIER_IR", "sizeBytes": 8 * 10**9, "restoreOutcome": "not-needed", "copyReadyAt": None,
             "imageRequestedAt": "2026-01-05T09:00:05+00:00", "imageAvailableAt": "2026-01-05T09:20:05+00:00",
             "failedImageIds": [], "execution": "arn:x:batch-1"},
            {"recoveryPoint": "s3://vault/ami-03.bin", "status": "FAILED", "error": "RestoreDeadlineExceededError",
             "cause": "the restored copy was not readable 10 h after the request", "execution": "arn:x:batch-2"},
        ],
        "execution": "arn:x:batch",
    }  # fmt: skip
    # When it is rendered at 17:15, 8 h 15 min after the start
    subject, message = notify.render_batch_summary(summary, datetime(2026, 1, 5, 17, 15, tzinfo=UTC))
    # Then
    assert subject == "AMI batch restore: 2 of 3 restored, 1 failed in us-east-1"
    assert message.splitlines() == [
        "2 of 3 AMIs restored in us-east-1; 1 failed (below).",
        "Selection: amiName 'web-*', newest archive of each name in s3://vault: 3 AMIs.",
        "Plan: 3 AMIs, 1,208.0 GB, through the stack's 600 GB image-restore budget (shared with every restore of the stack); 1 "
        "restore requested up front.",
        "Started 2026-01-05 09:00:00 UTC, summarised 2026-01-05 17:15:00 UTC (8 h 15 min).",
        "",
        "Restored:",
        "- ami-0f1 (web-01-restored) from s3://vault/ami-01.bin, INTELLIGENT_TIERING/ARCHIVE_ACCESS, 600.0 GB: copy readable "
        "2026-01-05 13:00:00 UTC, image requested 2026-01-05 13:00:00 UTC, available 2026-01-05 16:30:00 UTC",
        "  Note: ami-0e1 failed over EC2's in-progress quota and were left in place.",
        "- ami-0f2 (web-02-restored) from s3://vault/ami-02.bin, GLACIER_IR, 8.0 GB: no restore needed, image requested "
        "2026-01-05 09:00:05 UTC, available 2026-01-05 09:20:05 UTC",
        "",
        "Failed (each restore stopped on its own; the others went on):",
        "- s3://vault/ami-03.bin: FAILED RestoreDeadlineExceededError: the restored copy was not readable 10 h after the request "
        "What to do: S3 has not finished the restore. Check it with aws s3api head-object; when the Restore header shows "
        'ongoing-request="false", start a new execution: it will skip the restore. Execution: arn:x:batch-2',
        "",
        "Execution: arn:x:batch",
    ]


def test_a_child_execution_sends_no_email_of_its_own_but_a_claim_alone_silences_nothing(aws: Emulator) -> None:
    # Given a restore whose request names its batch (Validate Input checked it), and one whose input only claims one
    topic_arn = topic(aws)
    success, failed = load_function("notify_success"), load_function("notify_failure")
    sample = event("notify_success.json")
    child = {**sample, "request": {**sample["request"], "startedBy": BATCH}}
    claimed = {"recoveryPoint": "ami-0123456789abcdef0.bin", "recoveryPointBucket": BUCKET, notify.STARTED_BY: BATCH}
    run = stand_in_run(aws, RESTORE_MACHINE, "console-rerun", claimed)
    # Then the child is silent (the batch's summary tells), the claim emails like any restore
    assert success.notify_success(success.sns, topic_arn, child)["messageId"] is None
    refused = {"failed": {"ValidateInput": {"Error": "InvalidInputError", "Cause": "x"}}}
    clients = {"sns": failed.sns, "sfn": failed.sfn, "s3": failed.s3, "ec2": failed.ec2}
    assert (
        failed.notify_failure(clients, topic_arn, {"executionId": run, "progress": {"request": child["request"], **refused}})["messageId"]
        is None
    )
    assert failed.notify_failure(clients, topic_arn, {"executionId": run, "progress": refused})["messageId"] is not None
    assert [e["subject"] for e in sent(aws, topic_arn)] == ["AMI restore failed: InvalidInputError at Validate Input"]
    assert notify.duration(3 * 86400 + 2 * 3600 + 61) == "3 d 2 h 1 min"


def test_a_batch_of_one_is_counted_in_the_singular() -> None:
    # Given a batch of one AMI, restored / a batch that ended before its plan
    one = {"status": "SUCCEEDED", "region": "us-east-1", "restored": 1, "failed": 0, "execution": "arn:x:batch",
           "amis": [{"recoveryPoint": "s3://vault/ami-01.bin", "status": "SUCCEEDED", "imageId": "ami-0f1", "imageName": "web-01",
                     "storageClass": "GLACIER_IR", "sizeBytes": 8 * 10**9, "restoreOutcome": "not-needed", "copyReadyAt": None,
                     "imageRequestedAt": "2026-01-05T09:00:05+00:00", "imageAvailableAt": "2026-01-05T09:20:05+00:00"}]}  # fmt: skip
    # When each is written
    subject, message = notify.render_batch_summary(one, datetime(2026, 1, 5, 9, 30, tzinfo=UTC))
    ended = load_function("report_ended_execution")
    # Then no "all 1" nor "1 AMIs"
    assert (subject, message.splitlines()[0]) == (
        "AMI batch restore: the AMI is restored in us-east-1", "The batch's AMI is restored in us-east-1."
    )  # fmt: skip
    assert [ended.batch_subject("ABORTED", 1, 1, "drill"), ended.batch_subject("TIMED_OUT", 0, 2, "drill")] == [
        "AMI batch restore ended ABORTED: 1 of 1 AMI restored (drill)",
        "AMI batch restore ended TIMED_OUT: 0 of 2 AMIs restored (drill)",
    ]
    assert [ended.batch_subject("ABORTED", 1, None, "x"), ended.batch_subject("ABORTED", 0, None, "x")] == [
        "AMI batch restore ended ABORTED: 1 AMI restored (x)",
        "AMI batch restore ended ABORTED: 0 AMIs restored (x)",
    ]
