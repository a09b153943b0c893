"""A kiosk screen in a real browser across a Redis outage between two server processes."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from conftest import KioskProcess
from private_redis import private_redis  # noqa: F401  (a fixture)

pytestmark = pytest.mark.browser


def test_a_tap_another_process_accepted_during_a_redis_outage_shows_once_redis_is_back(
        kiosk_server, open_page, private_redis):  # noqa: F811
    env = {"KIOSK_REDIS_URL": private_redis.url, "KIOSK_REDIS_CHANNEL": f"floor-kiosk-e2e-{secrets.token_hex(6)}"}
    a = kiosk_server(env=env)
    b = KioskProcess(a.instance, a.floor, "sim", env)  # a second process of the same installation
    a.screen_token = b.screen_token  # B paired the screen again on the shared instance: the old token is void
    kiosk_server.started.append(b)
    b.start()
    page = open_page(a.url)
    first, second = a.floor.on_panel[0], a.floor.on_panel[1]
    b.tap(first.uid)
    expect(page.get_by_test_id(f"row-{first.employee_no}")).to_have_attribute("data-status", "present")

    private_redis.kill()
    assert b.tap(second.uid)["ok"] is True  # accepted and stored by B; its push reaches only B's screens
    expect(page.get_by_test_id("count-present")).to_have_text("1")

    private_redis.start()
    # A's listener reconnects, tells its screens, and this one fetches the board: no reload, no reconnect.
    expect(page.get_by_test_id(f"row-{second.employee_no}")).to_have_attribute("data-status", "present")
    expect(page.get_by_test_id("count-present")).to_have_text("2")
