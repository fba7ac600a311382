"""The world's S3 and EC2 models alone, with the account's objects and images kept in plain dictionaries: no moto, no
API, only what AWS documents (emulator/world/facts.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from emulator.world.clock import VirtualClock
from emulator.world.draws import World
from emulator.world.ec2 import EC2Model, ImageFacts
from emulator.world.errors import AWSError
from emulator.world.s3 import S3Model

HOUR, GB = 3600, 10**9
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Objects:
    def __init__(self) -> None:
        self.stored: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}

    def storage_class(self, bucket: str, key: str) -> str | None:
        found = self.stored.get((bucket, key))
        return found[0] if found else None

    def etag(self, bucket: str, key: str) -> str:
        return "etag"

    def tags(self, bucket: str, key: str) -> dict[str, str]:
        return self.stored[(bucket, key)][1]

    def put(self, bucket: str, key: str, tags: dict[str, str], reason: str) -> None:
        self.stored[(bucket, key)] = ("STANDARD", tags)


class Images:
    def __init__(self) -> None:
        self.images: dict[str, dict[str, object]] = {"ami-0source": {"name": "web", "state": "available"}}

    def describe(self, region: str, image_id: str) -> ImageFacts:
        return ImageFacts(str(self.images[image_id]["name"]), "web backup", "2025-09-01T00:00:00.000Z", "123456789012")

    def name_taken(self, region: str, name: str) -> bool:
        return any(i["name"] == name for i in self.images.values())

    def register(self, region: str, name: str, description: str, size_bytes: int, tags: dict[str, dict[str, str]]) -> str:
        image_id = f"ami-{len(self.images):017d}"
        self.images[image_id] = {"name": name, "state": "pending"}
        return image_id

    def exists(self, region: str, image_id: str) -> bool:
        return image_id in self.images

    def set_state(self, region: str, image_id: str, state: str, reason: dict[str, str] | None) -> None:
        self.images[image_id]["state"] = state

    def deregister(self, region: str, image_id: str) -> None:
        del self.images[image_id]

    def snapshot_images(self, region: str, snapshot_id: str) -> list[str]:
        return []

    def delete_snapshot(self, region: str, snapshot_id: str) -> None:
        pass


@pytest.fixture
def world() -> tuple[VirtualClock, S3Model, EC2Model, Objects, Images]:
    clock, world, objects, images = VirtualClock(START), World(seed=1), Objects(), Images()
    s3 = S3Model(world, clock, objects)
    return clock, s3, EC2Model(world, clock, s3, images, "123456789012"), objects, images


def test_a_restore_answers_202_then_409_then_200_and_its_copy_expires_at_midnight(
    world: tuple[VirtualClock, S3Model, EC2Model, Objects, Images],
) -> None:
    clock, s3, _, objects, _ = world
    objects.stored[("b", "ami-1.bin")] = ("DEEP_ARCHIVE", {})
    s3.world.restore_seconds["ami-1.bin"] = 10 * HOUR
    # When restored, asked again while it runs, and asked again once readable (2 days)
    answers = [s3.restore_object("b", "ami-1.bin", "DEEP_ARCHIVE", 1, "Bulk")]
    with pytest.raises(AWSError) as in_progress:
        s3.restore_object("b", "ami-1.bin", "DEEP_ARCHIVE", 1, "Bulk")
    clock.advance(10 * HOUR)
    readable = s3.is_readable("b", "ami-1.bin", "DEEP_ARCHIVE")
    answers.append(s3.restore_object("b", "ami-1.bin", "DEEP_ARCHIVE", 2, "Bulk"))
    # Then 202, 409 RestoreAlreadyInProgress, readable after 10 h, 200; the copy now lives to the midnight 2 days on
    assert (answers, in_progress.value.code, in_progress.value.http_status, readable) == ([202, 200], "RestoreAlreadyInProgress", 409, True)
    found = s3.restore("b", "ami-1.bin")
    assert found is not None and found.expiry == datetime(2026, 1, 8, tzinfo=UTC)
    clock.advance(3 * 24 * HOUR)
    assert (s3.restore("b", "ami-1.bin"), s3.is_readable("b", "ami-1.bin", "DEEP_ARCHIVE")) == (None, False)


def test_expedited_is_refused_for_deep_archive_and_a_readable_object_needs_no_restore(
    world: tuple[VirtualClock, S3Model, EC2Model, Objects, Images],
) -> None:
    _, s3, _, objects, _ = world
    objects.stored[("b", "deep.bin")], objects.stored[("b", "ir.bin")] = ("DEEP_ARCHIVE", {}), ("GLACIER_IR", {})
    errors = []
    for key, storage_class, tier in (("deep.bin", "DEEP_ARCHIVE", "Expedited"), ("ir.bin", "GLACIER_IR", "Standard")):
        with pytest.raises(AWSError) as refused:
            s3.restore_object("b", key, storage_class, 1, tier)
        errors.append((refused.value.code, refused.value.http_status))
    assert errors == [("InvalidArgument", 400), ("ObjectAlreadyInActiveTierError", 403)]


def test_image_restores_over_the_quota_are_refused_unless_nothing_else_runs(
    world: tuple[VirtualClock, S3Model, EC2Model, Objects, Images],
) -> None:
    clock, s3, ec2, objects, images = world
    for key, gb in (("ami-a.bin", 500), ("ami-b.bin", 200), ("ami-c.bin", 900)):
        objects.stored[("b", key)] = ("STANDARD", {"ami-name": key})
        s3.world.sizes[key], s3.world.image_seconds[key] = gb * GB, HOUR
    # When 500 GB restore, then 200 GB more (700 > 600 GB in flight), then, once the first is done, 900 GB alone
    first = ec2.restore_image("us-east-1", "b", "ami-a.bin", "first", [])
    with pytest.raises(AWSError) as over:
        ec2.restore_image("us-east-1", "b", "ami-b.bin", "second", [])
    clock.advance(HOUR)
    ec2.settle_images("us-east-1")
    alone = ec2.restore_image("us-east-1", "b", "ami-c.bin", "third", [])
    # Then the second is refused ResourceLimitExceeded, the first is available, the third (larger than the quota) runs
    assert (over.value.code, images.images[first]["state"], images.images[alone]["state"]) == (
        "ResourceLimitExceeded",
        "available",
        "pending",
    )
    assert ec2.in_flight_bytes("us-east-1") == 900 * GB


def test_a_store_task_writes_its_object_with_the_amis_tags_when_it_completes(
    world: tuple[VirtualClock, S3Model, EC2Model, Objects, Images],
) -> None:
    clock, _, ec2, objects, _ = world
    ec2.world.sizes["ami-0source.bin"] = 100 * GB  # 100 GB at 100 MB/s after 2 min: 1,120 s
    key = ec2.store_image("us-east-1", "ami-0source", "archive", {"vault": "daily"})
    written_at_once = objects.storage_class("archive", key)
    clock.advance(1120)
    ec2.settle_store_tasks()
    assert (key, written_at_once, objects.storage_class("archive", key)) == ("ami-0source.bin", None, "STANDARD")
    assert objects.tags("archive", key) == {
        "ami-name": "web", "ami-description": "web backup", "ami-creation-date": "2025-09-01T00:00:00.000Z",
        "ami-owner-id": "123456789012", "ami-store-date": "2026-01-05T09:00:00+00:00", "vault": "daily",
    }  # fmt: skip
