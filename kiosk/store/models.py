"""SQLAlchemy models: the floor's data, kept portable between SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, MetaData, String, Text,
                        UniqueConstraint, select, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC; hand back aware UTC datetimes on every engine."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        # SQLite keeps text; drop tzinfo there so ordering by text stays correct.
        return value.replace(tzinfo=None) if getattr(dialect, "name", "") == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names, so migrations are reproducible."""

    metadata = MetaData(naming_convention=NAMING)


from kiosk.domain.vocabulary import BADGE_STATUSES, DUTIES, POINT_KINDS, ROLES  # noqa: E402,F401  (one list, shared with the rules)


class Staff(Base):
    """A person on the floor, known by employee number (工号)."""

    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(primary_key=True)
    employee_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16), default="operator")
    post_level: Mapped[str] = mapped_column(String(32), default="")
    skill_grade: Mapped[str] = mapped_column(String(32), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The kiosk PIN of a leader (scrypt, as desk passwords); NULL: none set. Never the PIN itself.
    pin_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Badge(Base):
    """A badge UID (normalised hex); a person holds several over time, one active at a time."""

    __tablename__ = "badges"
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    issued_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    revoked_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    __table_args__ = (
        Index("uq_badges_one_active_per_staff", "staff_id", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )


class Shift(Base):
    """A shift definition; ``end`` at or before ``start`` means it ends the next day."""

    __tablename__ = "shifts"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    start: Mapped[str] = mapped_column(String(5))  # HH:MM local
    end: Mapped[str] = mapped_column(String(5))


class Floor(Base):
    """A floor of the centre (楼层): doors, zones and their seats, kiosk screens and roster lines belong to one."""

    __tablename__ = "floors"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # what files and commands name it: 3F, B1
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class CatalogVersion(Base):
    """One row: how many times the floor's set-up (shifts, screens, floors, door readers) has changed.

    Raised by triggers (migration 0012), never by code; kiosk.services.catalog reads it on every tap.
    """

    __tablename__ = "catalog_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


# A row written without a floor lands on the first floor (by sort order): on a one-floor site, the only one,
# so code and files that know nothing of floors keep working. Rendered inline into the INSERT.
FIRST_FLOOR = (select(Floor.__table__.c.id).order_by(Floor.__table__.c.sort_order, Floor.__table__.c.id).limit(1)
               .scalar_subquery())


class Zone(Base):
    """A zone of the floor (区), on one floor; its seats are on that floor."""

    __tablename__ = "zones"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    floor_id: Mapped[int] = mapped_column(ForeignKey("floors.id"), default=FIRST_FLOOR)


class Seat(Base):
    """A seat (坐席) with plan coordinates for the floor map."""

    __tablename__ = "seats"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    zone_id: Mapped[str] = mapped_column(ForeignKey("zones.id"))
    x: Mapped[float] = mapped_column()
    y: Mapped[float] = mapped_column()


class RosterEntry(Base):
    """Who works which shift on which date, at which seat, with which duty."""

    __tablename__ = "roster"
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    shift_code: Mapped[str] = mapped_column(ForeignKey("shifts.code"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    seat_id: Mapped[str | None] = mapped_column(ForeignKey("seats.id"), nullable=True)
    duty: Mapped[str] = mapped_column(String(16), default="operator")
    floor_id: Mapped[int] = mapped_column(ForeignKey("floors.id"), default=FIRST_FLOOR)  # where this shift is worked
    __table_args__ = (
        UniqueConstraint("day", "shift_code", "staff_id", name="uq_roster_day_shift_staff"),
        Index("ix_roster_staff_day", "staff_id", "day"),
    )


class Notice(Base):
    """A business reminder shown at roll call (§3.4), optionally with a daily question (§3.5)."""

    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    question: Mapped[str | None] = mapped_column(Text, nullable=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)


class RollCall(Base):
    """One roll call per shift occurrence; closed once, by a leader or at window end."""

    __tablename__ = "rollcalls"
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    shift_code: Mapped[str] = mapped_column(ForeignKey("shifts.code"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)  # employee_no or "auto"
    floor_id: Mapped[int] = mapped_column(ForeignKey("floors.id"), default=FIRST_FLOOR)  # each floor calls its own roll
    __table_args__ = (UniqueConstraint("day", "shift_code", "floor_id", name="uq_rollcalls_day_shift_floor"),)


class AttendanceRecord(Base):
    """A person's mark in one roll call: tapped, marked by hand, or written at close."""

    __tablename__ = "attendance"
    id: Mapped[int] = mapped_column(primary_key=True)
    rollcall_id: Mapped[int] = mapped_column(ForeignKey("rollcalls.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    status: Mapped[str] = mapped_column(String(16))  # present | late | absent | excused
    at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    marked_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    leader_late: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (UniqueConstraint("rollcall_id", "staff_id", name="uq_attendance_rollcall_staff"),)


class DailyQuestion(Base):
    """§3.5: the question put to one present operator, and how it was answered."""

    __tablename__ = "daily_questions"
    id: Mapped[int] = mapped_column(primary_key=True)
    rollcall_id: Mapped[int] = mapped_column(ForeignKey("rollcalls.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"), nullable=True)
    question: Mapped[str] = mapped_column(Text)
    answered_well: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    asked_by: Mapped[str] = mapped_column(String(32))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Event(Base):
    """The event log: every decision and change, in order, with the floor rule it concerns."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(48))  # rollcall_tap, rollcall_closed, import_applied, ...
    actor: Mapped[str] = mapped_column(String(64), default="")  # employee_no, reader:<id>, gateway:<id>, cli
    subject: Mapped[str] = mapped_column(String(64), default="")  # badge uid, door, seat, shift occurrence
    outcome: Mapped[str] = mapped_column(String(32), default="")
    reason: Mapped[str] = mapped_column(String(200), default="")
    rule: Mapped[str] = mapped_column(String(16), default="")
    data: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON
    # The hash chain (kiosk.store.eventlog): rows are inserted unsealed (all three NULL) and the one
    # sealer fills them in; database triggers refuse every other UPDATE, and every DELETE but a purge.
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # chain position, 1, 2, 3, ...
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # An unsealed row (a tap's) is in as few indexes as will do: migration 0013.
    __table_args__ = (Index("ix_events_kind_at", "kind", "at"), Index("ix_events_at", "at"),
                      Index("uq_events_seq", "seq", unique=True, sqlite_where=text("seq IS NOT NULL"),
                            postgresql_where=text("seq IS NOT NULL")),
                      # "What is left to seal" on PostgreSQL, where a lower id can commit late; SQLite
                      # finds it on the primary key above the chain's head (kiosk.store.eventlog).
                      Index("ix_events_unsealed", "id", postgresql_where=text("seq IS NULL"))
                      .ddl_if(dialect="postgresql"))


class EventLogPurge(Base):
    """Present only inside a purge transaction: the delete trigger lets exactly these rows go (§2.4)."""

    __tablename__ = "event_log_purge"
    through_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


def utcnow() -> datetime:
    """The current instant, aware, UTC."""
    return datetime.now(timezone.utc)




class Gateway(Base):
    """A floor_sensors gateway: when it was last heard from and what it said of its nodes."""

    __tablename__ = "gateways"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    silent: Mapped[bool] = mapped_column(Boolean, default=False)
    health: Mapped[str] = mapped_column(Text, default="{}")  # JSON: nodes, counters


class Point(Base):
    """A sensor point the kiosk knows (a door contact, an exit button, a seat mat) and its live state."""

    __tablename__ = "points"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. door:main, seat:A-01
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100), default="")
    gateway_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="unknown")
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reconciled: Mapped[bool] = mapped_column(Boolean, default=False)
    floor_id: Mapped[int] = mapped_column(ForeignKey("floors.id"), default=FIRST_FLOOR)


class SensorEvent(Base):
    """Every sensor event accepted from a gateway, once: the idempotency key is unique."""

    __tablename__ = "sensor_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    gateway_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(24))  # point_changed | node_health | overflow
    point_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    previous: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reconciled: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[str] = mapped_column(Text, default="{}")
    __table_args__ = (Index("ix_sensor_events_point_at", "point_id", "at"),)


class Door(Base):
    """A door of the call area: its contact point, optional exit button, readers, timings and rule state."""

    __tablename__ = "doors"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. main
    name: Mapped[str] = mapped_column(String(100))
    contact_point: Mapped[str] = mapped_column(String(64), unique=True)
    exit_point: Mapped[str | None] = mapped_column(String(64), nullable=True)
    readers: Mapped[str] = mapped_column(String(200), default="")  # comma-separated reader ids
    prewarn_s: Mapped[float] = mapped_column(default=20.0)
    alarm_s: Mapped[float] = mapped_column(default=30.0)
    entry_window_s: Mapped[float] = mapped_column(default=10.0)
    tailgate_s: Mapped[float] = mapped_column(default=15.0)
    state: Mapped[str] = mapped_column(Text, default="")  # kiosk.store.doorstate JSON
    x: Mapped[float | None] = mapped_column(nullable=True)  # plan position (the seats' units); None: not on the map
    y: Mapped[float | None] = mapped_column(nullable=True)
    floor_id: Mapped[int] = mapped_column(ForeignKey("floors.id"), default=FIRST_FLOOR)


ALERT_LEVELS = ("leader", "supervisor", "security")


class Alert(Base):
    """An alert leaders act on (§5): raised, cleared when the condition ends, acknowledged by a badge."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # door_held_open, door_forced_open, door_tampered, ...
    condition: Mapped[str] = mapped_column(String(32), default="")  # what clears it (a door alarm kind)
    severity: Mapped[str] = mapped_column(String(16))  # info | warning | alarm
    rule: Mapped[str] = mapped_column(String(16))
    door_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subject: Mapped[str] = mapped_column(String(100), default="")  # badge, visitor, point
    message: Mapped[str] = mapped_column(String(300), default="")
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ack_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ack_comment: Mapped[str | None] = mapped_column(String(300), nullable=True)
    level: Mapped[int] = mapped_column(Integer, default=0)  # index into ALERT_LEVELS: who has been told
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    data: Mapped[str] = mapped_column(Text, default="{}")
    floor_id: Mapped[int | None] = mapped_column(ForeignKey("floors.id"), nullable=True)  # its door's; None: every floor
    __table_args__ = (Index("ix_alerts_open", "acknowledged_at", "raised_at"),
                      Index("ix_alerts_door_kind", "door_id", "kind"))


class BadgeLockout(Base):
    """Refused taps of one card counted toward a lockout, and the lock itself (kiosk.domain.access)."""

    __tablename__ = "badge_lockouts"
    uid: Mapped[str] = mapped_column(String(32), primary_key=True)
    refusals: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of ISO times
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class VisitorApproval(Base):
    """A visit approved by the Hotline Management Section (§2.2): who, why, when, host and escort."""

    __tablename__ = "visitor_approvals"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    organisation: Mapped[str] = mapped_column(String(100), default="")
    id_doc_tail: Mapped[str] = mapped_column(String(4))  # the last 4 characters of the ID document, never more
    purpose: Mapped[str] = mapped_column(String(16))  # consult | visit | photograph | record
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)  # exclusive
    host_employee_no: Mapped[str] = mapped_column(String(32))
    escort_required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(32))  # employee_no of the management section member
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    __table_args__ = (Index("ix_visitor_approvals_window", "valid_until", "valid_from"),)


class VisitorCard(Base):
    """One binding of a visitor card UID to an approval; a UID is bound again after release, history kept."""

    __tablename__ = "visitor_cards"
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32))
    approval_id: Mapped[int] = mapped_column(ForeignKey("visitor_approvals.id"))
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime)
    bound_by: Mapped[str] = mapped_column(String(32))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    released_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    inside: Mapped[bool] = mapped_column(Boolean, default=False)
    entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    overstayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # flagged once per visit
    __table_args__ = (
        Index("uq_visitor_cards_one_active_per_uid", "uid", unique=True,
              sqlite_where=text("released_at IS NULL"), postgresql_where=text("released_at IS NULL")),
        Index("ix_visitor_cards_approval", "approval_id"),
    )


class AgentEvent(Base):
    """Every agent state accepted from a call platform (CTI), in arrival order; older ones flagged, not applied."""

    __tablename__ = "agent_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    integration: Mapped[str] = mapped_column(String(64))  # which platform sent it (X-Integration, or an adapter)
    employee_no: Mapped[str] = mapped_column(String(32))
    seat_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    state: Mapped[str] = mapped_column(String(16))  # signed_in | ready | busy | wrap_up | signed_out
    at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the platform says it happened
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(200), default="")
    out_of_order: Mapped[bool] = mapped_column(Boolean, default=False)  # older than the agent's newest: not applied
    __table_args__ = (Index("ix_agent_events_employee_at", "employee_no", "at"),)


class AgentLive(Base):
    """An agent's live state on the call platform (kiosk.domain.floor.AgentLive)."""

    __tablename__ = "agent_live"
    employee_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    seat_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    seat_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    other_seat: Mapped[str | None] = mapped_column(String(32), nullable=True)  # §7.7
    reason: Mapped[str] = mapped_column(String(200), default="")
    __table_args__ = (Index("ix_agent_live_seat", "seat_id"),)


class AgentSeconds(Base):
    """§8.8: closed busy and wrap-up seconds of one operator on one local calendar day."""

    __tablename__ = "agent_minutes"
    employee_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # local date
    busy_seconds: Mapped[float] = mapped_column(default=0.0)
    wrap_seconds: Mapped[float] = mapped_column(default=0.0)


class FloorFlag(Base):
    """A floor-map flag (kiosk.domain.floor): raised, cleared when its condition ends, acknowledged by a leader.

    An unexplained sign-out (§8.9) is a register entry: it stays open until the leader records its cause.
    """

    __tablename__ = "floor_flags"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))  # the condition's identity; one open row per key
    kind: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))  # warning | alarm
    employee_no: Mapped[str | None] = mapped_column(String(32), nullable=True)
    seat_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    message: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    cause: Mapped[str | None] = mapped_column(String(32), nullable=True)  # §8.9: equipment_failure | system_failure | other
    comment: Mapped[str | None] = mapped_column(String(300), nullable=True)
    __table_args__ = (
        Index("uq_floor_flags_open_key", "key", unique=True,
              sqlite_where=text("cleared_at IS NULL"), postgresql_where=text("cleared_at IS NULL")),
        Index("ix_floor_flags_cleared", "cleared_at"),
        Index("ix_floor_flags_ack", "acknowledged_at"),
    )


# --- desk login and the entry log's review screens (§2.4) ----------------------------------------------------

class User(Base):
    """A desk login (security review, admin): the role is the linked staff member's, so a leaver cannot log in."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # scrypt$n=...,r=...,p=...$salt$hash (kiosk.services.users)
    employee_no: Mapped[str] = mapped_column(String(32))  # the staff member whose role and activity count
    failed_count: Mapped[int] = mapped_column(Integer, default=0)  # wrong passwords since the last success or lock
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    __table_args__ = (Index("ix_users_employee_no", "employee_no"),)


class DeskSession(Base):
    """A logged-in desk browser: the cookie holds a random token, the table only its SHA-256, so logout is real."""

    __tablename__ = "desk_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 hex of the cookie's token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_why: Mapped[str | None] = mapped_column(String(16), nullable=True)  # logout | idle | locked | replaced
    __table_args__ = (Index("ix_desk_sessions_user", "user_id"),)


# The review screens' searches (kiosk.services.review): a person's or a badge's rows by subject, a door's and a
# person's own actions by actor, each within a time range. SQLite's secondary indexes end in the rowid (= id),
# so both also give the (at, id) order keyset paging needs without a sort.
Index("ix_events_subject_at", Event.__table__.c.subject, Event.__table__.c.at)
Index("ix_events_actor_at", Event.__table__.c.actor, Event.__table__.c.at)


class Screen(Base):
    """A paired kiosk screen: its browser holds a random token in a cookie, the table only its SHA-256."""

    __tablename__ = "screens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # the kiosk id the screen shows (?kiosk=NAME)
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)  # None until paired
    code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the one-time pairing code's SHA-256
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    paired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    paired_by: Mapped[str] = mapped_column(String(32))  # the admin's employee number
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    x: Mapped[float | None] = mapped_column(nullable=True)  # where the screen hangs on the plan: "you are here"
    y: Mapped[float | None] = mapped_column(nullable=True)
    floor_id: Mapped[int | None] = mapped_column(ForeignKey("floors.id"), nullable=True)  # None: shows every floor


class LeaderSessionRow(Base):
    """The leader identified by badge at one kiosk (kiosk.services.leader_sessions): a row, so every server
    process sees it, whichever one the tap reached and whichever one the screen's PIN reaches."""

    __tablename__ = "leader_sessions"
    kiosk_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    employee_no: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)  # with employee_no: which session this is
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    pin_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    pin_failures: Mapped[int] = mapped_column(Integer, default=0)


class ArmedBindingRow(Base):
    """A kiosk armed by a leader to bind the next unknown card to a visitor (kiosk.services.visitors): a row,
    so the process that takes the card's tap knows of an arming made through another."""

    __tablename__ = "armed_bindings"
    kiosk_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    approval_id: Mapped[int] = mapped_column(ForeignKey("visitor_approvals.id"))
    name: Mapped[str] = mapped_column(String(100))  # the visitor's, for the screen
    armed_by: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
