"""`make emulator`: a client in another process drives the emulator over HTTP on 127.0.0.1, as the AWS CLI would."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.conftest import ServerProcess, emulator_server


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    with emulator_server() as running:
        yield running


def test_a_cli_style_client_restores_an_ami_through_the_server(server: ServerProcess) -> None:
    banner, port = server.banner, server.port
    state_machine = re.search(r"state machine: (\S+)", banner).group(1)  # type: ignore[union-attr]
    key = re.search(r"s3://my-ami-archive/(\S+)  GLACIER  ", banner).group(1)  # type: ignore[union-attr]

    def client(service: str) -> Any:  # as the AWS CLI with AWS_ENDPOINT_URL would
        make: Any = boto3.client  # any service by name (the stubs type each literal name)
        return make(service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                    aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip

    sfn = client("stepfunctions")
    # The blog's payload, started twice without a name, as `aws stepfunctions start-execution` does
    payload = {"recoveryPoint": key, "recoveryPointBucket": "my-ami-archive", "restoreRequestDays": "1", "restoreRequestTier": "Standard"}
    arns = [sfn.start_execution(stateMachineArn=state_machine, input=json.dumps(payload))["executionArn"] for _ in range(2)]
    names = [arn.rsplit(":", 1)[1] for arn in arns]
    assert names[0] != names[1] and all(re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", n) for n in names)
    deadline = time.monotonic() + 30
    described = []
    for arn in arns:
        while (found := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.1)
        described.append(found)
    assert [d["status"] for d in described] == ["SUCCEEDED", "SUCCEEDED"]
    # The second joined the first one's restore (409) and made its own AMI
    image_ids = [json.loads(d["output"])["imageId"] for d in described]
    ec2 = client("ec2")
    assert [i["State"] for i in ec2.describe_images(ImageIds=image_ids)["Images"]] == ["available", "available"]
    # CloudFormation knows the stack and its outputs, as the command line expects on AWS
    outputs = client("cloudformation").describe_stacks(StackName="glacier-ami-restore")["Stacks"][0]["Outputs"]
    assert {o["OutputKey"]: o["OutputValue"] for o in outputs}["StateMachineArn"] == state_machine
    while not all(f"AMI restored: {i}" in "".join(server.printed) for i in image_ids) and time.monotonic() < deadline + 10:
        time.sleep(0.05)
    assert all(f"AMI restored: {i}" in "".join(server.printed) for i in image_ids)
