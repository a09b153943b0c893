"""Roll call rules (§3.1, §3.3, §3.4, §3.5): pure functions of facts, ``now`` and a policy.

Nothing here reads a clock, a database or a device: the service layer loads the facts,
calls these functions and saves what they decide.
"""

from __future__ import annotations

import enum
import functools
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Mapping, Sequence

from kiosk.domain.shifts import ShiftDef, ShiftOccurrence, occurrences_around_day
from zoneinfo import ZoneInfo


class Outcome(str, enum.Enum):
    """What a roll call tap comes to."""

    PRESENT = "present"
    LATE = "late"
    DUPLICATE = "duplicate"
    NOT_ON_ROSTER = "not_on_roster"
    UNKNOWN_BADGE = "unknown_badge"
    BADGE_LOST = "badge_lost"
    BADGE_REVOKED = "badge_revoked"
    STAFF_LEFT = "staff_left"
    OUTSIDE_WINDOW = "outside_window"

    @property
    def accepted(self) -> bool:
        """True when the tap counts as answering "到"."""
        return self in (Outcome.PRESENT, Outcome.LATE)


class Attendance(str, enum.Enum):
    """The attendance record written when roll call closes (§3.4)."""

    PRESENT = "present"
    LATE = "late"
    ABSENT = "absent"
    EXCUSED = "excused"


@dataclass(frozen=True)
class RollCallPolicy:
    """Configurable windows: roll call opens/closes around shift start; the leader comes early (§3.1)."""

    opens_before: timedelta = timedelta(minutes=30)
    closes_after: timedelta = timedelta(minutes=10)
    leader_early: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class StaffFacts:
    """What roll call needs to know about a person."""

    employee_no: str
    name: str
    role: str
    active: bool


@dataclass(frozen=True)
class BadgeFacts:
    """A badge as found by UID, with its holder."""

    uid: str
    status: str  # active | lost | revoked | returned
    holder: StaffFacts


@dataclass(frozen=True)
class RosterLine:
    """One person on one shift occurrence."""

    employee_no: str
    name: str
    seat: str | None
    duty: str  # leader | operator


@dataclass(frozen=True)
class TapDecision:
    """The answer to one tap, with everything the screen and the log need."""

    outcome: Outcome
    employee_no: str | None = None
    name: str | None = None
    seat: str | None = None
    duty: str | None = None
    leader_late: bool = False  # §3.1: the duty leader tapped less than 10 min before start
    detail: dict[str, str] = field(default_factory=dict)  # e.g. {"on_shift": "B"}
    rule: str = "§3.3"


def window(occ: ShiftOccurrence, policy: RollCallPolicy) -> tuple[datetime, datetime]:
    """The roll call window of one occurrence: [start − opens_before, start + closes_after)."""
    return occ.starts_at - policy.opens_before, occ.starts_at + policy.closes_after


def is_open(occ: ShiftOccurrence, now: datetime, policy: RollCallPolicy) -> bool:
    """True while the occurrence's roll call window contains ``now``."""
    opens, closes = window(occ, policy)
    return opens <= now < closes


def current_or_next(shifts: Sequence[ShiftDef], now: datetime, policy: RollCallPolicy,
                    tz: ZoneInfo) -> tuple[ShiftOccurrence | None, bool]:
    """The occurrence whose roll call is open now, else the next one to open; and whether it is open.

    When two windows overlap (short shifts), the earlier-starting shift wins until its window closes.
    """
    if not shifts:
        return None, False
    spans = _windows(tuple(shifts), now.astimezone(tz).date(), tz, policy)
    for occ, opens, closes in spans:
        if opens <= now < closes:
            return occ, True
    for occ, opens, _closes in spans:  # by start, so by opening too: the first still to open
        if opens > now:
            return occ, False
    return None, False


@functools.lru_cache(maxsize=64)
def _windows(shifts: tuple[ShiftDef, ...], today: date, tz: ZoneInfo,
             policy: RollCallPolicy) -> tuple[tuple[ShiftOccurrence, datetime, datetime], ...]:
    # Every badge tap asks which roll call is open: the windows of a day's occurrences are worked out once,
    # in UTC, as taps are timed (two aware times in one zone compare without asking the zone for offsets).
    return tuple((occ, *(t.astimezone(timezone.utc) for t in window(occ, policy)))
                 for occ in occurrences_around_day(shifts, today, tz))


def decide_tap(badge: BadgeFacts | None, occ: ShiftOccurrence | None, roster: Mapping[str, RosterLine],
               answered: set[str], now: datetime, policy: RollCallPolicy,
               other_shift: str | None = None) -> TapDecision:
    """Decide one roll call tap.

    ``roster`` maps employee numbers to the occurrence's roster; ``answered`` holds those already
    present or late; ``other_shift`` names the shift the person is rostered on today, if another.
    """
    if badge is None:
        return TapDecision(Outcome.UNKNOWN_BADGE, rule="§3.3")
    who = dict(employee_no=badge.holder.employee_no, name=badge.holder.name)
    # §2.5: a departed operator's badge is dead, whatever its recorded status.
    if not badge.holder.active:
        return TapDecision(Outcome.STAFF_LEFT, rule="§2.5", **who)
    if badge.status == "lost":
        return TapDecision(Outcome.BADGE_LOST, rule="§2.5", **who)
    if badge.status in ("revoked", "returned"):
        return TapDecision(Outcome.BADGE_REVOKED, rule="§2.5", **who)
    if occ is None or not is_open(occ, now, policy):
        return TapDecision(Outcome.OUTSIDE_WINDOW, **who)
    line = roster.get(badge.holder.employee_no)
    if line is None:
        detail = {"on_shift": other_shift} if other_shift else {}
        return TapDecision(Outcome.NOT_ON_ROSTER, detail=detail, **who)
    placed = dict(seat=line.seat, duty=line.duty, **who)
    if line.employee_no in answered:
        return TapDecision(Outcome.DUPLICATE, **placed)
    outcome = Outcome.PRESENT if now <= occ.starts_at else Outcome.LATE
    # §3.1: the duty leader arrives at least 10 minutes early.
    leader_late = line.duty == "leader" and now > occ.starts_at - policy.leader_early
    return TapDecision(outcome, leader_late=leader_late, rule="§3.1" if leader_late else "§3.3", **placed)


@dataclass(frozen=True)
class AttendanceLine:
    """One row of the attendance record written at close."""

    employee_no: str
    status: Attendance
    note: str | None = None


def close(roster: Iterable[RosterLine], marks: Mapping[str, Attendance],
          excused: Mapping[str, str]) -> list[AttendanceLine]:
    """The attendance record (§3.4): present or late as tapped or marked, excused with the leader's note, else absent."""
    out: list[AttendanceLine] = []
    for line in roster:
        status = marks.get(line.employee_no)
        if status in (Attendance.PRESENT, Attendance.LATE):
            out.append(AttendanceLine(line.employee_no, status))
        elif line.employee_no in excused:
            out.append(AttendanceLine(line.employee_no, Attendance.EXCUSED, excused[line.employee_no]))
        else:
            out.append(AttendanceLine(line.employee_no, Attendance.ABSENT))
    return out


def pick_for_question(present_operators: Sequence[str], rng: random.Random) -> str | None:
    """§3.5: pick one present operator at random for the daily question, or None if nobody is present."""
    if not present_operators:
        return None
    return rng.choice(sorted(present_operators))
