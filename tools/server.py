"""`make emulator`: the emulator as a server on 127.0.0.1, for the AWS CLI, the command line or any SDK.

It opens the same emulated account as the tests and the demo (emulator.facade.Emulator), serves it over HTTP,
deploys template.yaml (also registered with CloudFormation, so DescribeStacks shows the stack's outputs), archives
sample AMIs (one per storage class) and prints the commands to start a restore. With --archive-vaults it deploys the
archive side too, and --backup makes AWS Backup EC2 recovery points for it to archive. Executions run the real state machine
and handlers on the virtual clock; each email the stack sends is printed here.

    make emulator                       # then, in another shell:
    export AWS_ENDPOINT_URL=http://127.0.0.1:4599 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
    aws stepfunctions start-execution --state-machine-arn <printed arn> --input file://payload.json
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from typing import Any

from emulator.facade import USER_EMAIL, Emulator

BUCKET = "my-ami-archive"
# (original AMI name, storage class, Intelligent-Tiering tier, size in GB)
SAMPLES = [
    ("web-server-2025-01", "GLACIER_IR", None, 40),
    ("app-server-2024-11", "GLACIER", None, 120),
    ("db-server-2023-06", "DEEP_ARCHIVE", None, 850),
    ("file-server-2022-09", "INTELLIGENT_TIERING", "ARCHIVE_ACCESS", 300),
]


def print_emails(aws: Emulator, stack: Any, stop: threading.Event) -> None:
    printed = 0
    while not stop.wait(0.2):
        sent = aws.emails(stack)
        for email in sent[printed:]:
            print(f"\n--- email to {USER_EMAIL}: {email['subject']}\n{email['message']}\n---", flush=True)
        printed = len(sent)


def main(argv: list[str]) -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=4599)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--seed", type=int, default=0, help="the emulated world's seed (sizes and timings)")
    parser.add_argument(
        "--archive",
        action="append",
        default=[],
        metavar="BUCKET/NAME/CLASS[/GB]",
        help="also archive this AMI, as the archive side did months ago (repeatable)",
    )
    parser.add_argument(
        "--archive-vaults", default="", metavar="V1,V2", help="deploy the archive side for these AWS Backup vaults (ArchiveVaultNames)"
    )
    parser.add_argument("--archive-after-days", default="30", help="the archive side's ArchiveAfterDays (default 30)")
    parser.add_argument(
        "--backup",
        action="append",
        default=[],
        metavar="VAULT/NAME/GB/DAYS",
        help="also an AWS Backup EC2 recovery point of this AMI, made DAYS ago (repeatable)",
    )
    parser.add_argument(
        "--parameter", action="append", default=[], metavar="NAME=VALUE", help="a template parameter of the stack (repeatable)"
    )
    args = parser.parse_args(argv)
    stop = threading.Event()
    with Emulator(region=args.region, seed=args.seed) as aws:
        endpoint = aws.serve(args.port)
        archive_side = (
            {"ArchiveVaultNames": args.archive_vaults, "ArchiveAfterDays": args.archive_after_days} if args.archive_vaults else {}
        )
        stack = aws.deploy(**archive_side, **dict(p.split("=", 1) for p in args.parameter))
        keys = [
            (aws.archive_ami(name, BUCKET, storage_class, status, size_gb=size), storage_class + (f"/{status}" if status else ""), size)
            for name, storage_class, status, size in SAMPLES
        ]
        aws.send_bucket_events(BUCKET)  # as the README advises; buckets named by --archive send none until told to
        extra = []
        for spec in args.archive:
            bucket, name, storage_class, *size = spec.split("/")
            gb = float(size[0]) if size else None
            extra.append((bucket, aws.archive_ami(name, bucket, storage_class, size_gb=gb), storage_class, name))
        # after the AMIs above: their ids (so their keys, so the world's draws for them) stay what they were
        points = []
        for spec in args.backup:
            vault, name, gb, days = spec.split("/")
            points.append((vault, aws.backup_ec2(vault, name=name, size_gb=float(gb), days_ago=float(days)), name, gb, days))
        threading.Thread(target=print_emails, args=(aws, stack, stop), daemon=True).start()
        print(f"Emulator ready at {endpoint} (virtual clock {aws.clock.now():%Y-%m-%d %H:%M} UTC, seed {args.seed})")
        print(f"  stack: {stack.name}")
        print(f"  state machine: {stack.state_machine_arn}")
        print(f"  s3://{BUCKET} sends its events to EventBridge")
        for key, storage_class, size in keys:
            print(f"  s3://{BUCKET}/{key}  {storage_class}  {size} GB")
        for bucket, key, storage_class, name in extra:
            print(f"  s3://{bucket}/{key}  {storage_class}  {aws.world.object_size(key) / 10**9:.0f} GB  {name}")
        if archive_side:
            print(f"  archive state machine: {stack.outputs['ArchiveStateMachineArn']}")
            print(f"  archive bucket: {stack.outputs['ArchiveBucket']}")
        for vault, arn, name, gb, days in points:
            print(f"  recovery point {arn}  {vault}  {gb} GB  {days} days old  {name}")
        print(
            f"\nexport AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={args.region}"
        )
        print(
            f"aws stepfunctions start-execution --state-machine-arn {stack.state_machine_arn} \\\n"
            f'  --input \'{{"recoveryPoint": "{keys[1][0]}", "recoveryPointBucket": "{BUCKET}", '
            '"restoreRequestDays": "1", "restoreRequestTier": "Standard"}\''
        )
        queue = stack.outputs["FailedExecutionQueueUrl"]
        print(f"aws --endpoint-url {endpoint} sqs receive-message --queue-url {queue}")
        print("  (the AWS CLI sends `aws sqs` to AWS unless --endpoint-url is given: there it ignores AWS_ENDPOINT_URL)")
        if args.seed == 0:
            print("The payloads of events/executions/ name these objects (seed 0): --input file://events/executions/<payload>.json")
        print("Ctrl-C stops the emulator.", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
