"""Showing a restore: a rich live display on a terminal, one plain line per change otherwise (logs, CI, pipes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from rich.console import Console
from rich.live import Live
from rich.table import Table

from glacier_ami_restore.estimate import duration
from glacier_ami_restore.workflow import Progress

# Real seconds between polls: quick at first (a restore that was already done, or the emulator's virtual clock),
# then every 30 s (a DescribeExecution and one page of history each time).
POLL_SECONDS = (0.2, 0.5, 1, 2, 5, 10, 20, 30)


def poll_intervals(fixed: float | None) -> Iterator[float]:
    if fixed is not None:
        while True:
            yield fixed
    yield from POLL_SECONDS
    while True:
        yield POLL_SECONDS[-1]


def clock(moment: datetime, now: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment:%H:%M} UTC" if moment.date() == now.astimezone(UTC).date() else f"{moment:%Y-%m-%d %H:%M} UTC"


def eta_text(progress: Progress) -> str:
    if progress.status != "RUNNING":
        return f"- (finished {clock(progress.stopped or progress.now, progress.now)})"
    if progress.eta is None:
        return "unknown"
    earliest, latest = progress.eta
    now = progress.now
    if latest <= now:
        return f"overdue since {clock(latest, now)} (the tier's window has passed; the workflow keeps checking)"
    when = clock(latest, now) if earliest == latest else f"{clock(earliest, now).removesuffix(' UTC')} – {clock(latest, now)}"
    wait = duration(max(0.0, (earliest - now).total_seconds())), duration((latest - now).total_seconds())
    within = f"in {wait[1]}" if earliest == latest or wait[0] == wait[1] else f"in {wait[0]} – {wait[1]}"
    return f"{when} ({within})"


def batch_rows(progress: Progress) -> list[tuple[str, str]]:
    """A batch: its AMIs by stage and one row per AMI; no ETA (each AMI's child execution has its own)."""
    batch = progress.batch
    points = progress.request.get("recoveryPoints")
    asked = f"{len(points)} recovery points" if isinstance(points, list) else "a selection"
    found = [
        ("Execution", progress.name),
        ("Batch", f"{asked} in s3://{progress.request.get('recoveryPointBucket')} ({progress.tier or '?'})"),
        ("Status", progress.status),
        ("Stage", progress.stage + (f" ({progress.state})" if progress.state and progress.status == "RUNNING" else "")),
        ("Elapsed", duration(progress.elapsed.total_seconds())),
        ("AMIs", batch.summary() if batch is not None else "unknown (the stack's BatchStateMachineArn output was not found)"),
    ]
    for ami in batch.amis if batch is not None else []:
        if ami.status in (None, "RUNNING"):
            found.append((f"  {ami.recovery_point}", ami.stage))
        else:
            found.append((f"  {ami.recovery_point}", f"{str(ami.status).lower()} {ami.image_id or ami.error or ''}".rstrip()))
    if progress.error:
        found += [("Error", progress.error), ("Cause", progress.cause or "-"), ("What to do", progress.advice)]
    return found


def rows(progress: Progress) -> list[tuple[str, str]]:
    if progress.batch is not None or "recoveryPoints" in progress.request:
        return batch_rows(progress)
    request = progress.request
    what = f"s3://{request.get('recoveryPointBucket')}/{request.get('recoveryPoint')}"
    kind = progress.storage_class or "?"
    if progress.archive_status:
        kind += f"/{progress.archive_status}"
    found = [
        ("Execution", progress.name),
        ("Recovery point", f"{what} ({kind}, {progress.tier or '?'})"),
        ("Status", progress.status),
        ("Stage", progress.stage + (f" ({progress.state})" if progress.state and progress.status == "RUNNING" else "")),
        ("Elapsed", duration(progress.elapsed.total_seconds())),
        ("ETA", eta_text(progress)),
        ("Copy expires", f"{progress.copy_expiry:%Y-%m-%d %H:%M}Z" if progress.copy_expiry else "-"),
    ]
    if progress.image_id:
        found.append(("AMI", progress.image_id))
    if progress.error:
        found += [("Error", progress.error), ("Cause", progress.cause or "-"), ("What to do", progress.advice)]
    return found


def table(progress: Progress) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in rows(progress):
        grid.add_row(label, value)
    return grid


def line(progress: Progress) -> str:
    eta = f"ETA {eta_text(progress)}" if progress.status == "RUNNING" else progress.status
    if progress.batch is not None:
        eta = f"{progress.batch.summary()}" + ("" if progress.status == "RUNNING" else f"; {progress.status}")
    return f"{progress.now:%Y-%m-%d %H:%M:%S}Z  {progress.stage:<20}  elapsed {duration(progress.elapsed.total_seconds()):<12}  {eta}"


def follow(read: Callable[[], Progress], console: Console, interval: float | None, mode: str) -> Progress:
    """Poll until the execution stops; returns its final progress. mode: live | lines | quiet."""
    intervals = poll_intervals(interval)
    progress = read()
    if mode == "live":
        with Live(table(progress), console=console, refresh_per_second=4, transient=False) as display:
            while progress.status == "RUNNING":
                time.sleep(next(intervals))
                progress = read()
                display.update(table(progress), refresh=True)
        return progress
    shown: tuple[str, str, str | None] | None = None
    while True:
        seen = (progress.stage, progress.status, progress.batch.summary() if progress.batch is not None else None)
        if mode == "lines" and seen != shown:
            console.print(line(progress), highlight=False, soft_wrap=True)
            shown = seen
        if progress.status != "RUNNING":
            return progress
        time.sleep(next(intervals))
        progress = read()
