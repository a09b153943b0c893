"""The call platform port: where agent states (signed in, ready, busy, wrap-up, signed out) come from.

A real hotline call platform (CTI) usually *pushes* agent states to ``POST /api/v1/agent-states``
(see the README). A site whose platform must instead be polled, or subscribed to over its own
protocol, writes an adapter with this port's two methods: ``start(on_state)`` begins delivering
lists of agent-state dicts, shaped exactly as the HTTP endpoint takes them, to ``on_state`` from the
adapter's own thread; ``stop()`` ends it. The kiosk validates, stores and applies them as it does
for the endpoint (:func:`kiosk.services.floor.accept_states`).

:class:`SimulatedCallPlatform` is the demo's platform: operators of each shift sign in around its
start at their seats (mostly the assigned one, a few at a wrong seat, a few late), move through
ready / wrap-up / busy, now and then sign out mid-shift without a reason and back in, and sign out
at shift end (a few linger). For the demo it can also report when each operator sits down and gets
up (seat occupancy) and tap their badge at roll call; both go to callbacks, and the demo feeds them
through the same services the gateway and the badge reader use.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol, Sequence

logger = logging.getLogger(__name__)

AgentStateHandler = Callable[[list[dict[str, Any]]], None]


class CallPlatform(Protocol):
    """Delivers agent states from a call platform to a callback, from the adapter's own thread."""

    def start(self, on_state: AgentStateHandler) -> None:
        """Begin delivering lists of agent-state dicts (employee_no, seat, state, at, reason)."""

    def stop(self) -> None:
        """Stop delivering; safe to call twice."""


@dataclass(frozen=True)
class PlannedShift:
    """One operator on one shift occurrence, as the simulator needs it."""

    employee_no: str
    seat: str | None
    starts_at: datetime
    ends_at: datetime
    badge_uid: str | None = None
    tap_rollcall: bool = False  # the simulator taps the badge at roll call (demo)


def utc_now() -> datetime:
    """The real time, aware UTC (the simulator's default clock)."""
    return datetime.now(timezone.utc)


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Operator:
    """One simulated operator on one shift: an agenda of (instant, action) still to do."""

    plan: PlannedShift
    seat: str | None
    agenda: list[tuple[datetime, str]] = field(default_factory=list)
    state: str = "signed_out"
    sitting: bool = False

    def add(self, at: datetime, action: str) -> None:
        self.agenda.append((at, action))
        self.agenda.sort(key=lambda x: x[0])


class SimulatedCallPlatform:
    """A call platform for demos and tests: states from a roster plan, a random generator and a clock.

    ``time_scale`` shortens the ready / busy / wrap-up durations (10 = ten times faster); sign-in and
    sign-out times stay on the real shift times. :meth:`step` advances every operator to ``now`` and
    is what the thread calls; tests call it directly with their own clock.
    """

    def __init__(self, plan: Callable[[datetime], Sequence[PlannedShift]], seats: Sequence[str], *,
                 rng: random.Random | None = None, time_scale: float = 1.0, clock: Callable[[], datetime] = utc_now,
                 step_seconds: float = 0.5, replan_seconds: float = 60.0,
                 on_seat: Callable[[str, str, datetime], None] | None = None,
                 on_badge: Callable[[PlannedShift, datetime], None] | None = None,
                 on_step: Callable[[datetime], None] | None = None,
                 wrong_seat_rate: float = 0.05, late_rate: float = 0.03, unexplained_signout_rate: float = 0.05,
                 linger_rate: float = 0.03) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.plan, self.seats = plan, list(seats)
        self.rng = rng or random.Random()
        self.time_scale = time_scale
        self.clock, self.step_seconds, self.replan_seconds = clock, step_seconds, replan_seconds
        self.on_seat, self.on_badge, self.on_step = on_seat, on_badge, on_step
        self.rates = {"wrong_seat": wrong_seat_rate, "late": late_rate, "signout": unexplained_signout_rate,
                      "linger": linger_rate}
        self.on_state: AgentStateHandler | None = None
        self._ops: dict[tuple[str, datetime], _Operator] = {}
        self._sitting: dict[str, int] = {}
        self._planned_at: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the port ---------------------------------------------------------------------------------------

    def start(self, on_state: AgentStateHandler) -> None:
        """Start the simulation thread."""
        self.on_state = on_state
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sim-call-platform", daemon=True)
        self._thread.start()
        logger.info("simulated call platform started (time scale %s)", self.time_scale)

    def stop(self) -> None:
        """Stop the simulation thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.step_seconds):
            try:
                self.step(self.clock())
            except Exception:  # the demo must keep living through one bad step
                logger.exception("simulated call platform step failed")

    # --- the simulation ---------------------------------------------------------------------------------

    def _d(self, low: float, high: float) -> timedelta:
        """A random activity duration, shortened by the time scale."""
        return timedelta(seconds=self.rng.uniform(low, high) / self.time_scale)

    def _m(self, low: float, high: float) -> timedelta:
        """A random offset in real minutes (shift-bound times are not scaled)."""
        return timedelta(minutes=self.rng.uniform(low, high))

    def _replan(self, now: datetime) -> None:
        plan = list(self.plan(now))
        assigned = {p.seat for p in plan if p.seat}
        for p in plan:
            key = (p.employee_no, p.starts_at)
            if key in self._ops or p.ends_at <= now:
                continue
            self._ops[key] = self._new_operator(p, now, assigned)
        self._planned_at = now
        # Forget operators whose agenda is done.
        for key in [k for k, op in self._ops.items() if not op.agenda and op.plan.ends_at < now]:
            del self._ops[key]

    def _new_operator(self, p: PlannedShift, now: datetime, assigned: set[str]) -> _Operator:
        seat = p.seat
        if self.rng.random() < self.rates["wrong_seat"] or seat is None:
            # §8.7 for the demo: a seat nobody is assigned to, so two people never share one.
            free = [s for s in self.seats if s not in assigned] or self.seats
            seat = self.rng.choice(free) if free else None
        op = _Operator(p, seat)
        start = p.starts_at
        late = self.rng.random() < self.rates["late"]
        if p.tap_rollcall and p.badge_uid and self.on_badge is not None:
            # §3.6: after the pre-shift meeting, into the call area and signed in at once.
            tap = max(now + timedelta(seconds=self.rng.uniform(1, 30)), start - self._m(12, 25))
            op.add(tap, "tap")
            sign_in = tap + self._m(1, 4)
        else:
            tap = now
            sign_in = start - self._m(1, 8)
        if late:
            sign_in = max(sign_in, start) + self._m(6, 10)
        sign_in = max(sign_in, tap + timedelta(seconds=40), now + timedelta(seconds=2))
        op.add(sign_in - timedelta(seconds=self.rng.uniform(15, 40)), "sit")
        op.add(sign_in, "signed_in")
        if self.rng.random() < self.rates["signout"]:
            at = start + (p.ends_at - start) * self.rng.uniform(0.2, 0.7)
            op.add(max(at, sign_in + timedelta(minutes=1)), "drop")
        linger = self.rng.random() < self.rates["linger"]
        end = p.ends_at + (self._m(8, 15) if linger else self._m(-3, 1))
        op.add(end, "end")
        return op

    def step(self, now: datetime) -> None:
        """Advance every simulated operator to ``now`` and deliver what happened, as one batch."""
        if self._planned_at is None and self.on_seat is not None:
            # Seat sensors say what they see when they start, as a real gateway's reconcile does: every
            # seat empty (no one sits yet), so the map shows free seats, not sensors that never spoke.
            for seat in self.seats:
                self.on_seat(seat, "vacant", now)
        if self._planned_at is None or (now - self._planned_at).total_seconds() >= self.replan_seconds \
                or now < self._planned_at:
            self._replan(now)
        states: list[dict[str, Any]] = []
        for op in list(self._ops.values()):
            while op.agenda and op.agenda[0][0] <= now:
                at, action = op.agenda.pop(0)
                states += self._act(op, at, action)
        if states and self.on_state is not None:
            states.sort(key=lambda s: s["at"])
            self.on_state(states)
        if self.on_step is not None:
            self.on_step(now)

    def _emit(self, op: _Operator, at: datetime, state: str, reason: str | None = None) -> dict[str, Any]:
        op.state = state
        out = {"employee_no": op.plan.employee_no, "seat": op.seat, "state": state, "at": _iso(at)}
        if reason:
            out["reason"] = reason
        return out

    def _sit(self, op: _Operator, at: datetime, sitting: bool) -> None:
        if op.seat is None or op.sitting == sitting:
            return
        op.sitting = sitting
        before = self._sitting.get(op.seat, 0)
        after = before + (1 if sitting else -1)
        self._sitting[op.seat] = max(0, after)
        if self.on_seat is not None and (before == 0) != (after <= 0):
            self.on_seat(op.seat, "occupied" if sitting else "vacant", at)

    def _act(self, op: _Operator, at: datetime, action: str) -> list[dict[str, Any]]:
        if action == "tap":
            if self.on_badge is not None:
                self.on_badge(op.plan, at)
            return []
        if action == "sit":
            self._sit(op, at, True)
            return []
        if action == "stand":
            self._sit(op, at, False)
            return []
        if action == "signed_in":
            op.add(at + self._d(5, 30), "ready")
            return [self._emit(op, at, "signed_in")]
        if op.state == "signed_out" and action in ("ready", "busy", "wrap_up"):
            return []  # a leftover of a session that ended
        if action == "ready":
            # After a stretch of taking calls: wrap-up after a call, or now and then busy (a pause).
            nxt = "wrap_up" if self.rng.random() < 0.9 else "busy"
            op.add(at + self._d(20, 120), nxt)
            return [self._emit(op, at, "ready")]
        if action == "wrap_up":
            op.add(at + self._d(10, 60), "ready")
            return [self._emit(op, at, "wrap_up")]
        if action == "busy":
            op.add(at + self._d(60, 240), "ready")
            return [self._emit(op, at, "busy")]
        if action == "drop":
            # §8.9: signed out mid-shift without a reason (still sitting there), back after a few minutes.
            if op.state == "signed_out":
                return []
            op.agenda = [(t, a) for t, a in op.agenda if a not in ("ready", "busy", "wrap_up")]
            op.add(at + self._m(1, 4), "signed_in")
            return [self._emit(op, at, "signed_out")]
        if action == "end":
            op.agenda = [(t, a) for t, a in op.agenda if a not in ("ready", "busy", "wrap_up", "signed_in", "drop")]
            op.add(at + timedelta(seconds=self.rng.uniform(10, 60)), "stand")
            if op.state == "signed_out":
                return []
            return [self._emit(op, at, "signed_out")]
        return []
