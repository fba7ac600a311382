"""`make demo`: the real workflow, end to end, on the local emulator - no AWS account.

Deploys template.yaml, archives four AMIs the way the archive side does (CreateStoreImageTask, then lifecycle to
Glacier Instant Retrieval, Flexible Retrieval and Deep Archive), starts console-style executions with the payloads in
events/executions/ (one of them invalid) at the same simulated instant, and prints what happened as it happens: every
line is read from an execution's history, at that event's own time, in time order across the executions. A polling
loop (check, wait, check ...) is one line. Then the emails, and one line per execution with its final status. Last, the
whole loop of issue 22: an AWS Backup EC2 recovery point archived by ArchiveStateMachine (stored, verified, tagged),
moved to Deep Archive by the bucket's lifecycle rule, then restored as an AMI by the restore state machine.

Sizes and durations are pinned below, so every run prints the same simulated times. They end away from the safety
net's polls, so that S3's and EC2's events (delivered after the world's seeded delays, up to a minute here) notice every
wait's end, as they would on AWS most of the time: a restore ending a few seconds before a poll is noticed by the poll.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from deploy.template import ROOT
from emulator.facade import Emulator


@dataclass(frozen=True)
class Scenario:
    payload: str  # events/executions/<payload>.json
    ami_name: str
    storage_class: str  # where the lifecycle rule moved the object
    size_gb: float
    restore_hours: float | None  # how long S3 takes to restore it (None: readable, no restore)
    image_minutes: float  # how long CreateRestoreImageTask takes
    expected: tuple[str, str | None]  # (status, error) the scenario must end with


BUCKET = "my-ami-archive"
SCENARIOS = [
    Scenario("glacier-instant-retrieval", "web-server-2025-01", "GLACIER_IR", 8, None, 10, ("SUCCEEDED", None)),
    Scenario("glacier-standard", "app-server-2024-11", "GLACIER", 60, 4, 30, ("SUCCEEDED", None)),
    Scenario("deep-archive-bulk", "db-server-2023-06", "DEEP_ARCHIVE", 200, 31, 60, ("SUCCEEDED", None)),
    Scenario("invalid-tier-and-days", "build-agent-2025-03", "GLACIER", 8, 4, 15, ("FAILED", "InvalidInputError")),
]
# Each polling loop is printed as one line, named after its check.
LOOPS = {
    "Check Restore Status": {"Check Restore Status", "Is Copy Readable?", "Wait For Restore", "Schedule Next Copy Check"},
    "Check Image State": {"Check Image State", "Is Image Available?", "Wait For Image", "Schedule Next Image Check"},
}
LOOP_OF = {state: check for check, states in LOOPS.items() for state in states}


def clock_text(elapsed: timedelta) -> str:
    """The one time format of the demo: +H:MM:SS since the executions started."""
    seconds = int(elapsed.total_seconds())
    return f"+{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def payload(name: str, key: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((ROOT / "events" / "executions" / f"{name}.json").read_text())
    return {**body, "recoveryPoint": key}


@dataclass
class Visit:
    """One state entered, with what its history says about it."""

    name: str
    entered: datetime
    output: dict[str, Any] | None = None
    lambda_errors: list[str] = field(default_factory=list)
    done: bool = False


def visits(history: list[dict[str, Any]]) -> tuple[list[Visit], tuple[str, str | None] | None]:
    """The states entered, in order, and the execution's end (status, error) if it ended."""
    found: list[Visit] = []
    ended: tuple[str, str | None] | None = None
    for event in history:
        kind = event["type"]
        if "stateEnteredEventDetails" in event:
            found.append(Visit(event["stateEnteredEventDetails"]["name"], event["timestamp"]))
        elif "stateExitedEventDetails" in event:
            found[-1].output, found[-1].done = json.loads(event["stateExitedEventDetails"]["output"]), True
        elif kind == "LambdaFunctionFailed":
            found[-1].lambda_errors.append(event["lambdaFunctionFailedEventDetails"]["error"])
        elif kind == "ExecutionSucceeded":
            ended = ("SUCCEEDED", None)
        elif kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            details = event.get("executionFailedEventDetails", {})
            ended = (kind.removeprefix("Execution").upper().replace("TIMEDOUT", "TIMED_OUT"), details.get("error"))
    if ended is not None and found:
        found[-1].done = True  # a Succeed or Fail state has no exit event: the execution's end closes it
    return found, ended


def record(output: dict[str, Any], key: str) -> dict[str, Any]:
    """A record in a state's output ({} if absent; Notify Success's summary holds strings under some names)."""
    found = output.get(key)
    return found if isinstance(found, dict) else {}


def fact(visit: Visit, following: Visit | None, ended: tuple[str, str | None] | None, start: datetime) -> str:
    """What the history says this state found or did."""
    if not visit.done:
        return ""
    out, key = visit.output or {}, visit.name.replace(" ", "")
    retried = f" (after {len(visit.lambda_errors)} Lambda error(s) retried)" if visit.lambda_errors else ""
    if key in out.get("failed", {}):
        return f"failed: {out['failed'][key]['Error']}"
    if isinstance(out.get("Error"), str):  # a Catch with ResultPath "$": the error is the state's whole output
        return f"failed: {out['Error']}"
    restore, image, request, error = (record(out, k) for k in ("restore", "image", "request", "error"))
    text = ""
    if visit.name == "Validate Input":
        text = f"valid: {request['restoreRequestTier']} tier, {request['restoreRequestDays']} day(s)"
    elif visit.name == "Check Storage Class":
        text = f"{restore['storageClass']}, {restore['sizeBytes'] / 10**9:,.0f} GB: {restore['status']}"
    elif visit.name == "Request Restore":
        text = f"RestoreObject ({restore['tier']}): {restore['requestOutcome']}"
    elif visit.name == "Extend Copy":
        text = f"copy {restore['copyExtension']}" + (
            f", expires at {clock_text(datetime.fromisoformat(restore['restoreExpiry']) - start)}" if restore.get("restoreExpiry") else ""
        )
    elif visit.name == "Restore Image":
        text = f"{image.get('imageId') or ''} {image['state']}".strip()
    elif visit.name == "Notify Success":
        text = f"email sent: AMI {out['imageId']} {out['status']}"
    elif visit.name == "Notify Failure":
        text = f"email sent: {error['Error']} at {error['failedStep']}"
    if visit.name in ("Restore Succeeded", "Restore Failed") and ended is not None:
        text = ended[0] + (f" ({ended[1]})" if ended[1] else "")
    elif visit.name.endswith("?") and following is not None:
        text = f"-> {following.name}"
    return (text or "") + retried


@dataclass
class Line:
    at: datetime  # the event's own time (a loop: its last check); while not done, the earliest it can be
    state: str
    text: str
    done: bool


def lines(found: list[Visit], ended: tuple[str, str | None] | None, start: datetime) -> list[Line]:
    """One line per state entered, except that each polling loop is one line."""
    result: list[Line] = []
    i = 0
    while i < len(found):
        visit = found[i]
        loop = LOOP_OF.get(visit.name)
        if loop is None:
            following = found[i + 1] if i + 1 < len(found) else None
            done = visit.done and (following is not None or ended is not None or not visit.name.endswith("?"))
            result.append(Line(visit.entered, visit.name, fact(visit, following, ended, start), done))
            i += 1
            continue
        j = i
        while j < len(found) and LOOP_OF.get(found[j].name) == loop:
            j += 1
        checks = [v for v in found[i:j] if v.name == loop]
        last = checks[-1] if checks else found[j - 1]
        done = j < len(found) or ended is not None
        out = last.output or {}
        failed = out.get("failed", {}).get(loop.replace(" ", ""))
        if failed:
            outcome = f"failed: {failed['Error']}"
        else:
            record = out.get("restore" if loop == "Check Restore Status" else "image") or {}
            outcome = f"{record.get('status') or record.get('state')} at {clock_text(last.entered - start)}"
        span = f"{clock_text(checks[0].entered - start)} ... {clock_text(last.entered - start)}" if checks else ""
        at = last.entered if done else found[j - 1].entered
        result.append(Line(at, f"{loop} x{len(checks)}", f"{span} ({outcome})", done))
        i = j
    return result


VAULT = "daily"  # the archive side's AWS Backup vault (ArchiveVaultNames)
BACKED_UP = ("erp-server-2025-11", 50, 40)  # (AMI name, GB, days old) of the recovery point the loop archives
LOOP_RESTORE_HOURS, LOOP_IMAGE_MINUTES = 10, 20  # pinned: S3's Deep Archive Standard restore and the image restore


def archive_then_restore(aws: Emulator, stack: Any, start: datetime) -> bool:
    """The whole loop: a recovery point archived to Deep Archive, then restored as an AMI; True if both succeeded."""
    sfn, s3 = aws.client("stepfunctions"), aws.client("s3")
    name, size_gb, days = BACKED_UP
    point = aws.backup_ec2(VAULT, name=name, size_gb=size_gb, days_ago=days)
    print(f"\nThe whole loop: AWS Backup's EC2 recovery point {point} (vault {VAULT}, {size_gb} GB, {days} days old)")
    arn = sfn.start_execution(stateMachineArn=stack.physical["ArchiveStateMachine"], input="{}")["executionArn"]
    archived = aws.wait(stack, arn, timeout=120)
    items = archived.output.get("archived", [])
    subject = archived.emails[0]["subject"] if archived.emails else "-"
    print(f"  {clock_text(archived.stopped - start):<10} archive run {archived.status}: {len(items)} archived, "
          f"{len(archived.output.get('skipped', []))} skipped; email: {subject}")  # fmt: skip
    if archived.status != "SUCCEEDED" or len(items) != 1:
        return False
    bucket, key = items[0]["bucket"], items[0]["key"]
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
    print(f"  {'':<10} stored as s3://{bucket}/{key}, tagged backup-recovery-point-arn={tags['backup-recovery-point-arn']}")
    print(f"  {'':<10} the recovery point is tagged {aws.backup.points[point].tags}")
    aws.clock.advance(2 * 24 * 3600)  # S3 runs lifecycle rules once a day
    storage_class = s3.head_object(Bucket=bucket, Key=key).get("StorageClass", "STANDARD")
    print(f"  {clock_text(aws.clock.now() - start):<10} the bucket's lifecycle rule moved it to {storage_class}")
    aws.world.restore_seconds[key] = LOOP_RESTORE_HOURS * 3600
    aws.world.image_seconds[key] = LOOP_IMAGE_MINUTES * 60
    body = {"recoveryPoint": key, "recoveryPointBucket": bucket, "restoreRequestDays": "1", "restoreRequestTier": "Standard"}
    print(f"  {clock_text(aws.clock.now() - start):<10} restore started with {json.dumps(body)}")
    restored = aws.run(stack, body, name="archived-loop")
    image = restored.output.get("imageId")
    print(f"  {clock_text(restored.stopped - start):<10} restore {restored.status}: AMI {image} ({restored.output.get('imageName')}); "
          f"email: {restored.emails[0]['subject'] if restored.emails else '-'}")  # fmt: skip
    return storage_class == "DEEP_ARCHIVE" and restored.status == "SUCCEEDED"


def main() -> int:
    real_start = time.perf_counter()
    with Emulator() as aws:
        stack = aws.deploy(ArchiveVaultNames=VAULT)
        aws.client("s3").create_bucket(Bucket=BUCKET)
        aws.send_bucket_events(BUCKET)  # as the README advises: S3's restore events resume the waits
        runs: dict[str, str] = {}
        with aws.clock.hold():  # start every execution at the same simulated instant
            start = aws.clock.now()
            print(f"Deployed template.yaml as stack '{stack.name}' on the local emulator; +0:00:00 is {start:%Y-%m-%d %H:%M:%S} UTC.")
            keys = {}
            for s in SCENARIOS:  # all archived before any execution runs: the seeded AMI ids, so the keys, stay the same
                keys[s.payload] = key = aws.archive_ami(s.ami_name, BUCKET, s.storage_class, size_gb=s.size_gb)
                if s.restore_hours is not None:
                    aws.world.restore_seconds[key] = s.restore_hours * 3600
                aws.world.image_seconds[key] = s.image_minutes * 60
                print(f"Archived AMI '{s.ami_name}' ({s.size_gb:g} GB) as s3://{BUCKET}/{key} ({s.storage_class})")
            for s in SCENARIOS:
                print(f"Starting '{s.payload}' with events/executions/{s.payload}.json")
                runs[s.payload] = aws.start(stack, payload(s.payload, keys[s.payload]), name=s.payload)
        print(f"\n  {'time':<10} {'execution':<26} {'state':<30} what the history says")
        printed = dict.fromkeys(runs, 0)
        finished: dict[str, tuple[str, str | None]] = {}
        while True:
            now = aws.clock.now()  # read before the histories: anything recorded later is at this time or after
            pending: dict[str, list[Line]] = {}
            for name, arn in runs.items():
                found, ended = visits(aws.history(arn))
                if ended is not None:
                    finished[name] = ended
                pending[name] = lines(found, ended, start)[printed[name] :]
            while True:  # print the earliest line of any execution, once nothing earlier can still appear
                bounds = {n: (p[0].at if p else (None if n in finished else now)) for n, p in pending.items()}
                ready = {n: bool(p) and p[0].done for n, p in pending.items()}
                candidates = [(b, not ready[n], n) for n, b in bounds.items() if b is not None]
                if not candidates:
                    break
                _at, _waiting, name = min(candidates, key=lambda c: (c[0], c[1]))
                if not ready[name]:
                    break
                line = pending[name].pop(0)
                printed[name] += 1
                print(f"  {clock_text(line.at - start):<10} {name:<26} {line.state:<30} {line.text}", flush=True)
            if len(finished) == len(runs) and not any(pending.values()):
                break
            time.sleep(0.05)

        sfn, ok = aws.client("stepfunctions"), True
        print("\nEmails sent to the stack's topic:")
        for s in SCENARIOS:
            for email in aws.emails(stack, runs[s.payload]):
                print(f"\n  [{s.payload}] Subject: {email['subject']}")
                print("  " + email["message"].replace("\n", "\n  "))
            ok &= len(aws.emails(stack, runs[s.payload])) == 1
        for s in SCENARIOS:  # the story it tells: each wait's end noticed by its event
            output = json.loads(sfn.describe_execution(executionArn=runs[s.payload]).get("output") or "{}")
            noticed = [output[k] for k in ("copyNoticedBy", "imageNoticedBy") if output.get(k)]
            ok &= all(by == "event" for by in noticed)
        print("\nSummary (DescribeExecution):")
        for s in SCENARIOS:
            described = sfn.describe_execution(executionArn=runs[s.payload])
            status, error = described["status"], described.get("error")
            output = json.loads(described.get("output") or "{}")
            result = output.get("imageId") or error
            took = clock_text(described["stopDate"] - described["startDate"]) if "stopDate" in described else "-"
            matches = (status, error) == s.expected
            ok &= matches
            print(f"  {s.payload:<26} {status:<10} {result:<24} ended at {took}{'' if matches else '  <- expected ' + str(s.expected)}")
        images = aws.client("ec2").describe_images(Owners=["self"])["Images"]
        ok &= sorted(i["State"] for i in images) == ["available"] * 3
        made = ", ".join(f"{i['ImageId']} ({i['Name']}, {i['State']})" for i in images)
        print(f"Restored AMIs: {made}")
        ok &= archive_then_restore(aws, stack, start)
        print(
            f"Done in {time.perf_counter() - real_start:.1f} s of real time: {'every scenario ended as expected' if ok else 'UNEXPECTED'}."
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
