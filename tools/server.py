"""`make emulator`: the emulator as a server on 127.0.0.1, for the AWS CLI or any SDK with AWS_ENDPOINT_URL.

It deploys template.yaml, archives sample AMIs (one per storage class) and prints the commands to start a restore.
Executions run the real state machine and handlers on the virtual clock, as in the demo; each email the stack
sends is printed here.

    make emulator                       # then, in another shell:
    export AWS_ENDPOINT_URL=http://127.0.0.1:4599 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
    aws stepfunctions start-execution --state-machine-arn <printed arn> --input file://payload.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime

import boto3
from moto.server import ThreadedMotoServer
from moto.sns.models import sns_backends

from emulator import aws as emulated_aws
from emulator import runtime
from emulator import stack as stacks
from emulator.clock import VirtualClock
from emulator.session import DEFAULT_START, FAKE_CREDENTIALS, LAMBDA_ROLE, USER_EMAIL, archive_ami, trust_lambda

BUCKET = "my-ami-archive"
SAMPLES = [
    ("web-server-2025-01", "GLACIER_IR", None),
    ("app-server-2024-11", "GLACIER", None),
    ("db-server-2023-06", "DEEP_ARCHIVE", None),
    ("file-server-2022-09", "INTELLIGENT_TIERING", "ARCHIVE_ACCESS"),
]


def configure(endpoint: str) -> None:
    """moto's server runs state machines and no Docker Lambdas only when told so."""
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}).encode()
    request = urllib.request.Request(  # noqa: S310 - endpoint is http://127.0.0.1:<port>, built above
        f"{endpoint}/moto-api/config", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - a fixed http://127.0.0.1 URL


def archive_samples(region: str) -> list[tuple[str, str]]:
    s3, ec2 = boto3.client("s3", region_name=region), boto3.client("ec2", region_name=region)
    s3.create_bucket(Bucket=BUCKET)
    return [
        (archive_ami(s3, ec2, name, BUCKET, storage_class, status), storage_class + (f"/{status}" if status else ""))
        for name, storage_class, status in SAMPLES
    ]


def print_emails(topic_arn: str, region: str, stop: threading.Event) -> None:
    printed = 0
    while not stop.wait(0.2):
        sent = sns_backends[stacks.ACCOUNT][region].topics[topic_arn].sent_notifications
        for _id, message, subject, _attrs, _group in sent[printed:]:
            print(f"\n--- email to {USER_EMAIL}: {subject}\n{message}\n---", flush=True)
        printed = len(sent)


def main(argv: list[str]) -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=4599)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    endpoint = f"http://127.0.0.1:{args.port}"
    os.environ.update(
        {
            **FAKE_CREDENTIALS,
            "AWS_DEFAULT_REGION": args.region,
            "AWS_REGION": args.region,
            "AWS_ENDPOINT_URL": endpoint,
            "MOTO_PORT": str(args.port),
        }
    )
    emulated_aws.install()
    runtime.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    stop = threading.Event()
    with VirtualClock(DEFAULT_START) as clock:
        runtime.use_clock(clock)
        configure(endpoint)
        trust_lambda(boto3.client("iam", region_name=args.region))
        stack = stacks.deploy("glacier-ami-restore", args.region, {"LambdaExecutionRoleName": LAMBDA_ROLE, "UserEmail": USER_EMAIL})
        keys = archive_samples(args.region)
        threading.Thread(target=print_emails, args=(stack.topic_arn, args.region, stop), daemon=True).start()
        print(f"Emulator ready at {endpoint} (virtual clock {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
        print(f"  state machine: {stack.state_machine_arn}")
        for key, storage_class in keys:
            print(f"  s3://{BUCKET}/{key}  {storage_class}")
        print(
            f"\nexport AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={args.region}"
        )
        print(
            f"aws stepfunctions start-execution --state-machine-arn {stack.state_machine_arn} \\\n"
            f'  --input \'{{"recoveryPoint": "{keys[1][0]}", "recoveryPointBucket": "{BUCKET}", "restoreRequestTier": "Standard"}}\''
        )
        print("Ctrl-C stops the emulator.", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            runtime.use_clock(None)
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
