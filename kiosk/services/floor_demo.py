"""The demo's living floor: a simulated call platform, simulated seat sensors, simulated roll call taps.

Started by ``kiosk demo`` only (``DEMO_CALL_PLATFORM`` set by the command, never by a site's config).

* Agent states come from :class:`kiosk.devices.callplatform.SimulatedCallPlatform` and go through
  :func:`kiosk.services.floor.accept_states`, the same validation and storage as the HTTP endpoint.
* **The demo's seats are simulated.** In production seat occupancy reaches the kiosk only from a
  floor_sensors gateway over signed HTTP. Here the simulator's sit-down and get-up moments are
  posted to :func:`kiosk.services.sensors.ingest` in-process, as batches of the gateway
  ``demo-seats`` signed with its secret: the same verification, storage, live state and floor-map
  hook as a real gateway's, without a node, a gateway process or HTTP. A heartbeat batch every few
  seconds keeps the pseudo-gateway from being reported silent.
* Operators of the roster tap their badges at roll call (reader ``demo-crowd``), except the people
  on the demo's tap panel, who are left for the person trying the demo (a panel operator nobody taps
  in is then signed in anyway, and flagged for it: §7.7, absent at roll call).
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, or_, select

from kiosk.devices.callplatform import PlannedShift, SimulatedCallPlatform
from kiosk.domain.shifts import occurrences_around
from kiosk.services import demo, door_access, floor, rollcall, sensors
from kiosk.services.context import ServiceContext
from kiosk.services.errors import ServiceError
from kiosk.store.models import Badge, Door, RosterEntry, Seat, Staff

logger = logging.getLogger(__name__)

GATEWAY_ID = "demo-seats"
HEARTBEAT_SECONDS = 3.0
_roster, _staff, _badges, _seats = RosterEntry.__table__, Staff.__table__, Badge.__table__, Seat.__table__


def define_seat_points(ctx: ServiceContext) -> int:
    """A ``seat:<id>`` point on the demo's pseudo-gateway for every seat of the plan."""
    with ctx.engine.connect() as conn:
        seats = [r.id for r in conn.execute(select(_seats.c.id).order_by(_seats.c.id))]
    return sensors.define_points(ctx, [{"id": f"seat:{s}", "kind": "seat", "label": s, "gateway": GATEWAY_ID}
                                       for s in seats], actor="demo")


def plan(ctx: ServiceContext, now: datetime, keep_for_user: set[str]) -> list[PlannedShift]:
    """Operators of the shifts running now or whose roll call opens within the next few minutes."""
    horizon = timedelta(minutes=float(ctx.config["ROLLCALL_OPENS_MINUTES"]) + 5)
    with ctx.engine.connect() as conn:
        occs = [o for o in occurrences_around(rollcall.load_shifts(conn), now, ctx.tz)
                if o.ends_at > now and o.starts_at - horizon <= now]
        if not occs:
            return []
        by_key = {o.key: o for o in occs}
        rows = conn.execute(
            select(_roster.c.day, _roster.c.shift_code, _roster.c.seat_id, _staff.c.employee_no, _badges.c.uid)
            .join(_staff, _staff.c.id == _roster.c.staff_id)
            .outerjoin(_badges, and_(_badges.c.staff_id == _staff.c.id, _badges.c.status == "active"))
            .where(_roster.c.duty == "operator", _staff.c.active.is_(True),
                   or_(*[and_(_roster.c.day == d, _roster.c.shift_code == c) for d, c in by_key]))).all()
    out = []
    for r in rows:
        occ = by_key[(r.day, r.shift_code)]
        out.append(PlannedShift(r.employee_no, r.seat_id, occ.starts_at, occ.ends_at, r.uid,
                                tap_rollcall=bool(r.uid) and r.uid not in keep_for_user))
    return out


class DemoFloor:
    """Runs the simulated platform and feeds its states, seats and taps into the kiosk's services."""

    def __init__(self, ctx: ServiceContext, time_scale: float = 1.0, rng: random.Random | None = None) -> None:
        self.ctx = ctx
        self.secret = sensors.gateway_secrets(ctx.config).get(GATEWAY_ID)
        if self.secret is None:
            logger.warning("demo seats: gateway %s has no secret in GATEWAY_SECRETS; seats stay unsimulated",
                           GATEWAY_ID)
        keep = {b["uid"] for b in demo.read_panel(ctx.config["INSTANCE_PATH"])}
        with ctx.engine.connect() as conn:
            seats = [r.id for r in conn.execute(select(_seats.c.id).order_by(_seats.c.id))]
        self.platform = SimulatedCallPlatform(lambda now: plan(ctx, now, keep), seats, rng=rng, time_scale=time_scale,
                                              clock=ctx.now, on_seat=self._seat, on_badge=self._badge,
                                              on_step=self._flush_seats)
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._run = f"{int(ctx.now().timestamp())}"  # event ids stay unique across demo restarts
        self._last_sent: datetime | None = None

    def start(self) -> None:
        """Start the simulated platform."""
        self.platform.start(self._states)

    def stop(self) -> None:
        """Stop it."""
        self.platform.stop()

    def _states(self, items: list[dict[str, Any]]) -> None:
        result = floor.accept_states(self.ctx, items, source="demo-platform")
        if result["refused"]:
            logger.warning("demo platform: %d states refused: %s", len(result["refused"]), result["refused"][:3])

    def _seat(self, seat: str, state: str, at: datetime) -> None:
        with self._lock:
            self._pending.append({"id": f"{GATEWAY_ID}:{self._run}:{next(self._ids)}", "type": "point_changed",
                                  "point": f"seat:{seat}", "state": state,
                                  "at": at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")})

    def _flush_seats(self, now: datetime) -> None:
        """Post the seat changes of this step as one signed batch; a heartbeat when there were none for a while."""
        if self.secret is None:
            return
        with self._lock:
            events, self._pending = self._pending, []
        if not events and self._last_sent is not None and (now - self._last_sent).total_seconds() < HEARTBEAT_SECONDS:
            return
        body = json.dumps({"gateway": GATEWAY_ID, "events": events, "health": {"simulated": True}}).encode()
        try:
            sensors.ingest(self.ctx, GATEWAY_ID, body, sensors.sign(self.secret, body))
            self._last_sent = now
        except ServiceError as exc:
            logger.warning("demo seats refused: %s", exc.message)

    def _badge(self, p: PlannedShift, at: datetime) -> None:
        if not p.badge_uid:
            return
        try:
            rollcall.record_tap(self.ctx, p.badge_uid, reader_id="demo-crowd", at=at)
        except ServiceError as exc:
            logger.info("demo roll call tap of %s refused: %s", p.employee_no, exc.message)
        # Then through the door (§4.4: after roll call), so the map knows they entered the call area.
        try:
            with self.ctx.engine.connect() as conn:
                door = conn.execute(select(Door.__table__.c.readers).where(Door.__table__.c.readers != "")).first()
            if door is not None:
                reader = door.readers.split(",")[0].strip()
                door_access.door_tap(self.ctx, p.badge_uid, reader, at=at, announce=False)
        except ServiceError as exc:
            logger.info("demo door tap of %s refused: %s", p.employee_no, exc.message)
