"""Each drill handler's events/<function>.json through its handler, as `sam local invoke -e` would run it, in an
emulated account holding what the test says (nothing else: the events' ids are examples, so an instance or AMI they
name that the account does not have is one the handler must take as gone). Expected values are worked out by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.sns.models import sns_backends

from emulator.facade import Emulator
from tests.support import BUCKET, event, load_function, stand_in

DRILL = "arn:aws:states:us-east-1:123456789012:execution:Drill-0d6f1c2e-5a41-4d8b-9a7e-2f3c4b5d6e7f:weekly-drill"

HOUR = 3600


def invoke(function: str) -> Any:
    return load_function(function).lambda_handler(event(f"{function}.json"), None)


def test_validate_drill_event(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the drill state machine the event names, with no other drill running, and a stack with a DrillSubnetId
    stand_in(aws, "Drill-0d6f1c2e-5a41-4d8b-9a7e-2f3c4b5d6e7f")
    monkeypatch.setenv("DRILL_SUBNET_ID", "subnet-0123456789abcdef0")
    # When invoked / Then the request with its defaults, and a boot check (asked, and a subnet to boot in)
    assert invoke("validate_drill") == {
        "amiName": "web-*", "selection": "newest", "count": 1, "tier": "Bulk", "bootCheck": True, "scheduled": False, "boot": True,
        "execution": DRILL, "executionName": "weekly-drill", "startTime": "2026-01-05T09:00:00Z",
    }  # fmt: skip


def test_choose_archives_event(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two archives in the drill bucket: web-server-2025-01 (matches web-*) and db-server (does not)
    s3 = aws.client("s3")
    s3.put_object(
        Bucket=BUCKET, Key="ami-0123456789abcdef0.bin", Body=b"x" * 1000, StorageClass="GLACIER", Tagging="ami-name=web-server-2025-01"
    )
    s3.put_object(Bucket=BUCKET, Key="ami-0ffffffffffffffff.bin", Body=b"x", StorageClass="GLACIER", Tagging="ami-name=db-server")
    monkeypatch.setenv("DRILL_BUCKETS", BUCKET)
    monkeypatch.setenv("DRILL_MAX_GB", "200")
    monkeypatch.setenv("RESTORE_STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:restore")
    # When invoked / Then the one match, to be restored with Bulk by the child named for this drill (its ARN's hash 4c8b4302)
    result = invoke("choose_archives")
    name = "drill-weekly-drill-0-4c8b4302"
    assert result == {
        "items": [{"recoveryPoint": "ami-0123456789abcdef0.bin", "bucket": BUCKET, "amiName": "web-server-2025-01",
                   "archivedAt": "2026-01-05T09:00:00+00:00", "sizeBytes": 1000, "storageClass": "GLACIER", "index": 0, "tier": "Bulk",
                   "childName": name, "child": f"arn:aws:states:us-east-1:123456789012:execution:restore:{name}", "drill": DRILL,
                   "boot": True}],
        "tooLarge": [], "matched": 1, "maxGb": 200.0, "buckets": [BUCKET],
    }  # fmt: skip


def test_check_drill_image_event_when_the_restore_made_no_ami(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an account where no AMI carries the child's execution tag / When invoked
    monkeypatch.setenv("DRILL_RESULTS_TABLE", "unused")  # (nothing to compare: no AMI)
    # Then nothing is checked, and the drill of this archive fails, saying so
    assert invoke("check_drill_image") == {
        "imageId": None, "imageIds": [], "state": None, "facts": None, "expectedFrom": None,
        "checks": [{"name": "restore", "passed": False, "detail": "the restore made no AMI"}], "passed": False,
    }  # fmt: skip


def test_terminate_drill_instance_event_of_an_instance_already_gone(aws: Emulator) -> None:
    # Given an account without i-0123456789abcdef0 / When invoked at 09:00 / Then it is taken as terminated, no error
    assert invoke("terminate_drill_instance") == {
        **event("terminate_drill_instance.json")["boot"], "terminatedAt": "2026-01-05T09:00:00+00:00", "terminateState": "terminated"
    }  # fmt: skip


def test_clean_up_drill_event_reads_back_an_empty_account(aws: Emulator) -> None:
    # Given an account with nothing tagged by the drill or its child / When invoked / Then nothing removed, nothing left
    empty: dict[str, list[str]] = {"instances": [], "images": [], "snapshots": []}
    assert invoke("clean_up_drill") == {"removed": empty, "left": empty, "terminating": [], "clean": True}


def results_table(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack's DrillResultsTable (template.yaml's key schema) and Record Drill Results' settings."""
    aws.client("dynamodb").create_table(
        TableName="drill-results",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "kind", "AttributeType": "S"}, {"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "kind", "KeyType": "HASH"}, {"AttributeName": "id", "KeyType": "RANGE"}],
    )
    monkeypatch.setenv("DRILL_RESULTS_TABLE", "drill-results")
    monkeypatch.setenv("STACK_NAME", "glacier-ami-restore")


def test_record_drill_results_event(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the event's drill: 8 GB (7.45 GiB) from GLACIER with Bulk, requested 09:00, readable 15:00 (copy until 00:00 on
    # the 7th), image 15:00-15:20, booted 15:25-15:30; recorded at 16:00
    results_table(aws, monkeypatch)
    aws.clock.advance(7 * HOUR)
    # When invoked
    report = invoke("record_drill_results")
    # Then it passed; 6 h to the copy, 0.33 h to the image, 6.33 h in all; the cost by hand: Bulk retrieval $0, the copy
    # 7.45 GiB x $0.023 x 1.375 d / 30 = $0.00785, snapshots 8 GiB x $0.05 x 1 h / 730 = $0.00055, PutSnapshotBlock
    # 8 x 2048 x $0.006 / 1000 = $0.09830, the t3.nano 300 s x $0.0052 / 3600 = $0.00043: $0.1071
    (result,) = report["archives"]
    assert (report["passed"], report["error"], report["scheduled"], report["endTime"]) == (True, None, True, "2026-01-05T16:00:00+00:00")
    assert (result["passed"], result["hours"], result["costUsd"], report["costUsd"]) == (
        True, {"copy": 6.0, "image": 0.33, "total": 6.33}, 0.1071, 0.1071)  # fmt: skip
    # And the report and the archive's facts (the next drill's baseline) are kept
    items = aws.client("dynamodb").scan(TableName="drill-results")["Items"]
    assert sorted((i["kind"]["S"], i["id"]["S"]) for i in items) == [
        ("archive#s3://my-ami-archive/ami-0123456789abcdef0.bin", "2026-01-05T09:00:00Z"),
        ("drill", "2026-01-05T09:00:00Z#weekly-drill"),
    ]
    assert json.loads(next(i for i in items if i["kind"]["S"] == "drill")["report"]["S"]) == report


def test_notify_drill_report_event_of_a_refused_drill(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the stack's topic and the event: Validate Drill refused the drill, another one running
    topic = aws.client("sns").create_topic(Name="glacier-ami-restore")["TopicArn"]
    monkeypatch.setenv("TOPIC_ARN", topic)
    # When invoked / Then one email says the drill did not run and changed nothing; the drill ends with that error
    result = invoke("notify_drill_report")
    assert {k: result[k] for k in ("passed", "error", "cause")} == {
        "passed": False, "error": "DrillAlreadyRunningError", "cause": "another drill is running"}  # fmt: skip
    ((message_id, text, subject, _attributes, _group),) = sns_backends["123456789012"]["us-east-1"].topics[topic].sent_notifications
    assert (message_id, subject) == (result["messageId"], "Restore drill FAILED: DrillAlreadyRunningError at ValidateDrill")
    assert text.splitlines() == [
        f"The restore drill {DRILL} did not run: ValidateDrill failed with DrillAlreadyRunningError.",
        "", "another drill is running", "", "Nothing was restored or changed.", "", f"Execution: {DRILL}",
    ]  # fmt: skip


def test_check_instance_status_event_of_an_instance_ec2_does_not_know(aws: Emulator) -> None:
    # Given an account without i-0123456789abcdef0 / When invoked / Then EC2's own error reaches the state (its Catch
    # notes the archive's failure; Clean Up Drill and the sweep still look for the drill's instances by tag)
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as raised:
        invoke("check_instance_status")
    assert raised.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"


def test_sweep_drill_resources_event_with_nothing_left(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the ended drill of the event, and an account with nothing tagged by any drill
    monkeypatch.setenv("TOPIC_ARN", aws.client("sns").create_topic(Name="glacier-ami-restore")["TopicArn"])
    monkeypatch.setenv("DRILL_STATE_MACHINE_ARN", event("sweep_drill_resources.json")["detail"]["stateMachineArn"])
    # When invoked / Then nothing removed, nothing left, and no email (there is nothing to report)
    empty: dict[str, list[str]] = {"instances": [], "images": [], "snapshots": []}
    assert invoke("sweep_drill_resources") == {
        "drills": [], "removed": empty, "left": {}, "terminating": [], "clean": True, "messageId": None}  # fmt: skip
