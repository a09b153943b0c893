"""A kiosk screen in a real browser: unpaired it says so instead of showing the board; the pairing link pairs it."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from kiosk.config import load_config
from kiosk.services import screens
from kiosk.services.context import ServiceContext
from kiosk.store.db import make_engine, make_sessionmaker


def test_an_unpaired_screen_says_so_and_the_pairing_link_brings_the_board(browser: Any, kiosk_server: Any) -> None:
    server = kiosk_server()
    context = browser.new_context(locale="zh-CN")  # no screen cookie: not open_page
    try:
        page = context.new_page()
        page.goto(server.url + "/")
        banner = page.get_by_test_id("connection-status")
        expect(banner).to_have_attribute("data-state", "not_paired")
        expect(banner).to_contain_text("未配对")
        cfg = load_config(server.instance, environ={})
        engine = make_engine(cfg["DATABASE_URL"])
        try:
            ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
            code = screens.pair(ctx, "wall-1", "test", require_admin=False)
        finally:
            engine.dispose()
        page.goto(server.url + f"/pair?code={code}")
        assert page.url.endswith("/?kiosk=wall-1")
        expect(banner).to_have_attribute("data-state", "connected")
        page.locator("body.loaded").wait_for()
    finally:
        context.close()
