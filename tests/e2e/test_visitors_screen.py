"""Visitors on the kiosk screen (§2.2, §6.6), in a real browser, fed by the whole chain.

`kiosk serve` runs with the demo's simulated sensors, the demo door on the demo points with its simulated
badge reader `door-main`, and visitor approvals recorded in the instance beforehand by a member of the
Hotline Management Section, as `kiosk visitor approve` does. Taps go in through POST /api/v1/sim/tap at
the kiosk's reader or at `door-main`; the leader works the console in the browser.
"""

from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import insert

from kiosk.config import load_config
from kiosk.services import demo, doors, leader_sessions, visitors
from kiosk.services.context import ServiceContext
from kiosk.store.db import make_engine, make_sessionmaker, write_transaction
from kiosk.store.models import Staff

from conftest import badge_of_role

pytestmark = pytest.mark.browser

LANDSCAPE = {"width": 1920, "height": 1080}
PORTRAIT = {"width": 1080, "height": 1920}
SCREENSHOTS = Path("/tmp/kiosk-screens")
MANAGER = "39001"  # a member of the Hotline Management Section, added to the generated floor
CARD = "0F1C2A01"  # a spare visitor card from the reception drawer
EARLY_CARD = "0F1C2A09"  # bound ahead of a visit that starts later today (or tomorrow)
WALK_IN_CARD = "0F1C2A08"  # bound to the visit that needs no escort
# The demo's door and its simulated reader door-main; no repeat window, so a card may be tapped again at once.
VISITOR_ENV = {"KIOSK_DOOR_READERS": demo.DOOR_READERS, "KIOSK_NFC_DEBOUNCE_SECONDS": "0"}
HHMM = r"\d\d:\d\d"


@dataclass
class Visits:
    """The approvals a test's instance holds, filled in by ``prepare``."""

    ids: dict[str, int] = field(default_factory=dict)
    host_name: str = ""


def visits_prepared(visits: Visits) -> Callable[[Path, Any], None]:
    """A ``prepare`` for ``kiosk_server``: the demo door, a management section member and three approvals.

    escorted: valid now, escort required; unescorted: valid now, its card WALK_IN_CARD bound; early: starts
    in two hours, its card EARLY_CARD bound. The cards are bound at the kiosk by the duty leader through the
    service layer.
    """
    def prepare(instance: Path, floor: Any) -> None:
        cfg = load_config(instance, environ={})
        engine = make_engine(cfg["DATABASE_URL"])
        try:
            ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
            doors.define_doors(ctx, [demo.DOOR], actor="test")  # 话务区正门 on door:main, reader door-main
            with engine.begin() as conn:
                conn.execute(insert(Staff.__table__).values(employee_no=MANAGER, name="孙科长", role="management",
                                                            active=True))
            now = datetime.now(timezone.utc)
            host = floor.operators[0]
            visits.host_name = host.name
            common = {"host_employee_no": host.employee_no, "valid_from": now - timedelta(minutes=5)}
            visits.ids["escorted"] = visitors.create_approval(ctx, MANAGER, {
                **common, "name": "谭明", "organisation": "市数据局", "id_doc_tail": "123X", "purpose": "visit",
                "valid_until": now + timedelta(hours=2), "escort_required": True})["id"]
            visits.ids["unescorted"] = visitors.create_approval(ctx, MANAGER, {
                **common, "name": "林舒", "organisation": "市融媒体中心", "id_doc_tail": "4521",
                "purpose": "photograph", "valid_until": now + timedelta(hours=1), "escort_required": False})["id"]
            visits.ids["early"] = visitors.create_approval(ctx, MANAGER, {
                **common, "name": "韩雪", "organisation": "省广播电视台", "id_doc_tail": "0087", "purpose": "record",
                "valid_from": now + timedelta(hours=2), "valid_until": now + timedelta(hours=3),
                "escort_required": False})["id"]
            # Reception hands the card out early; the door enforces the window (§2.2).
            sess = leader_sessions.open_session(ctx, "kiosk", floor.leader.employee_no, floor.leader.name, "leader",
                                                ctx.now())
            sess.pin_verified = True
            with write_transaction(ctx.engine) as conn:
                leader_sessions.save(conn, "kiosk", sess)
            for visit, card in (("early", EARLY_CARD), ("unescorted", WALK_IN_CARD)):
                visitors.start_binding(ctx, "kiosk", visits.ids[visit])
                assert visitors.kiosk_tap(ctx, card, "kiosk")["outcome"] == "bound"
            leader_sessions.end(ctx, "kiosk")  # the server starts with nobody identified at the kiosk
            # The demo panel offers the spare card, as `kiosk demo` does (访客卡 1).
            demo.write_panel(ctx, floor.panel + [{"label": "访客卡 1", "uid": CARD, "kind": "visitor"}])
        finally:
            engine.dispose()

    return prepare


def tid(page: Any, testid: str) -> Any:
    return page.get_by_test_id(testid)


def tap(server: Any, uid: str, reader: str = "kiosk") -> None:
    """A card on the kiosk's simulated reader, or on the door's (POST /api/v1/sim/tap)."""
    req = urllib.request.Request(server.url + "/api/v1/sim/tap", method="POST",
                                 data=json.dumps({"uid": uid, "reader": reader}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.loads(resp.read())["ok"] is True


def check_layout(page: Any, name: str, *, console: bool, inside: bool = True) -> None:
    """Screenshot, then: nothing off screen; tap card, alert band and door panel in view; the visitors panel
    in view, uncovered, with its entries whole while someone is inside, else hidden; the console's visitor
    section in view (with the console), else the roll call list keeps room for several rows of tiles (two
    under an alert band); every touch target at least 48 px."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))  # first, so a failing layout can be looked at
    layout = page.evaluate("""(console) => {
        const box = (sel) => document.querySelector(sel).getBoundingClientRect();
        const inView = (r) => r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight + 0.5
          && r.right <= window.innerWidth + 0.5 && r.height > 0;
        const within = (r, o) => r.top >= o.top - 0.5 && r.bottom <= o.bottom + 0.5;
        const panelEl = document.querySelector('[data-testid=visitors-panel]');
        const panel = panelEl.getBoundingClientRect();
        const entries = [...document.querySelectorAll('[data-testid^="visitor-"].visitor')]
          .map((el) => el.getBoundingClientRect());
        const band = document.querySelector('[data-testid=alert-takeover]');
        const small = [...document.querySelectorAll('button, input')]
          .filter((el) => el.offsetParent !== null && el.type !== 'hidden')
          .map((el) => [el.dataset.testid || el.id || el.textContent, el.getBoundingClientRect()])
          .filter(([, r]) => r.width < 48 || r.height < 48).map(([n]) => n);
        const clipped = [...document.querySelectorAll('.visitor-name, .vc-name, .vc-status, .vc-check-text')]
          .filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.textContent);
        const out = {
          overflowX: document.documentElement.scrollWidth > window.innerWidth,
          overflowY: document.documentElement.scrollHeight > window.innerHeight,
          cardInView: inView(box('[data-testid=tap-result]')),
          alertsInView: band.hidden || inView(band.getBoundingClientRect()),
          doorInView: inView(box('[data-testid=door-panel]')),
          visitorsShown: !panelEl.hidden && inView(panel),
          // Nothing drawn over the strip (the console covers it in portrait only, with the notices).
          visitorsCovered: !panelEl.hidden && !panelEl.contains(document.elementFromPoint(
            panel.left + panel.width / 2, panel.top + panel.height / 2)),
          entriesWhole: entries.every((r) => within(r, panel)),
          entries: entries.length,
          small, clipped,
        };
        if (console) {
          // In view, or (a security console squeezed between an alert band and the visitors) scrolled to.
          document.querySelector('[data-testid=visitor-console]').scrollIntoView({ block: 'nearest' });
          const section = box('[data-testid=visitor-console]');
          out.sectionInView = inView(section) && within(section, box('[data-testid=leader-console]'));
        } else {
          // Several rows of tiles; under an alert band (which takes the top of the list's column) still two.
          const rows = band.hidden ? 4 : 2;
          const rem = parseFloat(getComputedStyle(document.documentElement).fontSize);
          out.rosterRoom = box('[data-testid=roster-list]').height >= rows * 2.9 * rem;
        }
        return out;
    }""", console)
    want = {"overflowX": False, "overflowY": False, "cardInView": True, "alertsInView": True, "doorInView": True,
            "visitorsShown": inside, "visitorsCovered": inside and console and page.viewport_size == PORTRAIT,
            "entriesWhole": True, "entries": 1 if inside else 0, "small": [], "clipped": []}
    want.update({"sectionInView": True} if console else {"rosterRoom": True})
    assert layout == want, name


@pytest.fixture
def visitor_server(kiosk_server: Callable[..., Any]) -> Callable[[], tuple[Any, Visits]]:
    """A kiosk server with sensors, the demo door, its reader door-main and the approvals of ``visits_prepared``."""
    def _make() -> tuple[Any, Visits]:
        visits = Visits()
        server = kiosk_server(sensors=True, env=VISITOR_ENV, prepare=visits_prepared(visits))
        return server, visits

    return _make


def test_a_leader_binds_a_card_the_visitor_enters_only_escorted_shows_inside_and_signs_out_at_the_kiosk(
        visitor_server, open_page, enter_pin):
    server, visits = visitor_server()
    leader = server.floor.leader
    escorted = visits.ids["escorted"]
    page = open_page(server.url)
    panel, card = tid(page, "visitors-panel"), tid(page, "tap-result")
    expect(panel).to_have_attribute("data-count", "0")
    expect(panel).to_be_hidden()  # nobody from outside is inside

    # (a) The duty leader taps at the kiosk, enters the PIN (the list names visitors: a badge alone only
    # acknowledges alerts), picks today's approval, checks the ID and binds a card.
    tap(server, leader.uid)
    section = tid(page, "visitor-console")
    expect(section).to_be_visible()
    expect(section).to_contain_text("访客登记")
    expect(section).to_contain_text("输入 PIN 后可查看今日访客并发放访客卡")
    expect(tid(page, f"visitor-approval-{escorted}")).to_have_count(0)
    tid(page, "visitor-pin-enter").click()
    enter_pin(page)
    approval = tid(page, f"visitor-approval-{escorted}")
    expect(approval).to_contain_text("谭明")
    expect(approval).to_contain_text("市数据局")
    expect(approval).to_contain_text("访问")
    expect(approval).to_contain_text("须陪同")
    expect(tid(page, f"visitor-approval-{visits.ids['unescorted']}")).to_contain_text("拍照")
    expect(tid(page, f"visitor-approval-{visits.ids['early']}")).to_have_count(0 if _tomorrow(2) else 1)
    approval.click()
    expect(tid(page, "visitor-check")).to_contain_text("请核对 谭明 的证件尾号：123X")
    tid(page, "visitor-bind").click()
    status = tid(page, "visitor-binding-status")
    expect(status).to_have_attribute("data-kind", "waiting")
    expect(status).to_contain_text("请在读卡器上刷访客卡")
    expect(tid(page, "visitor-binding-countdown")).to_have_text(re.compile(r"^谭明 · 还剩 (30|2\d) 秒$"))
    check_layout(page, "visitors-binding-landscape-1920x1080", console=True, inside=False)

    tap(server, CARD)  # the spare card, on the kiosk's reader

    expect(status).to_have_attribute("data-kind", "ok")
    expect(status).to_have_text("已绑定：谭明 的访客卡 …\u20602A01")
    expect(card).to_have_attribute("data-outcome", "visitor_bound")
    expect(tid(page, "tap-result-outcome")).to_have_text("访客卡已绑定")
    expect(tid(page, "tap-result-name")).to_have_text("谭明")
    expect(tid(page, "tap-result-reason")).to_contain_text("陪同人员先刷卡")
    expect(approval).to_contain_text("已发卡 …2A01")

    # (b) At the door (the demo panel's taps go to door-main now): escort required, nobody escorting yet →
    # refused, in words, with the visitor's name.
    tid(page, "sim-reader-door-main").click()
    expect(tid(page, "sim-reader-door-main")).to_have_attribute("aria-checked", "true")
    tid(page, "sim-visitor-1").click()

    expect(card).to_have_attribute("data-outcome", "door_visitor_needs_escort")
    expect(tid(page, "tap-result-outcome")).to_have_text("不能进入")
    expect(tid(page, "tap-result-name")).to_have_text("谭明")
    expect(tid(page, "tap-result-meta")).to_contain_text("话务区正门 · 访客")
    expect(tid(page, "tap-result-reason")).to_contain_text("访客须有人陪同")
    expect(panel).to_be_hidden()

    tid(page, f"sim-badge-{leader.uid}").click()  # the leader opens the door first ...
    expect(card).to_have_attribute("data-outcome", "door_granted")
    expect(tid(page, "tap-result-name")).to_have_text(leader.name)
    tid(page, "sim-visitor-1").click()  # ... and the visitor follows within 30 s

    expect(tid(page, "tap-result-name")).to_have_text("谭明")
    expect(card).to_have_attribute("data-outcome", "door_granted")
    expect(tid(page, "tap-result-outcome")).to_have_text("准许进入")
    expect(tid(page, "tap-result-reason")).to_have_text("访客 谭明 已获审批，准许进入；进门后随手关门（§2.2、§6.5）")
    entry = tid(page, f"visitor-{escorted}")
    expect(entry).to_be_visible()
    expect(panel).to_be_visible()
    expect(panel).to_have_attribute("data-count", "1")
    expect(tid(page, "visitors-count")).to_have_text("1 人")
    for words in ("谭明", "市数据局", "访问", f"接待 {visits.host_name}", "须陪同"):
        expect(entry).to_contain_text(words)
    expect(entry).to_contain_text(re.compile(rf"{HHMM} 进入"))
    expect(entry).to_contain_text(re.compile(rf"审批至 (.+ )?{HHMM}"))  # with its day when that is not today
    expect(entry).to_have_attribute("data-overstayed", "false")
    check_layout(page, "visitors-console-inside-landscape-1920x1080", console=True)
    page.set_viewport_size(PORTRAIT)
    check_layout(page, "visitors-console-inside-portrait-1080x1920", console=True)
    tid(page, "leader-end").click()
    expect(tid(page, "leader-console")).to_be_hidden()
    check_layout(page, "visitors-inside-portrait-1080x1920", console=False)
    page.set_viewport_size(LANDSCAPE)
    check_layout(page, "visitors-inside-landscape-1920x1080", console=False)

    # A reloaded screen gets the visitors inside from the snapshot.
    page.reload()
    page.locator("body.loaded").wait_for()
    expect(tid(page, f"visitor-{escorted}")).to_contain_text("谭明")
    tid(page, "lang-toggle").click()
    expect(page.locator("#visitors-title")).to_have_text("Visitors inside")
    expect(tid(page, f"visitor-{escorted}")).to_contain_text(f"Host {visits.host_name}")
    expect(tid(page, f"visitor-{escorted}")).to_contain_text("Visit")
    expect(tid(page, f"visitor-{escorted}")).to_contain_text(re.compile(rf"approved until (.+ )?{HHMM}"))
    check_layout(page, "visitors-inside-english-landscape-1920x1080", console=False)
    tid(page, "lang-toggle").click()

    # (d) On the way out, the visitor's card on the kiosk's reader signs them out.
    tid(page, "sim-reader-kiosk").click()
    tid(page, "sim-visitor-1").click()

    expect(card).to_have_attribute("data-outcome", "visitor_signed_out")
    expect(tid(page, "tap-result-outcome")).to_have_text("访客已签退")
    expect(tid(page, "tap-result-reason")).to_have_text("访客 谭明 已签退，请收回访客卡")
    expect(tid(page, f"visitor-{escorted}")).to_have_count(0)
    expect(panel).to_have_attribute("data-count", "0")
    expect(panel).to_be_hidden()


def test_a_card_tapped_at_the_door_outside_its_approved_window_is_refused_and_the_alarm_names_the_visitor(
        visitor_server, open_page, enter_pin):
    server, visits = visitor_server()
    page = open_page(server.url)
    takeover = tid(page, "alert-takeover")
    expect(takeover).to_be_hidden()

    tap(server, EARLY_CARD, reader="door-main")  # the visit starts in two hours

    card = tid(page, "tap-result")
    expect(card).to_have_attribute("data-outcome", "door_visitor_outside_window")
    expect(tid(page, "tap-result-outcome")).to_have_text("不能进入")
    expect(tid(page, "tap-result-name")).to_have_text("韩雪")
    expect(tid(page, "tap-result-reason")).to_have_text(re.compile(
        rf"^访客审批时间为 (\S+ )?{HHMM}–(\S+ )?{HHMM}，现在不能进入（§2.2）；已通知值班班长$"))
    item = page.locator('[data-testid="alert-item"][data-kind="visitor_outside_window"]')
    expect(takeover).to_be_visible()
    expect(takeover).to_have_attribute("data-severity", "alarm")
    expect(item.get_by_test_id("alert-kind")).to_have_text("访客不在审批时间内")
    expect(item.get_by_test_id("alert-where")).to_have_text("韩雪")
    expect(item.get_by_test_id("alert-rule")).to_have_text("§2.2")
    expect(item.get_by_test_id("alert-detail")).to_contain_text("省广播电视台")
    expect(tid(page, "visitors-panel")).to_be_hidden()  # refused: not inside
    check_layout(page, "visitors-outside-window-landscape-1920x1080", console=False, inside=False)

    # Meanwhile a visitor who needs no escort comes in: the alert band and the visitors inside, both in view.
    tap(server, WALK_IN_CARD, reader="door-main")

    expect(card).to_have_attribute("data-outcome", "door_granted")
    expect(tid(page, "tap-result-name")).to_have_text("林舒")
    entry = tid(page, f"visitor-{visits.ids['unescorted']}")
    expect(entry).to_contain_text("林舒")
    expect(entry).to_contain_text("拍照")
    expect(entry).not_to_contain_text("须陪同")
    expect(takeover).to_be_visible()
    check_layout(page, "visitors-alert-inside-landscape-1920x1080", console=False)
    page.set_viewport_size(PORTRAIT)
    check_layout(page, "visitors-alert-inside-portrait-1080x1920", console=False)
    page.set_viewport_size(LANDSCAPE)
    tid(page, "lang-toggle").click()
    expect(tid(page, "tap-result-reason")).to_have_text(
        "Visitor 林舒 is approved: come in, and close the door behind you (§2.2, §6.5)")
    expect(item.get_by_test_id("alert-kind")).to_have_text("Visitor outside the approved time")
    expect(entry).to_contain_text("Photograph")

    # Security may hand out visitor cards too: their console has no roll call actions, only this section.
    tap(server, badge_of_role(server, "security"))
    expect(tid(page, "leader-console")).to_have_attribute("data-role", "security")
    expect(tid(page, "leader-rollcall-actions")).to_be_hidden()
    expect(tid(page, "visitor-console")).to_contain_text("Visitor card")
    expect(tid(page, "visitor-console")).to_contain_text("Enter your PIN to see today's visitors")
    tid(page, "visitor-pin-enter").click()
    enter_pin(page)
    expect(tid(page, f"visitor-approval-{visits.ids['escorted']}")).to_contain_text("Escort")
    expect(tid(page, f"visitor-approval-{visits.ids['unescorted']}")).to_contain_text("Inside")
    check_layout(page, "visitors-security-console-english-landscape-1920x1080", console=True)


def _tomorrow(hours: int) -> bool:
    """Whether now + ``hours`` is another local day in the floor's zone (today's list leaves such visits out)."""
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    return (now + timedelta(hours=hours)).date() != now.date()
