"""The emulated world against AWS's documented behaviour (emulator/world.py, s3.py, ec2.py, stepfunctions.py)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from emulator.facade import Emulator
from emulator.world import World
from tests.support import BUCKET

HOUR, GB = 3600, 10**9


def test_sizes_are_gigabytes_to_terabytes_and_the_same_for_a_seed() -> None:
    # Given 2,000 keys / Then every size lies in 8 GB - 4 TB, each decade is well represented, and a seed repeats itself
    world, again, other = World(seed=1), World(seed=1), World(seed=2)
    sizes = [world.object_size(f"ami-{n:017x}.bin") for n in range(2000)]
    assert min(sizes) >= 8 * GB and max(sizes) <= 4000 * GB
    assert [sum(1 for s in sizes if low * GB <= s < high * GB) > 300 for low, high in ((8, 80), (80, 800), (800, 4000))] == [True] * 3
    assert sizes[:5] == [again.object_size(f"ami-{n:017x}.bin") for n in range(5)]
    assert sizes[:5] != [other.object_size(f"ami-{n:017x}.bin") for n in range(5)]


@pytest.mark.parametrize(
    "family, tier, low, high",
    [("GLACIER", "Standard", 3 * HOUR, 5 * HOUR), ("GLACIER", "Bulk", 5 * HOUR, 12 * HOUR), ("DEEP_ARCHIVE", "Bulk", 12 * HOUR, 48 * HOUR)],
)
def test_restore_times_spread_across_and_beyond_aws_windows(family: str, tier: str, low: int, high: int) -> None:
    # Given 1,000 restores / Then about 10 % finish before the window (or its assumed start), 15 % after it
    world = World(seed=3)
    times = [world.restore_duration(f"ami-{n:017x}.bin", family, tier) for n in range(1000)]
    early, late = sum(1 for t in times if t < low), sum(1 for t in times if t > high)
    assert (70 <= early <= 130, 120 <= late <= 180) == (True, True)
    assert min(times) >= 0.2 * low and max(times) <= 1.5 * high
    if family == "DEEP_ARCHIVE":
        assert min(times) < 4 * HOUR  # no documented lower bound: a Deep Archive Bulk restore may finish in hours


def test_expedited_scales_with_the_size() -> None:
    # AWS: objects over 250 MB come back at up to 300 MB/s; the world draws 100-300 MB/s
    world = World(seed=4)
    world.sizes.update({"small.bin": 200 * 10**6, "large.bin": 2000 * GB})
    assert world.restore_duration("small.bin", "GLACIER", "Expedited") <= 5 * 60 * 1.5
    assert 2000 * GB / (300 * 10**6) <= world.restore_duration("large.bin", "GLACIER", "Expedited") <= 7.5 * 60 + 2000 * GB / (100 * 10**6)


def test_head_and_list_show_the_size_and_the_restore_status(aws: Emulator) -> None:
    key = aws.archive_ami("web-server", BUCKET, "GLACIER", size_gb=120)
    aws.world.restore_seconds[key] = 4 * HOUR
    s3 = aws.client("s3")
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == 120 * GB
    s3.restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Standard"}})
    listed = s3.list_objects_v2(Bucket=BUCKET, OptionalObjectAttributes=["RestoreStatus"])["Contents"]
    assert [(o["Size"], o["RestoreStatus"]) for o in listed] == [(120 * GB, {"IsRestoreInProgress": True})]
    aws.clock.advance(4 * HOUR)
    (done,) = s3.list_objects_v2(Bucket=BUCKET, OptionalObjectAttributes=["RestoreStatus"])["Contents"]
    assert done["RestoreStatus"] == {"IsRestoreInProgress": False, "RestoreExpiryDate": datetime(2026, 1, 7, tzinfo=UTC)}
    assert "RestoreStatus" not in s3.list_objects_v2(Bucket=BUCKET)["Contents"][0]  # only when asked for


def test_the_copy_expires_at_completion_plus_days_and_a_reissue_moves_it(aws: Emulator) -> None:
    # Given a restore requested at 09:00 on Jan 5 that completes at 21:00 (12 h), Days 1
    key = aws.archive_ami("web-server", BUCKET, "DEEP_ARCHIVE")
    aws.world.restore_seconds[key] = 12 * HOUR
    s3 = aws.client("s3")
    request = {"Days": 1, "GlacierJobParameters": {"Tier": "Standard"}}
    assert s3.restore_object(Bucket=BUCKET, Key=key, RestoreRequest=request)["ResponseMetadata"]["HTTPStatusCode"] == 202
    aws.clock.advance(12 * HOUR)
    # Then it expires at completion + 1 day, rounded up to midnight UTC: 00:00 on Jan 7
    assert s3.head_object(Bucket=BUCKET, Key=key)["Restore"] == 'ongoing-request="false", expiry-date="Wed, 07 Jan 2026 00:00:00 GMT"'
    # When RestoreObject is reissued at 09:00 on Jan 6 with Days 2 / Then 200, and the expiry is now + 2 days: Jan 9
    aws.clock.advance(12 * HOUR)
    again = s3.restore_object(Bucket=BUCKET, Key=key, RestoreRequest={**request, "Days": 2})
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.head_object(Bucket=BUCKET, Key=key)["Restore"] == 'ongoing-request="false", expiry-date="Fri, 09 Jan 2026 00:00:00 GMT"'
    # When the copy expires / Then the object is archived again: no Restore header, GET refused
    aws.clock.advance(3 * 24 * HOUR)
    assert "Restore" not in s3.head_object(Bucket=BUCKET, Key=key)
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=BUCKET, Key=key)
    assert refused.value.response["Error"]["Code"] == "InvalidObjectState"


def test_an_image_restore_still_reading_an_expired_copy_fails_with_a_reason(aws: Emulator) -> None:
    # Given a copy readable until 00:00 on Jan 7 and an image restore of it that takes 48 h
    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    aws.world.restore_seconds[key], aws.world.image_seconds[key] = HOUR, 48 * HOUR
    s3, ec2 = aws.client("s3"), aws.client("ec2")
    s3.restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Standard"}})
    aws.clock.advance(HOUR)
    image_id = ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey=key, Name="reader")["ImageId"]
    # When the copy expires under it / Then the image ends failed with EC2's StateReason
    aws.clock.advance(40 * HOUR)
    (image,) = ec2.describe_images(ImageIds=[image_id])["Images"]
    assert (image["State"], image["StateReason"]["Message"]) == (
        "failed",
        f"The restore task could not read s3://{BUCKET}/{key}: the object is archived or its restored copy expired",
    )


def test_an_image_restore_that_finished_before_the_copy_expired_stays_available(aws: Emulator) -> None:
    # Given an image restore of 2 h on a copy expiring at 00:00 on Jan 7, first looked at only after the expiry (and
    # after S3 dropped the expired copy on a read)
    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    aws.world.restore_seconds[key], aws.world.image_seconds[key] = HOUR, 2 * HOUR
    s3, ec2 = aws.client("s3"), aws.client("ec2")
    s3.restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Standard"}})
    aws.clock.advance(HOUR)
    image_id = ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey=key, Name="early-reader")["ImageId"]
    aws.clock.advance(3 * 24 * HOUR)
    assert "Restore" not in s3.head_object(Bucket=BUCKET, Key=key)
    # Then the image is available: it had read the copy to the end before it expired
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["State"] == "available"


def test_head_errors_have_no_body(aws: Emulator) -> None:
    # S3 answers HEAD errors without a body: botocore reports the HTTP status as the code, not NoSuchKey / SlowDown
    s3 = aws.client("s3")
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=BUCKET, Key="ami-00000000000000000.bin")
    aws.faults.request("s3.HeadObject", "SlowDown", 503, times=10)  # more than the client's retries
    key = aws.archive_ami("web-server", BUCKET, "GLACIER")
    with pytest.raises(ClientError) as throttled:
        s3.head_object(Bucket=BUCKET, Key=key)
    assert (missing.value.response["Error"]["Code"], throttled.value.response["Error"]["Code"]) == ("404", "503")


def test_ami_names_are_unique_among_the_accounts_own_amis_only(aws: Emulator) -> None:
    key = aws.archive_ami("web-server", BUCKET, "GLACIER_IR", size_gb=8)  # two restores stay under the quota
    ec2 = aws.client("ec2")
    public = next(i for i in ec2.describe_images()["Images"] if i["OwnerId"] != aws.account_id)  # moto's public AMIs
    assert ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey=key, Name=public["Name"])["ImageId"].startswith("ami-")
    with pytest.raises(ClientError) as taken:
        ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey=key, Name=public["Name"])
    assert taken.value.response["Error"]["Code"] == "InvalidAMIName.Duplicate"


def test_a_store_task_writes_its_object_when_it_completes_and_only_once(aws: Emulator) -> None:
    # Given a 100 GB AMI stored now (2 min + 100 GB at 100 MB/s = 1,120 s)
    ec2, s3 = aws.client("ec2"), aws.client("s3")
    image_id = ec2.register_image(Name="fresh-server", Description="x")["ImageId"]
    aws.world.sizes[f"{image_id}.bin"] = 100 * GB
    key = ec2.create_store_image_task(ImageId=image_id, Bucket=BUCKET)["ObjectKey"]
    # Then the object is not there before the task completes, and is after it, with the AMI's name in its tags
    assert [t["StoreTaskState"] for t in ec2.describe_store_image_tasks(ImageIds=[image_id])["StoreImageTaskResults"]] == ["InProgress"]
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    aws.clock.advance(1120)
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == 100 * GB
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}
    assert (tags["ami-name"], tags["ami-store-date"]) == ("fresh-server", "2026-01-05T09:00:00+00:00")
    with pytest.raises(ClientError) as again:
        ec2.create_store_image_task(ImageId=image_id, Bucket=BUCKET)
    assert again.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_the_image_restore_quota_is_counted_in_gb_and_rejects_at_once(aws: Emulator) -> None:
    # Given 600 GB of quota and 250 GB AMIs / Then two run at once, the third is refused until one finishes
    keys = [aws.archive_ami(f"db-{n}", BUCKET, "GLACIER_IR", size_gb=250) for n in range(3)]
    for key in keys:
        aws.world.image_seconds[key] = HOUR
    ec2 = aws.client("ec2")
    ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey=keys[0], Name="db-0-restored")
    ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey=keys[1], Name="db-1-restored")
    with pytest.raises(ClientError) as over:
        ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey=keys[2], Name="db-2-restored")
    assert over.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    aws.clock.advance(HOUR)
    assert ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey=keys[2], Name="db-2-restored")["ImageId"].startswith("ami-")


def test_a_task_larger_than_the_whole_quota_runs_alone(aws: Emulator) -> None:
    # AWS documents AMIs up to 5,000 GB, so a 2 TB restore must be possible under a 600 GB quota: admitted when alone
    big, small = aws.archive_ami("big", BUCKET, "GLACIER_IR", size_gb=2000), aws.archive_ami("small", BUCKET, "GLACIER_IR", size_gb=8)
    ec2 = aws.client("ec2")
    assert ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey=big, Name="big-restored")["ImageId"].startswith("ami-")
    with pytest.raises(ClientError):
        ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey=small, Name="small-restored")


def test_start_execution_without_a_name_gets_a_uuid(aws: Emulator) -> None:
    stack = aws.deploy()
    arns = [aws.start(stack, {"recoveryPoint": "x"}) for _ in range(2)]
    names = [a.rsplit(":", 1)[1] for a in arns]
    assert names[0] != names[1] and all(re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", n) for n in names)


def test_two_emulators_in_one_process_share_nothing_but_the_time() -> None:
    # Given two emulators of different accounts, open at once, one with a fault, an archive and a pinned world (the
    # process has one time, so the second runs on the first one's clock; a clock of its own is refused)
    with Emulator(seed=1), pytest.raises(RuntimeError, match="another virtual clock already drives this process's time"):
        Emulator(seed=2, account_id="210987654321").__enter__()
    with Emulator(seed=1) as first, Emulator(seed=2, account_id="210987654321", clock=first.clock) as second:
        first.client("s3").create_bucket(Bucket=BUCKET)
        key = first.archive_ami("web-server", BUCKET, "GLACIER", size_gb=50)
        first.faults.request("s3.HeadObject", "SlowDown", 503, times=5)
        # Then the second sees none of it: no bucket, no fault, no sizes, no restores, no requests counted
        s3 = second.client("s3")
        assert s3.list_buckets()["Buckets"] == []
        s3.create_bucket(Bucket="second-archive")  # bucket names are global on AWS too
        assert s3.list_objects_v2(Bucket="second-archive")["KeyCount"] == 0
        assert (second.world.sizes, second.faults.requests, second.s3.restores, second.requests["s3.HeadObject"]) == ({}, [], {}, 0)
        # and the first still has its own
        with pytest.raises(ClientError):
            first.client("s3").head_object(Bucket=BUCKET, Key=key)
        assert (first.requests["s3.HeadObject"], first.world.sizes[key]) == (5, 50 * GB)  # the client's 5 attempts
        assert second.client("sts").get_caller_identity()["Account"] == "210987654321"
        assert json.dumps(first.client("sts").get_caller_identity()["Account"]) == '"123456789012"'
