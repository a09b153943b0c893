"""Door alarms and alerts on the kiosk screen (§5, §6.5, §6.6), in a real browser, fed by the whole chain.

`kiosk serve` runs with the demo's simulated sensors (a simulated FSN/1 node, a real `floor-sensors run`
gateway), the demo door defined on the demo points (pre-warning 2 s, held-open alarm 4 s) and a simulated
badge reader `door-main` at that door. Contacts and taps go in through POST /api/v1/sim/sensor and
/api/v1/sim/tap; everything between them and the pixels is the production path.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from conftest import badge_of_role

pytestmark = pytest.mark.browser

LANDSCAPE = {"width": 1920, "height": 1080}
PORTRAIT = {"width": 1080, "height": 1920}
SCREENSHOTS = Path("/tmp/kiosk-screens")


def tid(page: Any, testid: str) -> Any:
    return page.get_by_test_id(testid)


def post_json(server: Any, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(server.url + path, method="POST", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def set_contact(server: Any, point: str, state: str) -> None:
    assert post_json(server, "/api/v1/sim/sensor", {"point": point, "state": state}) == {"ok": True}


def tap(server: Any, uid: str, reader: str = "kiosk") -> None:
    assert post_json(server, "/api/v1/sim/tap", {"uid": uid, "reader": reader})["ok"] is True


def alert_item(page: Any, kind: str) -> Any:
    return page.locator(f'[data-testid="alert-item"][data-kind="{kind}"]')


def open_with_door_closed(open_page: Any, server: Any) -> Any:
    """The screen, once the gateway's first heartbeat has told the door rules the door is closed."""
    page = open_page(server.url)
    expect(tid(page, "point-door-main")).to_have_attribute("data-state", "closed")
    return page


def acknowledge(page: Any, kind: str, reason: str, comment: str = "") -> None:
    """Acknowledge one alert: open its reason picker (unless already open), pick the reason, confirm."""
    item = alert_item(page, kind)
    opener = item.get_by_test_id("alert-ack-open")
    if opener.count():
        opener.click()
    item.get_by_test_id(f"alert-reason-{reason}").click()
    if comment:
        expect(item.get_by_test_id("alert-confirm")).to_be_disabled()  # "other" needs a comment first
        item.get_by_test_id("alert-comment").fill(comment)
    item.get_by_test_id("alert-confirm").click()
    expect(item).to_have_count(0)


def check_layout(page: Any, name: str) -> None:
    """Screenshot, then: nothing off screen, band, tap card and door panel in view and apart, touch targets big."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))  # first, so a failing layout can be looked at
    layout = page.evaluate("""() => {
        const box = (sel) => document.querySelector(sel).getBoundingClientRect();
        const inView = (r) => r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight + 0.5
          && r.right <= window.innerWidth + 0.5 && r.height > 0;
        const overlaps = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
        const band = box('[data-testid=alert-takeover]');
        const card = box('[data-testid=tap-result]');
        const door = box('[data-testid=door-panel]');
        const items = [...document.querySelectorAll('[data-testid=alert-item]')].map((el) => el.getBoundingClientRect());
        const small = [...document.querySelectorAll('button, input')]
          .filter((el) => el.offsetParent !== null && el.type !== 'hidden')
          .map((el) => [el.dataset.testid || el.id || el.textContent, el.getBoundingClientRect()])
          .filter(([, r]) => r.width < 48 || r.height < 48).map(([n]) => n);
        const clipped = [...document.querySelectorAll('.alert-kind, .alert-where, .alert-title, .alert-prompt')]
          .filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.textContent);
        return {
          overflowX: document.documentElement.scrollWidth > window.innerWidth,
          overflowY: document.documentElement.scrollHeight > window.innerHeight,
          bandInView: inView(band),
          firstAlertInBand: items.length > 0 && items[0].top >= band.top && items[0].bottom <= band.bottom + 0.5,
          cardInView: inView(card),
          doorInView: inView(door),
          bandClearOfCard: !overlaps(band, card),
          bandClearOfDoor: !overlaps(band, door),
          small,
          clipped,
        };
    }""")
    assert layout == {"overflowX": False, "overflowY": False, "bandInView": True, "firstAlertInBand": True,
                      "cardInView": True, "doorInView": True, "bandClearOfCard": True, "bandClearOfDoor": True,
                      "small": [], "clipped": []}, name


def test_a_forced_door_takes_over_counts_down_to_held_open_and_a_leader_acknowledges_each_by_badge(
        door_kiosk_server, open_page):
    server = door_kiosk_server()
    page = open_with_door_closed(open_page, server)
    takeover, door = tid(page, "alert-takeover"), tid(page, "point-door-main")
    expect(takeover).to_be_hidden()

    set_contact(server, "door:main", "open")  # nobody tapped a badge: §6.6

    forced = alert_item(page, "door_forced_open")
    expect(takeover).to_be_visible()
    expect(takeover).to_have_attribute("data-severity", "alarm")
    expect(forced.get_by_test_id("alert-kind")).to_have_text("非法开门（强行开门）")
    expect(forced.get_by_test_id("alert-where")).to_have_text("话务区正门")
    expect(forced.get_by_test_id("alert-rule")).to_have_text("§6.6")
    expect(forced.get_by_test_id("alert-raised")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d 发生$"))
    expect(forced.get_by_test_id("alert-ago")).to_have_text(re.compile(r"^\d+ 秒前$"))
    expect(tid(page, "alert-prompt")).to_have_text("班长/主管/保卫请刷卡确认")
    expect(page.get_by_test_id("alert-ack-open")).to_have_count(0)  # nobody identified: nothing to press
    # The door tile counts down to the held-open alarm, amber after the pre-warning, red when it is due.
    countdown = tid(page, "point-door-main-countdown")
    expect(countdown).to_have_text(re.compile(r"后告警"))
    expect(tid(page, "point-door-main-alarms")).to_have_text("非法开门")
    expect(door).to_have_attribute("data-countdown", "prewarn")
    expect(door).to_have_attribute("data-warned", "true")  # door_held_open_warning arrived
    expect(countdown).to_have_text(re.compile(r"^请关门！\d+\s秒后告警$"))
    SCREENSHOTS.mkdir(exist_ok=True)
    tid(page, "door-panel").screenshot(path=str(SCREENSHOTS / "door-countdown-prewarn.png"))
    held = alert_item(page, "door_held_open")
    expect(held.get_by_test_id("alert-kind")).to_have_text("门长时间未关")
    expect(held.get_by_test_id("alert-rule")).to_have_text("§6.5")
    expect(door).to_have_attribute("data-countdown", "alarm")
    expect(countdown).to_have_text("门长时间未关 · 已告警")
    expect(tid(page, "door-panel")).to_have_attribute("data-tone", "red")

    set_contact(server, "door:main", "closed")

    # Clearing is not acknowledging: both stay, marked cleared.
    expect(door).to_have_attribute("data-state", "closed")
    for item in (forced, held):
        expect(item).to_have_attribute("data-cleared", "true")
        expect(item.get_by_test_id("alert-cleared")).to_have_text("已解除（未确认）")
    expect(takeover).to_be_visible()
    expect(countdown).to_have_count(0)

    tap(server, server.floor.leader.uid)  # the duty leader's badge at the kiosk

    expect(tid(page, "leader-console")).to_be_visible()
    expect(tid(page, "leader-rollcall-actions")).to_be_visible()  # a leader runs roll call too
    expect(takeover).to_have_attribute("data-ack", "offered")
    expect(tid(page, "alert-prompt")).to_contain_text(server.floor.leader.name)
    expect(page.get_by_test_id("alert-ack-form")).to_have_count(1)  # the first alert's reasons, ready
    check_layout(page, "alerts-leader-landscape-1920x1080")
    page.set_viewport_size(PORTRAIT)
    check_layout(page, "alerts-leader-portrait-1080x1920")
    page.set_viewport_size(LANDSCAPE)

    # The badge alone acknowledges: no PIN asked for (badge + PIN is for everything beyond alerts).
    expect(tid(page, "leader-pin-state")).to_have_attribute("data-verified", "false")
    acknowledge(page, "door_forced_open", "investigating")
    expect(tid(page, "alert-message")).to_have_text("已确认：非法开门（强行开门）（正在核查）")
    acknowledge(page, "door_held_open", "false_alarm")

    expect(takeover).to_be_hidden()
    expect(tid(page, "pin-pad")).to_be_hidden()
    expect(takeover).to_have_attribute("data-sound", "off")
    expect(page.locator("body")).not_to_have_class(re.compile(r"with-alerts"))
    page.reload()
    page.locator("body.loaded").wait_for()
    expect(tid(page, "point-door-main")).to_have_attribute("data-state", "closed")
    expect(takeover).to_be_hidden()

    # The history page lists both, acknowledged by the leader with the reasons given.
    page.goto(server.url + "/alerts")
    rows = page.get_by_test_id("alert-row")
    expect(rows).to_have_count(2)
    expect(page.locator('[data-testid=alert-row][data-kind=door_forced_open]')).to_contain_text("正在核查")
    expect(page.locator('[data-testid=alert-row][data-kind=door_held_open]')).to_contain_text(
        f"由工号 {server.floor.leader.employee_no} 确认")
    expect(tid(page, "alerts-auth-note")).to_contain_text("请勿外传")  # open to this paired screen, not to anyone
    tid(page, "filter-kind").select_option("door_held_open")
    tid(page, "filter-apply").click()
    expect(rows).to_have_count(1)
    tid(page, "alerts-lang-toggle").click()
    expect(tid(page, "alerts-title")).to_have_text("Alert history")
    expect(rows).to_contain_text("Door held open")


def test_an_operator_cannot_acknowledge_roll_call_goes_on_and_security_acknowledges_without_roll_call_actions(
        door_kiosk_server, open_page):
    server = door_kiosk_server()
    page = open_with_door_closed(open_page, server)
    operator = server.floor.on_panel[0]
    set_contact(server, "door:main", "open")
    forced = alert_item(page, "door_forced_open")
    expect(forced).to_be_visible()
    set_contact(server, "door:main", "closed")
    expect(forced).to_have_attribute("data-cleared", "true")

    tid(page, f"sim-badge-{operator.uid}").click()  # roll call goes on during the alert

    expect(tid(page, "tap-result-outcome")).to_have_text("到")
    expect(tid(page, "tap-result-name")).to_have_text(operator.name)
    expect(tid(page, f"row-{operator.employee_no}")).to_have_attribute("data-status", "present")
    expect(tid(page, "leader-console")).to_be_hidden()
    expect(tid(page, "alert-takeover")).to_have_attribute("data-ack", "badge")
    expect(page.get_by_test_id("alert-ack-open")).to_have_count(0)
    expect(page.locator('[data-testid^="alert-reason-"]')).to_have_count(0)
    check_layout(page, "alerts-operator-tap-landscape-1920x1080")
    page.set_viewport_size(PORTRAIT)
    check_layout(page, "alerts-operator-tap-portrait-1080x1920")
    page.set_viewport_size(LANDSCAPE)

    tap(server, badge_of_role(server, "security"))

    expect(tid(page, "leader-console")).to_be_visible()
    expect(tid(page, "leader-console")).to_have_attribute("data-role", "security")
    expect(tid(page, "leader-security-note")).to_be_visible()
    expect(tid(page, "leader-rollcall-actions")).to_be_hidden()  # security only acknowledges alerts
    expect(tid(page, "leader-close-rollcall")).to_be_hidden()
    acknowledge(page, "door_forced_open", "other", comment="保洁人员开门，已核实")
    expect(tid(page, "alert-takeover")).to_be_hidden()


def test_an_unacknowledged_alert_is_reported_up_level_by_level_and_a_reload_keeps_the_takeover_and_its_sound(
        door_kiosk_server, open_page):
    server = door_kiosk_server(KIOSK_ESCALATE_SECURITY_SECONDS="1")
    page = open_with_door_closed(open_page, server)
    set_contact(server, "door:main", "open")
    set_contact(server, "door:main", "closed")
    forced = alert_item(page, "door_forced_open")
    expect(forced).to_have_attribute("data-cleared", "true")
    expect(forced.get_by_test_id("alert-level")).to_have_count(0)

    expect(forced.get_by_test_id("alert-level")).to_have_text("已上报主管")  # after 3 s (§5.1)
    page.reload()
    page.locator("body.loaded").wait_for()

    takeover = tid(page, "alert-takeover")
    expect(takeover).to_be_visible()
    expect(alert_item(page, "door_forced_open").get_by_test_id("alert-cleared")).to_have_text("已解除（未确认）")
    expect(takeover).to_have_attribute("data-sound", re.compile(r"^(on|locked)$"))
    tid(page, "alert-title").click()  # any touch lets the browser play sound: the siren resumes
    expect(takeover).to_have_attribute("data-sound", "on")
    expect(tid(page, "alert-sound-hint")).to_be_hidden()
    expect(alert_item(page, "door_forced_open").get_by_test_id("alert-level")).to_have_text(
        "已上报保卫科和热线管理科")  # a second later (§5.4)

    tid(page, "lang-toggle").click()
    item = alert_item(page, "door_forced_open")
    expect(item.get_by_test_id("alert-kind")).to_have_text("Door forced open")
    expect(item.get_by_test_id("alert-cleared")).to_have_text("Cleared (not acknowledged)")
    expect(item.get_by_test_id("alert-level")).to_have_text("Reported to security and the Hotline Management Section")
    expect(tid(page, "alert-prompt")).to_have_text("Leader, supervisor or security: tap your badge to acknowledge")
    check_layout(page, "alerts-english-landscape-1920x1080")


def test_a_granted_door_tap_shows_on_the_tap_card_and_the_opening_that_follows_raises_no_alert(
        door_kiosk_server, open_page):
    server = door_kiosk_server()
    page = open_with_door_closed(open_page, server)
    operator, other = server.floor.on_panel[0], server.floor.on_panel[1]

    tap(server, other.uid, reader="door-main")  # §4.4: not roll-called yet

    expect(tid(page, "tap-result")).to_have_attribute("data-outcome", "door_not_roll_called")
    expect(tid(page, "tap-result-outcome")).to_have_text("不能进入")
    expect(tid(page, "tap-result-reason")).to_contain_text("点名后才能进入话务区（§4.4）")

    tap(server, operator.uid)  # roll call at the kiosk
    expect(tid(page, f"row-{operator.employee_no}")).to_have_attribute("data-status", "present")
    tap(server, operator.uid, reader="door-main")

    card = tid(page, "tap-result")
    expect(card).to_have_attribute("data-outcome", "door_granted")
    expect(card).to_have_attribute("data-state", "accepted")
    expect(tid(page, "tap-result-outcome")).to_have_text("准许进入")
    expect(tid(page, "tap-result-name")).to_have_text(operator.name)
    expect(tid(page, "tap-result-meta")).to_contain_text("话务区正门")
    expect(tid(page, "tap-result-reason")).to_have_text("请进，进门后随手关门（§6.5）")
    tid(page, "lang-toggle").click()
    expect(tid(page, "tap-result-outcome")).to_have_text("Entry granted")
    expect(tid(page, "tap-result-reason")).to_have_text("Come in, and close the door behind you (§6.5)")

    set_contact(server, "door:main", "open")

    # The countdown comes with door_changed, published after any alert of the same change: none came.
    expect(tid(page, "point-door-main-countdown")).to_have_text(re.compile(r"^Held-open alarm in \d\ss$"))
    expect(tid(page, "point-door-main-alarms")).to_have_text("")
    expect(tid(page, "alert-takeover")).to_be_hidden()
    set_contact(server, "door:main", "closed")
    expect(tid(page, "point-door-main")).to_have_attribute("data-state", "closed")
    expect(tid(page, "alert-takeover")).to_be_hidden()
