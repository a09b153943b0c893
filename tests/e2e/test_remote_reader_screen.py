"""A kiosk whose reader sits on its own PC (`kiosk reader`): its screen shows that reader, in a real browser.

In a centre the servers run no reader (``KIOSK_NFC_DEVICE=none``); each kiosk PC forwards its reader's taps
and health through a durable outbox. The screen opened as that kiosk must show that reader's state,
including when the PC itself falls silent.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from floorfixtures import instance_context
from kiosk.devices.remote_reader import RemoteReader
from kiosk.devices.sim import SimulatedReader
from kiosk.services import doors, sensors

pytestmark = pytest.mark.browser

SECRET = b"remote-reader-secret"


def test_the_screen_of_a_kiosk_shows_the_reader_on_its_pc_unplugged_replugged_and_gone_silent(
        kiosk_server, open_page, tmp_path):
    server = kiosk_server(nfc_device="none", env={"KIOSK_GATEWAY_SECRETS": "kiosk-floor3=" + SECRET.decode(),
                                                  "KIOSK_GATEWAY_SILENT_SECONDS": "2"})
    sim = SimulatedReader(reader_id="kiosk-floor3", debounce=0.0)
    remote = RemoteReader(sim, reader_id="kiosk-floor3", server=server.url, secret=SECRET,
                          outbox_path=str(tmp_path / "reader-outbox.db"))
    remote.forwarder.health_interval = 600  # within the test only a change makes the reader's PC speak
    stop = threading.Event()
    runner = threading.Thread(target=remote.run, args=(stop,), daemon=True)
    runner.start()
    try:
        page = open_page(server.url + "/?kiosk=kiosk-floor3")
        status = page.get_by_test_id("reader-status")
        expect(status).to_have_attribute("data-state", "connected")
        expect(status).to_have_text("读卡器正常")

        sim.unplug()
        expect(status).to_have_attribute("data-state", "disconnected")
        expect(status).to_have_text("读卡器未连接：simulated reader unplugged")
        sim.replug()
        expect(status).to_have_attribute("data-state", "connected")

        page.reload()  # a screen opened now learns it from its snapshot
        page.locator("body.loaded").wait_for()
        expect(status).to_have_attribute("data-state", "connected")

        stop.set()  # the reader's PC goes away: nothing more is heard from it
        runner.join(timeout=10)
        expect(status).to_have_attribute("data-state", "disconnected")
        expect(status).to_contain_text("起无音讯，刷卡无法送达")
    finally:
        stop.set()
        runner.join(timeout=10)


def define_door_with_its_reader(instance: Path, _floor: Any) -> None:
    """The call-area door, its contact on a gateway not running here, and the badge reader beside it."""
    with instance_context(instance) as ctx:
        sensors.define_points(ctx, [{"id": "door:main", "kind": "door", "label": "话务区正门", "gateway": "floor-2"}])
        doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main",
                                  "readers": ["door-main"]}])


def test_the_door_panel_says_when_the_reader_at_the_door_is_unplugged_or_its_pc_goes_silent(
        kiosk_server, open_page, tmp_path):
    server = kiosk_server(nfc_device="none", prepare=define_door_with_its_reader,
                          env={"KIOSK_GATEWAY_SECRETS": "door-main=" + SECRET.decode(),
                               "KIOSK_GATEWAY_SILENT_SECONDS": "2"})
    sim = SimulatedReader(reader_id="door-main", debounce=0.0)
    remote = RemoteReader(sim, reader_id="door-main", server=server.url, secret=SECRET,
                          outbox_path=str(tmp_path / "door-reader-outbox.db"))
    remote.forwarder.health_interval = 600
    stop = threading.Event()
    runner = threading.Thread(target=remote.run, args=(stop,), daemon=True)
    runner.start()
    try:
        page = open_page(server.url)
        tile = page.get_by_test_id("point-door-main")
        readers = page.get_by_test_id("point-door-main-readers")
        expect(tile).to_be_visible()
        sim.unplug()
        expect(readers).to_have_text("门口读卡器 door-main：读卡器未连接：simulated reader unplugged")
        expect(page.get_by_test_id("reader-status")).not_to_contain_text("simulated")  # not this kiosk's reader
        sim.replug()
        expect(readers).to_have_count(0)

        sim.unplug()
        page.reload()  # a screen opened now learns it from its snapshot
        page.locator("body.loaded").wait_for()
        expect(readers).to_have_text("门口读卡器 door-main：读卡器未连接：simulated reader unplugged")
        sim.replug()
        expect(readers).to_have_count(0)

        stop.set()  # the reader's PC goes away
        runner.join(timeout=10)
        expect(readers).to_contain_text("门口读卡器 door-main：读卡器未连接：读卡电脑自")
    finally:
        stop.set()
        runner.join(timeout=10)
