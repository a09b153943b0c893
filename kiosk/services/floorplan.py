"""The floor plan editor as a capability: positions of seats, doors and kiosk screens, and the plan's
background image, floor by floor.

Load → rule (:mod:`kiosk.domain.floorplan`) → save → publish. Each floor has its own plan: its seats (those of
its zones), its doors and kiosk screens, and its own background image. Moves are written all or nothing in
one transaction with their ``floorplan_changed`` log row; after the commit every map gets the whole floor
again (:func:`kiosk.services.floor.plan_changed`) when seats moved, and ``floor_markers_changed`` (every
placed door with its live state, every placed kiosk screen of that floor) when doors or kiosks moved. The
background image lives in the instance folder, beside a small JSON file with its kind and size; it is
replaced by writing a new file and renaming it over the old.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from kiosk.domain import floorplan as rules
from kiosk.services import floor, floors
from kiosk.services.context import ServiceContext
from kiosk.store.eventlog import log_event
from kiosk.store.models import Door, Screen, Seat, Zone

logger = logging.getLogger(__name__)

_seats, _zones, _doors, _screens = Seat.__table__, Zone.__table__, Door.__table__, Screen.__table__
RULE = "§2.4"
BACKGROUND_NAME = "floorplan-background"
CONTENT_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
LEGACY_FLOOR = 1  # the floor the migration made: its background keeps the file name of a one-floor centre


def _folder(ctx: ServiceContext) -> Path:
    return Path(ctx.config["INSTANCE_PATH"])


def floor_of(ctx: ServiceContext, floor_id: int | None) -> int:
    """The floor a plan is about: the one given, else the first floor."""
    if floor_id is not None:
        return floor_id
    return floors.list_floors(ctx)[0].id


def _name(floor_id: int) -> str:
    return BACKGROUND_NAME if floor_id == LEGACY_FLOOR else f"{BACKGROUND_NAME}-floor{floor_id}"


def background_info(ctx: ServiceContext, floor_id: int | None = None) -> dict[str, Any] | None:
    """A floor's stored background (default: the first floor's): {kind, width, height, version}, or None."""
    floor_id = floor_of(ctx, floor_id)
    meta = _folder(ctx) / f"{_name(floor_id)}.json"
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if info.get("kind") not in CONTENT_TYPES or not background_path(ctx, info["kind"], floor_id).is_file():
        return None
    return info


def background_path(ctx: ServiceContext, kind: str, floor_id: int | None = None) -> Path:
    """Where a floor's background of this kind is stored."""
    return _folder(ctx) / f"{_name(floor_of(ctx, floor_id))}.{kind}"


def _positions(ctx: ServiceContext, floor_id: int) -> list[Any]:
    with ctx.engine.connect() as conn:
        return conn.execute(select(_seats.c.id, _seats.c.zone_id, _seats.c.x, _seats.c.y)
                            .join(_zones, _zones.c.id == _seats.c.zone_id).where(_zones.c.floor_id == floor_id)
                            .order_by(_seats.c.zone_id, _seats.c.id)).all()


def _markers(ctx: ServiceContext, floor_id: int) -> tuple[list[Any], list[Any]]:
    """The floor's doors and kiosk screens (not revoked), with their positions (None when not placed)."""
    with ctx.engine.connect() as conn:
        doors = conn.execute(select(_doors.c.id, _doors.c.name, _doors.c.x, _doors.c.y)
                             .where(_doors.c.floor_id == floor_id).order_by(_doors.c.id)).all()
        kiosks = conn.execute(select(_screens.c.name, _screens.c.x, _screens.c.y)
                              .where(_screens.c.revoked_at.is_(None), _screens.c.floor_id == floor_id)
                              .order_by(_screens.c.name)).all()
    return doors, kiosks


def _placed(rows: list[Any]) -> list[tuple[float, float]]:
    return [(float(r.x), float(r.y)) for r in rows if r.x is not None and r.y is not None]


def bounds(ctx: ServiceContext, rows: list[Any] | None = None,
           markers: tuple[list[Any], list[Any]] | None = None, floor_id: int | None = None) -> rules.Bounds:
    """A floor's plan rectangle: its background image's size, grown to hold every seat, placed door and kiosk."""
    floor_id = floor_of(ctx, floor_id)
    rows = _positions(ctx, floor_id) if rows is None else rows
    doors, kiosks = _markers(ctx, floor_id) if markers is None else markers
    info = background_info(ctx, floor_id)
    size = (info["width"], info["height"]) if info else None
    return rules.plan_bounds(_placed(rows) + _placed(doors) + _placed(kiosks), size)


def _xy(r: Any) -> dict[str, float | None]:
    return {"x": None if r.x is None else float(r.x), "y": None if r.y is None else float(r.y)}


def plan(ctx: ServiceContext, floor_id: int | None = None) -> dict[str, Any]:
    """What the editor draws of a floor (default: the first): its seats, doors and kiosk screens, its zones, the
    plan's bounds and background."""
    floor_id = floor_of(ctx, floor_id)
    rows = _positions(ctx, floor_id)
    doors, kiosks = markers = _markers(ctx, floor_id)
    with ctx.engine.connect() as conn:
        zones = {z.id: z.name for z in conn.execute(select(_zones.c.id, _zones.c.name)
                                                    .where(_zones.c.floor_id == floor_id))}
    return {"floor_id": floor_id,
            "seats": [{"seat": r.id, "zone": r.zone_id, "x": float(r.x), "y": float(r.y)} for r in rows],
            "doors": [{"door": d.id, "name": d.name, **_xy(d)} for d in doors],
            "kiosks": [{"kiosk": k.name, **_xy(k)} for k in kiosks],
            "zones": zones, "bounds": bounds(ctx, rows, markers, floor_id).as_dict(),
            "background": background_info(ctx, floor_id)}


def markers_payload(ctx: ServiceContext, scope: floors.Scope = None) -> dict[str, Any]:
    """What the maps draw besides seats, of the floors in ``scope`` (None: every floor): placed doors with
    their live state, placed kiosk screens."""
    from kiosk.services import doors as door_service

    now = ctx.now()
    with ctx.engine.connect() as conn:
        door_rows = conn.execute(select(_doors).where(_doors.c.x.is_not(None), _doors.c.y.is_not(None),
                                                      floors.in_scope(_doors.c.floor_id, scope))
                                 .order_by(_doors.c.id)).all()
        kiosks = conn.execute(select(_screens.c.name, _screens.c.x, _screens.c.y, _screens.c.floor_id).where(
            _screens.c.revoked_at.is_(None), _screens.c.x.is_not(None), _screens.c.y.is_not(None),
            floors.in_scope(_screens.c.floor_id, scope)).order_by(_screens.c.name)).all()
    return {"doors": [door_service.door_payload(d, door_service.state_of(d), now) for d in door_rows],
            "kiosks": [{"kiosk": k.name, "x": float(k.x), "y": float(k.y), "floor_id": k.floor_id} for k in kiosks]}


def place(ctx: ServiceContext, raw: Any, actor: str, data: dict[str, Any] | None = None,
          floor_id: int | None = None) -> dict[str, Any]:
    """Validate and save moves of one floor's seats, doors and kiosk screens (default: the first floor's), all
    or nothing; log ``floorplan_changed``; publish the floor again (moved seats) and the floor's doors and
    kiosks (moved doors or kiosks)."""
    floor_id = floor_of(ctx, floor_id)
    rows = _positions(ctx, floor_id)
    doors, kiosks = markers = _markers(ctx, floor_id)
    known: dict[str, dict[str, tuple[float, float] | None]] = {
        "seat": {r.id: (float(r.x), float(r.y)) for r in rows},
        "door": {d.id: _pair(d) for d in doors},
        "kiosk": {k.name: _pair(k) for k in kiosks}}
    moves = rules.validate_placements(raw, known, bounds(ctx, rows, markers, floor_id))
    changed = {key: xy for key, xy in moves.items() if xy != known[key[0]][key[1]]}
    tables = {"seat": (_seats, _seats.c.id), "door": (_doors, _doors.c.id), "kiosk": (_screens, _screens.c.name)}
    counts = {kind: sum(1 for k, _n in changed if k == kind) for kind in tables}
    with floor._state(ctx).lock:  # the floor's writers' lock: no tick reads half a plan
        with ctx.engine.begin() as conn:
            for (kind, name), (x, y) in changed.items():
                table, key = tables[kind]
                conn.execute(update(table).where(key == name).values(x=x, y=y))
            moved = {f"{kind}:{name}" if kind != "seat" else name:
                     {"from": list(known[kind][name]) if known[kind][name] else None, "to": list(xy)}
                     for (kind, name), xy in sorted(changed.items())[:500]}
            what = ", ".join(f"{n} {kind}(s)" for kind, n in counts.items() if n) or "nothing"
            log_event(conn, at=ctx.now(), kind="floorplan_changed", actor=actor[:64], subject="seats",
                      outcome=str(len(changed)), rule=RULE, reason=f"moved on the floor plan: {what}",
                      data={**(data or {}), "floor": floors.code_of(conn, floor_id), "seats": counts["seat"],
                            "doors": counts["door"], "kiosks": counts["kiosk"], "moved": moved})
    logger.info("floor plan: %s moved %s", actor, what)
    if counts["seat"]:
        floor.publish_all(ctx, floor.plan_changed(ctx))
    if counts["door"] or counts["kiosk"]:
        ctx.publish("floor_markers_changed", {**markers_payload(ctx, (floor_id,)), "floor_id": floor_id})
    return {"ok": True, "moved": len(changed), "seats": {n: {"x": x, "y": y} for (k, n), (x, y) in changed.items()
                                                         if k == "seat"},
            "doors": {n: {"x": x, "y": y} for (k, n), (x, y) in changed.items() if k == "door"},
            "kiosks": {n: {"x": x, "y": y} for (k, n), (x, y) in changed.items() if k == "kiosk"}}


move_seats = place  # the name from when only seats could move


def _pair(r: Any) -> tuple[float, float] | None:
    return None if r.x is None or r.y is None else (float(r.x), float(r.y))


def set_background(ctx: ServiceContext, content: bytes, filename: str, actor: str,
                   data: dict[str, Any] | None = None, floor_id: int | None = None) -> dict[str, Any]:
    """Store an uploaded PNG or SVG (checked by content) as a floor's background (default: the first floor's);
    log it."""
    kind, (w, h) = rules.sniff_background(content)
    floor_id = floor_of(ctx, floor_id)
    folder = _folder(ctx)
    folder.mkdir(parents=True, exist_ok=True)
    version = floor.next_rev()
    target = background_path(ctx, kind, floor_id)
    tmp = target.with_suffix(f".{kind}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, target)
    for other in CONTENT_TYPES:
        if other != kind:
            background_path(ctx, other, floor_id).unlink(missing_ok=True)
    info = {"kind": kind, "width": w, "height": h, "version": version, "bytes": len(content)}
    meta = folder / f"{_name(floor_id)}.json"
    meta_tmp = folder / f"{_name(floor_id)}.json.tmp"
    meta_tmp.write_text(json.dumps(info), encoding="utf-8")
    os.replace(meta_tmp, meta)
    with ctx.engine.begin() as conn:
        code = floors.code_of(conn, floor_id)
        log_event(conn, at=ctx.now(), kind="floorplan_background_changed", actor=actor[:64], subject=kind,
                  outcome=f"{w:g}x{h:g}", rule=RULE, reason=f"floor plan background: {kind}, {len(content)} bytes",
                  data={**(data or {}), "kind": kind, "width": w, "height": h, "bytes": len(content),
                        "filename": (filename or "")[:100], "floor": code})
    logger.info("floor plan: %s set a %s background for floor %s (%s bytes)", actor, kind, code, len(content))
    floor.publish_all(ctx, floor.plan_changed(ctx))
    return {"ok": True, **info}
