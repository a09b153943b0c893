"""Door rules (§6.5, §6.6): the call-area door as a state machine with time passed in.

Pure: no clock, no database, no device. The service layer feeds three kinds of input, in the
order they happened, and publishes the events that come back:

* ``on_contact`` — the door contact reported a state (``closed``, ``open``, ``unknown``,
  ``tamper``, ``fault``);
* ``on_grant`` — someone was let through: an accepted badge, an approved visitor card, or a
  press of the exit button;
* ``tick`` — time passed (held-open prewarn and alarm, tailgating by duration).

Each returns a new ``DoorState`` and a list of events; the state is never changed in place.

Decisions where the floor rules are silent, so that nobody has to guess:

* ``unknown``, ``tamper`` and ``fault`` are never a closed door (``DoorState.is_closed`` is
  False) and never an open one either: each is its own alert, raised once while it lasts and
  cleared (``AlarmCleared``) when the sensor reports ``open`` or ``closed`` again, or replaced
  by another problem kind (cleared, then the new one raised).
* The held-open clock counts only time the door was *seen* open. While the sensor has a
  problem the clock is paused and no prewarn or held-open alarm fires (the sensor alert stands
  in for them); if the sensor comes back ``open`` on the same opening the clock resumes where it
  stopped, so ``open`` → ``unknown`` → ``open`` is one opening, with no second ``DoorOpened``
  and no second forced-open alarm. Alarms already raised for the opening stay raised until the
  door is seen closed.
* A door first seen ``open`` straight after a sensor problem (or at start-up, when the state
  is still ``unknown``) is an opening of unknown start: the held-open clock starts at the
  restore instant, and it is *not* a forced opening, because we cannot know whether a grant
  preceded it. A pending grant in the entry window is still consumed by it.
* A door seen ``closed`` after a sensor problem closes the opening at the restore instant
  (``DoorClosed.after_sensor_problem`` says so) and clears its alarms.
* A grant explains the next opening within ``entry_window`` after it, and one grant explains
  one opening (the oldest pending grant is consumed first). A second opening within the same
  grant's window is ``PossibleTailgating`` (``policy.tailgate_reopens``), not forced-open; with
  ``tailgate_reopens=False`` it is forced-open instead.
* A grant while the door is already open does not explain that opening (it came after it) and
  stays pending for the next one; it does count as a second person for the tailgating-by-
  duration check of the current opening, which only applies to an opening after exactly one
  grant.
* When held-open alarm and prewarn fall due at the same evaluation, only the alarm is raised:
  a prewarn after the alarm is noise. So an opening has at most one prewarn.
* Time-based rules are evaluated at every input, before the input is applied: a door that
  closes 45 s after opening with no tick in between still gets its held-open alarm (then its
  clearing) in the same batch of events.
* Inputs must come in time order. An input older than the last one is treated as happening at
  the last instant (durations never run backwards). A grant that reaches the service after the
  opening it explains therefore does not undo the forced-open alarm: the service must order
  its inputs.
* Every raised condition (prewarn, held-open, forced-open, sensor unknown/tamper/fault) gets
  exactly one ``AlarmCleared`` when the condition ends. Clearing is not acknowledging: that is
  the service's business. ``PossibleTailgating`` is an observation, not a condition, and is
  never cleared.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import ClassVar, Literal, Union

Severity = Literal["info", "warning", "alarm"]
GrantKind = Literal["badge", "exit_button", "visitor"]
GRANT_KINDS: tuple[str, ...] = ("badge", "exit_button", "visitor")

# Alarm kinds: the conditions that are raised once and cleared once.
HELD_OPEN_WARNING = "held_open_warning"
HELD_OPEN = "held_open"
FORCED_OPEN = "forced_open"
SENSOR_UNKNOWN = "sensor_unknown"
TAMPER = "tamper"
FAULT = "fault"
DOOR_ALARMS = (HELD_OPEN_WARNING, HELD_OPEN, FORCED_OPEN)
SENSOR_ALARMS = (SENSOR_UNKNOWN, TAMPER, FAULT)
_RULE = {HELD_OPEN_WARNING: "§6.5", HELD_OPEN: "§6.5", FORCED_OPEN: "§6.6",
         SENSOR_UNKNOWN: "§6.5", TAMPER: "§6.5", FAULT: "§6.5"}

# How an opening came about.
GRANTED = "granted"  # a pending grant in the entry window explains it
REOPENED = "reopened"  # a second opening within an already used grant's window (tailgating)
FORCED = "forced"  # nothing explains it (§6.6)
UNKNOWN_START = "unknown_start"  # first seen open after a sensor problem: start and cause unknown


class Contact(str, enum.Enum):
    """A door contact state as the sensor gateway reports it."""

    CLOSED = "closed"
    OPEN = "open"
    UNKNOWN = "unknown"  # sensor offline or gateway silent
    TAMPER = "tamper"  # line shorted
    FAULT = "fault"  # line cut

    @property
    def is_problem(self) -> bool:
        """True for the states that say nothing about the door: never closed, never open."""
        return self in (Contact.UNKNOWN, Contact.TAMPER, Contact.FAULT)


_PROBLEM_ALARM = {Contact.UNKNOWN: SENSOR_UNKNOWN, Contact.TAMPER: TAMPER, Contact.FAULT: FAULT}


@dataclass(frozen=True)
class DoorPolicy:
    """Configurable door timings; ``None`` switches the prewarn or tailgating-by-duration off."""

    prewarn_after: timedelta | None = timedelta(seconds=20)
    alarm_after: timedelta = timedelta(seconds=30)  # §6.5: held open
    entry_window: timedelta = timedelta(seconds=10)  # §6.6: a grant this long before an opening explains it
    tailgate_after: timedelta | None = timedelta(seconds=15)  # longer than one person needs
    tailgate_reopens: bool = True  # a re-opening within a used grant's window is tailgating, not forced

    def __post_init__(self) -> None:
        zero = timedelta(0)
        if self.alarm_after <= zero:
            raise ValueError("alarm_after must be positive")
        if self.prewarn_after is not None and not zero <= self.prewarn_after < self.alarm_after:
            raise ValueError("prewarn_after must be at least 0 and shorter than alarm_after")
        if self.entry_window < zero:
            raise ValueError("entry_window must not be negative")
        if self.tailgate_after is not None and self.tailgate_after <= zero:
            raise ValueError("tailgate_after must be positive")


@dataclass(frozen=True)
class Grant:
    """Someone was let through: who (employee number, visitor name, or the button) and how."""

    at: datetime
    who: str
    kind: str = "badge"


@dataclass(frozen=True)
class Opening:
    """The door's current opening: how it came about, its seen-open clock, what it has raised."""

    started_at: datetime  # first seen open (the restore instant for an opening of unknown start)
    origin: str  # granted | reopened | forced | unknown_start
    grant: Grant | None  # the grant that explains it, if any
    open_for: timedelta = timedelta(0)  # seen-open time before ``open_since``
    open_since: datetime | None = None  # start of the current seen-open stretch; None while the sensor has a problem
    parties: int = 1  # grants behind this opening: the explaining one plus any while it was open
    raised: tuple[tuple[str, datetime], ...] = ()  # (alarm kind, raised at), each kind at most once
    tailgating_reported: bool = False

    def seen_open(self, now: datetime) -> timedelta:
        """How long the door has been seen open in this opening, as of ``now``."""
        running = now - self.open_since if self.open_since is not None else timedelta(0)
        return self.open_for + max(running, timedelta(0))

    def has_raised(self, kind: str) -> bool:
        """True once this opening has raised the given alarm kind."""
        return any(k == kind for k, _ in self.raised)


@dataclass(frozen=True)
class DoorState:
    """Everything the door rules remember about one door between inputs."""

    door_id: str
    contact: Contact = Contact.UNKNOWN
    opening: Opening | None = None
    grants: tuple[Grant, ...] = ()  # pending: not yet consumed by an opening
    last_consumed: Grant | None = None  # for re-openings within the same grant's window
    sensor_alert: tuple[str, datetime] | None = None  # (alarm kind, raised at) of the current sensor problem
    last_at: datetime | None = None

    @property
    def is_closed(self) -> bool:
        """True only when the sensor last said ``closed``: unknown, tamper and fault are never closed."""
        return self.contact is Contact.CLOSED

    @property
    def is_open(self) -> bool:
        """True when the sensor last said ``open``."""
        return self.contact is Contact.OPEN

    @property
    def has_sensor_problem(self) -> bool:
        """True while the contact reports unknown, tamper or fault."""
        return self.contact.is_problem

    @property
    def active_alarms(self) -> tuple[str, ...]:
        """The alarm kinds raised and not yet cleared (for a snapshot on screen connect)."""
        kinds = [k for k, _ in self.opening.raised] if self.opening else []
        if self.sensor_alert:
            kinds.append(self.sensor_alert[0])
        return tuple(kinds)


def new_door(door_id: str) -> DoorState:
    """A door the rules have not heard from yet: contact ``unknown``, no alert raised for it."""
    return DoorState(door_id)


# How a door is drawn on the floor map, worst first: an alarm's colour wins over the contact's.
MAP_LOOKS = ("forced", "held_open", "open", "closed", "unknown")


def map_look(state: DoorState) -> str:
    """The door's colour on the floor map: forced open (§6.6) or held open (§6.5) while those alarms stand,
    else open or closed as the contact says; unknown, tamper and fault are ``unknown`` — never closed."""
    alarms = state.active_alarms
    if FORCED_OPEN in alarms:
        return "forced"
    if HELD_OPEN in alarms:
        return "held_open"
    if state.contact is Contact.OPEN:
        return "open"
    if state.contact is Contact.CLOSED:
        return "closed"
    return "unknown"


# ---------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True, kw_only=True)
class DoorEvent:
    """Something that happened at a door, with the rule it concerns and how loud it is."""

    name: ClassVar[str] = "door_event"  # past-tense snake_case, as published

    door_id: str
    at: datetime
    rule: str = "§6.5"
    severity: Severity = "info"

    @property
    def message(self) -> str:
        """A human-readable English line for logs and the leader's console."""
        return f"Door {self.door_id}: {self.name.replace('_', ' ')}."


@dataclass(frozen=True, kw_only=True)
class DoorOpened(DoorEvent):
    """The door was seen open: a new opening began."""

    name: ClassVar[str] = "door_opened"
    origin: str = GRANTED
    grant_who: str | None = None
    grant_kind: str | None = None

    @property
    def message(self) -> str:
        if self.origin == UNKNOWN_START:
            return (f"Door {self.door_id} is open; it was first seen open when its sensor came back, "
                    "so when and how it opened is unknown.")
        if self.origin == REOPENED:
            return (f"Door {self.door_id} opened again within the entry window of one {self.grant_kind} "
                    f"({self.grant_who}) already used.")
        if self.grant_who is not None:
            return f"Door {self.door_id} opened after {self.grant_kind} ({self.grant_who})."
        return f"Door {self.door_id} opened."


@dataclass(frozen=True, kw_only=True)
class DoorClosed(DoorEvent):
    """The door was seen closed: the opening ended."""

    name: ClassVar[str] = "door_closed"
    opened_at: datetime
    open_seconds: float  # seen-open time
    after_sensor_problem: bool = False  # it closed at some instant during a sensor problem

    @property
    def message(self) -> str:
        when = " (closed while its sensor was not reporting)" if self.after_sensor_problem else ""
        return f"Door {self.door_id} closed after {self.open_seconds:.0f} s open{when}."


@dataclass(frozen=True, kw_only=True)
class DoorHeldOpenWarning(DoorEvent):
    """Prewarn: the door will raise the held-open alarm soon unless it is closed (§6.5)."""

    name: ClassVar[str] = "door_held_open_warning"
    alarm_kind: str = HELD_OPEN_WARNING  # the condition this event raises
    severity: Severity = "warning"
    opened_at: datetime
    open_seconds: float
    alarm_in_seconds: float

    @property
    def message(self) -> str:
        return (f"Door {self.door_id} has been open {self.open_seconds:.0f} s: close it within "
                f"{self.alarm_in_seconds:.0f} s or the held-open alarm sounds (§6.5).")


@dataclass(frozen=True, kw_only=True)
class DoorHeldOpen(DoorEvent):
    """Alarm: the door has been open longer than the policy allows (§6.5: the door is kept closed)."""

    name: ClassVar[str] = "door_held_open"
    alarm_kind: str = HELD_OPEN  # the condition this event raises
    severity: Severity = "alarm"
    opened_at: datetime
    open_seconds: float
    limit_seconds: float

    @property
    def message(self) -> str:
        return (f"Door {self.door_id} held open {self.open_seconds:.0f} s, longer than the "
                f"{self.limit_seconds:.0f} s allowed: the call-area door is kept closed (§6.5).")


@dataclass(frozen=True, kw_only=True)
class DoorForcedOpen(DoorEvent):
    """Alarm: the door opened with no grant in the entry window before it (§6.6)."""

    name: ClassVar[str] = "door_forced_open"
    alarm_kind: str = FORCED_OPEN  # the condition this event raises
    rule: str = "§6.6"
    severity: Severity = "alarm"
    window_seconds: float

    @property
    def message(self) -> str:
        return (f"Door {self.door_id} opened with no accepted badge, visitor card or exit button in the "
                f"{self.window_seconds:.0f} s before: stop anyone entering without approval (§6.6).")


@dataclass(frozen=True, kw_only=True)
class PossibleTailgating(DoorEvent):
    """Warning: more people may have passed than were granted (§6.6). A contact cannot count people."""

    name: ClassVar[str] = "possible_tailgating"
    rule: str = "§6.6"
    severity: Severity = "warning"
    reason: str  # reopened | open_too_long
    grant_who: str | None = None
    grant_kind: str | None = None
    open_seconds: float = 0.0

    @property
    def message(self) -> str:
        if self.reason == "reopened":
            what = "opened again within the window of a single grant"
        else:
            what = f"stayed open {self.open_seconds:.0f} s after a single grant, longer than one person needs"
        by = f" ({self.grant_kind} {self.grant_who})" if self.grant_who else ""
        return (f"Possible tailgating at door {self.door_id}: it {what}{by}. A door contact cannot count "
                "people, so this is a hint to check, not proof (§6.6).")


@dataclass(frozen=True, kw_only=True)
class DoorSensorUnknown(DoorEvent):
    """Alert: the door's state is unknown (sensor offline or gateway silent); not treated as closed."""

    name: ClassVar[str] = "door_sensor_unknown"
    alarm_kind: str = SENSOR_UNKNOWN  # the condition this event raises
    severity: Severity = "warning"
    was: str = Contact.UNKNOWN.value

    @property
    def message(self) -> str:
        return (f"Door {self.door_id}: its sensor is not reporting; the door may be open. "
                "Check the door by eye (§6.5).")


@dataclass(frozen=True, kw_only=True)
class DoorTampered(DoorEvent):
    """Alarm: the door contact line reports tamper (shorted); not treated as closed."""

    name: ClassVar[str] = "door_tampered"
    alarm_kind: str = TAMPER  # the condition this event raises
    severity: Severity = "alarm"
    was: str = Contact.UNKNOWN.value

    @property
    def message(self) -> str:
        return f"Door {self.door_id}: its contact reports tamper; the door may be open. Check it now (§6.5)."


@dataclass(frozen=True, kw_only=True)
class DoorFaulted(DoorEvent):
    """Alert: the door contact line reports a fault (cut); not treated as closed."""

    name: ClassVar[str] = "door_faulted"
    alarm_kind: str = FAULT  # the condition this event raises
    severity: Severity = "warning"
    was: str = Contact.UNKNOWN.value

    @property
    def message(self) -> str:
        return f"Door {self.door_id}: its contact reports a line fault; the door may be open. Check it (§6.5)."


@dataclass(frozen=True, kw_only=True)
class DoorSensorRestored(DoorEvent):
    """The door sensor reports a real state (open or closed) again after a problem."""

    name: ClassVar[str] = "door_sensor_restored"
    contact: str
    was: str

    @property
    def message(self) -> str:
        return f"Door {self.door_id}: its sensor reports again ({self.contact}) after {self.was}."


@dataclass(frozen=True, kw_only=True)
class AlarmCleared(DoorEvent):
    """The condition behind an alarm ended. Clearing is not acknowledging."""

    name: ClassVar[str] = "alarm_cleared"
    alarm_kind: str  # the condition that ended
    raised_at: datetime
    reason: str

    @property
    def message(self) -> str:
        return f"Door {self.door_id}: {self.alarm_kind.replace('_', ' ')} cleared ({self.reason})."


Event = Union[DoorOpened, DoorClosed, DoorHeldOpenWarning, DoorHeldOpen, DoorForcedOpen, PossibleTailgating,
              DoorSensorUnknown, DoorTampered, DoorFaulted, DoorSensorRestored, AlarmCleared]

_PROBLEM_EVENT: dict[Contact, type[DoorSensorUnknown] | type[DoorTampered] | type[DoorFaulted]] = {
    Contact.UNKNOWN: DoorSensorUnknown, Contact.TAMPER: DoorTampered, Contact.FAULT: DoorFaulted}


def raised_kind(event: DoorEvent) -> str | None:
    """The alarm kind an event raises (prewarn, held-open, forced-open, sensor problems), else None."""
    if isinstance(event, AlarmCleared):
        return None
    return getattr(event, "alarm_kind", None)


def cleared(door_id: str, at: datetime, kind: str, raised_at: datetime, reason: str) -> AlarmCleared:
    """An ``AlarmCleared`` for one alarm kind, citing the rule that raised it."""
    return AlarmCleared(door_id=door_id, at=at, alarm_kind=kind, raised_at=raised_at, reason=reason,
                        rule=_RULE[kind])


# ---------------------------------------------------------------------------------------------
# Inputs


def on_contact(state: DoorState, contact: Contact | str, at: datetime,
               policy: DoorPolicy) -> tuple[DoorState, list[Event]]:
    """Apply a contact report; return the new state and what happened (see the module notes)."""
    new = Contact(contact)
    at = _in_order(state, at)
    state, events = _check_time(state, at, policy)
    old = state.contact
    if new is old and (not new.is_problem or state.sensor_alert is not None):
        return replace(state, last_at=at), events  # a repeated report changes nothing

    sensor_alert = state.sensor_alert
    # The current sensor problem ends (a real state again) or changes kind: its alert clears.
    if sensor_alert is not None and (not new.is_problem or _PROBLEM_ALARM[new] != sensor_alert[0]):
        if not new.is_problem:
            events.append(DoorSensorRestored(door_id=state.door_id, at=at, contact=new.value, was=old.value))
        events.append(cleared(state.door_id, at, sensor_alert[0], sensor_alert[1],
                              f"sensor reports {new.value}"))
        sensor_alert = None

    opening = state.opening
    grants, last_consumed = _fresh(state.grants, at, policy), state.last_consumed
    if new.is_problem:
        if sensor_alert is None:
            event = _PROBLEM_EVENT[new](door_id=state.door_id, at=at, was=old.value)
            events.append(event)
            sensor_alert = (_PROBLEM_ALARM[new], at)
        if opening is not None and opening.open_since is not None:
            # Not seen open any more: pause the held-open clock (the sensor alert stands in for it).
            opening = replace(opening, open_for=opening.seen_open(at), open_since=None)
    elif new is Contact.OPEN:
        if opening is None:
            opening, grants, last_consumed, opened = _begin_opening(state, old, at, grants, policy)
            events.extend(opened)
        elif opening.open_since is None:
            opening = replace(opening, open_since=at)  # same opening, seen again: the clock resumes
    else:  # closed
        if opening is not None:
            events.append(DoorClosed(door_id=state.door_id, at=at, opened_at=opening.started_at,
                                     open_seconds=opening.seen_open(at).total_seconds(),
                                     after_sensor_problem=old.is_problem))
            events.extend(cleared(state.door_id, at, kind, raised_at, "door closed")
                          for kind, raised_at in opening.raised)
            opening = None

    state = replace(state, contact=new, opening=opening, grants=grants, last_consumed=last_consumed,
                    sensor_alert=sensor_alert, last_at=at)
    # A restored opening may already be past its limits.
    state, more = _check_time(state, at, policy)
    return state, events + more


def on_grant(state: DoorState, at: datetime, who: str, kind: str = "badge", *,
             policy: DoorPolicy) -> tuple[DoorState, list[Event]]:
    """Record a grant (accepted badge, approved visitor card, exit button): it explains the next opening."""
    if kind not in GRANT_KINDS:
        raise ValueError(f"grant kind {kind!r} is not one of {', '.join(GRANT_KINDS)}")
    at = _in_order(state, at)
    state, events = _check_time(state, at, policy)
    grants = _fresh(state.grants, at, policy) + (Grant(at, who, kind),)
    opening = state.opening
    if opening is not None:
        # Another authorised person at an open door: the door may rightly stay open longer.
        opening = replace(opening, parties=opening.parties + 1)
    return replace(state, grants=grants, opening=opening, last_at=at), events


def tick(state: DoorState, now: datetime, policy: DoorPolicy) -> tuple[DoorState, list[Event]]:
    """Let time pass: held-open prewarn and alarm, tailgating by duration; forget stale grants."""
    now = _in_order(state, now)
    state, events = _check_time(state, now, policy)
    return replace(state, grants=_fresh(state.grants, now, policy), last_at=now), events


def check_held_open(state: DoorState, now: datetime, policy: DoorPolicy) -> list[Event]:
    """The time-based events ``tick`` would raise at ``now``, without the new state."""
    return tick(state, now, policy)[1]


def countdown(state: DoorState, now: datetime, policy: DoorPolicy) -> float | None:
    """Seconds until the held-open alarm (0 once due or raised), or None when the door is not seen open."""
    opening = state.opening
    if opening is None or opening.open_since is None:
        return None
    if state.last_at is not None and now < state.last_at:
        now = state.last_at
    left = policy.alarm_after - opening.seen_open(now)
    return max(0.0, left.total_seconds())


# ---------------------------------------------------------------------------------------------
# Inside


def _in_order(state: DoorState, at: datetime) -> datetime:
    """Inputs come in time order; one that does not is taken as happening at the last instant."""
    if at.tzinfo is None:
        raise ValueError("door rules need aware datetimes")
    if state.last_at is not None and at < state.last_at:
        return state.last_at
    return at


def _fresh(grants: tuple[Grant, ...], at: datetime, policy: DoorPolicy) -> tuple[Grant, ...]:
    """Pending grants that can still explain an opening at ``at``."""
    return tuple(g for g in grants if at - g.at <= policy.entry_window)


def _begin_opening(state: DoorState, old: Contact, at: datetime, grants: tuple[Grant, ...],
                   policy: DoorPolicy) -> tuple[Opening, tuple[Grant, ...], Grant | None, list[Event]]:
    """Start an opening seen at ``at``: explained by a grant, a re-opening, forced, or of unknown start."""
    grant = grants[0] if grants else None  # the oldest pending grant is used first
    rest = grants[1:]
    last_consumed = grant if grant is not None else state.last_consumed
    events: list[Event] = []
    if old.is_problem:
        # We did not see it open: no forced-open alarm, since a grant may well have preceded it.
        origin = UNKNOWN_START
    elif grant is not None:
        origin = GRANTED
    elif (policy.tailgate_reopens and state.last_consumed is not None
          and at - state.last_consumed.at <= policy.entry_window):
        origin, grant = REOPENED, state.last_consumed
    else:
        origin = FORCED
    opening = Opening(started_at=at, origin=origin, grant=grant, open_since=at)
    events.append(DoorOpened(door_id=state.door_id, at=at, origin=origin,
                             grant_who=grant.who if grant else None, grant_kind=grant.kind if grant else None))
    if origin == FORCED:
        # §6.6: nobody was let through in the entry window before this opening.
        events.append(DoorForcedOpen(door_id=state.door_id, at=at,
                                     window_seconds=policy.entry_window.total_seconds()))
        opening = replace(opening, raised=((FORCED_OPEN, at),))
    elif origin == REOPENED:
        assert grant is not None
        events.append(PossibleTailgating(door_id=state.door_id, at=at, reason="reopened",
                                         grant_who=grant.who, grant_kind=grant.kind))
        opening = replace(opening, tailgating_reported=True)
    return opening, rest, last_consumed, events


def _check_time(state: DoorState, now: datetime, policy: DoorPolicy) -> tuple[DoorState, list[Event]]:
    """Raise what the seen-open time calls for at ``now``, each at most once per opening."""
    opening = state.opening
    if opening is None or opening.open_since is None:
        return state, []
    seen = opening.seen_open(now)
    events: list[Event] = []
    common = dict(door_id=state.door_id, at=now)
    if (policy.tailgate_after is not None and opening.origin == GRANTED and opening.parties == 1
            and not opening.tailgating_reported and seen >= policy.tailgate_after):
        grant = opening.grant
        events.append(PossibleTailgating(**common, reason="open_too_long", open_seconds=seen.total_seconds(),
                                         grant_who=grant.who if grant else None,
                                         grant_kind=grant.kind if grant else None))
        opening = replace(opening, tailgating_reported=True)
    raised = opening.raised
    if not opening.has_raised(HELD_OPEN):
        if seen >= policy.alarm_after:
            # §6.5: the call-area door is kept closed.
            events.append(DoorHeldOpen(**common, opened_at=opening.started_at, open_seconds=seen.total_seconds(),
                                       limit_seconds=policy.alarm_after.total_seconds()))
            raised += ((HELD_OPEN, now),)
        elif (policy.prewarn_after is not None and not opening.has_raised(HELD_OPEN_WARNING)
              and seen >= policy.prewarn_after):
            events.append(DoorHeldOpenWarning(**common, opened_at=opening.started_at,
                                              open_seconds=seen.total_seconds(),
                                              alarm_in_seconds=(policy.alarm_after - seen).total_seconds()))
            raised += ((HELD_OPEN_WARNING, now),)
    if raised != opening.raised:
        opening = replace(opening, raised=raised)
    if opening is state.opening:
        return state, events
    return replace(state, opening=opening), events
