"""EventBridge on moto: the account's rules and targets are moto's; the world's bus (emulator/world/events.py) delivers.

- `MotoRouter` is the world's Router: the enabled rules of the default bus, matched by moto's own pattern matcher, and
  delivery to SQS queues, Lambda functions (the deployed handler, invoked asynchronously, if the function's resource
  policy admits the rule), Step Functions state machines (StartExecution, with IAM enforced only if the target's role
  may: `may_start`) and SNS topics, with `Input`, `InputPath` and `InputTransformer` applied.
- PutEvents onto the default bus goes through the world's bus: same matching, delays, loss and duplicates. moto 5.2.5
  raises NotImplementedError for Lambda and Step Functions targets and stops delivering to later rules.
- PutRule with a ScheduleExpression starts the world's schedule (emulator/world/schedule.py): it fires on the virtual
  clock through the same Router, to the rule's own targets. moto stores the expression and never fires it, and its
  pattern matcher matches every event against a rule without a pattern (a scheduled rule): such rules get no events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from moto.awslambda_simple.models import lambda_simple_backends
from moto.events.models import EventsBackend, events_backends
from moto.events.utils import EventTemplateParser
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends

from emulator.adapters import iam
from emulator.adapters.errors import answering_world_errors
from emulator.adapters.process import enforcing
from emulator.adapters.registry import bound
from emulator.world import schedule


class MotoRouter:
    """The world's Router: rules and targets as the account defined them in moto."""

    def __init__(self, account_id: str, invoke_function: Callable[[str, Any], None], start_execution: Callable[[str, str], None]) -> None:
        self.account_id = account_id
        self.invoke_function = invoke_function  # (function name, event): Lambda runs the handler asynchronously
        self.start_execution = start_execution  # (state machine ARN, input)

    def targets(self, region: str, event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        bus = events_backends[self.account_id][region].event_buses.get("default")
        return [
            (rule.name, target)
            for rule in (list(bus.rules.values()) if bus else [])
            if rule.state == "ENABLED" and rule.event_pattern.get_pattern() and rule.event_pattern.matches_event(event)  # type: ignore[arg-type]
            for target in rule.targets
        ]

    def rule_targets(self, region: str, rule: str) -> list[tuple[str, dict[str, Any]]]:
        found = self._rule(region, rule)
        return [(rule, target) for target in found.targets] if found is not None else []

    def _rule(self, region: str, rule: str) -> Any:
        bus = events_backends[self.account_id][region].event_buses.get("default")
        return bus.rules.get(rule) if bus else None

    # --- the world's RuleSchedules ---------------------------------------------------------------------------------

    def schedule_of(self, region: str, rule: str) -> tuple[str, str] | None:
        found = self._rule(region, rule)
        return (found.scheduled_expression, found.state) if found is not None and found.scheduled_expression else None

    def rule_arn(self, region: str, rule: str) -> str:
        return f"arn:aws:events:{region}:{self.account_id}:rule/{rule}"

    def deliver(self, region: str, rule: str, target: dict[str, Any], event: dict[str, Any]) -> None:
        payload = transform(target, event)
        body = json.dumps(payload)  # what a queue or topic receives: JSON (a transformed string keeps its quotes)
        arn = target["Arn"]
        service, resource = arn.split(":")[2], arn.split(":", 5)[5]
        if service == "sqs":
            sqs_backends[self.account_id][region].send_message(resource, body)
        elif service == "lambda":
            function = resource.removeprefix("function:").split(":")[0]
            rule_arn = f"arn:aws:events:{region}:{self.account_id}:rule/{rule}"
            if not admits(lambda_simple_backends[self.account_id][region].get_policy(function), rule_arn):  # moto without Docker
                raise PermissionError(f"the resource policy of {function} does not let {rule_arn} invoke it")
            self.invoke_function(function, payload)
        elif service == "states":
            role = target.get("RoleArn")
            if role and not may_start(self.account_id, region, role, arn):
                raise PermissionError(f"{role} may not states:StartExecution {arn}")
            self.start_execution(arn, body)
        elif service == "sns":
            sns_backends[self.account_id][region].topics[arn].publish(message=body)
        else:
            raise NotImplementedError(f"the emulator delivers no events to {service}")


def may_start(account_id: str, region: str, role: str, state_machine_arn: str) -> bool:
    """May EventBridge start the state machine as the target's role? EventBridge relays an event to a target as the
    target's IAM role, and for a Step Functions target "the role needs states:StartExecution on the state machine"
    (EventBridge User Guide, "IAM roles for sending events to targets" and "Step Functions state machine target"). Only
    while IAM is enforced for a deployed stack (Emulator.enforce_iam assumes each target's role), as for the state
    machines' own roles (sfn_children.py)."""
    emulated = bound(account_id)
    if emulated is None or not enforcing() or not emulated.invokers:
        return True
    invoker = emulated.invokers.get(role)
    return invoker is not None and iam.authorize(invoker, "states:StartExecution", state_machine_arn, region, account_id)


def _put_events(original: Any) -> Any:
    def put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        account = bound(self.account_id)
        default = [
            e
            for e in events
            if e.get("EventBusName", "default") in ("default", f"arn:aws:events:{self.region_name}:{self.account_id}:event-bus/default")
        ]
        if (
            account is None
            or len(default) != len(events)
            or not all(e.get("Source") and e.get("DetailType") and e.get("Detail") for e in events)
        ):
            return original(self, events)  # type: ignore[no-any-return]  # other buses and malformed entries: moto's answer
        return [
            {
                "EventId": account.eventbridge.emit(
                    self.region_name, e["Source"], e["DetailType"], json.loads(e["Detail"]), e.get("Resources", [])
                )["id"]
            }
            for e in events
        ]

    return put_events


def _put_rule(original: Any) -> Any:
    @answering_world_errors
    def put_rule(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        expression = kwargs.get("scheduled_expression")
        account = bound(self.account_id)
        if expression and account is not None:
            schedule.parse(expression)  # refuses what EventBridge refuses, before moto stores the rule
        rule = original(self, name, *args, **kwargs)
        if expression and account is not None:
            account.schedules.scheduled(self.region_name, name, expression)
        return rule

    return put_rule


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


def _path(event: dict[str, Any], path: str) -> Any:
    """A JSON path as EventBridge reads it: dot notation with array indices (`$.resources[0]`; EventBridge User Guide,
    "Amazon EventBridge input transformation": supported syntax)."""
    value: Any = event
    for part in path.removeprefix("$").strip(".").split(".") if path not in ("$", "") else []:
        name, *indices = part.split("[")
        value = value.get(name) if isinstance(value, dict) and name else value if not name else None
        for index in indices:
            position = int(index.rstrip("]"))
            value = value[position] if isinstance(value, list) and -len(value) <= position < len(value) else None
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
    template = transformer["InputTemplate"]
    if template.lstrip().startswith(("{", "[")):
        predefined = {"aws.events.event.json": event, "aws.events.event.ingestion-time": event["time"]}
        return json.loads(_fill(template, {**predefined, **{n: _path(event, p) for n, p in transformer.get("InputPathsMap", {}).items()}}))
    stamped = {**event, "ingestion-time": event["time"]}  # a predefined variable the parser reads (aws.events.event.ingestion-time)
    return EventTemplateParser.parse(template, transformer.get("InputPathsMap", {}), stamped)  # type: ignore[arg-type]


def _fill(template: str, values: dict[str, Any]) -> str:
    """A JSON input template with its placeholders filled as EventBridge fills them (EventBridge API Reference,
    InputTransformer: `{"myInstance": <instance>, "myStatus": "<instance> is in state \\"<status>\\""}`): inside a JSON
    string the value's text, outside one the value as JSON (a string then quoted). moto's parser inserted a string
    unquoted, which is not JSON."""
    out, inside, escaped, i = [], False, False, 0
    while i < len(template):
        char = template[i]
        name = template[i + 1 : template.find(">", i)] if char == "<" and ">" in template[i:] else None
        if name is not None and name in values:
            value = values[name]
            text = value if isinstance(value, str) else json.dumps(value)
            out.append(json.dumps(text)[1:-1] if inside else json.dumps(value))
            i += len(name) + 2
            continue
        if (inside and not escaped and char == '"') or (not inside and char == '"'):
            inside = not inside
        escaped = inside and char == "\\" and not escaped
        out.append(char)
        i += 1
    return "".join(out)


def install() -> None:
    # moto delivers PutEvents itself, raising NotImplementedError for Lambda and Step Functions targets: the world's bus.
    EventsBackend.put_events = _put_events(EventsBackend.put_events)  # type: ignore[method-assign]
    # moto stores a rule's ScheduleExpression and never fires it: the world's schedule fires it on the virtual clock.
    EventsBackend.put_rule = _put_rule(EventsBackend.put_rule)  # type: ignore[method-assign]
