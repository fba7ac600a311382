"""`glacier-ami-restore drill run | status | history` against the emulator server (its stack drills OWN_BUCKET): a drill
that passes and one that finds nothing to drill, read back as the operator reads them. One test runs both drills (one
drill at a time per stack), so that no test depends on another having run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cli.support import DRILL_AMI, OWN_BUCKET, Server, run

pytestmark = pytest.mark.long  # run first (tests/conftest.py)


def kept_reports(server: Server) -> dict[str, dict[str, Any]]:
    """The reports the stack's Record Drill Results kept, read with a plain SDK client: drill ARN -> report."""
    outputs = server.client("cloudformation").describe_stacks(StackName="glacier-ami-restore")["Stacks"][0]["Outputs"]
    table = {o["OutputKey"]: o["OutputValue"] for o in outputs}["DrillResultsTableName"]
    items = server.client("dynamodb").scan(TableName=table)["Items"]
    reports = [json.loads(i["report"]["S"]) for i in items if i["kind"]["S"] == "drill"]
    return {r["drill"]: r for r in reports}


def test_drills_run_are_shown_by_status_and_history_with_their_measured_times(server: Server) -> None:
    endpoint = ("--endpoint-url", server.endpoint)
    # Given the stack's drill bucket holding DRILL_AMI (8 GB, GLACIER)
    # When the operator runs a drill of it and waits, then one whose glob matches nothing
    passed = run(*endpoint, "drill", "run", "--name", "drill-server-*", "--wait", "--interval", "0.05")
    failed = run(*endpoint, "drill", "run", "--name", "no-such-*", "--wait", "--interval", "0.05", "--output", "json")
    # Then the first passed (exit 0): its restore, Bulk by default, and the outcome read from the kept report
    assert (passed.exit_code, passed.stderr) == (0, "")
    first = json.loads(failed.stdout)  # (the second, as JSON)
    reports = kept_reports(server)
    (mine,) = [r for r in reports.values() if r["archives"] and r["archives"][0]["amiName"] == DRILL_AMI]
    (archive,) = mine["archives"]
    assert (mine["passed"], archive["storageClass"], archive["tier"], mine["cleanup"]["clean"]) == (True, "GLACIER", "Bulk", True)
    name = mine["drill"].rsplit(":", 1)[1]
    lines = passed.stdout.splitlines()
    assert lines[0] == f"Drill:    {name}" and lines[1] == "Status:   SUCCEEDED"
    assert lines[4] == "Asked:    amiName drill-server-*, selection random, count 1, tier Bulk, bootCheck False"
    total, copy, image = (f"{archive['hours'][k]:.2f} h" for k in ("total", "copy", "image"))
    row = next(line for line in lines if line.startswith(DRILL_AMI)).split()
    assert row == [DRILL_AMI, "GLACIER", "Bulk", "SUCCEEDED", "done", "PASSED", *total.split(), *copy.split(), *image.split()]
    assert f"Outcome: PASSED; cost about ${mine['costUsd']:.4f}; nothing left in AWS" in lines
    # And the second failed (exit 1) with Choose Archives' error, before any restore; the refusal is on stderr
    assert (failed.exit_code, first["status"], first["error"], first["restores"]) == (1, "FAILED", "NoArchiveToDrillError", [])
    assert failed.stderr == (
        "glacier-ami-restore: drill FAILED: NoArchiveToDrillError: ChooseArchives: nothing to drill for amiName 'no-such-*' in "
        f"{OWN_BUCKET}: no archived AMI matches it\n"
    )

    # When the operator asks for the status of the newest drill, and of the first by its name
    newest = run(*endpoint, "drill", "status")
    by_name = run(*endpoint, "drill", "status", name, "--output", "json")
    # Then the newest is the failed one (exit 1), the first its recorded report (exit 0)
    assert (newest.exit_code, newest.stdout.splitlines()[1]) == (1, "Status:   FAILED")
    assert (by_name.exit_code, json.loads(by_name.stdout)["report"]) == (0, mine)

    # When the operator asks for the history
    history = run(*endpoint, "drill", "history", "--output", "json")
    table = run(*endpoint, "drill", "history")
    # Then both drills, newest first, with the facts of the kept reports, and the trend of the one class and tier measured
    rows = json.loads(history.stdout)["drills"]
    assert [(r["name"], r["status"], r["passed"], r["error"]) for r in rows] == [
        (first["name"], "FAILED", False, "NoArchiveToDrillError"),
        (name, "SUCCEEDED", True, None),
    ]
    assert rows[1]["archives"] == [{"amiName": DRILL_AMI, "recoveryPoint": f"s3://{OWN_BUCKET}/{server.own[DRILL_AMI]}",
                                    "storageClass": "GLACIER", "tier": "Bulk", "passed": True, "hours": archive["hours"],
                                    "imageId": archive["imageId"]}]  # fmt: skip
    hours = archive["hours"]["total"]
    assert json.loads(history.stdout)["trend"] == [
        {"storageClass": "GLACIER", "tier": "Bulk", "restores": 1, "minHours": hours, "medianHours": hours, "maxHours": hours,
         "lastHours": [hours]}
    ]  # fmt: skip
    text = table.stdout.splitlines()
    assert (table.exit_code, text[0].split()) == (
        0,
        ["STARTED", "DRILL", "OUTCOME", "ARCHIVE", "CLASS", "TIER", "TOTAL", "COPY", "IMAGE", "COST"],
    )
    assert [line.split()[2:5] for line in text[2:4]] == [
        [first["name"], "FAILED", "NoArchiveToDrillError"],
        [name, "PASSED", DRILL_AMI],
    ]
    assert text[-1].split() == ["GLACIER", "Bulk", "1", *[f"{hours:.2f}", "h"] * 3, f"{hours:.2f}"]


def test_bad_drill_input_is_refused_before_any_aws_call(server: Server) -> None:
    # Given an empty glob, and a count over the stack's 10 / When the operator runs them / Then exit 2, one line each
    empty = run("--endpoint-url", server.endpoint, "drill", "run", "--name", "")
    many = run("--endpoint-url", server.endpoint, "drill", "run", "--count", "11")
    assert (empty.exit_code, empty.stdout, empty.stderr) == (
        2, "", "glacier-ami-restore: --name must be a glob of 1-128 characters (* and ? as wildcards)\n")  # fmt: skip
    assert (many.exit_code, many.stdout) == (2, "")
    assert many.stderr.startswith("glacier-ami-restore: Invalid value for '--count': 11 is not in the range 1<=x<=10.")
