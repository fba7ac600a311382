"""The command line's tests share one emulator server per worker (helpers: tests/cli/support.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.cli.support import BACKUPS, DRILL_AMI, OWN_AMIS, OWN_BUCKET, Server
from tests.support import emulator_server


@pytest.fixture(scope="session")  # one per worker for every module here: it takes 5 to 10 s to start
def server() -> Iterator[Server]:
    # The AMIs restores in these tests use, archived in a bucket of their own (as the archive side did months ago),
    # so the samples stay as listed
    # The archive side too, for vault "daily" (ArchiveAfterDays at its largest: the daily schedule, which the virtual
    # clock may reach, archives nothing; tests start runs by hand), with an old and a young recovery point; and one AMI
    # for the drills, which restore from the same bucket
    archive_side = ["--archive-vaults=daily", "--archive-after-days=36500", *(f"--backup=daily/{n}/8/{d}" for n, d in BACKUPS.items())]
    archived = [f"--archive={OWN_BUCKET}/{name}/GLACIER/80" for name in OWN_AMIS] + [f"--archive={OWN_BUCKET}/{DRILL_AMI}/GLACIER/8"]
    with emulator_server(*archived, *archive_side, f"--parameter=DrillBucketName={OWN_BUCKET}") as process:
        banner = process.banner
        found = re.search(r"state machine: (\S+)", banner)
        assert found is not None
        keys = {m.group(2): m.group(1) for m in re.finditer(r"s3://my-ami-archive/(\S+)  (\S+)(?:  [^\n]*)?\n", banner)}
        assert len(keys) == 4, banner
        own = {m.group(2): m.group(1) for m in re.finditer(rf"s3://{OWN_BUCKET}/(\S+)  GLACIER  \d+ GB  (\S+)\n", banner)}
        assert sorted(own) == sorted([*OWN_AMIS, DRILL_AMI]), banner
        archive_bucket = re.search(r"archive bucket: (\S+)", banner)
        points = {m.group(2): m.group(1) for m in re.finditer(r"recovery point (\S+)  daily  8 GB  \d+ days old  (\S+)\n", banner)}
        assert archive_bucket is not None and sorted(points) == sorted(BACKUPS), banner
        yield Server(process.endpoint, found.group(1), keys, own, banner, process.printed, archive_bucket.group(1), points)
