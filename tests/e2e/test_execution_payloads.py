"""Every events/executions/*.json against `make emulator`, as the README tells a newcomer to run them.

The server is started as the Makefile starts it (`python -m tools.server`, no other option: seed 0, its four samples),
and each payload goes through the AWS API (StartExecution) as its file reads, one after the other. The invalid
payloads go first: Expedited is refused for Deep Archive only while the object has no readable copy (a readable copy
needs no retrieval, so any tier works), and the Deep Archive payloads below make one. The same server also answers the
README's other commands: the stack's queue URLs, and one function invoked with its event.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.support import ROOT, ServerProcess, emulator_server

pytestmark = pytest.mark.long  # run first (tests/conftest.py)

PAYLOADS = ROOT / "events" / "executions"
# In the order they run: (file, status, error, what the execution's output or cause says)
EXPECTED: list[tuple[str, str, str | None, Any]] = [
    ("invalid-batch", "FAILED", "InvalidInputError",
     "recoveryPoints[1] (backup.tar): recoveryPoint: \"backup.tar\" is not an AMI object written by CreateStoreImageTask: "
     "an optional path, then ami- and 8 or 17 hex digits, then .bin (ami-0123456789abcdef0.bin, "
     "backups/ami-0123456789abcdef0.bin); recoveryPoints[2] (ami-5a0f3616665c35d46.bin): listed twice (also at "
     "recoveryPoints[0]): each AMI is restored once; recoveryPoints[3] (ami-1f9abe6591e46514e.bin): restoreRequestTier: "
     "must be one of Standard, Bulk, Expedited (any letter case), got \"Fast\""),
    ("invalid-bucket-and-key", "FAILED", "InvalidInputError",
     "recoveryPoint: \"backup.tar\" is not an AMI object written by CreateStoreImageTask: an optional path, then ami- and 8 "
     "or 17 hex digits, then .bin (ami-0123456789abcdef0.bin, backups/ami-0123456789abcdef0.bin); recoveryPointBucket: "
     "\"My_Bucket\" is a legacy name (capitals, underscores or over 63 characters, allowed in us-east-1 before March 1, "
     "2018): S3 still serves it, path-style only; this workflow takes the names valid today, 3-63 characters of a-z, 0-9, "
     "'.' and '-': copy the object into such a bucket"),
    ("invalid-expedited-deep-archive", "FAILED", "InvalidInputError",
     "restoreRequestTier: Expedited is not offered for Deep Archive (DEEP_ARCHIVE); use Standard (within 12 h) or Bulk (within 48 h)"),
    ("invalid-tier-and-days", "FAILED", "InvalidInputError",
     "restoreRequestDays: must be a whole number from 1 to 30 (number or string of digits), got \"0\"; restoreRequestTier: "
     "must be one of Standard, Bulk, Expedited (any letter case), got \"Fast\""),
    # (storageClass, archiveStatus, restoreTier, restoreOutcome, copyExpiresAt)
    ("deep-archive-bulk", "SUCCEEDED", None, ("DEEP_ARCHIVE", None, "Bulk", "requested", "2026-01-08T00:00:00+00:00")),
    ("deep-archive-standard", "SUCCEEDED", None,
     ("DEEP_ARCHIVE", None, "Standard", "restored-before-this-run", "2026-01-08T00:00:00+00:00")),
    ("glacier-bulk", "SUCCEEDED", None, ("GLACIER", None, "Bulk", "requested", "2026-01-09T00:00:00+00:00")),
    ("glacier-expedited", "SUCCEEDED", None, ("GLACIER", None, "Expedited", "restored-before-this-run", "2026-01-09T00:00:00+00:00")),
    ("glacier-instant-retrieval", "SUCCEEDED", None, ("GLACIER_IR", None, None, "not-needed", None)),
    ("glacier-standard", "SUCCEEDED", None, ("GLACIER", None, "Standard", "restored-before-this-run", "2026-01-09T00:00:00+00:00")),
    ("intelligent-tiering-archive", "SUCCEEDED", None, ("INTELLIGENT_TIERING", "ARCHIVE_ACCESS", "Bulk", "requested", None)),
    # (restored, failed, the recovery points)
    ("batch-keys", "SUCCEEDED", None, (3, 0, ["ami-5a0f3616665c35d46.bin", "ami-2cd9c84cb0cfd39d3.bin", "ami-8f3423abe0c0ecf02.bin"])),
    ("batch-selector", "SUCCEEDED", None, (1, 0, ["ami-5a0f3616665c35d46.bin"])),
]  # fmt: skip


@pytest.fixture(scope="module")
def readme_server() -> Iterator[ServerProcess]:
    """`make emulator` as the README shows it: no option but the port."""
    with emulator_server() as process:
        yield process


def client(server: ServerProcess, service: str) -> Any:
    """A client of the server, as the README's `export AWS_ENDPOINT_URL=... AWS_ACCESS_KEY_ID=testing ...` makes one."""
    make: Any = boto3.client
    return make(
        service, endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def outcome(described: dict[str, Any]) -> Any:
    if described["status"] != "SUCCEEDED":
        return json.loads(described["cause"])["errorMessage"]
    output = json.loads(described["output"])
    if "amis" in output:
        return (output["restored"], output["failed"], [a["recoveryPoint"].rsplit("/", 1)[-1] for a in output["amis"]])
    return tuple(output[k] for k in ("storageClass", "archiveStatus", "restoreTier", "restoreOutcome", "copyExpiresAt"))


def test_every_payload_shows_the_outcome_its_name_promises(readme_server: ServerProcess) -> None:
    # Given `make emulator` and every payload of events/executions/
    found = re.search(r"state machine: (\S+)", readme_server.banner)
    assert found is not None
    sfn = client(readme_server, "stepfunctions")
    assert sorted(p.stem for p in PAYLOADS.glob("*.json")) == sorted(name for name, *_ in EXPECTED)
    # When each is started as `aws stepfunctions start-execution --input file://events/executions/<name>.json` would
    seen = []
    for name, *_ in EXPECTED:
        arn = sfn.start_execution(stateMachineArn=found.group(1), name=name, input=(PAYLOADS / f"{name}.json").read_text())["executionArn"]
        deadline = time.monotonic() + 30
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.02)
        seen.append((name, described["status"], described.get("error"), outcome(described)))
    # Then each ends as its name says: the invalid ones refused with their reason, the others restored as requested
    assert seen == [tuple(row) for row in EXPECTED]


def test_the_stacks_queue_urls_name_the_emulator_not_aws(readme_server: ServerProcess) -> None:
    # Given `make emulator` and the stack's outputs as `aws cloudformation describe-stacks` shows them
    cloudformation = client(readme_server, "cloudformation")
    outputs = {
        o["OutputKey"]: o["OutputValue"] for o in cloudformation.describe_stacks(StackName="glacier-ami-restore")["Stacks"][0]["Outputs"]
    }
    # Then the queues' URLs are the server's own (moto's SQS builds a URL from the host the request went to), as on AWS
    # they are SQS's. (The AWS CLI still sends `aws sqs` to queue.amazonaws.com unless given --endpoint-url: its
    # customization for SQS's certificate names ignores AWS_ENDPOINT_URL and the queue URL's host.)
    assert (outputs["FailedExecutionQueueUrl"], outputs["UnprocessedEventQueueUrl"]) == (
        f"{readme_server.endpoint}/123456789012/glacier-ami-restore-FailedExecutionQueue",
        f"{readme_server.endpoint}/123456789012/glacier-ami-restore-UnprocessedEventQueue",
    )


def test_a_function_invoked_through_the_emulator_runs_its_handler_with_the_stacks_environment(readme_server: ServerProcess) -> None:
    # Given the README's way to run one handler without a container runtime or an AWS account:
    # `aws lambda invoke --function-name glacier-ami-restore-ValidateInputFunction --payload fileb://events/validate_input.json`
    awslambda = client(readme_server, "lambda")
    payload = (ROOT / "events" / "validate_input.json").read_bytes()
    # When it is invoked
    answer = awslambda.invoke(FunctionName="glacier-ami-restore-ValidateInputFunction", Payload=payload)
    # Then the real handler answered with Validate Input's result for that event
    assert (answer.get("FunctionError"), json.loads(answer["Payload"].read())) == (
        None,
        {
            "recoveryPoint": "ami-0123456789abcdef0.bin",
            "recoveryPointBucket": "my-ami-archive",
            "restoreRequestDays": 3,
            "restoreRequestTier": "Standard",
            "requestedTier": "Standard",
            "amiName": None,
            "executionName": "example-execution",
            "startTime": "2026-01-05T09:00:00+00:00",
        },
    )
