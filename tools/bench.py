"""`make bench`: what waiting costs and how late the workflow notices, per polling profile, on a seeded world.

For every storage class x tier, SAMPLES seeded worlds each draw an AMI size and a restore time (across and beyond
AWS's windows) and an image-restore time by size (emulator/world.py). The real state machine runs each sample once
per PollingSchedule, side by side on the same world. Measured per run:
  restore lag  the copy became readable -> Restore Image started (the emulator's ground truth vs the history)
  image lag    the AMI became available -> Notify Success started (the email)
  transitions, history events, and the workflow's own cost (state transitions, Lambda, S3 requests; retrieval per GB
  is the same for every profile and left out).
Writes results/bench.csv (one row per run) and results/bench.png, prints the distributions, and exits 1 on a missed
target. Prices: the Step Functions, Lambda and S3 pricing pages (us-east-1 list prices, late 2025; check before quoting).
"""

from __future__ import annotations

import csv
import multiprocessing
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HOUR = 3600
SAMPLES = 6
PROFILES = ("tiered", "fixed-60s")
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
    cost_usd: float
    real_seconds: float


def run(job: tuple[str, str, str, int]) -> Row:
    """One execution in a fresh emulated account seeded by the sample (runs in a worker process)."""
    from emulator.session import Emulator

    profile, storage_class, tier, sample = job
    real_start = time.perf_counter()
    with Emulator(seed=1000 * CASES.index((storage_class, tier)) + sample) as aws:
        stack = aws.deploy(PollingSchedule=profile)
        key = aws.archive_ami("bench-server", "bench-archive", storage_class)
        payload = {"recoveryPoint": key, "recoveryPointBucket": "bench-archive", "restoreRequestDays": "1", "restoreRequestTier": tier}
        run = aws.wait(stack, aws.start(stack, payload), timeout=600)
        events = aws.events(run.arn)
        entered = sum(1 for e in events if str(e["type"]).endswith("StateEntered"))
        invocations = sum(1 for e in events if str(e["type"]).endswith("LambdaFunctionScheduled"))
        tasks_entered = sum(1 for e in events if str(e["type"]).endswith("TaskStateEntered"))
        transitions = entered + invocations - tasks_entered  # a retried task is billed as a transition too
        restore = aws.s3.restores.get(("bench-archive", key))
        ready = restore.ready_at if restore else None
        started_image = run.entered_at("Restore Image")
        image = next(iter(aws.ec2.image_restores.values()), None)
        emailed = run.entered_at("Notify Success")
        s3_requests = sum(n for op, n in aws.requests.items() if op.startswith("s3."))
        cost = (
            transitions * PRICES["state_transition"]
            + invocations * (PRICES["lambda_request"] + LAMBDA_GB * LAMBDA_BILLED_SECONDS * PRICES["lambda_gb_second"])
            + s3_requests * PRICES["s3_request"]
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
            cost_usd=round(cost, 6),
            real_seconds=round(time.perf_counter() - real_start, 1),
        )


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def summary(rows: list[Row]) -> tuple[str, list[str]]:
    lines = [
        f"{'class':<13}{'tier':<10}{'profile':<10}{'ok':>4}{'restore lag s mean/p95/max':>30}{'image lag s mean/p95/max':>28}"
        f"{'transitions':>12}{'events max':>11}{'cost USD':>10}"
    ]
    missed: list[str] = []
    for storage_class, tier in CASES:
        for profile in PROFILES:
            group = [r for r in rows if (r.storage_class, r.tier, r.profile) == (storage_class, tier, profile)]
            ok = [r for r in group if r.status == "SUCCEEDED"]
            rl = [r.restore_lag_s for r in ok if r.restore_lag_s is not None]
            il = [r.image_lag_s for r in ok if r.image_lag_s is not None]

            def dist(values: list[float]) -> str:
                return f"{statistics.mean(values):.0f} / {p95(values):.0f} / {max(values):.0f}" if values else "-"

            lines.append(
                f"{storage_class:<13}{tier:<10}{profile:<10}{len(ok):>2}/{len(group):<2}{dist(rl):>30}{dist(il):>28}"
                f"{statistics.mean(r.transitions for r in group):>12,.0f}{max(r.history_events for r in group):>11,}"
                f"{statistics.mean(r.cost_usd for r in group):>10.4f}"
            )
            if profile == "tiered":
                missed += [
                    f"{storage_class} {tier} sample {r.sample}: tiered {r.status} {r.error}" for r in group if r.status != "SUCCEEDED"
                ]
                missed += [
                    f"{storage_class} {tier} sample {r.sample}: {r.history_events} events" for r in group if r.history_events >= 1000
                ]
    fixed = [r.restore_lag_s for r in rows if r.profile == "fixed-60s" and r.restore_lag_s is not None and r.restore_s > 0]
    fixed_mean = statistics.mean(fixed)
    lines += ["", f"fixed-60s mean restore lag over {len(fixed)} archived runs: {fixed_mean:.1f} s (a 60 s poll: about 30 s expected)"]
    if not 15 <= fixed_mean <= 45:
        missed.append(f"fixed-60s mean restore lag {fixed_mean:.1f} s: the emulated times line up with the schedule")
    both = {(r.storage_class, r.tier, r.sample): r for r in rows if r.profile == "fixed-60s"}
    cheaper = [r for r in rows if r.profile == "tiered" and both[(r.storage_class, r.tier, r.sample)].status == "SUCCEEDED"]
    ratio = [both[(r.storage_class, r.tier, r.sample)].transitions / r.transitions for r in cheaper]
    lines.append(f"transitions fixed-60s / tiered where both succeeded: min {min(ratio):.1f}x, median {statistics.median(ratio):.1f}x")
    failed_fixed = [r for r in both.values() if r.status != "SUCCEEDED"]
    lines.append(f"fixed-60s runs that failed: {len(failed_fixed)} ({', '.join(sorted({r.error for r in failed_fixed})) or 'none'})")
    return "\n".join(lines), missed


def chart(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(12, 8))
    labels, lags, spend = [], [], []
    for storage_class, tier in CASES:
        for profile in PROFILES:
            group = [r for r in rows if (r.storage_class, r.tier, r.profile) == (storage_class, tier, profile) and r.status == "SUCCEEDED"]
            short = storage_class.replace("DEEP_ARCHIVE", "DA").replace("GLACIER_IR", "GIR").replace("GLACIER", "GFR")
            labels.append(f"{short} {tier}\n{profile}")
            lags.append([(r.restore_lag_s or 0) / 60 for r in group] or [0])
            spend.append([r.transitions for r in group] or [0])
    top.boxplot(lags, tick_labels=labels)
    top.set_ylabel("restore-detection lag (min)")
    top.set_title("Seeded world: sizes 8 GB - 4 TB, restore times across and beyond AWS's windows")
    bottom.boxplot(spend, tick_labels=labels)
    bottom.set_yscale("log")
    bottom.set_ylabel("state transitions (log)")
    for axis in (top, bottom):
        axis.tick_params(axis="x", labelsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> int:
    start = time.perf_counter()
    jobs = [(profile, c, t, s) for c, t in CASES for s in range(SAMPLES) for profile in PROFILES]
    # Slow jobs first (fixed-60s on long restores), so the two workers finish together.
    jobs.sort(key=lambda j: (j[0] != "fixed-60s", CASES.index((j[1], j[2])) * -1))
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
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
