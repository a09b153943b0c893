"""The floor plan editor as a capability: seat positions and the plan's background image.

Load → rule (:mod:`kiosk.domain.floorplan`) → save → publish. Seat moves are written all or nothing in one
transaction with their ``floorplan_changed`` log row; after the commit every map gets the whole floor again
(:func:`kiosk.services.floor.plan_changed`). The background image lives in the instance folder, beside a
small JSON file with its kind and size; it is replaced by writing a new file and renaming it over the old.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from kiosk.domain import floorplan as rules
from kiosk.services import floor
from kiosk.services.context import ServiceContext
from kiosk.store.eventlog import log_event
from kiosk.store.models import Seat, Zone

logger = logging.getLogger(__name__)

_seats, _zones = Seat.__table__, Zone.__table__
RULE = "§2.4"
BACKGROUND_NAME = "floorplan-background"
CONTENT_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


def _folder(ctx: ServiceContext) -> Path:
    return Path(ctx.config["INSTANCE_PATH"])


def background_info(ctx: ServiceContext) -> dict[str, Any] | None:
    """The stored background: {kind, width, height, version}, or None when there is none."""
    meta = _folder(ctx) / f"{BACKGROUND_NAME}.json"
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if info.get("kind") not in CONTENT_TYPES or not background_path(ctx, info["kind"]).is_file():
        return None
    return info


def background_path(ctx: ServiceContext, kind: str) -> Path:
    """Where a background of this kind is stored."""
    return _folder(ctx) / f"{BACKGROUND_NAME}.{kind}"


def _positions(ctx: ServiceContext) -> list[Any]:
    with ctx.engine.connect() as conn:
        return conn.execute(select(_seats.c.id, _seats.c.zone_id, _seats.c.x, _seats.c.y)
                            .order_by(_seats.c.zone_id, _seats.c.id)).all()


def bounds(ctx: ServiceContext, rows: list[Any] | None = None) -> rules.Bounds:
    """The plan's rectangle: the background image's size, grown to hold every seat."""
    rows = _positions(ctx) if rows is None else rows
    info = background_info(ctx)
    size = (info["width"], info["height"]) if info else None
    return rules.plan_bounds(((float(r.x), float(r.y)) for r in rows), size)


def plan(ctx: ServiceContext) -> dict[str, Any]:
    """What the editor draws: every seat, the zones, the plan's bounds and the background, if any."""
    rows = _positions(ctx)
    with ctx.engine.connect() as conn:
        zones = {z.id: z.name for z in conn.execute(select(_zones.c.id, _zones.c.name))}
    return {"seats": [{"seat": r.id, "zone": r.zone_id, "x": float(r.x), "y": float(r.y)} for r in rows],
            "zones": zones, "bounds": bounds(ctx, rows).as_dict(), "background": background_info(ctx)}


def move_seats(ctx: ServiceContext, raw: Any, actor: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate and save seat moves, all or nothing; log ``floorplan_changed``; publish the floor again."""
    rows = _positions(ctx)
    known = {r.id: (float(r.x), float(r.y)) for r in rows}
    moves = rules.validate_moves(raw, known, bounds(ctx, rows))
    changed = {s: xy for s, xy in moves.items() if xy != known[s]}
    with floor._state(ctx).lock:  # the floor's writers' lock: no tick reads half a plan
        with ctx.engine.begin() as conn:
            for seat, (x, y) in changed.items():
                conn.execute(update(_seats).where(_seats.c.id == seat).values(x=x, y=y))
            log_event(conn, at=ctx.now(), kind="floorplan_changed", actor=actor[:64], subject="seats",
                      outcome=str(len(changed)), rule=RULE,
                      reason=f"{len(changed)} seat(s) moved on the floor plan",
                      data={**(data or {}), "seats": len(changed),
                            "moved": {s: {"from": list(known[s]), "to": list(xy)} for s, xy in
                                      sorted(changed.items())[:500]}})
    logger.info("floor plan: %s moved %s seat(s)", actor, len(changed))
    if changed:
        floor.publish_all(ctx, floor.plan_changed(ctx))
    return {"ok": True, "moved": len(changed), "seats": {s: {"x": x, "y": y} for s, (x, y) in changed.items()}}


def set_background(ctx: ServiceContext, content: bytes, filename: str, actor: str,
                   data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Store an uploaded PNG or SVG (checked by content) as the plan's background; log it."""
    kind, (w, h) = rules.sniff_background(content)
    folder = _folder(ctx)
    folder.mkdir(parents=True, exist_ok=True)
    version = floor.next_rev()
    target = background_path(ctx, kind)
    tmp = target.with_suffix(f".{kind}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, target)
    for other in CONTENT_TYPES:
        if other != kind:
            background_path(ctx, other).unlink(missing_ok=True)
    info = {"kind": kind, "width": w, "height": h, "version": version, "bytes": len(content)}
    meta = folder / f"{BACKGROUND_NAME}.json"
    meta_tmp = folder / f"{BACKGROUND_NAME}.json.tmp"
    meta_tmp.write_text(json.dumps(info), encoding="utf-8")
    os.replace(meta_tmp, meta)
    with ctx.engine.begin() as conn:
        log_event(conn, at=ctx.now(), kind="floorplan_background_changed", actor=actor[:64], subject=kind,
                  outcome=f"{w:g}x{h:g}", rule=RULE, reason=f"floor plan background: {kind}, {len(content)} bytes",
                  data={**(data or {}), "kind": kind, "width": w, "height": h, "bytes": len(content),
                        "filename": (filename or "")[:100]})
    logger.info("floor plan: %s set a %s background (%s bytes)", actor, kind, len(content))
    floor.publish_all(ctx, floor.plan_changed(ctx))
    return {"ok": True, **info}
