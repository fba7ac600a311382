"""`make bench` (third part): archiving 100 AWS Backup recovery points of mixed sizes under EC2's store quota.

Both scenarios run side by side (one worker each), each in a fresh emulated account on the same seeded world: 100 EC2
recovery points of 8-1,000 GB (log-uniform, seeded; the stored object's size and the store's duration are the world's
draws), 40 days old, in one vault; one archive run ({}) with ArchiveVaultNames set and the default DEEP_ARCHIVE class.
EC2's in-progress store quota is the world's 1,200 GB ([EC2-SRW]).
  budget-1200  the stack's store budget at its default, ImageStoreQuotaGb 1,200 (EC2's figure)
  budget-5000  the budget set above EC2's quota (ImageStoreQuotaGb 5,000): EC2's own refusals do the pacing
Measured: virtual hours until the run ended with every point archived, against a lower bound from the same world that
no schedule within the quota can beat (the largest of: the longest single store task, the GB-hours of every store over
the 1,200 GB quota, the stores larger than half the quota one after another), and their ratio; the most store work EC2
had in flight; CreateStoreImageTask calls EC2 refused; state transitions; the workflow's own cost (transitions,
Lambda, AWS requests); objects moved to Deep Archive by the lifecycle rule two days later; what the objects cost per
month there against the recovery points in AWS Backup.
Targets (issue 22; exit 1 on a miss): budget-1200 archives all 100 with no EC2 refusal, never over the quota.
Writes results/bench_archive.csv and the bench:archive block of docs/benchmark.md, and prints a table.
Prices: us-east-1 list prices of late 2025 (Step Functions, Lambda, S3 and AWS Backup pricing pages): S3 Glacier Deep
Archive $0.00099 per GB-month, an EC2 backup in AWS Backup (EBS snapshot) $0.05 per GB-month; check before quoting.
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tools import bench_report
from tools.bench_batch import LAMBDA_BILLED_SECONDS, LAMBDA_GB, PRICES, transitions

GIB = 2**30
GB = 10**9
RESULTS = Path(__file__).resolve().parent.parent / "results"
EC2_QUOTA_GB = 1200  # the world's (emulator/world/draws.py, counted in GiB), EC2 User Guide's in-progress store figure
DEEP_ARCHIVE_GB_MONTH = 0.00099
BACKUP_EBS_GB_MONTH = 0.05
SCENARIOS = {"budget-1200": 1200, "budget-5000": 5000}
POINTS, SEED = 100, 22


@dataclass
class Row:
    scenario: str
    budget_gb: int
    points: int
    snapshot_gb: float
    archived: int
    failed: int
    hours_until_all_archived: float
    lower_bound_hours: float
    against_the_bound: float
    most_gb_in_flight: float
    refused_store_tasks: int
    store_tasks: int
    transitions: int
    history_events: int
    cost_usd: float
    in_deep_archive_after_2_days: int
    archive_usd_per_month: float
    backup_usd_per_month: float
    emails: int
    real_seconds: float


def sizes(seed: int) -> list[int]:
    """The points' snapshot data in GiB, log-uniform from 8 to 1,000 (the bench's population, seeded)."""
    rng = random.Random(seed)  # noqa: S311 - a benchmark's population, not a secret
    return [round(math.exp(rng.uniform(math.log(8), math.log(1000)))) for _ in range(POINTS)]


def most_in_flight(tasks: list[Any]) -> float:
    """The most store work (GB of snapshot data) EC2 had in progress at once: ground truth, each task's start and end."""
    moments = sorted({t.started_at for t in tasks})
    return max((sum(t.work_bytes for t in tasks if t.started_at <= m < (t.ended_at or m)) for m in moments), default=0) / GB


def lower_bound_hours(tasks: list[Any]) -> float:
    """No schedule that keeps the store work in flight within EC2's quota archives them sooner: the longest store alone,
    all the GB-seconds over the quota, or the stores larger than half the quota one after another (no two fit)."""
    durations: list[tuple[float, int]] = [((t.completes_at - t.started_at).total_seconds(), int(t.work_bytes)) for t in tasks]
    quota = EC2_QUOTA_GB * GIB  # the world counts GiB
    longest = max(seconds for seconds, _ in durations)
    packed = sum(seconds * work for seconds, work in durations) / quota
    one_at_a_time = sum(seconds for seconds, work in durations if work > quota / 2)
    return max(longest, packed, one_at_a_time) / 3600


def run(scenario: str) -> Row:
    """One scenario in a fresh emulated account (runs in a worker process)."""
    from emulator.facade import Emulator

    real_start = time.perf_counter()
    budget = SCENARIOS[scenario]
    population = sizes(SEED)
    with Emulator(seed=SEED) as aws:
        stack = aws.deploy(ArchiveVaultNames="bench", ImageStoreQuotaGb=str(budget))
        points = [aws.backup_ec2("bench", name=f"fleet-{n:03d}", size_gb=gib, days_ago=40) for n, gib in enumerate(population)]
        started, requests_before = aws.clock.now(), sum(aws.requests.values())  # the run's own requests, not the set-up's
        arn = aws.client("stepfunctions").start_execution(stateMachineArn=stack.physical["ArchiveStateMachine"], input="{}")["executionArn"]
        result = aws.wait(stack, arn, timeout=3600)
        # read from AWS Backup: a run with a failed point ends FAILED, without an output (its cause lists the failed)
        archived = [p for p in points if "glacier-ami-restore:archived-to" in aws.backup.points[p].tags]
        failed = json.loads(result.cause or "{}").get("failed", []) if result.status == "FAILED" else []
        tasks = [t for t in aws.ec2.store_tasks if t.state == "Completed"]
        drawn = list(aws.ec2.store_tasks)  # the bound from every task EC2 accepted, stored or not (the same draws)
        history = aws.events(arn)
        invocations = sum(1 for e in history if str(e["type"]).endswith("LambdaFunctionScheduled"))
        requests = sum(aws.requests.values()) - requests_before
        count = transitions(history)
        cost = (
            count * PRICES["state_transition"]
            + invocations * (PRICES["lambda_request"] + LAMBDA_GB * LAMBDA_BILLED_SECONDS * PRICES["lambda_gb_second"])
            + requests * PRICES["s3_request"]
        )
        hours = (result.stopped - started).total_seconds() / 3600
        bound = lower_bound_hours(drawn)
        stored_gb = sum(aws.world.sizes[t.key] for t in tasks) / GB
        # EC2's figures now: the daily schedule's next run (06:00) archives the points this one failed
        in_flight, store_tasks = most_in_flight(aws.ec2.store_tasks), len(aws.ec2.store_tasks)
        refused = aws.requests["ec2.CreateStoreImageTask"] - store_tasks
        emails = len(aws.emails(stack, arn))
        aws.clock.advance(2 * 24 * 3600)  # the lifecycle rule's first nights
        s3 = aws.client("s3")
        classes = [s3.head_object(Bucket=t.bucket, Key=t.key).get("StorageClass", "STANDARD") for t in tasks]
        return Row(
            scenario=scenario,
            budget_gb=budget,
            points=len(points),
            snapshot_gb=round(sum(population) * GIB / GB, 1),
            archived=len(archived),
            failed=len(failed),
            hours_until_all_archived=round(hours, 2),
            lower_bound_hours=round(bound, 2),
            against_the_bound=round(hours / bound, 2),
            most_gb_in_flight=round(in_flight, 1),
            refused_store_tasks=refused,
            store_tasks=store_tasks,
            transitions=count,
            history_events=len(history),
            cost_usd=round(cost, 4),
            in_deep_archive_after_2_days=classes.count("DEEP_ARCHIVE"),
            archive_usd_per_month=round(stored_gb * DEEP_ARCHIVE_GB_MONTH, 2),
            backup_usd_per_month=round(sum(population) * GIB / GB * BACKUP_EBS_GB_MONTH, 2),
            emails=emails,
            real_seconds=round(time.perf_counter() - real_start, 1),
        )


HEAD = (
    "scenario", "store budget GB", "points", "snapshot GB", "archived", "failed", "hours until all archived",
    "lower bound, hours", "against the bound", "most GB in flight", "EC2 refusals", "store tasks", "transitions",
    "history events", "cost USD", "in Deep Archive after 2 days", "USD per month: Deep Archive / AWS Backup", "emails",
)  # fmt: skip


def cells(r: Row) -> list[str]:
    return [
        r.scenario, f"{r.budget_gb:,}", str(r.points), f"{r.snapshot_gb:,.0f}", str(r.archived), str(r.failed),
        f"{r.hours_until_all_archived:.1f}", f"{r.lower_bound_hours:.1f}", f"{r.against_the_bound:.2f}",
        f"{r.most_gb_in_flight:,.0f}", str(r.refused_store_tasks), str(r.store_tasks), f"{r.transitions:,}",
        f"{r.history_events:,}", f"{r.cost_usd:.4f}", str(r.in_deep_archive_after_2_days),
        f"{r.archive_usd_per_month:,.2f} / {r.backup_usd_per_month:,.2f}", str(r.emails),
    ]  # fmt: skip


def missed_targets(rows: list[Row]) -> list[str]:
    (ours,) = [r for r in rows if r.scenario == "budget-1200"]
    missed = [f"budget-1200: {ours.points - ours.archived} of {ours.points} points not archived"] if ours.archived != ours.points else []
    missed += [f"budget-1200: EC2 refused {ours.refused_store_tasks} store tasks"] if ours.refused_store_tasks else []
    missed += (
        [f"budget-1200: {ours.most_gb_in_flight} GB in flight over EC2's {EC2_QUOTA_GB}"]
        if ours.most_gb_in_flight > EC2_QUOTA_GB * GIB / GB
        else []
    )
    return missed


def main() -> int:
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(2) as pool:  # side by side
        rows = pool.map(run, list(SCENARIOS), chunksize=1)
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "bench_archive.csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    for r in rows:
        print(asdict(r))
    missed = missed_targets(rows)
    seconds = time.perf_counter() - start
    for target in missed:
        print(f"MISSED: {target}")
    body = (
        bench_report.measured(f"{len(rows)} scenarios", seconds, missed)
        + "\n\n"
        + bench_report.markdown_table(HEAD, [cells(r) for r in rows])
    )
    doc = bench_report.DOC
    doc.write_text(bench_report.replace_block(doc.read_text(), "archive", body))
    print(f"Wrote {RESULTS / 'bench_archive.csv'} and the bench:archive block of {doc}; {seconds:.0f} s.")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
