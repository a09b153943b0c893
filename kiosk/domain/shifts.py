"""Shifts and their occurrences in local time; a night shift may cross midnight."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class ShiftDef:
    """A shift as the roster names it: code, name, local start and end (end may be the next day)."""

    code: str
    name: str
    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        """True for a night shift such as 23:00–08:00."""
        return self.end <= self.start


@dataclass(frozen=True)
class ShiftOccurrence:
    """One shift on one roster date, with its real start and end instants."""

    shift: ShiftDef
    day: date  # the roster date: the day the shift starts
    starts_at: datetime  # aware
    ends_at: datetime  # aware

    @property
    def key(self) -> tuple[date, str]:
        """What identifies it in the roster and the roll call table."""
        return (self.day, self.shift.code)


def occurrence(shift: ShiftDef, day: date, tz: ZoneInfo) -> ShiftOccurrence:
    """Place a shift on a roster date in real time."""
    start = datetime.combine(day, shift.start, tzinfo=tz)
    end_day = day + timedelta(days=1) if shift.crosses_midnight else day
    end = datetime.combine(end_day, shift.end, tzinfo=tz)
    return ShiftOccurrence(shift, day, start, end)


def parse_hhmm(text: str) -> time:
    """Parse ``HH:MM`` (24 h) strictly; raise ValueError with a readable message otherwise."""
    parts = str(text).strip().split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a time as HH:MM")
    hour, minute = int(parts[0]), int(parts[1])
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"{text!r} is not a time of day (00:00 to 23:59)")
    return time(hour, minute)


def occurrences_around(shifts: list[ShiftDef], now: datetime, tz: ZoneInfo) -> list[ShiftOccurrence]:
    """Every occurrence starting from yesterday to tomorrow, sorted by start."""
    return list(occurrences_around_day(tuple(shifts), now.astimezone(tz).date(), tz))


@functools.lru_cache(maxsize=64)
def occurrences_around_day(shifts: tuple[ShiftDef, ...], today: date, tz: ZoneInfo) -> tuple[ShiftOccurrence, ...]:
    """Every occurrence starting from the day before ``today`` to the day after, sorted by start."""
    # The same shifts and day always give the same occurrences; every badge tap asks, so remember them.
    out = [occurrence(s, today + timedelta(days=d), tz) for s in shifts for d in (-1, 0, 1)]
    return tuple(sorted(out, key=lambda o: (o.starts_at, o.shift.code)))


@functools.lru_cache(maxsize=64)
def shift_defs(rows: tuple[tuple[str, str, str, str], ...]) -> tuple[ShiftDef, ...]:
    """Shift definitions from stored (code, name, start, end) rows; remembered, as every badge tap asks."""
    return tuple(ShiftDef(code, name, parse_hhmm(start), parse_hhmm(end)) for code, name, start, end in rows)
