"""Plan Batch, Resolve Selection and Notify Batch Summary, handler by handler, against emulated AWS."""

from __future__ import annotations

import json
import time
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import pytest
from moto.sns.models import sns_backends

from emulator.facade import Emulator
from tests.support import BUCKET, event, load_function

GB = 10**9
plan = load_function("plan_batch")
resolve = load_function("resolve_selection")
notify = load_function("notify_batch_summary")


@pytest.mark.parametrize(
    "sizes_gb, lanes_per_round",
    [
        ([100] * 12, [[2] * 6]),  # 600 / 100 = 6 side by side, two each
        ([590] + [100] * 6, [[1], [1] * 6]),  # the 590 GB alone first, then the six of 100 GB at once
        ([900, 50], [[1], [1]]),  # larger than the quota: alone (EC2 admits it when nothing else is in flight)
        ([8, 8, 8], [[1, 1, 1]]),
        ([0, 100], [[1, 1]]),  # a missing key (size 0) reserves nothing: it fills the idle time of a lane
    ],
)
def test_rounds_keep_the_gb_in_flight_under_the_quota(sizes_gb: list[float], lanes_per_round: list[list[int]]) -> None:
    sizes = [int(s * GB) for s in sizes_gb]
    rounds = plan.plan_rounds(sizes, 600 * GB, 20)
    assert [[len(lane) for lane in lanes] for lanes in rounds] == lanes_per_round
    assert sorted(i for lanes in rounds for lane in lanes for i in lane) == list(range(len(sizes)))
    for lanes in rounds:  # a round's lanes, each holding its largest AMI at once, stay under the quota
        biggest = [max(sizes[i] for i in lane) for lane in lanes]
        assert sum(biggest) <= 600 * GB or len(lanes) == 1


def test_rounds_never_exceed_the_concurrency_and_deal_the_longest_first() -> None:
    # 8 small AMIs, 3 lanes at most: longest first, each to the lane that frees up first
    sizes = [int(s * GB) for s in (10, 20, 30, 40, 50, 5, 5, 5)]
    assert plan.plan_rounds(sizes, 600 * GB, 3) == [[[4, 5], [3, 0, 6], [2, 1, 7]]]


def test_child_names_fit_80_characters_and_stay_apart() -> None:
    assert plan.child_prefix("nightly-dr") == "nightly-dr"
    long_a, long_b = "a" * 79 + "1", "a" * 79 + "2"
    assert len(plan.child_prefix(long_a)) + 1 + 3 <= 80
    assert plan.child_prefix(long_a) != plan.child_prefix(long_b)


def put(
    aws: Emulator, key: str, storage_class: str, size_gb: float, name: str = "web", stored: str | None = None, bucket: str = BUCKET
) -> None:
    tags = urllib.parse.urlencode({"ami-name": name, **({"ami-store-date": stored} if stored else {})})
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=b"", StorageClass=storage_class, Tagging=tags)
    aws.world.sizes[key] = int(size_gb * GB)


def test_plan_batch_event_requests_the_archives_restores_up_front(aws: Emulator) -> None:
    # Given events/plan_batch.json: two Deep Archive objects of 120 GB, the second to be restored with Bulk
    request = event("plan_batch.json")["request"]
    for item in request["recoveryPoints"]:
        put(aws, item["recoveryPoint"], "DEEP_ARCHIVE", 120)
    # When planned under a 600 GB quota
    result = plan.plan_batch(plan.s3, request, 600.0, 20, "nightly-dr")
    # Then both restores are requested now, with their tier and Days 1: the Standard copy is planned readable at 12 h
    # and used then; the Bulk one at 48 h, after the first image restore, so it waits for nothing either
    assert sorted((c["key"], c["tier"], c["days"], c["status"]) for c in aws.s3.restore_calls) == [
        ("ami-0123456789abcdef0.bin", "Standard", 1, 202),
        ("ami-0a1b2c3d4e5f60002.bin", "Bulk", 1, 202),
    ]
    # ...in the order their copies become readable: one round each
    first, second = ({"index": i, "input": request["recoveryPoints"][i]} for i in (0, 1))
    assert result["rounds"] == [[[first]], [[second]]]
    assert (result["childPrefix"], "recoveryPoints" in result) == ("nightly-dr", False)
    assert result["plan"] == {
        "amis": 2,
        "totalGb": 240.0,
        "quotaGb": 600.0,
        "rounds": [{"lanes": 1, "amis": 1, "largestGb": 120.0}, {"lanes": 1, "amis": 1, "largestGb": 120.0}],
        "plannedSeconds": 48 * 3600 + 600 + 2400,  # Deep Archive Bulk's latest, then its image restore of 120 GB
        "restoresRequested": 2,
        "restoresLeftToTheirExecution": 0,
    }


def test_a_copy_that_waits_for_its_lane_gets_the_days_of_its_wait(aws: Emulator) -> None:
    # Given three Flexible Retrieval AMIs of 400 GB: one at a time under 600 GB; the third starts after two image
    # restores (2 x (10 min + 400 GB at 50 MB/s) = 4.8 h): 1.5 x 4.8 h rounds up to 1 day more than asked
    items = [{"recoveryPoint": f"ami-0000000000000000{n}.bin", "recoveryPointBucket": BUCKET} for n in range(3)]
    for item in items:
        put(aws, item["recoveryPoint"], "GLACIER", 400)
    plan.plan_batch(plan.s3, {"recoveryPoints": items}, 600.0, 20, "x")
    assert [c["days"] for c in sorted(aws.s3.restore_calls, key=lambda c: c["key"])] == [1, 2, 2]


def test_expedited_is_left_to_the_child_and_expedited_deep_archive_is_refused_by_name(aws: Emulator) -> None:
    put(aws, "ami-00000000000000001.bin", "GLACIER", 8)
    put(aws, "ami-00000000000000002.bin", "DEEP_ARCHIVE", 8)
    flexible = {"recoveryPoint": "ami-00000000000000001.bin", "recoveryPointBucket": BUCKET, "restoreRequestTier": "Expedited"}
    result = plan.plan_batch(plan.s3, {"recoveryPoints": [flexible]}, 600.0, 20, "x")
    assert (aws.s3.restore_calls, result["plan"]["restoresLeftToTheirExecution"]) == ([], 1)
    deep = {**flexible, "recoveryPoint": "ami-00000000000000002.bin"}
    with pytest.raises(plan.InvalidInputError) as refused:
        plan.plan_batch(plan.s3, {"recoveryPoints": [flexible, deep]}, 600.0, 20, "x")
    assert str(refused.value) == (
        "recoveryPoints[1] (ami-00000000000000002.bin): restoreRequestTier: Expedited is not offered for Deep Archive "
        "(DEEP_ARCHIVE); use Standard (within 12 h) or Bulk (within 48 h)"
    )


def test_a_batch_longer_than_an_execution_may_run_is_refused_before_any_restore(aws: Emulator) -> None:
    # 25 AMIs of 2 TB under 600 GB: one at a time, 25 x (10 min + 2 TB at 50 MB/s) + a 5 h restore = 12 days
    items = [{"recoveryPoint": f"ami-{n:017x}.bin", "recoveryPointBucket": BUCKET} for n in range(25)]
    for item in items:
        put(aws, item["recoveryPoint"], "GLACIER", 2000)
    with pytest.raises(plan.InvalidInputError, match=r"25 AMIs of 50,000 GB would take about 12\.0 days .* split the batch"):
        plan.plan_batch(plan.s3, {"recoveryPoints": items}, 600.0, 20, "x")
    assert aws.s3.restore_calls == []


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


def summary_event(aws: Emulator, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """A planned batch whose children ended as `outcomes` (each {"status", "output"|"error"/"cause"})."""
    sfn = aws.client("stepfunctions")
    done = {"StartAt": "End", "States": {"End": {"Type": "Pass", "Parameters": {"x": 1}, "End": True}}}
    machine = sfn.create_state_machine(name="children", definition=json.dumps(done), roleArn="arn:aws:iam::123456789012:role/r")[
        "stateMachineArn"
    ]
    items = []
    for index, outcome in enumerate(outcomes):
        key = f"ami-0000000000000000{index}.bin"
        items.append({"index": index, "input": {"recoveryPoint": key, "recoveryPointBucket": BUCKET}})
        if outcome["status"] != "NOT_STARTED":
            sfn.start_execution(stateMachineArn=machine, name=f"batch-{index}", input="{}")
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    executions = stepfunctions_parser_backends[aws.account_id][aws.region]._get_executions()
    deadline = time.monotonic() + 10
    while any(e.exec_status is None or e.exec_status.value == "RUNNING" for e in executions):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    for execution in executions:
        outcome = outcomes[int(execution.name.rsplit("-", 1)[1])]
        if outcome["status"] == "SUCCEEDED":
            execution.output = outcome["output"]
        else:
            execution.exec_status, execution.error, execution.cause = (
                type(execution.exec_status)(outcome["status"]), outcome["error"], outcome["cause"])  # fmt: skip
    request = {"rounds": [[items]], "childPrefix": "batch", "plan": None}
    return {"executionId": "arn:aws:states:us-east-1:123456789012:execution:sm:batch", "stateMachineArn": machine,
            "startTime": "2026-01-05T09:00:00+00:00", "request": request}  # fmt: skip


def test_the_summary_lists_every_ami_with_its_outcome_id_and_times(aws: Emulator) -> None:
    success = {
        "imageId": "ami-0fedcba9876543210", "imageName": "web-01-restored-20260105-1a2b3c4d", "storageClass": "GLACIER",
        "sizeBytes": 8 * GB, "copyReadyAt": "2026-01-05T13:00:00+00:00", "imageRequestedAt": "2026-01-05T13:00:00+00:00",
        "imageAvailableAt": "2026-01-05T13:20:00+00:00", "failedImageIds": [],
    }  # fmt: skip
    cause = json.dumps({"errorMessage": "s3://my-ami-archive/ami-00000000000000001.bin does not exist", "errorType": "X"})
    topic_arn = topic(aws)
    payload = summary_event(
        aws,
        [
            {"status": "SUCCEEDED", "output": success},
            {"status": "FAILED", "error": "RecoveryPointNotFoundError", "cause": cause},
            {"status": "NOT_STARTED"},
        ],
    )
    result = notify.notify_batch_summary(notify.sns, notify.stepfunctions, topic_arn, payload)
    assert {k: result[k] for k in ("status", "restored", "failed", "Error")} == {
        "status": "FAILED", "restored": 1, "failed": 2, "Error": "BatchRestoreFailedError"}  # fmt: skip
    assert [a["status"] for a in result["amis"]] == ["SUCCEEDED", "FAILED", "NOT_STARTED"]
    (email,) = sent(aws, topic_arn)
    assert email["subject"] == "AMI batch restore: 1 of 3 restored, 2 failed in us-east-1"
    lines = email["message"].splitlines()
    assert (
        "- ami-0fedcba9876543210 (web-01-restored-20260105-1a2b3c4d) from s3://my-ami-archive/ami-00000000000000000.bin, GLACIER, "
        "8.0 GB: copy readable 2026-01-05 13:00:00 UTC, image requested 2026-01-05 13:00:00 UTC, available 2026-01-05 13:20:00 UTC"
    ) in lines
    assert any(
        line.startswith("- s3://my-ami-archive/ami-00000000000000001.bin: FAILED RecoveryPointNotFoundError: s3://") for line in lines
    )
    assert any(line.startswith("- s3://my-ami-archive/ami-00000000000000002.bin: NOT_STARTED NotStarted") for line in lines)


def test_the_batch_email_renders_every_ami() -> None:
    # Given the summary of a selection of three AMIs: one restored from a copy (after an image failed over the quota), one
    # readable as it was, and one that failed
    summary = {
        "status": "FAILED", "region": "us-east-1", "restored": 2, "failed": 1,
        "selection": "amiName 'web-*', newest archive of each name in s3://vault", "startTime": "2026-01-05T09:00:00Z",
        "plan": {"totalGb": 1208.0, "quotaGb": 600.0, "restoresRequested": 1,
                 "rounds": [{"lanes": 2, "amis": 2}, {"lanes": 1, "amis": 1}]},
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
        "2 of 3 AMIs are restored in us-east-1; 1 failed (below).",
        "Selection: amiName 'web-*', newest archive of each name in s3://vault: 3 AMIs.",
        "Plan: 1,208.0 GB under the 600 GB image-restore quota: 2 in 2 lanes, then 1 in 1 lane; 1 restore requested up front.",
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


def test_a_child_execution_sends_no_email_of_its_own(aws: Emulator) -> None:
    topic_arn = topic(aws)
    parent = "arn:aws:states:us-east-1:123456789012:execution:sm:batch"
    success, failed = load_function("notify_success"), load_function("notify_failure")
    sample = event("notify_success.json")
    child = {**sample, "request": {**sample["request"], "startedBy": parent}}
    assert success.notify_success(success.sns, topic_arn, child)["messageId"] is None
    failure = {"executionId": "x", "progress": {"input": {failed.STARTED_BY: parent}, "failed": {"ValidateInput": {}}}}
    assert failed.notify_failure(failed.sns, topic_arn, failure)["messageId"] is None
    assert sent(aws, topic_arn) == []
    assert notify.duration(3 * 86400 + 2 * 3600 + 61) == "3 d 2 h 1 min"
