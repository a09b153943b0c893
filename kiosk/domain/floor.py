"""The live floor map's rules (§3.6, §4.5, §7.3, §7.7, §8.7, §8.8, §8.9): facts, ``now`` and a policy in.

Nothing here reads a clock, a database or a device. The service layer loads the facts (seats and their
sensors, the call platform's live agent states, the roster around ``now``, roll call marks, door grants,
the day's busy and wrap-up seconds), calls these functions, saves what they decide and publishes it.

Agent states come from the hotline call platform (CTI). Each agent (employee number) has one live state;
an event older than the newest one applied is kept in the log but never rewinds the live state.

Flags are *conditions* recomputed from the facts (wrong seat, not signed in, employee-number misuse, busy
and wrap-up allowance, end of shift): a flag is raised when its condition first holds and cleared when it
stops holding; its ``key`` says which condition it is, so a recomputation finds it again. An unexplained
sign-out (§8.9) is an *event* instead: it goes to the leader's register once and stays there until the
leader records its cause.

Decisions where the floor rules are silent:

* "This shift" for a person is the roster occurrence in progress; before it starts, the next one once
  its roll call window has opened (operators sign in right after roll call, before the shift starts).
  When two overlap, the one that started last wins.
* Not signed in (§3.6, §4.5) counts from the door grant into the call area, or, for someone roll-called
  but not seen at a door, from the later of the roll call tap and the shift start (the pre-shift meeting
  runs until then). A person who signed in after that moment and later signed out is a §8.9 matter,
  not a §4.5 one.
* Employee-number misuse (§7.7) is flagged once per reason per sign-in session: the number's owner has
  left (§2.5); was marked absent (or excused) at this shift's roll call; has no door grant since the
  shift's roll call opened (only where doors have badge readers, and only once the clock-skew allowance
  has passed since the sign-in, so a grant a moment late is not a misuse); or the number was still
  signed in at another seat when a state came from this one.
* Busy and wrap-up time (§8.8) is counted per local calendar day, split at local midnight, so a night
  shift's minutes count on the day they fall in. The warning holds from the warning threshold to the
  limit; at the limit it gives way to the alert (the two are not shown together).
* A sign-out is "mid-shift" (§8.9) from the shift's start until ``shift_end_grace`` before its end.
* End of shift (§7.3): a seat is flagged ``shift_end_grace`` after the last shift that used it ended
  (assigned there, or the shift of whoever is signed in there) when it is still occupied or signed in,
  nobody signed in there is on a shift now, and no successor is rostered at that seat (a successor is
  an occurrence at the seat starting no later than the roll call window before the end). Only shifts
  that ended within ``end_of_shift_lookback`` count.
* An occupied seat with nobody signed in, and a sign-in at a vacant seat, are shown as such on the seat
  and never guessed away: the sensor or the platform may be the one that is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

# --- vocabulary ---------------------------------------------------------------------------------------------

SIGNED_IN, READY, BUSY, WRAP_UP, SIGNED_OUT = "signed_in", "ready", "busy", "wrap_up", "signed_out"
AGENT_STATES = (SIGNED_IN, READY, BUSY, WRAP_UP, SIGNED_OUT)
ACTIVE_STATES = (SIGNED_IN, READY, BUSY, WRAP_UP)
COUNTED_STATES = (BUSY, WRAP_UP)  # §8.8

OCCUPIED, VACANT = "occupied", "vacant"

WRONG_SEAT = "wrong_seat"
NOT_SIGNED_IN = "not_signed_in"
MISUSE = "employee_no_misuse"
BUSY_WARNING, BUSY_REACHED = "busy_allowance_warning", "busy_allowance_reached"
WRAP_WARNING, WRAP_REACHED = "wrap_up_allowance_warning", "wrap_up_allowance_reached"
UNEXPLAINED_SIGNOUT = "unexplained_signout"
END_OF_SHIFT = "end_of_shift"

# kind -> (rule, severity). "alarm" flags stay on the leader's list until acknowledged.
FLAG_KINDS: dict[str, tuple[str, str]] = {
    WRONG_SEAT: ("§8.7", "warning"),
    NOT_SIGNED_IN: ("§3.6, §4.5", "warning"),
    MISUSE: ("§7.7", "alarm"),
    BUSY_WARNING: ("§8.8", "warning"),
    BUSY_REACHED: ("§8.8", "alarm"),
    WRAP_WARNING: ("§8.8", "warning"),
    WRAP_REACHED: ("§8.8", "alarm"),
    UNEXPLAINED_SIGNOUT: ("§8.9", "warning"),
    END_OF_SHIFT: ("§7.3", "warning"),
}
SEAT_KINDS = (END_OF_SHIFT,)  # flags about a seat; every other kind is about an employee number
REGISTER_KINDS = (UNEXPLAINED_SIGNOUT,)  # events kept until the leader records a cause, never recomputed
SIGNOUT_CAUSES = ("equipment_failure", "system_failure", "other")  # §8.9

# §7.7 reasons, one flag each.
OWNER_LEFT, ABSENT_AT_ROLL_CALL = "owner_left", "absent_at_roll_call"
NOT_ENTERED, OTHER_SEAT = "not_entered", "other_seat"


@dataclass(frozen=True)
class FloorPolicy:
    """Configurable limits of the floor map."""

    not_signed_in_after: timedelta = timedelta(minutes=5)  # §3.6, §4.5
    allowance_warn: timedelta = timedelta(minutes=30)  # §8.8
    allowance_limit: timedelta = timedelta(minutes=40)  # §8.8
    clock_skew: timedelta = timedelta(seconds=120)  # an agent state may be this far in the future
    shift_end_grace: timedelta = timedelta(minutes=5)  # §7.3, §8.9
    entry_opens_before: timedelta = timedelta(minutes=30)  # a door grant counts from the roll call's opening
    entry_lookback: timedelta = timedelta(hours=2)  # ... or, for someone on no shift, this long before sign-in
    end_of_shift_lookback: timedelta = timedelta(hours=12)

    def __post_init__(self) -> None:
        zero = timedelta(0)
        if self.not_signed_in_after <= zero:
            raise ValueError("not_signed_in_after must be positive")
        if not zero < self.allowance_warn <= self.allowance_limit:
            raise ValueError("the busy/wrap-up warning must be positive and not after the limit")
        if self.clock_skew < zero or self.shift_end_grace < zero:
            raise ValueError("clock_skew and shift_end_grace must not be negative")


# --- agent states ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AgentStateEvent:
    """One state from the call platform, validated."""

    employee_no: str
    seat: str | None  # may be omitted on signed_out: the live seat is kept
    state: str
    at: datetime  # aware
    reason: str = ""


@dataclass(frozen=True)
class AgentLive:
    """An agent's live state as far as the newest applied event says."""

    employee_no: str
    seat: str | None
    state: str
    since: datetime  # the current state began
    last_at: datetime  # the newest event applied: older ones do not rewind the state
    signed_in_at: datetime | None = None  # start of the current (or, signed out, the latest) session
    seat_since: datetime | None = None  # at this seat since
    other_seat: str | None = None  # §7.7: still signed in there when a state came from this seat
    reason: str = ""  # the last event's reason (a sign-out's explanation)

    @property
    def active(self) -> bool:
        """Signed in, in whatever state."""
        return self.state != SIGNED_OUT


@dataclass(frozen=True)
class Interval:
    """A state held from ``start`` to ``end`` (for busy and wrap-up accounting)."""

    state: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Transition:
    """What one event did: the new live state, whether it applied, and the interval it closed."""

    live: AgentLive
    applied: bool
    closed: Interval | None = None
    was_active: bool = False  # signed in before this event


def apply_event(live: AgentLive | None, ev: AgentStateEvent) -> Transition:
    """Apply one agent state; an event older than the newest applied one is not applied (no rewind)."""
    if live is not None and ev.at < live.last_at:
        return Transition(live, applied=False, was_active=live.active)
    was_active = live is not None and live.active
    seat = ev.seat or (live.seat if live else None)
    if ev.state == SIGNED_OUT:
        since = live.since if (live is not None and live.state == SIGNED_OUT) else ev.at
        new = AgentLive(ev.employee_no, seat, SIGNED_OUT, since, ev.at,
                        signed_in_at=live.signed_in_at if live else None,
                        seat_since=live.seat_since if live else None, other_seat=None, reason=ev.reason)
    else:
        moved = was_active and live is not None and ev.seat is not None and live.seat is not None \
            and ev.seat != live.seat
        if was_active and live is not None:
            signed_in_at = live.signed_in_at or ev.at
            other = live.seat if moved else live.other_seat
            seat_since = ev.at if moved else (live.seat_since or ev.at)
            since = live.since if live.state == ev.state else ev.at
        else:
            signed_in_at, other, seat_since, since = ev.at, None, ev.at, ev.at
        new = AgentLive(ev.employee_no, seat, ev.state, since, ev.at, signed_in_at=signed_in_at,
                        seat_since=seat_since, other_seat=other, reason=ev.reason)
    closed = None
    if live is not None and live.state in COUNTED_STATES and (new.state != live.state):
        closed = Interval(live.state, live.since, ev.at)
    return Transition(new, applied=True, closed=closed, was_active=was_active)


def parse_time(text: Any) -> datetime:
    """An ISO-8601 time with a zone (``Z`` or an offset) as aware UTC; ValueError with a readable message."""
    if not isinstance(text, str):
        raise ValueError("'at' must be an ISO-8601 time string with a zone, e.g. 2026-11-29T08:01:05+08:00")
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'at' {text!r} is not an ISO-8601 time") from None
    if value.tzinfo is None:
        raise ValueError(f"'at' {text!r} has no time zone: add +08:00 or Z")
    return value.astimezone(timezone.utc)


@dataclass(frozen=True)
class Refusal:
    """Why one agent state was refused: a stable code and a message naming what was wrong."""

    code: str
    message: str
    employee_no: str | None = None
    seat: str | None = None


def parse_state(item: Any, staff: Mapping[str, Any], seats: Iterable[str] | Mapping[str, Any], now: datetime,
                policy: FloorPolicy) -> AgentStateEvent | Refusal:
    """Validate one agent-state object against the known staff and seats; return the event or the refusal."""
    if not isinstance(item, dict):
        return Refusal("malformed_state", "each agent state must be a JSON object")
    emp, seat, state, reason = item.get("employee_no"), item.get("seat"), item.get("state"), item.get("reason")
    if not isinstance(emp, str) or not emp.strip():
        return Refusal("missing_employee_no", "'employee_no' must be a non-empty string (e.g. \"10023\")")
    emp = emp.strip()
    if state not in AGENT_STATES:
        return Refusal("unknown_state", f"state {state!r} is not one of {', '.join(AGENT_STATES)}", emp)
    if seat is not None and (not isinstance(seat, str) or not seat.strip()):
        return Refusal("malformed_seat", "'seat' must be a seat id string such as \"B-14\"", emp)
    seat = seat.strip() if isinstance(seat, str) else None
    if seat is None and state != SIGNED_OUT:
        return Refusal("missing_seat", f"'seat' is required with state {state!r}", emp)
    if reason is not None and not isinstance(reason, str):
        return Refusal("malformed_reason", "'reason' must be a string when given", emp, seat)
    if reason is not None and len(reason) > 200:
        return Refusal("malformed_reason", "'reason' must be at most 200 characters", emp, seat)
    try:
        at = parse_time(item.get("at"))
    except ValueError as exc:
        return Refusal("bad_time", str(exc), emp, seat)
    if at - now > policy.clock_skew:
        ahead = round((at - now).total_seconds())
        return Refusal("future_time", f"'at' {item.get('at')} is {ahead} s ahead of the kiosk's clock (allowance "
                                      f"{round(policy.clock_skew.total_seconds())} s): check the platform's clock",
                       emp, seat)
    if emp not in staff:
        return Refusal("unknown_employee", f"unknown employee_no {emp!r}: not in the kiosk's staff list", emp, seat)
    if seat is not None and seat not in seats:
        return Refusal("unknown_seat", f"unknown seat {seat!r}: not on the kiosk's floor plan", emp, seat)
    return AgentStateEvent(emp, seat, str(state), at, (reason or "").strip())


# --- busy and wrap-up time per local day (§8.8) -------------------------------------------------------------

Seconds = tuple[float, float]  # (busy, wrap-up)


def local_midnight_after(t: datetime, tz: ZoneInfo) -> datetime:
    """The next local midnight after ``t``, as UTC."""
    day = t.astimezone(tz).date() + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


def split_by_local_day(start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[date, float]]:
    """Seconds of [start, end) on each local calendar day it touches, in order (nothing for an empty span)."""
    out: list[tuple[date, float]] = []
    cur = start.astimezone(timezone.utc)
    end = end.astimezone(timezone.utc)
    while cur < end:
        stop = min(end, local_midnight_after(cur, tz))
        out.append((cur.astimezone(tz).date(), (stop - cur).total_seconds()))
        cur = stop
    return out


def add_interval(totals: Mapping[date, Seconds], interval: Interval, tz: ZoneInfo) -> dict[date, Seconds]:
    """Day totals with a closed busy or wrap-up interval added, split at local midnight."""
    out = dict(totals)
    if interval.state not in COUNTED_STATES:
        return out
    for day, secs in split_by_local_day(interval.start, interval.end, tz):
        busy, wrap = out.get(day, (0.0, 0.0))
        out[day] = (busy + secs, wrap) if interval.state == BUSY else (busy, wrap + secs)
    return out


def day_seconds(closed: Seconds, live: AgentLive | None, day: date, now: datetime, tz: ZoneInfo) -> Seconds:
    """A day's busy and wrap-up seconds: the closed intervals plus the part of the open one on that day."""
    busy, wrap = closed
    if live is not None and live.state in COUNTED_STATES and live.since < now:
        for d, secs in split_by_local_day(live.since, now, tz):
            if d == day:
                busy, wrap = (busy + secs, wrap) if live.state == BUSY else (busy, wrap + secs)
    return busy, wrap


# --- the facts the flags are computed from -----------------------------------------------------------------

@dataclass(frozen=True)
class Assignment:
    """One person on one shift occurrence, at a seat (None for a leader without a seat)."""

    employee_no: str
    name: str
    seat: str | None
    duty: str  # operator | leader
    shift: str
    day: date
    starts_at: datetime
    ends_at: datetime

    def in_progress(self, t: datetime) -> bool:
        """The shift has started and not ended at ``t``."""
        return self.starts_at <= t < self.ends_at


@dataclass(frozen=True)
class Mark:
    """A roll call mark of one person on one occurrence."""

    status: str  # present | late | absent | excused
    at: datetime | None


@dataclass(frozen=True)
class SeatFacts:
    """A seat of the plan and its sensor, if it has one (``sensor`` None: no seat point is defined)."""

    seat: str
    zone: str
    x: float
    y: float
    sensor: str | None = None  # occupied | vacant | unknown | tamper | fault
    sensor_at: datetime | None = None


@dataclass(frozen=True)
class FloorFacts:
    """Everything the flags need, loaded by the service for the whole floor or for a few people and seats."""

    tz: ZoneInfo
    seats: Mapping[str, SeatFacts] = field(default_factory=dict)
    assignments: Sequence[Assignment] = ()
    agents: Mapping[str, AgentLive] = field(default_factory=dict)
    marks: Mapping[tuple[str, date, str], Mark] = field(default_factory=dict)  # (employee_no, day, shift)
    entries: Mapping[str, datetime] = field(default_factory=dict)  # latest door grant per employee_no
    seconds: Mapping[tuple[str, date], Seconds] = field(default_factory=dict)  # closed intervals per day
    names: Mapping[str, str] = field(default_factory=dict)  # employee_no -> name
    inactive: frozenset[str] = frozenset()  # employee numbers whose owner has left (§2.5)
    door_check: bool = False  # doors with badge readers exist, so an entry is known


@dataclass(frozen=True)
class Flag:
    """A condition a leader should see, citing its rule; ``key`` identifies it across recomputations."""

    kind: str
    rule: str
    severity: str
    key: str
    employee_no: str | None
    seat: str | None
    since: datetime | None  # when the condition began; None when only "by now" is known
    message: str
    detail: Mapping[str, Any] = field(default_factory=dict)


def _flag(kind: str, key: str, employee_no: str | None, seat: str | None, since: datetime | None, message: str,
          **detail: Any) -> Flag:
    rule, severity = FLAG_KINDS[kind]
    return Flag(kind, rule, severity, key, employee_no, seat, since, message, detail)


def _hm(t: datetime | None, tz: ZoneInfo) -> str:
    return t.astimezone(tz).strftime("%H:%M") if t else "?"


def person_assignment(assignments: Iterable[Assignment], t: datetime, policy: FloorPolicy) -> Assignment | None:
    """The person's shift at ``t``: the one in progress (latest started), else the next whose roll call opened."""
    running = [a for a in assignments if a.in_progress(t)]
    if running:
        return max(running, key=lambda a: a.starts_at)
    opening = [a for a in assignments if a.starts_at > t and a.starts_at - policy.entry_opens_before <= t]
    return min(opening, key=lambda a: a.starts_at) if opening else None


def seat_assignments(at_seat: Iterable[Assignment], t: datetime, policy: FloorPolicy
                     ) -> tuple[Assignment | None, Assignment | None]:
    """Who is assigned at a seat this shift, and the successor whose roll call has opened (if any)."""
    at_seat = list(at_seat)
    running = [a for a in at_seat if a.in_progress(t)]
    current = max(running, key=lambda a: a.starts_at) if running else None
    opening = sorted((a for a in at_seat if a.starts_at > t and a.starts_at - policy.entry_opens_before <= t),
                     key=lambda a: a.starts_at)
    if current is None:
        return (opening[0] if opening else None), None
    return current, (opening[0] if opening else None)


def index(facts: FloorFacts) -> tuple[dict[str, list[Assignment]], dict[str, list[Assignment]],
                                        dict[str, list[AgentLive]]]:
    by_person: dict[str, list[Assignment]] = {}
    by_seat: dict[str, list[Assignment]] = {}
    for a in facts.assignments:
        by_person.setdefault(a.employee_no, []).append(a)
        if a.seat:
            by_seat.setdefault(a.seat, []).append(a)
    at_seat: dict[str, list[AgentLive]] = {}
    for live in facts.agents.values():  # signed-in agents by seat
        if live.active and live.seat:
            at_seat.setdefault(live.seat, []).append(live)
    return by_person, by_seat, at_seat


# --- the flags ---------------------------------------------------------------------------------------------

def compute_flags(facts: FloorFacts, now: datetime, policy: FloorPolicy,
                  employees: Iterable[str] | None = None, seats: Iterable[str] | None = None) -> list[Flag]:
    """Every condition flag that holds at ``now``, for the given employees and seats (None: all in the facts)."""
    by_person, by_seat, at_seat = index(facts)
    if employees is None:
        people = set(by_person) | set(facts.agents) | {e for e, _d in facts.seconds}
    else:
        people = set(employees)
    seat_ids = set(facts.seats) | set(by_seat) | set(at_seat) if seats is None else set(seats)
    current: dict[str, Assignment | None] = {}

    def shift_of(emp: str) -> Assignment | None:
        if emp not in current:
            current[emp] = person_assignment(by_person.get(emp, []), now, policy)
        return current[emp]

    out: list[Flag] = []
    for emp in sorted(people):
        live = facts.agents.get(emp)
        a = shift_of(emp)
        out += _wrong_seat(facts, emp, live, a)
        out += _not_signed_in(facts, emp, live, a, now, policy)
        out += _misuse(facts, emp, live, a, now, policy)
        out += _allowance(facts, emp, live, now, policy)
    for seat in sorted(seat_ids):
        out += _end_of_shift(facts, seat, by_seat.get(seat, []), at_seat.get(seat, []), by_person, shift_of, now,
                             policy)
    return out


def _wrong_seat(facts: FloorFacts, emp: str, live: AgentLive | None, a: Assignment | None) -> list[Flag]:
    """§8.7: signed in at a seat other than the one assigned this shift (``a``)."""
    if live is None or not live.active or not live.seat:
        return []
    if a is None or not a.seat or a.seat == live.seat:
        return []
    name = facts.names.get(emp, emp)
    return [_flag(WRONG_SEAT, f"{WRONG_SEAT}:{emp}:{live.seat}:{a.day.isoformat()}:{a.shift}", emp, live.seat,
                  live.seat_since or live.signed_in_at,
                  f"{name} ({emp}) is signed in at {live.seat}, assigned {a.seat} this shift",
                  assigned_seat=a.seat, shift=a.shift)]


def _not_signed_in(facts: FloorFacts, emp: str, live: AgentLive | None, a: Assignment | None, now: datetime,
                   policy: FloorPolicy) -> list[Flag]:
    """§3.6, §4.5: entered the call area or roll-called, and not signed in within the allowed minutes."""
    if a is None or a.duty != "operator":
        return []
    refs: list[tuple[datetime, str]] = []
    entered = facts.entries.get(emp)
    if entered is not None and entered >= a.starts_at - policy.entry_opens_before:
        refs.append((entered, "entered"))
    mark = facts.marks.get((emp, a.day, a.shift))
    if mark is not None and mark.status in ("present", "late") and mark.at is not None:
        refs.append((max(mark.at, a.starts_at), "roll_called"))
    if not refs:
        return []
    ref, why = min(refs)
    if live is not None and (live.active or (live.signed_in_at is not None and live.signed_in_at >= ref)):
        return []
    if now < ref + policy.not_signed_in_after:
        return []
    name = facts.names.get(emp, emp)
    minutes = round(policy.not_signed_in_after.total_seconds() / 60)
    what = f"entered the call area at {_hm(ref, facts.tz)}" if why == "entered" else \
        f"was roll-called (counted from {_hm(ref, facts.tz)})"
    return [_flag(NOT_SIGNED_IN, f"{NOT_SIGNED_IN}:{emp}:{a.day.isoformat()}:{a.shift}", emp, a.seat, ref,
                  f"{name} ({emp}) {what} and has not signed in within {minutes} min", reason=why,
                  shift=a.shift)]


def _misuse(facts: FloorFacts, emp: str, live: AgentLive | None, a: Assignment | None, now: datetime,
            policy: FloorPolicy) -> list[Flag]:
    """§7.7: a sign-in under an employee number whose owner is not on the floor, or is at another seat."""
    if live is None or not live.active:
        return []
    session = live.signed_in_at or live.since
    name = facts.names.get(emp, emp)
    found: list[tuple[str, str, dict[str, Any]]] = []
    if emp in facts.inactive:
        found.append((OWNER_LEFT, f"the owner of {emp} ({name}) has left", {}))
    if a is not None:
        mark = facts.marks.get((emp, a.day, a.shift))
        if mark is not None and mark.status in ("absent", "excused"):
            found.append((ABSENT_AT_ROLL_CALL, f"{name} ({emp}) is marked {mark.status} at roll call of shift "
                                               f"{a.shift}", {"mark": mark.status, "shift": a.shift}))
    if facts.door_check and now - session >= policy.clock_skew:
        since = a.starts_at - policy.entry_opens_before if a is not None else session - policy.entry_lookback
        entered = facts.entries.get(emp)
        if entered is None or entered < since:
            found.append((NOT_ENTERED, f"{name} ({emp}) has not entered the call area by badge", {}))
    if live.other_seat:
        found.append((OTHER_SEAT, f"{emp} ({name}) was still signed in at {live.other_seat} when a state came from "
                                  f"{live.seat}", {"other_seat": live.other_seat}))
    return [_flag(MISUSE, f"{MISUSE}:{reason}:{emp}:{session.isoformat()}", emp, live.seat, session,
                  f"Signed in at {live.seat}: {text} (§7.7)", reason=reason, **detail)
            for reason, text, detail in found]


def _allowance(facts: FloorFacts, emp: str, live: AgentLive | None, now: datetime, policy: FloorPolicy) -> list[Flag]:
    """§8.8: busy and wrap-up each at most the limit per local day; a warning before."""
    today = now.astimezone(facts.tz).date()
    busy, wrap = day_seconds(facts.seconds.get((emp, today), (0.0, 0.0)), live, today, now, facts.tz)
    name = facts.names.get(emp, emp)
    out: list[Flag] = []
    warn, limit = policy.allowance_warn.total_seconds(), policy.allowance_limit.total_seconds()
    for state, secs, kinds, word in ((BUSY, busy, (BUSY_WARNING, BUSY_REACHED), "busy"),
                                     (WRAP_UP, wrap, (WRAP_WARNING, WRAP_REACHED), "wrap-up")):
        if secs < warn:
            continue
        reached = secs >= limit
        threshold = limit if reached else warn
        since = None
        if live is not None and live.state == state:
            # The threshold was crossed in the open interval when the closed part alone is below it.
            crossed = now - timedelta(seconds=secs - threshold)
            if crossed >= max(live.since, datetime.combine(today, time(0), tzinfo=facts.tz)):
                since = crossed
        kind = kinds[1] if reached else kinds[0]
        out.append(_flag(kind, f"{kind}:{emp}:{today.isoformat()}", emp, live.seat if live else None, since,
                         f"{name} ({emp}): {round(secs / 60)} min {word} today "
                         f"({'limit' if reached else 'warning at'} {round(threshold / 60)} min)",
                         minutes=round(secs / 60, 1), day=today.isoformat()))
    return out


def _end_of_shift(facts: FloorFacts, seat: str, assigned: list[Assignment], agents: list[AgentLive],
                  by_person: Mapping[str, list[Assignment]], shift_of: Any, now: datetime,
                  policy: FloorPolicy) -> list[Flag]:
    """§7.3: a seat still signed in or occupied after its operator's shift ended, with no successor."""
    sf = facts.seats.get(seat)
    occupied = sf is not None and sf.sensor == OCCUPIED
    if not agents and not occupied:
        return []
    # Someone signed in here on a shift now is working: the computer stays on.
    if any(shift_of(live.employee_no) for live in agents):
        return []
    candidates = list(assigned) + [a for live in agents for a in by_person.get(live.employee_no, [])]
    ended = [a for a in candidates if a.ends_at <= now and now - a.ends_at <= policy.end_of_shift_lookback]
    if not ended:
        return []
    last = max(ended, key=lambda a: a.ends_at)
    if now < last.ends_at + policy.shift_end_grace:
        return []
    successor = [a for a in assigned if a.ends_at > last.ends_at
                 and a.starts_at <= last.ends_at + policy.entry_opens_before]
    if successor:
        return []
    who = agents[0].employee_no if agents else last.employee_no
    what = "signed in" + (" and occupied" if occupied else "") if agents else "occupied"
    return [_flag(END_OF_SHIFT, f"{END_OF_SHIFT}:{seat}:{last.ends_at.isoformat()}", who, seat, last.ends_at,
                  f"Seat {seat} is still {what} after shift {last.shift} ended at {_hm(last.ends_at, facts.tz)} "
                  f"and nobody takes it over: shut the computer down", shift=last.shift,
                  signed_in=bool(agents), occupied=occupied)]


def check_signout(transition: Transition, ev: AgentStateEvent, assignments: Iterable[Assignment],
                  policy: FloorPolicy, tz: ZoneInfo, name: str = "") -> Flag | None:
    """§8.9: a sign-out mid-shift without a reason goes to the leader's register."""
    if not transition.applied or ev.state != SIGNED_OUT or not transition.was_active or ev.reason.strip():
        return None
    running = [a for a in assignments if a.in_progress(ev.at)]
    if not running:
        return None
    a = max(running, key=lambda x: x.starts_at)
    if ev.at >= a.ends_at - policy.shift_end_grace:
        return None  # signing out at the end of the shift
    seat = transition.live.seat
    return _flag(UNEXPLAINED_SIGNOUT, f"{UNEXPLAINED_SIGNOUT}:{ev.employee_no}:{ev.at.isoformat()}", ev.employee_no,
                 seat, ev.at, f"{name or ev.employee_no} ({ev.employee_no}) signed out at {seat or '?'} at "
                              f"{_hm(ev.at, tz)}, mid-shift {a.shift}, without a reason",
                 shift=a.shift)


# --- what a seat shows -------------------------------------------------------------------------------------

OCCUPIED_NOT_SIGNED_IN, SIGNED_IN_VACANT = "occupied_not_signed_in", "signed_in_vacant"


def seat_status(sensor: str | None, agents: Sequence[AgentLive], assigned: Assignment | None) -> tuple[str, str | None]:
    """A seat's one-word status for the map's colour, and a sensor/platform disagreement if any (never guessed)."""
    mismatch = None
    if agents and sensor == VACANT:
        mismatch = SIGNED_IN_VACANT
    elif not agents and sensor == OCCUPIED:
        mismatch = OCCUPIED_NOT_SIGNED_IN
    if agents:
        newest = max(agents, key=lambda a: a.last_at)
        return newest.state, mismatch
    if sensor == OCCUPIED:
        return OCCUPIED, mismatch
    if assigned is not None:
        return "assigned_empty", mismatch
    return "free", mismatch


COUNT_KEYS = ("seats", "on_floor", "occupied", "signed_in", "ready", "busy", "wrap_up", "signed_in_idle",
              "empty_assigned", "mismatched")


def counts(seats: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The map's counts from its seat payloads (``status``, ``sensor``, ``agent``, ``assigned``, ``mismatch``)."""
    out = dict.fromkeys(COUNT_KEYS, 0)
    for s in seats:
        out["seats"] += 1
        agent = s.get("agent")
        occupied = s.get("sensor") == OCCUPIED
        out["occupied"] += occupied
        out["on_floor"] += bool(occupied or agent)
        if agent:
            for a in [agent, *(s.get("also_signed_in") or ())]:
                out["signed_in"] += 1
                key = "signed_in_idle" if a.get("state") == SIGNED_IN else a.get("state")
                if key in (READY, BUSY, WRAP_UP, "signed_in_idle"):
                    out[key] += 1
        elif s.get("assigned") and not occupied:
            # An assigned seat on a shift in progress with nobody there.
            if s["assigned"].get("in_progress"):
                out["empty_assigned"] += 1
        out["mismatched"] += bool(s.get("mismatch"))
    return out
