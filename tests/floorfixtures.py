"""A small, readable floor for service and web tests: one day shift, one night shift, a handful of people."""

from __future__ import annotations

import secrets
from contextlib import contextmanager
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import Engine, insert

from kiosk.config import load_config
from kiosk.services.context import ServiceContext
from kiosk.store.db import make_engine, make_sessionmaker, sync_sequences, write_transaction
from kiosk.store.models import Badge, Notice, RosterEntry, Seat, Shift, Staff, Zone

DAY = date(2026, 11, 30)
LEADER_PIN = "4826"  # the kiosk PIN of the leader 20001 and the supervisor 20008
PIN_HOLDERS = ("20001", "20008")

# employee_no: (name, role, active, badge uid, badge status)
PEOPLE = {
    "20001": ("王班长", "leader", True, "04A1B2C3D4E5F6", "active"),
    "20002": ("李娜", "operator", True, "04000000000002", "active"),
    "20003": ("张伟", "operator", True, "04000000000003", "active"),
    "20004": ("刘洋", "operator", True, "04000000000004", "active"),
    "20005": ("陈静", "operator", True, "04000000000005", "lost"),
    "20006": ("杨帆", "operator", False, "04000000000006", "revoked"),
    "20007": ("赵敏", "operator", True, "04000000000007", "active"),  # night shift
    "20008": ("周强", "supervisor", True, "04000000000008", "active"),  # not rostered
}


def build_floor(ctx: ServiceContext) -> None:
    """Day shift D 09:30–17:30 with leader 20001 and operators 20002–20006; night shift N 23:00–08:00 with 20007."""
    with ctx.engine.begin() as conn:
        conn.execute(insert(Zone.__table__), [{"id": "A", "name": "A 区"}])
        conn.execute(insert(Seat.__table__), [{"id": f"A-{i:02d}", "zone_id": "A", "x": 10.0 * i, "y": 10.0}
                                              for i in range(1, 9)])
        conn.execute(insert(Shift.__table__), [{"code": "D", "name": "白班", "start": "09:30", "end": "17:30"},
                                               {"code": "N", "name": "夜班", "start": "23:00", "end": "08:00"}])
        for i, (no, (name, role, active, uid, status)) in enumerate(PEOPLE.items(), start=1):
            conn.execute(insert(Staff.__table__).values(id=i, employee_no=no, name=name, role=role, active=active,
                                                        pin_hash=pin_hash() if no in PIN_HOLDERS else None))
            conn.execute(insert(Badge.__table__).values(uid=uid, staff_id=i, status=status))
        roster = [("20001", None, "leader", "D"), ("20002", "A-02", "operator", "D"),
                  ("20003", "A-03", "operator", "D"), ("20004", "A-04", "operator", "D"),
                  ("20005", "A-05", "operator", "D"), ("20006", "A-06", "operator", "D"),
                  ("20007", "A-07", "operator", "N")]
        ids = {no: i for i, no in enumerate(PEOPLE, start=1)}
        conn.execute(insert(RosterEntry.__table__), [
            {"day": DAY, "shift_code": s, "staff_id": ids[no], "seat_id": seat, "duty": duty}
            for no, seat, duty, s in roster])
        sync_sequences(conn, ("staff",))
        conn.execute(insert(Notice.__table__), [
            {"title": "供暖口径", "body": "供暖补贴转住建局", "question": "供暖补贴转哪里？",
             "valid_from": DAY, "valid_until": DAY}])


@cache
def pin_hash() -> str:
    """LEADER_PIN hashed once per test process (scrypt is slow on purpose)."""
    from kiosk.services.users import hash_password

    return hash_password(LEADER_PIN)


def enter_pin(ctx: ServiceContext, kiosk: str = "kiosk", pin: str = LEADER_PIN) -> dict[str, Any]:
    """The leader who tapped at ``kiosk`` enters their PIN, as the kiosk's PIN pad sends it."""
    from kiosk.services import pins

    return pins.verify(ctx, kiosk, pin)


def uid_of(employee_no: str) -> str:
    """The badge UID of a person in the fixture floor."""
    return PEOPLE[employee_no][3]


def screen_client(app: Any, kiosk: str = "kiosk", **kwargs: Any) -> Any:
    """A Socket.IO test client on /kiosk as a paired screen (the screen cookie of a freshly paired screen)."""
    from kiosk.services import screens
    from kiosk.web import services, socketio

    token = screens.pair_now(services(app), f"screen-{secrets.token_hex(4)}")
    headers = {**kwargs.pop("headers", {}), "Cookie": f"{screens.COOKIE}={token}"}
    client = socketio.test_client(app, namespace="/kiosk", headers=headers, **kwargs)
    client.screen_headers = headers  # for client.connect(namespace=..., headers=client.screen_headers)
    return client


def add_upper_floor(ctx: ServiceContext) -> dict[str, int]:
    """A second floor on top of ``build_floor``: 4F with zone B (seats B-01..B-04), where 20003 and 20004 work
    the day shift (at B-03, B-04) under their own duty leader 20009; door ``main`` on 1F, ``north`` on 4F.

    Returns floor code -> id.
    """
    from sqlalchemy import select, update

    from kiosk.services import doors, floors, sensors
    from kiosk.store.models import Floor

    floors.add(ctx, "4F", "四层", "4th floor")
    with ctx.engine.begin() as conn:
        ids = {r.code: r.id for r in conn.execute(select(Floor.__table__))}
        conn.execute(insert(Zone.__table__).values(id="B", name="B 区", floor_id=ids["4F"]))
        conn.execute(insert(Seat.__table__), [{"id": f"B-{i:02d}", "zone_id": "B", "x": 10.0 * i, "y": 10.0}
                                              for i in range(1, 5)])
        staff_id = conn.execute(insert(Staff.__table__).values(employee_no="20009", name="孙班长", role="leader",
                                                                active=True)).inserted_primary_key[0]
        conn.execute(insert(Badge.__table__).values(uid="04000000000009", staff_id=staff_id, status="active"))
        conn.execute(insert(RosterEntry.__table__).values(day=DAY, shift_code="D", staff_id=staff_id, seat_id=None,
                                                          duty="leader", floor_id=ids["4F"]))
        for no, seat in (("20003", "B-03"), ("20004", "B-04")):
            sid = conn.execute(select(Staff.__table__.c.id).where(Staff.__table__.c.employee_no == no)).scalar()
            conn.execute(update(RosterEntry.__table__).where(RosterEntry.__table__.c.staff_id == sid)
                         .values(seat_id=seat, floor_id=ids["4F"]))
    sensors.define_points(ctx, [{"id": "door:main", "kind": "door", "label": "正门", "gateway": "gw", "floor": "1F"},
                                {"id": "door:north", "kind": "door", "label": "北门", "gateway": "gw",
                                 "floor": "4F"}])
    doors.define_doors(ctx, [{"id": "main", "name": "一层正门", "contact_point": "door:main", "floor": "1F"},
                             {"id": "north", "name": "四层北门", "contact_point": "door:north", "floor": "4F",
                              "readers": ["door-north"]}])
    return ids


@contextmanager
def another_process(ctx: ServiceContext) -> Iterator[ServiceContext]:
    """A second server process on ``ctx``'s database: its own engine, pool and memory; the same clock and
    configuration; its pushes recorded in ``.published``."""
    engine = make_engine(ctx.engine.url.render_as_string(hide_password=False))
    sent: list[tuple[str, dict[str, Any]]] = []
    other = ServiceContext(config=dict(ctx.config), engine=engine, sessions=make_sessionmaker(engine), clock=ctx.clock,
                           publish=lambda name, payload: sent.append((name, payload)))
    other.published = sent  # type: ignore[attr-defined]
    try:
        yield other
    finally:
        engine.dispose()



@contextmanager
def instance_context(instance: Path) -> Iterator[ServiceContext]:
    """The services of an instance folder, as a command run on it has them; its engine disposed afterwards."""
    cfg = load_config(instance, environ={})
    engine = make_engine(cfg["DATABASE_URL"])
    try:
        yield ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
    finally:
        engine.dispose()


@contextmanager
def refusing_inserts(engine: Engine, table: str) -> Iterator[None]:
    """SQLite refuses every INSERT into ``table`` (a constraint error) on this process's writer connection,
    as long as the block runs: a temporary trigger, which no other connection sees."""
    def on_writer(sql: str) -> None:
        with write_transaction(engine) as conn:
            conn.exec_driver_sql(sql)

    on_writer(f"CREATE TEMP TRIGGER refuse_{table} BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'refused'); END")
    try:
        yield
    finally:
        on_writer(f"DROP TRIGGER temp.refuse_{table}")
