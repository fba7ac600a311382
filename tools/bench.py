"""`make bench`: what waiting costs, the project's tiered schedule against the original fixed 60-second polling.

For every storage class x tier, with the restore finishing at the early, typical and slow end of its window (and
Deep Archive Bulk at 72 h), the real state machine runs on the emulator's virtual clock once per PollingSchedule.
Each run reports state transitions, history events, Lambda invocations, S3 requests, detection lag (how long after
the copy became readable the workflow noticed) and the workflow's own cost from PRICES. Runs that reach Step
Functions' 25,000-event history quota fail there, as on AWS. Writes results/bench.csv and results/bench.png and
exits 1 if a target of the schedule is missed.
"""

from __future__ import annotations

import csv
import multiprocessing
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

HOUR = 3600
# us-east-1 list prices, USD (../shared/reference/aws-facts.md; check before quoting). Only what the workflow itself
# spends while it waits: retrieval per GB and the one RestoreObject request are the same for both profiles.
PRICES = {
    "state_transition": 0.025 / 1000,
    "lambda_request": 0.20 / 1_000_000,
    "lambda_gb_second": 0.0000166667,
    "s3_head_or_get": 0.0004 / 1000,
}
LAMBDA_GB = 128 / 1024
LAMBDA_BILLED_SECONDS = 0.1  # assumed per invocation: each handler makes one or two AWS calls
PROFILES = ("tiered", "fixed-60s")
TYPICAL_WINDOW_HOURS = {
    ("GLACIER", "Expedited"): 5 / 60,
    ("GLACIER", "Standard"): 5,
    ("GLACIER", "Bulk"): 12,
    ("DEEP_ARCHIVE", "Standard"): 12,
    ("DEEP_ARCHIVE", "Bulk"): 48,
}
RESULTS = Path(__file__).resolve().parent.parent / "results"


@dataclass(frozen=True)
class Scenario:
    storage_class: str
    tier: str
    finish: str  # early | typical | slow | 72h
    restore_hours: float


@dataclass
class Row:
    profile: str
    storage_class: str
    tier: str
    finish: str
    restore_hours: float
    status: str
    error: str
    transitions: int
    history_events: int
    lambda_invocations: int
    s3_requests: int
    detection_lag_minutes: float | None
    cost_usd: float
    simulated_hours: float
    real_seconds: float


def scenarios() -> list[Scenario]:
    from emulator.aws import RESTORE_SECONDS

    found = [Scenario("GLACIER_IR", "Standard", "readable", 0.0)]
    for (family, tier), ends in RESTORE_SECONDS.items():
        found += [Scenario(family, tier, finish, seconds / HOUR) for finish, seconds in ends.items()]
    found.append(Scenario("DEEP_ARCHIVE", "Bulk", "72h", 72.0))
    return found


def run(job: tuple[str, Scenario]) -> Row:
    """One execution in a fresh emulated account (runs in a worker process)."""
    from emulator import aws as emulated_aws
    from emulator.session import Emulator

    profile, scenario = job
    real_start = time.perf_counter()
    with Emulator() as aws:
        stack = aws.deploy(PollingSchedule=profile)
        key = aws.archive_ami("bench", "bench-archive", scenario.storage_class)
        aws.behaviour.restore_seconds[key] = scenario.restore_hours * HOUR
        days = 1 if scenario.restore_hours < 24 else 4  # long enough for the copy to outlive the restore
        payload = {
            "recoveryPoint": key,
            "recoveryPointBucket": "bench-archive",
            "restoreRequestTier": scenario.tier,
            "restoreRequestDays": days,
        }
        before = sum(n for op, n in aws.behaviour.requests.items() if op.startswith("s3."))
        arn = aws.start(stack, payload)
        sfn = aws.client("stepfunctions")
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            time.sleep(0.1)
        events = aws.events(arn)
        s3_requests = sum(n for op, n in aws.behaviour.requests.items() if op.startswith("s3.")) - before
        entered = sum(1 for e in events if e["type"].endswith("StateEntered"))
        invocations = sum(1 for e in events if e["type"] == "LambdaFunctionScheduled")
        lambda_tasks_entered = sum(1 for e in events if e["type"] == "TaskStateEntered")
        transitions = entered + (invocations - lambda_tasks_entered)  # a retry is billed as a transition too
        ready = emulated_aws.restore_ready_at("bench-archive", key)
        noticed = _noticed(described)
        lag = (noticed - ready).total_seconds() / 60 if ready and noticed else (0.0 if scenario.finish == "readable" and noticed else None)
        cost = (
            transitions * PRICES["state_transition"]
            + invocations * PRICES["lambda_request"]
            + invocations * LAMBDA_GB * LAMBDA_BILLED_SECONDS * PRICES["lambda_gb_second"]
            + s3_requests * PRICES["s3_head_or_get"]
        )
        return Row(
            profile,
            scenario.storage_class,
            scenario.tier,
            scenario.finish,
            scenario.restore_hours,
            described["status"],
            described.get("error", ""),
            transitions,
            len(events),
            invocations,
            s3_requests,
            None if lag is None else round(lag, 1),
            cost,
            round((described["stopDate"] - described["startDate"]).total_seconds() / HOUR, 2),
            round(time.perf_counter() - real_start, 1),
        )


def _noticed(described: dict[str, Any]) -> datetime | None:
    import json

    if not described.get("output"):
        return None
    return datetime.fromisoformat(json.loads(described["output"])["copyReadyAt"])


def table(rows: list[Row]) -> str:
    lines = [
        f"{'class':<13}{'tier':<10}{'finish':<9}{'profile':<10}{'status':<27}{'transitions':>12}{'events':>8}"
        f"{'lambdas':>8}{'s3 req':>8}{'lag min':>9}{'cost USD':>10}"
    ]
    for r in rows:
        status = r.status if not r.error else f"{r.status} {r.error}"
        lag = "-" if r.detection_lag_minutes is None else f"{r.detection_lag_minutes:.1f}"
        lines.append(
            f"{r.storage_class:<13}{r.tier:<10}{r.finish:<9}{r.profile:<10}{status:<27}{r.transitions:>12,}"
            f"{r.history_events:>8,}{r.lambda_invocations:>8,}{r.s3_requests:>8,}{lag:>9}{r.cost_usd:>10.5f}"
        )
    return "\n".join(lines)


def ratios(rows: list[Row]) -> tuple[str, list[str]]:
    """Side-by-side ratios (fixed / tiered) and the schedule's targets; returns (text, missed targets)."""
    by = {(r.storage_class, r.tier, r.finish, r.profile): r for r in rows}
    lines, missed = [f"{'class':<13}{'tier':<10}{'finish':<9}{'transitions fixed/tiered':>26}{'cost fixed/tiered':>19}"], []
    for (cls, tier, finish, profile), tiered in by.items():
        if profile != "tiered":
            continue
        fixed = by[(cls, tier, finish, "fixed-60s")]
        lines.append(
            f"{cls:<13}{tier:<10}{finish:<9}{fixed.transitions / tiered.transitions:>25.1f}x{fixed.cost_usd / tiered.cost_usd:>18.1f}x"
        )
        if tiered.status != "SUCCEEDED":
            missed.append(f"{cls} {tier} {finish}: tiered run {tiered.status} {tiered.error}")
        if tiered.history_events >= 1000:
            missed.append(f"{cls} {tier} {finish}: {tiered.history_events} history events (target < 1,000)")
        if fixed.status == "SUCCEEDED" and tiered.cost_usd > fixed.cost_usd:
            missed.append(f"{cls} {tier} {finish}: tiered costs more than fixed-60s")
    bulk = [by[("DEEP_ARCHIVE", "Bulk", f, p)] for f in ("early", "typical", "slow") for p in PROFILES]
    slow_tiered, slow_fixed = by[("DEEP_ARCHIVE", "Bulk", "slow", "tiered")], by[("DEEP_ARCHIVE", "Bulk", "slow", "fixed-60s")]
    ratio = slow_fixed.transitions / slow_tiered.transitions
    tiered_lags = [r.detection_lag_minutes for r in bulk if r.profile == "tiered" and r.detection_lag_minutes is not None]
    mean_lag = sum(tiered_lags) / len(tiered_lags)
    limit = 0.02 * TYPICAL_WINDOW_HOURS[("DEEP_ARCHIVE", "Bulk")] * 60
    lines += [
        "",
        "Deep Archive Bulk at 48 h:",
        f"  transitions: tiered {slow_tiered.transitions:,}, fixed-60s {slow_fixed.transitions:,} "
        f"({slow_fixed.status} {slow_fixed.error}): {ratio:.0f}x fewer (target >= 50x)",
        f"  history events (tiered): {slow_tiered.history_events:,} (target < 1,000)",
        f"  mean detection lag, early/typical/slow (tiered): {mean_lag:.1f} min (target <= 2 % of 48 h = {limit:.1f} min)",
    ]
    if ratio < 50:
        missed.append(f"Deep Archive Bulk 48 h: only {ratio:.0f}x fewer transitions")
    if mean_lag > limit:
        missed.append(f"Deep Archive Bulk: mean detection lag {mean_lag:.1f} min > {limit:.1f} min")
    return "\n".join(lines), missed


def chart(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tiered = [r for r in rows if r.profile == "tiered"]
    labels = [
        f"{r.storage_class.replace('DEEP_ARCHIVE', 'DA').replace('GLACIER', 'GFR').replace('GFR_IR', 'GIR')} {r.tier} {r.finish}"
        for r in tiered
    ]
    fixed = {(r.storage_class, r.tier, r.finish): r for r in rows if r.profile == "fixed-60s"}
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(12, 8), sharex=True)
    x = range(len(tiered))
    top.bar([i - 0.2 for i in x], [r.transitions for r in tiered], 0.4, label="tiered")
    top.bar([i + 0.2 for i in x], [fixed[(r.storage_class, r.tier, r.finish)].transitions for r in tiered], 0.4, label="fixed-60s")
    top.set_yscale("log")
    top.set_ylabel("state transitions (log)")
    top.legend()
    top.set_title("Waiting for a restore: tiered schedule vs fixed 60-second polling (emulated)")
    bottom.bar([i - 0.2 for i in x], [r.detection_lag_minutes or 0 for r in tiered], 0.4, label="tiered")
    bottom.bar(
        [i + 0.2 for i in x],
        [fixed[(r.storage_class, r.tier, r.finish)].detection_lag_minutes or 0 for r in tiered],
        0.4,
        label="fixed-60s",
    )
    bottom.set_ylabel("detection lag (minutes)")
    bottom.set_xticks(list(x), labels, rotation=60, ha="right", fontsize=8)
    for i, r in enumerate(tiered):
        if fixed[(r.storage_class, r.tier, r.finish)].status != "SUCCEEDED":
            top.annotate(
                "quota",
                (i + 0.2, fixed[(r.storage_class, r.tier, r.finish)].transitions),
                ha="center",
                va="bottom",
                fontsize=7,
                color="red",
            )
            bottom.annotate("failed:\nnever\nnoticed", (i + 0.2, 0), ha="center", va="bottom", fontsize=7, color="red")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> int:
    start = time.perf_counter()
    jobs = [(profile, s) for s in scenarios() for profile in PROFILES]
    # Longest first (fixed-60s, slow restores) so the two workers finish together.
    order = sorted(range(len(jobs)), key=lambda i: -(jobs[i][1].restore_hours * (60 if jobs[i][0] == "fixed-60s" else 1)))
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = dict(zip(order, pool.map(run, [jobs[i] for i in order], chunksize=1), strict=True))
    rows = [results[i] for i in range(len(jobs))]
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "bench.csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    chart(rows, RESULTS / "bench.png")
    text, missed = ratios(rows)
    print(table(rows))
    print()
    print(text)
    print(f"\nWrote {RESULTS / 'bench.csv'} and {RESULTS / 'bench.png'}; {len(rows)} runs in {time.perf_counter() - start:.0f} s.")
    for target in missed:
        print(f"MISSED: {target}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
