"""The door panel (§6.5) in a real browser, fed by the whole sensor chain.

`kiosk serve` runs as `kiosk demo` does with simulated sensors: a simulated FSN/1 node on a pty, read by
a real `floor-sensors run` gateway process, which signs and posts its events to the server, which
publishes them to the screen. Only the contacts are simulated (POST /api/v1/sim/sensor, or the demo
panel's buttons); everything between the contact and the pixels is the production path.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from floorfixtures import instance_context
from kiosk.services import sensors

pytestmark = pytest.mark.browser

PORTRAIT = {"width": 1080, "height": 1920}
SCREENSHOTS = Path("/tmp/kiosk-screens")


def tid(page: Any, testid: str) -> Any:
    return page.get_by_test_id(testid)


def set_contact(server: Any, point: str, state: str) -> None:
    """POST /api/v1/sim/sensor: drive one of the simulated node's contacts."""
    req = urllib.request.Request(server.url + "/api/v1/sim/sensor", method="POST",
                                 data=json.dumps({"point": point, "state": state}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.loads(resp.read()) == {"ok": True}


def define_back_door(instance: Path, _floor: Any) -> None:
    """A door on a gateway that is not running: defined at the kiosk, never reported by anyone."""
    with instance_context(instance) as ctx:
        sensors.define_points(ctx, [{"id": "door:back", "kind": "door", "label": "话务区后门", "gateway": "floor-2"}])


def test_the_door_shows_closed_from_the_first_heartbeat_then_opens_closes_and_a_cut_wire_shows_live(
        kiosk_server, open_page):
    server = kiosk_server(sensors=True)
    page = open_page(server.url)
    panel, door = tid(page, "door-panel"), tid(page, "point-door-main")
    state, meta = tid(page, "point-door-main-state"), tid(page, "point-door-main-meta")
    expect(panel).to_be_visible()

    # Nobody told the kiosk the door is closed: the node's first heartbeat did, through the gateway.
    expect(door).to_have_attribute("data-state", "closed")
    expect(state).to_have_text("已关闭")
    expect(door).to_have_attribute("data-reconciled", "true")
    expect(tid(page, "point-door-main-reconciled")).to_have_text("由心跳核对")
    expect(door).to_contain_text("话务区正门")
    expect(tid(page, "point-exit-main-state")).to_have_text("未按下")
    expect(tid(page, "point-equipment-extinguisher-1-state")).to_have_text("在位")
    expect(tid(page, "gateway-demo-floor")).to_have_attribute("data-silent", "false")
    expect(tid(page, "gateway-demo-floor")).to_have_text("网关 demo-floor：在线")
    expect(panel).to_have_attribute("data-tone", "calm")

    set_contact(server, "door:main", "open")

    expect(door).to_have_attribute("data-state", "open")
    expect(state).to_have_text("已打开")
    expect(door).to_have_attribute("data-reconciled", "false")
    expect(panel).to_have_attribute("data-tone", "amber")
    expect(meta).to_have_text(re.compile(r"^已开 \d+ 秒$"))
    shown = meta.text_content()
    expect(meta).not_to_have_text(shown)  # counts up live, from the event's own time

    set_contact(server, "door:main", "closed")

    expect(door).to_have_attribute("data-state", "closed")
    expect(state).to_have_text("已关闭")
    expect(meta).to_have_text(re.compile(r"^\d\d:\d\d 起$"))
    expect(panel).to_have_attribute("data-tone", "calm")

    set_contact(server, "door:main", "fault")

    expect(door).to_have_attribute("data-state", "fault")
    expect(state).to_have_text("线路故障")
    expect(panel).to_have_attribute("data-tone", "red")

    # After a reload the snapshot alone tells the same story.
    page.reload()
    expect(tid(page, "point-door-main")).to_have_attribute("data-state", "fault")
    expect(tid(page, "point-door-main-state")).to_have_text("线路故障")


def test_the_demo_panel_buttons_open_the_door_and_press_the_exit_button_through_the_gateway(
        kiosk_server, open_page):
    server = kiosk_server(sensors=True)
    page = open_page(server.url)
    door, exit_button = tid(page, "point-door-main"), tid(page, "point-exit-main")
    expect(door).to_have_attribute("data-state", "closed")

    tid(page, "sim-sensor-exit-pressed").click()
    expect(exit_button).to_have_attribute("data-state", "pressed")
    expect(tid(page, "point-exit-main-state")).to_have_text("已按下")
    tid(page, "sim-sensor-door-open").click()
    expect(door).to_have_attribute("data-state", "open")
    tid(page, "sim-sensor-exit-released").click()
    expect(exit_button).to_have_attribute("data-state", "released")

    tid(page, "lang-toggle").click()
    expect(tid(page, "point-door-main-state")).to_have_text("Open")
    expect(tid(page, "point-door-main-meta")).to_have_text(re.compile(r"^open for \d+ s$"))
    expect(tid(page, "point-exit-main-state")).to_have_text("Released")
    expect(tid(page, "gateway-demo-floor")).to_have_text("Gateway demo-floor: online")

    tid(page, "sim-sensor-door-fault").click()
    expect(tid(page, "point-door-main-state")).to_have_text("Wiring fault")
    tid(page, "sim-sensor-door-closed").click()
    expect(tid(page, "point-door-main-state")).to_have_text("Closed")
    expect(tid(page, "sim-message")).to_have_text("")


def test_a_door_no_gateway_has_reported_is_unknown_and_never_shown_as_closed(kiosk_server, open_page):
    server = kiosk_server(prepare=define_back_door)  # no simulated sensors: nothing will ever report it
    page = open_page(server.url)
    door = tid(page, "point-door-back")

    expect(door).to_have_attribute("data-state", "unknown")
    expect(tid(page, "point-door-back-state")).to_have_text("状态未知")
    expect(tid(page, "point-door-back-meta")).to_have_text("传感器离线，不能确认门已关")
    expect(door).not_to_contain_text("已关闭")
    expect(tid(page, "door-panel")).to_have_attribute("data-tone", "unknown")
    expect(tid(page, "gateway-floor-2")).to_have_attribute("data-silent", "true")
    expect(tid(page, "gateway-floor-2")).to_have_text("网关 floor-2：尚未联系")
    # No demo sensors on this server: the tap panel is there, the contact buttons are not.
    expect(tid(page, "sim-panel")).to_be_visible()
    expect(tid(page, "sim-sensors")).to_have_count(0)

    tid(page, "lang-toggle").click()
    expect(tid(page, "point-door-back-state")).to_have_text("Unknown")
    expect(tid(page, "point-door-back-meta")).to_have_text("sensor offline — not known to be closed")


def test_the_door_panel_fits_landscape_and_portrait_beside_the_roll_call_with_the_door_open(
        kiosk_server, open_page):
    server = kiosk_server(sensors=True)
    page = open_page(server.url)
    floor = server.floor
    expect(tid(page, "point-door-main")).to_have_attribute("data-state", "closed")
    for person in floor.on_panel[:3]:
        server.tap(person.uid)
    expect(tid(page, "count-present")).to_have_text("3")
    set_contact(server, "door:main", "open")
    set_contact(server, "exit:main", "pressed")
    expect(tid(page, "point-door-main")).to_have_attribute("data-state", "open")
    expect(tid(page, "point-exit-main")).to_have_attribute("data-state", "pressed")
    SCREENSHOTS.mkdir(exist_ok=True)

    for name, viewport in (("door-open-landscape-1920x1080", None), ("door-open-portrait-1080x1920", PORTRAIT)):
        if viewport:
            page.set_viewport_size(viewport)
        layout = page.evaluate("""() => {
            const box = (sel) => document.querySelector(sel).getBoundingClientRect();
            const inView = (r) => r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth;
            const small = [...document.querySelectorAll('button, input')]
              .filter((el) => el.offsetParent !== null)
              .map((el) => [el.dataset.testid || el.id || el.textContent, el.getBoundingClientRect()])
              .filter(([, r]) => r.width < 48 || r.height < 48).map(([n]) => n);
            const panel = box('[data-testid=door-panel]');
            const points = [...document.querySelectorAll('.door-point')].map((el) => el.getBoundingClientRect());
            const list = box('[data-testid=roster-list]');
            const rows = [...document.querySelectorAll('.row')].map((el) => el.getBoundingClientRect());
            const overlaps = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
            return {
              overflowX: document.documentElement.scrollWidth > window.innerWidth,
              overflowY: document.documentElement.scrollHeight > window.innerHeight,
              small,
              panelInView: inView(panel),
              pointsInPanel: points.length === 3 && points.every((r) => inView(r) && r.bottom <= panel.bottom),
              panelClearOfRoster: !overlaps(panel, list),
              cardInView: inView(box('[data-testid=tap-result]')),
              rosterRowsShown: rows.filter((r) => r.top >= list.top && r.bottom <= list.bottom).length >= 20,
              cjk: document.fonts.check('48px "Noto Sans CJK SC"', '已打开线路故障'),
            };
        }""")
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))  # first, so a failing layout can be looked at
        assert layout == {"overflowX": False, "overflowY": False, "small": [], "panelInView": True,
                          "pointsInPanel": True, "panelClearOfRoster": True, "cardInView": True,
                          "rosterRowsShown": True, "cjk": True}, name
