"""`make bench`: what waiting costs and how late the workflow notices, per profile, on a seeded world.

For every storage class x tier, SAMPLES seeded worlds each draw an AMI size and a restore time (across and beyond
AWS's windows), an image-restore time by size and every event's delivery delay (emulator/world.py). The real state
machine runs each sample once per profile, side by side on the same world:
  fixed-60s        poll every 60 s, no events reach the stack (the original solution's loop)
  tiered           the schedule before events (first look at the earliest typical completion), no events
  events           the deployed behaviour: the bucket sends its events, S3's and EC2's events resume the waits
  events-10%-lost  the same with each delivery lost with probability 0.1
  events-all-lost  the same with every event lost: the safety net's polls alone
The baselines' schedules reach the deployed stack through tools/baselines.py (production has only events); the
other profiles differ by the world's event loss.
Measured per run:
  restore lag  the copy became readable -> Restore Image started (the emulator's ground truth vs the history)
  image lag    the AMI became available -> Notify Success started (the email)
  the delivery delay of the event that reported each (S3's Object Restore Completed, EC2's AMI State Change),
  transitions, history events, and the workflow's own cost (state transitions, Lambda, S3 and DynamoDB requests;
  retrieval per GB is the same for every profile and left out).
Targets (exit 1 on a miss): with events delivered, p95 of (lag - that event's delivery delay) <= 60 s for the copy
and for the image, and <= 40 transitions in every run; with every event lost, p95 of (restore lag / time the restore
took) <= 10 %; under 1,000 history events in every run of every profile but fixed-60s.
Writes results/bench.csv (one row per run) and results/bench.png (lag against transitions per profile).
Prices: the Step Functions, Lambda, S3 and DynamoDB pricing pages (us-east-1 list prices, late 2025; check before quoting).
"""

from __future__ import annotations

import csv
import multiprocessing
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tools import bench_report

HOUR = 3600
SAMPLES = 4
# profile -> (the schedule: the deployed one or a baseline of tools/baselines.py, the bucket sends events, share lost)
PROFILES = {
    "fixed-60s": ("fixed-60s", False, 1.0),
    "tiered": ("tiered", False, 1.0),
    "events": ("events", True, 0.0),
    "events-10%-lost": ("events", True, 0.1),
    "events-all-lost": ("events", True, 1.0),
}
CASES = [
    ("GLACIER_IR", "Standard"),
    ("GLACIER", "Expedited"),
    ("GLACIER", "Standard"),
    ("GLACIER", "Bulk"),
    ("DEEP_ARCHIVE", "Standard"),
    ("DEEP_ARCHIVE", "Bulk"),
]
PRICES = {
    "state_transition": 0.025 / 1000,
    "lambda_request": 0.20 / 1_000_000,
    "lambda_gb_second": 0.0000166667,
    "s3_request": 0.0004 / 1000,
    "dynamodb_write": 0.625 / 1_000_000,  # on-demand write request units
    "dynamodb_read": 0.125 / 1_000_000,
}
LAMBDA_GB, LAMBDA_BILLED_SECONDS = 128 / 1024, 0.1  # ASSUMPTION: 100 ms billed per invocation (one or two AWS calls)
RESULTS = Path(__file__).resolve().parent.parent / "results"


@dataclass
class Row:
    profile: str
    storage_class: str
    tier: str
    sample: int
    size_gb: float
    restore_s: float  # how long S3 took (0 for a readable class)
    image_s: float  # how long CreateRestoreImageTask took
    status: str
    error: str
    transitions: int
    history_events: int
    restore_lag_s: float | None
    image_lag_s: float | None
    restore_event_delay_s: float | None  # when S3's Object Restore Completed reached the stack (None: lost or none)
    image_event_delay_s: float | None
    cost_usd: float
    real_seconds: float


def run(job: tuple[str, str, str, int]) -> Row:
    """One execution in a fresh emulated account seeded by the sample (runs in a worker process)."""
    from emulator.facade import Emulator
    from tools import baselines

    profile, storage_class, tier, sample = job
    schedule, bucket_events, loss = PROFILES[profile]
    real_start = time.perf_counter()
    with Emulator(seed=1000 * CASES.index((storage_class, tier)) + sample) as aws:
        aws.world.event_loss = loss
        stack = aws.deploy()
        if schedule in baselines.PROFILES:
            baselines.use(stack, schedule)
        key = aws.archive_ami("bench-server", "bench-archive", storage_class)
        if bucket_events:
            aws.send_bucket_events("bench-archive")
        payload = {"recoveryPoint": key, "recoveryPointBucket": "bench-archive", "restoreRequestDays": "1", "restoreRequestTier": tier}
        run = aws.wait(stack, aws.start(stack, payload), timeout=1200)
        events = aws.events(run.arn)
        entered = sum(1 for e in events if str(e["type"]).endswith("StateEntered"))
        invocations = sum(1 for e in events if str(e["type"]).endswith(("LambdaFunctionScheduled", "TaskScheduled")))
        tasks_entered = sum(1 for e in events if str(e["type"]).endswith("TaskStateEntered"))
        transitions = entered + invocations - tasks_entered  # a retried task is billed as a transition too
        resumes = len(aws.functions[stack.physical["ResumeWaitingFunction"]].invocations)
        restore = aws.s3.restores.get(("bench-archive", key))
        ready = restore.ready_at if restore else None
        started_image = run.entered_at("Restore Image")
        image = next(iter(aws.ec2.image_restores.values()), None)
        emailed = run.entered_at("Notify Success")
        s3_requests = sum(n for op, n in aws.requests.items() if op.startswith("s3."))
        writes = sum(n for op, n in aws.requests.items() if op in ("dynamodb.PutItem", "dynamodb.DeleteItem"))
        reads = sum(n for op, n in aws.requests.items() if op == "dynamodb.Query")
        cost = (
            transitions * PRICES["state_transition"]
            + (invocations + resumes) * (PRICES["lambda_request"] + LAMBDA_GB * LAMBDA_BILLED_SECONDS * PRICES["lambda_gb_second"])
            + s3_requests * PRICES["s3_request"]
            + writes * PRICES["dynamodb_write"]
            + reads * PRICES["dynamodb_read"]
        )
        readable_at = ready or run.started
        return Row(
            profile=profile,
            storage_class=storage_class,
            tier=tier,
            sample=sample,
            size_gb=round(aws.world.object_size(key) / 10**9, 1),
            restore_s=round((ready - restore.requested_at).total_seconds()) if restore and ready else 0,
            image_s=round((image.ready_at - image.started_at).total_seconds()) if image else 0,
            status=run.status,
            error=run.error or "",
            transitions=transitions,
            history_events=len(events),
            restore_lag_s=round((started_image - readable_at).total_seconds(), 1) if started_image else None,
            image_lag_s=round((emailed - image.ready_at).total_seconds(), 1) if emailed and image else None,
            restore_event_delay_s=delivery_delay(aws, "Object Restore Completed"),
            image_event_delay_s=delivery_delay(aws, "EC2 AMI State Change"),
            cost_usd=round(cost, 6),
            real_seconds=round(time.perf_counter() - real_start, 1),
        )


def delivery_delay(aws: Any, detail_type: str) -> float | None:
    """Seconds from the first such event to its first delivery (None if it was lost or never sent)."""
    emitted = [e for e in aws.eventbridge.emitted if e["detail-type"] == detail_type]
    if not emitted:
        return None
    delivered = [d for d in aws.eventbridge.deliveries if d.event_id == emitted[0]["id"] and d.outcome == "delivered"]
    if not delivered:
        return None
    sent = datetime.fromisoformat(emitted[0]["time"].replace("Z", "+00:00"))
    return round(float((min(d.at for d in delivered) - sent).total_seconds()), 1)


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def spread(values: list[float]) -> str:
    """mean / p95 / max in whole seconds. round() gives an int: a lag of -0.1 s (the lag and the delay are each to 0.1 s)
    reads 0, where format(-0.1, ".0f") wrote "-0"."""
    return f"{round(statistics.mean(values))} / {round(p95(values))} / {round(max(values))}" if values else "-"


def summary(rows: list[Row]) -> tuple[str, list[str]]:
    lines = [
        f"{'class':<13}{'tier':<10}{'profile':<16}{'ok':>6}{'restore lag s mean/p95/max':>28}{'image lag s mean/p95/max':>26}"
        f"{'transitions':>12}{'events max':>11}{'cost USD':>10}"
    ]
    missed: list[str] = []

    for storage_class, tier in CASES:
        for profile in PROFILES:
            group = [r for r in rows if (r.storage_class, r.tier, r.profile) == (storage_class, tier, profile)]
            ok = [r for r in group if r.status == "SUCCEEDED"]
            rl = [r.restore_lag_s for r in ok if r.restore_lag_s is not None]
            il = [r.image_lag_s for r in ok if r.image_lag_s is not None]
            lines.append(
                f"{storage_class:<13}{tier:<10}{profile:<16}{len(ok):>3}/{len(group):<2}{spread(rl):>28}{spread(il):>26}"
                f"{statistics.mean(r.transitions for r in group):>12,.0f}{max(r.history_events for r in group):>11,}"
                f"{statistics.mean(r.cost_usd for r in group):>10.4f}"
            )
            name = f"{storage_class} {tier} {profile}"
            if profile != "fixed-60s":
                missed += [f"{name} sample {r.sample}: {r.status} {r.error}" for r in group if r.status != "SUCCEEDED"]
                missed += [f"{name} sample {r.sample}: {r.history_events} history events" for r in group if r.history_events >= 1000]
            if profile == "events":
                copy = [r.restore_lag_s - (r.restore_event_delay_s or 0) for r in ok if r.restore_lag_s is not None and r.restore_s > 0]
                image = [r.image_lag_s - (r.image_event_delay_s or 0) for r in ok if r.image_lag_s is not None]
                for what, excess in (("restore", copy), ("image", image)):
                    if excess and p95(excess) > 60:
                        missed.append(f"{name}: p95 {what} lag beyond the event's delivery delay {p95(excess):.0f} s > 60 s")
                missed += [f"{name} sample {r.sample}: {r.transitions} transitions > 40" for r in group if r.transitions > 40]
            if profile == "events-all-lost":
                share = [r.restore_lag_s / r.restore_s for r in ok if r.restore_lag_s is not None and r.restore_s > 0]
                if share and p95(share) > 0.10:
                    missed.append(f"{name}: p95 restore lag {100 * p95(share):.1f} % of the restore's time > 10 %")
    lines.append("")
    by_run = {(r.profile, r.storage_class, r.tier, r.sample): r for r in rows}
    for profile in PROFILES:
        group = [r for r in rows if r.profile == profile and r.status == "SUCCEEDED"]
        share = [r.restore_lag_s / r.restore_s for r in group if r.restore_lag_s is not None and r.restore_s > 0]
        excess = [r.restore_lag_s - (r.restore_event_delay_s or 0) for r in group if r.restore_lag_s is not None and r.restore_s > 0]
        lines.append(
            f"{profile:<16} restore lag p95 {p95(share) * 100:5.1f} % of the restore's time, p95 beyond the event's delay "
            f"{p95(excess):7.0f} s; transitions max {max(r.transitions for r in group):5,}; history events max "
            f"{max(r.history_events for r in group):6,}; mean cost {statistics.mean(r.cost_usd for r in group):.4f} USD"
        )
    delivered = [r for r in rows if r.profile == "events" and r.status == "SUCCEEDED"]
    pairs = [(by_run[("fixed-60s", r.storage_class, r.tier, r.sample)], r) for r in delivered]
    ratio = [fixed.transitions / events.transitions for fixed, events in pairs]
    lines.append(f"transitions fixed-60s / events, same world: min {min(ratio):.1f}x, median {statistics.median(ratio):.0f}x, "
                 f"max {max(ratio):.0f}x")  # fmt: skip
    failed_fixed = [r for r in rows if r.profile == "fixed-60s" and r.status != "SUCCEEDED"]
    lines.append(f"fixed-60s runs that failed: {len(failed_fixed)} ({', '.join(sorted({r.error for r in failed_fixed})) or 'none'})")
    return "\n".join(lines), missed


def chart(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 6))
    for profile in PROFILES:
        group = [r for r in rows if r.profile == profile and r.status == "SUCCEEDED" and r.restore_lag_s is not None and r.restore_s > 0]
        axis.scatter([r.transitions for r in group], [max(r.restore_lag_s or 0, 1) / 60 for r in group], label=profile, s=18)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("state transitions per restore (log)")
    axis.set_ylabel("restore-detection lag, min (log; under a second shown as 1 s)")
    axis.set_title("Seeded world: sizes 8 GB - 4 TB, restore times across and beyond AWS's windows")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> int:
    start = time.perf_counter()
    jobs = [(profile, c, t, s) for c, t in CASES for s in range(SAMPLES) for profile in PROFILES]
    # Slow jobs first (fixed-60s on long restores), so the two workers finish together.
    jobs.sort(key=lambda j: (j[0] != "fixed-60s", CASES.index((j[1], j[2])) * -1))
    # (fixed-60s on a long restore is the slowest job by far: every minute is a Lambda call with three AWS requests)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        rows = sorted(pool.map(run, jobs, chunksize=1), key=lambda r: (CASES.index((r.storage_class, r.tier)), r.sample, r.profile))
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "bench.csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    chart(rows, RESULTS / "bench.png")
    text, missed = summary(rows)
    print(text)
    print(f"\nWrote {RESULTS / 'bench.csv'} and {RESULTS / 'bench.png'}; {len(rows)} runs in {time.perf_counter() - start:.0f} s.")
    for target in missed:
        print(f"MISSED: {target}")
    bench_report.write_single(rows, list(PROFILES), CASES, p95, time.perf_counter() - start, missed)  # docs/benchmark.md
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
