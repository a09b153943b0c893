"""Badge checks at a door reader (§2.2, §2.5, §4.4, §6.6): facts, ``now`` and a policy in, a decision out.

Pure: the service layer finds the badge or visitor card by UID, loads the person's roster
occurrences around ``now``, their roll call marks, the recent taps at the same door and the
badge's lockout record, calls ``decide_door_tap``, then ``record_decision`` for the lockout, and
on a grant tells the door rules (``kiosk.domain.doors.on_grant``).

The checks, in order (the first that fails gives the refusal):

1. the card is known — else ``unknown_badge``;
2. the card is alive: holder still employed, badge not lost, revoked or returned (§2.5);
3. leaders, supervisors, security and admins pass at any time (§6.6: they are the ones who stop
   others);
4. the card is not locked out after repeated refusals;
5. staff: rostered within the duty window of a shift (``not_on_duty``), and an operator of that
   shift has answered roll call (§4.4, ``not_roll_called``); visitors: inside the approval's
   window (§2.2) and, when the approval requires it, escorted (§6.6).

Decisions where the floor rules are silent:

* §4.4 is applied to every shift the operator is on duty for, not only the incoming one: after
  roll call has closed, an operator with no present or late mark (tapped, or marked by hand by
  the leader) is still refused, and told to ask the duty leader, who can mark them late. An
  operator on duty for two shifts passes if either lets them in.
* A person rostered as duty leader (``duty == "leader"``) whose staff role is operator (an acting
  leader) passes while on duty without a roll call mark: the leader holds the roll call.
* Lockout: refusals of one card are counted over a sliding ``lockout_window``. When the count
  reaches ``lockout_after`` the card is locked until the first counted refusal + the window
  ("the rest of that hour"), ``BadgeLockedOut`` is produced once, and the count starts afresh.
  Taps while locked give ``locked_out`` even if they would otherwise pass (a lockout is a
  lockout; a leader can still let the person in), and are not counted, so they do not extend the
  lock. Grants do not reset the count. Dead cards and unknown UIDs are counted too: five taps of a
  lost badge in an hour is worth telling security about.
* Escort: a granted tap at the same door within ``escort_window`` before the visitor's tap, by the
  host named on the approval or by anyone with an escort role.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import ClassVar, Literal, Mapping, Sequence

from kiosk.domain.badges import masked_uid
from kiosk.domain.rollcall import BadgeFacts, RollCallPolicy, StaffFacts
from kiosk.domain.shifts import ShiftOccurrence

__all__ = ["AccessOutcome", "AccessPolicy", "VisitorApproval", "VisitorCardFacts", "RosterDuty", "RecentTap",
           "BadgeLockout", "AccessDecision", "BadgeLockedOut", "BadgeFacts", "StaffFacts", "PURPOSES",
           "decide_door_tap", "on_duty", "is_locked_out", "record_decision", "validate_approval"]

Severity = Literal["info", "warning", "alarm"]
PURPOSES = ("consult", "visit", "photograph", "record")  # §2.2
ESCORT_ROLES = frozenset({"leader", "supervisor", "security", "admin"})
ANSWERED = ("present", "late")  # roll call marks that let an operator in (tapped or by hand)


class AccessOutcome(str, enum.Enum):
    """What a tap at a door reader comes to."""

    GRANTED = "granted"
    UNKNOWN_BADGE = "unknown_badge"
    BADGE_LOST = "badge_lost"
    BADGE_REVOKED = "badge_revoked"
    STAFF_LEFT = "staff_left"
    NOT_ON_DUTY = "not_on_duty"
    NOT_ROLL_CALLED = "not_roll_called"
    VISITOR_OUTSIDE_WINDOW = "visitor_outside_window"
    VISITOR_NEEDS_ESCORT = "visitor_needs_escort"
    LOCKED_OUT = "locked_out"


@dataclass(frozen=True)
class AccessPolicy:
    """Configurable door-check windows and limits."""

    before_start: timedelta = timedelta(minutes=60)  # on duty from this long before a shift starts
    after_end: timedelta = timedelta(minutes=30)  # ... until this long after it ends
    escort_window: timedelta = timedelta(seconds=30)  # an escort taps at most this long before the visitor
    lockout_after: int = 5  # refusals of one card ...
    lockout_window: timedelta = timedelta(hours=1)  # ... within this long lock it out
    privileged_roles: frozenset[str] = ESCORT_ROLES  # pass at any time while their badge is alive
    escort_roles: frozenset[str] = ESCORT_ROLES
    roll_call: RollCallPolicy = field(default_factory=RollCallPolicy)  # to tell when roll call opens

    def __post_init__(self) -> None:
        if self.lockout_after < 1:
            raise ValueError("lockout_after must be at least 1")
        if min(self.before_start, self.after_end, self.escort_window) < timedelta(0):
            raise ValueError("windows must not be negative")
        if self.lockout_window <= timedelta(0):
            raise ValueError("lockout_window must be positive")


@dataclass(frozen=True)
class VisitorApproval:
    """A visit approved by the Hotline Management Section (§2.2)."""

    name: str
    organisation: str
    purpose: str  # consult | visit | photograph | record
    valid_from: datetime  # aware
    valid_until: datetime  # aware, exclusive
    escort_required: bool = False
    host_employee_no: str | None = None
    id_doc_tail: str = ""  # the last 4 characters of the ID document, never more
    approval_id: str | None = None


@dataclass(frozen=True)
class VisitorCardFacts:
    """A visitor card as found by UID, with the approval currently attached to it, if any."""

    uid: str
    approval: VisitorApproval | None
    status: str = "active"  # active | lost | revoked | returned


@dataclass(frozen=True)
class RosterDuty:
    """One shift occurrence the person is rostered on, with their duty on it."""

    occurrence: ShiftOccurrence
    duty: str = "operator"  # leader | operator


@dataclass(frozen=True)
class RecentTap:
    """A tap at a door reader shortly before, as the escort check needs it."""

    at: datetime
    door_id: str
    employee_no: str
    role: str
    granted: bool = True


@dataclass(frozen=True)
class BadgeLockout:
    """One card's lockout record: refusals counted in the current window, and the lock, if any."""

    refusals: tuple[datetime, ...] = ()
    locked_until: datetime | None = None


@dataclass(frozen=True)
class AccessDecision:
    """The answer to one door tap, with everything the door, the screen and the entry log need."""

    outcome: AccessOutcome
    reason_text: str  # English; screens translate the outcome code
    rule: str
    door_id: str
    at: datetime
    uid: str  # full UID for the entry log; show ``masked_uid`` anywhere else
    employee_no: str | None = None
    name: str | None = None
    role: str | None = None
    visitor_name: str | None = None
    organisation: str | None = None
    host_employee_no: str | None = None
    shift_code: str | None = None
    shift_day: date | None = None
    escorted_by: str | None = None
    detail: dict[str, str] = field(default_factory=dict)  # ISO times for screens, e.g. {"locked_until": ...}

    @property
    def granted(self) -> bool:
        """True when the door may be opened for this tap."""
        return self.outcome is AccessOutcome.GRANTED

    @property
    def grant_kind(self) -> str:
        """The grant kind for ``doors.on_grant``: ``visitor`` for a visitor card, else ``badge``."""
        return "visitor" if self.visitor_name is not None else "badge"

    @property
    def who(self) -> str:
        """Who the grant is for: the employee number, the visitor's name, or the masked UID."""
        return self.employee_no or self.visitor_name or masked_uid(self.uid)


@dataclass(frozen=True, kw_only=True)
class BadgeLockedOut:
    """A card was refused too often and is locked out for the rest of the window."""

    name: ClassVar[str] = "badge_locked_out"
    door_id: str
    at: datetime
    uid: str
    locked_until: datetime
    refusals: int
    employee_no: str | None = None
    holder_name: str | None = None
    rule: str = "§6.6"
    severity: Severity = "warning"

    @property
    def message(self) -> str:
        """A human-readable English line; the UID is masked."""
        who = f" of {self.holder_name} ({self.employee_no})" if self.employee_no else ""
        return (f"Card {masked_uid(self.uid)}{who} was refused {self.refusals} times at door {self.door_id} "
                f"and is locked out until {_hhmm(self.locked_until, self.at)}.")


# ---------------------------------------------------------------------------------------------


def on_duty(duties: Sequence[RosterDuty], now: datetime, policy: AccessPolicy) -> list[RosterDuty]:
    """The rostered occurrences whose duty window (start − before_start to end + after_end) holds ``now``."""
    out = [d for d in duties
           if d.occurrence.starts_at - policy.before_start <= now <= d.occurrence.ends_at + policy.after_end]
    return sorted(out, key=lambda d: d.occurrence.starts_at)


def is_locked_out(lockout: BadgeLockout, now: datetime) -> bool:
    """True while the card's lock lasts."""
    return lockout.locked_until is not None and now < lockout.locked_until


def decide_door_tap(*, door_id: str, uid: str, now: datetime, policy: AccessPolicy,
                    badge: BadgeFacts | None = None, visitor: VisitorCardFacts | None = None,
                    duties: Sequence[RosterDuty] = (), marks: Mapping[tuple[date, str], str] | None = None,
                    recent_taps: Sequence[RecentTap] = (),
                    lockout: BadgeLockout = BadgeLockout()) -> AccessDecision:
    """Decide one tap at a door reader (see the module notes for the order of checks).

    ``marks`` maps an occurrence key ``(roster day, shift code)`` to the person's roll call status
    (present, late, absent, excused); ``recent_taps`` are taps at any door shortly before ``now``.
    """
    if now.tzinfo is None:
        raise ValueError("access rules need an aware now")
    if badge is not None and visitor is not None:
        raise ValueError("a card is either a staff badge or a visitor card, not both")
    base = dict(door_id=door_id, at=now, uid=uid)
    if badge is None and visitor is None:
        return AccessDecision(AccessOutcome.UNKNOWN_BADGE, rule="§6.6", **base,
                              reason_text=f"Refused: card {masked_uid(uid)} is not registered. Anyone from outside "
                                          "needs an approval from the Hotline Management Section (§6.6).")
    if visitor is not None:
        return _decide_visitor(visitor, base, now, policy, recent_taps, lockout)
    assert badge is not None
    return _decide_staff(badge, base, now, policy, duties, marks or {}, lockout)


def _decide_staff(badge: BadgeFacts, base: dict, now: datetime, policy: AccessPolicy,
                  duties: Sequence[RosterDuty], marks: Mapping[tuple[date, str], str],
                  lockout: BadgeLockout) -> AccessDecision:
    """The checks for a staff badge."""
    holder = badge.holder
    who = dict(employee_no=holder.employee_no, name=holder.name, role=holder.role, **base)
    # §2.5: a departed operator's badge is dead, whatever its recorded status.
    if not holder.active:
        return AccessDecision(AccessOutcome.STAFF_LEFT, rule="§2.5", **who,
                              reason_text=f"Refused: {holder.name} has left; this badge is no longer valid (§2.5).")
    if badge.status == "lost":
        return AccessDecision(AccessOutcome.BADGE_LOST, rule="§2.5", **who,
                              reason_text=f"Refused: this badge of {holder.name} was reported lost. "
                                          "Keep the card and call the duty leader (§2.5).")
    if badge.status != "active":
        return AccessDecision(AccessOutcome.BADGE_REVOKED, rule="§2.5", **who,
                              reason_text=f"Refused: this badge of {holder.name} is {badge.status} and no longer "
                                          "valid (§2.5).")
    if holder.role in policy.privileged_roles:
        return AccessDecision(AccessOutcome.GRANTED, rule="§6.6", **who,
                              reason_text=f"Granted: {holder.name} ({holder.role}) may enter at any time.")
    if is_locked_out(lockout, now):
        return _locked(lockout, now, who)

    duty = on_duty(duties, now, policy)
    if not duty:
        upcoming = sorted((d.occurrence for d in duties if d.occurrence.starts_at > now), key=lambda o: o.starts_at)
        hint = ""
        if upcoming:
            nxt = upcoming[0]
            hint = f" The next shift is {nxt.shift.code} starting {nxt.starts_at:%Y-%m-%d %H:%M}."
        window = (f"from {_minutes(policy.before_start)} min before a rostered shift to "
                  f"{_minutes(policy.after_end)} min after it")
        return AccessDecision(AccessOutcome.NOT_ON_DUTY, rule="§6.6", **who,
                              reason_text=f"Refused: {holder.name} is not on duty now; operators enter {window}."
                                          + hint)
    for d in duty:
        occ = d.occurrence
        placed = dict(shift_code=occ.shift.code, shift_day=occ.day, **who)
        if d.duty == "leader":
            return AccessDecision(AccessOutcome.GRANTED, rule="§6.6", **placed,
                                  reason_text=f"Granted: {holder.name}, duty leader of shift {occ.shift.code} "
                                              f"on {occ.day}.")
        # §4.4: incoming staff enter the work area only after roll call.
        if marks.get(occ.key) in ANSWERED:
            return AccessDecision(AccessOutcome.GRANTED, rule="§4.4", **placed,
                                  reason_text=f"Granted: {holder.name}, roll-called for shift {occ.shift.code} "
                                              f"on {occ.day}.")
    # Nobody lets them in: name the shift whose roll call is open, else the earliest.
    opens = {id(d): d.occurrence.starts_at - policy.roll_call.opens_before for d in duty}
    closes = {id(d): d.occurrence.starts_at + policy.roll_call.closes_after for d in duty}
    current = next((d for d in duty if opens[id(d)] <= now < closes[id(d)]), duty[0])
    occ = current.occurrence
    if now < opens[id(current)]:
        todo = f"roll call for shift {occ.shift.code} opens at {opens[id(current)]:%H:%M}; answer it first"
    elif now < closes[id(current)]:
        todo = f"tap at the roll call kiosk for shift {occ.shift.code} first"
    else:
        todo = f"roll call for shift {occ.shift.code} has closed; ask the duty leader to mark you"
    return AccessDecision(AccessOutcome.NOT_ROLL_CALLED, rule="§4.4", shift_code=occ.shift.code, shift_day=occ.day,
                          detail={"roll_call_opens": opens[id(current)].isoformat()}, **who,
                          reason_text=f"Refused: {holder.name} has not answered roll call; staff enter the call "
                                      f"area only after roll call (§4.4): {todo}.")


def _decide_visitor(card: VisitorCardFacts, base: dict, now: datetime, policy: AccessPolicy,
                    recent_taps: Sequence[RecentTap], lockout: BadgeLockout) -> AccessDecision:
    """The checks for a visitor card (§2.2, §6.6)."""
    approval = card.approval
    who: dict = dict(base)
    if approval is not None:
        who.update(visitor_name=approval.name, organisation=approval.organisation,
                   host_employee_no=approval.host_employee_no)
    if card.status == "lost":
        return AccessDecision(AccessOutcome.BADGE_LOST, rule="§2.2", **who,
                              reason_text="Refused: this visitor card was reported lost; keep it and call the duty "
                                          "leader.")
    if card.status != "active":
        return AccessDecision(AccessOutcome.BADGE_REVOKED, rule="§2.2", **who,
                              reason_text=f"Refused: this visitor card is {card.status} and no longer valid.")
    if is_locked_out(lockout, now):
        return _locked(lockout, now, who)
    if approval is None:
        return AccessDecision(AccessOutcome.VISITOR_OUTSIDE_WINDOW, rule="§2.2", **who,
                              reason_text="Refused: no visit approval is attached to this visitor card; visits need "
                                          "an approval from the Hotline Management Section (§2.2).")
    # §2.2: the visit is approved for a time window only.
    if not approval.valid_from <= now < approval.valid_until:
        span = f"{_hhmm(approval.valid_from, now, True)} to {_hhmm(approval.valid_until, now, True)}"
        return AccessDecision(AccessOutcome.VISITOR_OUTSIDE_WINDOW, rule="§2.2", **who,
                              detail={"valid_from": approval.valid_from.isoformat(),
                                      "valid_until": approval.valid_until.isoformat()},
                              reason_text=f"Refused: the visit of {approval.name} is approved from {span} only (§2.2).")
    escort = None
    if approval.escort_required:
        escort = _escort(approval, base["door_id"], now, policy, recent_taps)
        if escort is None:
            return AccessDecision(AccessOutcome.VISITOR_NEEDS_ESCORT, rule="§6.6", **who,
                                  reason_text=f"Refused: {approval.name} must be escorted. The host or a leader, "
                                              "supervisor or security officer taps this door first, then the visitor "
                                              f"within {policy.escort_window.total_seconds():.0f} s (§6.6).")
    by = f", escorted by {escort}" if escort else ""
    return AccessDecision(AccessOutcome.GRANTED, rule="§2.2", escorted_by=escort, **who,
                          reason_text=f"Granted: visitor {approval.name} ({approval.organisation}), approved to "
                                      f"{approval.purpose}{by}.")


def _escort(approval: VisitorApproval, door_id: str, now: datetime, policy: AccessPolicy,
            taps: Sequence[RecentTap]) -> str | None:
    """The employee number of the latest valid escort tap at this door, if any."""
    found = [t for t in taps
             if t.granted and t.door_id == door_id and timedelta(0) <= now - t.at <= policy.escort_window
             and (t.role in policy.escort_roles or t.employee_no == approval.host_employee_no)]
    return max(found, key=lambda t: t.at).employee_no if found else None


def _locked(lockout: BadgeLockout, now: datetime, who: dict) -> AccessDecision:
    """The refusal of a locked-out card."""
    assert lockout.locked_until is not None
    return AccessDecision(AccessOutcome.LOCKED_OUT, rule="§6.6",
                          detail={"locked_until": lockout.locked_until.isoformat()},
                          **who, reason_text=f"Refused: this card was refused too often and is locked until "
                                             f"{_hhmm(lockout.locked_until, now)}; call the duty leader.")


# ---------------------------------------------------------------------------------------------


def record_decision(lockout: BadgeLockout, decision: AccessDecision,
                    policy: AccessPolicy) -> tuple[BadgeLockout, list[BadgeLockedOut]]:
    """Count a refusal towards the card's lockout; produce ``BadgeLockedOut`` once when the limit is reached."""
    now = decision.at
    if lockout.locked_until is not None and now >= lockout.locked_until:
        lockout = BadgeLockout()  # the lock is over: a fresh count begins
    if decision.granted or decision.outcome is AccessOutcome.LOCKED_OUT:
        return lockout, []  # grants are not refusals; taps while locked do not extend the lock
    refusals = tuple(r for r in lockout.refusals if now - r < policy.lockout_window) + (now,)
    if len(refusals) < policy.lockout_after:
        return BadgeLockout(refusals=refusals), []
    # Locked for the rest of the window that began with the first counted refusal.
    until = refusals[0] + policy.lockout_window
    event = BadgeLockedOut(door_id=decision.door_id, at=now, uid=decision.uid, locked_until=until,
                           refusals=len(refusals), employee_no=decision.employee_no,
                           holder_name=decision.name or decision.visitor_name)
    return BadgeLockout(locked_until=until), [event]


def validate_approval(approval: VisitorApproval) -> list[str]:
    """Check a visitor approval before it is saved (§2.2); return readable error messages, empty when fine."""
    errors: list[str] = []
    if not approval.name.strip():
        errors.append("The visitor's name is empty.")
    if approval.purpose not in PURPOSES:
        errors.append(f"Purpose {approval.purpose!r} is not one of {', '.join(PURPOSES)} (§2.2).")
    if approval.valid_from.tzinfo is None or approval.valid_until.tzinfo is None:
        errors.append("The approval's start and end need a time zone.")
    elif approval.valid_until <= approval.valid_from:
        errors.append("The approval must end after it starts.")
    tail = approval.id_doc_tail
    # Data minimisation: store the last 4 characters of the ID document and never more.
    if len(tail) != 4 or not (tail.isascii() and tail.isalnum()):
        errors.append("Give exactly the last 4 characters (letters or digits) of the ID document, no more.")
    return errors


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)


def _hhmm(when: datetime, now: datetime, with_date: bool = False) -> str:
    """A time as the screen's clock shows it (in the time zone ``now`` was given in)."""
    local = when.astimezone(now.tzinfo)
    return f"{local:%Y-%m-%d %H:%M}" if with_date else f"{local:%H:%M}"
