"""EventBridge's default bus as the services' own events meet it: matched against the account's rules, delivered on
the virtual clock after a delay, sometimes lost or duplicated.

S3 (for buckets with EventBridge notifications on) emits `Object Restore Initiated`, `Object Restore Completed` and
`Object Restore Expired`; EC2 emits `EC2 AMI State Change` for restored images (emulator/world/s3.py, ec2.py), with
the `detail` fields AWS documents (S3 User Guide, ev-events; EC2 User Guide, monitor-ami-events). Each matching
target gets the event after the world's delay (seconds, with a tail to minutes: facts.py [EB]), zero, one or two
times. Which rules match and how a target is reached are the account's (a `Router`, kept in moto by the adapters);
a failed delivery is recorded as EventBridge would report it.
"""

from __future__ import annotations

import functools
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from emulator.world.clock import VirtualClock
from emulator.world.draws import World


class Router(Protocol):
    def targets(self, region: str, event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """(rule name, target) for every target of every enabled rule of the default bus that matches the event."""

    def rule_targets(self, region: str, rule: str) -> list[tuple[str, dict[str, Any]]]:
        """(rule name, target) for the targets of one rule of the default bus (a scheduled rule's own)."""

    def deliver(self, region: str, rule: str, target: dict[str, Any], event: dict[str, Any]) -> None:
        """Hand the event to the target (raises when the target refuses it)."""


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Delivery:
    event_id: str
    rule: str
    target: str  # ARN
    at: datetime
    copy: int  # 0, or 1 for the duplicate
    outcome: str = "pending"  # delivered | error: ...


@dataclass
class EventBus:
    world: World
    clock: VirtualClock
    account_id: str
    router: Router
    emitted: list[dict[str, Any]] = field(default_factory=list)  # every event a service emitted (ground truth)
    deliveries: list[Delivery] = field(default_factory=list)
    _count: int = 0

    def emit(self, region: str, source: str, detail_type: str, detail: dict[str, Any], resources: list[str]) -> dict[str, Any]:
        """A service's event onto the default bus: every matching rule's targets get it."""
        event = self._event(region, source, detail_type, detail, resources)
        self._send(region, event, self.router.targets(region, event))
        return event

    def emit_to_rule(
        self, region: str, rule: str, source: str, detail_type: str, detail: dict[str, Any], resources: list[str]
    ) -> dict[str, Any]:
        """An event for one rule's targets only (a scheduled rule's firing), delivered as any other."""
        event = self._event(region, source, detail_type, detail, resources)
        self._send(region, event, self.router.rule_targets(region, rule))
        return event

    def _event(self, region: str, source: str, detail_type: str, detail: dict[str, Any], resources: list[str]) -> dict[str, Any]:
        self._count += 1
        seed = random.Random(f"{self.world.seed}:event:{self._count}")  # noqa: S311 - ids for a simulation
        event_id = str(uuid.UUID(int=seed.getrandbits(128), version=4))
        event: dict[str, Any] = {
            "version": "0",
            "id": event_id,
            "detail-type": detail_type,
            "source": source,
            "account": self.account_id,
            "time": iso(self.clock.now()),
            "region": region,
            "resources": resources,
            "detail": detail,
        }
        self.emitted.append(event)
        return event

    def _send(self, region: str, event: dict[str, Any], targets: list[tuple[str, dict[str, Any]]]) -> None:
        event_id = event["id"]
        for rule, target in targets:
            for copy in range(self.world.event_copies(event_id, target["Arn"])):
                at = self.clock.now() + timedelta(seconds=self.world.event_delay(event_id, target["Arn"], copy))
                delivery = Delivery(event_id, rule, target["Arn"], at, copy)
                self.deliveries.append(delivery)
                self.clock.call_at(at, functools.partial(self._deliver, delivery, target, event, region))

    def _deliver(self, delivery: Delivery, target: dict[str, Any], event: dict[str, Any], region: str) -> None:
        try:
            self.router.deliver(region, delivery.rule, target, event)
            delivery.outcome = "delivered"
        except Exception as error:  # noqa: BLE001 - a failed delivery is recorded, as EventBridge would report it
            delivery.outcome = f"error: {type(error).__name__}: {error}"
