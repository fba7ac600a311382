"""The world's models for the archive side and the drills, alone: store tasks, S3's Object Created events and lifecycle
transitions, AWS Backup's recovery points, scheduled rules and instance status checks, with the account's objects,
images, vaults and rules kept in plain dictionaries (no moto, no API). Figures from emulator/world/facts.py."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulator.world.backup import BackupModel, VaultLock
from emulator.world.clock import VirtualClock
from emulator.world.draws import World
from emulator.world.ec2 import EC2Model, ImageFacts
from emulator.world.errors import AWSError
from emulator.world.events import EventBus
from emulator.world.lifecycle import LifecycleModel, StoredObject
from emulator.world.s3 import S3Model
from emulator.world.schedule import Cron, Rate, Scheduler, next_firing, parse

HOUR, DAY, GB, GIB = 3600, 86400, 10**9, 2**30
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday
ACCOUNT = "123456789012"
WEB = ImageFacts("web-2025-12", "web backup", "2025-12-01T05:00:00.000Z", ACCOUNT, snapshots=(("snap-web", 200),))


@dataclass
class Stored:
    storage_class: str
    tags: dict[str, str]
    created: datetime
    size: int


class Objects:
    """The account's objects: an ObjectStore and a LifecycleStore."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.stored: dict[tuple[str, str], Stored] = {}

    def storage_class(self, bucket: str, key: str) -> str | None:
        found = self.stored.get((bucket, key))
        return found.storage_class if found else None

    def etag(self, bucket: str, key: str) -> str:
        return "etag"

    def tags(self, bucket: str, key: str) -> dict[str, str]:
        return self.stored[(bucket, key)].tags

    def put(self, bucket: str, key: str, tags: dict[str, str], reason: str) -> None:
        self.stored[(bucket, key)] = Stored("STANDARD", tags, self.clock.now(), 0)

    def listing(self, bucket: str) -> list[StoredObject]:
        return [StoredObject(k, s.created, s.size, s.tags, s.storage_class) for (b, k), s in self.stored.items() if b == bucket]

    def set_storage_class(self, bucket: str, key: str, storage_class: str) -> None:
        self.stored[(bucket, key)].storage_class = storage_class


class Images:
    """The account's images and snapshots."""

    def __init__(self, *images: tuple[str, ImageFacts]) -> None:
        self.images = dict(images)
        self.snapshots = {s for facts in self.images.values() for s, _ in facts.snapshots}

    def describe(self, region: str, image_id: str) -> ImageFacts:
        if image_id not in self.images:
            raise AWSError("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist", 400)
        return self.images[image_id]

    def name_taken(self, region: str, name: str) -> bool:
        return any(i.name == name for i in self.images.values())

    def register(self, region: str, name: str, description: str, size_bytes: int, tags: dict[str, dict[str, str]]) -> str:
        raise NotImplementedError

    def exists(self, region: str, image_id: str) -> bool:
        return image_id in self.images

    def set_state(self, region: str, image_id: str, state: str, reason: dict[str, str] | None) -> None:
        raise NotImplementedError

    def deregister(self, region: str, image_id: str) -> None:
        del self.images[image_id]

    def snapshot_images(self, region: str, snapshot_id: str) -> list[str]:
        return [i for i, facts in self.images.items() if snapshot_id in dict(facts.snapshots)]

    def delete_snapshot(self, region: str, snapshot_id: str) -> None:
        self.snapshots.remove(snapshot_id)


@dataclass
class Router:
    """Every event reaches one queue; a scheduled rule's firing reaches the rule's own target."""

    delivered: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    schedules: dict[str, tuple[str, str]] = field(default_factory=dict)  # rule -> (expression, state)

    def targets(self, region: str, event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        return [("everything", {"Id": "q", "Arn": "arn:aws:sqs:us-east-1:123456789012:q"})]

    def rule_targets(self, region: str, rule: str) -> list[tuple[str, dict[str, Any]]]:
        return [(rule, {"Id": "sm", "Arn": f"arn:aws:states:us-east-1:123456789012:stateMachine:{rule}"})]

    def deliver(self, region: str, rule: str, target: dict[str, Any], event: dict[str, Any]) -> None:
        self.delivered.append((rule, event))

    def schedule_of(self, region: str, rule: str) -> tuple[str, str] | None:
        return self.schedules.get(rule)

    def rule_arn(self, region: str, rule: str) -> str:
        return f"arn:aws:events:{region}:{ACCOUNT}:rule/{rule}"


class Vaults:
    def __init__(self) -> None:
        self.locks: dict[str, VaultLock | None] = {"daily": None, "locked": VaultLock(30, None)}
        self.counts: dict[str, int] = {}

    def arn(self, region: str, vault: str) -> str | None:
        return f"arn:aws:backup:{region}:{ACCOUNT}:backup-vault:{vault}" if vault in self.locks else None

    def lock(self, region: str, vault: str) -> VaultLock | None:
        return self.locks[vault]

    def counted(self, region: str, vault: str, recovery_points: int) -> None:
        self.counts[vault] = recovery_points


@dataclass
class Account:
    clock: VirtualClock
    world: World
    objects: Objects
    images: Images
    router: Router
    bus: EventBus
    s3: S3Model
    ec2: EC2Model
    lifecycle: LifecycleModel
    vaults: Vaults
    backup: BackupModel

    def events(self, detail_type: str) -> list[dict[str, Any]]:
        return [e for e in self.bus.emitted if e["detail-type"] == detail_type]


def account(*images: tuple[str, ImageFacts]) -> Account:
    clock, world, router, vaults = VirtualClock(START), World(seed=3, event_delay_seconds=0), Router(), Vaults()
    objects, registry = Objects(clock), Images(*images)
    bus = EventBus(world, clock, ACCOUNT, router)
    s3 = S3Model(world, clock, objects, bus, ACCOUNT)
    ec2 = EC2Model(world, clock, s3, registry, ACCOUNT, bus)
    backup = BackupModel(world, clock, ec2, vaults, ACCOUNT, bus)
    return Account(clock, world, objects, registry, router, bus, s3, ec2, LifecycleModel(world, clock, objects, s3), vaults, backup)


def refused(call: Any, *args: Any, **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(AWSError) as error:
        call(*args, **kwargs)
    return error.value.code, error.value.message, error.value.http_status


# --- CreateStoreImageTask -------------------------------------------------------------------------------------------


def test_a_store_task_writes_under_the_buckets_path_and_s3_announces_a_multipart_upload_when_it_ends() -> None:
    # Given a 200 GiB AMI whose object is 100 GB (2 min + 100 GB at 100 MB/s = 1,120 s), a bucket sending its events
    aws = account(("ami-0web", WEB))
    aws.world.sizes["ami-0web.bin"] = 100 * GB
    aws.s3.eventbridge_since["archive"] = START
    # When it is stored under `archive/backups/ec2` with a tag of the caller's
    key = aws.ec2.store_image("us-east-1", "ami-0web", "archive/backups/ec2", {"vault": "daily"})
    before = (aws.objects.storage_class("archive", key), aws.events("Object Created"))
    aws.clock.advance(1120)
    # Then the key carries the path, nothing is there before the end, and S3's event has AWS's fields
    assert (key, before) == ("backups/ec2/ami-0web.bin", (None, []))
    assert aws.objects.tags("archive", key) == {
        "ami-name": "web-2025-12", "ami-description": "web backup", "ami-creation-date": "2025-12-01T05:00:00.000Z",
        "ami-owner-id": ACCOUNT, "ami-store-date": "2026-01-05T09:00:00+00:00", "vault": "daily",
    }  # fmt: skip
    (event,) = aws.events("Object Created")
    assert (event["source"], event["time"], event["resources"]) == ("aws.s3", "2026-01-05T09:18:40Z", ["arn:aws:s3:::archive"])
    assert event["detail"] == {
        "version": "0", "bucket": {"name": "archive"},
        "object": {"key": "backups/ec2/ami-0web.bin", "size": 100 * GB, "etag": "etag", "sequencer": "0000000000000001"},
        "request-id": "emulated", "requester": ACCOUNT, "reason": "CompleteMultipartUpload",
    }  # fmt: skip


def test_what_aws_cannot_store_is_refused_at_once() -> None:
    aws = account(
        ("ami-0store", replace(WEB, root_device_type="instance-store", snapshots=())),
        ("ami-0pv", replace(WEB, virtualization_type="paravirtual")),
        ("ami-0huge", replace(WEB, snapshots=(("snap-a", 4000), ("snap-b", 1001)))),
        ("ami-0theirs", replace(WEB, owner_id="210987654321")),
        ("ami-0shared", replace(WEB, owner_id="210987654321", shared_with=(ACCOUNT,))),
    )
    answers = [
        refused(aws.ec2.store_image, "us-east-1", image, "archive", {})[0]
        for image in ("ami-0store", "ami-0pv", "ami-0huge", "ami-0theirs")
    ]
    assert answers == ["UnsupportedOperation", "UnsupportedOperation", "InvalidParameterValue", "InvalidParameterValue"]
    assert aws.ec2.store_image("us-east-1", "ami-0shared", "archive", {}) == "ami-0shared.bin"  # shared directly: stored


def test_store_work_is_refused_while_the_work_in_progress_reaches_1200_gb() -> None:
    # Given AMIs of 700, 600 and 100 GiB of snapshot data, their objects of 70, 60 and 10 GB (820 s, 720 s, 220 s)
    sizes = {"ami-0a": 700, "ami-0b": 600, "ami-0c": 100}
    aws = account(*((i, replace(WEB, snapshots=((f"snap-{i}", gb),))) for i, gb in sizes.items()))
    for image, gb in sizes.items():
        aws.world.sizes[f"{image}.bin"] = gb // 10 * GB
    # When the first two are stored (700 GiB in progress is under the quota, so the second is accepted)
    aws.ec2.store_image("us-east-1", "ami-0a", "archive", {})
    aws.ec2.store_image("us-east-1", "ami-0b", "archive", {})
    over = refused(aws.ec2.store_image, "us-east-1", "ami-0c", "archive", {})
    aws.clock.advance(720)
    # Then the third is refused at 1,300 GiB in progress, and accepted once the second is done (700 GiB)
    assert over == ("ResourceLimitExceeded", "You have exceeded the quota for in-progress image store tasks", 400)
    assert aws.ec2.store_image("us-east-1", "ami-0c", "archive", {}) == "ami-0c.bin"
    assert aws.ec2.store_work_bytes("us-east-1") == 800 * GIB


def test_tags_past_s3s_ten_are_refused_or_fail_the_task_and_aws_keys_are_refused() -> None:
    aws = account(("ami-0web", WEB))
    six = {f"k{n}": "v" for n in range(6)}  # with the store's own five: 11
    assert refused(aws.ec2.store_image, "us-east-1", "ami-0web", "archive", six)[0] == "InvalidParameterValue"
    assert refused(aws.ec2.store_image, "us-east-1", "ami-0web", "archive", {"aws:backup": "x"})[0] == "InvalidParameterValue"
    aws.world.tag_overflow_answer = "failed-task"
    aws.world.sizes["ami-0web.bin"] = 10 * GB  # 220 s
    aws.ec2.store_image("us-east-1", "ami-0web", "archive", six)
    aws.clock.advance(220)
    (task,) = aws.ec2.store_task_results([])[0]
    assert (task["StoreTaskState"], task["StoreTaskFailureReason"], aws.objects.stored) == (
        "Failed",
        "The object's tags could not be set: S3 allows at most 10 tags per object",
        {},
    )


def test_an_injected_failure_ends_the_task_half_way_and_a_deregistered_ami_fails_it_and_a_retry_is_allowed() -> None:
    aws = account(("ami-0web", WEB), ("ami-0db", replace(WEB, name="db")))
    failures = ["InternalError: the upload failed"]
    aws.ec2.take_store_fault = lambda: failures.pop() if failures else None
    aws.world.sizes.update({"ami-0web.bin": 100 * GB, "ami-0db.bin": 100 * GB})  # 1,120 s each
    aws.ec2.store_image("us-east-1", "ami-0web", "archive", {})
    aws.ec2.store_image("us-east-1", "ami-0db", "archive", {})
    aws.clock.advance(300)
    aws.ec2.deregister_image("us-east-1", "ami-0db", delete_snapshots=False)
    aws.clock.advance(300)
    results = {
        t["AmiId"]: (t["StoreTaskState"], t["ProgressPercentage"], t["StoreTaskFailureReason"]) for t in aws.ec2.store_task_results([])[0]
    }
    assert results == {
        "ami-0web": ("Failed", 50, "InternalError: the upload failed"),
        "ami-0db": ("Failed", 26, "The snapshots of ami-0db were deleted or became inaccessible during the store task"),
    }
    assert aws.ec2.store_image("us-east-1", "ami-0web", "archive", {}) == "ami-0web.bin"  # a failed task made no copy


def test_describe_store_image_tasks_shows_31_days_newest_first_and_with_image_ids_only_the_latest_task() -> None:
    # Given one AMI stored 40 days ago (hidden now), 10 days ago into `old` (Completed) and now into `new` (InProgress),
    # and two other AMIs stored now
    aws = account(("ami-0web", WEB), ("ami-0db", replace(WEB, name="db")), ("ami-0app", replace(WEB, name="app")))
    aws.world.sizes.update({"ami-0web.bin": 10 * GB, "ami-0db.bin": 10 * GB, "ami-0app.bin": 10 * GB})
    aws.ec2.store_image("us-east-1", "ami-0web", "older", {}, started_at=START - timedelta(days=40))
    aws.ec2.store_image("us-east-1", "ami-0web", "old", {}, started_at=START - timedelta(days=10))
    aws.ec2.store_image("us-east-1", "ami-0web", "new", {})
    aws.clock.advance(60)
    aws.ec2.store_image("us-east-1", "ami-0db", "new", {})
    aws.clock.advance(60)
    aws.ec2.store_image("us-east-1", "ami-0app", "new", {})

    def page(**kwargs: Any) -> tuple[list[tuple[str, str, str]], str | None]:
        results, token = aws.ec2.store_task_results(**kwargs)
        return [(t["AmiId"], t["Bucket"], t["StoreTaskState"]) for t in results], token

    # Then the listing is newest first without the 40-day-old task, and pages; ImageIds gives the latest task of the
    # AMI, whatever the filters; filters apply without ImageIds
    assert page(image_ids=[], max_results=2) == ([("ami-0app", "new", "InProgress"), ("ami-0db", "new", "InProgress")], "2")
    assert page(image_ids=[], max_results=2, token="2") == ([("ami-0web", "new", "InProgress"), ("ami-0web", "old", "Completed")], None)
    assert page(image_ids=["ami-0web"], filters={"task-state": ["Completed"]}) == ([("ami-0web", "new", "InProgress")], None)
    assert page(image_ids=[], filters={"task-state": ["Completed"]}) == ([("ami-0web", "old", "Completed")], None)
    assert refused(aws.ec2.store_task_results, ["ami-0web"], None, 5)[0] == "InvalidParameterCombination"


def test_deregister_with_delete_associated_snapshots_keeps_a_snapshot_another_ami_uses() -> None:
    shared = ImageFacts("other", "", "", ACCOUNT, snapshots=(("snap-data", 50),))
    aws = account(("ami-0web", replace(WEB, snapshots=(("snap-web", 8), ("snap-data", 50)))), ("ami-0other", shared))
    results = aws.ec2.deregister_image("us-east-1", "ami-0web", delete_snapshots=True)
    assert results == [{"SnapshotId": "snap-web", "ReturnCode": "success"}, {"SnapshotId": "snap-data", "ReturnCode": "skipped"}]
    assert (sorted(aws.images.images), aws.images.snapshots) == (["ami-0other"], {"snap-data"})


# --- S3 lifecycle -----------------------------------------------------------------------------------------------------

TO_DEEP_ARCHIVE = {"ID": "archive", "Status": "Enabled", "Filter": {"Tag": {"Key": "archive", "Value": "true"}},
                   "Transition": {"Days": "0", "StorageClass": "DEEP_ARCHIVE"}}  # fmt: skip


def test_a_tagged_object_moves_at_the_next_midnight_run_plus_its_delay_and_s3_says_so() -> None:
    # Given a Days-0 rule for objects tagged archive=true, an hour's delay in the day's run, and two objects
    aws = account()
    aws.world.lifecycle_delay_seconds = HOUR
    aws.s3.eventbridge_since["archive"] = START
    aws.objects.stored[("archive", "ami-1.bin")] = Stored("STANDARD", {"archive": "true"}, START, 50 * GB)
    aws.objects.stored[("archive", "notes.txt")] = Stored("STANDARD", {}, START, 50 * GB)
    aws.lifecycle.configured("archive", [TO_DEEP_ARCHIVE])
    # When time runs to 00:59 and to 01:00 the next day
    aws.clock.advance(16 * HOUR - 60)
    before = aws.objects.storage_class("archive", "ami-1.bin")
    aws.clock.advance(60)
    # Then the tagged object moved at 01:00, the other stayed, and S3 emitted Object Storage Class Changed
    assert (before, aws.objects.storage_class("archive", "ami-1.bin"), aws.objects.storage_class("archive", "notes.txt")) == (
        "STANDARD",
        "DEEP_ARCHIVE",
        "STANDARD",
    )
    (event,) = aws.events("Object Storage Class Changed")
    assert (event["time"], event["detail"]["object"]["key"], event["detail"]["destination-storage-class"]) == (
        "2026-01-06T01:00:00Z",
        "ami-1.bin",
        "DEEP_ARCHIVE",
    )


def test_days_count_from_creation_rounded_to_the_next_midnight_by_prefix_and_size() -> None:
    # Given GLACIER after 30 days for backups/ objects over 1 GB, objects made 2026-01-05 09:00, no delay in the run
    aws = account()
    aws.world.lifecycle_delay_seconds = 0
    rule = {"Status": "Enabled", "Filter": {"And": {"Prefix": "backups/", "ObjectSizeGreaterThan": str(GB)}},
            "Transition": [{"Days": "30", "StorageClass": "GLACIER"}]}  # fmt: skip
    for key, size in (("backups/big.bin", 2 * GB), ("backups/small.bin", GB // 2), ("other/big.bin", 2 * GB)):
        aws.objects.stored[("b", key)] = Stored("STANDARD", {}, START, size)
    aws.lifecycle.configured("b", [rule])
    # When the clock reaches 2026-02-05 00:00 (created + 30 days = 02-04 09:00, rounded to the next midnight)
    aws.clock.advance((datetime(2026, 2, 5, tzinfo=UTC) - START).total_seconds() - 1)
    early = aws.objects.storage_class("b", "backups/big.bin")
    aws.clock.advance(1)
    # Then only the big backups/ object moved, at that midnight
    moved = [(t["key"], t["to"], t["at"]) for t in aws.lifecycle.transitions]
    assert (early, moved) == ("STANDARD", [("backups/big.bin", "GLACIER", datetime(2026, 2, 5, tzinfo=UTC))])


def test_s3s_minimum_days_and_the_default_minimum_size_and_the_waterfall() -> None:
    aws = account()
    aws.world.lifecycle_delay_seconds = 0
    too_early = {"Status": "Enabled", "Prefix": "", "Transition": {"Days": "29", "StorageClass": "STANDARD_IA"}}
    assert refused(aws.lifecycle.configured, "b", [too_early]) == (
        "InvalidArgument",
        "'Days' in Transition action must be greater than or equal to 30 for storageClass 'STANDARD_IA'",
        400,
    )
    aws.objects.stored[("b", "tiny.json")] = Stored("STANDARD", {}, START, 1024)
    aws.objects.stored[("b", "deep.bin")] = Stored("DEEP_ARCHIVE", {}, START, 10 * GB)
    aws.lifecycle.configured("b", [{"Status": "Enabled", "Prefix": "", "Transition": {"Days": "0", "StorageClass": "GLACIER_IR"}}])
    aws.clock.advance(DAY)
    # Under 128 KB without a size filter: not moved; GLACIER_IR is above DEEP_ARCHIVE in the waterfall: not moved
    assert (aws.objects.storage_class("b", "tiny.json"), aws.objects.storage_class("b", "deep.bin"), aws.lifecycle.transitions) == (
        "STANDARD",
        "DEEP_ARCHIVE",
        [],
    )


def test_a_rule_set_just_before_midnight_waits_for_the_next_days_run() -> None:
    aws = account()
    aws.world.lifecycle_delay_seconds = 0
    aws.clock.advance(15 * HOUR - 120)  # 23:58
    aws.objects.stored[("b", "ami-1.bin")] = Stored("STANDARD", {"archive": "true"}, START, 10 * GB)
    aws.lifecycle.configured("b", [TO_DEEP_ARCHIVE])  # in effect at 00:03, after the run of 01-06 00:00
    aws.clock.advance(DAY + 120)
    assert [t["at"] for t in aws.lifecycle.transitions] == [datetime(2026, 1, 7, tzinfo=UTC)]


# --- AWS Backup ---------------------------------------------------------------------------------------------------------


def backed_up(aws: Account, vault: str = "daily", image: str = "ami-0web", days_ago: float = 40, **kwargs: Any) -> str:
    created = START - timedelta(days=days_ago)
    return aws.backup.record_ec2("us-east-1", vault, image, "i-0123456789abcdef0", created, 200 * GIB, **kwargs).arn


def test_recovery_points_list_newest_first_filtered_by_type_and_date_and_paged() -> None:
    aws = account(*((f"ami-0{n}", WEB) for n in range(4)))
    arns = [backed_up(aws, image=f"ami-0{n}", days_ago=days) for n, days in enumerate((50, 40, 20, 5))]

    def listed(**filters: Any) -> list[str]:
        return [p["RecoveryPointArn"] for p in aws.backup.list_by_vault("us-east-1", "daily", filters)[0]]

    older = listed(ByResourceType="EC2", ByCreatedBefore=START - timedelta(days=30))
    between = listed(ByCreatedAfter=START - timedelta(days=45), ByCreatedBefore=START - timedelta(days=10))
    first, token = aws.backup.list_by_vault("us-east-1", "daily", {}, 3)
    rest, last = aws.backup.list_by_vault("us-east-1", "daily", {}, 3, token)
    assert (older, between) == ([arns[1], arns[0]], [arns[2], arns[1]])
    assert ([p["RecoveryPointArn"] for p in first + rest], token, last) == (arns[::-1], "3", None)
    assert (arns[0], aws.vaults.counts["daily"]) == ("arn:aws:ec2:us-east-1::image/ami-00", 4)
    assert refused(aws.backup.list_by_vault, "us-east-1", "nope", {})[0] == "ResourceNotFoundException"


def test_a_recovery_point_in_an_air_gapped_vault_has_a_backup_arn_and_describes_as_such() -> None:
    aws = account(("ami-0web", WEB))
    aws.backup.air_gapped.add(("us-east-1", "daily"))
    arn = backed_up(aws, lifecycle={"DeleteAfterDays": 365}, created_by={"BackupPlanId": "plan-1", "BackupRuleId": "rule-1"})
    described = aws.backup.describe("us-east-1", "daily", arn)
    assert arn == "arn:aws:backup:us-east-1:123456789012:recovery-point:EE48641E-2118-4CBA-BB94-C9824BF9C900"
    assert {k: described[k] for k in ("VaultType", "Status", "ResourceType", "BackupSizeInBytes", "StorageClass", "CreatedBy")} == {
        "VaultType": "LOGICALLY_AIR_GAPPED_BACKUP_VAULT", "Status": "COMPLETED", "ResourceType": "EC2",
        "BackupSizeInBytes": 200 * GIB, "StorageClass": "WARM", "CreatedBy": {"BackupPlanId": "plan-1", "BackupRuleId": "rule-1"},
    }  # fmt: skip
    assert described["CalculatedLifecycle"] == {"DeleteAt": datetime(2026, 11, 26, 9, 0, tzinfo=UTC)}


def test_deleting_a_recovery_point_takes_its_ami_and_snapshots_after_a_while() -> None:
    aws = account(("ami-0web", WEB))
    aws.world.backup_deleting_seconds = 120
    arn = backed_up(aws)
    aws.backup.delete("us-east-1", "daily", arn)
    deleting = aws.backup.describe("us-east-1", "daily", arn)["Status"]
    again = refused(aws.backup.delete, "us-east-1", "daily", arn)
    aws.clock.advance(120)
    assert (deleting, again[0]) == ("DELETING", "InvalidResourceStateException")
    assert refused(aws.backup.describe, "us-east-1", "daily", arn)[0] == "ResourceNotFoundException"
    assert (aws.images.images, aws.images.snapshots, aws.vaults.counts["daily"]) == ({}, set(), 0)


def test_a_deletion_is_refused_by_a_legal_hold_and_by_a_locked_vault_within_the_retention() -> None:
    aws = account(("ami-0web", WEB), ("ami-0db", WEB))
    held = backed_up(aws)
    hold = aws.backup.hold(held)
    locked = backed_up(aws, vault="locked", image="ami-0db", lifecycle={"DeleteAfterDays": 60})
    answers = [refused(aws.backup.delete, "us-east-1", vault, arn) for vault, arn in (("daily", held), ("locked", locked))]
    assert answers == [
        ("InvalidRequestException", "The recovery point cannot be deleted because it has active legal hold(s)", 400),
        ("InvalidRequestException", "The recovery point cannot be deleted because backup vault locked is locked and the "
         "recovery point is within its retention period", 400),
    ]  # fmt: skip
    aws.backup.release(held, hold)
    aws.clock.advance(20 * DAY)  # the locked point's 60 days are over
    aws.backup.delete("us-east-1", "daily", held)
    aws.backup.delete("us-east-1", "locked", locked)
    assert [aws.backup.points[a].status for a in (held, locked)] == ["DELETING", "DELETING"]


def test_a_deletion_answered_200_may_only_make_the_point_expired() -> None:
    aws = account(("ami-0web", WEB), ("ami-0db", WEB))
    snapshot_locked, roleless = backed_up(aws), backed_up(aws, image="ami-0db")
    aws.backup.points[snapshot_locked].snapshot_locked = True
    aws.backup.points[roleless].role_may_delete = False
    for arn in (snapshot_locked, roleless):
        aws.backup.delete("us-east-1", "daily", arn)  # no error: HTTP 200
    statuses = [(aws.backup.points[a].status, aws.backup.points[a].status_message) for a in (snapshot_locked, roleless)]
    assert statuses == [
        ("EXPIRED", "Deletion failed: the recovery point's snapshots are locked by an Amazon EBS Snapshot Lock"),
        ("EXPIRED", "Deletion failed: the IAM role used to create the recovery point lacks permission to delete it"),
    ]
    aws.backup.points[roleless].role_may_delete = True  # the role got its permission back: an EXPIRED point is deleted
    aws.backup.delete("us-east-1", "daily", roleless)
    assert (aws.backup.points[roleless].status, sorted(aws.images.images)) == ("DELETING", ["ami-0db", "ami-0web"])


def test_tags_on_a_recovery_point_and_an_image_arn_that_aws_backup_may_refuse() -> None:
    aws = account(("ami-0web", WEB))
    arn = backed_up(aws)
    aws.backup.tag(arn, {"archived": "s3://archive/ami-0web.bin", "keep": "1"})
    aws.backup.untag(arn, ["keep"])
    assert aws.backup.list_tags(arn) == {"archived": "s3://archive/ami-0web.bin"}
    aws.world.image_arn_tagging = "error"
    assert refused(aws.backup.list_tags, arn)[0] == "InvalidParameterValueException"
    assert refused(aws.backup.tag, "arn:aws:ec2:us-east-1::image/ami-0gone", {})[0] == "ResourceNotFoundException"


def test_a_backup_jobs_completion_event_goes_out_at_the_next_five_minute_mark() -> None:
    aws = account(("ami-0web", WEB))
    aws.clock.advance(7 * 60)  # 09:07
    created = aws.clock.now() - timedelta(minutes=10)
    point = aws.backup.record_ec2("us-east-1", "daily", "ami-0web", "i-0123456789abcdef0", created, 200 * GIB, job_minutes=10,
                                  created_by={"BackupPlanId": "plan-1", "BackupRuleId": "rule-1"}, iam_role_arn="arn:role")  # fmt: skip
    aws.backup.announce(point)
    aws.clock.advance(3 * 60)
    (event,) = aws.events("Backup Job State Change")
    assert (event["time"], event["source"], event["resources"]) == ("2026-01-05T09:10:00Z", "aws.backup", [point.arn])
    assert event["detail"] == {
        "backupJobId": point.job_id, "backupSizeInBytes": str(200 * GIB), "bytesTransferred": str(200 * GIB),
        "backupVaultArn": "arn:aws:backup:us-east-1:123456789012:backup-vault:daily", "backupVaultName": "daily",
        "creationDate": "2026-01-05T08:57:00.000Z", "completionDate": "2026-01-05T09:07:00.000Z",
        "startBy": "2026-01-05T16:57:00.000Z", "iamRoleArn": "arn:role", "percentDone": 100, "state": "COMPLETED",
        "resourceArn": "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0", "resourceType": "EC2",
        "createdBy": {"backupPlanId": "plan-1", "backupPlanRuleId": "rule-1"},
    }  # fmt: skip


# --- schedules -------------------------------------------------------------------------------------------------------


def test_rate_and_cron_expressions_parse_as_eventbridge_reads_them() -> None:
    for bad in ("rate(1 hours)", "rate(5 hour)", "rate(0 minutes)", "cron(0 5 * * * *)", "cron(0 5 ? * ? *)", "cron(0 5 * *)"):
        assert refused(parse, bad)[0] == "ValidationException", bad
    assert (parse("rate(1 day)"), parse("rate(15 minutes)")) == (Rate(86400), Rate(900))
    assert isinstance(parse("cron(0/15 8-17 ? * MON-FRI *)"), Cron)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 5 * * ? *)", datetime(2026, 1, 5, 9, 0), datetime(2026, 1, 6, 5, 0)),
        ("cron(30 12 ? * MON-FRI *)", datetime(2026, 1, 9, 13, 0), datetime(2026, 1, 12, 12, 30)),  # Friday -> Monday
        ("cron(0 0 L * ? *)", datetime(2026, 2, 3, 0, 0), datetime(2026, 2, 28, 0, 0)),
        ("cron(0 8 ? * 6#3 *)", datetime(2026, 1, 5, 0, 0), datetime(2026, 1, 16, 8, 0)),  # the third Friday
        ("cron(0 8 ? * 1 *)", datetime(2026, 1, 5, 0, 0), datetime(2026, 1, 11, 8, 0)),  # 1 is Sunday
        ("cron(0 9 15W * ? *)", datetime(2026, 3, 1, 0, 0), datetime(2026, 3, 16, 9, 0)),  # the 15th is a Sunday
        ("rate(1 day)", datetime(2026, 1, 7, 9, 0, 30), datetime(2026, 1, 8, 9, 0)),
    ],
)
def test_the_next_firing(expression: str, after: datetime, expected: datetime) -> None:
    assert next_firing(parse(expression), after.replace(tzinfo=UTC), START) == expected.replace(tzinfo=UTC)


def test_a_scheduled_rule_fires_its_own_targets_with_a_scheduled_event_skips_while_disabled_and_stops_when_deleted() -> None:
    aws = account()
    scheduler = Scheduler(aws.clock, aws.bus, aws.router)
    aws.router.schedules["daily-drill"] = ("cron(0 6 * * ? *)", "ENABLED")
    scheduler.scheduled("us-east-1", "daily-drill", "cron(0 6 * * ? *)")
    aws.clock.advance(DAY)  # fires 01-06 06:00
    aws.router.schedules["daily-drill"] = ("cron(0 6 * * ? *)", "DISABLED")
    aws.clock.advance(DAY)  # 01-07 06:00 skipped
    del aws.router.schedules["daily-drill"]
    aws.clock.advance(DAY)  # nothing more
    assert [(f["at"], f["delivered"]) for f in scheduler.firings] == [
        (datetime(2026, 1, 6, 6, 0, tzinfo=UTC), True),
        (datetime(2026, 1, 7, 6, 0, tzinfo=UTC), False),
    ]
    ((rule, event),) = aws.router.delivered
    assert (rule, event["detail-type"], event["source"], event["time"], event["resources"], event["detail"]) == (
        "daily-drill",
        "Scheduled Event",
        "aws.events",
        "2026-01-06T06:00:00Z",
        ["arn:aws:events:us-east-1:123456789012:rule/daily-drill"],
        {},
    )


# --- status checks ----------------------------------------------------------------------------------------------------


def test_status_checks_initialize_then_pass_or_fail_as_injected() -> None:
    aws = account()
    aws.world.status_check_seconds = 180
    checks = ["system"]
    aws.ec2.take_instance_fault = lambda: checks.pop() if checks else None
    aws.ec2.instance_launched("i-0bad")
    aws.ec2.instance_launched("i-0good")
    early = aws.ec2.status_checks("i-0good")
    aws.clock.advance(180)
    assert early == ({"Status": "initializing", "Details": [{"Name": "reachability", "Status": "initializing"}]},) * 2
    assert aws.ec2.status_checks("i-0good") == ({"Status": "ok", "Details": [{"Name": "reachability", "Status": "passed"}]},) * 2
    system, instance = aws.ec2.status_checks("i-0bad") or ({}, {})
    impaired_since = datetime(2026, 1, 5, 9, 3, tzinfo=UTC)
    assert (system, instance["Status"]) == (
        {"Status": "impaired", "Details": [{"Name": "reachability", "Status": "failed", "ImpairedSince": impaired_since}]},
        "ok",
    )
    assert aws.ec2.status_checks("i-0unknown") is None


def test_the_archive_sides_history_is_not_announced_now() -> None:
    # Given a bucket sending its events, an AMI stored 120 days ago (the facade's archive_ami) and an object made as it
    # was long ago (its class set by a copy standing for a lifecycle transition)
    aws = account(("ami-0web", WEB))
    aws.s3.eventbridge_since["archive"] = START
    aws.ec2.store_image("us-east-1", "ami-0web", "archive", {}, started_at=START - timedelta(days=120))
    aws.s3.history.add(("archive", "ami-0old.bin"))
    aws.s3.object_created("archive", "ami-0old.bin", "CopyObject")
    # Then both objects exist as they should, and no Object Created event went out now
    assert (aws.objects.storage_class("archive", "ami-0web.bin"), aws.events("Object Created")) == ("STANDARD", [])
