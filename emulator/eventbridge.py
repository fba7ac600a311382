"""EventBridge for the emulator: the services' own events, matched against the account's rules, delivered on the
virtual clock with a delay, and sometimes lost or duplicated.

S3 (for buckets with EventBridge notifications on) emits `Object Restore Initiated`, `Object Restore Completed` and
`Object Restore Expired`; EC2 emits `EC2 AMI State Change` for restored images (emulator/s3.py, emulator/ec2.py), with
the `detail` fields AWS documents (S3 User Guide, ev-events; EC2 User Guide, monitor-ami-events). Each event is matched
against the enabled rules of the default bus by moto's own pattern matcher, and each matching target gets it after the
world's delay (emulator/world.py: seconds, with a tail to minutes), zero, one or two times. Targets: SQS queues,
Lambda functions (the deployed handler, invoked asynchronously), Step Functions state machines (StartExecution), SNS
topics, with `Input`, `InputPath` and `InputTransformer` applied. moto itself raises NotImplementedError for Lambda and
Step Functions targets and stops delivering to later rules (moto 5.2.5).
"""

from __future__ import annotations

import functools
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from moto.awslambda_simple.models import lambda_simple_backends
from moto.events.models import EventsBackend, events_backends
from moto.events.utils import EventTemplateParser
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends

if TYPE_CHECKING:
    from emulator.clock import VirtualClock
    from emulator.world import World


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    invoke_function: Callable[[str, Any], None]  # (function name, event): the emulator runs the handler
    start_execution: Callable[[str, str], None]  # (state machine ARN, input)
    emitted: list[dict[str, Any]] = field(default_factory=list)  # every event a service emitted (ground truth)
    deliveries: list[Delivery] = field(default_factory=list)
    _count: int = 0

    def emit(self, region: str, source: str, detail_type: str, detail: dict[str, Any], resources: list[str]) -> dict[str, Any]:
        self._count += 1
        seed = random.Random(f"{self.world.seed}:event:{self._count}")  # noqa: S311 - ids for a simulation
        event_id = str(uuid.UUID(int=seed.getrandbits(128), version=4))
        event: dict[str, Any] = {
            "version": "0",
            "id": event_id,
            "detail-type": detail_type,
            "source": source,
            "account": self.account_id,
            "time": iso(utcnow()),
            "region": region,
            "resources": resources,
            "detail": detail,
        }
        self.emitted.append(event)
        bus = events_backends[self.account_id][region].event_buses.get("default")
        for rule in list(bus.rules.values()) if bus else []:
            if rule.state != "ENABLED" or not rule.event_pattern.matches_event(event):  # type: ignore[arg-type]
                continue
            for target in rule.targets:
                for copy in range(self.world.event_copies(event_id, target["Arn"])):
                    at = utcnow() + timedelta(seconds=self.world.event_delay(event_id, target["Arn"], copy))
                    delivery = Delivery(event_id, rule.name, target["Arn"], at, copy)
                    self.deliveries.append(delivery)
                    self.clock.call_at(at, functools.partial(self._deliver, delivery, target, event, region))
        return event

    def _deliver(self, delivery: Delivery, target: dict[str, Any], event: dict[str, Any], region: str) -> None:
        payload = transform(target, event)
        body = json.dumps(payload)  # what a queue or topic receives: JSON (a transformed string keeps its quotes)
        arn = target["Arn"]
        service, resource = arn.split(":")[2], arn.split(":", 5)[5]
        try:
            if service == "sqs":
                sqs_backends[self.account_id][region].send_message(resource, body)
            elif service == "lambda":
                function = resource.removeprefix("function:").split(":")[0]
                rule_arn = f"arn:aws:events:{region}:{self.account_id}:rule/{delivery.rule}"
                if not admits(lambda_simple_backends[self.account_id][region].get_policy(function), rule_arn):  # moto without Docker
                    raise PermissionError(f"the resource policy of {function} does not let {rule_arn} invoke it")
                self.invoke_function(function, payload)
            elif service == "states":
                self.start_execution(arn, body)
            elif service == "sns":
                sns_backends[self.account_id][region].topics[arn].publish(message=body)
            else:
                raise NotImplementedError(f"the emulator delivers no events to {service}")
            delivery.outcome = "delivered"
        except Exception as error:  # noqa: BLE001 - a failed delivery is recorded, as EventBridge would report it
            delivery.outcome = f"error: {type(error).__name__}: {error}"


def _put_events(original: Any) -> Any:
    """PutEvents onto the default bus goes through the emulator's bus: same matching, delays, loss and duplicates,
    and Lambda and Step Functions targets work (moto raises NotImplementedError for them and stops delivering)."""

    def put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from emulator import binding

        emulator = binding.bound(self.account_id)
        default = [
            e
            for e in events
            if e.get("EventBusName", "default") in ("default", f"arn:aws:events:{self.region_name}:{self.account_id}:event-bus/default")
        ]
        if (
            emulator is None
            or len(default) != len(events)
            or not all(e.get("Source") and e.get("DetailType") and e.get("Detail") for e in events)
        ):
            return original(self, events)  # type: ignore[no-any-return]  # other buses and malformed entries: moto's answer
        return [
            {
                "EventId": emulator.eventbridge.emit(
                    self.region_name, e["Source"], e["DetailType"], json.loads(e["Detail"]), e.get("Resources", [])
                )["id"]
            }
            for e in events
        ]

    return put_events


def admits(policy: str, rule_arn: str) -> bool:
    """Does a Lambda function's resource policy let this rule invoke it? EventBridge needs such a statement
    (EventBridge User Guide, "Using resource-based policies for Amazon EventBridge": Lambda permissions)."""
    document = json.loads(policy) if policy else {}
    document = json.loads(document["Policy"]) if "Policy" in document else document  # moto's wire format wraps it
    for statement in document.get("Statement", []):
        principal = statement.get("Principal", {})
        source = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn", rule_arn)
        if (statement.get("Effect") == "Allow" and principal.get("Service") == "events.amazonaws.com"
                and statement.get("Action") in ("lambda:InvokeFunction", "lambda:*") and source == rule_arn):  # fmt: skip
            return True
    return False


def install() -> None:
    EventsBackend.put_events = _put_events(EventsBackend.put_events)  # type: ignore[method-assign]


def _path(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.removeprefix("$").strip(".").split(".") if path not in ("$", "") else []:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def transform(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What the target receives: the event, `Input` (constant JSON), `InputPath`, or `InputTransformer`."""
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        return _path(event, target["InputPath"])
    transformer = target.get("InputTransformer")
    if not transformer:
        return event
    # moto's own template parser: placeholders inside quotes take the raw string, outside it the JSON value
    stamped = {**event, "ingestion-time": event["time"]}  # a predefined variable the parser reads (aws.events.event.ingestion-time)
    return EventTemplateParser.parse(transformer["InputTemplate"], transformer.get("InputPathsMap", {}), stamped)  # type: ignore[arg-type]
