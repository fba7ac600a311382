"""`events status|enable|disable`: the bucket's EventBridge setting, changed without losing its other notifications.

Against the emulator server over HTTP (shared with the other CLI modules), on buckets set up as the archive side
would: notifying an SNS topic, an SQS queue and a Lambda function that exist in the emulator. moto checks only each
destination ARN's service and Region and the event names (no existence, no permission, no s3:TestEvent), so the
destinations are created for realism, not to satisfy it. Each test uses buckets of its own.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.stub import Stubber

from glacier_ami_restore import notifications
from glacier_ami_restore.aws import Aws, CliError
from tests.cli.support import Server, golden, run
from tests.support import ROOT

pytestmark = pytest.mark.long  # run first (tests/conftest.py)

TOPIC = "arn:aws:sns:us-east-1:123456789012:archive-audit"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:archive-index"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:archive-indexer"
# As the archive side's tooling wrote it (rule names in the API's lowercase)...
WRITTEN: dict[str, Any] = {
    "TopicConfigurations": [
        {"Id": "restore-audit", "TopicArn": TOPIC, "Events": ["s3:ObjectRestore:Post", "s3:ObjectRestore:Completed"],
         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "ami-"}, {"Name": "suffix", "Value": ".bin"}]}}},
    ],
    "QueueConfigurations": [
        {"Id": "new-archives", "QueueArn": QUEUE, "Events": ["s3:ObjectCreated:*"],
         "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".bin"}]}}},
    ],
    "LambdaFunctionConfigurations": [{"Id": "index-deletions", "LambdaFunctionArn": FUNCTION, "Events": ["s3:ObjectRemoved:*"]}],
}  # fmt: skip
# ... and as S3 answers it (rule names capitalised)
ANSWERED: dict[str, Any] = {
    "TopicConfigurations": [
        {"Id": "restore-audit", "TopicArn": TOPIC, "Events": ["s3:ObjectRestore:Post", "s3:ObjectRestore:Completed"],
         "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "ami-"}, {"Name": "Suffix", "Value": ".bin"}]}}},
    ],
    "QueueConfigurations": [
        {"Id": "new-archives", "QueueArn": QUEUE, "Events": ["s3:ObjectCreated:*"],
         "Filter": {"Key": {"FilterRules": [{"Name": "Suffix", "Value": ".bin"}]}}},
    ],
    "LambdaFunctionConfigurations": [{"Id": "index-deletions", "LambdaFunctionArn": FUNCTION, "Events": ["s3:ObjectRemoved:*"]}],
}  # fmt: skip
ENABLED = {**ANSWERED, "EventBridgeConfiguration": {}}
GET, PUT = "GetBucketNotificationConfiguration", "PutBucketNotificationConfiguration"


@pytest.fixture(scope="session")
def destinations(server: Server) -> None:
    """The archive side's topic, queue and function, in the server's account (once per server: IAM and Lambda refuse
    a second creation, and a worker may come back to this module after another one)."""
    assert server.client("sns").create_topic(Name="archive-audit")["TopicArn"] == TOPIC
    server.client("sqs").create_queue(QueueName="archive-index")
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = server.client("iam").create_role(RoleName="archive-indexer", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return None\n")
    created = server.client("lambda").create_function(
        FunctionName="archive-indexer", Runtime="python3.12", Role=role, Handler="index.handler", Code={"ZipFile": code.getvalue()}
    )
    assert created["FunctionArn"] == FUNCTION


def archive_side_bucket(server: Server, bucket: str, *, eventbridge: bool = False) -> None:
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration=WRITTEN | ({"EventBridgeConfiguration": {}} if eventbridge else {})
    )


def configuration(server: Server, bucket: str) -> dict[str, Any]:
    answer = server.client("s3").get_bucket_notification_configuration(Bucket=bucket)
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


@pytest.fixture
def operations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every AWS operation made in this process from now on, by name (the command line runs in it)."""
    made: list[str] = []
    original: Any = BaseClient._make_api_call  # type: ignore[attr-defined]  # botocore's stubs do not list it

    def spy(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        made.append(operation_name)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", spy)
    yield made


@pytest.mark.usefixtures("destinations")
def test_enable_keeps_the_topic_queue_and_function_exactly(server: Server, operations: list[str]) -> None:
    # Given a bucket that notifies an SNS topic, an SQS queue and a Lambda function, EventBridge off
    archive_side_bucket(server, "events-enable-keeps")
    assert configuration(server, "events-enable-keeps") == ANSWERED
    operations.clear()
    # When the operator turns EventBridge on
    result = run("--endpoint-url", server.endpoint, "events", "enable", "--bucket", "events-enable-keeps")
    # Then one read, one write and one read-back; the document is the one before plus EventBridgeConfiguration only
    assert (result.exit_code, result.stderr, operations) == (0, "", [GET, PUT, GET])
    assert configuration(server, "events-enable-keeps") == ENABLED
    assert re.fullmatch(
        r's3://events-enable-keeps: turned on "Send notifications to Amazon EventBridge"; kept its other notifications: '
        r"1 to SNS, 1 to SQS, 1 to Lambda\. AWS takes about five minutes to apply it: restore events reach EventBridge "
        r"from about \d{4}-\d\d-\d\d \d\d:\d\dZ\.\n",
        result.stdout,
    ), result.stdout


@pytest.mark.usefixtures("destinations")
def test_a_second_enable_writes_nothing(server: Server, operations: list[str]) -> None:
    # Given a bucket whose EventBridge setting the operator turned on
    archive_side_bucket(server, "events-enable-twice")
    first = run("--endpoint-url", server.endpoint, "--output", "json", "events", "enable", "--bucket", "events-enable-twice")
    operations.clear()
    # When the operator runs the same command again
    again = run("--endpoint-url", server.endpoint, "events", "enable", "--bucket", "events-enable-twice")
    # Then it only reads, says so, and the configuration is as the first run left it
    assert (again.exit_code, again.stderr, operations) == (0, "", [GET])
    assert again.stdout == "s3://events-enable-twice already sends notifications to Amazon EventBridge: nothing changed.\n"
    assert configuration(server, "events-enable-twice") == ENABLED
    # And the first run reported its change in JSON, with when the setting takes effect (five minutes on)
    [reported] = json.loads(first.stdout)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", reported.pop("takesEffectAbout"))
    assert reported == {
        "bucket": "events-enable-twice",
        "eventBridge": True,
        "topicConfigurations": 1,
        "queueConfigurations": 1,
        "lambdaFunctionConfigurations": 1,
        "changed": True,
    }


@pytest.mark.usefixtures("destinations")
def test_disable_removes_only_eventbridge(server: Server, operations: list[str]) -> None:
    # Given a bucket notifying the three destinations and EventBridge
    archive_side_bucket(server, "events-disable", eventbridge=True)
    operations.clear()
    # When the operator turns EventBridge off
    result = run("--endpoint-url", server.endpoint, "events", "disable", "--bucket", "events-disable")
    # Then the topic, queue and function configurations are exactly as before
    assert (result.exit_code, result.stderr, operations) == (0, "", [GET, PUT, GET])
    assert configuration(server, "events-disable") == ANSWERED
    assert result.stdout == (
        's3://events-disable: turned off "Send notifications to Amazon EventBridge"; kept its other notifications: '
        "1 to SNS, 1 to SQS, 1 to Lambda.\n"
    )


@pytest.mark.usefixtures("destinations")
def test_status_table_and_json(server: Server) -> None:
    # Given a bucket with EventBridge on, one with it off (both notifying the three destinations) and the samples' bucket
    # (on: make emulator sets it up as docs/command-line.md advises)
    archive_side_bucket(server, "events-status-on", eventbridge=True)
    archive_side_bucket(server, "events-status-off")
    buckets = ("--bucket", "events-status-on", "--bucket", "events-status-off", "--bucket", "my-ami-archive")
    # When the operator asks for their status, as a table and as JSON
    table = run("--endpoint-url", server.endpoint, "events", "status", *buckets)
    as_json = run("--endpoint-url", server.endpoint, "events", "status", *buckets, "--output", "json")
    # Then each bucket shows its setting and its other notifications, with the command for the ones that are off
    assert (table.exit_code, table.stderr, as_json.exit_code, as_json.stderr) == (0, "", 0, "")
    assert table.stdout == golden("events-status.txt", table.stdout)
    assert as_json.stdout == golden("events-status.json", as_json.stdout)
    assert json.loads(as_json.stdout)[0] == {
        "bucket": "events-status-on",
        "eventBridge": True,
        "topicConfigurations": 1,
        "queueConfigurations": 1,
        "lambdaFunctionConfigurations": 1,
    }


def test_status_defaults_to_the_buckets_holding_archived_amis(server: Server) -> None:
    # Given the two buckets holding .bin objects, and a bucket holding none
    server.client("s3").create_bucket(Bucket="events-no-archive")
    # When the operator asks for the status without naming a bucket
    result = run("--endpoint-url", server.endpoint, "events", "status", "--output", "json")
    # Then exactly the two archive buckets are shown, by name (the samples' bucket sends events, the --archive one not;
    # the archive side's bucket holds AMIs once an archive run of tests/cli/test_archive_cli.py stored one)
    assert (result.exit_code, result.stderr) == (0, "")
    none = {"topicConfigurations": 0, "queueConfigurations": 0, "lambdaFunctionConfigurations": 0}
    shown = [s for s in json.loads(result.stdout) if s["bucket"] != server.archive_bucket]
    assert shown == [{"bucket": "cli-test-archive", "eventBridge": False, **none},
                     {"bucket": "my-ami-archive", "eventBridge": True, **none}]  # fmt: skip


@pytest.mark.usefixtures("destinations")
def test_a_missing_bucket_changes_nothing(server: Server, operations: list[str]) -> None:
    # Given a bucket with EventBridge off, and a bucket name that does not exist
    archive_side_bucket(server, "events-with-a-missing-one")
    operations.clear()
    # When the operator turns EventBridge on for both, and asks for the missing one's status
    both = run(
        "--endpoint-url", server.endpoint, "events", "enable", "--bucket", "events-with-a-missing-one", "--bucket", "no-such-archive"
    )
    status = run("--endpoint-url", server.endpoint, "events", "status", "--bucket", "no-such-archive")
    # Then one line says so, exit 2, and nothing was written: every bucket is read before any is changed
    message = "glacier-ami-restore: bucket 'no-such-archive' does not exist in us-east-1: check --bucket and --region\n"
    assert (both.exit_code, both.stdout, both.stderr) == (2, "", message)
    assert (status.exit_code, status.stdout, status.stderr) == (2, "", message)
    assert PUT not in operations
    assert configuration(server, "events-with-a-missing-one") == ANSWERED


def test_enable_needs_a_bucket() -> None:
    # Given no bucket named
    # When the operator runs enable
    result = run("events", "enable")
    # Then click's usage error, one line, exit 2
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "glacier-ami-restore: Missing option '--bucket'. (see `glacier-ami-restore events enable --help`)\n"


# --- the read-modify-write itself, without a server --------------------------------------------------------------------


def test_with_eventbridge_adds_or_removes_only_that_key() -> None:
    # Given a Get answer with its response metadata
    answer = {**ANSWERED, "ResponseMetadata": {"HTTPStatusCode": 200}}
    # When EventBridge is turned on in it, and off in the result, and on in an empty configuration
    on = notifications.with_eventbridge(answer, True)
    off = notifications.with_eventbridge(on, False)
    # Then exactly the key changes, the metadata is dropped, and the answer itself is untouched
    assert on == {**ANSWERED, "EventBridgeConfiguration": {}}
    assert off == ANSWERED
    assert notifications.with_eventbridge({}, True) == {"EventBridgeConfiguration": {}}
    assert answer == {**ANSWERED, "ResponseMetadata": {"HTTPStatusCode": 200}}
    on["TopicConfigurations"][0]["Events"].append("s3:ObjectCreated:*")  # a copy, not the caller's lists
    assert ANSWERED["TopicConfigurations"][0]["Events"] == ["s3:ObjectRestore:Post", "s3:ObjectRestore:Completed"]


def test_canonical_ignores_order_and_rule_name_case_only() -> None:
    # Given the document as written, and as S3 may answer it: other order, capitalised rule names
    reordered = {**WRITTEN, "QueueConfigurations": list(WRITTEN["QueueConfigurations"])}
    reordered["TopicConfigurations"] = [
        {
            **ANSWERED["TopicConfigurations"][0],
            "Filter": {"Key": {"FilterRules": [{"Name": "Suffix", "Value": ".bin"}, {"Name": "Prefix", "Value": "ami-"}]}},
        }
    ]
    lost = {k: v for k, v in WRITTEN.items() if k != "QueueConfigurations"}
    other_value = {
        **WRITTEN,
        "LambdaFunctionConfigurations": [{**WRITTEN["LambdaFunctionConfigurations"][0], "Events": ["s3:ObjectRemoved:Delete"]}],
    }
    # Then only the first compares equal
    assert notifications.canonical(reordered) == notifications.canonical(WRITTEN)
    assert notifications.canonical(lost) != notifications.canonical(WRITTEN)
    assert notifications.canonical(other_value) != notifications.canonical(WRITTEN)


@pytest.fixture
def stubbed() -> Iterator[tuple[Aws, Stubber]]:
    aws = Aws(None, "us-east-1", "http://127.0.0.1:9")  # nothing listens there: every answer comes from the stubber
    with Stubber(aws.s3()) as stubber:
        yield aws, stubber
        stubber.assert_no_pending_responses()


def test_access_denied_names_the_permission(stubbed: tuple[Aws, Stubber]) -> None:
    # Given S3 refusing the read of one bucket and the write of another
    aws, stubber = stubbed
    stubber.add_client_error("get_bucket_notification_configuration", "AccessDenied", "Access Denied", 403)
    stubber.add_client_error("put_bucket_notification_configuration", "AccessDenied", "Access Denied", 403)
    # When the command line reads the first and changes the second
    with pytest.raises(CliError) as reading:
        notifications.read(aws, "archive-a")
    with pytest.raises(CliError) as writing:
        notifications.change(aws, notifications.Setting("archive-b", dict(ANSWERED)), True)
    # Then each error names the action to grant and on which bucket
    assert str(reading.value) == (
        "access denied reading the notification configuration of s3://archive-a: the caller needs s3:GetBucketNotification "
        "on arn:aws:s3:::archive-a (the bucket belongs to the archive side: ask its owner)"
    )
    assert str(writing.value) == (
        "access denied writing the notification configuration of s3://archive-b: the caller needs s3:PutBucketNotification "
        "on arn:aws:s3:::archive-b (the bucket belongs to the archive side: ask its owner)"
    )


def test_a_read_back_that_lost_a_configuration_fails_with_exit_1(stubbed: tuple[Aws, Stubber]) -> None:
    # Given a write S3 accepts with exactly the merged document, and a read-back without the queue (someone else's write)
    aws, stubber = stubbed
    expected = {"Bucket": "archive-c", "NotificationConfiguration": ENABLED, "SkipDestinationValidation": True}
    stubber.add_response("put_bucket_notification_configuration", {}, expected)
    stubber.add_response("get_bucket_notification_configuration", {k: v for k, v in ENABLED.items() if k != "QueueConfigurations"})
    # When EventBridge is turned on
    with pytest.raises(CliError) as error:
        notifications.change(aws, notifications.Setting("archive-c", dict(ANSWERED)), True)
    # Then the change is reported as failed, exit 1, with what to compare
    assert error.value.exit_code == 1
    assert str(error.value) == (
        "s3://archive-c: the notification configuration read back is not the one written (changed by someone else meanwhile?): "
        "compare `aws s3api get-bucket-notification-configuration --bucket archive-c` with what the archive side expects"
    )


# --- the AWS CLI route of docs/command-line.md --------------------------------------------------------------------------


def documented_python_step() -> str:
    section = (ROOT / "docs" / "command-line.md").read_text().split("## Turning on the bucket's EventBridge notifications", 1)[1]
    [code] = re.findall(r"^python3 -c '([^']+)' notifications-before\.json > notifications-after\.json &&$", section, re.MULTILINE)
    return str(code)


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        (json.dumps(ANSWERED, indent=4), ENABLED),  # the AWS CLI's JSON of a bucket with notifications
        ("", {"EventBridgeConfiguration": {}}),  # it prints nothing for a bucket without any
    ],
)
def test_the_documented_python_step_adds_only_eventbridge(tmp_path: Path, printed: str, expected: dict[str, Any]) -> None:
    # Given what `aws s3api get-bucket-notification-configuration --output json` printed into the file
    before = tmp_path / "notifications-before.json"
    before.write_text(printed)
    # When the documented python step runs on it
    done = subprocess.run([sys.executable, "-c", documented_python_step(), str(before)], capture_output=True, text=True, check=False)
    # Then it prints the document to put: the same plus EventBridgeConfiguration
    assert (done.returncode, done.stderr, json.loads(done.stdout)) == (0, "", expected)
