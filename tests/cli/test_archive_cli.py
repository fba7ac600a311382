"""The archive side's command line against the emulator server (issue 22): `archive list | run | status`, and the restore
side reading what the archive side wrote (`list` names the vault and recovery point, `restore` takes its ARN).

The server deploys the archive side for vault "daily" with two AWS Backup EC2 recovery points, 40 and 3 days old
(tests/cli/conftest.py). One scenario in order, so no test depends on another having run."""

from __future__ import annotations

import json

import pytest

from tests.cli.support import Server, run

pytestmark = pytest.mark.long  # run first (tests/conftest.py)

OLD, YOUNG = "ledger-2025-11", "ledger-2026-01"


def test_archive_a_recovery_point_then_list_and_restore_it_by_its_arn(server: Server) -> None:
    endpoint = ("--endpoint-url", server.endpoint)
    old, young = server.points[OLD], server.points[YOUNG]
    key = f"{old.rsplit('/', 1)[1]}.bin"
    # Given the vault's two recovery points, neither archived
    before = run(*endpoint, "archive", "list", "--vault", "daily", "--output", "json")
    assert before.exit_code == 0, before.stderr
    assert [(p["recoveryPointArn"], p["backupStatus"], p["archiveStatus"], p["sizeBytes"]) for p in json.loads(before.stdout)] == [
        (old, "COMPLETED", "not archived", 8 * 2**30),
        (young, "COMPLETED", "not archived", 8 * 2**30),
    ]
    # When the operator archives points older than 30 days and waits
    ran = run(*endpoint, "archive", "run", "--older-than-days", "30", "--wait", "--interval", "0.05", "--output", "json")
    # Then the old one is archived into the stack's bucket, verified and tagged; the young one is left
    summary = json.loads(ran.stdout)
    assert (ran.exit_code, ran.stderr, summary["status"], summary["input"]) == (0, "", "SUCCEEDED", {"olderThanDays": 30})
    assert [(a["recoveryPointArn"], a["bucket"], a["key"]) for a in summary["archived"]] == [(old, server.archive_bucket, key)]
    after = run(*endpoint, "archive", "list", "--output", "json")
    statuses = {p["recoveryPointArn"]: (p["archiveStatus"], p["archivedTo"]) for p in json.loads(after.stdout)}
    assert statuses == {old: ("archived", f"s3://{server.archive_bucket}/{key}"), young: ("not archived", None)}
    # And `archive status` of that run says the same, in one line per point
    status = run(*endpoint, "archive", "status", summary["executionArn"])
    assert (status.exit_code, status.stdout.splitlines()) == (0, [
        f"Archive run {summary['name']}: SUCCEEDED (1 archived, 0 skipped, 0 failed, 0 archived before, 0 left for the next run)",
        f"  archived: {old} s3://{server.archive_bucket}/{key}",
    ])  # fmt: skip
    # When the restore side lists the archive bucket / Then the AMI names the vault and the recovery point it came from
    listed = run(*endpoint, "list", "--bucket", server.archive_bucket, "--output", "json")
    ((ami,),) = [[a for a in json.loads(listed.stdout) if a["key"] == key]]
    assert (ami["name"], ami["vault"], ami["recoveryPointArn"], ami["storageClass"]) == (OLD, "daily", old, "STANDARD")
    table = run(*endpoint, "list", "--bucket", server.archive_bucket).stdout.splitlines()
    assert table[0].split() == ["NAME", "IMAGE", "ID", "ARCHIVED", "SIZE", "CLASS", "RESTORE", "BUCKET", "VAULT", "RECOVERY", "POINT"]
    assert any(line.split()[0] == OLD and line.split()[-2:] == ["daily", old] for line in table[2:])
    # And `restore` takes the recovery point's ARN: it starts the restore of that object
    restored = run(*endpoint, "restore", old, "--output", "json")
    assert restored.exit_code == 0, restored.stderr
    assert json.loads(restored.stdout)["input"] == {
        "recoveryPoint": key, "recoveryPointBucket": server.archive_bucket, "restoreRequestDays": "1", "restoreRequestTier": "Standard",
    }  # fmt: skip
    # And a recovery point nothing was stored from is refused, saying where to look
    missing = run(*endpoint, "restore", young)
    assert (missing.exit_code, missing.stdout) == (2, "")
    assert missing.stderr == (
        f"glacier-ami-restore: no archived AMI was stored from recovery point {young}: run `glacier-ami-restore list` "
        "(its RECOVERY POINT column) or `glacier-ami-restore archive list`\n"
    )


def test_archive_run_refuses_a_bad_age_before_any_aws_call() -> None:
    # Given no server at all (a call would fail to connect) / When the age is out of range / Then exit 2, one line
    result = run("--endpoint-url", "http://127.0.0.1:9", "archive", "run", "--older-than-days", "-1")
    assert (result.exit_code, result.stdout, result.stderr) == (
        2, "", "glacier-ami-restore: --older-than-days must be a whole number from 0 to 36500\n",
    )  # fmt: skip
