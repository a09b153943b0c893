"""The floor map screen (GET /floor) in a real browser, fed by signed agent states from a test "call platform".

`kiosk serve` runs on the demo's generated floor (120 seats in 4 zones) with a CTI integration
(``KIOSK_CTI_SECRETS=test=secret``) and the first shift started a minute or so ago, so a sign-out now is
mid-shift (§8.9) and a sign-in elsewhere than the roster's seat is a wrong seat (§8.7). States go in
through ``POST /api/v1/agent-states`` signed with HMAC-SHA256, the leader identifies by a badge tap on the
kiosk's simulated reader; everything between them and the pixels is the production path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

# At import time, while the conftest module is this folder's: the integration tests have their own.
from conftest import DEMO_DOOR, DOOR_ENV, post_json

pytestmark = pytest.mark.browser

SCREENSHOTS = Path("/tmp/kiosk-screens")
CTI_ENV = {"KIOSK_CTI_SECRETS": "test=secret"}
SHIFT_STARTED = timedelta(minutes=-1)  # the first shift started 1–6 minutes ago; its roll call is still open


def tid(page: Any, testid: str) -> Any:
    return page.get_by_test_id(testid)


def seat(page: Any, seat_id: str) -> Any:
    return tid(page, f"seat-{seat_id}")


def flags_of_kind(page: Any, kind: str) -> Any:
    return page.locator(f'[data-testid="flag-list"] [data-kind="{kind}"]')


class Platform:
    """The hotline call platform as the test drives it: one signed state per call, each a second after the last."""

    def __init__(self, server: Any) -> None:
        self.server = server
        # After the shift's start (at least a minute ago) and before the kiosk's clock: states are never "future".
        self.clock = datetime.now(timezone.utc) - timedelta(seconds=50)

    def post(self, employee_no: str, state: str, seat: str | None = None, reason: str | None = None) -> dict[str, Any]:
        self.clock += timedelta(seconds=1)
        item: dict[str, Any] = {"employee_no": employee_no, "state": state, "at": self.clock.isoformat()}
        if seat is not None:
            item["seat"] = seat
        if reason is not None:
            item["reason"] = reason
        body = json.dumps(item).encode()
        signature = "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()
        req = urllib.request.Request(self.server.url + "/api/v1/agent-states", data=body, method="POST", headers={
            "Content-Type": "application/json", "X-Integration": "test", "X-Signature": signature})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                answer = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            pytest.fail(f"agent state {item} refused: {exc.code} {exc.read().decode(errors='replace')}", pytrace=False)
        assert answer["ok"] and answer["accepted"] == 1, answer
        return answer


def test_the_floor_map_follows_the_platform_and_the_leader_clears_flags_by_badge(kiosk_server: Any, open_page: Any,
                                                                                 enter_pin: Any) -> None:
    server = kiosk_server(env=CTI_ENV, shift_starts_in=SHIFT_STARTED)
    floor = server.floor
    platform = Platform(server)
    at_own, wrong, taken, leaves = floor.operators[0], floor.operators[1], floor.operators[2], floor.operators[3]
    page = open_page(server.url + "/floor?kiosk=kiosk")

    # The generated floor, drawn from the snapshot: 120 seats in 4 zones, Chinese first.
    expect(tid(page, "floor-map")).to_be_visible()
    expect(page.locator('[data-testid="floor-map"] [data-seat]')).to_have_count(120)
    expect(page.locator('[data-testid="floor-map"] [data-zone]')).to_have_count(4)
    expect(tid(page, "floor-legend")).to_contain_text("示忙")
    expect(tid(page, "floor-count-signed_in")).to_contain_text("0")
    expect(seat(page, at_own.seat)).to_have_attribute("data-status", "assigned_empty")

    # Signed in at the assigned seat: the seat says so, with the operator's name.
    platform.post(at_own.employee_no, "signed_in", at_own.seat)
    expect(seat(page, at_own.seat)).to_have_attribute("data-status", "signed_in")
    expect(seat(page, at_own.seat)).to_contain_text(at_own.name)
    expect(seat(page, at_own.seat)).to_have_attribute("data-wrong-seat", "false")
    expect(tid(page, "floor-count-signed_in")).to_contain_text("1")

    # §8.7: another operator signs in at someone else's seat: flagged on the leader's list, the seat marked.
    platform.post(wrong.employee_no, "signed_in", taken.seat)
    wrong_flag = flags_of_kind(page, "wrong_seat")
    expect(wrong_flag).to_have_count(1)
    expect(wrong_flag).to_contain_text("§8.7")
    expect(wrong_flag).to_contain_text(wrong.name)
    expect(wrong_flag).to_contain_text(wrong.seat)  # the seat the roster gave them
    expect(seat(page, taken.seat)).to_have_attribute("data-wrong-seat", "true")
    expect(seat(page, taken.seat)).to_have_attribute("data-flagged", "true")
    expect(seat(page, taken.seat)).to_contain_text(wrong.name)
    expect(seat(page, wrong.seat)).to_have_attribute("data-status", "assigned_empty")
    wrong_id = wrong_flag.get_attribute("data-flag-id")

    # Busy (示忙): the seat's colour follows, and the counts.
    platform.post(at_own.employee_no, "ready", at_own.seat)
    platform.post(at_own.employee_no, "busy", at_own.seat)
    expect(seat(page, at_own.seat)).to_have_attribute("data-status", "busy")
    expect(seat(page, at_own.seat)).to_have_attribute("data-look", "busy")
    expect(tid(page, "floor-count-busy")).to_contain_text("1")

    # A tap on the seat: who, state, today's busy minutes ticking, assigned vs actual seat.
    seat(page, at_own.seat).click()
    card = tid(page, "seat-detail")
    expect(card).to_be_visible()
    expect(tid(page, "seat-detail-agent")).to_contain_text(at_own.name)
    expect(tid(page, "seat-detail-state")).to_contain_text("示忙")
    expect(tid(page, "seat-detail-actual")).to_contain_text("就在排班坐席")
    busy_row = tid(page, "seat-detail-busy")
    expect(busy_row).to_contain_text("/ 40 分钟")
    ticked_from = int(busy_row.get_attribute("data-seconds"))
    page.wait_for_function(
        "([from]) => Number(document.querySelector('[data-testid=seat-detail-busy]').dataset.seconds) > from",
        arg=[ticked_from], timeout=5000)
    # The wrongly seated operator's card says where the roster put them.
    seat(page, taken.seat).click()
    expect(tid(page, "seat-detail-actual")).to_contain_text(f"排在 {wrong.seat}")
    expect(tid(page, "seat-detail-flags")).to_contain_text("§8.7")

    # §8.9: signed out mid-shift without a reason: a register entry, cause buttons only for a leader.
    platform.post(leaves.employee_no, "signed_in", leaves.seat)
    platform.post(leaves.employee_no, "signed_out")  # no seat (the last one stays), no reason
    signout = flags_of_kind(page, "unexplained_signout")
    expect(signout).to_have_count(1)
    expect(signout).to_contain_text("§8.9")
    expect(signout).to_contain_text(leaves.name)
    signout_id = signout.get_attribute("data-flag-id")
    expect(tid(page, f"flag-cause-{signout_id}-equipment_failure")).to_have_count(0)
    expect(tid(page, f"flag-ack-{wrong_id}")).to_have_count(0)
    expect(tid(page, "floor-leader")).to_have_attribute("data-state", "none")

    # The duty leader taps their badge at the kiosk's reader: this page (kiosk id "kiosk") gets the session.
    server.tap(floor.leader.uid)
    expect(tid(page, "floor-leader")).to_have_attribute("data-state", "acting")
    expect(tid(page, "floor-leader-who")).to_contain_text(floor.leader.name)
    expect(tid(page, f"flag-cause-{signout_id}-equipment_failure")).to_have_text("设备故障")
    expect(tid(page, f"flag-cause-{signout_id}-system_failure")).to_have_text("系统故障")
    expect(tid(page, f"flag-cause-{signout_id}-other")).to_have_text("其他")

    # A cause goes into the leader's register: beyond acknowledging, so the PIN pad comes up first (badge +
    # PIN). Then a refusal is shown in words: "other" needs a comment.
    tid(page, f"flag-cause-{signout_id}-other").click()
    expect(tid(page, "pin-who")).to_contain_text(floor.leader.name)
    enter_pin(page)
    expect(tid(page, "floor-leader-who")).to_contain_text("已验证 PIN")
    expect(tid(page, "floor-leader-message")).to_have_text("选择“其他”时请写明原因")
    expect(tid(page, "floor-leader-message")).to_have_attribute("data-kind", "error")
    expect(tid(page, f"flag-{signout_id}")).to_be_visible()
    tid(page, f"flag-comment-{signout_id}").fill("耳机故障，已更换")
    tid(page, f"flag-cause-{signout_id}-equipment_failure").click()
    expect(tid(page, f"flag-{signout_id}")).to_have_count(0)
    expect(tid(page, "floor-leader-message")).to_contain_text("设备故障")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "floor-leader-zh.png"))

    # The leader acknowledges the wrong seat: it leaves the list; the seat stays marked while it holds.
    tid(page, f"flag-ack-{wrong_id}").click()
    expect(tid(page, f"flag-{wrong_id}")).to_have_count(0)
    expect(flags_of_kind(page, "wrong_seat")).to_have_count(0)
    expect(seat(page, taken.seat)).to_have_attribute("data-wrong-seat", "true")
    expect(seat(page, taken.seat)).to_have_attribute("data-flagged", "false")
    expect(tid(page, "flag-acked-note")).to_be_visible()

    # A reload (a snapshot) shows the same floor.
    counts = {k: tid(page, f"floor-count-{k}").get_attribute("data-value")
              for k in ("on_floor", "signed_in", "ready", "busy", "wrap_up", "empty_assigned", "mismatched")}
    csp: list[str] = []
    page.on("console", lambda msg: csp.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.reload()
    page.locator("body.loaded").wait_for()
    expect(seat(page, at_own.seat)).to_have_attribute("data-status", "busy")
    expect(seat(page, at_own.seat)).to_contain_text(at_own.name)
    expect(seat(page, taken.seat)).to_have_attribute("data-wrong-seat", "true")
    expect(seat(page, taken.seat)).to_contain_text(wrong.name)
    expect(seat(page, leaves.seat)).to_have_attribute("data-status", "assigned_empty")
    expect(flags_of_kind(page, "wrong_seat")).to_have_count(0)
    expect(flags_of_kind(page, "unexplained_signout")).to_have_count(0)
    for key, value in counts.items():
        expect(tid(page, f"floor-count-{key}")).to_have_attribute("data-value", value)
    assert counts["busy"] == "1" and counts["signed_in"] == "2"

    seat(page, at_own.seat).click()
    expect(tid(page, "seat-detail")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "floor-detail-zh.png"))
    tid(page, "lang-toggle").click()
    expect(tid(page, "floor-legend")).to_contain_text("Busy")
    expect(tid(page, "seat-detail-state")).to_contain_text("Busy")
    page.screenshot(path=str(SCREENSHOTS / "floor-detail-en.png"))
    assert not csp, f"the floor page broke its Content-Security-Policy: {csp}"


def test_the_kiosk_links_to_the_floor_map_in_the_language_chosen_there(server: Any, open_page: Any) -> None:
    page = open_page(server.url + "/?kiosk=kiosk")
    link = tid(page, "floor-link")
    expect(link).to_have_text("坐席图")
    tid(page, "lang-toggle").click()
    expect(link).to_have_text("Floor map")
    link.click()
    page.wait_for_url(re.compile(r"/floor\?kiosk=kiosk$"))
    page.locator("body.loaded").wait_for()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".floor-title")).to_have_text("Floor map")
    expect(tid(page, "floor-count-busy")).to_contain_text("Busy")
    # Pan and zoom change the view; reset brings the whole floor back.
    svg = tid(page, "floor-map")
    fitted = svg.get_attribute("viewBox")
    tid(page, "map-zoom-in").click()
    expect(svg).not_to_have_attribute("viewBox", fitted)
    box = svg.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 120, box["y"] + box["height"] / 2 + 40, steps=5)
    page.mouse.up()
    expect(tid(page, "seat-detail")).to_be_hidden()  # a drag is not a tap
    tid(page, "map-reset").click()
    expect(svg).to_have_attribute("viewBox", fitted)
    tid(page, "floor-back").click()
    page.wait_for_url(re.compile(r"/\?kiosk=kiosk$"))
    page.locator("body.loaded").wait_for()
    expect(tid(page, "floor-link")).to_have_text("Floor map")


def define_placed_door(instance: Path, _floor: Any) -> None:
    """The demo door of conftest, placed on the plan beside the kiosk screen the demo floor places."""
    from kiosk.config import load_config
    from kiosk.services import doors
    from kiosk.services.context import ServiceContext
    from kiosk.store.db import make_engine, make_sessionmaker

    cfg = load_config(instance, environ={})
    engine = make_engine(cfg["DATABASE_URL"])
    try:
        ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
        doors.define_doors(ctx, [{**DEMO_DOOR, "x": 520, "y": 760}], actor="test")
    finally:
        engine.dispose()


def test_the_door_is_on_the_map_in_its_live_colour_beside_you_are_here(kiosk_server: Any, open_page: Any) -> None:
    server = kiosk_server(sensors=True, env=DOOR_ENV, prepare=define_placed_door)
    operator = server.floor.on_panel[0]
    page = open_page(server.url + "/floor?kiosk=kiosk")
    door = tid(page, "map-door-main")

    def contact(state: str) -> None:
        assert post_json(server, "/api/v1/sim/sensor", {"point": "door:main", "state": state}) == {"ok": True}

    # The node's first heartbeat says closed; the demo floor hangs this kiosk screen by the door.
    expect(door).to_have_attribute("data-look", "closed")
    expect(door).to_contain_text("话务区正门")
    expect(tid(page, "map-you-are-here")).to_contain_text("您在这里")
    expect(tid(page, "legend-door_forced")).to_contain_text("非法开门")

    # Opened with no badge before it: forced open (§6.6), red; closed again: green.
    contact("open")
    expect(door).to_have_attribute("data-look", "forced")
    contact("closed")
    expect(door).to_have_attribute("data-look", "closed")

    # Roll-called, let in by the door's reader, the door opens: open (amber), then held open (§6.5) at 4 s.
    server.tap(operator.uid)
    assert post_json(server, "/api/v1/sim/tap", {"uid": operator.uid, "reader": "door-main"})["ok"] is True
    contact("open")
    expect(door).to_have_attribute("data-look", "open")
    expect(door).to_have_attribute("data-look", "held_open")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "floor-door-held-open-zh.png"))
    contact("closed")
    expect(door).to_have_attribute("data-look", "closed")
    tid(page, "lang-toggle").click()
    expect(tid(page, "map-you-are-here")).to_contain_text("You are here")


def prepare_two_floors(instance: Path, _floor: Any) -> None:
    """Zones C and D (and the roster lines at their seats) on a new floor 4F; the kiosk screen shows every floor."""
    from sqlalchemy import select, text

    from kiosk.config import load_config
    from kiosk.services import floors
    from kiosk.services.context import ServiceContext
    from kiosk.store.db import make_engine, make_sessionmaker

    cfg = load_config(instance, environ={})
    engine = make_engine(cfg["DATABASE_URL"])
    try:
        ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
        upper = floors.add(ctx, "4F", "四层", "4th floor")
        with engine.begin() as conn:
            conn.execute(text("UPDATE zones SET floor_id = :f WHERE id IN ('C', 'D')").bindparams(f=upper.id))
            conn.execute(text("UPDATE roster SET floor_id = :f WHERE seat_id LIKE 'C-%' OR seat_id LIKE 'D-%'")
                         .bindparams(f=upper.id))
            conn.execute(text("UPDATE screens SET floor_id = NULL WHERE name = 'kiosk'"))
    finally:
        engine.dispose()


def test_a_screen_of_every_floor_chooses_the_floor_its_map_shows(kiosk_server: Any, open_page: Any) -> None:
    server = kiosk_server(prepare=prepare_two_floors)
    page = open_page(server.url + "/floor?kiosk=kiosk")

    # A map of two floors at once would lay them over each other: the page goes to the first floor.
    page.wait_for_url(re.compile(r"floor=1F"))
    page.locator("body.loaded").wait_for()
    select = tid(page, "floor-select")
    expect(tid(page, "floor-choice")).to_be_visible()
    expect(select).to_have_value("1F")
    expect(select.locator("option")).to_have_text(["1F · 1 层", "4F · 四层"])
    expect(page.locator('[data-testid="floor-map"] [data-seat]')).to_have_count(60)
    expect(page.locator('[data-testid="floor-map"] [data-zone]')).to_have_count(2)
    expect(tid(page, "zone-A")).to_be_visible()

    select.select_option("4F")
    page.wait_for_url(re.compile(r"floor=4F"))
    page.locator("body.loaded").wait_for()
    expect(tid(page, "floor-select")).to_have_value("4F")
    expect(page.locator('[data-testid="floor-map"] [data-seat]')).to_have_count(60)
    expect(tid(page, "zone-C")).to_be_visible()
    expect(tid(page, "zone-A")).to_have_count(0)
    expect(tid(page, "map-you-are-here")).to_have_count(0)  # a screen of every floor is on no one floor's plan
    tid(page, "lang-toggle").click()
    expect(tid(page, "floor-select").locator("option")).to_have_text(["1F · Floor 1", "4F · 4th floor"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "floor-selector-en.png"))
    # The same screen's roll call page says it shows every floor.
    kiosk_page = open_page(server.url + "/?kiosk=kiosk")
    expect(tid(kiosk_page, "kiosk-floor")).to_have_text("全部楼层")
