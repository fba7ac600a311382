"""`make emulator`: a client in another process drives the emulator over HTTP on 127.0.0.1, as the AWS CLI would (the
server the command line's tests use, on an AMI archived for this test)."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.cli.support import OWN_AMIS, OWN_BUCKET, Server

pytestmark = pytest.mark.long  # run first (tests/conftest.py)


def test_a_cli_style_client_restores_an_ami_through_the_server(server: Server) -> None:
    state_machine, key = server.state_machine, server.own[OWN_AMIS[-1]]
    sfn = server.client("stepfunctions")  # as the AWS CLI with AWS_ENDPOINT_URL would
    # The blog's payload, started twice without a name, as `aws stepfunctions start-execution` does
    payload = {"recoveryPoint": key, "recoveryPointBucket": OWN_BUCKET, "restoreRequestDays": "1", "restoreRequestTier": "Standard"}
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
    ec2 = server.client("ec2")
    assert [i["State"] for i in ec2.describe_images(ImageIds=image_ids)["Images"]] == ["available", "available"]
    # CloudFormation knows the stack and its outputs, as the command line expects on AWS
    outputs = server.client("cloudformation").describe_stacks(StackName="glacier-ami-restore")["Stacks"][0]["Outputs"]
    assert {o["OutputKey"]: o["OutputValue"] for o in outputs}["StateMachineArn"] == state_machine
    while not all(f"AMI restored: {i}" in "".join(server.printed) for i in image_ids) and time.monotonic() < deadline + 10:
        time.sleep(0.05)
    assert all(f"AMI restored: {i}" in "".join(server.printed) for i in image_ids)
