"""EventBridge's scheduled rules ([EB-SCH] in facts.py), firing on the virtual clock (moto stores ScheduleExpression and
never fires it).

- `rate(value unit)`: unit minute(s), hour(s) or day(s), singular for 1 and plural otherwise; it "starts when you
  create the scheduled event rule". ASSUMPTION: the first firing is one interval after the rule's creation, on the
  minute (schedules have a minute's precision), then every interval.
- `cron(minutes hours day-of-month month day-of-week year)`, UTC: `, - * /` everywhere, `?` in one of the two day
  fields, `L` and `W` in day-of-month, `L` and `#` in day-of-week, month names JAN-DEC and day names SUN-SAT (1 is
  Sunday).
- Only the next firing is scheduled; it schedules the one after when it fires. A firing sends the rule's own targets
  a `Scheduled Event` (source `aws.events`, the rule's ARN in `resources`, an empty `detail`) through the bus, with its
  delivery delay; a disabled rule skips its firings, a rule put again starts its schedule again, a deleted one stops.
The rules themselves are the account's (a `RuleSchedules`, moto's EventBridge rules).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from emulator.world.clock import VirtualClock
from emulator.world.errors import AWSError
from emulator.world.events import EventBus

UNITS = {"minute": 60, "hour": 3600, "day": 86400}
MONTHS = {name: n for n, name in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}
DAYS = {name: n for n, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
SEARCH_DAYS = 366 * 5  # a cron that matches nothing within five years never fires


def invalid(expression: str) -> AWSError:
    return AWSError("ValidationException", "Parameter ScheduleExpression is not valid.", 400)  # as moto words it


@dataclass(frozen=True)
class Rate:
    seconds: int


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    day_of_month: str  # kept as written: `?`, `L`, `15W` and lists need the month to be read
    months: frozenset[int]
    day_of_week: str
    years: frozenset[int]

    def day_matches(self, day: datetime) -> bool:
        last = calendar.monthrange(day.year, day.month)[1]
        if self.day_of_month != "?" and not _dom_matches(self.day_of_month, day, last):
            return False
        return self.day_of_week == "?" or _dow_matches(self.day_of_week, day, last)


def _aws_weekday(day: datetime) -> int:
    return (day.weekday() + 1) % 7 + 1  # Python's Monday 0 -> EventBridge's Sunday 1 ... Saturday 7


def _values(field_text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    found: set[int] = set()
    for part in field_text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _number(a, names), _number(b, names)
        else:
            start = _number(part, names)
            end = high if step != 1 else start
        if not (low <= start <= high and low <= end <= high) or step < 1:
            raise ValueError(part)
        found.update(range(start, end + 1, step))
    return frozenset(found)


def _number(text: str, names: dict[str, int] | None) -> int:
    return names[text.upper()] if names and text.upper() in names else int(text)


def _dom_matches(text: str, day: datetime, last: int) -> bool:
    for part in text.split(","):
        if part == "L":
            if day.day == last:
                return True
        elif part.endswith("W"):
            target = min(int(part[:-1]), last)  # the weekday nearest to it, within the month
            wanted = datetime(day.year, day.month, target, tzinfo=UTC)
            if wanted.weekday() == 5:
                wanted += timedelta(days=-1 if target > 1 else 2)
            elif wanted.weekday() == 6:
                wanted += timedelta(days=1 if target < last else -2)
            if day.day == wanted.day:
                return True
        elif day.day in _values(part, 1, 31):
            return True
    return False


def _dow_matches(text: str, day: datetime, last: int) -> bool:
    weekday = _aws_weekday(day)
    for part in text.split(","):
        if part.endswith("L") and part != "L":  # 6L: the last Friday of the month
            if weekday == _number(part[:-1], DAYS) and day.day + 7 > last:
                return True
        elif part == "L":
            if weekday == 7:
                return True
        elif "#" in part:  # 3#2: the second Tuesday
            name, nth = part.split("#", 1)
            if weekday == _number(name, DAYS) and (day.day - 1) // 7 + 1 == int(nth):
                return True
        elif weekday in _values(part, 1, 7, DAYS):
            return True
    return False


def parse(expression: str) -> Rate | Cron:
    """A ScheduleExpression; raises what PutRule answers for an invalid one."""
    rate = re.fullmatch(r"rate\((\d+) (minutes?|hours?|days?)\)", expression.strip())
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1 or (value == 1) == unit.endswith("s"):  # rate(1 hours) and rate(5 hour) are refused
            raise invalid(expression)
        return Rate(value * UNITS[unit.rstrip("s")])
    cron = re.fullmatch(r"cron\((.+)\)", expression.strip())
    fields = cron.group(1).split() if cron else []
    if len(fields) != 6:
        raise invalid(expression)
    minutes, hours, dom, months, dow, years = fields
    if (dom == "?") == (dow == "?"):  # exactly one of the day fields is `?`
        raise invalid(expression)
    try:
        parsed = Cron(_values(minutes, 0, 59), _values(hours, 0, 23), dom.upper(), _values(months, 1, 12, MONTHS), dow.upper(),
                      _values(years, 1970, 2199))  # fmt: skip
        probe = datetime(2026, 1, 31, tzinfo=UTC)
        parsed.day_matches(probe)  # the day fields parse
    except (ValueError, KeyError) as error:
        raise invalid(expression) from error
    return parsed


def next_firing(schedule: Rate | Cron, after: datetime, created: datetime) -> datetime | None:
    """The first firing strictly after `after` (None: never)."""
    if isinstance(schedule, Rate):
        base = created.replace(second=0, microsecond=0)
        elapsed = (after - base).total_seconds()
        return base + timedelta(seconds=schedule.seconds * (int(elapsed // schedule.seconds) + 1))
    start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    for _ in range(SEARCH_DAYS):
        if day.year in schedule.years and day.month in schedule.months and schedule.day_matches(day):
            for hour in sorted(schedule.hours):
                for minute in sorted(schedule.minutes):
                    moment = day.replace(hour=hour, minute=minute)
                    if moment >= start:
                        return moment
        day += timedelta(days=1)
    return None


class RuleSchedules(Protocol):
    def schedule_of(self, region: str, rule: str) -> tuple[str, str] | None:
        """(ScheduleExpression, State) of the default bus's rule as it is now; None when it has no schedule."""

    def rule_arn(self, region: str, rule: str) -> str: ...


@dataclass
class Scheduler:
    clock: VirtualClock
    bus: EventBus
    rules: RuleSchedules
    chains: dict[tuple[str, str], int] = field(default_factory=dict)  # (region, rule) -> the current chain's number
    firings: list[dict[str, Any]] = field(default_factory=list)  # every firing (ground truth): rule, at, delivered

    def scheduled(self, region: str, rule: str, expression: str) -> None:
        """PutRule with a ScheduleExpression (a rule put again starts its schedule again)."""
        schedule = parse(expression)
        chain = self.chains.get((region, rule), 0) + 1
        self.chains[(region, rule)] = chain
        created = self.clock.now()
        self._plan(region, rule, expression, schedule, chain, created, created)

    def _plan(self, region: str, rule: str, expression: str, schedule: Rate | Cron, chain: int, created: datetime, after: datetime) -> None:
        when = next_firing(schedule, after, created)
        if when is not None:
            self.clock.call_at(when, self._firing(region, rule, expression, schedule, chain, created, when))

    def _firing(
        self, region: str, rule: str, expression: str, schedule: Rate | Cron, chain: int, created: datetime, when: datetime
    ) -> Callable[[], None]:
        def fire() -> None:
            current = self.rules.schedule_of(region, rule)
            if self.chains.get((region, rule)) != chain or current is None or current[0] != expression:
                return  # put again (another chain runs), deleted, or no schedule any more
            delivered = current[1] == "ENABLED"
            self.firings.append({"rule": rule, "at": when, "delivered": delivered})
            if delivered:
                self.bus.emit_to_rule(region, rule, "aws.events", "Scheduled Event", {}, [self.rules.rule_arn(region, rule)])
            self._plan(region, rule, expression, schedule, chain, created, when)

        return fire
