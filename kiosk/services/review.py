"""The entry log's review screens (§2.4, §6.6, §6.7): search with keyset paging, timelines, one event, summaries.

Queries read ``events`` through its indexes only: (at) for time ranges and the newest rows, (kind, at) for a
kind, (subject, at) for badges, visitor cards and door contacts, (actor, at) for a person's own actions and a
door's readers and rules. Paging is by keyset on (at, id), newest first, never OFFSET, so page 5 000 costs
what page 1 costs. Counts per day are one index range count per local day, not a GROUP BY over a
function of every row (see "Security review and desk login" in the README for the measurements).

Nothing here logs the reads: the web layer logs each view, search and export with who and the filter.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, bindparam, or_, select, text
from sqlalchemy.sql.elements import ColumnElement

from kiosk.domain import entryreview
from kiosk.domain.badges import InvalidBadgeUid, masked_uid, normalize_uid
from kiosk.services.doors import reader_ids
from kiosk.services.context import ServiceContext
from kiosk.services.errors import NotFound, ServiceError
from kiosk.store import eventlog
from kiosk.store.models import (AgentEvent, Badge, Door, Event, Floor, Point, Screen, Staff, UTCDateTime,
                                VisitorApproval, VisitorCard)

_e = Event.__table__
c = _e.c
_staff, _badges, _doors = Staff.__table__, Badge.__table__, Door.__table__
_floors, _screens, _points = Floor.__table__, Screen.__table__, Point.__table__
_approvals, _cards, _agents = VisitorApproval.__table__, VisitorCard.__table__, AgentEvent.__table__

# Kinds whose ``subject`` is a row id (an alert, a flag, an approval), never an employee number: a person
# search must not take alert #20002 for employee 20002.
ID_SUBJECT_KINDS = ("alert_raised", "alert_cleared", "alert_acknowledged", "alert_ack_refused", "alert_escalated",
                    "notification_failed", "floor_flag_acknowledged", "floor_flag_action_refused",
                    "visitor_approved", "visitor_approval_cancelled", "visitor_binding_armed")
# Kinds whose subject is a visitor approval's id.
APPROVAL_KINDS = ("visitor_approved", "visitor_approval_cancelled", "visitor_binding_armed")
# Door rows that are alarms or warnings (kiosk.domain.doors event names).
DOOR_ALARM_KINDS = ("door_forced_open", "door_held_open", "possible_tailgating", "door_sensor_unknown",
                    "door_tampered", "door_faulted")
# The kinds offered in the search form (free text is accepted too).
KNOWN_KINDS = ("door_tap", "door_tap_refused", "door_opened", "door_closed", "rollcall_tap", "rollcall_marked",
               "rollcall_closed", "point_changed", "alert_raised", "alert_acknowledged", "alert_cleared",
               "alert_escalated", *DOOR_ALARM_KINDS, "visitor_approved", "visitor_card_bound", "visitor_signed_out",
               "floor_flag_raised", "floor_flag_cleared", "login_succeeded", "login_refused", "session_expired",
               "access_refused", "log_searched", "log_viewed", "log_exported", "log_purged", "import_applied")
PAGE_SIZE, MAX_PAGE = 100, 500
TIMELINE_LIMIT = 5000
FIELD_MAX = 64


class FilterError(ServiceError):
    """A filter the search cannot use (a malformed date, a bad badge UID, a broken cursor), with what to fix."""

    status = 400


# --- the filter --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogFilter:
    """What a reviewer asked for: any of person, badge, door, floor, visitor, kind, outcome, and a time range
    (UTC)."""

    person: str = ""
    badge: str = ""
    door: str = ""
    floor: str = ""  # a floor's code: its doors and points, and the roll call taps at its kiosks
    visitor: str = ""
    kind: str = ""
    outcome: str = ""
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def describe(self, tz: ZoneInfo) -> dict[str, str]:
        """The filter as logged and carried in links: only what is set, times in local time."""
        names = ("person", "badge", "door", "floor", "visitor", "kind", "outcome")
        out = {k: getattr(self, k) for k in names if getattr(self, k)}
        if self.since:
            out["from"] = local_text(self.since, tz)
        if self.until:
            out["to"] = local_text(self.until, tz)
        return out

    @property
    def empty(self) -> bool:
        """True when nothing narrows the search."""
        return self == LogFilter()


FILTER_FIELDS = ("person", "badge", "door", "floor", "visitor", "kind", "outcome", "from", "to")


def local_text(at: datetime, tz: ZoneInfo) -> str:
    """An instant as the floor's local ``YYYY-MM-DDTHH:MM`` (what a datetime-local field shows)."""
    local = at.astimezone(tz)
    return local.strftime("%Y-%m-%dT%H:%M:%S" if local.second or local.microsecond else "%Y-%m-%dT%H:%M")


def parse_local(text: str, tz: ZoneInfo, name: str, *, end_of_day: bool = False) -> datetime:
    """``YYYY-MM-DD[ T]HH:MM[:SS]`` or ``YYYY-MM-DD`` in local time, as UTC; a date alone is its midnight
    (``end_of_day``: the next midnight, so "to 2026-11-24" includes that whole day)."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            if end_of_day:
                day += timedelta(days=1)
            return datetime.combine(day, time.min, tz).astimezone(timezone.utc)
        if len(raw) < 16 or raw[10] not in "T ":
            raise ValueError(raw)
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise FilterError("bad_date", f"“{name}” is not a date and time: {raw[:40]!r}. Use YYYY-MM-DD HH:MM "
                                      f"(local time, {tz.key}) or YYYY-MM-DD.", field=name) from None
    if value.tzinfo is not None:
        raise FilterError("bad_date", f"“{name}” must be local time ({tz.key}) without an offset: {raw[:40]!r}.",
                          field=name)
    return value.replace(tzinfo=tz).astimezone(timezone.utc)


def parse_filter(args: Mapping[str, str], tz: ZoneInfo) -> LogFilter:
    """A filter from form fields (person, badge, door, floor, visitor, kind, outcome, from, to); raise FilterError."""
    values: dict[str, Any] = {}
    for name in ("person", "badge", "door", "floor", "visitor", "kind", "outcome"):
        value = (args.get(name) or "").strip()
        if len(value) > FIELD_MAX:
            raise FilterError("too_long", f"“{name}” is longer than {FIELD_MAX} characters.", field=name)
        values[name] = value
    if values["badge"]:
        try:
            values["badge"] = normalize_uid(values["badge"])
        except InvalidBadgeUid as exc:
            raise FilterError("bad_badge", f"“badge” is not a badge UID: {exc}.", field="badge") from None
    since = parse_local(args["from"], tz, "from") if (args.get("from") or "").strip() else None
    until = parse_local(args["to"], tz, "to", end_of_day=True) if (args.get("to") or "").strip() else None
    if since and until and since >= until:
        raise FilterError("bad_range", "“from” must be before “to”.", field="to")
    return LogFilter(since=since, until=until, **values)


# --- resolving names to rows ------------------------------------------------------------------------------

@dataclass
class Scope:
    """A filter turned into SQL conditions, with what the names resolved to (shown above the results)."""

    conditions: list[ColumnElement[bool]] = field(default_factory=list)
    nothing: bool = False  # a name matched nobody: no row can match
    notes: list[str] = field(default_factory=list)
    people: list[tuple[str, str]] = field(default_factory=list)  # (employee_no, name)
    doors: list[tuple[str, str]] = field(default_factory=list)  # (door id, name)


def find_people(conn: Connection, text: str) -> list[Any]:
    """Staff by exact employee number, else exact name, else a name containing ``text`` (at most 20)."""
    cols = (_staff.c.id, _staff.c.employee_no, _staff.c.name, _staff.c.role, _staff.c.active)
    for cond in (_staff.c.employee_no == text, _staff.c.name == text):
        rows = conn.execute(select(*cols).where(cond)).all()
        if rows:
            return list(rows)
    like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return list(conn.execute(select(*cols).where(_staff.c.name.like(f"%{like}%", escape="\\"))
                             .order_by(_staff.c.employee_no).limit(20)).all())


def person_condition(employee_nos: Sequence[str], uids: Sequence[str] | Any) -> ColumnElement[bool]:
    """A person's rows: their badges as subject, their number as subject (not an id-subject kind), or as actor."""
    return or_(c.subject.in_(uids if not isinstance(uids, (list, tuple)) else list(uids)),
               and_(c.subject.in_(list(employee_nos)), c.kind.not_in(ID_SUBJECT_KINDS)),
               c.actor.in_(list(employee_nos)))


def door_actors(door: Any) -> tuple[list[str], list[str]]:
    """A door's actors (its rules, its readers) and subjects (its contact and exit button points)."""
    actors = [f"door:{door.id}"] + [f"reader:{r}" for r in reader_ids(door)]
    points = [p for p in (door.contact_point, door.exit_point) if p]
    return actors, points


def resolve(conn: Connection, f: LogFilter, *, time_range: bool = True) -> Scope:
    """Turn a filter's names (a person, a door, a visitor) into conditions on ``events``.

    ``time_range=False`` leaves out ``since``/``until``: a keyset query then sets one bound of its own per
    side, since SQLite walks an index from one lower and one upper bound and would otherwise pick the
    filter's, re-reading every earlier page.
    """
    scope = Scope()
    conds = scope.conditions
    if f.person:
        people = find_people(conn, f.person)
        if not people:
            scope.nothing = True
            scope.notes.append(f"No member of staff matches “{f.person}”.")
        else:
            scope.people = [(p.employee_no, p.name) for p in people]
            # Every badge they ever held, as a subquery of the search itself: one round trip less.
            uids = select(_badges.c.uid).where(_badges.c.staff_id.in_([p.id for p in people])).scalar_subquery()
            conds.append(person_condition([p.employee_no for p in people], uids))
            if len(people) > 1:
                scope.notes.append(f"“{f.person}” matches {len(people)} people: "
                                   + ", ".join(f"{p.name} ({p.employee_no})" for p in people) + ".")
    if f.badge:
        conds.append(c.subject == f.badge)
    if f.door:
        doors = conn.execute(select(_doors).where(or_(_doors.c.id == f.door, _doors.c.name == f.door))).all()
        if not doors:
            scope.nothing = True
            scope.notes.append(f"No door “{f.door}”.")
        else:
            scope.doors = [(d.id, d.name) for d in doors]
            actors = [a for d in doors for a in door_actors(d)[0]]
            points = [p for d in doors for p in door_actors(d)[1]]
            conds.append(or_(c.actor.in_(actors), c.subject.in_(points)))
    if f.floor:
        floor_row = conn.execute(select(_floors.c.id, _floors.c.code).where(_floors.c.code == f.floor)).first()
        if floor_row is None:
            scope.nothing = True
            scope.notes.append(f"No floor “{f.floor}”.")
        else:
            # A floor's rows: its doors' rules and readers, its points' changes, the roll call taps at its kiosks.
            doors = conn.execute(select(_doors).where(_doors.c.floor_id == floor_row.id)).all()
            kiosks = conn.execute(select(_screens.c.name).where(_screens.c.floor_id == floor_row.id)).scalars().all()
            points = conn.execute(select(_points.c.id).where(_points.c.floor_id == floor_row.id)).scalars().all()
            actors = [a for d in doors for a in door_actors(d)[0]] + [f"reader:{k}" for k in kiosks]
            conds.append(or_(c.actor.in_(actors), c.subject.in_(list(points))))
    if f.visitor:
        cond = (_approvals.c.id == int(f.visitor) if f.visitor.isdigit()
                else _approvals.c.name.contains(f.visitor, autoescape=True))
        approvals = conn.execute(select(_approvals.c.id, _approvals.c.name).where(cond).limit(50)).all()
        if not approvals:
            scope.nothing = True
            scope.notes.append(f"No visitor approval matches “{f.visitor}”.")
        else:
            ids = [a.id for a in approvals]
            uids = [u for (u,) in conn.execute(select(_cards.c.uid).where(_cards.c.approval_id.in_(ids)).distinct())]
            conds.append(or_(c.subject.in_(uids),
                             and_(c.kind.in_(APPROVAL_KINDS), c.subject.in_([str(i) for i in ids]))))
    if f.kind:
        conds.append(c.kind == f.kind)
    if f.outcome:
        conds.append(c.outcome == f.outcome)
    if time_range and f.since:
        conds.append(c.at >= f.since)
    if time_range and f.until:
        conds.append(c.at < f.until)
    return scope


# --- search with keyset paging -----------------------------------------------------------------------------

def cursor_of(at: datetime, event_id: int) -> str:
    """A page boundary: the (at, id) of a row, as text safe in a URL."""
    return f"{at.astimezone(timezone.utc).strftime('%Y%m%dT%H%M%S.%f')}~{event_id}"


def parse_cursor(text: str) -> tuple[datetime, int]:
    """The (at, id) of a cursor; FilterError when it was tampered with."""
    try:
        when, _, ident = text.partition("~")
        return datetime.strptime(when, "%Y%m%dT%H%M%S.%f").replace(tzinfo=timezone.utc), int(ident)
    except ValueError:
        raise FilterError("bad_cursor", "The page link is broken; start the search again.") from None


LIST_COLUMNS = (c.id, c.at, c.kind, c.actor, c.subject, c.outcome, c.reason, c.rule, c.data, c.seq)


@dataclass
class Page:
    """One page of a search, newest first, with the cursors for the next older and newer pages."""

    rows: list[dict[str, Any]]
    older: str | None
    newer: str | None
    scope: Scope


def search(ctx: ServiceContext, f: LogFilter, *, cursor: str | None = None, direction: str = "older",
           limit: int = PAGE_SIZE, describe: bool = True) -> Page:
    """A page of rows matching ``f``, ordered by (at, id) descending; ``cursor`` and ``direction`` page on.

    ``describe=False`` returns the rows as the database gave them (no names, no local times): the query
    alone, as the benchmark measures it against raw ``sqlite3``.
    """
    limit = max(1, min(int(limit), MAX_PAGE))
    after = parse_cursor(cursor) if cursor else None
    with ctx.engine.connect() as conn:
        scope = resolve(conn, f, time_range=False)
        if scope.nothing:
            return Page([], None, None, scope)
        query = select(*LIST_COLUMNS).where(*scope.conditions)
        # One bound per side on ``at``: the cursor's where it is tighter than the filter's (see ``resolve``).
        lower, upper, upper_strict = f.since, f.until, True
        if after is not None:
            at, ident = after
            if direction == "newer":
                query = query.where(or_(c.at > at, c.id > ident))
                lower = at if lower is None or at >= lower else lower
            else:
                query = query.where(or_(c.at < at, c.id < ident))
                if upper is None or at < upper:
                    upper, upper_strict = at, False
        if lower is not None:
            query = query.where(c.at >= lower)
        if upper is not None:
            query = query.where(c.at < upper if upper_strict else c.at <= upper)
        newer_first = after is not None and direction == "newer"
        query = query.order_by(c.at.asc(), c.id.asc()) if newer_first else query.order_by(c.at.desc(), c.id.desc())
        rows = conn.execute(query.limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        if after is not None and direction == "newer":
            rows.reverse()
            newer = cursor_of(rows[0].at, rows[0].id) if more and rows else None
            older = cursor_of(rows[-1].at, rows[-1].id) if rows else cursor
        else:
            older = cursor_of(rows[-1].at, rows[-1].id) if more else None
            newer = cursor_of(rows[0].at, rows[0].id) if after is not None and rows else None
        described = describe_rows(conn, rows, ctx.tz) if describe else rows
    return Page(described, older, newer, scope)


def describe_rows(conn: Connection, rows: Sequence[Any], tz: ZoneInfo) -> list[dict[str, Any]]:
    """Rows as the screens show them: local time, the person or visitor behind a badge UID, the UID masked.

    A tap row names its person in ``data`` (right even if the badge was later re-issued); other rows with a
    badge or visitor card as subject are looked up, in one query each, only when there are any.
    """
    named: dict[int, str] = {}
    for r in rows:
        if r.kind in ("door_tap", "rollcall_tap") and '"employee_no":"' in r.data:
            emp = _json(r.data).get("employee_no")
            if isinstance(emp, str):
                named[r.id] = emp
    names = _names(conn, set(named.values()))
    rest = {r.subject for r in rows if r.id not in named and r.subject and _uid_like(r.subject)}
    staff = {u.uid: (u.employee_no, u.name) for u in conn.execute(
        select(_badges.c.uid, _staff.c.employee_no, _staff.c.name).join(_staff, _staff.c.id == _badges.c.staff_id)
        .where(_badges.c.uid.in_(rest)))} if rest else {}
    rest -= set(staff)
    visitors = {v.uid: v.name for v in conn.execute(
        select(_cards.c.uid, _approvals.c.name).join(_approvals, _approvals.c.id == _cards.c.approval_id)
        .where(_cards.c.uid.in_(rest)))} if rest else {}
    out = []
    offset: tuple[Any, Any] = (None, None)
    for r in rows:
        who, subject = "", r.subject
        emp = named.get(r.id)
        if emp is not None and emp in names:
            who, subject = f"{names[emp]} ({emp})", masked_uid(r.subject)
        elif r.subject in staff:
            who, subject = f"{staff[r.subject][1]} ({staff[r.subject][0]})", masked_uid(r.subject)
        elif r.subject in visitors:
            who, subject = f"{visitors[r.subject]} (visitor)", masked_uid(r.subject)
        # The zone's offset, looked up again only when the hour changes (cheap local times for long pages).
        hour = r.at.replace(minute=0, second=0, microsecond=0)
        if offset[0] != hour:
            offset = (hour, tz.utcoffset(r.at))
        local = (r.at + offset[1]).replace(tzinfo=None).isoformat(" ", "seconds")
        out.append({"id": r.id, "at": r.at, "local": local, "kind": r.kind, "actor": r.actor, "subject": subject,
                    "who": who, "outcome": r.outcome, "reason": r.reason, "rule": r.rule, "seq": r.seq})
    return out


def _uid_like(text: str) -> bool:
    """Could be a badge or visitor card UID (even-length hex): worth looking up."""
    return len(text) >= 8 and len(text) % 2 == 0 and all(ch in "0123456789ABCDEF" for ch in text)


def newest(ctx: ServiceContext, limit: int = 200) -> list[Any]:
    """The last ``limit`` rows (the benchmark's "last 200 events")."""
    with ctx.engine.connect() as conn:
        return list(conn.execute(select(*LIST_COLUMNS).order_by(c.at.desc(), c.id.desc()).limit(limit)).all())


# --- one event and its place in the chain ------------------------------------------------------------------

def event_detail(ctx: ServiceContext, event_id: int) -> dict[str, Any]:
    """One row with its chain position and whether it verifies: its hash, and its links both ways."""
    with ctx.engine.connect() as conn:
        raw = conn.execute(select(*eventlog.ROW_COLUMNS).where(c.id == event_id)).first()
        if raw is None:
            raise NotFound("unknown_event", f"There is no event {event_id} (it may have been purged, §2.4).")
        shown = conn.execute(select(*LIST_COLUMNS).where(c.id == event_id)).one()
        described = describe_rows(conn, [shown], ctx.tz)[0]
        last = eventlog.head(conn)
        chain: dict[str, Any] = {"seq": raw.seq, "prev_hash": raw.prev_hash, "hash": raw.hash,
                                 "head_seq": last[0] if last else None}
        if raw.seq is None:
            chain.update(state="unsealed", message="Not sealed yet: the sealer chains new rows within a second.")
        else:
            chain.update(_chain_state(conn, raw))
        neighbours = {
            "previous": conn.execute(select(c.id).where(c.seq == raw.seq - 1)).scalar() if raw.seq else None,
            "next": conn.execute(select(c.id).where(c.seq == raw.seq + 1)).scalar() if raw.seq else None}
    try:
        data = json.loads(raw.data or "{}")
    except ValueError:
        data = {"unparsed": raw.data}
    return {**described, "subject_full": raw.subject, "data": data, "data_text": raw.data, "chain": chain,
            "neighbours": neighbours}


def _chain_state(conn: Connection, raw: Any) -> dict[str, Any]:
    """Recompute the row's hash, and check it is chained to the row before (or the purge anchor) and after."""
    seq = int(raw.seq)
    content_ok = eventlog.chain_hash(raw.prev_hash, eventlog.canonical_row(raw, seq)) == raw.hash
    if seq == 1:
        back_ok, back = raw.prev_hash == eventlog.GENESIS, "the start of the chain"
    else:
        before = conn.execute(select(c.hash).where(c.seq == seq - 1)).scalar()
        if before is not None:
            back_ok, back = before == raw.prev_hash, f"seq {seq - 1}"
        else:
            anchor = _purge_anchor(conn, seq - 1)
            back_ok = anchor == raw.prev_hash
            back = f"the purge anchor at seq {seq - 1}" if anchor else f"seq {seq - 1}, which is missing"
    after = conn.execute(select(c.prev_hash).where(c.seq == seq + 1)).first()
    fwd_ok = True if after is None else after.prev_hash == raw.hash
    fwd = "none yet (this is the head)" if after is None else f"seq {seq + 1}"
    if not content_ok:
        state, message = "edited", "Its hash does not match its content: the row was edited."
    elif not back_ok:
        state, message = "broken", f"Its prev_hash does not match {back}: rows were removed or reordered."
    elif not fwd_ok:
        state, message = "broken", f"The next row ({fwd}) is not chained to it: the chain was rewritten after it."
    else:
        state, message = "verified", f"Hash matches the content; chained to {back} and to {fwd}."
    return {"state": state, "message": message, "content_ok": content_ok, "back_ok": back_ok, "fwd_ok": fwd_ok}


def _purge_anchor(conn: Connection, through_seq: int) -> str | None:
    for (data,) in conn.execute(select(c.data).where(c.kind == eventlog.PURGE_KIND, c.seq.is_not(None))):
        try:
            doc = json.loads(data)
            if int(doc["through_seq"]) == through_seq:
                return str(doc["through_hash"])
        except (ValueError, TypeError, KeyError):
            continue
    return None


# --- doors: each opening with the grant that explained it --------------------------------------------------

def _door(conn: Connection, door_id: str) -> Any:
    door = conn.execute(select(_doors).where(_doors.c.id == door_id)).first()
    if door is None:
        raise NotFound("unknown_door", f"There is no door {door_id!r}.")
    return door


def door_openings(conn: Connection, door: Any, since: datetime, until: datetime,
                  names: dict[str, str] | None = None) -> dict[str, Any]:
    """A door's openings in [since, until) matched with their grants (§6.6), its refused taps and its alarms."""
    window = timedelta(seconds=float(door.entry_window_s))
    actors, _points = door_actors(door)
    readers = [a for a in actors if a.startswith("reader:")]
    grants: list[entryreview.GrantSeen] = []
    refusals: list[dict[str, Any]] = []
    # Grants up to one entry window before the range can explain its first opening.
    taps = conn.execute(select(c.id, c.at, c.kind, c.subject, c.outcome, c.reason, c.data)
                        .where(c.actor.in_(readers), c.kind.in_(("door_tap", "door_tap_refused")),
                               c.at >= since - window, c.at < until).order_by(c.at, c.id)).all() if readers else []
    for t in taps:
        data = _json(t.data)
        if t.kind == "door_tap" and data.get("door") not in (None, door.id):
            continue
        if t.kind == "door_tap" and t.outcome == "granted":
            visitor = data.get("visitor")
            who = data.get("employee_no") or visitor or masked_uid(t.subject)
            grants.append(entryreview.GrantSeen(t.at, t.id, "visitor" if visitor else "badge", who))
        elif t.at >= since:
            refusals.append({"id": t.id, "at": t.at, "outcome": t.outcome, "reason": t.reason,
                             "who": data.get("employee_no") or data.get("visitor") or masked_uid(t.subject)})
    if door.exit_point:
        for p in conn.execute(select(c.id, c.at).where(c.subject == door.exit_point, c.kind == "point_changed",
                                                       c.outcome == "pressed", c.at >= since - window, c.at < until)):
            grants.append(entryreview.GrantSeen(p.at, p.id, "exit_button", "exit button"))
    rows = conn.execute(select(c.id, c.at, c.kind, c.outcome, c.reason)
                        .where(c.actor == f"door:{door.id}", c.at >= since, c.at < until + timedelta(hours=1))
                        .order_by(c.at, c.id)).all()
    opened = [(r.at, r.id, r.reason) for r in rows if r.kind == "door_opened" and r.at < until]
    closed = [(r.at, r.id) for r in rows if r.kind == "door_closed"]
    alarms = [entryreview.AlarmSeen(r.at, r.id, r.kind, r.reason) for r in rows
              if (r.kind in DOOR_ALARM_KINDS or (r.kind == "alert_raised" and r.outcome == "badge_locked_out"))
              and r.at < until]
    matched = entryreview.match_openings(entryreview.pair_closings(opened, closed), grants, window, alarms)
    during = {a.event_id for m in matched for a in m.alarms}
    names = names if names is not None else _names(conn, {g.who for g in grants} | {r["who"] for r in refusals})
    return {"door": {"id": door.id, "name": door.name, "entry_window_s": door.entry_window_s},
            "openings": matched, "refusals": refusals, "names": names,
            "other_alarms": [a for a in alarms if a.event_id not in during]}


def door_timeline(ctx: ServiceContext, door_id: str, since: datetime, until: datetime) -> dict[str, Any]:
    """A door's day (or any range): openings with the grant that explained each, refused taps, alarms."""
    with ctx.engine.connect() as conn:
        return door_openings(conn, _door(conn, door_id), since, until)


def _names(conn: Connection, employee_nos: Iterable[str]) -> dict[str, str]:
    nos = [n for n in employee_nos if n]
    if not nos:
        return {}
    return {r.employee_no: r.name for r in conn.execute(select(_staff.c.employee_no, _staff.c.name)
                                                        .where(_staff.c.employee_no.in_(nos)))}


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- a person's timeline -----------------------------------------------------------------------------------

SIGN_IN_STATES = ("signed_in", "signed_out")


def person_timeline(ctx: ServiceContext, employee_no: str, since: datetime, until: datetime) -> dict[str, Any]:
    """A person's taps, door passages (with the opening each grant explained), sign-ins and flags, in time order."""
    with ctx.engine.connect() as conn:
        person = conn.execute(select(_staff).where(_staff.c.employee_no == employee_no)).first()
        if person is None:
            raise NotFound("unknown_person", f"No member of staff has employee number {employee_no}.")
        badges = conn.execute(select(_badges.c.uid, _badges.c.status).where(_badges.c.staff_id == person.id)).all()
        rows = conn.execute(select(*LIST_COLUMNS).where(person_condition([employee_no], [b.uid for b in badges]),
                                                        c.at >= since, c.at < until)
                            .order_by(c.at, c.id).limit(TIMELINE_LIMIT)).all()
        items: list[dict[str, Any]] = []
        for r in describe_rows(conn, rows, ctx.tz):
            items.append({**r, "type": _item_type(r["kind"])})
        # Door passages: each of the person's granted door taps, and the opening it explained.
        taps: dict[str, list[int]] = {}
        for r in rows:
            if r.kind == "door_tap" and r.outcome == "granted":
                taps.setdefault(_json(r.data).get("door", ""), []).append(r.id)
        for door_id, ids in taps.items():
            door = conn.execute(select(_doors).where(_doors.c.id == door_id)).first()
            if door is None:
                continue
            for m in door_openings(conn, door, since, until + timedelta(minutes=5), names={})["openings"]:
                if m.grant is not None and m.grant.event_id in ids:
                    closed = (f", closed {m.opening.closed_at.astimezone(ctx.tz):%H:%M:%S}"
                              if m.opening.closed_at else ", not seen closed")
                    items.append({"id": m.opening.event_id, "at": m.opening.at, "type": "door",
                                  "local": m.opening.at.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M:%S"),
                                  "kind": "door_opened", "actor": f"door:{door.id}", "subject": door.id, "who": "",
                                  "outcome": m.how, "rule": "§6.6", "seq": None,
                                  "reason": f"{door.name}: opened {m.delay_seconds:.0f} s after the tap" + closed
                                            + ("; possible tailgating (re-opened)" if m.how == entryreview.REOPENED
                                               else "")})
        for a in conn.execute(select(_agents.c.id, _agents.c.at, _agents.c.state, _agents.c.seat_id,
                                     _agents.c.integration, _agents.c.out_of_order)
                              .where(_agents.c.employee_no == employee_no, _agents.c.state.in_(SIGN_IN_STATES),
                                     _agents.c.at >= since, _agents.c.at < until)
                              .order_by(_agents.c.at).limit(TIMELINE_LIMIT)):
            items.append({"id": None, "at": a.at, "type": "sign_in", "kind": a.state, "actor": a.integration,
                          "local": a.at.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M:%S"), "subject": a.seat_id or "",
                          "who": "", "outcome": "out of order" if a.out_of_order else "", "rule": "§4.5",
                          "reason": f"call platform: {a.state.replace('_', ' ')} at seat {a.seat_id or '?'}",
                          "seq": None})
    items.sort(key=lambda i: (i["at"], i["type"] == "door"))
    return {"person": {"employee_no": person.employee_no, "name": person.name, "role": person.role,
                       "active": bool(person.active)},
            "badges": [{"uid": masked_uid(b.uid), "status": b.status} for b in badges],
            "items": items, "truncated": len(rows) >= TIMELINE_LIMIT}


def _item_type(kind: str) -> str:
    if kind in ("rollcall_tap", "rollcall_marked"):
        return "tap"
    if kind in ("door_tap", "door_tap_refused"):
        return "door_tap"
    if kind.startswith("floor_flag") or kind == "signout_cause_recorded":
        return "flag"
    return "other"


# --- summaries ---------------------------------------------------------------------------------------------

def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """A local calendar day as a UTC [start, end) range."""
    return (datetime.combine(day, time.min, tz).astimezone(timezone.utc),
            datetime.combine(day + timedelta(days=1), time.min, tz).astimezone(timezone.utc))


def day_counts(ctx: ServiceContext, first: date, last: date) -> list[tuple[date, int]]:
    """Events per local day, ``first`` to ``last`` inclusive: one index range count per day.

    Cheaper than ``GROUP BY date(at)`` by a wide margin: each count walks the (at) index between two
    bounds, with no function evaluated per row and no grouping; and the days are the floor's local days.
    """
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    if not days:
        return []
    params: dict[str, datetime] = {}
    for i, d in enumerate(days):
        params[f"lo{i}"], params[f"hi{i}"] = day_bounds(d, ctx.tz)
    with ctx.engine.connect() as conn:
        row = conn.execute(_day_counts_statement(len(days)), params).one()
    return [(d, int(n)) for d, n in zip(days, row)]


@functools.lru_cache(maxsize=64)
def _day_counts_statement(n: int) -> Any:
    """One statement of ``n`` scalar range counts on ``at`` (a single round trip; each an index range count).

    Plain SQL text, built once per ``n``: a Core statement of 31 subqueries costs more to build and to key for
    SQLAlchemy's cache than SQLite needs to answer it.
    """
    one = "(SELECT count(*) FROM events WHERE at >= :lo{0} AND at < :hi{0})"
    stmt = text("SELECT " + ", ".join(one.format(i) for i in range(n)))
    return stmt.bindparams(*[bindparam(f"{side}{i}", type_=UTCDateTime()) for i in range(n) for side in ("lo", "hi")])


SUMMARY_SERIES = ("openings", "refusals", "alarms")


def daily_summary(ctx: ServiceContext, day: date) -> dict[str, Any]:
    """Door openings, refused door taps and alerts raised, per local hour of ``day``."""
    lo, hi = day_bounds(day, ctx.tz)
    hours = [{"hour": h, "openings": 0, "refusals": 0, "alarms": 0} for h in range(24)]
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(c.at, c.kind, c.outcome).where(
            c.kind.in_(("door_opened", "door_tap", "door_tap_refused", "alert_raised")), c.at >= lo, c.at < hi))
        for r in rows:
            hour = hours[r.at.astimezone(ctx.tz).hour]
            if r.kind == "door_opened":
                hour["openings"] += 1
            elif r.kind == "alert_raised":
                hour["alarms"] += 1
            elif r.kind == "door_tap_refused" or r.outcome != "granted":
                hour["refusals"] += 1
    totals = {s: sum(h[s] for h in hours) for s in SUMMARY_SERIES}
    return {"day": day, "hours": hours, "totals": totals}
