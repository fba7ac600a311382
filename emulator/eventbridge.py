"""EventBridge targets moto does not deliver to: SNS topics.

moto's put_events delivers to SQS queues and log groups but raises NotImplementedError for an SNS target, and the
targets after it then receive nothing. On AWS EventBridge publishes the (transformed) event to the topic as
events.amazonaws.com, which the topic policy admits; here the message goes straight into the topic, so the topic's
subscribers (what Emulator.emails reads) receive it as on AWS.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from moto.events.models import Rule
from moto.events.utils import EventTemplateParser
from moto.sns.models import sns_backends
from moto.utilities.arns import parse_arn


def _publish(target: dict[str, Any], event: dict[str, Any], transform_input: bool) -> None:
    transformer = target.get("InputTransformer", {})
    if transform_input:
        message = EventTemplateParser.parse(transformer.get("InputTemplate"), transformer.get("InputPathsMap", {}), event)
    else:
        message = event
    arn = parse_arn(target["Arn"])
    # The target receives JSON: a template that is a quoted string arrives as that JSON string, quotes included.
    sns_backends[arn.account][arn.region].topics[target["Arn"]].publish(message=json.dumps(message))


def _send_to_targets(original: Any) -> Any:
    def send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
        if not self.event_pattern.matches_event(original_event):
            return
        topics = [t for t in self.targets if parse_arn(t["Arn"]).service == "sns"]
        for target in topics:
            _publish(target, original_event, transform_input)
        rest = copy.copy(self)  # moto delivers the other targets; the rule itself stays as configured
        rest.targets = [t for t in self.targets if t not in topics]
        original(rest, original_event, transform_input)

    return send_to_targets


def install() -> None:
    Rule.send_to_targets = _send_to_targets(Rule.send_to_targets)  # type: ignore[method-assign]
