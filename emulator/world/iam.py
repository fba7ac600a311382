"""IAM's evaluation of identity-based policies, as the IAM User Guide describes it, for the requests the emulator
authorizes itself (EC2 and CloudWatch: emulator/world/ec2_authorization.py says which resources and context keys).

- Evaluation ("Policy evaluation logic", identity-based policies in one account): a matching Deny statement refuses;
  otherwise a matching Allow statement allows; otherwise the request is implicitly denied. A statement matches when its
  Action (or NotAction) and Resource (or NotResource) match and every condition holds.
- Action and Resource ("IAM JSON policy elements: Action", "...: Resource"): `*` and `?` wildcards; action names are
  case-insensitive, resource ARNs case-sensitive.
- Condition ("IAM JSON policy elements: Condition operators", "Creating a condition with multiple keys or values"):
  the operators of a block and the keys of an operator all must hold (AND); several values of one key: any one
  (OR), and for the negated operators none. A key absent from the request context makes the condition false, except
  for `Null` (which tests exactly that) and the `...IfExists` forms (true when absent). `StringLike` and `ArnLike`
  take `*` and `?`; `ArnEquals`/`ArnLike` compare the six colon-separated parts one by one. `ForAnyValue:` holds when
  some context value matches some policy value, `ForAllValues:` when every context value matches one (and when the key
  is absent or empty).
- What the model cannot decide, it says so (`UndecidedCondition`) instead of guessing: other operators (Numeric, Date,
  IpAddress, Binary), policy variables (`${...}`), a negated operator on an absent key, and a multivalued context
  key under a single-valued operator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

ContextValue = str | Sequence[str]
Decision = Literal["Allow", "Deny", "ImplicitDeny"]


class UndecidedCondition(Exception):
    """A condition this model cannot evaluate: the request is neither allowed nor refused by guess."""


@dataclass(frozen=True)
class Request:
    """One authorization: an action on one resource, with the request context's keys (IAM compares key names without
    regard to case: "Condition element", key names are not case-sensitive)."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


def _wildcard(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("^" + "".join(parts) + "$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike/ArnEquals: each of the six colon-separated parts matched by itself (the resource part may hold colons)."""
    wanted, actual = pattern.split(":", 5), value.split(":", 5)
    return len(wanted) == len(actual) == 6 and all(_wildcard(w).match(a) for w, a in zip(wanted, actual, strict=True))


# operator -> how one context value matches one policy value
_MATCHERS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda policy, actual: policy == actual,
    "StringEqualsIgnoreCase": lambda policy, actual: policy.lower() == actual.lower(),
    "StringLike": lambda policy, actual: bool(_wildcard(policy).match(actual)),
    "ArnEquals": _arn_like,
    "ArnLike": _arn_like,
    "Bool": lambda policy, actual: policy.lower() == actual.lower(),
}
_NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike"}  # fmt: skip


def _lookup(context: Mapping[str, ContextValue], key: str) -> ContextValue | None:
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return value
    return None


def _holds(operator: str, key: str, policy_values: list[str], context: Mapping[str, ContextValue]) -> bool:
    if any("${" in v for v in policy_values):
        raise UndecidedCondition(f"policy variables are not modelled ({operator} {key}: {policy_values})")
    actual = _lookup(context, key)
    if operator == "Null":
        (wanted,) = policy_values
        return (actual is None or actual == []) == (wanted.lower() == "true")
    qualifier, _, operator = operator.rpartition(":")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    negated = operator in _NEGATED
    matcher = _MATCHERS.get(_NEGATED.get(operator, operator))
    if matcher is None:
        raise UndecidedCondition(f"the condition operator {operator} is not modelled")
    if qualifier:
        values = [] if actual is None else [actual] if isinstance(actual, str) else list(actual)
        matched = [any(matcher(p, v) for p in policy_values) != negated for v in values]
        if qualifier == "ForAnyValue":
            return any(matched)
        if qualifier == "ForAllValues":
            return all(matched)
        raise UndecidedCondition(f"the set operator {qualifier} is not modelled")
    if actual is None:
        if if_exists:
            return True
        if negated:
            raise UndecidedCondition(f"{operator} on {key}, absent from the request context, is not modelled")
        return False
    if not isinstance(actual, str):
        raise UndecidedCondition(f"{key} is multivalued: {operator} needs ForAnyValue or ForAllValues")
    return any(matcher(p, actual) for p in policy_values) != negated


def _conditions_hold(statement: Mapping[str, Any], context: Mapping[str, ContextValue]) -> bool:
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, values in keys.items():
            if not _holds(operator, key, _listed(values), context):
                return False
    return True


def _matches(statement: Mapping[str, Any], request: Request) -> bool:
    if "NotAction" in statement:
        action = not any(_wildcard(a, ignore_case=True).match(request.action) for a in _listed(statement["NotAction"]))
    else:
        action = any(_wildcard(a, ignore_case=True).match(request.action) for a in _listed(statement.get("Action", [])))
    if "NotResource" in statement:
        resource = not any(_wildcard(r).match(request.resource) for r in _listed(statement["NotResource"]))
    else:
        resource = any(_wildcard(r).match(request.resource) for r in _listed(statement.get("Resource", [])))
    return action and resource and _conditions_hold(statement, request.context)


def statements(documents: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    for document in documents:
        listed = document.get("Statement", [])
        found += listed if isinstance(listed, list) else [listed]
    return found


def evaluate(documents: Iterable[Mapping[str, Any]], request: Request) -> Decision:
    """The decision of these identity-based policy documents on one request."""
    matching = [s for s in statements(documents) if _matches(s, request)]
    if any(s.get("Effect") == "Deny" for s in matching):
        return "Deny"
    return "Allow" if any(s.get("Effect") == "Allow" for s in matching) else "ImplicitDeny"
