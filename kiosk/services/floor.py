"""The live floor map as a capability: agent states in, seat sensors in, flags decided, seats published.

* Agent states come from the hotline call platform (``POST /api/v1/agent-states``, HMAC-signed per
  integration) or from an in-process adapter (:mod:`kiosk.devices.callplatform`). Each state is
  validated; a refused one is counted, logged with its reason, and never touches the live state. An
  accepted one is stored in ``agent_events``; if it is not older than the agent's newest, it moves the
  live state (``agent_live``) and closes busy/wrap-up intervals into ``agent_minutes`` (§8.8).
* Seat sensors arrive through the gateway ingest (:mod:`kiosk.services.sensors`), which calls
  :func:`apply_point_changes` inside its own transaction for the ``seat:<seat id>`` points it changed.
* Flags (:mod:`kiosk.domain.floor`) are recomputed for the people and seats an agent state touched, in
  its transaction, and for the whole floor by :func:`tick`; they are stored in ``floor_flags`` (raised,
  cleared, acknowledged). The leader acknowledges a flag, or records the cause of an unexplained
  sign-out (§8.9), after identifying by badge at the kiosk.
* Screens get ``floor_changed`` carrying only the seats and flags that changed, with a ``rev`` that
  orders them. :class:`FloorPush` (installed by the web app around its publisher) coalesces them: a
  lone change goes out at once, changes arriving within ``FLOOR_PUSH_INTERVAL_SECONDS`` of the last
  push wait for the next one, merged, so a burst of hundreds of changes is a handful of pushes.

Writers of the floor tables (agent ingest, tick, leader actions) take one process lock: SQLite's
driver reads outside the write transaction, so a read-decide-write on ``agent_live`` or
``floor_flags`` must not interleave with another. The seat-sensor hook only reads.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, NoReturn

from sqlalchemy import Connection, and_, insert, or_, select, update

from kiosk.domain import floor as rules
from kiosk.domain.shifts import occurrences_around
from kiosk.services import floors, rollcall
from kiosk.services.context import ServiceContext
from kiosk.services.errors import NotFound, ServiceError
from kiosk.store.eventlog import log_event, log_events
from kiosk.store.models import (AgentEvent, AgentLive, AgentSeconds, AttendanceRecord, Door, Event, FloorFlag,
                                Point, RollCall, RosterEntry, Seat, Staff, Zone)

logger = logging.getLogger(__name__)

_events, _live, _secs, _flags = AgentEvent.__table__, AgentLive.__table__, AgentSeconds.__table__, FloorFlag.__table__
_seats, _zones, _points, _roster, _staff = (Seat.__table__, Zone.__table__, Point.__table__, RosterEntry.__table__,
                                             Staff.__table__)
_att, _rollcalls, _log, _doors = AttendanceRecord.__table__, RollCall.__table__, Event.__table__, Door.__table__

Publication = tuple[str, dict[str, Any]]

MAX_STATES_PER_REQUEST = 5000
CONDITION_KINDS = tuple(k for k in rules.FLAG_KINDS if k not in rules.REGISTER_KINDS)
SEAT_POINT = "seat:"
ENTRY_WINDOW = timedelta(hours=16)  # door grants older than this never explain a sign-in
TICK_EVERY = timedelta(seconds=5)  # the whole floor's flags are minute-scale: recompute them this often
STATIC_FOR = timedelta(seconds=5)  # the seat list and who is rostered where, cached this long for the counts


class Unauthorized(ServiceError):
    """An agent-state request whose integration is unknown or whose signature is missing or wrong."""

    status = 401


# --- per-process state -------------------------------------------------------------------------------------

@dataclass
class _FloorState:
    """What one process keeps beside the database: the writers' lock, counters, caches."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    counters: dict[str, int] = field(default_factory=dict)
    entries: dict[str, datetime] = field(default_factory=dict)  # latest door grant per employee_no
    entries_checked: datetime | None = None
    last_tick: datetime | None = None
    static: tuple[datetime, set[str], set[str], dict[str, int]] | None = None  # (until, seat ids, seats assigned
    # on a running shift, seat -> floor)


def _state(ctx: ServiceContext) -> _FloorState:
    """The floor's per-process state, kept on the context (created on first use)."""
    st = getattr(ctx, "floor_state", None)
    if st is None:
        with ctx.lock:
            st = getattr(ctx, "floor_state", None)
            if st is None:
                st = _FloorState()
                ctx.floor_state = st  # type: ignore[attr-defined]
    return st


def _count(ctx: ServiceContext, key: str, n: int = 1) -> None:
    st = _state(ctx)
    with ctx.lock:
        st.counters[key] = st.counters.get(key, 0) + n


_rev_lock = threading.Lock()
_last_rev = 0


def next_rev() -> int:
    """A process-wide increasing number (microseconds since the epoch, at least one more than the last)."""
    global _last_rev
    with _rev_lock:
        _last_rev = max(_last_rev + 1, time.time_ns() // 1000)
        return _last_rev


def iso(value: datetime | None) -> str | None:
    """ISO-8601 UTC with a Z."""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


def policy(ctx: ServiceContext) -> rules.FloorPolicy:
    """The floor map's limits from config."""
    c = ctx.config
    return rules.FloorPolicy(
        not_signed_in_after=timedelta(minutes=float(c["FLOOR_NOT_SIGNED_IN_MINUTES"])),
        allowance_warn=timedelta(minutes=float(c["FLOOR_ALLOWANCE_WARN_MINUTES"])),
        allowance_limit=timedelta(minutes=float(c["FLOOR_ALLOWANCE_LIMIT_MINUTES"])),
        clock_skew=timedelta(seconds=float(c["FLOOR_CLOCK_SKEW_SECONDS"])),
        shift_end_grace=timedelta(minutes=float(c["FLOOR_SHIFT_END_GRACE_MINUTES"])),
        entry_opens_before=timedelta(minutes=float(c["ROLLCALL_OPENS_MINUTES"])),
    )


# --- loading the facts -------------------------------------------------------------------------------------

def _live_of(r: Any) -> rules.AgentLive:
    return rules.AgentLive(r.employee_no, r.seat_id, r.state, r.since, r.last_at, r.signed_in_at, r.seat_since,
                           r.other_seat, r.reason or "")


def _occurrence_keys(conn: Connection, ctx: ServiceContext, now: datetime, pol: rules.FloorPolicy
                     ) -> dict[tuple[date, str], Any]:
    """The shift occurrences the map cares about now: ended within the lookback, running, or about to open."""
    shifts = rollcall.load_shifts(conn)
    out = {}
    for occ in occurrences_around(shifts, now, ctx.tz):
        if occ.ends_at >= now - pol.end_of_shift_lookback and occ.starts_at <= now + pol.entry_opens_before:
            out[occ.key] = occ
    return out


def _entries(conn: Connection, ctx: ServiceContext, now: datetime) -> dict[str, datetime]:
    """The latest door grant per employee number (cached per process, topped up from the event log)."""
    st = _state(ctx)
    with ctx.lock:
        checked = st.entries_checked
        if checked is None or now < checked - timedelta(minutes=5):
            since, st.entries = now - ENTRY_WINDOW, {}
        else:
            since = checked - timedelta(minutes=5)  # a grant logged with its reader's slightly earlier time
        st.entries_checked = now
    rows = conn.execute(select(_log.c.at, _log.c.data).where(_log.c.kind == "door_tap", _log.c.outcome == "granted",
                                                             _log.c.at >= since)).all()
    with ctx.lock:
        for r in rows:
            try:
                emp = json.loads(r.data or "{}").get("employee_no")
            except ValueError:
                continue
            if emp and (emp not in st.entries or st.entries[emp] < r.at):
                st.entries[emp] = r.at
        return dict(st.entries)


def _facts(conn: Connection, ctx: ServiceContext, now: datetime, pol: rules.FloorPolicy,
           employees: Iterable[str] | None = None, seats: Iterable[str] | None = None,
           for_flags: bool = True) -> rules.FloorFacts:
    """The facts for the whole floor (no filters), or for some employees and seats and whoever is there.

    ``for_flags=False`` leaves out what only the flags need (roll call marks, door grants): enough for seats.
    """
    full = employees is None and seats is None
    emps, seat_ids = set(employees or ()), set(seats or ())
    q = select(_seats.c.id, _seats.c.zone_id, _seats.c.x, _seats.c.y)
    pq = select(_points.c.id, _points.c.state, _points.c.changed_at).where(_points.c.kind == "seat")
    lq = select(_live)
    if not full:
        q = q.where(_seats.c.id.in_(seat_ids))
        pq = pq.where(_points.c.id.in_([SEAT_POINT + s for s in seat_ids]))
        lq = lq.where(or_(_live.c.employee_no.in_(emps), _live.c.seat_id.in_(seat_ids)))
    sensors = {p.id[len(SEAT_POINT):]: p for p in conn.execute(pq) if p.id.startswith(SEAT_POINT)}
    seat_facts = {}
    for r in conn.execute(q):
        p = sensors.get(r.id)
        seat_facts[r.id] = rules.SeatFacts(r.id, r.zone_id, float(r.x), float(r.y), p.state if p else None,
                                           p.changed_at if p else None)
    agents = {r.employee_no: _live_of(r) for r in conn.execute(lq)}
    people = emps | set(agents)
    occs = _occurrence_keys(conn, ctx, now, pol)
    assignments: list[rules.Assignment] = []
    if occs:
        days = {d for d, _c in occs}
        rq = (select(_roster.c.day, _roster.c.shift_code, _roster.c.seat_id, _roster.c.duty, _staff.c.employee_no,
                     _staff.c.name).join(_staff, _staff.c.id == _roster.c.staff_id)
              .where(_roster.c.day.in_(days)))
        if not full:
            rq = rq.where(or_(_staff.c.employee_no.in_(people), _roster.c.seat_id.in_(seat_ids)))
        for r in conn.execute(rq):
            occ = occs.get((r.day, r.shift_code))
            if occ is not None:
                assignments.append(rules.Assignment(r.employee_no, r.name, r.seat_id, r.duty, r.shift_code, r.day,
                                                    occ.starts_at, occ.ends_at))
    people |= {a.employee_no for a in assignments}
    sq = select(_staff.c.employee_no, _staff.c.name, _staff.c.active)
    mq = (select(_rollcalls.c.day, _rollcalls.c.shift_code, _staff.c.employee_no, _att.c.status, _att.c.at)
          .join(_rollcalls, _rollcalls.c.id == _att.c.rollcall_id).join(_staff, _staff.c.id == _att.c.staff_id)
          .where(_rollcalls.c.day.in_({d for d, _c in occs} or {now.date()})))
    today = now.astimezone(ctx.tz).date()
    tq = select(_secs).where(_secs.c.day == today)
    if not full:
        sq = sq.where(_staff.c.employee_no.in_(people))
        mq = mq.where(_staff.c.employee_no.in_(people))
        tq = tq.where(_secs.c.employee_no.in_(people))
    names, inactive = {}, set()
    for r in conn.execute(sq):
        names[r.employee_no] = r.name
        if not r.active:
            inactive.add(r.employee_no)
    seconds = {(r.employee_no, r.day): (float(r.busy_seconds), float(r.wrap_seconds)) for r in conn.execute(tq)}
    if not for_flags:
        return rules.FloorFacts(tz=ctx.tz, seats=seat_facts, assignments=tuple(assignments), agents=agents,
                                seconds=seconds, names=names, inactive=frozenset(inactive))
    marks = {(r.employee_no, r.day, r.shift_code): rules.Mark(r.status, r.at) for r in conn.execute(mq)}
    door_check = conn.execute(select(_doors.c.id).where(_doors.c.readers != "").limit(1)).first() is not None
    return rules.FloorFacts(tz=ctx.tz, seats=seat_facts, assignments=tuple(assignments), agents=agents,
                            marks=marks, entries=_entries(conn, ctx, now), seconds=seconds, names=names,
                            inactive=frozenset(inactive), door_check=door_check)


# --- payloads ----------------------------------------------------------------------------------------------

def _open_clause() -> Any:
    """Flags a leader still sees: active; alarms until acknowledged; register entries until a cause is given."""
    return or_(_flags.c.cleared_at.is_(None), and_(_flags.c.severity == "alarm", _flags.c.acknowledged_at.is_(None)))


def flag_payload(r: Any, names: dict[str, str] | None = None) -> dict[str, Any]:
    """A flag as the screens get it."""
    get = r.get if isinstance(r, dict) else lambda k, d=None: getattr(r, k, d)
    register = get("kind") in rules.REGISTER_KINDS
    cleared, acked = get("cleared_at"), get("acknowledged_at")
    try:
        detail = json.loads(get("detail") or "{}")
    except ValueError:
        detail = {}
    return {"id": get("id"), "kind": get("kind"), "rule": get("rule"), "severity": get("severity"),
            "employee_no": get("employee_no"), "name": (names or {}).get(get("employee_no") or "", None),
            "seat": get("seat_id"), "since": iso(get("since")), "message": get("message"), "detail": detail,
            "raised_at": iso(get("raised_at")), "cleared_at": iso(cleared), "acknowledged_at": iso(acked),
            "acknowledged_by": get("acknowledged_by"), "cause": get("cause"), "comment": get("comment"),
            "register": register, "needs_cause": register and get("cause") is None,
            "open": cleared is None or (get("severity") == "alarm" and acked is None),
            "rev": next_rev()}


def _person(a: rules.Assignment | None, now: datetime) -> dict[str, Any] | None:
    if a is None:
        return None
    return {"employee_no": a.employee_no, "name": a.name, "shift": a.shift, "day": a.day.isoformat(),
            "starts_at": iso(a.starts_at), "ends_at": iso(a.ends_at), "in_progress": a.in_progress(now)}


def _agent(facts: rules.FloorFacts, live: rules.AgentLive, now: datetime) -> dict[str, Any]:
    today = now.astimezone(facts.tz).date()
    busy, wrap = rules.day_seconds(facts.seconds.get((live.employee_no, today), (0.0, 0.0)), live, today, now,
                                   facts.tz)
    return {"employee_no": live.employee_no, "name": facts.names.get(live.employee_no), "state": live.state,
            "since": iso(live.since), "signed_in_at": iso(live.signed_in_at), "seat_since": iso(live.seat_since),
            "busy_seconds": round(busy, 1), "wrap_up_seconds": round(wrap, 1), "as_of": iso(now)}


def _seat_payloads(facts: rules.FloorFacts, open_flags: list[Any], now: datetime, pol: rules.FloorPolicy,
                   seat_ids: Iterable[str] | None = None, rev: int | None = None) -> list[dict[str, Any]]:
    """The given seats (default: all in the facts) as the map shows them."""
    _by_person, by_seat, at_seat = rules.index(facts)
    flags_by_seat: dict[str, list[int]] = {}
    flags_by_emp: dict[str, list[int]] = {}
    for f in open_flags:
        if f.seat_id:
            flags_by_seat.setdefault(f.seat_id, []).append(f.id)
        if f.employee_no:
            flags_by_emp.setdefault(f.employee_no, []).append(f.id)
    out = []
    for sid in sorted(facts.seats if seat_ids is None else seat_ids):
        sf = facts.seats.get(sid)
        if sf is None:
            continue
        agents = sorted(at_seat.get(sid, []), key=lambda a: a.last_at, reverse=True)
        current, successor = rules.seat_assignments(by_seat.get(sid, []), now, pol)
        status, mismatch = rules.seat_status(sf.sensor, agents, current)
        ids = set(flags_by_seat.get(sid, []))
        for a in agents:
            ids.update(flags_by_emp.get(a.employee_no, []))
        out.append({"seat": sid, "zone": sf.zone, "x": sf.x, "y": sf.y,
                    "sensor": sf.sensor or "none", "sensor_at": iso(sf.sensor_at),
                    "status": status, "mismatch": mismatch,
                    "agent": _agent(facts, agents[0], now) if agents else None,
                    "also_signed_in": [_agent(facts, a, now) for a in agents[1:]],
                    "assigned": _person(current, now), "next": _person(successor, now),
                    "flags": sorted(ids), "rev": next_rev() if rev is None else rev})
    return out


def _open_flags(conn: Connection) -> list[Any]:
    return conn.execute(select(_flags).where(_open_clause()).order_by(_flags.c.raised_at, _flags.c.id)).all()


# --- flags -------------------------------------------------------------------------------------------------

def _sync_flags(conn: Connection, computed: list[rules.Flag], now: datetime, employees: set[str] | None = None,
                seats: set[str] | None = None) -> list[Any]:
    """Raise the computed flags not yet open, clear the open ones in scope not computed; return rows changed."""
    q = select(_flags).where(_flags.c.cleared_at.is_(None), _flags.c.kind.in_(CONDITION_KINDS))
    if employees is not None or seats is not None:
        q = q.where(or_(and_(_flags.c.kind.not_in(rules.SEAT_KINDS), _flags.c.employee_no.in_(employees or ())),
                        and_(_flags.c.kind.in_(rules.SEAT_KINDS), _flags.c.seat_id.in_(seats or ()))))
    existing = {r.key: r for r in conn.execute(q)}
    wanted = {f.key: f for f in computed}
    changed_ids: list[int] = []
    logs = []
    for key, f in wanted.items():
        if key in existing:
            continue
        values = {"key": key, "kind": f.kind, "rule": f.rule, "severity": f.severity, "employee_no": f.employee_no,
                  "seat_id": f.seat, "since": f.since or now, "message": f.message[:300],
                  "detail": json.dumps(dict(f.detail), ensure_ascii=False, default=str), "raised_at": now}
        changed_ids.append(conn.execute(insert(_flags).values(**values)).inserted_primary_key[0])
        logs.append({"at": now, "kind": "floor_flag_raised", "actor": "kiosk", "subject": f.employee_no or f.seat or "",
                     "outcome": f.kind, "reason": f.message, "rule": f.rule, "data": {"seat": f.seat, "key": key}})
    for key, r in existing.items():
        if key not in wanted:
            conn.execute(update(_flags).where(_flags.c.id == r.id, _flags.c.cleared_at.is_(None))
                         .values(cleared_at=now))
            changed_ids.append(r.id)
            logs.append({"at": now, "kind": "floor_flag_cleared", "actor": "kiosk",
                         "subject": r.employee_no or r.seat_id or "", "outcome": r.kind, "rule": r.rule,
                         "reason": "the condition no longer holds", "data": {"seat": r.seat_id, "id": r.id}})
    log_events(conn, logs)
    if not changed_ids:
        return []
    return conn.execute(select(_flags).where(_flags.c.id.in_(changed_ids))).all()


def _register(conn: Connection, flag: rules.Flag, now: datetime) -> Any:
    """Put an event flag (§8.9) in the leader's register once; return its row, or None if it is there already."""
    found = conn.execute(select(_flags.c.id).where(_flags.c.key == flag.key, _flags.c.cleared_at.is_(None))).first()
    if found is not None:
        return None
    fid = conn.execute(insert(_flags).values(
        key=flag.key, kind=flag.kind, rule=flag.rule, severity=flag.severity, employee_no=flag.employee_no,
        seat_id=flag.seat, since=flag.since or now, message=flag.message[:300],
        detail=json.dumps(dict(flag.detail), ensure_ascii=False, default=str), raised_at=now)).inserted_primary_key[0]
    log_event(conn, at=now, kind="floor_flag_raised", actor="kiosk", subject=flag.employee_no or "",
              outcome=flag.kind, reason=flag.message, rule=flag.rule, data={"seat": flag.seat, "key": flag.key})
    return conn.execute(select(_flags).where(_flags.c.id == fid)).first()


def _changes(conn: Connection, facts: rules.FloorFacts, now: datetime, pol: rules.FloorPolicy,
             seats: set[str], flag_rows: list[Any]) -> list[Publication]:
    """One ``floor_changed`` publication for the seats touched and the flags changed (nothing if neither).

    Each seat and flag carries its ``floor_id``: the coalescing push sends each floor its own.
    """
    seats = set(seats) | {r.seat_id for r in flag_rows if r.seat_id}
    emps = {r.employee_no for r in flag_rows if r.employee_no}
    seats |= {a.seat for a in facts.agents.values() if a.employee_no in emps and a.active and a.seat}
    seats &= set(facts.seats)
    if not seats and not flag_rows:
        return []
    rev = next_rev()
    where = _seat_floors(conn, seats | {r.seat_id for r in flag_rows if r.seat_id})
    seat_payloads = _seat_payloads(facts, _open_flags(conn), now, pol, seats, rev=rev)
    for sp in seat_payloads:
        sp["floor_id"] = where.get(sp["seat"])
    return [("floor_changed", {"seats": seat_payloads,
                               "flags": [{**flag_payload(r, dict(facts.names)), "floor_id": where.get(r.seat_id)}
                                         for r in flag_rows], "rev": rev})]


def _seat_floors(conn: Connection, seat_ids: Iterable[str | None] | None = None) -> dict[str, int]:
    """Seat id -> the floor of its zone (every seat, or the ones named)."""
    q = select(_seats.c.id, _zones.c.floor_id).join(_zones, _zones.c.id == _seats.c.zone_id)
    if seat_ids is not None:
        ids = [s for s in seat_ids if s]
        if not ids:
            return {}
        q = q.where(_seats.c.id.in_(ids))
    return {r.id: r.floor_id for r in conn.execute(q)}


# --- the seat-sensor hook ----------------------------------------------------------------------------------

def apply_point_changes(ctx: ServiceContext, conn: Connection, changes: list[dict[str, Any]], now: datetime
                        ) -> list[Publication]:
    """Seat sensor changes of a gateway batch, inside its transaction: the seats' new payloads to publish.

    Reads only: the seat flags these changes may raise or clear (§7.3) are decided by :func:`tick`.
    """
    seat_ids = {ch["point"][len(SEAT_POINT):] for ch in changes
                if ch.get("kind") == "seat" and str(ch.get("point", "")).startswith(SEAT_POINT)}
    if not seat_ids:
        return []
    pol = policy(ctx)
    facts = _facts(conn, ctx, now, pol, employees=(), seats=seat_ids, for_flags=False)
    return _changes(conn, facts, now, pol, seat_ids, [])


# --- agent states ------------------------------------------------------------------------------------------

def cti_secrets(config: dict[str, Any]) -> dict[str, bytes]:
    """Parse ``CTI_SECRETS`` ("platform-a=secret,platform-b=secret2")."""
    out: dict[str, bytes] = {}
    for part in str(config.get("CTI_SECRETS") or "").split(","):
        if "=" in part:
            name, secret = part.split("=", 1)
            if name.strip() and secret.strip():
                out[name.strip()] = secret.strip().encode()
    return out


def sign(secret: bytes, body: bytes) -> str:
    """The X-Signature header value for a body: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _refuse_request(ctx: ServiceContext, actor: str, code: str, message: str,
                    exc_type: type[ServiceError]) -> NoReturn:
    logger.warning("agent states from %s refused: %s", actor, message)
    _count(ctx, "refused_requests")
    _count(ctx, f"refused:{code}")
    with ctx.engine.begin() as conn:
        log_event(conn, at=ctx.now(), kind="agent_states_refused", actor=actor[:64], outcome=code, reason=message)
    raise exc_type(code, message)


def verify(ctx: ServiceContext, integration: str | None, body: bytes, signature: str | None) -> str:
    """The integration a signed body comes from; refuse (401) an unknown one or a missing or wrong signature."""
    secrets = cti_secrets(ctx.config)
    name = (integration or "").strip()
    if not name and len(secrets) == 1:
        name = next(iter(secrets))  # one platform configured: the header may be left out
    secret = secrets.get(name)
    reason = None
    if not secrets:
        reason = "no call platform is configured: set KIOSK_CTI_SECRETS (integration=secret)"
    elif secret is None:
        reason = (f"integration {name!r} is not configured (add it to KIOSK_CTI_SECRETS)" if name else
                  "the request has no X-Integration header and several integrations are configured")
    elif not signature:
        reason = "the request has no X-Signature header (sha256=<hex HMAC-SHA256 of the body>)"
    elif not hmac.compare_digest(sign(secret, body), signature.strip()):
        reason = "the X-Signature does not match the body: check the integration's shared secret"
    if reason is not None:
        _refuse_request(ctx, f"cti:{name or '?'}", "bad_signature", reason, Unauthorized)
    return name


def ingest(ctx: ServiceContext, integration: str | None, body: bytes, signature: str | None) -> dict[str, Any]:
    """Verify, parse and accept a signed body of agent states: one object or a list of them."""
    name = verify(ctx, integration, body, signature)
    actor = f"cti:{name}"
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _refuse_request(ctx, actor, "malformed_json", f"the body is not JSON: {exc}", ServiceError)
    items = doc if isinstance(doc, list) else [doc] if isinstance(doc, dict) else None
    if items is None:
        _refuse_request(ctx, actor, "malformed_body", "the body must be an agent-state object or a list of them",
                        ServiceError)
    if len(items) > MAX_STATES_PER_REQUEST:
        _refuse_request(ctx, actor, "too_many_states", f"at most {MAX_STATES_PER_REQUEST} states per request",
                        ServiceError)
    return accept_states(ctx, items, source=name)


def accept_states(ctx: ServiceContext, items: list[Any], source: str) -> dict[str, Any]:
    """Validate, store and apply agent states in one transaction; publish what changed after the commit.

    Used by the HTTP endpoint after its signature check, and directly by in-process platform adapters.
    """
    now = ctx.now()
    pol = policy(ctx)
    actor = f"cti:{source}"[:64]
    st = _state(ctx)
    refused: list[dict[str, Any]] = []
    accepted = duplicates = out_of_order = 0
    pubs: list[Publication] = []
    with st.lock, ctx.engine.begin() as conn:
        emps = {i["employee_no"].strip() for i in items
                if isinstance(i, dict) and isinstance(i.get("employee_no"), str)}
        named_seats = {i["seat"].strip() for i in items if isinstance(i, dict) and isinstance(i.get("seat"), str)}
        staff = {r.employee_no: r.name for r in conn.execute(
            select(_staff.c.employee_no, _staff.c.name).where(_staff.c.employee_no.in_(emps)))} if emps else {}
        seats = {r.id for r in conn.execute(select(_seats.c.id).where(_seats.c.id.in_(named_seats)))} \
            if named_seats else set()
        events: list[tuple[int, rules.AgentStateEvent]] = []
        for i, item in enumerate(items):
            got = rules.parse_state(item, staff, seats, now, pol)
            if isinstance(got, rules.Refusal):
                refused.append({"index": i, "error": got.code, "message": got.message, "employee_no": got.employee_no,
                                "seat": got.seat})
            else:
                events.append((i, got))
        live = {r.employee_no: _live_of(r) for r in conn.execute(
            select(_live).where(_live.c.employee_no.in_({e.employee_no for _i, e in events})))} if events else {}
        before = dict(live)
        seen = set()
        if events:
            seen = {(r.employee_no, r.at, r.state, r.seat_id) for r in conn.execute(
                select(_events.c.employee_no, _events.c.at, _events.c.state, _events.c.seat_id).where(
                    _events.c.employee_no.in_({e.employee_no for _i, e in events}),
                    _events.c.at.in_({e.at for _i, e in events})))}
        rows, closed, signouts = [], [], []
        for _i, ev in events:
            ident = (ev.employee_no, ev.at, ev.state, ev.seat)
            if ident in seen:
                duplicates += 1  # a retry of something already stored: acknowledged, not stored twice
                continue
            seen.add(ident)
            t = rules.apply_event(live.get(ev.employee_no), ev)
            rows.append({"integration": source[:64], "employee_no": ev.employee_no, "seat_id": ev.seat,
                         "state": ev.state, "at": ev.at, "received_at": now, "reason": ev.reason[:200],
                         "out_of_order": not t.applied})
            accepted += 1
            if not t.applied:
                out_of_order += 1
                continue
            live[ev.employee_no] = t.live
            if t.closed is not None:
                closed.append((ev.employee_no, t.closed))
            signouts.append((t, ev))
        if rows:
            conn.execute(insert(_events), rows)
        for emp, lv in live.items():
            if before.get(emp) != lv:
                _save_live(conn, lv)
        _add_seconds(conn, ctx, closed)
        if refused:
            log_events(conn, [{"at": now, "kind": "agent_state_refused", "actor": actor,
                               "subject": (r["employee_no"] or "")[:64], "outcome": r["error"],
                               "reason": r["message"], "data": {"index": r["index"], "seat": r["seat"]}}
                              for r in refused])
        touched_emps = {emp for emp in live if before.get(emp) != live[emp]}
        if touched_emps:
            touched_seats = {lv.seat for lv in live.values() if lv.employee_no in touched_emps and lv.seat}
            touched_seats |= {b.seat for e, b in before.items() if e in touched_emps and b.seat}
            facts = _facts(conn, ctx, now, pol, employees=touched_emps, seats=touched_seats)
            flag_rows = []
            by_person, _s, _a = rules.index(facts)
            for t, ev in signouts:
                f = rules.check_signout(t, ev, by_person.get(ev.employee_no, []), pol, ctx.tz,
                                        facts.names.get(ev.employee_no, ""))
                if f is not None:
                    row = _register(conn, f, now)
                    if row is not None:
                        flag_rows.append(row)
            computed = rules.compute_flags(facts, now, pol, employees=touched_emps, seats=touched_seats)
            flag_rows += _sync_flags(conn, computed, now, touched_emps, touched_seats)
            pubs = _changes(conn, facts, now, pol, touched_seats, flag_rows)
    _count(ctx, "accepted", accepted)
    _count(ctx, "duplicates", duplicates)
    _count(ctx, "out_of_order", out_of_order)
    _count(ctx, "refused", len(refused))
    for r in refused:
        _count(ctx, f"refused:{r['error']}")
        logger.warning("agent state %s from %s refused: %s", r["index"], actor, r["message"])
    publish_all(ctx, pubs)
    return {"ok": not refused, "accepted": accepted, "duplicates": duplicates, "out_of_order": out_of_order,
            "refused": refused}


def _save_live(conn: Connection, lv: rules.AgentLive) -> None:
    values = {"seat_id": lv.seat, "state": lv.state, "since": lv.since, "last_at": lv.last_at,
              "signed_in_at": lv.signed_in_at, "seat_since": lv.seat_since, "other_seat": lv.other_seat,
              "reason": lv.reason[:200]}
    if not conn.execute(update(_live).where(_live.c.employee_no == lv.employee_no).values(**values)).rowcount:
        conn.execute(insert(_live).values(employee_no=lv.employee_no, **values))


def _add_seconds(conn: Connection, ctx: ServiceContext, closed: list[tuple[str, rules.Interval]]) -> None:
    """§8.8: add closed busy and wrap-up intervals to each local day they fall in."""
    adds: dict[tuple[str, date], tuple[float, float]] = {}
    for emp, interval in closed:
        for day, (busy, wrap) in rules.add_interval({}, interval, ctx.tz).items():
            b, w = adds.get((emp, day), (0.0, 0.0))
            adds[(emp, day)] = (b + busy, w + wrap)
    for (emp, day), (busy, wrap) in adds.items():
        found = conn.execute(update(_secs).where(_secs.c.employee_no == emp, _secs.c.day == day).values(
            busy_seconds=_secs.c.busy_seconds + busy, wrap_seconds=_secs.c.wrap_seconds + wrap)).rowcount
        if not found:
            conn.execute(insert(_secs).values(employee_no=emp, day=day, busy_seconds=busy, wrap_seconds=wrap))


# --- time passing ------------------------------------------------------------------------------------------

def _boundaries(facts: rules.FloorFacts, pol: rules.FloorPolicy) -> set[datetime]:
    """Instants at which what a seat shows changes by itself: roll call opens, shifts start and end."""
    out = set()
    for a in facts.assignments:
        out |= {a.starts_at - pol.entry_opens_before, a.starts_at, a.ends_at, a.ends_at + pol.shift_end_grace}
    return out


def tick(ctx: ServiceContext) -> list[Publication]:
    """Recompute every flag of the floor (time-based ones included); republish all seats at shift boundaries.

    Called every second by the runtime; does the work at most every ``TICK_EVERY``.
    """
    now = ctx.now()
    pol = policy(ctx)
    st = _state(ctx)
    if st.last_tick is not None and st.last_tick <= now < st.last_tick + TICK_EVERY:
        return []
    with st.lock, ctx.engine.begin() as conn:
        facts = _facts(conn, ctx, now, pol)
        computed = rules.compute_flags(facts, now, pol)
        flag_rows = _sync_flags(conn, computed, now)
        last, st.last_tick = st.last_tick, now
        crossed = last is not None and last < now and any(last < b <= now for b in _boundaries(facts, pol))
        pubs = _changes(conn, facts, now, pol, set(facts.seats) if crossed else set(), flag_rows)
    publish_all(ctx, pubs)
    return pubs


# --- leader's register -------------------------------------------------------------------------------------

def _leader_action(ctx: ServiceContext, kiosk_id: str, flag_id: int, action: str, pin: bool) -> Any:
    """The leader at this kiosk, or a refusal logged against the flag; ``pin``: the action needs the PIN."""
    try:
        return rollcall.require_leader(ctx, kiosk_id, pin=pin)
    except ServiceError as exc:
        with ctx.engine.begin() as conn:
            log_event(conn, at=ctx.now(), kind="floor_flag_action_refused", actor=f"kiosk:{kiosk_id}",
                      subject=str(flag_id), outcome=exc.code, reason=f"{action}: {exc.message}")
        raise


def _after_leader_action(ctx: ServiceContext, conn: Connection, row: Any, now: datetime) -> list[Publication]:
    pol = policy(ctx)
    emps = {row.employee_no} if row.employee_no else set()
    seats = {row.seat_id} if row.seat_id else set()
    facts = _facts(conn, ctx, now, pol, employees=emps, seats=seats)
    return _changes(conn, facts, now, pol, seats, [row])


def acknowledge_flag(ctx: ServiceContext, kiosk_id: str, flag_id: int) -> dict[str, Any]:
    """The leader identified at this kiosk acknowledges a flag (an unexplained sign-out needs its cause instead)."""
    # Acknowledging a flag is acknowledging an alert: the badge alone does it.
    who = _leader_action(ctx, kiosk_id, flag_id, "acknowledge", pin=False)
    now = ctx.now()
    with _state(ctx).lock, ctx.engine.begin() as conn:
        row = conn.execute(select(_flags).where(_flags.c.id == flag_id)).first()
        if row is None:
            raise NotFound("no_such_flag", f"Flag {flag_id} does not exist.")
        if row.kind in rules.REGISTER_KINDS:
            raise ServiceError("cause_required", "Record the cause of this sign-out (equipment failure, system "
                                                 "failure or other) instead.")
        if row.acknowledged_at is not None:
            raise ServiceError("already_acknowledged", f"Flag {flag_id} was already acknowledged by "
                                                       f"{row.acknowledged_by}.")
        conn.execute(update(_flags).where(_flags.c.id == flag_id).values(acknowledged_at=now,
                                                                        acknowledged_by=who.employee_no))
        log_event(conn, at=now, kind="floor_flag_acknowledged", actor=who.employee_no, subject=str(flag_id),
                  outcome=row.kind, reason=row.message, rule=row.rule,
                  data={"employee_no": row.employee_no, "seat": row.seat_id})
        row = conn.execute(select(_flags).where(_flags.c.id == flag_id)).first()
        pubs = _after_leader_action(ctx, conn, row, now)
    publish_all(ctx, pubs)
    logger.info("floor flag %s (%s) acknowledged by %s", flag_id, row.kind, who.employee_no)
    return {"flag": flag_payload(row)}


def record_signout_cause(ctx: ServiceContext, kiosk_id: str, flag_id: int, cause: str, comment: str = ""
                         ) -> dict[str, Any]:
    """§8.9: the leader records why an operator left the platform mid-shift; the register entry is closed."""
    who = _leader_action(ctx, kiosk_id, flag_id, "record cause", pin=True)  # a register entry: badge + PIN
    if cause not in rules.SIGNOUT_CAUSES:
        raise ServiceError("bad_cause", f"Choose a cause: {', '.join(rules.SIGNOUT_CAUSES)}.")
    comment = (comment or "").strip()[:300]
    if cause == "other" and not comment:
        raise ServiceError("comment_required", "Say what happened when the cause is 'other'.")
    now = ctx.now()
    with _state(ctx).lock, ctx.engine.begin() as conn:
        row = conn.execute(select(_flags).where(_flags.c.id == flag_id)).first()
        if row is None:
            raise NotFound("no_such_flag", f"Flag {flag_id} does not exist.")
        if row.kind not in rules.REGISTER_KINDS:
            raise ServiceError("not_a_signout", f"Flag {flag_id} is a {row.kind}, not an unexplained sign-out: "
                                                "acknowledge it instead.")
        if row.cause is not None:
            raise ServiceError("already_recorded", f"The cause of flag {flag_id} was already recorded by "
                                                   f"{row.acknowledged_by}: {row.cause}.")
        conn.execute(update(_flags).where(_flags.c.id == flag_id).values(
            cause=cause, comment=comment or None, acknowledged_at=now, acknowledged_by=who.employee_no,
            cleared_at=row.cleared_at or now))
        log_event(conn, at=now, kind="signout_cause_recorded", actor=who.employee_no, subject=row.employee_no or "",
                  outcome=cause, reason=comment, rule=row.rule, data={"flag": flag_id, "seat": row.seat_id})
        row = conn.execute(select(_flags).where(_flags.c.id == flag_id)).first()
        pubs = _after_leader_action(ctx, conn, row, now)
    publish_all(ctx, pubs)
    logger.info("sign-out cause for flag %s recorded by %s: %s", flag_id, who.employee_no, cause)
    return {"flag": flag_payload(row)}


# --- what the screens get ----------------------------------------------------------------------------------

def floor_snapshot(ctx: ServiceContext, scope: floors.Scope = None) -> dict[str, Any]:
    """The whole map of the floors in ``scope`` (None: every floor): every seat, placed doors and kiosks,
    counts, open flags (a flag of no seat shows on every floor), policy and ingest counters (sent on every
    connect)."""
    now = ctx.now()
    pol = policy(ctx)
    with ctx.engine.connect() as conn:
        facts = _facts(conn, ctx, now, pol)
        flags = _open_flags(conn)
        where = _seat_floors(conn)
        # rev 0: a snapshot replaces the screen's map, and every later floor_changed applies over it.
        seats = [{**sp, "floor_id": where.get(sp["seat"])} for sp in _seat_payloads(facts, flags, now, pol, rev=0)]
        seats = [sp for sp in seats if scope is None or sp["floor_id"] in scope]
        flags = [f for f in flags if scope is None or not f.seat_id or where.get(f.seat_id) in scope]
        zones = [{"zone": z.id, "name": z.name, "floor_id": z.floor_id} for z in conn.execute(
            select(_zones).where(floors.in_scope(_zones.c.floor_id, scope)).order_by(_zones.c.id))]
    with ctx.lock:
        counters = dict(_state(ctx).counters)
    from kiosk.services import floorplan  # late: the editor's module builds on this one

    return {"now": iso(now), "seats": seats, "zones": zones, "counts": rules.counts(seats),
            **floorplan.markers_payload(ctx, scope),  # placed doors (with their live state) and kiosk screens
            "flags": [{**flag_payload(f, dict(facts.names)), "floor_id": where.get(f.seat_id)} for f in flags],
            "policy": {"not_signed_in_minutes": pol.not_signed_in_after.total_seconds() / 60,
                       "allowance_warn_minutes": pol.allowance_warn.total_seconds() / 60,
                       "allowance_limit_minutes": pol.allowance_limit.total_seconds() / 60,
                       "shift_end_grace_minutes": pol.shift_end_grace.total_seconds() / 60,
                       "push_interval_seconds": float(ctx.config["FLOOR_PUSH_INTERVAL_SECONDS"])},
            "ingest": counters}


def invalidate_seats(ctx: ServiceContext) -> None:
    """Forget the cached seat list, so the next counts read the seats as they are now (plan edited)."""
    st = _state(ctx)
    with ctx.lock:
        st.static = None


def plan_changed(ctx: ServiceContext) -> list[Publication]:
    """After the floor plan editor's commit: the seat cache dropped, and every seat (new positions, new
    revs) in one ``floor_changed``, so every map lays the floor out again without a reconnect."""
    invalidate_seats(ctx)
    now = ctx.now()
    pol = policy(ctx)
    with ctx.engine.connect() as conn:
        facts = _facts(conn, ctx, now, pol, for_flags=False)
        where = _seat_floors(conn)
        seats = [{**sp, "floor_id": where.get(sp["seat"])} for sp in _seat_payloads(facts, _open_flags(conn), now, pol)]
    rev = max([s["rev"] for s in seats] or [next_rev()])
    return [("floor_changed", {"seats": seats, "flags": [], "rev": rev, "layout": True})]


_SEAT_SENSORS = select(_points.c.id, _points.c.state).where(_points.c.kind == "seat",
                                                            _points.c.state.in_((rules.OCCUPIED, rules.VACANT)))
_ACTIVE_AGENTS = select(_live.c.seat_id, _live.c.state).where(_live.c.state != rules.SIGNED_OUT)


def floor_counts(ctx: ServiceContext, floor_id: int | None = None) -> dict[str, int]:
    """The map's counts only (what every coalesced push carries), of one floor (None: every floor): a few
    small queries, no flags."""
    now = ctx.now()
    pol = policy(ctx)
    st = _state(ctx)
    with ctx.engine.connect() as conn:
        static = st.static
        if static is None or not static[0] - STATIC_FOR <= now < static[0]:
            seat_floor = _seat_floors(conn)
            seats = set(seat_floor)
            occs = list(_occurrence_keys(conn, ctx, now, pol).values())
            running = [o for o in occs if o.starts_at <= now < o.ends_at]
            assigned: set[str] = set()
            if running:
                assigned = {r.seat_id for r in conn.execute(select(_roster.c.seat_id).where(
                    _roster.c.seat_id.is_not(None),
                    or_(*[and_(_roster.c.day == o.day, _roster.c.shift_code == o.shift.code) for o in running])))}
            # Good until a shift starts or ends, and for a few seconds at most (a roster import shows soon).
            until = min([now + STATIC_FOR] + [t for o in occs for t in (o.starts_at, o.ends_at) if t > now])
            static = st.static = (until, seats, assigned, seat_floor)
        _until, seats, assigned, seat_floor = static
        if floor_id is not None:
            seats = {s for s in seats if seat_floor.get(s) == floor_id}
        sensors = {p.id[len(SEAT_POINT):]: p.state for p in conn.execute(_SEAT_SENSORS)}
        agents = conn.execute(_ACTIVE_AGENTS).all()
    occupied = {s for s, state in sensors.items() if state == rules.OCCUPIED} & seats
    vacant = {s for s, state in sensors.items() if state == rules.VACANT} & seats
    taken = {a.seat_id for a in agents if a.seat_id in seats}
    out = dict.fromkeys(rules.COUNT_KEYS, 0)
    out["seats"] = len(seats)
    out["occupied"] = len(occupied)
    out["on_floor"] = len(occupied | taken)
    for a in agents:
        if a.seat_id in seats:
            out["signed_in"] += 1
            out["signed_in_idle" if a.state == rules.SIGNED_IN else a.state] += 1
    out["empty_assigned"] = len((assigned & seats) - occupied - taken)
    out["mismatched"] = len(occupied - taken) + len(taken & vacant)
    return out


def publish_all(ctx: ServiceContext, pubs: list[Publication]) -> None:
    """Publish, after the commit, what a transaction produced."""
    for name, payload in pubs:
        ctx.publish(name, payload)


# --- coalesced pushes --------------------------------------------------------------------------------------

Schedule = Callable[[float, Callable[[], None]], Any]


def _timer(delay: float, fn: Callable[[], None]) -> Any:
    t = threading.Timer(delay, fn)
    t.daemon = True
    t.start()
    return t


class FloorPush:
    """Coalesces ``floor_changed`` publications; every other publication passes straight through.

    A change arriving when the last push is at least ``interval`` seconds old goes out at once (a lone
    change is never held back). A change arriving sooner waits for one push at ``last push + interval``
    that carries everything that arrived meanwhile: the newest payload of each seat and each flag (by
    ``rev``), and the counts as they are at that moment. So a burst of 300 changes over a second is
    about six pushes, and no change waits longer than ``interval``. ``clock`` and ``schedule`` are
    injectable so tests move time by hand.
    """

    def __init__(self, emit: Callable[[str, dict[str, Any]], None], interval: float,
                 counts: Callable[[Any], dict[str, int]] | None = None, clock: Callable[[], float] = time.monotonic,
                 schedule: Schedule = _timer) -> None:
        self._emit = emit
        self.interval = max(0.0, float(interval))
        self._counts = counts
        self._clock = clock
        self._schedule = schedule
        self._lock = threading.Lock()
        self._emit_lock = threading.Lock()
        self._seats: dict[str, dict[str, Any]] = {}
        self._flags: dict[Any, dict[str, Any]] = {}
        self._emitted: dict[str, int] = {}  # seat -> rev last pushed: an older payload is never pushed after it
        self._last_push = -math.inf
        self._waiting = False
        self.pushes = 0
        self.changes = 0

    def publish(self, name: str, payload: dict[str, Any]) -> None:
        """A publisher: ``floor_changed`` is coalesced, anything else is emitted as it comes."""
        if name != "floor_changed":
            self._emit(name, payload)
            return
        self.add(payload)

    def add(self, payload: dict[str, Any]) -> None:
        """Take one change's seats and flags; push now, or make sure a push is due within the interval."""
        with self._lock:
            for s in payload.get("seats") or ():
                old = self._seats.get(s["seat"])
                if old is None or old.get("rev", 0) <= s.get("rev", 0):
                    self._seats[s["seat"]] = s
            for f in payload.get("flags") or ():
                old = self._flags.get(f["id"])
                if old is None or old.get("rev", 0) <= f.get("rev", 0):
                    self._flags[f["id"]] = f
            self.changes += 1
            if self._waiting:
                return
            wait = self._last_push + self.interval - self._clock()
            if wait > 0:
                self._waiting = True
                self._schedule(wait, self.flush)
                return
        self.flush()

    def flush(self) -> None:
        """Push everything pending now: one ``floor_changed`` per floor, each with that floor's counts (flags
        of no one floor go to every screen, without counts)."""
        with self._emit_lock:
            with self._lock:
                self._waiting = False
                seats = [s for sid, s in self._seats.items() if s.get("rev", 0) >= self._emitted.get(sid, 0)]
                flags = list(self._flags.values())
                self._seats, self._flags = {}, {}
                if not seats and not flags:
                    return
                self._last_push = self._clock()
                for s in seats:
                    self._emitted[s["seat"]] = s.get("rev", 0)
            groups: dict[Any, dict[str, list[dict[str, Any]]]] = {}
            for s in seats:
                groups.setdefault(s.get("floor_id"), {"seats": [], "flags": []})["seats"].append(s)
            for f in flags:
                groups.setdefault(f.get("floor_id"), {"seats": [], "flags": []})["flags"].append(f)
            for floor_id, group in groups.items():
                payload: dict[str, Any] = {**group, "floor_id": floor_id,
                                           "rev": max([x.get("rev", 0) for x in group["seats"] + group["flags"]]
                                                      or [0])}
                if self._counts is not None and floor_id is not None:  # flags alone do not change the counts
                    try:
                        payload["counts"] = self._counts(floor_id)
                    except Exception:  # counts are a convenience; the seats must still go out
                        logger.exception("floor counts failed; pushing the seats without them")
                self.pushes += 1
                try:
                    self._emit("floor_changed", payload)
                except Exception:
                    logger.exception("floor_changed push failed")
