"""Visitors (§2.2, §6.6): approvals by the Hotline Management Section, visitor cards bound at the kiosk, who is inside.

The flow on the floor:

1. The Hotline Management Section (role ``management``, or an admin) records an approval: who,
   from which organisation, the last 4 characters of their ID document, the purpose, the time
   window, the host and whether an escort is required (``create_approval``).
2. At the kiosk, a leader identified by badge picks the approval and arms the kiosk
   (``start_binding``); the next unknown card tapped on the kiosk's reader within
   ``BINDING_WINDOW`` becomes that visitor's card (``kiosk_tap``).
3. At a door reader the door check (``kiosk.services.door_access``) finds the card through
   ``lookup``; a granted entry marks the visitor inside, an attempt outside the approved window
   raises an alarm naming the visitor (``after_door_tap``).
4. Tapping the card on the kiosk's reader again signs the visitor out and releases the card, which
   can then be bound to the next visitor. Bindings are rows, never overwritten: history is kept.

Decisions where the floor rules are silent:

* An armed binding is a row per kiosk (``armed_bindings``; the kiosk's reader id, which is also the
  kiosk id of the leader's session), so the process that takes the card's tap knows of an arming made
  through another. Each process looks at which kiosks are armed, with the cards visitors hold, at most
  once a second (``VISITOR_STATE_TTL``, and at once after it armed, bound or signed out itself): a tap
  is checked against the tables only at an armed kiosk or for a visitor's card.
* A binding tap and a sign-out tap do neither roll call nor a door check, even on a kiosk reader
  listed among a door's readers: at such a kiosk visitors enter through the door's own reader.
* A card may be bound before the window opens (reception hands it out early); the door enforces
  the window. An approval that has ended or was cancelled cannot be bound.
* One active card per approval: binding a new card to an approval replaces (releases) the old one,
  which is how a lost visitor card is handled; the new card keeps the visitor's inside state.
* A cancelled approval leaves its card bound but without an approval, so the door refuses it and
  the leader is alerted; the cancellation counts as the end of the window for the overstay check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, or_, select, update

from kiosk.domain import access
from kiosk.domain.badges import InvalidBadgeUid, masked_uid, normalize_uid
from kiosk.services import rollcall
from kiosk.services.context import ServiceContext
from kiosk.services.doors import Publication, alert_payload, iso, publish_all
from kiosk.services.errors import NotFound, NotPermitted, ServiceError
from kiosk.store.db import write_transaction
from kiosk.store.eventlog import log_event
from kiosk.store.lean import Prepared
from kiosk.store.models import Alert, ArmedBindingRow, Badge, Door, Staff, VisitorApproval, VisitorCard

logger = logging.getLogger(__name__)

_approvals, _cards, _staff = VisitorApproval.__table__, VisitorCard.__table__, Staff.__table__
_badges, _alerts, _armed_t = Badge.__table__, Alert.__table__, ArmedBindingRow.__table__

APPROVER_ROLES = ("management", "admin")  # §2.2: the Hotline Management Section approves visits
BIND_ROLES = ("leader", "supervisor", "security", "admin")  # hand out visitor cards at the kiosk
BINDING_WINDOW = timedelta(seconds=30)  # an armed kiosk binds the next unknown card within this long
_ALERT_MESSAGE_MAX = 300  # Alert.message


@dataclass(frozen=True)
class ArmedBinding:
    """A kiosk waiting for the card to bind to an approval."""

    kiosk_id: str
    approval_id: int
    name: str
    armed_by: str
    expires_at: datetime


# ---------------------------------------------------------------------------------------------
# Approvals


def parse_time(value: datetime | str, tz: tzinfo) -> datetime:
    """A time as ISO-8601 with an offset, or local ``YYYY-MM-DD HH:MM`` in ``tz``; aware UTC out.

    An aware ``datetime`` passes through; a naive one is left naive for the rules to refuse.
    """
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ServiceError("bad_time", f"{text!r} is not a time: give ISO-8601 with an offset "
                                       "(2026-11-30T14:00+08:00) or local YYYY-MM-DD HH:MM.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)  # a time without offset is the floor's local time
    return parsed.astimezone(timezone.utc)


def _approver(conn: Connection, employee_no: str) -> Any:
    """The active management section member or admin acting; else NotPermitted (§2.2)."""
    row = conn.execute(select(_staff).where(_staff.c.employee_no == employee_no)).first()
    if row is None:
        raise NotPermitted("not_permitted", f"{employee_no!r} is not a known member of staff; visitors are approved "
                                            "by the Hotline Management Section (§2.2).")
    if not row.active:
        raise NotPermitted("not_permitted", f"{row.name} ({employee_no}) has left and cannot approve visitors.")
    if row.role not in APPROVER_ROLES:
        raise NotPermitted("not_permitted", f"{row.name} ({employee_no}) is {row.role}: only the Hotline Management "
                                            "Section (role management) or an admin approves visitors (§2.2).")
    return row


def _checked_values(ctx: ServiceContext, conn: Connection, fields: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The approval's columns from the given fields, or ServiceError listing every problem."""
    problems: list[str] = []
    times: dict[str, datetime | None] = {}
    for key, label in (("valid_from", "start"), ("valid_until", "end")):
        raw = fields.get(key)
        times[key] = None
        if raw in (None, ""):
            problems.append(f"Give the approval's {label} time.")
            continue
        try:
            times[key] = parse_time(raw, ctx.tz)
        except ServiceError as exc:
            problems.append(f"The {label} time: {exc.message}")
    valid_from = times["valid_from"] or now  # placeholders, only so the other fields are still checked
    valid_until = times["valid_until"] or valid_from + timedelta(microseconds=1)
    host_no = str(fields.get("host_employee_no") or "").strip()
    approval = access.VisitorApproval(
        name=str(fields.get("name") or "").strip(), organisation=str(fields.get("organisation") or "").strip(),
        purpose=str(fields.get("purpose") or "").strip().lower(), valid_from=valid_from, valid_until=valid_until,
        escort_required=bool(fields.get("escort_required")), host_employee_no=host_no,
        id_doc_tail=str(fields.get("id_doc_tail") or "").strip().upper())
    problems += access.validate_approval(approval)
    if times["valid_until"] is not None and valid_until.tzinfo is not None and valid_until <= now:
        problems.append("The approval's window has already ended.")
    if not host_no:
        problems.append("Name the host: the employee number of the member of staff the visitor comes to see.")
    else:
        host = conn.execute(select(_staff.c.active).where(_staff.c.employee_no == host_no)).first()
        if host is None or not host.active:
            problems.append(f"The host {host_no} is not an active member of staff.")
    if problems:
        # The message never repeats the fields: a refused ID number must not end up in the log.
        raise ServiceError("invalid_approval", "The approval was not saved: " + " ".join(problems),
                           problems=problems)
    return {"name": approval.name, "organisation": approval.organisation, "id_doc_tail": approval.id_doc_tail,
            "purpose": approval.purpose, "valid_from": approval.valid_from, "valid_until": approval.valid_until,
            "host_employee_no": host_no, "escort_required": approval.escort_required}


def _log_refusal(ctx: ServiceContext, kind: str, actor: str, subject: str, exc: ServiceError) -> None:
    with ctx.engine.begin() as conn:
        log_event(conn, at=ctx.now(), kind=kind, actor=str(actor)[:64], subject=subject[:64], outcome=exc.code,
                  reason=exc.message, rule="§2.2")


def create_approval(ctx: ServiceContext, actor_employee_no: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Record a visit approved by the Hotline Management Section (§2.2); refusals are logged too.

    ``fields``: name, organisation, id_doc_tail (exactly the last 4 characters), purpose (consult,
    visit, photograph, record), valid_from and valid_until (aware datetimes or text, see
    ``parse_time``), host_employee_no, escort_required.
    """
    now = ctx.now()
    try:
        with ctx.engine.begin() as conn:
            actor = _approver(conn, actor_employee_no)
            values = _checked_values(ctx, conn, fields, now)
            approval_id = conn.execute(insert(_approvals).values(
                **values, created_by=actor.employee_no, created_at=now)).inserted_primary_key[0]
            log_event(conn, at=now, kind="visitor_approved", actor=actor.employee_no, subject=str(approval_id),
                      outcome=values["purpose"], rule="§2.2",
                      reason=f"{values['name']} ({values['organisation']}), host {values['host_employee_no']}",
                      data={"valid_from": iso(values["valid_from"]), "valid_until": iso(values["valid_until"]),
                            "escort_required": values["escort_required"]})
            payload = _approval_payload(conn, _approval_row(conn, approval_id), now)
    except ServiceError as exc:
        _log_refusal(ctx, "visitor_approval_refused", actor_employee_no, "", exc)
        raise
    logger.info("visitor approval %s recorded by %s", approval_id, actor_employee_no)
    ctx.publish("visitor_approved", payload)
    return payload


def cancel_approval(ctx: ServiceContext, actor_employee_no: str, approval_id: int, reason: str = "") -> dict[str, Any]:
    """Cancel an approval: its card no longer opens a door; a visitor inside is the leader's to see out."""
    now = ctx.now()
    reason = (reason or "").strip()[:200]
    try:
        with ctx.engine.begin() as conn:
            actor = _approver(conn, actor_employee_no)
            row = _approval_row(conn, approval_id)
            if row is None:
                raise NotFound("no_such_approval", f"Visitor approval {approval_id} does not exist.")
            if row.cancelled_at is not None:
                raise ServiceError("already_cancelled", f"Visitor approval {approval_id} was already cancelled by "
                                                        f"{row.cancelled_by}.")
            conn.execute(update(_approvals).where(_approvals.c.id == approval_id)
                         .values(cancelled_at=now, cancelled_by=actor.employee_no))
            log_event(conn, at=now, kind="visitor_approval_cancelled", actor=actor.employee_no,
                      subject=str(approval_id), outcome="cancelled", reason=reason, rule="§2.2")
            payload = _approval_payload(conn, _approval_row(conn, approval_id), now)
    except ServiceError as exc:
        _log_refusal(ctx, "visitor_cancel_refused", actor_employee_no, str(approval_id), exc)
        raise
    ctx.publish("visitor_approval_cancelled", payload)
    if payload["inside"]:
        _publish_inside(ctx)
    return payload


def approvals(ctx: ServiceContext, include_all: bool = False) -> list[dict[str, Any]]:
    """Approvals by start time: by default those not cancelled and not yet ended; ``include_all`` for history."""
    now = ctx.now()
    q = select(_approvals).order_by(_approvals.c.valid_from, _approvals.c.id)
    if not include_all:
        q = q.where(_approvals.c.cancelled_at.is_(None), _approvals.c.valid_until > now)
    with ctx.engine.connect() as conn:
        return [_approval_payload(conn, r, now) for r in conn.execute(q).all()]


def list_for_console(ctx: ServiceContext, kiosk_id: str) -> dict[str, Any]:
    """Today's approvals still valid, for the leader identified at the kiosk to pick one to bind a card to."""
    rollcall.require_leader(ctx, kiosk_id, roles=BIND_ROLES)
    now = ctx.now()
    local_day = now.astimezone(ctx.tz).date()
    day_end = datetime.combine(local_day + timedelta(days=1), datetime.min.time(), ctx.tz)
    q = (select(_approvals).where(_approvals.c.cancelled_at.is_(None), _approvals.c.valid_until > now,
                                  _approvals.c.valid_from < day_end)
         .order_by(_approvals.c.valid_from, _approvals.c.id))
    with ctx.engine.connect() as conn:
        return {"approvals": [_approval_payload(conn, r, now) for r in conn.execute(q).all()]}


def _approval_row(conn: Connection, approval_id: int) -> Any:
    return conn.execute(select(_approvals).where(_approvals.c.id == approval_id)).first()


def _approval_payload(conn: Connection, row: Any, now: datetime) -> dict[str, Any]:
    """An approval as screens and the CLI show it, with the state of its card."""
    host = conn.execute(select(_staff.c.name).where(_staff.c.employee_no == row.host_employee_no)).first()
    card = conn.execute(select(_cards.c.uid, _cards.c.inside).where(
        _cards.c.approval_id == row.id, _cards.c.released_at.is_(None))).first()
    if row.cancelled_at is not None:
        status = "cancelled"
    elif now >= row.valid_until:
        status = "ended"
    elif now < row.valid_from:
        status = "upcoming"
    else:
        status = "valid"
    return {"id": row.id, "name": row.name, "organisation": row.organisation, "purpose": row.purpose,
            "id_doc_tail": row.id_doc_tail,  # for the leader to check against the ID document when binding
            "valid_from": iso(row.valid_from), "valid_until": iso(row.valid_until),
            "host_employee_no": row.host_employee_no, "host_name": host.name if host else None,
            "escort_required": bool(row.escort_required), "created_by": row.created_by,
            "created_at": iso(row.created_at), "cancelled_at": iso(row.cancelled_at), "status": status,
            "card_uid_tail": masked_uid(card.uid) if card else None, "inside": bool(card.inside) if card else False}


def _unbindable(row: Any, now: datetime) -> str | None:
    """Why no card can be bound to this approval now, if so."""
    if row.cancelled_at is not None:
        return f"The visit of {row.name} was cancelled."
    if now >= row.valid_until:
        return f"The visit of {row.name} has ended."
    return None


# ---------------------------------------------------------------------------------------------
# Binding cards at the kiosk


_ARMED_AT = select(_armed_t).where(_armed_t.c.kiosk_id == bindparam("kiosk_id"))
_ARMED_KIOSKS = select(_armed_t.c.kiosk_id).where(_armed_t.c.expires_at > bindparam("now"))


def _armed_at(conn: Connection, kiosk_id: str, now: datetime, *, lock: bool = False) -> ArmedBinding | None:
    """The binding armed at this kiosk and not yet lapsed, or None."""
    query = _ARMED_AT.with_for_update() if lock else _ARMED_AT
    row = conn.execute(query, {"kiosk_id": kiosk_id}).first()
    if row is None or row.expires_at <= now:
        return None
    return ArmedBinding(row.kiosk_id, row.approval_id, row.name, row.armed_by, row.expires_at)


def start_binding(ctx: ServiceContext, kiosk_id: str, approval_id: int) -> dict[str, Any]:
    """The leader at the kiosk arms it: the next unknown card tapped within 30 s becomes the visitor's card."""
    leader = rollcall.require_leader(ctx, kiosk_id, roles=BIND_ROLES)
    now = ctx.now()
    with ctx.engine.connect() as conn:
        row = _approval_row(conn, approval_id)
    if row is None:
        raise NotFound("no_such_approval", f"Visitor approval {approval_id} does not exist.")
    problem = _unbindable(row, now)
    if problem:
        raise ServiceError("approval_not_valid", problem + " Ask the Hotline Management Section for an approval.")
    armed = ArmedBinding(kiosk_id, row.id, row.name, leader.employee_no, now + BINDING_WINDOW)
    with write_transaction(ctx.engine) as conn:
        conn.execute(delete(_armed_t).where(_armed_t.c.kiosk_id == kiosk_id))
        conn.execute(insert(_armed_t).values(kiosk_id=kiosk_id, approval_id=row.id, name=row.name,
                                             armed_by=leader.employee_no, expires_at=armed.expires_at))
        log_event(conn, at=now, kind="visitor_binding_armed", actor=leader.employee_no, subject=str(row.id),
                  outcome=kiosk_id, rule="§2.2")
    _forget_visitor_state(ctx)
    payload = _armed_payload(armed)
    ctx.publish("visitor_binding_armed", payload)
    return payload


def _armed_payload(armed: ArmedBinding) -> dict[str, Any]:
    return {"kiosk": armed.kiosk_id, "approval_id": armed.approval_id, "name": armed.name,
            "armed_by": armed.armed_by, "expires_at": iso(armed.expires_at)}


def binding_payload(ctx: ServiceContext, kiosk_id: str) -> dict[str, Any] | None:
    """The binding armed at this kiosk, for its snapshot, or None."""
    with ctx.engine.connect() as conn:
        armed = _armed_at(conn, kiosk_id, ctx.now())
    return _armed_payload(armed) if armed is not None else None


_ACTIVE_CARD = (  # built once: every roll call tap asks it
    select(_cards.c.id.label("card_id"), _cards.c.uid, _cards.c.inside, _cards.c.entered_at,
           _approvals.c.id.label("approval_id"), _approvals.c.name, _approvals.c.organisation,
           _approvals.c.purpose, _approvals.c.valid_from, _approvals.c.valid_until,
           _approvals.c.host_employee_no, _approvals.c.escort_required, _approvals.c.id_doc_tail,
           _approvals.c.cancelled_at)
    .join(_approvals, _approvals.c.id == _cards.c.approval_id)
    .where(_cards.c.uid == bindparam("uid"), _cards.c.released_at.is_(None)))


def _active_card(conn: Connection, uid: str) -> Any:
    """The active binding of a card UID with its approval, or None."""
    return conn.execute(_ACTIVE_CARD, {"uid": uid}).first()


_ACTIVE_UIDS = select(_cards.c.uid).where(_cards.c.released_at.is_(None))
VISITOR_STATE_TTL = timedelta(seconds=1)


def _visitor_state(ctx: ServiceContext, now: datetime) -> tuple[frozenset[str], frozenset[str]]:
    """UIDs of the cards visitors hold now, and the kiosks armed now: two small queries on one connection at
    most once a second, instead of a look at the tables on every roll call tap.

    This process looks again at once after it binds, signs out or arms; what another server process did is
    seen here within a second.
    """
    cached = getattr(ctx, "_visitor_state", None)
    if cached is not None and now - cached[0] < VISITOR_STATE_TTL and cached[0] <= now:
        return cached[1], cached[2]
    with ctx.engine.connect() as conn:
        uids = frozenset(r.uid for r in conn.execute(_ACTIVE_UIDS))
        kiosks = frozenset(conn.execute(_ARMED_KIOSKS, {"now": now}).scalars())
    ctx._visitor_state = (now, uids, kiosks)  # type: ignore[attr-defined]
    return uids, kiosks


def _forget_visitor_state(ctx: ServiceContext) -> None:
    ctx._visitor_state = None  # type: ignore[attr-defined]


def kiosk_tap(ctx: ServiceContext, raw_uid: str, reader_id: str, at: datetime | None = None) -> dict[str, Any] | None:
    """A tap on a kiosk's reader as far as visitors go: bind it, sign it out, or None (roll call's turn)."""
    now = at or ctx.now()
    try:
        uid = normalize_uid(raw_uid)
    except InvalidBadgeUid:
        return None  # roll call answers a bad read
    held, armed_kiosks = _visitor_state(ctx, now)
    armed_here = reader_id in armed_kiosks
    # The roll call hot path: a card no visitor holds, at a kiosk not armed, is roll call's at once.
    if not armed_here and uid not in held:
        return None
    with ctx.engine.connect() as conn:
        card = _active_card(conn, uid)
        armed = _armed_at(conn, reader_id, now) if armed_here and card is None else None
        is_badge = armed is not None and conn.execute(
            select(_badges.c.id).where(_badges.c.uid == uid)).first() is not None
    if card is not None:
        return _sign_out(ctx, uid, reader_id, now)
    if armed is None or is_badge:
        return None  # a staff badge never becomes a visitor card; the leader's tap refreshes the session
    with write_transaction(ctx.engine) as conn:
        # Claim the arming: of two taps at once, on any process, only one binds.
        if _armed_at(conn, reader_id, now, lock=True) != armed:
            return None
        conn.execute(delete(_armed_t).where(_armed_t.c.kiosk_id == reader_id))
    _forget_visitor_state(ctx)
    return _bind(ctx, armed, uid, reader_id, now)


def _bind(ctx: ServiceContext, armed: ArmedBinding, uid: str, reader_id: str, now: datetime) -> dict[str, Any]:
    """Bind a card to the armed approval (§2.2); an earlier card of the same approval is released."""
    with ctx.engine.begin() as conn:
        row = _approval_row(conn, armed.approval_id)
        problem = _unbindable(row, now) if row is not None else "The approval no longer exists."
        if problem:
            log_event(conn, at=now, kind="visitor_binding_refused", actor=armed.armed_by, subject=uid,
                      outcome=str(armed.approval_id), reason=problem, rule="§2.2")
        else:
            earlier = conn.execute(select(_cards).where(_cards.c.approval_id == row.id,
                                                        _cards.c.released_at.is_(None))).all()
            for old in earlier:
                conn.execute(update(_cards).where(_cards.c.id == old.id)
                             .values(released_at=now, released_by=armed.armed_by))
                log_event(conn, at=now, kind="visitor_card_released", actor=armed.armed_by, subject=old.uid,
                          outcome=str(row.id), reason="replaced by a new card", rule="§2.2")
            # The visitor keeps their place: a replacement card handed out inside is still inside.
            inside = next((o for o in earlier if o.inside), None)
            card_id = conn.execute(insert(_cards).values(
                uid=uid, approval_id=row.id, bound_at=now, bound_by=armed.armed_by,
                inside=inside is not None, entered_at=inside.entered_at if inside else None,
                overstayed_at=inside.overstayed_at if inside else None)).inserted_primary_key[0]
            log_event(conn, at=now, kind="visitor_card_bound", actor=armed.armed_by, subject=uid,
                      outcome=str(row.id), reason=f"{row.name} ({row.organisation})", rule="§2.2",
                      data={"card_id": card_id, "kiosk": reader_id})
    if problem:
        payload = {"outcome": "binding_refused", "kiosk": reader_id, "approval_id": armed.approval_id,
                   "uid_tail": masked_uid(uid), "message": problem, "at": iso(now)}
        ctx.publish("visitor_binding_refused", payload)
        return payload
    payload = {"outcome": "bound", "kiosk": reader_id, "card_id": card_id, "approval_id": row.id, "name": row.name,
               "organisation": row.organisation, "purpose": row.purpose, "uid_tail": masked_uid(uid),
               "bound_by": armed.armed_by, "valid_from": iso(row.valid_from), "valid_until": iso(row.valid_until),
               "escort_required": bool(row.escort_required), "at": iso(now)}
    logger.info("visitor card %s bound to approval %s by %s", masked_uid(uid), row.id, armed.armed_by)
    _forget_visitor_state(ctx)
    ctx.publish("visitor_card_bound", payload)
    return payload


def _sign_out(ctx: ServiceContext, uid: str, reader_id: str, now: datetime) -> dict[str, Any]:
    """The visitor taps their card at the kiosk on the way out: release it, clear their overstay alert."""
    pubs: list[Publication] = []
    with ctx.engine.begin() as conn:
        card = _active_card(conn, uid)
        if card is None:
            raise ServiceError("already_signed_out", f"Visitor card {masked_uid(uid)} was already signed out.")
        conn.execute(update(_cards).where(_cards.c.id == card.card_id)
                     .values(released_at=now, released_by=f"reader:{reader_id}", inside=False))
        log_event(conn, at=now, kind="visitor_signed_out", actor=f"reader:{reader_id}", subject=uid,
                  outcome=str(card.approval_id), reason=f"{card.name} ({card.organisation})", rule="§2.2",
                  data={"card_id": card.card_id, "was_inside": bool(card.inside),
                        "entered_at": iso(card.entered_at)})
        for a in conn.execute(select(_alerts.c.id, _alerts.c.kind).where(
                _alerts.c.condition == _condition(card.card_id), _alerts.c.cleared_at.is_(None))).all():
            conn.execute(update(_alerts).where(_alerts.c.id == a.id).values(cleared_at=now))
            log_event(conn, at=now, kind="alert_cleared", actor=f"reader:{reader_id}", subject=str(a.id),
                      outcome=a.kind, reason="the visitor signed out", rule="§2.2")
            pubs.append(("alert_cleared", {"id": a.id, "kind": a.kind, "door_id": None, "cleared_at": iso(now),
                                           "reason": "the visitor signed out"}))
    payload = {"outcome": "signed_out", "kiosk": reader_id, "card_id": card.card_id,
               "approval_id": card.approval_id, "name": card.name, "organisation": card.organisation,
               "uid_tail": masked_uid(uid), "was_inside": bool(card.inside), "at": iso(now)}
    logger.info("visitor card %s signed out at %s", masked_uid(uid), reader_id)
    _forget_visitor_state(ctx)
    ctx.publish("visitor_signed_out", payload)
    publish_all(ctx, pubs)
    if card.inside:
        _publish_inside(ctx)
    return payload


def _condition(card_id: int) -> str:
    """What clears a visitor alert: the card's binding ending."""
    return f"visitor_card:{card_id}"


# ---------------------------------------------------------------------------------------------
# At the door


def lookup(conn: Connection, uid: str, now: datetime) -> access.VisitorCardFacts | None:
    """The door check's ``visitor_lookup``: an actively bound card with its approval; released or unknown: None."""
    row = _active_card(conn, uid)
    if row is None:
        return None
    if row.cancelled_at is not None and row.cancelled_at <= now:
        return access.VisitorCardFacts(uid, None)  # bound, but no approval any more: refused (§2.2)
    return access.VisitorCardFacts(uid, access.VisitorApproval(
        name=row.name, organisation=row.organisation, purpose=row.purpose, valid_from=row.valid_from,
        valid_until=row.valid_until, escort_required=bool(row.escort_required),
        host_employee_no=row.host_employee_no, id_doc_tail=row.id_doc_tail, approval_id=str(row.approval_id)))


def after_door_tap(ctx: ServiceContext, raw_uid: str, decision: dict[str, Any]) -> None:
    """After a door decision: a granted visitor is inside; a visitor refused for the window raises an alarm (§2.2)."""
    outcome = decision.get("outcome")
    if outcome not in (access.AccessOutcome.GRANTED.value, access.AccessOutcome.VISITOR_OUTSIDE_WINDOW.value):
        return
    if outcome == access.AccessOutcome.GRANTED.value and not decision.get("visitor"):
        return  # a staff badge: nothing to look up on the door's hot path
    uid = normalize_uid(raw_uid)
    at = datetime.fromisoformat(decision["at"])
    pubs: list[Publication] = []
    entered = False
    with ctx.engine.begin() as conn:
        card = _active_card(conn, uid)
        if card is None:
            return  # a staff badge
        if outcome == access.AccessOutcome.GRANTED.value:
            entered = bool(conn.execute(update(_cards).where(_cards.c.id == card.card_id, _cards.c.inside.is_(False))
                                        .values(inside=True, entered_at=at)).rowcount)
        else:
            door = decision.get("door_name") or decision.get("door_id")
            if card.cancelled_at is not None:
                why = f"but the approval was cancelled at {_local(ctx, card.cancelled_at)}"
            else:
                why = (f"outside the approved window {_local(ctx, card.valid_from)} to "
                       f"{_local(ctx, card.valid_until)}")
            message = (f"Visitor {_who(card)}, host {card.host_employee_no}, tried to enter at {door} {why}: "
                       "stop them and call the host (§2.2).")
            pubs.append(_raise(conn, kind="visitor_outside_window", severity="alarm", at=at, subject=card.name,
                               message=message, door_id=decision.get("door_id"), condition="",
                               actor=f"door:{decision.get('door_id')}"))
    publish_all(ctx, pubs)
    if entered:
        _publish_inside(ctx)


def _raise(conn: Connection, *, kind: str, severity: str, at: datetime, subject: str, message: str,
           door_id: str | None, condition: str, actor: str) -> Publication:
    """Store and log a visitor alert in the caller's transaction; return what to publish after the commit."""
    floor_id = conn.execute(select(Door.__table__.c.floor_id).where(Door.__table__.c.id == door_id)).scalar() \
        if door_id else None  # a door's alert is its floor's; an overstay is every floor's
    alert = {"kind": kind, "condition": condition, "severity": severity, "rule": "§2.2", "door_id": door_id,
             "subject": subject[:100], "message": _fit(message), "raised_at": at, "level": 0, "data": "{}",
             "floor_id": floor_id}
    alert_id = conn.execute(insert(_alerts).values(**alert)).inserted_primary_key[0]
    log_event(conn, at=at, kind="alert_raised", actor=actor, subject=str(alert_id), outcome=kind,
              reason=alert["message"], rule="§2.2")
    return ("alert_raised", alert_payload({**alert, "id": alert_id}))


_VISITORS_INSIDE = (select(_approvals.c.name, _approvals.c.organisation)
                    .join(_cards, _cards.c.approval_id == _approvals.c.id)
                    .where(_cards.c.released_at.is_(None), _cards.c.inside.is_(True))
                    .order_by(_cards.c.entered_at, _cards.c.id))  # built once: asked on every forced opening
_VISITORS_INSIDE_LEAN = Prepared(_VISITORS_INSIDE)  # straight on the driver (kiosk.store.lean)


def note_visitors_inside(conn: Connection, message: str) -> str:
    """A door alert's message naming the visitors inside the call area, if any (§6.6)."""
    rows = _VISITORS_INSIDE_LEAN.all(conn)
    if not rows:
        return message
    return _fit(f"{message} Visitors inside: {', '.join(_who(r) for r in rows)}.")


def _who(row: Any) -> str:
    return f"{row.name} ({row.organisation})" if row.organisation else row.name


def _fit(text: str, limit: int = _ALERT_MESSAGE_MAX) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _local(ctx: ServiceContext, when: datetime) -> str:
    return f"{when.astimezone(ctx.tz):%Y-%m-%d %H:%M}"


# ---------------------------------------------------------------------------------------------
# Who is inside, and the timer


def inside_now(ctx: ServiceContext) -> list[dict[str, Any]]:
    """The visitors inside the call area now (entered with their card, not signed out), earliest first."""
    now = ctx.now()
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(_cards.c.id, _cards.c.uid, _cards.c.entered_at, _cards.c.overstayed_at,
                   _approvals.c.id.label("approval_id"), _approvals.c.name, _approvals.c.organisation,
                   _approvals.c.purpose, _approvals.c.valid_until, _approvals.c.cancelled_at,
                   _approvals.c.host_employee_no, _approvals.c.escort_required, _staff.c.name.label("host_name"))
            .join(_approvals, _approvals.c.id == _cards.c.approval_id)
            .outerjoin(_staff, _staff.c.employee_no == _approvals.c.host_employee_no)
            .where(_cards.c.released_at.is_(None), _cards.c.inside.is_(True))
            .order_by(_cards.c.entered_at, _cards.c.id)).all()
    return [{"card_id": r.id, "approval_id": r.approval_id, "name": r.name, "organisation": r.organisation,
             "purpose": r.purpose, "host_employee_no": r.host_employee_no, "host_name": r.host_name,
             "escort_required": bool(r.escort_required), "uid_tail": masked_uid(r.uid),
             "entered_at": iso(r.entered_at), "valid_until": iso(r.valid_until),
             "cancelled": r.cancelled_at is not None,
             "overstayed": r.overstayed_at is not None or _visit_end(r) <= now}
            for r in rows]


def _visit_end(row: Any) -> datetime:
    """When the visit ends: the window's end, or the cancellation if earlier."""
    return min(row.valid_until, row.cancelled_at) if row.cancelled_at is not None else row.valid_until


def _publish_inside(ctx: ServiceContext) -> None:
    ctx.publish("visitors_changed", {"visitors": inside_now(ctx)})


_LAPSED = select(_armed_t.c.kiosk_id, _armed_t.c.approval_id).where(_armed_t.c.expires_at <= bindparam("now"))
_LAPSED_LEAN = Prepared(_LAPSED)
# Visitors inside whose visit has ended (or was cancelled) and who are not yet flagged.
_OVERSTAYED_LEAN = Prepared(
    select(_cards.c.id, _cards.c.entered_at, _approvals.c.name, _approvals.c.organisation,
           _approvals.c.valid_until, _approvals.c.cancelled_at, _approvals.c.host_employee_no)
    .join(_approvals, _approvals.c.id == _cards.c.approval_id)
    .where(_cards.c.released_at.is_(None), _cards.c.inside.is_(True), _cards.c.overstayed_at.is_(None),
           or_(_approvals.c.valid_until <= bindparam("now"),
               and_(_approvals.c.cancelled_at.is_not(None), _approvals.c.cancelled_at <= bindparam("now")))))


def tick(ctx: ServiceContext) -> list[dict[str, Any]]:
    """Disarm bindings past their 30 s; flag, once per visit, a visitor still inside after their window (§2.2).

    Every second, so it first looks (two statements on the driver) and writes only when something is due.
    """
    now = ctx.now()
    with ctx.engine.connect() as conn:
        expired = _LAPSED_LEAN.all(conn, {"now": now})
        due = _OVERSTAYED_LEAN.all(conn, {"now": now})
    if expired:
        with write_transaction(ctx.engine) as conn:
            # Again: a tap may have used one meanwhile.
            expired = conn.execute(_LAPSED.with_for_update(), {"now": now}).all()
            conn.execute(delete(_armed_t).where(_armed_t.c.kiosk_id.in_([a.kiosk_id for a in expired]),
                                                _armed_t.c.expires_at <= now))
    for a in expired:
        ctx.publish("visitor_binding_expired", {"kiosk": a.kiosk_id, "approval_id": a.approval_id})
    if not due:
        return []
    pubs: list[Publication] = []
    with ctx.engine.begin() as conn:
        for r in due:
            if not conn.execute(update(_cards).where(_cards.c.id == r.id, _cards.c.overstayed_at.is_(None))
                                .values(overstayed_at=now)).rowcount:
                continue  # another process flagged it first
            ended = "was cancelled" if r.cancelled_at is not None and r.cancelled_at <= r.valid_until else "ended"
            message = (f"Visitor {_who(r)}, host {r.host_employee_no}, is still inside: the visit {ended} at "
                       f"{_local(ctx, _visit_end(r))}. See them out and sign their card out at the kiosk (§2.2).")
            pubs.append(_raise(conn, kind="visitor_overstayed", severity="warning", at=now, subject=r.name,
                               message=message, door_id=None, condition=_condition(r.id), actor="kiosk"))
    publish_all(ctx, pubs)
    if pubs:
        _publish_inside(ctx)
    return [p for _name, p in pubs]

