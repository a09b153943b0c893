"""Alerts leaders act on (§5): acknowledgement by badge at the kiosk, escalation level by level, history.

Clearing (the condition ended) is not acknowledging: an alert stays on every screen until a leader,
supervisor or security officer acknowledges it with a reason. Unacknowledged, it goes up a level
after ``ESCALATE_SUPERVISOR_SECONDS`` (the floor supervisor) and again after
``ESCALATE_SECURITY_SECONDS`` more (security and the Hotline Management Section).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, select, update

from kiosk.devices.notifiers import NotificationFailed, from_config
from kiosk.services import floors, rollcall
from kiosk.services.context import ServiceContext
from kiosk.services.doors import alert_payload, iso
from kiosk.services.errors import NotFound, ServiceError
from kiosk.store.db import write_transaction
from kiosk.store.eventlog import log_event
from kiosk.store.lean import Prepared
from kiosk.store.models import Alert

logger = logging.getLogger(__name__)

_alerts = Alert.__table__

ACK_ROLES = ("leader", "supervisor", "security", "admin")
ACK_REASONS = ("delivery", "false_alarm", "visitor_escorted", "investigating", "maintenance", "other")
# Who is told at each level (§5.1: level by level; §5.4: security and the management section last).
LEVEL_ROLES: dict[int, tuple[str, ...]] = {1: ("supervisor",), 2: ("security", "management")}


def acknowledge(ctx: ServiceContext, kiosk_id: str, alert_id: int, reason: str, comment: str = "") -> dict[str, Any]:
    """The identified leader, supervisor or security officer acknowledges an alert with a reason."""
    try:
        # A badge alone acknowledges an alert: no PIN, so nothing slows the answer to an alarm.
        who = rollcall.require_leader(ctx, kiosk_id, roles=ACK_ROLES, pin=False)
    except ServiceError as exc:
        with ctx.engine.begin() as conn:
            log_event(conn, at=ctx.now(), kind="alert_ack_refused", actor=f"kiosk:{kiosk_id}", subject=str(alert_id),
                      outcome=exc.code, reason=exc.message, rule="§5.1")
        raise
    if reason not in ACK_REASONS:
        raise ServiceError("bad_reason", f"Choose a reason: {', '.join(ACK_REASONS)}.")
    comment = (comment or "").strip()[:300]
    if reason == "other" and not comment:
        raise ServiceError("comment_required", "Say what happened when the reason is 'other'.")
    now = ctx.now()
    with ctx.engine.begin() as conn:
        row = conn.execute(select(_alerts).where(_alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFound("no_such_alert", f"Alert {alert_id} does not exist.")
        done = conn.execute(update(_alerts).where(_alerts.c.id == alert_id, _alerts.c.acknowledged_at.is_(None))
                            .values(acknowledged_at=now, acknowledged_by=who.employee_no, ack_reason=reason,
                                    ack_comment=comment or None)).rowcount
        if not done:
            raise ServiceError("already_acknowledged",
                               f"Alert {alert_id} was already acknowledged by {row.acknowledged_by}.")
        log_event(conn, at=now, kind="alert_acknowledged", actor=who.employee_no, subject=str(alert_id),
                  outcome=reason, reason=comment, rule=row.rule, data={"alert_kind": row.kind, "level": row.level})
        row = conn.execute(select(_alerts).where(_alerts.c.id == alert_id)).first()
    payload = alert_payload(row)
    ctx.publish("alert_acknowledged", payload)
    logger.info("alert %s (%s) acknowledged by %s: %s", alert_id, row.kind, who.employee_no, reason)
    return payload


# Unacknowledged alerts due one level up: raised before ``first`` (level 0), escalated before ``second`` (level 1).
_DUE = select(_alerts).where(_alerts.c.acknowledged_at.is_(None), (
    and_(_alerts.c.level == 0, _alerts.c.raised_at <= bindparam("first"))) | (
    and_(_alerts.c.level == 1, _alerts.c.escalated_at <= bindparam("second"))))
_DUE_LEAN = Prepared(_DUE)


def escalate(ctx: ServiceContext, notifiers: list[Any] | None = None) -> list[dict[str, Any]]:
    """Send every alert unacknowledged past its level's time one level up, and tell that level.

    Every second, so it first looks (one statement on the driver) and writes only when something is due.
    """
    now = ctx.now()
    due_at = {"first": now - timedelta(seconds=float(ctx.config["ESCALATE_SUPERVISOR_SECONDS"])),
              "second": now - timedelta(seconds=float(ctx.config["ESCALATE_SECURITY_SECONDS"]))}
    with ctx.engine.connect() as conn:
        if not _DUE_LEAN.first(conn, due_at):
            return []
    notifiers = notifiers if notifiers is not None else from_config(ctx.config, ctx.publish)
    raised: list[dict[str, Any]] = []
    # Read and written back with no other writer in between (FOR UPDATE on PostgreSQL re-reads a row another
    # round or an acknowledgement changed meanwhile): two rounds at once, as when two processes pass the
    # timer lease, escalate and notify once.
    with write_transaction(ctx.engine) as conn:
        for row in conn.execute(_DUE.with_for_update(), due_at).all():
            level = row.level + 1
            conn.execute(update(_alerts).where(_alerts.c.id == row.id).values(level=level, escalated_at=now))
            log_event(conn, at=now, kind="alert_escalated", actor="kiosk", subject=str(row.id),
                      outcome=",".join(LEVEL_ROLES[level]), rule="§5.4" if level == 2 else "§5.1",
                      reason=f"not acknowledged since {iso(row.raised_at)}")
            raised.append({**alert_payload(row), "level": level})
    for alert in raised:
        roles = LEVEL_ROLES[alert["level"]]
        for notifier in notifiers:
            try:
                notifier.notify(roles, alert)
            except NotificationFailed as exc:
                logger.error("escalation of alert %s: %s", alert["id"], exc)
                with ctx.engine.begin() as conn:
                    log_event(conn, at=now, kind="notification_failed", actor="kiosk", subject=str(alert["id"]),
                              outcome=type(notifier).__name__, reason=str(exc)[:200], rule="§5.1")
    return raised


def history(ctx: ServiceContext, *, kind: str | None = None, door_id: str | None = None,
            since: datetime | None = None, until: datetime | None = None, unacknowledged: bool = False,
            limit: int = 200, scope: floors.Scope = None) -> list[dict[str, Any]]:
    """Alerts newest first, filtered; of the floors in ``scope`` (None: every floor) and those of no one floor."""
    q = (select(_alerts).where(floors.in_scope(_alerts.c.floor_id, scope, unassigned=True))
         .order_by(_alerts.c.raised_at.desc(), _alerts.c.id.desc()).limit(min(limit, 1000)))
    if kind:
        q = q.where(_alerts.c.kind == kind)
    if door_id:
        q = q.where(_alerts.c.door_id == door_id)
    if since:
        q = q.where(_alerts.c.raised_at >= since)
    if until:
        q = q.where(_alerts.c.raised_at < until)
    if unacknowledged:
        q = q.where(_alerts.c.acknowledged_at.is_(None))
    with ctx.engine.connect() as conn:
        return [{**alert_payload(r), "ack_comment": r.ack_comment, "escalated_at": iso(r.escalated_at)}
                for r in conn.execute(q)]
