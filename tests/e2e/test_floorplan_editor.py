"""The floor plan editor in a real browser against `kiosk serve`: an admin drags one seat, saves, and the new
position is in the database and on the live /floor map."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
from playwright.sync_api import expect
from sqlalchemy import insert, select

from kiosk.config import load_config
from kiosk.services import users
from kiosk.services.context import ServiceContext
from kiosk.store.db import make_engine, make_sessionmaker
from kiosk.store.models import Door, Seat, Staff

pytestmark = pytest.mark.browser

PASSWORD = "floor-plan-passphrase"
ENV = {"KIOSK_COOKIE_SECURE": "false"}


def _engine(instance: Path) -> Any:
    return make_engine(load_config(instance, environ={})["DATABASE_URL"])


def prepare(instance: Path, _floor: Any) -> None:
    """An admin desk login."""
    cfg = load_config(instance, environ={})
    engine = make_engine(cfg["DATABASE_URL"])
    try:
        ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
        with engine.begin() as conn:
            conn.execute(insert(Staff.__table__), [{"employee_no": "39001", "name": "平面管理员", "role": "admin",
                                                    "active": True}])
        users.add_user(ctx, "planadmin", "39001", PASSWORD)
    finally:
        engine.dispose()


def position(instance: Path, table: Any, key: str) -> tuple[float, float]:
    """Where the database has the seat or door ``key`` on the plan."""
    engine = _engine(instance)
    try:
        with engine.connect() as conn:
            r = conn.execute(select(table.x, table.y).where(table.id == key)).one()
            return float(r.x), float(r.y)
    finally:
        engine.dispose()


@contextmanager
def editor_and_map(browser: Any, server: Any) -> Iterator[tuple[Any, Any, Any]]:
    """The admin logged in to the plan editor, and the live floor map open in the same browser beside it:
    (editor page, editor, map page). No script error on either page, checked when the test is done."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(server.url + "/admin/floorplan")
        page.get_by_test_id("login-username").fill("planadmin")
        page.get_by_test_id("login-password").fill(PASSWORD)
        page.get_by_test_id("login-submit").click()
        editor = page.get_by_test_id("plan-editor")
        expect(editor).to_have_attribute("data-ready", "true")
        # The live map in the same browser (a desk login may watch the map; a kiosk screen would be paired).
        floor_page = context.new_page()
        floor_page.on("pageerror", lambda exc: errors.append(str(exc)))
        floor_page.goto(server.url + "/floor?kiosk=kiosk")
        floor_page.locator("body.loaded").wait_for()
        yield page, editor, floor_page
    finally:
        context.close()
    assert not errors, errors


def drag(page: Any, element: Any, *moves: tuple[float, float], steps: int = 6) -> None:
    """Press on the middle of ``element`` and move the mouse by each offset in turn, then let go."""
    box = element.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    for dx, dy in moves:
        page.mouse.move(cx + dx, cy + dy, steps=steps)
    page.mouse.up()


def test_an_admin_drags_a_seat_saves_and_the_floor_map_shows_it_there(browser, kiosk_server):
    server = kiosk_server(env=ENV, prepare=prepare)
    with editor_and_map(browser, server) as (page, editor, floor_page):
        seat_el = page.get_by_test_id("plan-map").locator("g[data-seat]").first
        seat = seat_el.get_attribute("data-seat")
        seat_el = page.get_by_test_id(f"plan-seat-{seat}")  # the dragged seat moves to the top: hold it by name
        before = position(server.instance, Seat, seat)
        drag(page, seat_el, (30, 20), (60, 40))
        expect(editor).to_have_attribute("data-moved", "1")
        new_x, new_y = float(seat_el.get_attribute("data-x")), float(seat_el.get_attribute("data-y"))
        assert (new_x, new_y) != before

        page.get_by_test_id("plan-save").click()
        expect(page.get_by_test_id("plan-status")).to_have_attribute("data-state", "saved")
        assert position(server.instance, Seat, seat) == (new_x, new_y)

        # The live map got the whole floor again and moved the seat without a reload.
        expect(floor_page.get_by_test_id(f"seat-{seat}")).to_have_attribute("transform",
                                                                            f"translate({new_x:g},{new_y:g})")


def prepare_with_door(instance: Path, floor: Any) -> None:
    """An admin desk login and the call-area door, defined but not on the plan yet."""
    from kiosk.services import doors

    prepare(instance, floor)
    cfg = load_config(instance, environ={})
    engine = make_engine(cfg["DATABASE_URL"])
    try:
        ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
        doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main"}], actor="test")
    finally:
        engine.dispose()


def test_an_admin_puts_the_door_on_the_plan_drags_it_and_the_floor_map_draws_it(browser, kiosk_server):
    server = kiosk_server(env=ENV, prepare=prepare_with_door)
    with editor_and_map(browser, server) as (page, editor, floor_page):
        expect(floor_page.get_by_test_id("map-door-main")).to_have_count(0)  # not on the plan: not drawn
        expect(floor_page.get_by_test_id("map-you-are-here")).to_be_visible()  # the demo floor places the kiosk

        page.get_by_test_id("plan-place-door-main").click()
        door = page.get_by_test_id("plan-door-main")
        expect(door).to_be_visible()
        drag(page, door, (40, 60), steps=8)
        expect(editor).to_have_attribute("data-moved", "1")
        x, y = float(door.get_attribute("data-x")), float(door.get_attribute("data-y"))
        page.get_by_test_id("plan-save").click()
        expect(page.get_by_test_id("plan-status")).to_have_attribute("data-state", "saved")
        assert position(server.instance, Door, "main") == (x, y)
        expect(page.get_by_test_id("plan-place-door-main")).to_have_count(0)

        # The live map got the placed door (floor_markers_changed) without a reload; its sensor has not reported.
        drawn = floor_page.get_by_test_id("map-door-main")
        expect(drawn).to_have_attribute("transform", f"translate({x:g},{y:g})")
        expect(drawn).to_have_attribute("data-look", "unknown")
