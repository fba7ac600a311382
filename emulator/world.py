"""The emulated world's facts: how big archived AMIs are and how long AWS takes with them.

Every figure comes from AWS's documentation (cited) or is marked ASSUMPTION. Nothing here is taken from the
handlers in functions/: the workflow has to cope with this world, not agree with it (tests/static checks that no
emulator module imports a handler or repeats one of its constants). Every draw is seeded by (seed, object key,
purpose), so a world is the same on every run and every machine, and two keys are independent.

Sources
  [S3-RET]  S3 User Guide, "Understanding archive retrieval options" (restoring-objects-retrieval-options):
            Flexible Retrieval Expedited 1-5 min "for all but the largest archived objects (250 MB+)", Standard
            3-5 h, Bulk 5-12 h; Deep Archive Standard "within 12 hours", Bulk "within 48 hours". Expedited and
            Standard on objects over 250 MB: "up to 300 MB/s" after the first bytes.
  [S3-RST]  S3 User Guide, "Restoring an archived object" (restoring-objects): the copy expires Days after it is
            restored, at the following midnight UTC; reissuing RestoreObject on a restored copy "updates the
            expiration period relative to the current time".
  [EC2-SR]  EC2 User Guide, "Store and restore an AMI using S3" (ami-store-restore): AMIs up to 5,000 GB; restore
            time "depends on the size of the AMI"; in-progress restore work is limited to 600 GB per account
            (300 GB in older versions of the page) and further task creation is rejected.
  [EB]      S3 User Guide, "Amazon S3 Event Notifications with EventBridge" (ev-events, eventbridge delivery): at
            least once, usually seconds, sometimes a minute or more. EC2 User Guide (monitor-ami-events): "EC2 AMI
            State Change" for images, best effort.
  [S3-EB]   S3 User Guide, "Enabling Amazon EventBridge" (enable-event-notifications-eventbridge).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

GB = 10**9
MB = 10**6
MINUTE, HOUR = 60, 3600

# [EC2-SR] AMIs up to 5,000 GB. ASSUMPTION: compressed objects spread log-uniformly from 8 GB (a minimal root
# volume) to 4 TB, so every decade of size is as likely as the next: the workflow must not tune for one size.
SIZE_RANGE_GB = (8, 4000)

# [S3-RET] documented windows in seconds as (low, high); None where AWS documents no lower bound.
DOCUMENTED_RESTORE_WINDOW: dict[tuple[str, str], tuple[float | None, float]] = {
    ("GLACIER", "Expedited"): (1 * MINUTE, 5 * MINUTE),
    ("GLACIER", "Standard"): (3 * HOUR, 5 * HOUR),
    ("GLACIER", "Bulk"): (5 * HOUR, 12 * HOUR),
    ("DEEP_ARCHIVE", "Standard"): (None, 12 * HOUR),
    ("DEEP_ARCHIVE", "Bulk"): (None, 48 * HOUR),
}
# ASSUMPTION: where no lower bound is documented, most restores still take a quarter of the upper bound or more.
UNDOCUMENTED_LOW_FRACTION = 0.25
# ASSUMPTION on the spread: 10 % finish early (down to a fifth of the low end), 75 % inside the window, 15 % late
# (up to 1.5 x the high end). AWS publishes windows, not distributions; this puts real mass outside them.
EARLY_SHARE, LATE_SHARE = 0.10, 0.15
EARLY_FLOOR_FRACTION, LATE_CEILING_FACTOR = 0.2, 1.5
# [S3-RET] large objects come back at "up to 300 MB/s". ASSUMPTION: a given restore gets 100-300 MB/s.
LARGE_OBJECT_BYTES = 250 * MB
RESTORE_THROUGHPUT_RANGE = (100 * MB, 300 * MB)

# [EC2-SR] documents no throughput for CreateRestoreImageTask. ASSUMPTION: 2-8 minutes to start, then 40-250 MB/s
# (log-uniform), so 100 GB takes 9-50 min and 4 TB 5-28 h: a large AMI can outlast any fixed one-day deadline.
IMAGE_STARTUP_RANGE = (2 * MINUTE, 8 * MINUTE)
IMAGE_THROUGHPUT_RANGE = (40 * MB, 250 * MB)
# ASSUMPTION: CreateStoreImageTask writes at the same rates (it only shapes the archive side's history here).
STORE_THROUGHPUT = 100 * MB

# [EB] S3 -> EventBridge delivery is "typically ... seconds but can sometimes take a minute or longer", at least once;
# EC2's AMI state events are best effort. ASSUMPTION on the spread: 90 % within 0.5-10 s, 9 % 10-60 s, 1 % 1-5 min.
EVENT_DELAY_BANDS = ((0.90, 0.5, 10.0), (0.09, 10.0, 60.0), (0.01, 60.0, 300.0))
# [S3-EB] "it can take up to five minutes" for a bucket's EventBridge setting to take effect.
EVENTBRIDGE_SETTLING_SECONDS = 5 * MINUTE

# [EC2-SR] current page: 600 GB of restore work in progress per account. ASSUMPTION: counted on the object's size.
IMAGE_RESTORE_QUOTA_GB = 600.0


@dataclass
class World:
    """The facts of one emulated account. Pin a value (sizes, restore or image seconds) to make a test exact;
    everything left unpinned is drawn from the distributions above, seeded."""

    seed: int = 0
    image_restore_quota_gb: float = IMAGE_RESTORE_QUOTA_GB
    # Undocumented answers, each form selectable (emulator/ec2.py): "error" at once, or a "failed-image" later.
    quota_answer: str = "error"
    unreadable_object_answer: str = "error"
    # Event delivery: a share lost (never delivered) and a share delivered twice, per target; both 0 by default.
    event_loss: float = 0.0
    event_duplication: float = 0.0
    event_delay_seconds: float | None = None  # pins every delivery's delay (tests); drawn from the bands otherwise
    sizes: dict[str, int] = field(default_factory=dict)  # object key -> bytes
    restore_seconds: dict[str, float] = field(default_factory=dict)  # object key -> restore duration
    image_seconds: dict[str, float] = field(default_factory=dict)  # source object key -> image restore duration

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
