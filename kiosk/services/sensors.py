"""Sensor events from floor_sensors gateways: verified, validated, stored once, live state updated, published.

A gateway posts batches of events signed with HMAC-SHA256 over the body. The server answers only after
its own commit, naming each event it accepted (stored now, or already stored earlier: the id is the
idempotency key) and each it refused with the reason; the gateway deletes both from its outbox.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from kiosk.devices.base import ReaderHealth
from kiosk.services import doors, floor, floors
from kiosk.services.context import ServiceContext
from kiosk.services.errors import ServiceError, StorageUnavailable
from kiosk.store.db import write_transaction
from kiosk.store.eventlog import canonical_json, log_event, log_events
from kiosk.store.lean import Prepared
from kiosk.store.models import POINT_KINDS, Gateway, Point, SensorEvent

logger = logging.getLogger(__name__)

_gw, _points, _sev = Gateway.__table__, Point.__table__, SensorEvent.__table__

# Prebuilt: every sensor batch runs these, so they are built and cache-keyed once.
_POINTS_NAMED = select(_points).where(_points.c.id.in_(bindparam("ids", expanding=True)))
_STORED_IDS = select(_sev.c.event_id).where(_sev.c.event_id.in_(bindparam("ids", expanding=True)))
_INSERT_EVENTS = insert(_sev)
_UPDATE_POINT = (update(_points).where(_points.c.id == bindparam("_id"))
                 .values(state=bindparam("_state"), changed_at=bindparam("_changed_at"),
                         reconciled=bindparam("_reconciled"), gateway_id=bindparam("_gateway_id")))
_GATEWAY_SILENT = select(_gw.c.silent, _gw.c.health).where(_gw.c.id == bindparam("_id"))
# Gateways that are readers on other PCs (``kiosk reader``) report them under "readers" in their health.
_READER_GATEWAYS = select(_gw.c.id, _gw.c.silent, _gw.c.last_seen_at, _gw.c.health).where(
    _gw.c.health.like('%"readers"%'))
READER_STATES = frozenset(h.value for h in ReaderHealth)
_INSERT_GATEWAY = insert(_gw)
_GATEWAY_HEARD = (update(_gw).where(_gw.c.id == bindparam("_id"))
                  .values(last_seen_at=bindparam("_seen"), silent=False, health=bindparam("_health")))
# The usual batch is one change of one point: its statements run straight on the driver (kiosk.store.lean).
_POINT_ONE = Prepared(select(_points).where(_points.c.id == bindparam("id")))
_STORED_ID_ONE = Prepared(select(_sev.c.event_id).where(_sev.c.event_id == bindparam("id")))
_INSERT_EVENTS_LEAN = Prepared(_INSERT_EVENTS, keys=("event_id", "gateway_id", "type", "point_id", "state", "previous",
                                                     "reconciled", "at", "received_at", "data"))
_UPDATE_POINT_LEAN = Prepared(_UPDATE_POINT)
_GATEWAY_SILENT_LEAN = Prepared(_GATEWAY_SILENT)
_GATEWAY_HEARD_LEAN = Prepared(_GATEWAY_HEARD)

STATES: dict[str, tuple[str, ...]] = {
    "door": ("open", "closed", "unknown", "tamper", "fault"),
    "equipment": ("open", "closed", "unknown", "tamper", "fault"),
    "exit_button": ("pressed", "released", "unknown", "tamper", "fault"),
    "seat": ("occupied", "vacant", "unknown", "tamper", "fault"),
}
EVENT_TYPES = ("point_changed", "node_health", "overflow", "badge_tap")
MAX_EVENTS_PER_BATCH = 5000
# Points whose state is shown on the kiosk's door panel; seats go to the floor map.
PANEL_KINDS = ("door", "exit_button", "equipment")


class Unauthorized(ServiceError):
    """A request whose signature is missing or wrong."""

    status = 401


def gateway_secrets(config: dict[str, Any]) -> dict[str, bytes]:
    """Parse ``GATEWAY_SECRETS`` ("id=secret,id2=secret2")."""
    out: dict[str, bytes] = {}
    for part in str(config.get("GATEWAY_SECRETS") or "").split(","):
        if "=" in part:
            gid, secret = part.split("=", 1)
            if gid.strip() and secret.strip():
                out[gid.strip()] = secret.strip().encode()
    return out


def sign(secret: bytes, body: bytes) -> str:
    """The X-Signature header value for a body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


def _parse_time(text: Any) -> datetime:
    if not isinstance(text, str):
        raise ValueError("'at' must be an ISO-8601 time")
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("'at' must carry a time zone (end it with Z for UTC)")
    return value.astimezone(timezone.utc)


def verify(ctx: ServiceContext, gateway_id: str, body: bytes, signature: str | None) -> None:
    """Refuse (401) a batch whose gateway is unknown or whose signature does not match; log the refusal."""
    secret = gateway_secrets(ctx.config).get(gateway_id)
    reason = None
    if secret is None:
        reason = f"gateway {gateway_id!r} is not configured (add it to KIOSK_GATEWAY_SECRETS)"
    elif not signature:
        reason = "the request has no X-Signature header"
    elif not hmac.compare_digest(sign(secret, body), signature.strip()):
        reason = "the X-Signature does not match the body: check the gateway's shared secret"
    if reason is None:
        return
    logger.warning("gateway %s refused: %s", gateway_id, reason)
    with ctx.engine.begin() as conn:
        log_event(conn, at=ctx.now(), kind="gateway_refused", actor=f"gateway:{gateway_id}"[:64],
                  outcome="unauthorized", reason=reason)
    raise Unauthorized("bad_signature", reason)


def _validate(ev: Any, points: dict[str, Any], gateway_id: str) -> str | None:
    """Why an event cannot be accepted, or None."""
    if not isinstance(ev, dict):
        return "an event must be a JSON object"
    etype = ev.get("type")
    if etype not in EVENT_TYPES:
        return f"unknown event type {etype!r}; expected one of {', '.join(EVENT_TYPES)}"
    try:
        _parse_time(ev.get("at"))
    except ValueError as exc:
        return str(exc)
    if etype == "badge_tap":
        if not isinstance(ev.get("uid"), str) or not ev.get("uid"):
            return "a badge_tap needs a 'uid'"
        if ev.get("reader") != gateway_id:
            return f"a reader posts its own taps: reader {ev.get('reader')!r} is not {gateway_id!r}"
    if etype == "point_changed":
        pid = ev.get("point")
        point = points.get(pid)
        if point is None:
            return f"unknown point {pid!r}: define it on the kiosk first"
        if point.gateway_id and point.gateway_id != gateway_id:
            return f"point {pid} belongs to gateway {point.gateway_id}, not {gateway_id}"
        if ev.get("state") not in STATES[point.kind]:
            return f"state {ev.get('state')!r} is not valid for a {point.kind} point ({', '.join(STATES[point.kind])})"
    return None


def ingest(ctx: ServiceContext, gateway_id: str, body: bytes, signature: str | None) -> dict[str, Any]:
    """Verify, validate and store one batch; return accepted ids and refused ids with reasons.

    A door event is what a leader waits for: the timers step aside meanwhile (``ServiceContext.priority``).
    """
    with ctx.priority.foreground():
        return _ingest(ctx, gateway_id, body, signature)


def _ingest(ctx: ServiceContext, gateway_id: str, body: bytes, signature: str | None,
            raced: bool = False) -> dict[str, Any]:
    verify(ctx, gateway_id, body, signature)
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ServiceError("malformed_json", f"the body is not JSON: {exc}") from None
    events = doc.get("events") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        raise ServiceError("malformed_batch", "the body must be an object with an 'events' list")
    if len(events) > MAX_EVENTS_PER_BATCH:
        raise ServiceError("batch_too_large", f"at most {MAX_EVENTS_PER_BATCH} events per batch")
    now = ctx.now()
    accepted: list[str] = []
    rejected: list[dict[str, str]] = []
    changes: list[dict[str, Any]] = []
    refused_taps = _handle_badge_taps(ctx, gateway_id, events)
    try:
        # Points, doors and the floor map are read and written back: no other writer in between.
        with write_transaction(ctx.engine) as conn:
            named = {e.get("point") for e in events if isinstance(e, dict) and isinstance(e.get("point"), str)}
            points = _points_named(conn, sorted(named))
            ids = [e.get("id") for e in events if isinstance(e, dict) and isinstance(e.get("id"), str)]
            seen = _stored_ids(conn, ids)
            live = {pid: (p.state, p.changed_at) for pid, p in points.items()}
            rows = []
            for ev in events:
                eid = ev.get("id") if isinstance(ev, dict) else None
                if not isinstance(eid, str) or not 0 < len(eid) <= 128:
                    rejected.append({"id": str(eid), "reason": "every event needs an 'id' string of 1-128 characters"})
                    continue
                if eid in seen:
                    accepted.append(eid)  # stored by an earlier delivery: acknowledge again, store nothing
                    continue
                reason = refused_taps.get(eid) or _validate(ev, points, gateway_id)
                if reason:
                    rejected.append({"id": eid, "reason": reason})
                    continue
                seen.add(eid)
                at = _parse_time(ev["at"])
                pid = ev.get("point") if ev["type"] == "point_changed" else None
                rows.append({"event_id": eid, "gateway_id": gateway_id, "type": ev["type"], "point_id": pid,
                             "state": ev.get("state") if pid else None, "previous": ev.get("previous"),
                             "reconciled": bool(ev.get("reconciled")), "at": at, "received_at": now,
                             "data": canonical_json({k: v for k, v in ev.items()
                                                     if k not in ("id", "type", "point", "state", "previous", "at")})})
                accepted.append(eid)
                if pid is None:
                    continue
                state, changed_at = live[pid]
                if changed_at is not None and at < changed_at:
                    continue  # an older event, stored but it does not rewind the live state
                live[pid] = (ev["state"], at)
                if ev["state"] != state:
                    changes.append({"point": pid, "kind": points[pid].kind, "label": points[pid].label,
                                    "state": ev["state"], "previous": state, "at": _iso(at),
                                    "reconciled": bool(ev.get("reconciled")), "gateway": gateway_id,
                                    "floor_id": points[pid].floor_id})
            _INSERT_EVENTS_LEAN.run_many(conn, rows)
            # The live state needs only each point's last change of the batch; the log gets every one.
            last = {ch["point"]: ch for ch in changes}
            _UPDATE_POINT_LEAN.run_many(conn, [{"_id": ch["point"], "_state": ch["state"],
                                                "_changed_at": _parse_time(ch["at"]), "_reconciled": ch["reconciled"],
                                                "_gateway_id": gateway_id} for ch in last.values()])
            log_events(conn, [{"at": _parse_time(ch["at"]), "kind": "point_changed", "actor": f"gateway:{gateway_id}",
                               "subject": ch["point"], "outcome": ch["state"],
                               "reason": "reconciled from a heartbeat" if ch["reconciled"] else "",
                               "rule": "§6.5" if ch["kind"] == "door" else "", "data": {"previous": ch["previous"]}}
                              for ch in changes])
            for ev in events:
                if isinstance(ev, dict) and ev.get("type") in ("node_health", "overflow") and ev.get("id") in accepted:
                    log_event(conn, at=now, kind=f"gateway_{ev['type']}", actor=f"gateway:{gateway_id}",
                              subject=str(ev.get("source") or "")[:64], outcome=str(ev.get("state") or ev["type"]),
                              reason=f"{ev.get('dropped')} events dropped by the gateway" if ev["type"] == "overflow" else "")
            came_back, readers_changed = _touch_gateway(conn, gateway_id, now, doc.get("health"))
            # §6.5, §6.6: the doors hear of their contacts in the same transaction.
            door_pubs = doors.apply_point_changes(conn, changes, now)
            door_pubs += floor.apply_point_changes(ctx, conn, changes, now)  # seats reach the floor map too
    except IntegrityError as exc:
        if not raced:
            # Two deliveries of the same batch raced; the other one stored it. Answer from the database.
            logger.info("gateway %s: concurrent delivery; answering again", gateway_id)
            return _ingest(ctx, gateway_id, body, signature, raced=True)
        # Refused again with the other delivery in view: not a race, and trying on would loop.
        logger.error("gateway %s: batch not stored, the database refused it twice: %s", gateway_id, exc.orig)
        raise StorageUnavailable("batch_not_stored", "The batch was not stored: the database refused it. The gateway "
                                 "keeps it and sends it again; if this lasts, see the server's log.") from None
    for r in rejected:
        logger.warning("gateway %s event %s refused: %s", gateway_id, r["id"], r["reason"])
    # What people act on goes out first: a door's alarm and state, then the raw points behind them.
    doors.publish_all(ctx, door_pubs)
    _publish_changes(ctx, changes)
    if came_back:
        ctx.publish("gateway_health_changed", {"gateway": gateway_id, "silent": False, "last_seen_at": _iso(now)})
    _publish_readers(ctx, readers_changed)
    return {"accepted": accepted, "rejected": rejected}


def _handle_badge_taps(ctx: ServiceContext, gateway_id: str, events: list[Any]) -> dict[str, str]:
    """Run taps from a remote reader (``kiosk reader``) that the server has not seen; return refusals by id.

    A tap is handled before its id is stored with the batch: if the batch then fails, the reader sends
    it again and the tap is handled twice, which roll call answers as a duplicate. None is ever lost.
    """
    from kiosk.services import taps  # here: taps builds on this module's neighbours

    tap_events = [e for e in events if isinstance(e, dict) and e.get("type") == "badge_tap"
                  and isinstance(e.get("id"), str)]
    if not tap_events:
        return {}
    with ctx.engine.connect() as conn:
        seen = {r.event_id for r in conn.execute(select(_sev.c.event_id).where(
            _sev.c.event_id.in_([e["id"] for e in tap_events])))}
    refused: dict[str, str] = {}
    for ev in tap_events:
        if ev["id"] in seen:
            continue
        reason = _validate(ev, {}, gateway_id)
        if reason:
            refused[ev["id"]] = reason
            continue
        try:
            taps.handle(ctx, ev["uid"], gateway_id, at=_parse_time(ev["at"]))
        except ServiceError as exc:
            refused[ev["id"]] = exc.message
    return refused


def _points_named(conn: Any, ids: list[str]) -> dict[str, Any]:
    """The points of these ids, by id."""
    if len(ids) == 1:
        row = _POINT_ONE.first(conn, {"id": ids[0]})
        return {row.id: row} if row is not None else {}
    return {p.id: p for p in conn.execute(_POINTS_NAMED, {"ids": ids})} if ids else {}


def _stored_ids(conn: Any, ids: list[str]) -> set[str]:
    """Which of these event ids are stored already (sent before, an answer the gateway never got)."""
    if len(ids) == 1:
        return {ids[0]} if _STORED_ID_ONE.first(conn, {"id": ids[0]}) is not None else set()
    return {r.event_id for r in conn.execute(_STORED_IDS, {"ids": ids})} if ids else set()


def _touch_gateway(conn: Any, gateway_id: str, now: datetime, health: Any) -> tuple[bool, list[dict[str, Any]]]:
    """Record that a gateway was heard. Returns whether it had been silent (or is new), and the readers it
    reports (a ``kiosk reader``) whose state differs from what the screens were last told."""
    health_json = canonical_json(health if isinstance(health, dict) else {})
    was = _GATEWAY_SILENT_LEAN.first(conn, {"_id": gateway_id})
    after = readers_of(health_json, silent=False, last_seen_at=now)
    if was is None:
        conn.execute(_INSERT_GATEWAY, {"id": gateway_id, "last_seen_at": now, "silent": False, "health": health_json})
        return True, _told(after)
    _GATEWAY_HEARD_LEAN.run(conn, {"_id": gateway_id, "_seen": now, "_health": health_json})
    if was.silent:
        log_event(conn, at=now, kind="gateway_heard_again", actor="kiosk", subject=gateway_id, outcome="online")
    before = {} if was.silent else readers_of(was.health, silent=False, last_seen_at=now)
    return bool(was.silent), _told({rid: h for rid, h in after.items() if before.get(rid) != h})


def readers_of(health_json: str | None, *, silent: bool, last_seen_at: datetime | None) -> dict[str, dict[str, Any]]:
    """The readers a gateway's stored health reports, as the screens show them (``remote``: on another PC).

    Only a ``kiosk reader`` reports readers. Its word is checked, not trusted: an unknown state is
    ``unknown``, a message is cut to 200 characters. A silent one is ``disconnected``, ``silent`` since
    it was last heard: its PC, its network or its service is down, and taps there reach nobody.
    """
    if not health_json or '"readers"' not in health_json:
        return {}
    try:
        doc = json.loads(health_json)
    except ValueError:
        return {}
    readers = doc.get("readers") if isinstance(doc, dict) else None
    if not isinstance(readers, dict):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for rid, health in readers.items():
        if not isinstance(rid, str) or not rid or len(rid) > 64:
            continue
        if silent:
            out[rid] = {"state": "disconnected", "message": "", "remote": True, "silent": True,
                        "since": _iso(last_seen_at)}
            continue
        health = health if isinstance(health, dict) else {}
        state = health.get("state") if health.get("state") in READER_STATES else "unknown"
        out[rid] = {"state": state, "message": str(health.get("message") or "")[:200], "remote": True}
    return out


def remote_readers(conn: Any) -> dict[str, dict[str, Any]]:
    """Every reader on another PC as its gateway last reported it (for a screen's snapshot)."""
    out: dict[str, dict[str, Any]] = {}
    for gw in conn.execute(_READER_GATEWAYS):
        out.update(readers_of(gw.health, silent=bool(gw.silent), last_seen_at=gw.last_seen_at))
    return out


def _told(readers: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """``reader_health_changed`` payloads for these readers."""
    return [{"reader_id": rid, **health} for rid, health in readers.items()]


def _publish_readers(ctx: ServiceContext, changed: list[dict[str, Any]]) -> None:
    for payload in changed:
        level = logging.INFO if payload["state"] == "connected" else logging.WARNING
        logger.log(level, "reader %s (on its own PC) is %s%s", payload["reader_id"], payload["state"],
                   " since " + str(payload["since"]) if payload.get("silent") else
                   (": " + payload["message"] if payload["message"] else ""))
        ctx.publish("reader_health_changed", payload)


_FALLING_SILENT = select(_gw).where(_gw.c.silent.is_(False), _gw.c.last_seen_at < bindparam("cutoff"))
_FALLING_SILENT_LEAN = Prepared(_FALLING_SILENT)


def check_silent(ctx: ServiceContext) -> list[str]:
    """A gateway not heard from within GATEWAY_SILENT_SECONDS makes all its points unknown (never closed).

    Every second, so it first looks (one statement, no write lock) and writes only when a gateway fell silent.
    """
    now = ctx.now()
    cutoff = {"cutoff": now - timedelta(seconds=float(ctx.config["GATEWAY_SILENT_SECONDS"]))}
    with ctx.engine.connect() as conn:
        if not _FALLING_SILENT_LEAN.first(conn, cutoff):
            return []
    went_silent = []
    changes = []
    readers: list[dict[str, Any]] = []
    with write_transaction(ctx.engine) as conn:
        for gw in conn.execute(_FALLING_SILENT, cutoff).all():  # again, under the lock: a batch may have come
            conn.execute(update(_gw).where(_gw.c.id == gw.id).values(silent=True))
            went_silent.append(gw.id)
            readers += _told(readers_of(gw.health, silent=True, last_seen_at=gw.last_seen_at))
            log_event(conn, at=now, kind="gateway_silent", actor="kiosk", subject=gw.id, outcome="silent",
                      reason=f"not heard from since {_iso(gw.last_seen_at)}")
            for p in conn.execute(select(_points).where(_points.c.gateway_id == gw.id,
                                                         _points.c.state != "unknown")).all():
                conn.execute(update(_points).where(_points.c.id == p.id).values(state="unknown", changed_at=now,
                                                                               reconciled=False))
                log_event(conn, at=now, kind="point_changed", actor="kiosk", subject=p.id, outcome="unknown",
                          reason=f"gateway {gw.id} silent", rule="§6.5" if p.kind == "door" else "",
                          data={"previous": p.state})
                changes.append({"point": p.id, "kind": p.kind, "label": p.label, "state": "unknown",
                                "previous": p.state, "at": _iso(now), "reconciled": False, "gateway": gw.id,
                                "floor_id": p.floor_id})
        door_pubs = doors.apply_point_changes(conn, changes, now)
        door_pubs += floor.apply_point_changes(ctx, conn, changes, now)
    for gid in went_silent:
        logger.warning("gateway %s went silent: its points are unknown", gid)
    doors.publish_all(ctx, door_pubs)
    _publish_changes(ctx, changes)
    for gid in went_silent:
        ctx.publish("gateway_health_changed", {"gateway": gid, "silent": True})
    _publish_readers(ctx, readers)
    return went_silent


def _publish_changes(ctx: ServiceContext, changes: list[dict[str, Any]]) -> None:
    """``points_changed``, one per floor: each floor's screens hear of their own points only."""
    by_floor: dict[Any, list[dict[str, Any]]] = {}
    for ch in changes:
        by_floor.setdefault(ch.get("floor_id"), []).append(ch)
    for floor_id, group in by_floor.items():
        ctx.publish("points_changed", {"changes": group, "floor_id": floor_id})


def define_points(ctx: ServiceContext, points: list[dict[str, str]], actor: str = "cli") -> int:
    """Create or update point definitions (id, kind, label, gateway, optionally ``floor`` as a code); new points
    start unknown (and, with no floor given, on the first floor)."""
    count = 0
    with ctx.engine.begin() as conn:
        existing = {p.id for p in conn.execute(select(_points.c.id))}
        floor_ids = floors.codes(conn)
        for p in points:
            if p["kind"] not in POINT_KINDS:
                raise ServiceError("bad_kind", f"point {p['id']}: kind must be one of {', '.join(POINT_KINDS)}")
            values = {"kind": p["kind"], "label": p.get("label", ""), "gateway_id": p.get("gateway") or None}
            if p.get("floor"):
                if p["floor"] not in floor_ids:
                    raise ServiceError("unknown_floor", f"point {p['id']}: no floor {p['floor']}")
                values["floor_id"] = floor_ids[p["floor"]]
            if p["id"] in existing:
                conn.execute(update(_points).where(_points.c.id == p["id"]).values(**values))
            else:
                conn.execute(insert(_points).values(id=p["id"], state="unknown", **values))
            count += 1
        log_event(conn, at=ctx.now(), kind="points_defined", actor=actor, outcome="ok", data={"count": count})
    return count


def panel(ctx: ServiceContext, scope: floors.Scope = None) -> dict[str, Any]:
    """Doors and other panel points with their live state (of the floors in ``scope``; None: every floor), and
    gateway health, for the screens."""
    now = ctx.now()
    with ctx.engine.connect() as conn:
        points = [{"point": p.id, "kind": p.kind, "label": p.label, "state": p.state, "at": _iso(p.changed_at),
                   "reconciled": bool(p.reconciled), "gateway": p.gateway_id, "floor_id": p.floor_id}
                  for p in conn.execute(select(_points).where(_points.c.kind.in_(PANEL_KINDS),
                                                              floors.in_scope(_points.c.floor_id, scope))
                                        .order_by(_points.c.id))]
        gateways = [{"gateway": g.id, "last_seen_at": _iso(g.last_seen_at), "silent": bool(g.silent),
                     "health": json.loads(g.health or "{}"),
                     "age_s": round((now - g.last_seen_at).total_seconds(), 1) if g.last_seen_at else None}
                    for g in conn.execute(select(_gw).order_by(_gw.c.id))]
    return {"points": points, "gateways": gateways}
