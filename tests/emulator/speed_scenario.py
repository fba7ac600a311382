"""One restore, as JSON: `python -m tests.emulator.speed_scenario` prints it (tests/emulator/test_speed.py runs it in
a process without the speed-only patches and compares it with the same restore run in its own process, with them)."""

from __future__ import annotations

import json
import os
from typing import Any

from emulator.facade import Emulator


def restore() -> dict[str, Any]:
    with Emulator(seed=3) as aws:
        aws.client("s3").create_bucket(Bucket="my-ami-archive")
        stack = aws.deploy()
        key = aws.archive_ami("web-server-2025-01", "my-ami-archive", "GLACIER", size_gb=40)
        aws.send_bucket_events("my-ami-archive")
        aws.world.restore_seconds[key], aws.world.image_seconds[key], aws.world.event_delay_seconds = 4 * 3600, 1800, 5
        payload = {"recoveryPoint": key, "recoveryPointBucket": "my-ami-archive", "restoreRequestTier": "Standard"}
        run = aws.run(stack, payload, name="speed")
        found = {
            "status": run.status,
            "output": run.output,
            "states": run.states_entered(),
            "emails": run.emails,
            "requests": dict(sorted(aws.requests.items())),
            "seconds": (run.stopped - run.started).total_seconds(),
        }
    as_json: dict[str, Any] = json.loads(json.dumps(found, default=str))
    return as_json


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    print(json.dumps(restore(), sort_keys=True))


if __name__ == "__main__":
    main()
