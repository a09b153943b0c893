"""Where a badge tap goes: the kiosk's own reader runs roll call; a reader at a door runs the door check.

A kiosk that stands at the door has its reader listed among the door's readers: its taps do both,
roll call first, so an operator who has just answered "到" is let in by the same tap (§4.4).

Visitor cards (§2.2) come first at the kiosk's reader: when a leader has armed a binding, the next
unknown card is bound to the visitor; an active visitor card signs its visitor out. Such a tap
does nothing else. Door checks find visitor cards through ``visitors.lookup``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kiosk.services import door_access, rollcall, visitors
from kiosk.services.context import ServiceContext

KIOSK_READER = "kiosk"


def is_rollcall_reader(reader_id: str) -> bool:
    """The kiosk's own reader (``kiosk``), or a remote kiosk's (``kiosk-<name>``), runs roll call."""
    return reader_id == KIOSK_READER or reader_id.startswith(KIOSK_READER + "-")


def handle(ctx: ServiceContext, uid: str, reader_id: str, at: datetime | None = None) -> dict[str, Any]:
    """Route one tap; return what each capability decided. The timers step aside meanwhile."""
    with ctx.priority.foreground():
        return _route(ctx, uid, reader_id, at)


def _route(ctx: ServiceContext, uid: str, reader_id: str, at: datetime | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if is_rollcall_reader(reader_id):
        visitor = visitors.kiosk_tap(ctx, uid, reader_id, at=at)
        if visitor is not None:
            return {"visitor": visitor}
        out["rollcall"] = rollcall.record_tap(ctx, uid, reader_id, at=at)
    if not is_rollcall_reader(reader_id) or _at_door(ctx, reader_id):
        out["door"] = door_access.door_tap(ctx, uid, reader_id, at=at, visitor_lookup=visitors.lookup)
        visitors.after_door_tap(ctx, uid, out["door"])
    return out


def _at_door(ctx: ServiceContext, reader_id: str) -> bool:
    """Whether a kiosk's reader also stands at a door: from the set-up the roll call just checked."""
    catalog = ctx.catalog.last()
    if catalog is None:
        with ctx.engine.connect() as conn:
            catalog = ctx.catalog.read(conn)
    return catalog.door_for_reader(reader_id) is not None
