"""`make demo`: the real workflow, end to end, on the local emulator - no AWS account.

Deploys template.yaml, archives three AMIs the way the archive side does (CreateStoreImageTask, then lifecycle to
Glacier Instant Retrieval, Flexible Retrieval and Deep Archive), starts console-style executions with the payloads
in events/executions/ plus one invalid request, shows their progress on the virtual clock, then prints the emails.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from typing import Any

from deploy.template import ROOT
from emulator.session import Emulator

BUCKET = "my-ami-archive"
# (payload file, AMI name, storage class the lifecycle rule moved it to)
SCENARIOS = [
    ("glacier-instant-retrieval", "web-server-2025-01", "GLACIER_IR"),
    ("glacier-standard", "app-server-2024-11", "GLACIER"),
    ("deep-archive-bulk", "db-server-2023-06", "DEEP_ARCHIVE"),
    ("invalid-tier-and-days", "build-agent-2025-03", "GLACIER"),
]
LOOP_STATES = {
    "Wait For Restore",
    "Check Restore Status",
    "Is Copy Readable?",
    "Wait For Image",
    "Check Image State",
    "Is Image Available?",
}


def payload(name: str, key: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((ROOT / "events" / "executions" / f"{name}.json").read_text())
    return {**body, "recoveryPoint": key}


def clock_text(elapsed: timedelta) -> str:
    seconds = int(elapsed.total_seconds())
    return f"+{seconds // 3600:3d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def main() -> int:
    real_start = time.perf_counter()
    with Emulator() as aws:
        stack = aws.deploy()
        print(
            f"Deployed template.yaml as stack '{stack.name}' on the local emulator "
            f"(virtual clock starts {aws.clock.now():%Y-%m-%d %H:%M} UTC)"
        )
        print(f"  state machine {stack.state_machine_arn}\n")
        aws.client("s3").create_bucket(Bucket=BUCKET)
        runs: dict[str, str] = {}
        with aws.clock.hold():  # start every execution at the same simulated instant
            for name, ami_name, storage_class in SCENARIOS:
                key = aws.archive_ami(ami_name, BUCKET, storage_class)
                print(f"Archived AMI '{ami_name}' as s3://{BUCKET}/{key} ({storage_class}); starting '{name}'")
                runs[name] = aws.start(stack, payload(name, key), name=name)
        print()
        seen: dict[str, list[str]] = {name: [] for name in runs}
        start = aws.clock.now()
        print("  simulated    execution                    state entered                  workflow status")
        sfn = aws.client("stepfunctions")
        while True:
            running = False
            for name, arn in runs.items():
                status = sfn.describe_execution(executionArn=arn)["status"]
                running |= status == "RUNNING"
                entered = [
                    (e["stateEnteredEventDetails"]["name"], e["timestamp"]) for e in aws.history(arn) if "stateEnteredEventDetails" in e
                ]
                for state, when in entered[len(seen[name]) :]:
                    if state not in LOOP_STATES or state not in seen[name]:
                        print(f"  {clock_text(when - start)}  {name:<28} {state:<30} {status}")
                    seen[name].append(state)
            if not running:
                break
            time.sleep(0.05)
        print()
        ok = True
        for name, arn in runs.items():
            run = aws.wait(stack, arn)
            polls = run.count("Check Restore Status")
            print(
                f"== {name}: {run.status}{' (' + run.error + ')' if run.error else ''}, "
                f"{len(run.history)} history events, {polls} restore checks, {run.stopped - run.started} simulated"
            )
            for email in run.emails:
                print(f"   Subject: {email['subject']}")
                print("   " + email["message"].replace("\n", "\n   "))
            print()
            expected = ("FAILED", "InvalidInputError") if name.startswith("invalid") else ("SUCCEEDED", None)
            ok &= (run.status, run.error) == expected and len(run.emails) == 1
        images = aws.client("ec2").describe_images(Owners=["self"])["Images"]
        print("Restored AMIs:", ", ".join(f"{i['ImageId']} ({i['Name']}, {i['State']})" for i in images))
        print(f"Done in {time.perf_counter() - real_start:.1f} s of real time.")
    return 0 if ok and len(images) == 3 else 1


if __name__ == "__main__":
    sys.exit(main())
