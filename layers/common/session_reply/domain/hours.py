"""Business hours: when the team answers, as data an operator edits.

A schedule is `{"timezone": "Asia/Almaty", "week": {"mon": ["09:00-18:00"], ...},
"closed": ["2026-12-31", ...]}`: opening intervals per weekday in the business's own time
zone (a day not listed is closed; "00:00-24:00" is all day), and dates when the team is off.
No schedule means always open. A request that comes while closed gets the language's
out-of-hours reply, which says when the team is back; its escalation timer starts then.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_LOOKAHEAD_DAYS = 370  # a schedule closed for longer than a year has no next opening


class ScheduleError(ValueError):
    """The schedule cannot be used; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Schedule:
    timezone: str
    week: Mapping[int, tuple[tuple[int, int], ...]]  # weekday -> (start, end) minutes
    closed: frozenset[date]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def parse_schedule(raw: Mapping[str, Any]) -> Schedule:
    if not isinstance(raw, Mapping):
        raise ScheduleError("the schedule must be a JSON object")
    zone = str(raw.get("timezone") or "")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown timezone {zone!r} (e.g. Europe/Berlin)") from None
    week_raw = raw.get("week")
    if not isinstance(week_raw, Mapping) or not week_raw:
        raise ScheduleError('"week" must map days (mon..sun) to opening intervals')
    week: dict[int, tuple[tuple[int, int], ...]] = {}
    for day, intervals in week_raw.items():
        if day not in DAYS:
            raise ScheduleError(f"unknown day {day!r}; days are {', '.join(DAYS)}")
        if not isinstance(intervals, list):
            raise ScheduleError(f'{day}: a list of "HH:MM-HH:MM" intervals')
        spans = []
        for interval in intervals:
            match = _INTERVAL.match(str(interval))
            if not match:
                raise ScheduleError(f'{day}: {interval!r} is not "HH:MM-HH:MM"')
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            start, end = h1 * 60 + m1, h2 * 60 + m2
            if end <= start or end > 24 * 60:
                raise ScheduleError(f"{day}: {interval!r} ends before it starts")
            spans.append((start, end))
        week[DAYS.index(day)] = tuple(sorted(spans))
    closed = set()
    for value in raw.get("closed") or []:
        try:
            closed.add(date.fromisoformat(str(value)))
        except ValueError:
            raise ScheduleError(f"closed: {value!r} is not a date (YYYY-MM-DD)") from None
    return Schedule(zone, week, frozenset(closed))


def _local(at: float, schedule: Schedule) -> datetime:
    return datetime.fromtimestamp(at, schedule.zone)


def is_open(at: float, schedule: Schedule | None) -> bool:
    if schedule is None:
        return True
    local = _local(at, schedule)
    if local.date() in schedule.closed:
        return False
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in schedule.week.get(local.weekday(), ()))


def next_opening(at: float, schedule: Schedule) -> datetime | None:
    """When the team is next open after `at` (local time of the business), or None."""
    local = _local(at, schedule)
    for offset in range(_LOOKAHEAD_DAYS):
        day = local.date() + timedelta(days=offset)
        if day in schedule.closed:
            continue
        for start, _end in schedule.week.get(day.weekday(), ()):
            opens = datetime.combine(day, time(start // 60, start % 60), schedule.zone)
            if opens > local:
                return opens
    return None
