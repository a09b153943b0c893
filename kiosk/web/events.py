"""Socket.IO handlers of the kiosk screen namespace: snapshot on connect, leader actions."""

from __future__ import annotations

import logging
from typing import Any, Callable

from dataclasses import dataclass

from flask import current_app, request
from flask_socketio import ConnectionRefusedError, disconnect, join_room  # socketio's: its message reaches the screen

from kiosk.services import alerts, doors, floor, floors, pins, rollcall, sensors, visitors
from kiosk.services.errors import ServiceError
from kiosk.web import ALL_FLOORS_ROOM, KIOSK_NS, floor_room, push, services, socketio

logger = logging.getLogger(__name__)


def _kiosk_id() -> str:
    return request.args.get("kiosk", "kiosk")


NOT_PAIRED = "this screen is not paired: ask an admin to pair it (kiosk screen pair)"
NO_FLOOR = ("this desk login is not paired to a floor and the centre has several: a supervisor's, security's or "
            "admin's login sees every floor, a kiosk screen is paired to its floor (kiosk screen pair --floor)")
LOOPBACK = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class Viewer:
    """Who a connection is and which floors it shows: ``scope`` (None: every floor); ``all_floors`` when it may
    see every floor, and so choose one (``?floor=CODE``)."""

    who: str
    scope: floors.Scope
    all_floors: bool


def viewer() -> Viewer | str:
    """The connection's viewer, or why it is refused.

    The Origin is not what decides: a paired screen's cookie (the floor it is paired to, or every floor), a
    desk login session (every floor with ``floors.all``; else the floor of a one-floor centre), or (only in the
    demo, which runs on localhost) a local browser, which sees every floor.
    """
    from kiosk.services import screens
    from kiosk.web import auth

    ctx = services()
    screen = screens.screen_of(ctx, request.cookies.get(screens.COOKIE))
    if screen is not None:
        name, floor_id = screen
        return Viewer(f"screen:{name}", (floor_id,), False) if floor_id is not None else _every_floor(f"screen:{name}")
    user = auth.current_user()
    if user is not None:
        if user.can(floors.ALL_FLOORS_PERMISSION):
            return _every_floor(f"desk:{user.employee_no}")
        only = floors.list_floors(ctx)
        return Viewer(f"desk:{user.employee_no}", (only[0].id,), False) if len(only) == 1 else NO_FLOOR
    cfg = current_app.config
    if (cfg.get("DEMO") or cfg.get("DEMO_SENSORS_URL")) and request.remote_addr in LOOPBACK:
        return _every_floor("demo:local")
    return NOT_PAIRED


def _every_floor(who: str) -> Viewer:
    """A viewer of every floor, looking at the one ``?floor=CODE`` names, if any."""
    code = request.args.get("floor", "").strip()
    if code:
        with services().engine.connect() as conn:
            chosen = floors.by_code(conn, code)
        if chosen is not None:
            return Viewer(who, (chosen.id,), True)
    return Viewer(who, None, True)


def who_connects() -> str | None:
    """Who this connection is: ``screen:NAME``, ``desk:EMPLOYEE_NO``, ``demo:local``; None when refused."""
    v = viewer()
    return v.who if isinstance(v, Viewer) else None


@socketio.on("connect", namespace=KIOSK_NS)
def on_connect(auth: dict[str, Any] | None = None) -> None:
    """Refuse an unknown screen; else join its floors' room and send the full board of its floors, so a screen
    that lost the network is never stale."""
    v = viewer()
    if not isinstance(v, Viewer):
        from kiosk.store.eventlog import log_event

        ctx = services()
        with ctx.engine.begin() as conn:
            log_event(conn, at=ctx.now(), kind="screen_refused", actor=f"screen:{request.remote_addr or '?'}",
                      subject=_kiosk_id()[:64], outcome="not_paired" if v == NOT_PAIRED else "no_floor", reason=v,
                      data={"origin": request.headers.get("Origin", "")})
        logger.warning("socket connection from %s refused: %s", request.remote_addr, v)
        raise ConnectionRefusedError(v)
    # A floor's publications reach that floor's room and the room of every floor (kiosk.web._publisher).
    # What is published to the rooms from here on reaches this screen after its snapshot, never before it.
    with push.ahead_of_pushes(socketio.server, request.sid, KIOSK_NS) as send:
        for room in ([ALL_FLOORS_ROOM] if v.scope is None else [floor_room(f) for f in v.scope]):
            join_room(room)
        send("snapshot", snapshot(v))


def snapshot(v: Viewer) -> dict[str, Any]:
    """Everything a kiosk screen shows, of its floors: the roll call board, doors, gateway health, visitors
    inside, the floor map; and the floors, for a screen that may choose one."""
    ctx = services()
    all_floors = floors.list_floors(ctx)
    shown = [f for f in all_floors if v.scope is None or f.id in v.scope]
    return {**rollcall.board(ctx, _kiosk_id(), v.scope), **sensors.panel(ctx, v.scope), **doors.panel(ctx, v.scope),
            "visitors": visitors.inside_now(ctx),
            "visitor_binding": visitors.binding_payload(ctx, _kiosk_id()),
            "floor": floor.floor_snapshot(ctx, v.scope),
            # The floor selector: shown to a viewer of every floor on a centre of several.
            "floors": [f.as_dict() for f in all_floors],
            "floor_scope": {"floor": shown[0].code if v.scope is not None and len(shown) == 1 else None,
                            "floor_id": shown[0].id if v.scope is not None and len(shown) == 1 else None,
                            "all_floors": v.all_floors}}


def _answer(action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a screen action and turn refusals into an answer the screen shows.

    Either way the answer carries the session at this kiosk as it is now (``leader``: its idle deadline,
    whether the PIN was entered; null when it has ended), so the screen never guesses.
    """
    try:
        result = {"ok": True, **action()}
    except ServiceError as exc:
        logger.warning("screen %s refused: %s", _kiosk_id(), exc.message)
        result = exc.to_dict()
    return {**result, "leader": rollcall.leader_payload(services(), _kiosk_id())}


@socketio.on("request_snapshot", namespace=KIOSK_NS)
def on_request_snapshot(_data: Any = None) -> None:
    """A screen asks for the board again (e.g. when a shift's window opens): it comes as a ``snapshot`` event,
    ahead of what is published meanwhile (an answer to the request would come after that). A connection whose
    screen was revoked or whose desk session ended since it connected gets nothing and is hung up on: it
    reconnects and is refused in words."""
    v = viewer()
    if not isinstance(v, Viewer):
        disconnect()
        return
    with push.ahead_of_pushes(socketio.server, request.sid, KIOSK_NS) as send:
        send("snapshot", snapshot(v))


@socketio.on("submit_wedge", namespace=KIOSK_NS)
def on_submit_wedge(data: dict[str, Any]) -> dict[str, Any]:
    """A keyboard-wedge reader typed a UID into the page."""
    reader = current_app.extensions.get("kiosk.reader")
    if current_app.config["NFC_DEVICE"] != "wedge" or reader is None:
        return {"ok": False, "error": "not_wedge", "message": "This kiosk does not use a keyboard-wedge reader."}
    try:
        reader.submit(str(data.get("uid", "")))
    except ValueError as exc:
        return {"ok": False, "error": "invalid_uid", "message": str(exc)}
    return {"ok": True}


@socketio.on("mark_attendance", namespace=KIOSK_NS)
def on_mark(data: dict[str, Any]) -> dict[str, Any]:
    """A leader marks someone present (forgotten badge) or excused, with a reason."""
    return _answer(lambda: rollcall.mark_by_hand(services(), _kiosk_id(), str(data.get("employee_no", "")),
                                                 str(data.get("status", "present")), str(data.get("note", ""))))


@socketio.on("close_rollcall", namespace=KIOSK_NS)
def on_close(_data: Any = None) -> dict[str, Any]:
    """The identified leader closes the roll call."""
    return _answer(lambda: rollcall.close_leader(services(), _kiosk_id()))


@socketio.on("pick_question", namespace=KIOSK_NS)
def on_pick_question(_data: Any = None) -> dict[str, Any]:
    """§3.5: pick a present operator and a question."""
    return _answer(lambda: rollcall.pick_question(services(), _kiosk_id()))


@socketio.on("record_answer", namespace=KIOSK_NS)
def on_record_answer(data: dict[str, Any]) -> dict[str, Any]:
    """§3.5: record how the question was answered."""
    return _answer(lambda: rollcall.record_answer(services(), _kiosk_id(), int(data.get("id", 0)),
                                                  bool(data.get("answered_well"))))


@socketio.on("acknowledge_alert", namespace=KIOSK_NS)
def on_acknowledge(data: dict[str, Any]) -> dict[str, Any]:
    """A leader, supervisor or security officer identified by badge acknowledges an alert with a reason."""
    return _answer(lambda: alerts.acknowledge(services(), _kiosk_id(), int(data.get("id", 0)),
                                              str(data.get("reason", "")), str(data.get("comment", ""))))


@socketio.on("verify_pin", namespace=KIOSK_NS)
def on_verify_pin(data: dict[str, Any]) -> dict[str, Any]:
    """The leader identified by badge at this kiosk enters their PIN (never logged); answers the session state."""
    pin = str((data or {}).get("pin", ""))
    return _answer(lambda: pins.verify(services(), _kiosk_id(), pin))


@socketio.on("end_leader_session", namespace=KIOSK_NS)
def on_end_leader(_data: Any = None) -> dict[str, Any]:
    """The leader leaves the console."""
    rollcall.end_leader_session(services(), _kiosk_id())
    return {"ok": True}


@socketio.on("list_visitor_approvals", namespace=KIOSK_NS)
def on_list_visitor_approvals(_data: Any = None) -> dict[str, Any]:
    """§2.2: today's valid visitor approvals, for the identified leader to pick one to bind a card to."""
    return _answer(lambda: visitors.list_for_console(services(), _kiosk_id()))


@socketio.on("start_visitor_binding", namespace=KIOSK_NS)
def on_start_visitor_binding(data: dict[str, Any]) -> dict[str, Any]:
    """§2.2: the identified leader arms the kiosk; the next unknown card tapped becomes the visitor's card."""
    try:
        approval_id = int((data or {}).get("approval_id", 0))
    except (TypeError, ValueError):
        return {"ok": False, "error": "bad_approval", "message": "Choose a visitor approval."}
    return _answer(lambda: visitors.start_binding(services(), _kiosk_id(), approval_id))


@socketio.on("acknowledge_flag", namespace=KIOSK_NS)
def on_acknowledge_flag(data: dict[str, Any]) -> dict[str, Any]:
    """The leader identified by badge acknowledges a floor-map flag."""
    try:
        flag_id = int((data or {}).get("id", 0))
    except (TypeError, ValueError):
        return {"ok": False, "error": "bad_flag", "message": "Choose a flag."}
    return _answer(lambda: floor.acknowledge_flag(services(), _kiosk_id(), flag_id))


@socketio.on("record_signout_cause", namespace=KIOSK_NS)
def on_record_signout_cause(data: dict[str, Any]) -> dict[str, Any]:
    """§8.9: the leader identified by badge records why an operator signed out mid-shift."""
    data = data or {}
    try:
        flag_id = int(data.get("id", 0))
    except (TypeError, ValueError):
        return {"ok": False, "error": "bad_flag", "message": "Choose a sign-out from the register."}
    return _answer(lambda: floor.record_signout_cause(services(), _kiosk_id(), flag_id, str(data.get("cause", "")),
                                                      str(data.get("comment", ""))))
