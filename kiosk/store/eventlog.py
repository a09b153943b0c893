"""Writing to the event log: one lean Core insert, inside the caller's transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from kiosk.store.models import Event

_events = Event.__table__
_INSERT = insert(_events)  # built once: the log is written on every tap


def canonical_json(data: dict[str, Any]) -> str:
    """JSON with sorted keys and no spaces, so the same facts always give the same text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def log_event(conn: Connection, *, at: datetime, kind: str, actor: str = "", subject: str = "",
              outcome: str = "", reason: str = "", rule: str = "", data: dict[str, Any] | None = None) -> None:
    """Append one row to the event log in the caller's transaction."""
    conn.execute(_INSERT, {"at": at, "kind": kind, "actor": actor, "subject": subject, "outcome": outcome,
                           "reason": reason[:200], "rule": rule, "data": canonical_json(data or {})})


def log_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Append many rows in one statement (a batch of sensor changes); same fields as :func:`log_event`."""
    if not rows:
        return
    conn.execute(_INSERT, [{"actor": "", "subject": "", "outcome": "", "rule": "", **r,
                            "reason": r.get("reason", "")[:200], "data": canonical_json(r.get("data") or {})}
                           for r in rows])
