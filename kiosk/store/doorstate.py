"""DoorState to JSON and back, so whichever process runs the timers can pick up where another left off."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from kiosk.domain.doors import Contact, DoorState, Grant, Opening


def _t(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _pt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _grant(g: Grant | None) -> dict[str, Any] | None:
    return None if g is None else {"at": _t(g.at), "who": g.who, "kind": g.kind}


def _ungrant(d: dict[str, Any] | None) -> Grant | None:
    return None if d is None else Grant(_pt(d["at"]), d["who"], d["kind"])  # type: ignore[arg-type]


def dumps(state: DoorState) -> str:
    """The state as compact JSON."""
    o = state.opening
    opening = None if o is None else {
        "started_at": _t(o.started_at), "origin": o.origin, "grant": _grant(o.grant),
        "open_for": o.open_for.total_seconds(), "open_since": _t(o.open_since), "parties": o.parties,
        "raised": [[k, _t(at)] for k, at in o.raised], "tailgating_reported": o.tailgating_reported}
    return json.dumps({
        "door_id": state.door_id, "contact": state.contact.value, "opening": opening,
        "grants": [_grant(g) for g in state.grants], "last_consumed": _grant(state.last_consumed),
        "sensor_alert": [state.sensor_alert[0], _t(state.sensor_alert[1])] if state.sensor_alert else None,
        "last_at": _t(state.last_at)}, separators=(",", ":"))


def loads(text: str) -> DoorState:
    """A state back from :func:`dumps`."""
    d = json.loads(text)
    o = d["opening"]
    opening = None if o is None else Opening(
        started_at=_pt(o["started_at"]), origin=o["origin"], grant=_ungrant(o["grant"]),  # type: ignore[arg-type]
        open_for=timedelta(seconds=o["open_for"]), open_since=_pt(o["open_since"]), parties=o["parties"],
        raised=tuple((k, _pt(at)) for k, at in o["raised"]),  # type: ignore[misc]
        tailgating_reported=o["tailgating_reported"])
    sa = d["sensor_alert"]
    return DoorState(door_id=d["door_id"], contact=Contact(d["contact"]), opening=opening,
                     grants=tuple(_ungrant(g) for g in d["grants"]),  # type: ignore[misc]
                     last_consumed=_ungrant(d["last_consumed"]),
                     sensor_alert=(sa[0], _pt(sa[1])) if sa else None,  # type: ignore[arg-type]
                     last_at=_pt(d["last_at"]))
