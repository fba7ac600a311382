"""Time and cost of restoring one archived AMI, per tier: restore window + image time, retrieval + copy + workflow.

Restore windows (S3 User Guide, restoring-objects-retrieval-options): Flexible Retrieval Expedited 1-5 min (objects over
250 MB come back at up to 300 MB/s: their transfer is added), Standard 3-5 h, Bulk 5-12 h; Deep Archive Standard within 12 h, Bulk within
48 h (the lower bounds 9 h / 24 h are an assumption, as in functions/check_restore_status/app.py; a static test keeps
the two in step). Intelligent-Tiering's Archive Access and Deep Archive Access tiers restore as those classes.
Prices and the assumed image throughput live in prices.json.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

from glacier_ami_restore.archive import ArchivedAmi
from glacier_ami_restore.aws import CliError

HOUR = 3600
# (family, tier) -> (earliest, latest) typical seconds until the temporary copy is readable.
WINDOWS: dict[tuple[str, str], tuple[int, int]] = {
    ("GLACIER", "Expedited"): (60, 5 * 60),
    ("GLACIER", "Standard"): (3 * HOUR, 5 * HOUR),
    ("GLACIER", "Bulk"): (5 * HOUR, 12 * HOUR),
    ("DEEP_ARCHIVE", "Standard"): (9 * HOUR, 12 * HOUR),
    ("DEEP_ARCHIVE", "Bulk"): (24 * HOUR, 48 * HOUR),
}
EXPEDITED_SMALL_BYTES = 250 * 10**6  # "for all but the largest archived objects (250 MB+)"
EXPEDITED_BYTES_PER_SECOND = 300 * 10**6  # larger ones "at up to 300 MB/s"
TIER_ORDER = ("Expedited", "Standard", "Bulk")
GIB = 2**30


def prices() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(resources.files("glacier_ami_restore").joinpath("prices.json").read_text())
    return loaded


def family(storage_class: str, archive_status: str | None) -> str | None:
    """GLACIER or DEEP_ARCHIVE when a restore is needed, None when the object is readable now."""
    if storage_class == "DEEP_ARCHIVE" or archive_status == "DEEP_ARCHIVE_ACCESS":
        return "DEEP_ARCHIVE"
    if storage_class == "GLACIER" or archive_status == "ARCHIVE_ACCESS":
        return "GLACIER"
    return None


def tiers_for(storage_class: str, archive_status: str | None) -> tuple[str, ...]:
    kind = family(storage_class, archive_status)
    return tuple(t for t in TIER_ORDER if (kind, t) in WINDOWS)


def restore_window(kind: str, tier: str, size_bytes: int) -> tuple[int, int]:
    """The tier's window; an object over 250 MB also needs its transfer at 300 MB/s at best (added to the latest
    time, and to the earliest for Expedited, whose 1-5 min hold only below 250 MB), as Check Restore Status plans."""
    earliest, latest = WINDOWS[(kind, tier)]
    if size_bytes > EXPEDITED_SMALL_BYTES:
        transfer = math.ceil(size_bytes / EXPEDITED_BYTES_PER_SECOND)
        latest += transfer
        if tier == "Expedited":
            earliest += transfer
    return earliest, latest


def image_seconds(size_bytes: int, table: dict[str, Any]) -> int:
    assumed = table["assumptions"]["imageRestore"]
    return int(assumed["overheadSeconds"]) + math.ceil(size_bytes / float(assumed["bytesPerSecond"]))


def workflow_cost(table: dict[str, Any]) -> float:
    run = table["assumptions"]["workflowPerRestore"]
    return float(
        run["stateTransitions"] * table["stepFunctionsPer1000Transitions"] / 1000
        + run["lambdaInvocations"] * table["lambdaPerMillionRequests"] / 10**6
        + run["lambdaInvocations"] * run["lambdaGBSecondsPerInvocation"] * table["lambdaPerGBSecond"]
        + run["s3Requests"] * table["s3GetHeadPer1000"] / 1000
    )


@dataclass(frozen=True)
class Option:
    tier: str | None  # None: readable now, no restore
    restore_seconds: tuple[int, int]
    image_seconds: int
    retrieval: float
    requests: float
    copy: float
    workflow: float
    note: str | None

    @property
    def available_seconds(self) -> tuple[int, int]:
        return self.restore_seconds[0] + self.image_seconds, self.restore_seconds[1] + self.image_seconds

    @property
    def total(self) -> float:
        return self.retrieval + self.requests + self.copy + self.workflow

    def as_json(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "restoreSeconds": list(self.restore_seconds),
            "imageSeconds": self.image_seconds,
            "availableSeconds": list(self.available_seconds),
            "cost": {
                "retrieval": round(self.retrieval, 6),
                "requests": round(self.requests, 6),
                "temporaryCopy": round(self.copy, 6),
                "workflow": round(self.workflow, 6),
                "total": round(self.total, 6),
            },
            "note": self.note,
        }


def estimate(ami: ArchivedAmi, days: int, tier: str | None = None, table: dict[str, Any] | None = None) -> list[Option]:
    table = table or prices()
    kind = family(ami.storage_class, ami.archive_status)
    gigabytes = ami.size_bytes / GIB
    image = image_seconds(ami.size_bytes, table)
    workflow = workflow_cost(table)
    if kind is None:
        if tier is not None and tier != "Standard":
            raise CliError(f"{ami.class_label} is readable now and needs no restore tier: drop --tier")
        readable = "readable now: no restore"
        if ami.storage_class == "GLACIER_IR":
            readable += "; Instant Retrieval bills a per-GB retrieval fee on read (not in prices.json: check the S3 pricing page)"
        return [Option(None, (0, 0), image, 0.0, 0.0, 0.0, workflow, readable)]
    allowed = tiers_for(ami.storage_class, ami.archive_status)
    if tier is not None and tier not in allowed:
        raise CliError(f"{ami.class_label} cannot be restored with {tier}: use --tier {' or '.join(allowed)}")
    price_key = f"INTELLIGENT_TIERING/{ami.archive_status}" if ami.storage_class == "INTELLIGENT_TIERING" else ami.storage_class
    options = []
    note: str | None
    chosen = (tier,) if tier else allowed
    for name in chosen:
        price = table["retrieval"][price_key][name]
        if ami.storage_class == "INTELLIGENT_TIERING":  # the object moves back to Frequent Access: no temporary copy, no Days
            copy, note = 0.0, "Intelligent-Tiering: no temporary copy (Days ignored); the object returns to Frequent Access"
        else:
            copy = gigabytes * table["storagePerGBMonth"]["STANDARD"] * days / table["daysPerMonth"]
            note = None
        options.append(
            Option(
                tier=name,
                restore_seconds=restore_window(kind, name, ami.size_bytes),
                image_seconds=image,
                retrieval=gigabytes * price["perGB"],
                requests=price["per1000Requests"] / 1000,
                copy=copy,
                workflow=workflow,
                note=price.get("note", note),
            )
        )
    return options


def fastest(options: list[Option]) -> Option:
    return min(options, key=lambda o: (o.available_seconds[1], o.total))


def cheapest(options: list[Option]) -> Option:
    return min(options, key=lambda o: (round(o.total, 6), o.available_seconds[1]))


def duration(seconds: float) -> str:
    """To the nearest minute: 3 h 15 min, 5 min, 1 d 11 min."""
    minutes = int(seconds + 30) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return " ".join(p for p in parts if p) or "0 min"


def span(window: tuple[int, int]) -> str:
    return duration(window[0]) if window[0] == window[1] else f"{duration(window[0])} – {duration(window[1])}"


def money(amount: float) -> str:
    return f"${amount:,.4f}" if amount < 1 else f"${amount:,.2f}"
