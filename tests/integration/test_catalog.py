"""The set-up a tap needs (shifts, screens' floors, door readers) is cached per process and read again
exactly when it changed, whoever changed it: the database's triggers count every change."""

from __future__ import annotations

from sqlalchemy import insert, select, text, update

from kiosk.services import catalog, doors, floors, rollcall, taps
from kiosk.services.catalog import CatalogCache
from kiosk.store.models import CatalogVersion, Door, Floor, Screen, Shift

_VERSION = select(CatalogVersion.__table__.c.version)


def _version(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(_VERSION).scalar_one())


def _bumps(engine, sql: str, params: dict | None = None) -> int:
    """How much ``sql`` (run in its own transaction) raised the catalog version."""
    before = _version(engine)
    with engine.begin() as conn:
        conn.execute(text(sql), params or {})
    return _version(engine) - before


def test_every_change_to_the_set_up_raises_the_version_and_live_columns_do_not(ctx):
    engine = ctx.engine
    with engine.begin() as conn:
        floor_id = conn.execute(select(Floor.__table__.c.id)).scalars().first()
    # shifts: any change
    assert _bumps(engine, "INSERT INTO shifts (code, name, start, \"end\") VALUES ('X', 'x', '08:00', '16:00')") > 0
    assert _bumps(engine, "UPDATE shifts SET name = 'y' WHERE code = 'X'") > 0
    assert _bumps(engine, "DELETE FROM shifts WHERE code = 'X'") > 0
    # floors: new ones, order, removal
    assert _bumps(engine, "INSERT INTO floors (code, name_zh, name_en, sort_order) VALUES ('9F', '9', '9', 9)") > 0
    assert _bumps(engine, "UPDATE floors SET sort_order = 10 WHERE code = '9F'") > 0
    assert _bumps(engine, "UPDATE floors SET name_en = 'Nine' WHERE code = '9F'") == 0
    assert _bumps(engine, "DELETE FROM floors WHERE code = '9F'") > 0
    # screens: name and floor count; the screen's last contact does not
    assert _bumps(engine, "INSERT INTO screens (name, paired_by) VALUES ('k9', 'admin')") > 0
    assert _bumps(engine, "UPDATE screens SET floor_id = :f WHERE name = 'k9'", {"f": floor_id}) > 0
    assert _bumps(engine, "UPDATE screens SET last_seen_at = '2026-11-29 08:00:00.000000' WHERE name = 'k9'") == 0
    assert _bumps(engine, "DELETE FROM screens WHERE name = 'k9'") > 0
    # doors: readers count; the door's live state (written on every contact change) does not
    assert _bumps(engine, "INSERT INTO doors (id, name, contact_point, readers, prewarn_s, alarm_s, entry_window_s, "
                          "tailgate_s, state, floor_id) VALUES ('d9', 'D9', 'door:d9', '', 1, 2, 3, 4, '', :f)",
                  {"f": floor_id}) > 0
    assert _bumps(engine, "UPDATE doors SET readers = 'door-9' WHERE id = 'd9'") > 0
    assert _bumps(engine, "UPDATE doors SET state = '{\"x\": 1}' WHERE id = 'd9'") == 0
    assert _bumps(engine, "DELETE FROM doors WHERE id = 'd9'") > 0


def test_the_cache_reads_the_set_up_once_per_version_and_again_after_a_change_by_another_engine(ctx, instance):
    from kiosk.config import load_config
    from kiosk.store.db import make_engine

    cache = CatalogCache()
    with ctx.engine.connect() as conn:
        first = cache.read(conn)
        assert cache.read(conn) is first  # same version: the very same picture, nothing read again
    # Another process (here: another engine, as the command line would be) adds a shift and a door reader.
    other = make_engine(load_config(instance, environ={})["DATABASE_URL"]) if ctx.engine.dialect.name == "sqlite" \
        else ctx.engine
    with other.begin() as conn:
        conn.execute(insert(Shift.__table__).values(code="LATE", name="Late", start="22:00", end="06:00"))
        floor_id = conn.execute(select(Floor.__table__.c.id)).scalars().first()
        conn.execute(insert(Door.__table__).values(id="side", name="Side", contact_point="door:side",
                                                   readers="door-side, kiosk-side", floor_id=floor_id))
        conn.execute(insert(Screen.__table__).values(name="kiosk-side", paired_by="admin", floor_id=floor_id))
    with ctx.engine.connect() as conn:
        second = cache.read(conn)
    assert second is not first and second.version > first.version
    assert "LATE" in {s.code for s in second.shifts} and "LATE" not in {s.code for s in first.shifts}
    assert second.door_for_reader("door-side") == "side" and second.door_for_reader("kiosk-side") == "side"
    assert second.door_for_reader("nowhere") is None
    assert second.kiosk_floor("kiosk-side") == floor_id
    # What the cache answers is what the uncached queries answer.
    with ctx.engine.connect() as conn:
        assert [s.code for s in second.shifts] == [s.code for s in rollcall.load_shifts(conn)]
        assert floors.screen_floor(conn, "kiosk-side") == (True, second.kiosk_floor("kiosk-side"))
        assert second.door_for_reader("door-side") == doors.door_for_reader(conn, "door-side").id
    with other.begin() as conn:
        conn.execute(update(Door.__table__).where(Door.__table__.c.id == "side").values(readers="door-side"))
    with ctx.engine.connect() as conn:
        assert cache.read(conn).door_for_reader("kiosk-side") is None
    if other is not ctx.engine:
        other.dispose()


def test_a_kiosk_reader_put_at_a_door_by_the_command_line_opens_that_door_on_the_next_tap(ctx, instance):
    """The tap path uses the cached set-up: a change made meanwhile is seen on the very next tap."""
    with ctx.engine.connect() as conn:
        assert catalog.load(conn, 0).door_for_reader(taps.KIOSK_READER) is None
    taps.handle(ctx, "04A1B2C3D4", taps.KIOSK_READER)  # an unknown badge: roll call refuses, no door involved
    assert ctx.catalog.last() is not None and ctx.catalog.last().door_for_reader(taps.KIOSK_READER) is None
    with ctx.engine.begin() as conn:
        floor_id = conn.execute(select(Floor.__table__.c.id)).scalars().first()
        conn.execute(insert(Door.__table__).values(id="main", name="Main", contact_point="door:main",
                                                   readers=taps.KIOSK_READER, floor_id=floor_id))
    out = taps.handle(ctx, "04A1B2C3D5", taps.KIOSK_READER)
    assert "door" in out, "the reader's new door was not seen on the tap after the change"
