"""The emulated account's facts as seeded draws: how big archived AMIs are and how long AWS takes with them.

The figures and their sources are in emulator/world/facts.py. Every draw is seeded by (seed, object key, purpose), so
a world is the same on every run and every machine, and two keys are independent. Pin a value (sizes, restore or
image seconds) to make a test exact.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from emulator.world.facts import (
    BACKUP_DELETING_RANGE,
    COMPRESSION_RANGE,
    DOCUMENTED_RESTORE_WINDOW,
    EARLY_FLOOR_FRACTION,
    EARLY_SHARE,
    EVENT_DELAY_BANDS,
    GB,
    HISTORY_EVENTS_QUOTA,
    IMAGE_RESTORE_QUOTA_GB,
    IMAGE_STARTUP_RANGE,
    IMAGE_STORE_QUOTA_GB,
    IMAGE_THROUGHPUT_RANGE,
    LARGE_OBJECT_BYTES,
    LATE_CEILING_FACTOR,
    LATE_SHARE,
    LIFECYCLE_RUN_SPREAD_SECONDS,
    RESTORE_THROUGHPUT_RANGE,
    SIZE_RANGE_GB,
    STATUS_CHECKS_RANGE,
    STORE_THROUGHPUT,
    UNDOCUMENTED_LOW_FRACTION,
)


@dataclass
class World:
    """The facts of one emulated account. Pin a value (sizes, restore or image seconds) to make a test exact;
    everything left unpinned is drawn from the distributions of emulator/world/facts.py, seeded."""

    seed: int = 0
    image_restore_quota_gb: float = IMAGE_RESTORE_QUOTA_GB
    # Undocumented answers, each form selectable (emulator/world/ec2.py): "error" at once, or a "failed-image" later.
    quota_answer: str = "error"
    unreadable_object_answer: str = "error"
    # Event delivery: a share lost (never delivered) and a share delivered twice, per target; both 0 by default.
    event_loss: float = 0.0
    event_duplication: float = 0.0
    event_delay_seconds: float | None = None  # pins every delivery's delay (tests); drawn from the bands otherwise
    # [EC2-EC] how long DescribeImages does not list an image a restore has just created. ASSUMPTION: 0 (AWS states no
    # duration and the world does not draw one); tests set it to exercise the workflow's retries.
    image_listing_lag_seconds: float = 0.0
    sizes: dict[str, int] = field(default_factory=dict)  # object key -> bytes
    restore_seconds: dict[str, float] = field(default_factory=dict)  # object key -> restore duration
    image_seconds: dict[str, float] = field(default_factory=dict)  # source object key -> image restore duration
    history_quota: int = HISTORY_EVENTS_QUOTA  # Step Functions' history events per execution (tests lower it)
    image_store_quota_gb: float = IMAGE_STORE_QUOTA_GB
    # Undocumented: S3ObjectTags that take the object past S3's 10 tags: "error" at CreateStoreImageTask, or a task
    # that ends "failed-task".
    tag_overflow_answer: str = "error"
    # [BKP] ListTags/TagResource on an ARN other than arn:aws:backup "may return" an error: "tags" (answered) or "error".
    image_arn_tagging: str = "tags"
    lifecycle_delay_seconds: float | None = None  # pins the delay of every lifecycle transition after its day's run
    backup_deleting_seconds: float | None = None  # pins how long a deleted recovery point stays DELETING
    status_check_seconds: float | None = None  # pins when a launched instance's status checks settle

    def _rng(self, key: str, purpose: str) -> random.Random:
        return random.Random(f"{self.seed}:{key}:{purpose}")  # noqa: S311 - a simulation, not secrets; str seeds are stable everywhere

    def object_size(self, key: str) -> int:
        if key not in self.sizes:
            low, high = SIZE_RANGE_GB
            self.sizes[key] = int(GB * math.exp(self._rng(key, "size").uniform(math.log(low), math.log(high))))
        return self.sizes[key]

    def restore_duration(self, key: str, family: str, tier: str) -> float:
        """How long S3 takes to make a readable copy, from the request (drawn once per request)."""
        if key in self.restore_seconds:
            return self.restore_seconds[key]
        rng = self._rng(key, f"restore:{family}:{tier}")
        documented_low, high = DOCUMENTED_RESTORE_WINDOW[(family, tier)]
        low = documented_low if documented_low is not None else UNDOCUMENTED_LOW_FRACTION * high
        draw = rng.random()
        if draw < EARLY_SHARE:
            seconds = rng.uniform(EARLY_FLOOR_FRACTION * low, low)
        elif draw < 1 - LATE_SHARE:
            seconds = rng.uniform(low, high)
        else:
            seconds = rng.uniform(high, LATE_CEILING_FACTOR * high)
        size = self.object_size(key)
        if tier == "Expedited" and size > LARGE_OBJECT_BYTES:
            seconds += size / rng.uniform(*RESTORE_THROUGHPUT_RANGE)
        return seconds

    def image_duration(self, key: str) -> float:
        """How long CreateRestoreImageTask takes for the object (drawn once per object)."""
        if key in self.image_seconds:
            return self.image_seconds[key]
        rng = self._rng(key, "image")
        throughput = math.exp(rng.uniform(*(math.log(b) for b in IMAGE_THROUGHPUT_RANGE)))
        return rng.uniform(*IMAGE_STARTUP_RANGE) + self.object_size(key) / throughput

    def event_delay(self, event_id: str, target: str, copy: int) -> float:
        """Seconds from an event to its delivery to one target (each copy of a duplicate drawn on its own)."""
        if self.event_delay_seconds is not None:
            return self.event_delay_seconds + copy  # a duplicate a second after the first copy
        rng = self._rng(f"{event_id}>{target}#{copy}", "delay")
        draw, floor = rng.random(), 0.0
        for share, low, high in EVENT_DELAY_BANDS:
            if draw < floor + share:
                return rng.uniform(low, high)
            floor += share
        return EVENT_DELAY_BANDS[-1][2]

    def event_copies(self, event_id: str, target: str) -> int:
        """How many times one event reaches one target: 0 (lost), 1, or 2 (duplicated)."""
        rng = self._rng(f"{event_id}>{target}", "fate")
        if rng.random() < self.event_loss:
            return 0
        return 2 if rng.random() < self.event_duplication else 1

    def store_duration(self, key: str) -> float:
        return IMAGE_STARTUP_RANGE[0] + self.object_size(key) / STORE_THROUGHPUT

    def compression(self, image_id: str) -> float:
        """The stored object's size over the AMI's snapshot data (drawn once per AMI)."""
        return self._rng(image_id, "compression").uniform(*COMPRESSION_RANGE)

    def lifecycle_delay(self, bucket: str, key: str) -> float:
        """Seconds from the daily lifecycle run (midnight UTC) to this object's transition."""
        if self.lifecycle_delay_seconds is not None:
            return self.lifecycle_delay_seconds
        return self._rng(f"{bucket}/{key}", "lifecycle").uniform(0, LIFECYCLE_RUN_SPREAD_SECONDS)

    def backup_deleting(self, recovery_point_arn: str) -> float:
        if self.backup_deleting_seconds is not None:
            return self.backup_deleting_seconds
        return self._rng(recovery_point_arn, "deleting").uniform(*BACKUP_DELETING_RANGE)

    def status_checks(self, instance_id: str) -> float:
        if self.status_check_seconds is not None:
            return self.status_check_seconds
        return self._rng(instance_id, "status-checks").uniform(*STATUS_CHECKS_RANGE)
