"""`make bench` writes what it measures into docs/benchmark.md, so none of those figures is typed by hand.

Each part of the bench owns one block of that page, between two marker lines:
    <!-- bench:single:begin -->  ...  <!-- bench:single:end -->   tools/bench.py: one restore per profile
    <!-- bench:batch:begin -->   ...  <!-- bench:batch:end -->    tools/bench_batch.py: many AMIs
A run replaces the contents of its block and leaves every other line of the page (the prose around it) as it was.
The tables are computed from the same rows the bench writes to results/*.csv, with the p95 of the bench's targets.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmark.md"
CLASS_NAMES = {"GLACIER_IR": "Instant Retrieval", "GLACIER": "Flexible", "DEEP_ARCHIVE": "Deep Archive"}
PROFILE_HEAD = [
    "profile",
    "runs succeeded",
    "restore lag, p95 of its share of the restore's time",
    "p95 restore lag beyond the event's delay",
    "transitions, max",
    "history events, max",
    "mean cost USD",
]
CASE_HEAD = [
    "class, tier",
    "events: restore / image lag p95 s, transitions mean",
    "all lost: restore / image lag p95 s, history events max",
    "tiered: restore lag p95 s",
    "fixed-60s: transitions mean, history events max",
]
BATCH_HEAD = [
    "scenario",
    "AMIs",
    "GB",
    "restored",
    "hours to half / all available",
    "lower bound, hours (half / all)",
    "against the bound (half / all)",
    "executions",
    "transitions",
    "history events, parent / largest child",
    "cost USD",
    "refused image restores",
    "failed images",
    "most GB in flight (with two or more in flight)",
    "emails",
]


class SingleRun(Protocol):
    """A row of results/bench.csv (tools/bench.py's Row)."""

    profile: str
    storage_class: str
    tier: str
    sample: int
    restore_s: float
    status: str
    error: str
    transitions: int
    history_events: int
    restore_lag_s: float | None
    image_lag_s: float | None
    restore_event_delay_s: float | None
    cost_usd: float


class BatchRun(Protocol):
    """A row of results/bench_batch.csv (tools/bench_batch.py's Row)."""

    scenario: str
    amis: int
    total_gb: float
    succeeded: int
    hours_until_half_available: float
    hours_until_all_available: float
    executions: int
    transitions: int
    parent_history_events: int
    largest_child_history_events: int
    cost_usd: float
    refused_image_restores: int
    failed_images: int
    most_gb_in_flight: float
    most_gb_in_flight_together: float
    emails: int
    lower_bound_half_hours: float
    lower_bound_all_hours: float


def replace_block(text: str, name: str, body: str) -> str:
    """`text` with the block `name` holding `body`; every line outside the block unchanged."""
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"{begin} and {end} must each appear once, in that order")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{body.strip()}\n{end}{tail}"


def read_block(text: str, name: str) -> str:
    """The contents of the block `name` (what replace_block put there)."""
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    return text.split(begin, 1)[1].split(end, 1)[0].strip()


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def measured(runs: str, seconds: float, missed: Sequence[str]) -> str:
    """The line that says when, how long and with what outcome the figures below were measured."""
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    outcome = "all targets met" if not missed else "targets missed: " + "; ".join(missed)
    return f"Written by `make bench` on {day} ({os.cpu_count()} CPUs): {runs} in {seconds:.0f} s; {outcome}."


def single_tables(rows: Sequence[SingleRun], profiles: Sequence[str], cases: Sequence[tuple[str, str]],
                  p95: Callable[[list[float]], float]) -> str:  # fmt: skip
    """The per-profile table, the per-class-and-tier table and the comparisons tools/bench.py's rows give."""

    def ok(profile: str, case: tuple[str, str] | None = None) -> list[SingleRun]:
        return [r for r in rows if r.profile == profile and r.status == "SUCCEEDED" and case in (None, (r.storage_class, r.tier))]

    def restored(group: list[SingleRun]) -> list[SingleRun]:  # runs where S3 restored a copy (not a readable class)
        return [r for r in group if r.restore_lag_s is not None and r.restore_s > 0]

    def lag(values: list[float | None]) -> str:
        found = [v for v in values if v is not None]
        return f"{round(p95(found)):,}" if found else "-"

    by_profile = []
    for profile in profiles:
        group, ran = ok(profile), [r for r in rows if r.profile == profile]
        share = [(r.restore_lag_s or 0) / r.restore_s for r in restored(group)]
        beyond = [(r.restore_lag_s or 0) - (r.restore_event_delay_s or 0) for r in restored(group)]
        by_profile.append([
            profile,
            f"{len(group)} / {len(ran)}",
            f"{100 * p95(share):.1f} %" if share else "-",
            f"{round(p95(beyond)):,} s" if beyond else "-",  # (lag and delay each to 0.1 s: -0.1 reads 0)
            f"{max(r.transitions for r in group):,}" if group else "-",
            f"{max(r.history_events for r in group):,}" if group else "-",
            f"{statistics.mean(r.cost_usd for r in group):.4f}" if group else "-",
        ])  # fmt: skip

    def every(profile: str, case: tuple[str, str]) -> list[SingleRun]:
        return [r for r in rows if r.profile == profile and (r.storage_class, r.tier) == case]

    def mean_max(values: list[int], mean: bool) -> str:
        return "-" if not values else f"{statistics.mean(values):,.0f}" if mean else f"{max(values):,}"

    by_case = []
    for case in cases:
        events, lost, tiered = ok("events", case), ok("events-all-lost", case), ok("tiered", case)
        fixed = [r.history_events for r in every("fixed-60s", case)]
        label = CLASS_NAMES.get(case[0], case[0]) + ("" if case[0] == "GLACIER_IR" else f", {case[1]}")
        by_case.append([
            label,
            f"{lag([r.restore_lag_s for r in events])} / {lag([r.image_lag_s for r in events])}, "
            f"{mean_max([r.transitions for r in every('events', case)], mean=True)}",
            f"{lag([r.restore_lag_s for r in lost])} / {lag([r.image_lag_s for r in lost])}, "
            f"{mean_max([r.history_events for r in every('events-all-lost', case)], mean=False)}",
            lag([r.restore_lag_s for r in tiered]),
            f"{mean_max([r.transitions for r in every('fixed-60s', case)], mean=True)}, {mean_max(fixed, mean=False)}",
        ])  # fmt: skip
    by_run = {(r.profile, r.storage_class, r.tier, r.sample): r for r in rows}
    pairs = [(by_run[("fixed-60s", r.storage_class, r.tier, r.sample)], r) for r in ok("events")]
    ratio = [fixed.transitions / events.transitions for fixed, events in pairs]
    failed = [r for r in rows if r.profile == "fixed-60s" and r.status != "SUCCEEDED"]
    image_lost = [r.image_lag_s for r in ok("events-all-lost") if r.image_lag_s is not None]
    notes = [f"- fixed-60s runs that failed: {len(failed)}" + (f" ({', '.join(sorted({r.error for r in failed}))})." if failed else ".")]
    if ratio:
        notes.insert(0, f"- Transitions of fixed-60s against events on the same world: {min(ratio):.1f}x to {max(ratio):,.0f}x, "
                        f"median {statistics.median(ratio):.0f}x.")  # fmt: skip
    if image_lost:
        longest = max(image_lost)
        notes.append(f"- events-all-lost, image lag: p95 {p95(image_lost):,.0f} s, max {longest:,.0f} s ({longest / 3600:.1f} h).")
    return "\n\n".join([markdown_table(PROFILE_HEAD, by_profile), markdown_table(CASE_HEAD, by_case), "\n".join(notes)])


def batch_table(rows: Sequence[BatchRun]) -> str:
    """The scenario table and the comparison of batch-50 with singles-50 that tools/bench_batch.py's rows give."""
    table = []
    for r in rows:
        gb = f"{r.most_gb_in_flight:,.0f}"
        if round(r.most_gb_in_flight_together) != round(r.most_gb_in_flight):
            gb += f" ({r.most_gb_in_flight_together:,.0f})"
        table.append([
            r.scenario,
            f"{r.amis}",
            f"{r.total_gb:,.0f}",
            f"{r.succeeded}",
            f"{r.hours_until_half_available:.1f} / {r.hours_until_all_available:.1f}",
            f"{r.lower_bound_half_hours:.1f} / {r.lower_bound_all_hours:.1f}",
            f"{r.hours_until_half_available / r.lower_bound_half_hours:.2f} / {r.hours_until_all_available / r.lower_bound_all_hours:.2f}",
            f"{r.executions}",
            f"{r.transitions:,}",
            f"{r.parent_history_events:,} / {r.largest_child_history_events:,}" if r.parent_history_events else
            f"- / {r.largest_child_history_events:,}",
            f"{r.cost_usd:.4f}",
            f"{r.refused_image_restores}",
            f"{r.failed_images}",
            gb,
            f"{r.emails}",
        ])  # fmt: skip
    text = markdown_table(BATCH_HEAD, table)
    by = {r.scenario: r for r in rows}
    if "batch-50" in by and "singles-50" in by:
        batch, singles = by["batch-50"], by["singles-50"]
        text += (
            f"\n\n- batch-50 against singles-50: {batch.hours_until_half_available / singles.hours_until_half_available:.2f} x the "
            f"time to half available, {batch.hours_until_all_available / singles.hours_until_all_available:.2f} x the time to all "
            f"(targets: at most 1.05 x); {batch.transitions:,} transitions, {100 * batch.transitions / singles.transitions:.0f} % of "
            f"the singles' (target: at most a third of the 3,069 they took before the budget, 1,023); "
            f"{100 * batch.cost_usd / singles.cost_usd:.0f} % of the cost; {batch.emails} email against {singles.emails}."
        )
    return text


def write_single(rows: Sequence[SingleRun], profiles: Sequence[str], cases: Sequence[tuple[str, str]],
                 p95: Callable[[list[float]], float], seconds: float, missed: Sequence[str], doc: Path = DOC) -> None:  # fmt: skip
    """tools/bench.py: its block of docs/benchmark.md."""
    body = measured(f"{len(rows)} runs", seconds, missed) + "\n\n" + single_tables(rows, profiles, cases, p95)
    doc.write_text(replace_block(doc.read_text(), "single", body))
    print(f"Wrote the bench:single block of {doc}.")


def write_batch(rows: Sequence[BatchRun], seconds: float, missed: Sequence[str], doc: Path = DOC) -> None:
    """tools/bench_batch.py: its block of docs/benchmark.md."""
    body = measured(f"{len(rows)} scenarios", seconds, missed) + "\n\n" + batch_table(rows)
    doc.write_text(replace_block(doc.read_text(), "batch", body))
    print(f"Wrote the bench:batch block of {doc}.")
