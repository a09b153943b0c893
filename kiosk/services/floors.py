"""Floors as a capability: the centre's floors, and which floors a screen, a desk login or a kiosk shows.

A **scope** is what one screen sees: a tuple of floor ids, or ``None`` for every floor. A kiosk screen paired
to a floor sees that floor; a screen paired to every floor, a supervisor's, security's or admin's desk login
(permission ``floors.all``) and the demo's local browser see every floor, and may choose one (the floor map
does). Publications carry the ``floor_id`` they concern (an id, a list of ids, or none for every floor); the
web layer sends them to that floor's screens and to the every-floor screens only.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

from sqlalchemy import Connection, bindparam, func, insert, select, true, update
from sqlalchemy.sql.elements import ColumnElement

from kiosk.domain import floors as rules
from kiosk.domain.floors import FloorInfo, FloorProblem
from kiosk.services.context import ServiceContext
from kiosk.services.errors import NotFound, ServiceError
from kiosk.store.eventlog import log_event
from kiosk.store.models import Floor, Screen

logger = logging.getLogger(__name__)

_floors, _screens = Floor.__table__, Screen.__table__
Scope = tuple[int, ...] | None  # floor ids a screen sees; None: every floor
ALL_FLOORS_PERMISSION = "floors.all"


def list_floors(source: ServiceContext | Connection) -> list[FloorInfo]:
    """Every floor, in the centre's order."""
    q = select(_floors).order_by(_floors.c.sort_order, _floors.c.id)
    if isinstance(source, Connection):
        rows = source.execute(q).all()
    else:
        with source.engine.connect() as conn:
            rows = conn.execute(q).all()
    return [FloorInfo(r.id, r.code, r.name_zh, r.name_en, r.sort_order) for r in rows]


def codes(conn: Connection) -> dict[str, int]:
    """Floor code -> id, in the centre's order."""
    return {f.code: f.id for f in list_floors(conn)}


def code_of(conn: Connection, floor_id: int | None) -> str | None:
    """A floor's code (None for None)."""
    if floor_id is None:
        return None
    return conn.execute(select(_floors.c.code).where(_floors.c.id == floor_id)).scalar()


def by_code(conn: Connection, code: str) -> FloorInfo | None:
    """The floor with this code, or None."""
    r = conn.execute(select(_floors).where(_floors.c.code == code)).first()
    return None if r is None else FloorInfo(r.id, r.code, r.name_zh, r.name_en, r.sort_order)


def choose(conn: Connection, code: str | None, what: str = "it") -> int | None:
    """The floor a command names (``all``: None, every floor); with no code, the only floor. ServiceError else."""
    if code is not None and code.strip().lower() == rules.ALL:
        return None
    try:
        return rules.resolve((code or "").strip() or None, None, None, codes(conn))
    except FloorProblem as exc:
        raise ServiceError("floor_required" if not code else "unknown_floor",
                           f"{exc}: give --floor CODE for {what}" if not code else str(exc)) from None


def add(ctx: ServiceContext, code: str, name_zh: str, name_en: str, sort_order: int | None = None,
        actor: str = "cli") -> FloorInfo:
    """Create a floor (logged ``floor_added``); by default it sorts after the others."""
    code, name_zh, name_en = (code or "").strip(), (name_zh or "").strip(), (name_en or "").strip()
    with ctx.engine.begin() as conn:
        try:
            rules.check_floor(code, name_zh, name_en, list(codes(conn)))
        except FloorProblem as exc:
            raise ServiceError("bad_floor", str(exc)) from None
        if sort_order is None:
            sort_order = int(conn.execute(select(func.coalesce(func.max(_floors.c.sort_order), -1))).scalar()) + 1
        conn.execute(insert(_floors).values(code=code, name_zh=name_zh, name_en=name_en, sort_order=sort_order))
        log_event(conn, at=ctx.now(), kind="floor_added", actor=actor, subject=code, outcome="ok",
                  data={"name_zh": name_zh, "name_en": name_en, "sort_order": sort_order})
        floor = by_code(conn, code)
    logger.info("floor %s added by %s", code, actor)
    assert floor is not None
    return floor


def edit(ctx: ServiceContext, code: str, *, new_code: str | None = None, name_zh: str | None = None,
         name_en: str | None = None, sort_order: int | None = None, actor: str = "cli") -> FloorInfo:
    """Rename a floor, change its code or its place in the order (logged ``floor_changed``)."""
    with ctx.engine.begin() as conn:
        old = by_code(conn, code)
        if old is None:
            raise NotFound("unknown_floor", f"No floor {code}; the floors are {', '.join(codes(conn)) or 'none'}.")
        values = {"code": (new_code or old.code).strip(), "name_zh": (name_zh or old.name_zh).strip(),
                  "name_en": (name_en or old.name_en).strip(),
                  "sort_order": old.sort_order if sort_order is None else sort_order}
        try:
            rules.check_floor(values["code"], values["name_zh"], values["name_en"],
                              [c for c in codes(conn) if c != old.code])
        except FloorProblem as exc:
            raise ServiceError("bad_floor", str(exc)) from None
        conn.execute(update(_floors).where(_floors.c.id == old.id).values(**values))
        log_event(conn, at=ctx.now(), kind="floor_changed", actor=actor, subject=old.code, outcome="ok",
                  data={"before": old.as_dict(), "after": values})
        floor = by_code(conn, values["code"])
    assert floor is not None
    return floor


# --- scopes --------------------------------------------------------------------------------------------------

def in_scope(column: Any, scope: Scope, *, unassigned: bool = False) -> ColumnElement[bool]:
    """A condition: the row's floor is in the scope (``unassigned``: or it has none, i.e. concerns every floor)."""
    if scope is None:
        return true()
    cond = column.in_(list(scope))
    return cond | column.is_(None) if unassigned else cond


# Prebuilt: built and cache-keyed once (a tap asks the cached set-up instead: kiosk.services.catalog).
_SCREEN_FLOOR = select(_screens.c.floor_id).where(_screens.c.name == bindparam("name"))


def screen_floor(conn: Connection, name: str) -> tuple[bool, int | None]:
    """(known, floor id) of the kiosk screen called ``name``; an unknown name is (False, None)."""
    row = conn.execute(_SCREEN_FLOOR, {"name": name}).first()
    return (False, None) if row is None else (True, row.floor_id)


def kiosk_floor(ctx: ServiceContext, conn: Connection, kiosk_id: str) -> int | None:
    """The floor a kiosk (by its id, the screen's name) works on; None when it shows every floor or is unknown.

    On a one-floor centre that is always the floor. The rule lives in ``catalog.Catalog.kiosk_floor``: a tap
    asks the cached set-up, everything else this, and both answer alike.
    """
    return ctx.catalog.read(conn).kiosk_floor(kiosk_id)


def scope_of(floor_ids: Iterable[int | None]) -> Any:
    """The ``floor_id`` a publication carries: one id, a sorted list, or None (every floor)."""
    ids = sorted({f for f in floor_ids if f is not None})
    if not ids:
        return None
    return ids[0] if len(ids) == 1 else ids
