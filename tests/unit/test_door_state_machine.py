"""The door state machine under random sequences of grants, contact reports and time (§6.5, §6.6).

A small model alongside the rules keeps what the invariants need: the grants seen, the
contact, and each opening's seen-open clock. It does not re-implement the rules; it checks
their promises:

* an opening from a closed door with no grant of any kind in the entry window before it raises
  exactly one forced-open alarm, and any other opening raises none;
* an opening seen open for at least ``alarm_after`` has exactly one held-open alarm, a shorter
  one none; never two prewarns, never two tailgating hints per opening;
* ``unknown``, ``tamper`` and ``fault`` never read as closed;
* every raised alarm is cleared at most once, only after it was raised, and all are cleared once
  the door is seen closed again.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from kiosk.domain.doors import (SENSOR_ALARMS, AlarmCleared, DoorClosed, DoorForcedOpen, DoorHeldOpen,
                                DoorHeldOpenWarning, DoorOpened, DoorPolicy, DoorSensorRestored, PossibleTailgating,
                                new_door, on_contact, on_grant, raised_kind, tick)

T0 = datetime(2026, 11, 30, 23, 59, 0, tzinfo=timezone.utc)
P = DoorPolicy()
PROBLEMS = {"unknown": "sensor_unknown", "tamper": "tamper", "fault": "fault"}

# Mostly short steps and the policy's edges, where the rules change their mind; now and then a long one.
milliseconds = st.one_of(st.sampled_from([0, 1, 5_000, 9_999, 10_000, 10_001, 12_000, 15_000, 20_000, 29_999, 30_000]),
                         st.integers(0, 12_000), st.integers(0, 45_000))


class DoorMachine(RuleBasedStateMachine):
    """Drive one door with random inputs and check the rules' promises after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.state, events = on_contact(new_door("D1"), "closed", T0, P)
        assert events == []
        self.contact = "closed"
        self.grant_times: list[datetime] = []
        self.opening: dict | None = None  # the model's record of the current opening
        self.outstanding: dict[str, tuple[int, datetime]] = {}  # alarm kind -> (serial, raised at)
        self.clears: Counter[int] = Counter()  # serial -> times cleared
        self.raised_count = 0

    # --- the model ---------------------------------------------------------------------------

    def seen_open(self) -> timedelta:
        o = self.opening
        assert o is not None
        return o["seen"] + (self.now - o["since"] if o["since"] is not None else timedelta(0))

    def check_opening(self) -> None:
        """The per-opening promises, as of ``self.now`` (the last instant the rules saw)."""
        o = self.opening
        assert o is not None
        assert o["forced"] == (1 if o["unauthorised"] else 0), o
        long_enough = self.seen_open() >= P.alarm_after
        assert o["held"] == (1 if long_enough else 0), (o, self.seen_open())
        assert o["prewarn"] <= 1 and o["tailgate"] <= 1, o
        if P.prewarn_after is not None and self.seen_open() >= P.prewarn_after and not o["held"]:
            assert o["prewarn"] == 1, o

    def absorb(self, events: list, unauthorised: bool = False) -> None:
        """Assign each event to its opening and keep the raised/cleared ledger."""
        for e in events:
            assert e.at == self.now and e.door_id == "D1"
            kind = raised_kind(e)
            if kind is not None:
                # Never the same condition twice at once.
                assert kind not in self.outstanding, (kind, self.outstanding)
                self.raised_count += 1
                self.outstanding[kind] = (self.raised_count, e.at)
            if isinstance(e, AlarmCleared):
                # Only a raised, not yet cleared alarm can be cleared, and only once.
                assert e.alarm_kind in self.outstanding, e
                serial, raised_at = self.outstanding.pop(e.alarm_kind)
                assert e.raised_at == raised_at
                self.clears[serial] += 1
                assert self.clears[serial] == 1, e
            if isinstance(e, DoorSensorRestored):
                assert e.contact in ("open", "closed") and e.was in PROBLEMS, e
            if isinstance(e, DoorOpened):
                assert self.opening is None, "a second DoorOpened in one opening"
                self.opening = dict(forced=0, held=0, prewarn=0, tailgate=0, unauthorised=unauthorised,
                                    seen=timedelta(0), since=self.now)
            elif isinstance(e, DoorClosed):
                assert self.opening is not None
                assert e.open_seconds == self.seen_open().total_seconds()
                self.check_opening()
                self.opening = None
            elif isinstance(e, (DoorForcedOpen, DoorHeldOpen, DoorHeldOpenWarning, PossibleTailgating)):
                assert self.opening is not None, e
                name = {DoorForcedOpen: "forced", DoorHeldOpen: "held", DoorHeldOpenWarning: "prewarn",
                        PossibleTailgating: "tailgate"}[type(e)]
                self.opening[name] += 1

    # --- inputs ------------------------------------------------------------------------------

    @rule(kind=st.sampled_from(["badge", "visitor"]), who=st.sampled_from(["20002", "20003", "Zhang Wei"]))
    def grant(self, kind: str, who: str) -> None:
        self.state, events = on_grant(self.state, self.now, who, kind, policy=P)
        self.grant_times.append(self.now)
        self.absorb(events)

    @rule()
    def exit_button(self) -> None:
        self.state, events = on_grant(self.state, self.now, "exit-1", "exit_button", policy=P)
        self.grant_times.append(self.now)
        self.absorb(events)

    @rule()
    def refused_tap(self) -> None:
        # A refused badge is not a grant: the door rules never hear of it.
        pass

    @rule(contact=st.sampled_from(["open", "closed", "open", "closed", "unknown", "tamper", "fault"]))
    def contact_reported(self, contact: str) -> None:
        self.report(contact)

    @rule(kind=st.sampled_from(["badge", "exit_button"]), open_after=milliseconds, close_after=milliseconds)
    def someone_walks_through(self, kind: str, open_after: int, close_after: int) -> None:
        """The usual sequence: a grant, the door opens, the door closes."""
        self.state, events = on_grant(self.state, self.now, "20002", kind, policy=P)
        self.grant_times.append(self.now)
        self.absorb(events)
        self.advance(open_after, tick_too=False)
        self.report("open")
        self.advance(close_after, tick_too=False)
        self.report("closed")

    def report(self, contact: str) -> None:
        """Feed one contact report and move the model's seen-open clock."""
        prior = self.contact
        granted_recently = any(timedelta(0) <= self.now - g <= P.entry_window for g in self.grant_times)
        unauthorised = contact == "open" and prior == "closed" and not granted_recently
        new_opening = contact == "open" and self.opening is None
        self.state, events = on_contact(self.state, contact, self.now, P)
        self.absorb(events, unauthorised=unauthorised)
        self.contact = contact
        assert sum(isinstance(e, DoorOpened) for e in events) == (1 if new_opening else 0)
        if new_opening:
            opened = next(e for e in events if isinstance(e, DoorOpened))
            # First seen open after a sensor problem: start unknown, never forced (§6.6 cannot be judged).
            assert (opened.origin == "unknown_start") == (prior in PROBLEMS)
        o = self.opening
        if o is not None:
            if contact == "open" and o["since"] is None:
                o["since"] = self.now  # the seen-open clock resumes
            elif contact in PROBLEMS and o["since"] is not None:
                o["seen"] += self.now - o["since"]  # and pauses while the sensor has a problem
                o["since"] = None

    @rule(ms=milliseconds)
    def time_passes(self, ms: int) -> None:
        self.advance(ms, tick_too=True)

    @rule(ms=milliseconds)
    def time_passes_between_inputs(self, ms: int) -> None:
        """No tick: the next input must catch up on what fell due meanwhile."""
        self.advance(ms, tick_too=False)

    def advance(self, ms: int, *, tick_too: bool) -> None:
        """Move time forward; with ``tick_too`` the rules hear of it at once."""
        self.now += timedelta(milliseconds=ms)
        if tick_too:
            self.state, events = tick(self.state, self.now, P)
            self.absorb(events)

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def unknown_tamper_and_fault_never_read_as_closed(self) -> None:
        assert self.state.is_closed == (self.contact == "closed")
        if self.contact in PROBLEMS:
            assert not self.state.is_closed and not self.state.is_open

    @invariant()
    def each_opening_keeps_its_promises(self) -> None:
        assert (self.opening is not None) == (self.state.opening is not None)
        if self.opening is not None and self.state.last_at == self.now:
            self.check_opening()

    @invariant()
    def the_alarm_ledger_matches_the_state(self) -> None:
        assert sorted(self.state.active_alarms) == sorted(self.outstanding)
        sensor = [k for k in self.outstanding if k in SENSOR_ALARMS]
        assert sensor == ([PROBLEMS[self.contact]] if self.contact in PROBLEMS else [])
        if self.state.is_closed:
            assert self.outstanding == {}

    def teardown(self) -> None:
        # Eventually the door is seen closed: every alarm raised has been cleared exactly once.
        self.now += timedelta(seconds=1)
        self.state, events = on_contact(self.state, "closed", self.now, P)
        self.absorb(events)
        assert self.outstanding == {}
        assert set(self.clears) == set(range(1, self.raised_count + 1))


DoorMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])
TestDoorStateMachine = DoorMachine.TestCase
