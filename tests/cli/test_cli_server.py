"""The command line against the emulator server over HTTP, as an operator runs it against AWS.

One server per worker, shared with the other CLI modules (its executions run on the virtual clock: a 4 h restore
takes a fraction of a second). No test depends on another having run: pytest-xdist may split the module. Restores use AMIs the fixture
archived in a bucket of its own, so the samples stay as the golden files show them. UPDATE_GOLDEN=1 rewrites the
golden files (then read the diff).
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from datetime import UTC
from typing import Any

import pytest

from glacier_ami_restore import archive, aws, cli, workflow
from tests.cli.support import FAKE, ISOLATED, OWN_BUCKET, REGION, Server, golden, normalise_ids, run
from tests.support import ROOT

pytestmark = pytest.mark.long  # run first (tests/conftest.py)

SAMPLES = "my-ami-archive"  # the server's samples: only listed and estimated here, never restored
APP = "app-server-2024-11"  # the GLACIER sample
MAIL, DNS, NTP = "mail-server-2025-06", "dns-server-2025-03", "ntp-server-2025-02"  # archived by the fixture; restores use these
LOG, VPN = "log-server-2025-05", "vpn-server-2025-05"  # archived by the fixture; only the batch test restores them


def test_list_table_shows_the_samples_by_their_original_names(server: Server) -> None:
    # Given the server's four sample AMIs, archived at 2026-01-05 09:00 UTC on its virtual clock
    # When the operator lists their bucket
    result = run("--endpoint-url", server.endpoint, "list", "--bucket", SAMPLES)
    # Then each appears under its original name with id, date, size, class and restore status, sorted by name
    assert (result.exit_code, result.stderr) == (0, "")
    assert normalise_ids(result.stdout, server) == golden("list.txt", normalise_ids(result.stdout, server))


def test_list_json_has_the_documented_keys(server: Server) -> None:
    # Given the same archive
    # When it is listed as JSON, the endpoint given by AWS_ENDPOINT_URL (honoured by boto3 itself)
    result = run("list", "--bucket", SAMPLES, "--output", "json", env={"AWS_ENDPOINT_URL": server.endpoint})
    # Then the array matches the golden file, and the GLACIER sample reads exactly so
    assert (result.exit_code, result.stderr) == (0, "")
    listed = json.loads(result.stdout)
    assert normalise_ids(result.stdout, server) == golden("list.json", normalise_ids(result.stdout, server))
    assert listed[0] == {
        "name": APP,
        "imageId": server.keys["GLACIER"].removesuffix(".bin"),
        "bucket": SAMPLES,
        "key": server.keys["GLACIER"],
        "storageClass": "GLACIER",
        "archiveStatus": None,
        "sizeBytes": 120_000_000_000,
        "archivedAt": "2025-09-07T09:00:00Z",  # the store date tag: the sample was archived 120 days before the clock
        "description": f"{APP} backup",
        "restoreStatus": "archived",
        "restoreExpiry": None,
        "vault": None,  # stored before the archive side: no AWS Backup recovery point named in its tags
        "recoveryPointArn": None,
    }


def test_list_every_bucket_and_filters(server: Server) -> None:
    # Given the samples and the seven AMIs the server's fixture archived in a bucket of its own
    # When the operator lists every bucket, asks for the web servers, and for AMIs archived before 2026
    everything = run("--endpoint-url", server.endpoint, "--output", "json", "list")
    by_name = run("--endpoint-url", server.endpoint, "--output", "json", "list", "--name", "web-*")
    before = run("--endpoint-url", server.endpoint, "list", "--archived-before", "2000-01-01", "--output", "json")
    until = run("--endpoint-url", server.endpoint, "list", "--archived-before", "2100-01-01T00:00Z", "--output", "json")
    # Then all eleven are listed by name, one matches the pattern, none is that old and all are older than 2100 (the
    # archive side's bucket holds what archive runs of tests/cli/test_archive_cli.py stored, if they ran first)
    assert [(a["name"], a["bucket"]) for a in json.loads(everything.stdout) if a["bucket"] != server.archive_bucket] == [
        ("api-server-2025-04", OWN_BUCKET),
        (APP, SAMPLES),
        ("db-server-2023-06", SAMPLES),
        ("dns-server-2025-03", OWN_BUCKET),
        ("drill-server-2025-05", OWN_BUCKET),
        ("file-server-2022-09", SAMPLES),
        (LOG, OWN_BUCKET),
        (MAIL, OWN_BUCKET),
        (NTP, OWN_BUCKET),
        (VPN, OWN_BUCKET),
        ("web-server-2025-01", SAMPLES),
    ]
    assert [a["name"] for a in json.loads(by_name.stdout)] == ["web-server-2025-01"]
    until_listed = [a for a in json.loads(until.stdout) if a["bucket"] != server.archive_bucket]
    assert (before.exit_code, json.loads(before.stdout), len(until_listed)) == (0, [], 11)


def test_estimate_prices_each_allowed_tier(server: Server) -> None:
    # Given the GLACIER sample (120 GB) and the Deep Archive one (850 GB)
    # When the operator asks for an estimate of each
    glacier = run("--endpoint-url", server.endpoint, "estimate", APP)
    deep = run("--endpoint-url", server.endpoint, "estimate", "db-server-2023-06", "--days", "3", "--output", "json")
    # Then GLACIER offers Expedited, Standard and Bulk with time and cost, and names the fastest and the cheapest
    assert (glacier.exit_code, glacier.stderr) == (0, "")
    assert normalise_ids(glacier.stdout, server) == golden("estimate.txt", normalise_ids(glacier.stdout, server))
    # And Deep Archive offers no Expedited tier
    options = json.loads(deep.stdout)["options"]
    # 850 GB: AWS's window plus 850 GB at 300 MB/s (2,834 s) on the latest end
    assert [(o["tier"], o["restoreSeconds"]) for o in options] == [("Standard", [32400, 43200 + 2834]), ("Bulk", [86400, 172800 + 2834])]
    assert (json.loads(deep.stdout)["fastest"], json.loads(deep.stdout)["cheapest"]) == ("Standard", "Bulk")


def executions_of(server: Server, key: str) -> list[dict[str, Any]]:
    sfn = server.client("stepfunctions")
    found = []
    for execution in sfn.list_executions(stateMachineArn=server.state_machine)["executions"]:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if json.loads(described["input"]).get("recoveryPoint") == key:
            found.append(described)
    return found


def images_named(server: Server, name: str) -> list[dict[str, Any]]:
    images: list[dict[str, Any]] = server.client("ec2").describe_images(Owners=["self"])["Images"]
    return [i for i in images if i["Name"].startswith(f"{name}-restored-")]


def test_restore_waits_and_prints_the_new_ami(server: Server) -> None:
    # Given an AMI archived in GLACIER, known by its original name
    key = server.own[MAIL]
    # When the operator restores it with Standard and waits
    result = run("--endpoint-url", server.endpoint, "restore", MAIL, "--tier", "Standard", "--wait", "--interval", "0.05")
    # Then one execution ran, under the name derived from the request, with exactly the blog's payload
    assert (result.exit_code, result.stderr) == (0, "")
    [execution] = executions_of(server, key)
    assert re.fullmatch(rf"cli-{key.removesuffix('.bin')}-[0-9a-f]{{16}}", execution["name"])
    assert json.loads(execution["input"]) == {
        "recoveryPoint": key,
        "recoveryPointBucket": OWN_BUCKET,
        "restoreRequestDays": "1",
        "restoreRequestTier": "Standard",
    }
    # And the operator saw the execution, its console page, the stages and the new AMI (5 h 57 min in all: the seeded
    # world's restore and image-restore times for this 80 GB object; they follow its key, the AMI id, which moto draws
    # from the seed again after the deployment, whatever the template's size; its bucket sends no events, so the copy
    # is noticed by the polls, at most 10 % of the wait late)
    [image] = images_named(server, MAIL)
    assert image["State"] == "available"
    arn = execution["executionArn"]
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        f"Started the restore of {MAIL} (s3://{OWN_BUCKET}/{key}, GLACIER, Standard, 1 d).",
        f"Execution: {arn}",
        f"Console:   https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/{arn}",
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  done                  elapsed 5 h 57 min    SUCCEEDED", lines[-2])
    assert lines[-1] == f"AMI {image['ImageId']} is available (restored in 5 h 57 min)."


def test_the_same_restore_again_starts_nothing(server: Server) -> None:
    # Given a restore the operator ran
    key = server.own[DNS]
    first = run("--endpoint-url", server.endpoint, "restore", DNS, "--tier", "Bulk", "--days", "2", "--wait", "--interval", "0.05")
    # When the operator runs the very same command again
    again = run("--endpoint-url", server.endpoint, "restore", DNS, "--tier", "Bulk", "--days", "2", "--wait", "--interval", "0.05")
    # Then no execution and no AMI is added, and the existing restore is reported with its AMI
    [image] = images_named(server, DNS)
    assert (first.exit_code, again.exit_code, again.stderr, len(executions_of(server, key))) == (0, 0, "", 1)
    assert again.stdout.splitlines()[0] == (
        f"This restore of {DNS} (s3://{OWN_BUCKET}/{key}, GLACIER, Bulk, 2 d) was already started "
        "(SUCCEEDED): not starting another one (--again would)."
    )
    assert again.stdout.splitlines()[-1] == first.stdout.splitlines()[-1]
    assert re.fullmatch(rf"AMI {image['ImageId']} is available \(restored in \d+ h \d+ min\)\.", first.stdout.splitlines()[-1])


def test_status_and_history_by_name(server: Server) -> None:
    # Given a finished restore of the mail server (a request of its own: 3-day copy)
    restored = run("--endpoint-url", server.endpoint, "restore", MAIL, "--days", "3", "--wait", "--interval", "0.05")
    [execution] = [e for e in executions_of(server, server.own[MAIL]) if json.loads(e["input"])["restoreRequestDays"] == "3"]
    output = json.loads(execution["output"])
    # When the operator asks for its status by the AMI's name, and for the history
    status = run("--endpoint-url", server.endpoint, "status", MAIL, "--output", "json")
    history = run("--endpoint-url", server.endpoint, "history", "--output", "json")
    # Then both tell the outcome, the AMI, the class, the tier and the times the service recorded
    started, stopped = (execution[k].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for k in ("startDate", "stopDate"))
    seconds = int((execution["stopDate"] - execution["startDate"]).total_seconds())
    assert (restored.exit_code, status.exit_code, history.exit_code) == (0, 0, 0)
    assert json.loads(status.stdout) == {
        "executionArn": execution["executionArn"],
        "name": execution["name"],
        "status": "SUCCEEDED",
        "stage": "done",
        "state": "Restore Succeeded",
        "startedAt": started,
        "stoppedAt": stopped,
        "elapsedSeconds": seconds,
        "recoveryPoint": server.own[MAIL],
        "recoveryPointBucket": OWN_BUCKET,
        "storageClass": "GLACIER",
        "archiveStatus": None,
        "sizeBytes": 80_000_000_000,
        "tier": "Standard",
        "etaEarliest": None,
        "etaLatest": None,
        "copyExpiresAt": output["copyExpiresAt"].replace("+00:00", "Z"),  # ISO 8601 as every time (the output's own)
        "imageId": output["imageId"],
        "error": None,
        "cause": None,
    }
    assert re.fullmatch(r"2026-01-\d\dT00:00:00\+00:00", output["copyExpiresAt"])  # S3's midnight, not its HTTP date
    row = next(r for r in json.loads(history.stdout) if r["executionArn"] == execution["executionArn"])
    assert {k: row[k] for k in ("status", "imageId", "storageClass", "archiveStatus", "tier", "startedAt", "durationSeconds", "error")} == {
        "status": "SUCCEEDED",
        "imageId": output["imageId"],
        "storageClass": "GLACIER",
        "archiveStatus": None,
        "tier": "Standard",
        "startedAt": started,
        "durationSeconds": seconds,
        "error": None,
    }


def test_a_failed_restore_exits_1_with_the_error_and_what_to_do(server: Server) -> None:
    # Given an execution started (outside the command line) for an object that does not exist
    sfn = server.client("stepfunctions")
    body = {"recoveryPoint": "ami-00000000000000000.bin", "recoveryPointBucket": "my-ami-archive"}
    arn = sfn.start_execution(stateMachineArn=server.state_machine, name="missing-object", input=json.dumps(body))["executionArn"]
    # When the operator watches it
    result = run("--endpoint-url", server.endpoint, "watch", arn, "--interval", "0.05")
    # Then it exits 1 with the workflow's error, its cause and advice, in one line
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("glacier-ami-restore: restore FAILED: RecoveryPointNotFoundError: ")
    assert result.stderr.endswith("; check the key with `glacier-ami-restore list` and the stack's ArchiveBucketName\n")


def test_live_progress_on_a_terminal(server: Server) -> None:
    # Given a pseudo-terminal of 120 columns
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({k: v for k, v in {**ISOLATED, **FAKE}.items() if v is not None})
    env.update({"TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"})
    # When the operator restores an archived AMI (only this test restores it) with Expedited and waits, in that terminal
    process = subprocess.Popen(
        [sys.executable, "-m", "glacier_ami_restore", "--endpoint-url", server.endpoint, "--region", REGION,
         "restore", NTP, "--tier", "Expedited", "--wait", "--interval", "0.05"],
        cwd=ROOT, env=env, stdin=follower, stdout=follower, stderr=follower, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if not ready:
            if process.poll() is not None:
                break
            continue
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(timeout=10) == 0
    drawn = output.decode()
    # Then rich drew a live display (cursor hidden, redrawn in place) with an ETA line while the restore ran
    assert "\x1b[?25l" in drawn
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)
    assert re.search(r"ETA +(\d{4}-\d\d-\d\d )?\d\d:\d\d – (\d{4}-\d\d-\d\d )?\d\d:\d\d UTC \(in [^)]+\)", text), text
    # And the last frame is the finished restore with its AMI
    assert re.search(r"AMI ami-[0-9a-f]{17} is available \(restored in ", text)
    # And the console URL, 230 characters wide, is one line: the terminal folds it, no newline breaks it
    execution = r"arn:aws:states:us-east-1:123456789012:execution:glacier-ami-restore-RestoreStateMachine:cli-ami-[0-9a-f]{17}-[0-9a-f]{16}"
    url = rf"https://us-east-1\.console\.aws\.amazon\.com/states/home\?region=us-east-1#/v2/executions/details/{execution}"
    assert re.search(rf"\nExecution: {execution}\r?\nConsole:   {url}\r?\n", text), text


def test_no_stack(server: Server) -> None:
    # Given no stack of that name in the Region
    # When the operator restores through it
    result = run("--endpoint-url", server.endpoint, "restore", APP, "--stack", "no-such-stack")
    # Then one line says what to do, exit 2
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "glacier-ami-restore: no CloudFormation stack 'no-such-stack' in us-east-1: deploy it (`sam deploy --guided`) "
        "or pass --stack / --region\n"
    )


def test_no_such_ami(server: Server) -> None:
    # Given no archived AMI of that name
    # When the operator restores it
    result = run("--endpoint-url", server.endpoint, "restore", "smtp-relay")
    # Then exit 2 and a pointer to `list`
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "glacier-ami-restore: no archived AMI matches name 'smtp-relay': run `glacier-ami-restore list` to see the archived AMIs\n"
    )


def test_ambiguous_name(server: Server) -> None:
    # Given four AMIs whose names all contain "server"
    # When the operator restores '*server*'
    result = run("--endpoint-url", server.endpoint, "restore", "*server*", "--bucket", SAMPLES)
    # Then every match is listed, nothing starts, exit 2
    k = server.keys
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "glacier-ami-restore: name '*server*' matches several archived AMIs: "
        f"app-server-2024-11 (s3://my-ami-archive/{k['GLACIER']}), db-server-2023-06 (s3://my-ami-archive/{k['DEEP_ARCHIVE']}), "
        f"file-server-2022-09 (s3://my-ami-archive/{k['INTELLIGENT_TIERING/ARCHIVE_ACCESS']}), "
        f"web-server-2025-01 (s3://my-ami-archive/{k['GLACIER_IR']}); give the full name or the key\n"
    )


def test_expedited_refused_for_deep_archive(server: Server) -> None:
    # Given the Deep Archive sample
    # When the operator asks for Expedited
    result = run("--endpoint-url", server.endpoint, "restore", "db-server-2023-06", "--tier", "Expedited")
    # Then exit 2 before starting anything
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "glacier-ami-restore: DEEP_ARCHIVE cannot be restored with Expedited: use --tier Standard or Bulk\n"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--tier", "Fast"], "--tier must be one of Standard, Bulk, Expedited, in any letter case (got 'Fast')"),
        (["--days", "٣"], "--days must be a whole number from 1 to 30 (got '٣')"),
        (["--days", "31", "--tier", "Rapid"],
         "--tier must be one of Standard, Bulk, Expedited, in any letter case (got 'Rapid'); "
         "--days must be a whole number from 1 to 30 (got '31')"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_before_any_aws_call(arguments: list[str], message: str) -> None:
    # Given no credentials and an endpoint where nothing listens: any AWS call would fail differently
    env = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}
    # When the operator restores with a bad tier or days
    result = run("--endpoint-url", "http://127.0.0.1:9", "restore", APP, *arguments, env=env)
    # Then the input is refused in one line, exit 2
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"glacier-ami-restore: {message}\n")


def test_credentials_missing() -> None:
    # Given no credentials anywhere (no variables, no files, no instance metadata)
    env = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}
    # When the operator lists the archive
    result = run("--endpoint-url", "http://127.0.0.1:9", "list", env=env)
    # Then one line says how to provide them, exit 2
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "glacier-ami-restore: no AWS credentials found: run `aws configure` (or `aws sso login`), pass --profile, "
        "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n"
    )


def test_unknown_profile() -> None:
    # Given no profile of that name (and no config files)
    # When the operator names it
    result = run("--profile", "prod", "list")
    # Then one line says how to create it, exit 2
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "glacier-ami-restore: The config profile (prod) could not be found: run `aws configure --profile prod` or pass another --profile\n"
    )


def test_bad_usage_is_one_line() -> None:
    # Given an option that does not exist
    # When the operator passes it
    result = run("list", "--colour")
    # Then click's usage error is one line with where to look, exit 2
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "glacier-ami-restore: No such option: --colour (see `glacier-ami-restore list --help`)\n"


@pytest.mark.parametrize(
    ("arguments", "env", "message"),
    [
        (["--endpoint-url", "localhost:4599"], {},
         "--endpoint-url: the endpoint 'localhost:4599' is not a URL: give its scheme and host, e.g. http://127.0.0.1:4599"),
        ([], {"AWS_ENDPOINT_URL": "localhost:4599"},
         "AWS_ENDPOINT_URL (or the profile's endpoint_url): the endpoint 'localhost:4599' is not a URL: give its scheme and host, "
         "e.g. http://127.0.0.1:4599"),
    ],
)  # fmt: skip
def test_an_endpoint_without_its_scheme_is_one_line_exit_2(arguments: list[str], env: dict[str, str], message: str) -> None:
    # Given an endpoint written without http:// (botocore refuses it with a ValueError)
    # When the operator lists the archive through it
    result = run(*arguments, "list", env=env)
    # Then one line says how to write it, exit 2 (usage), no traceback
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"glacier-ami-restore: {message}\n")


def test_an_endpoint_that_does_not_answer_is_reported_after_one_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an endpoint where nothing listens (the SDK would try 5 times with back-off: 12 to 27 s)
    made: list[aws.Aws] = []

    class Recorded(aws.Aws):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            made.append(self)

    monkeypatch.setattr(cli, "Aws", Recorded)
    # When the operator lists the archive
    result = run("--endpoint-url", "http://127.0.0.1:9", "list")
    # Then one line names the endpoint as given (not the SDK's request URL with its query string), exit 2, after one
    # request
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "glacier-ami-restore: cannot reach http://127.0.0.1:9 (is `make emulator` running?): "
        "check --endpoint-url, --region and the network\n"
    )
    assert [a.requests for a in made] == [1]


def test_a_bug_is_one_line_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a command that fails where no error was foreseen
    def broken(*_: Any) -> None:
        raise RuntimeError("list index out of range")

    monkeypatch.setattr(archive, "list_archive", broken)
    # When the operator runs it
    result = run("--endpoint-url", "http://127.0.0.1:9", "list", "--bucket", SAMPLES)
    # Then one line, exit 3 (neither a failed restore nor bad usage)
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == (
        "glacier-ami-restore: unexpected error RuntimeError: list index out of range (a bug: GLACIER_AMI_RESTORE_DEBUG=1 shows where)\n"
    )


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """Every restore the command would start (none is: the server's AMIs stay as the other tests expect them)."""
    started: list[dict[str, str]] = []

    def start(_aws: Any, machine: str, body: dict[str, str], _again: str | None = None) -> tuple[str, bool]:
        started.append(body)
        return f"{machine.replace(':stateMachine:', ':execution:')}:fake", True

    monkeypatch.setattr(workflow, "start", start)
    return started


def test_a_prefix_starts_nothing_off_a_terminal_without_yes(server: Server, starts: list[dict[str, str]]) -> None:
    # Given a prefix of exactly one archived AMI's name, in a script (stdin is not a terminal)
    # When the operator restores it, then again with --yes
    refused = run("--endpoint-url", server.endpoint, "restore", "db-serv")
    accepted = run("--endpoint-url", server.endpoint, "restore", "db-serv", "--yes")
    # Then without --yes nothing starts, exit 2, and one line says how to name it; with --yes it starts
    assert (refused.exit_code, refused.stdout) == (2, "")
    assert refused.stderr == (
        "glacier-ami-restore: 'db-serv' matches db-server-2023-06 only as a prefix or a pattern: nothing started; restore it by "
        "its full name (glacier-ami-restore restore db-server-2023-06), its key or AMI id, or pass --yes\n"
    )
    key = server.keys["DEEP_ARCHIVE"]
    assert (accepted.exit_code, starts) == (0, [{"recoveryPoint": key, "recoveryPointBucket": SAMPLES, "restoreRequestDays": "1",
                                                 "restoreRequestTier": "Standard"}])  # fmt: skip


REFUSED = "glacier-ami-restore: nothing started: restore it by its full name (glacier-ami-restore restore web-server-2025-01)\n"


@pytest.mark.parametrize(("answer", "code", "started", "after"), [("n\n", 2, 0, REFUSED), ("y\n", 0, 1, "")])
def test_a_prefix_asks_first_on_a_terminal(
    server: Server, starts: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch, answer: str, code: int, started: int, after: str
) -> None:
    # Given an operator at a terminal
    monkeypatch.setattr(cli, "stdin_is_terminal", lambda: True)
    # When they restore a prefix and answer the question
    result = run("--endpoint-url", server.endpoint, "restore", "web-", "--tier", "Bulk", answer=answer)
    # Then the question names the AMI, and only a yes starts it
    key = server.keys["GLACIER_IR"]
    question = f"'web-' is not a full name: restore web-server-2025-01 (s3://{SAMPLES}/{key}, GLACIER_IR, Bulk, 1 d)? [y/N]:"
    assert result.stderr == question + after  # (click's runner drops the prompt's last space and echoes the answer on stdout)
    assert (result.exit_code, len(starts)) == (code, started)


def test_restore_help_gives_the_days_rule_that_holds() -> None:
    # Given the restore command's help / Then --days says 1-30 for every class and tier (no "Deep Archive Bulk: 3 or more")
    result = run("restore", "--help")
    help_text = " ".join(result.stdout.split())
    assert "--days TEXT Days the temporary copy lives (1-30, any class and tier: the workflow lengthens the copy when the" in help_text
    assert "3 or more" not in help_text


def test_a_batch_is_shown_as_a_batch_in_watch_status_and_history(server: Server) -> None:
    # Given a batch of two AMIs started as the README shows (the restore state machine, recoveryPoints, Bulk)
    sfn = server.client("stepfunctions")
    body = {"recoveryPoints": [server.own[LOG], server.own[VPN]], "recoveryPointBucket": OWN_BUCKET, "restoreRequestTier": "Bulk"}
    arn = sfn.start_execution(stateMachineArn=server.state_machine, name="cli-batch-view", input=json.dumps(body))["executionArn"]
    # When the operator watches it to its end, then asks for its status and the history
    watched = run("--endpoint-url", server.endpoint, "watch", "cli-batch-view", "--interval", "0.05")
    status = run("--endpoint-url", server.endpoint, "status", "cli-batch-view", "--output", "json")
    table = run("--endpoint-url", server.endpoint, "status", "cli-batch-view")
    history = run("--endpoint-url", server.endpoint, "history", "--output", "json")
    # Then every view names the batch's two AMIs with their outcomes, read from the batch's child executions (the AMI
    # ids as the batch's own summary gives them), and no single object, class or ETA
    outputs = server.client("cloudformation").describe_stacks(StackName="glacier-ami-restore")["Stacks"][0]["Outputs"]
    machine = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "BatchStateMachineArn")
    batch_arn = machine.replace(":stateMachine:", ":execution:") + ":cli-batch-view"
    summary = json.loads(sfn.describe_execution(executionArn=arn)["output"])
    made = {a["recoveryPoint"].rsplit("/", 1)[1]: a["imageId"] for a in summary["amis"]}
    children = {}
    for listed in sfn.list_executions(stateMachineArn=server.state_machine)["executions"]:
        described = sfn.describe_execution(executionArn=listed["executionArn"])
        if json.loads(described["input"]).get("AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID") == batch_arn:
            children[json.loads(described["input"])["recoveryPoint"]] = listed["executionArn"]
    log, vpn = server.own[LOG], server.own[VPN]
    assert (watched.exit_code, status.exit_code, table.exit_code, history.exit_code) == (0, 0, 0, 0)
    assert sorted(made) == sorted(children) == sorted([log, vpn])
    took = duration_of(sfn, arn)
    assert watched.stdout.splitlines()[-1] == f"2 of 2 AMIs are available (the batch took {took}): {made[log]}, {made[vpn]}."
    assert watched.stdout.splitlines()[-2].endswith("2 AMIs: 2 available; SUCCEEDED")
    shown = json.loads(status.stdout)
    assert (shown["recoveryPoint"], shown["storageClass"], shown["etaEarliest"], shown["tier"], shown["stage"]) == (
        None, None, None, "Bulk", "done"
    )  # fmt: skip
    assert shown["batch"] == {
        "executionArn": batch_arn,
        "planned": True,
        "counts": {"available": 2},
        "amis": [
            {"recoveryPoint": key, "recoveryPointBucket": OWN_BUCKET, "stage": "done", "status": "SUCCEEDED", "imageId": made[key],
             "executionArn": children[key], "error": None}
            for key in (log, vpn)
        ],
    }  # fmt: skip
    lines = table.stdout.splitlines()
    assert [line.split(None, 1) for line in lines if line.lstrip().startswith(("Batch", "AMIs", "ami-"))] == [
        ["Batch", f"2 recovery points in s3://{OWN_BUCKET} (Bulk)"],
        ["AMIs", "2 AMIs: 2 available"],
        [log, f"succeeded {made[log]}"],
        [vpn, f"succeeded {made[vpn]}"],
    ]
    assert not any(line.startswith(("Recovery point", "ETA")) for line in lines)
    row = next(r for r in json.loads(history.stdout) if r["executionArn"] == arn)
    assert (row["status"], row["tier"], row["batch"]) == (
        "SUCCEEDED", "Bulk", {"recoveryPoints": 2, "restored": 2, "amis": 2, "imageIds": [made[log], made[vpn]]}
    )  # fmt: skip
    # ...and each AMI's own execution shows the tier the batch asked for
    child = run("--endpoint-url", server.endpoint, "status", children[log], "--output", "json")
    assert (json.loads(child.stdout)["tier"], json.loads(child.stdout)["recoveryPoint"]) == ("Bulk", log)


def duration_of(sfn: Any, arn: str) -> str:
    from glacier_ami_restore.estimate import duration

    described = sfn.describe_execution(executionArn=arn)
    return duration((described["stopDate"] - described["startDate"]).total_seconds())
