"""S3 Lifecycle transitions as S3 runs them ([S3-LC] in facts.py): the rules a bucket's PutBucketLifecycleConfiguration
set, applied on the virtual clock (moto stores them and never applies them).

- A rule matches by prefix, tags and object size (Filter: Prefix, Tag, ObjectSizeGreaterThan/LessThan, And); without
  a size filter, objects under 128 KB do not transition (S3's default since 2024, all_storage_classes_128K).
- A Transition's Days count from the object's creation, and S3 "rounds the transition ... date of an object to
  midnight UTC the next day"; Days is 0 or more for GLACIER_IR, GLACIER and DEEP_ARCHIVE (the object goes at the next
  midnight), more than 30 for STANDARD_IA and ONEZONE_IA (PutBucketLifecycleConfiguration refuses less). A Date is a
  midnight UTC itself.
- Lifecycle runs once a day, from midnight UTC, asynchronously: the object changes class some time in that day (the
  world's draw, ASSUMPTION in facts.py), billed from the due date. A new configuration takes a few minutes to propagate
  (a rule set after midnight waits for the next day's run); a rule removed or disabled schedules nothing more.
- Transitions go down S3's waterfall only (STANDARD ... GLACIER_IR, GLACIER, DEEP_ARCHIVE): an object already in a
  deeper class stays. Each transition emits `Object Storage Class Changed` (S3's EventBridge event, when the bucket
  sends them).
Expiration actions are not modelled. The objects are the account's: a `LifecycleStore` (the adapters keep them in moto).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from emulator.world.clock import VirtualClock
from emulator.world.draws import World
from emulator.world.errors import AWSError
from emulator.world.facts import CLASS_ORDER, LIFECYCLE_MIN_DAYS, LIFECYCLE_MIN_OBJECT_BYTES, LIFECYCLE_PROPAGATION_SECONDS
from emulator.world.s3 import S3Model, next_midnight


@dataclass(frozen=True)
class StoredObject:
    key: str
    created: datetime
    size: int
    tags: dict[str, str]
    storage_class: str


class LifecycleStore(Protocol):
    """The account's objects, as lifecycle sees them."""

    def listing(self, bucket: str) -> list[StoredObject]: ...

    def set_storage_class(self, bucket: str, key: str, storage_class: str) -> None: ...


@dataclass(frozen=True)
class Transition:
    storage_class: str
    days: int | None
    date: datetime | None


@dataclass(frozen=True)
class Rule:
    rule_id: str
    enabled: bool
    prefix: str
    tags: tuple[tuple[str, str], ...]
    size_greater: int | None
    size_less: int | None
    transitions: tuple[Transition, ...]

    def matches(self, obj: StoredObject) -> bool:
        if not obj.key.startswith(self.prefix) or any(obj.tags.get(k) != v for k, v in self.tags):
            return False
        if self.size_greater is None and self.size_less is None:
            return obj.size >= LIFECYCLE_MIN_OBJECT_BYTES  # S3's default minimum size, unless the rule sets its own
        return (self.size_greater is None or obj.size > self.size_greater) and (self.size_less is None or obj.size < self.size_less)


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def _tags(node: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t["Key"], t.get("Value") or "") for t in _as_list(node.get("Tag"))]


def _size(node: dict[str, Any], name: str) -> int | None:
    return int(node[name]) if node.get(name) not in (None, "") else None


def parse_rules(raw: list[dict[str, Any]]) -> list[Rule]:
    """The rules of a LifecycleConfiguration in the API's XML shape (as S3 parses the request: values are text, a lone
    Tag or Transition is not a list), checked as S3 checks them."""
    rules = []
    for number, item in enumerate(raw):
        where = item.get("Filter") or {}
        both = where.get("And") or {}
        transitions = []
        for t in _as_list(item.get("Transition")):
            storage_class = t.get("StorageClass", "")
            days = int(t["Days"]) if t.get("Days") not in (None, "") else None
            date = datetime.fromisoformat(t["Date"].replace("Z", "+00:00")).astimezone(UTC) if t.get("Date") else None
            least = LIFECYCLE_MIN_DAYS.get(storage_class)
            if least is None:
                raise AWSError("InvalidStorageClass", f"The storage class you specified is not valid: {storage_class}", 400)
            if days is not None and days < least:
                raise AWSError(
                    "InvalidArgument",
                    f"'Days' in Transition action must be greater than or equal to {least} for storageClass '{storage_class}'",
                    400,
                )
            transitions.append(Transition(storage_class, days, date))
        rules.append(
            Rule(
                rule_id=item.get("ID") or f"rule-{number}",
                enabled=item.get("Status") == "Enabled",
                prefix=both.get("Prefix") or where.get("Prefix") or item.get("Prefix") or "",
                tags=tuple(_tags(both) + _tags(where)),
                size_greater=_size(both, "ObjectSizeGreaterThan") if both else _size(where, "ObjectSizeGreaterThan"),
                size_less=_size(both, "ObjectSizeLessThan") if both else _size(where, "ObjectSizeLessThan"),
                transitions=tuple(transitions),
            )
        )
    return rules


def rank(storage_class: str) -> int:
    return CLASS_ORDER.index(storage_class) if storage_class in CLASS_ORDER else -1


@dataclass
class LifecycleModel:
    world: World
    clock: VirtualClock
    store: LifecycleStore
    s3: S3Model  # its events, and whether timers run (a bus)
    rules: dict[str, tuple[datetime, list[Rule]]] = field(default_factory=dict)  # bucket -> (in effect from, rules)
    runs: dict[str, datetime] = field(default_factory=dict)  # bucket -> its next daily run with a timer
    transitions: list[dict[str, Any]] = field(default_factory=list)  # every transition made (ground truth)

    def now(self) -> datetime:
        return self.clock.now()

    def configured(self, bucket: str, raw_rules: list[dict[str, Any]]) -> None:
        """PutBucketLifecycleConfiguration (replaces the bucket's rules); raises what S3 refuses."""
        rules = parse_rules(raw_rules)
        since = self.now() + timedelta(seconds=LIFECYCLE_PROPAGATION_SECONDS)
        self.rules[bucket] = (since, rules)
        if any(r.enabled and r.transitions for r in rules):
            self._plan_run(bucket, next_midnight(since))

    def removed(self, bucket: str) -> None:
        """DeleteBucketLifecycle: nothing more is scheduled (what was due and not done is not done)."""
        self.rules.pop(bucket, None)

    def due(self, bucket: str, obj: StoredObject) -> list[tuple[datetime, str]]:
        """(when, class) of every transition the bucket's rules give the object, earliest first."""
        found = self.rules.get(bucket)
        if found is None:
            return []
        since, rules = found
        first_run = next_midnight(since)
        plans = []
        for rule in rules:
            if not rule.enabled or not rule.matches(obj):
                continue
            for t in rule.transitions:
                eligible = t.date if t.date is not None else next_midnight(obj.created + timedelta(days=t.days or 0))
                run = max(next_midnight(eligible), first_run)
                plans.append((run + timedelta(seconds=self.world.lifecycle_delay(bucket, obj.key)), t.storage_class))
        return sorted(plans)

    def settle(self, bucket: str | None = None) -> None:
        """Make every transition whose time has come (S3 reads call this first; timers make them on time)."""
        now = self.now()
        for name in [bucket] if bucket is not None else list(self.rules):
            if name not in self.rules:
                continue
            for obj in self.store.listing(name):
                target = max((c for at, c in self.due(name, obj) if at <= now), key=rank, default=None)
                if target is not None and rank(target) > rank(obj.storage_class):
                    self.store.set_storage_class(name, obj.key, target)
                    self.transitions.append({"bucket": name, "key": obj.key, "from": obj.storage_class, "to": target, "at": now})
                    self.s3.storage_class_changed(name, obj.key, target)

    # --- the daily run, on the virtual clock ---------------------------------------------------------------------------

    def _plan_run(self, bucket: str, when: datetime) -> None:
        if self.s3.bus is None or (bucket in self.runs and self.runs[bucket] <= when):
            return  # no timers without a bus (the world alone: tests call settle), or a run is already planned
        self.runs[bucket] = when
        self.clock.call_at(when, self._runner(bucket, when))

    def _runner(self, bucket: str, when: datetime) -> Callable[[], None]:
        def run() -> None:
            if self.runs.get(bucket) != when:
                return
            del self.runs[bucket]
            if bucket not in self.rules:
                return
            self.settle(bucket)
            day_end = when + timedelta(days=1)
            moments = {at for obj in self.store.listing(bucket) for at, _ in self.due(bucket, obj) if when <= at < day_end}
            for moment in sorted(moments):
                self.clock.call_at(moment, lambda: self.settle(bucket))
            self._plan_run(bucket, day_end)

        return run
