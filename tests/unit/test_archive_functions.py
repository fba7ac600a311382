"""The archive side's handlers against the emulated account, one by one, with exact values: Select Recovery Points,
Store Image, Verify Archive, Mark Recovery Point Archived, Delete Recovery Point, the store budget and Notify Archive
Summary. The emulator's AWS Backup recovery points are AMIs registered with their snapshots (emulator/world/backup.py);
nothing here shares a constant with it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator.facade import Emulator
from tests.support import BUCKET, load_function

select, store, verify = load_function("select_recovery_points"), load_function("store_image"), load_function("verify_archive")
mark, delete = load_function("mark_recovery_point_archived"), load_function("delete_recovery_point")
budget_wait, budget_release = load_function("wait_for_store_budget"), load_function("release_store_budget")
summary = load_function("notify_archive_summary")
GIB = 2**30
GB = 10**9
SETTINGS = {"vaults": ["daily"], "olderThanDays": 30, "bucket": BUCKET, "storageClass": "DEEP_ARCHIVE", "deleteAfterArchive": False}


def clients(aws: Emulator) -> dict[str, Any]:
    return {"backup": aws.client("backup"), "ec2": aws.client("ec2"), "s3": aws.client("s3")}


def choose(aws: Emulator, given: Any = None) -> dict[str, Any]:
    found: dict[str, Any] = select.select_recovery_points(clients(aws), {} if given is None else given, SETTINGS, aws.clock.now())
    return found


def test_select_takes_old_completed_points_and_says_why_it_skips_the_others(aws: Emulator) -> None:
    # Given a vault with a 120 GB point of 40 days, one of 3 days, a paravirtual and an instance-store one of 50 days,
    # and a 60-day point an earlier run tagged archived
    old = aws.backup_ec2("daily", name="web-2025-11-26", size_gb=120, days_ago=40)
    aws.backup_ec2("daily", name="web-2026-01-02", size_gb=50, days_ago=3)
    pv = aws.backup_ec2("daily", name="old-pv", virtualization="paravirtual", days_ago=50)
    instance_store = aws.backup_ec2("daily", name="old-is", instance_store=True, days_ago=50)
    done = aws.backup_ec2("daily", name="web-2025-11-06", days_ago=60)
    aws.client("backup").tag_resource(ResourceArn=done, Tags={"glacier-ami-restore:archived-to": f"s3://{BUCKET}/x.bin"})
    # When the daily run selects
    found = choose(aws)
    # Then only the old point is stored, with the AMI's facts; the two AWS cannot store are skipped saying why
    image = old.rsplit("/", 1)[1]
    point = aws.backup.points[old]
    assert found["items"] == [{
        "recoveryPointArn": old, "vault": "daily", "imageId": image, "amiName": "web-2025-11-26",
        "amiCreated": found["items"][0]["amiCreated"], "resourceArn": point.resource_arn, "sizeBytes": 120 * GIB,
        "bucket": BUCKET, "key": f"{image}.bin",
    }]  # fmt: skip
    assert found["items"][0]["amiCreated"].startswith("2025-11-26T")
    reasons = {s["recoveryPointArn"]: s["reason"] for s in found["skipped"]}
    assert reasons == {
        pv: "paravirtual (PV) AMI: CreateStoreImageTask cannot store it",
        instance_store: "instance store-backed AMI: CreateStoreImageTask stores EBS-backed AMIs only",
    }
    assert found["run"] == {"bucket": BUCKET, "storageClass": "DEEP_ARCHIVE", "deleteAfterArchive": False, "olderThanDays": 30,
                            "vaults": ["daily"], "alreadyArchived": 1, "deferred": 0}  # fmt: skip


def test_select_accepts_both_arn_forms_and_refuses_a_bad_input_before_anything(aws: Emulator) -> None:
    # Given a point of a standard vault (an image ARN) and one of an air-gapped vault (a recovery-point ARN)
    standard = aws.backup_ec2("daily", name="app-1", days_ago=1)
    air_gapped = aws.backup_ec2("lag", name="db-1", arn_form="recovery-point", days_ago=1)
    settings = {**SETTINGS, "vaults": ["daily", "lag"]}
    # When they are named by ARN (as the Backup Job State Change rule names one), whatever their age
    found = select.select_recovery_points(clients(aws), {"recoveryPointArns": [standard, air_gapped]}, settings, aws.clock.now())
    # Then the image ARN is stored; the air-gapped one is skipped: its AMI is not the account's
    assert [i["recoveryPointArn"] for i in found["items"]] == [standard]
    assert [(s["recoveryPointArn"], s["reason"][:46]) for s in found["skipped"]] == [
        (air_gapped, "a logically air-gapped vault's recovery point:")
    ]
    # And inputs that cannot work are refused, every field named
    with pytest.raises(select.InvalidArchiveInputError) as refused:
        select.select_recovery_points(clients(aws), {"vaultName": "other", "olderThanDays": -1, "extra": 1}, SETTINGS, aws.clock.now())
    assert str(refused.value) == (
        "extra: not a field of an archive run (allowed: vaultName, olderThanDays, recoveryPointArns); "
        "vaultName: 'other' is not one of ArchiveVaultNames (daily); add it to the stack's parameter first; "
        "olderThanDays: must be a whole number from 0 to 36500, got -1"
    )


def test_store_image_stores_once_with_the_points_tags_and_joins_its_own_task(aws: Emulator) -> None:
    # Given a selected 64 GB point
    aws.backup_ec2("daily", name="web (blue) [1]", size_gb=64, days_ago=40)
    (item,) = choose(aws)["items"]
    ec2, s3 = aws.client("ec2"), aws.client("s3")
    # When Store Image runs, and runs again (a retried state, or another run)
    first = store.store_image(ec2, s3, item, 0, aws.clock.now())
    again = store.store_image(ec2, s3, item, 0, aws.clock.now())
    # Then EC2 has exactly one task, tagged with the point (the name's brackets and parentheses as S3 allows), and the
    # second call joined it; the deadline is 12 h plus 64 GiB at 20 MB/s (68,719,476,736 / 20e6 = 3,435 s), the first
    # look at 50 MB/s (1,374 s)
    assert [t.image_id for t in aws.ec2.store_tasks] == [item["imageId"]]
    tags = aws.ec2.store_tasks[0].tags
    assert {k: tags[k] for k in tags if k.startswith("backup-")} == {
        "backup-recovery-point-arn": item["recoveryPointArn"], "backup-vault": "daily", "backup-ami-name": "web _blue_ _1_",
        "backup-ami-created": item["amiCreated"], "backup-resource-arn": item["resourceArn"],
    }  # fmt: skip
    assert (first["state"], again["state"]) == ("started", "joined")
    assert (first["pollSeconds"], first["deadlineAt"]) == (1374, "2026-01-05T21:57:15+00:00")
    assert again["startedAt"] == first["startedAt"] == "2026-01-05T09:00:00+00:00"


def test_store_image_waits_out_ecs_quota_refusal_then_gives_up(aws: Emulator) -> None:
    # Given EC2 refusing the store over its in-progress quota (the undocumented code the restore quota uses)
    aws.backup_ec2("daily", name="big", size_gb=8, days_ago=40)
    (item,) = choose(aws)["items"]
    aws.faults.request("ec2.CreateStoreImageTask", "ResourceLimitExceeded", 400, times=2)
    ec2, s3 = aws.client("ec2"), aws.client("s3")
    # When Store Image runs / Then it reports the refusal as data, counting it; at the last allowed wait it raises
    assert store.store_image(ec2, s3, item, 0, aws.clock.now())["state"] == "quota"
    assert store.store_image(ec2, s3, item, 1, aws.clock.now())["quotaWaits"] == 2
    assert store.store_image(ec2, s3, item, 2, aws.clock.now())["state"] == "started"
    aws.faults.request("ec2.CreateStoreImageTask", "ResourceLimitExceeded", 400)
    aws.backup_ec2("daily", name="second", size_gb=8, days_ago=40)
    second = next(i for i in choose(aws)["items"] if i["amiName"] == "second")
    with pytest.raises(store.StoreQuotaExceededError):
        store.store_image(ec2, s3, second, store.MAX_QUOTA_WAITS, aws.clock.now())


def test_verify_accepts_only_this_points_object(aws: Emulator) -> None:
    # Given a point stored by Store Image, and one whose key holds another object (no tags)
    aws.backup_ec2("daily", name="kept", size_gb=8, days_ago=40)
    aws.backup_ec2("daily", name="intruder", size_gb=8, days_ago=40)
    items = {i["amiName"]: i for i in choose(aws)["items"]}
    store.store_image(aws.client("ec2"), aws.client("s3"), items["kept"], 0, aws.clock.now())
    aws.clock.advance(3600)
    aws.client("s3").put_object(Bucket=BUCKET, Key=items["intruder"]["key"], Body=b"x")
    # When verified / Then the stored one passes with its size and class; the other is refused, naming what is wrong
    found = verify.verify_archive(aws.client("s3"), items["kept"])
    assert (found["sizeBytes"], found["storageClass"]) == (aws.world.sizes[items["kept"]["key"]], "STANDARD")
    with pytest.raises(verify.ArchiveVerificationError) as refused:
        verify.verify_archive(aws.client("s3"), items["intruder"])
    assert str(refused.value) == (
        f"s3://{BUCKET}/{items['intruder']['key']} is not this recovery point's archive: its tags backup-ami-created, backup-ami-name, "
        "backup-recovery-point-arn, backup-resource-arn, backup-vault are missing or differ (it names no recovery point)"
    )


def test_mark_tags_the_point_or_its_ami_when_aws_backup_refuses(aws: Emulator) -> None:
    arn = aws.backup_ec2("daily", name="marked", days_ago=40)
    (item,) = choose(aws)["items"]
    # When AWS Backup tags image ARNs / Then the point carries the archive's place
    assert mark.mark_recovery_point_archived(aws.client("backup"), aws.client("ec2"), item) == {
        "taggedOn": "recovery-point", "tag": f"s3://{BUCKET}/{item['key']}"}  # fmt: skip
    assert aws.backup.points[arn].tags == {"glacier-ami-restore:archived-to": f"s3://{BUCKET}/{item['key']}"}
    # And when it refuses them (its ListTags "may"), the AMI is tagged, which Select reads: nothing is selected again
    aws.world.image_arn_tagging = "error"
    aws.backup.points[arn].tags.clear()
    assert mark.mark_recovery_point_archived(aws.client("backup"), aws.client("ec2"), item)["taggedOn"] == "image"
    assert choose(aws)["items"] == [] and choose(aws)["run"]["alreadyArchived"] == 1


def test_delete_reports_each_documented_outcome(aws: Emulator) -> None:
    # Given three archived points: one free to go, one under a legal hold, one whose snapshots are locked
    free, held, locked = (aws.backup_ec2("daily", name=n, days_ago=40) for n in ("free", "held", "locked"))
    aws.backup.hold(held)
    aws.backup.points[locked].snapshot_locked = True
    aws.world.backup_deleting_seconds = 300
    items = {i["recoveryPointArn"]: i for i in choose(aws)["items"]}
    backup = aws.client("backup")
    # When each is deleted / Then: DELETING (look again), refused with AWS Backup's message, EXPIRED reported as refused
    assert delete.delete_recovery_point(backup, items[free], 0) == {"outcome": "deleting", "reason": None, "checks": 1}
    assert delete.delete_recovery_point(backup, items[held], 0) == {
        "outcome": "refused", "checks": 1,
        "reason": "InvalidRequestException: The recovery point cannot be deleted because it has active legal hold(s)"}  # fmt: skip
    assert delete.delete_recovery_point(backup, items[locked], 0)["reason"] == (
        "AWS Backup accepted the deletion but the recovery point is only EXPIRED: "
        "Deletion failed: the recovery point's snapshots are locked by an Amazon EBS Snapshot Lock"
    )
    # And once AWS Backup is done, the next look finds it gone (and never asked twice)
    aws.clock.advance(301)
    assert delete.delete_recovery_point(backup, items[free], 1) == {"outcome": "deleted", "reason": None, "checks": 2}
    assert [p.arn for p in aws.backup.deleted] == [free]


class Tokens:
    """Step Functions' callbacks, as the budget sends them, and the executions it asks about (all running)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.described: list[str] = []

    def send_task_success(self, taskToken: str, output: str) -> None:
        self.sent.append((taskToken, json.loads(output)))

    def describe_execution(self, executionArn: str) -> dict[str, str]:
        self.described.append(executionArn)
        return {"status": "RUNNING"}


class NoStoreTasks:
    def describe_store_image_tasks(self, ImageIds: list[str]) -> dict[str, Any]:
        return {"StoreImageTaskResults": [{"AmiId": ImageIds[0], "StoreTaskState": "Completed"}]}


def test_the_store_budget_admits_first_come_first_served_and_release_wakes_the_next(aws: Emulator) -> None:
    # Given the budget's table and a 250 GB budget
    dynamodb = aws.client("dynamodb")
    attributes = [{"AttributeName": "kind", "AttributeType": "S"}, {"AttributeName": "id", "AttributeType": "S"}]
    keys = [{"AttributeName": "kind", "KeyType": "HASH"}, {"AttributeName": "id", "KeyType": "RANGE"}]
    dynamodb.create_table(TableName="store-budget", BillingMode="PAY_PER_REQUEST", AttributeDefinitions=attributes, KeySchema=keys)
    tokens, run = Tokens(), "arn:aws:states:us-east-1:123456789012:execution:archive:run-1"
    both = {"dynamodb": dynamodb, "sfn": tokens}
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)

    def ask(image: str, size_gb: int, at: datetime) -> str:
        event = {"token": f"token-{image}", "execution": run, "imageId": image, "sizeBytes": size_gb * GB}
        return str(budget_wait.wait_for_store_budget(both, "store-budget", 250 * GB, event, at))

    # When 100 GB, 200 GB and 60 GB ask in turn
    assert [ask("ami-a", 100, now), ask("ami-b", 200, now + timedelta(seconds=1)), ask("ami-c", 60, now + timedelta(seconds=2))] == [
        "admitted", "waiting", "waiting"]  # fmt: skip
    # Then the 60 GB AMI does not overtake the 200 GB one ahead of it, though it would fit
    assert [t for t, _ in tokens.sent] == ["token-ami-a"]
    # And each look asked Step Functions about the run once, though the third found a lease and a ticket of it
    assert tokens.described == [run, run]
    # When the first store ends / Then the 200 GB one is admitted and woken, and the 60 GB one still waits (200 + 60 > 250)
    released = budget_release.release_store_budget(
        {"dynamodb": dynamodb, "sfn": tokens, "ec2": NoStoreTasks()}, "store-budget", 250 * GB, {"execution": run, "imageId": "ami-a"},
        now + timedelta(hours=1))  # fmt: skip
    assert released == {"releasedBytes": 100 * GB, "keptBecause": None, "admitted": [f"{run}#ami-b"]}
    assert tokens.sent[1:] == [("token-ami-b", {"admitted": True, "heldBy": "queue"})]


def test_the_summary_prices_each_archive_against_aws_backup(aws: Emulator) -> None:
    # Given events/notify_archive_summary.json: 60 GiB in Deep Archive from a 120 GiB point, one PV point skipped
    topic = aws.client("sns").create_topic(Name="t")["TopicArn"]
    event = json.loads((load_function.__globals__["ROOT"] / "events" / "notify_archive_summary.json").read_text())
    # When the summary is sent
    output = summary.notify_archive_summary(aws.client("sns"), topic, event)
    # Then the output lists what happened, and the email prices it: 60 x $0.00099 = $0.06 against 120 x $0.05 = $6.00
    assert ([a["key"] for a in output["archived"]], len(output["skipped"]), output["failed"], "error" in output) == (
        ["ami-0a1b2c3d4e5f60718.bin"], 1, [], False)  # fmt: skip
    subject, text = summary.summary_email(output, event["execution"])
    assert subject == "AMI archive: 1 archived, 1 skipped, 0 failed"
    assert ("60.0 GB to DEEP_ARCHIVE: $0.06 per month, against $6.00 in AWS Backup" in text
            and "Saving at list price once the recovery points are gone: $5.94 per month." in text)  # fmt: skip
    # And a failed point makes the run's error, with what to do
    point = {"status": "failed", "recoveryPointArn": "rp", "imageId": "ami-1", "bucket": BUCKET, "key": "ami-1.bin", "vault": "daily"}
    failed = {**event["state"], "items": [{**point, "error": "StoreTaskFailedError", "cause": "EC2 said no"}]}
    ended = summary.summarise_run(failed)
    expected = {"failed": [{"recoveryPointArn": "rp", "imageId": "ami-1", "error": "StoreTaskFailedError"}]}
    assert (ended["error"], json.loads(ended["cause"])) == ("ArchiveIncompleteError", expected)
    with pytest.raises(ClientError):
        summary.notify_archive_summary(aws.client("sns"), topic.replace(":t", ":missing"), event)


ended = load_function("report_ended_archive_run")


def test_the_report_of_an_ended_run_says_what_aws_holds_for_each_point(aws: Emulator) -> None:
    # Given three selected points: one stored and tagged, one whose store EC2 failed, one deleted before it was stored
    for name in ("kept", "failing", "gone"):
        aws.backup_ec2("daily", name=name, size_gb=8, days_ago=40)
    items = {i["amiName"]: i for i in choose(aws)["items"]}
    ec2, s3, backup = aws.client("ec2"), aws.client("s3"), aws.client("backup")
    store.store_image(ec2, s3, items["kept"], 0, aws.clock.now())
    aws.clock.advance(3600)
    mark.mark_recovery_point_archived(backup, ec2, items["kept"])
    aws.faults.store_failure("InternalError: the store task failed")
    store.store_image(ec2, s3, items["failing"], 0, aws.clock.now())
    aws.clock.advance(3600)
    backup.delete_recovery_point(BackupVaultName="daily", RecoveryPointArn=items["gone"]["recoveryPointArn"])
    aws.clock.advance(3600)
    # When the report reads each / Then each line is what AWS says now
    found = {name: ended.point_line(clients(aws), item) for name, item in items.items()}
    named = {name: f"{i['recoveryPointArn']} ({i['imageId']})" for name, i in items.items()}
    assert found == {
        "kept": f"{named['kept']}: archived to s3://{BUCKET}/{items['kept']['key']} and tagged; the recovery point is kept (COMPLETED)",
        "failing": f"{named['failing']}: EC2's store task into s3://{BUCKET}/{items['failing']['key']} failed: "
        "InternalError: the store task failed",
        "gone": f"{named['gone']}: the recovery point is deleted; nothing is stored in s3://{BUCKET}/{items['gone']['key']}",
    }


def test_select_turns_aws_backups_throttling_into_a_retried_error(aws: Emulator) -> None:
    # Given AWS Backup throttling ListRecoveryPointsByBackupVault through every SDK retry (5 attempts), then answering
    aws.backup_ec2("daily", name="throttled", size_gb=8, days_ago=40)
    aws.faults.request("backup.ListRecoveryPointsByBackupVault", "ThrottlingException", 400, times=5)
    # When Select Recovery Points runs / Then it raises ThrottledError (its state retries it), having changed nothing
    with pytest.raises(select.ThrottledError, match="AWS Backup throttled ListRecoveryPointsByBackupVault"):
        choose(aws)
    assert aws.ec2.store_tasks == []
    # And the state's retry finds the point once AWS Backup answers again
    assert [i["amiName"] for i in choose(aws)["items"]] == ["throttled"]
