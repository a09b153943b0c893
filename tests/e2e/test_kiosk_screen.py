"""The roll call kiosk in a real browser against a real `kiosk serve`: taps, refusals, reconnects, leader console."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PORTRAIT = {"width": 1080, "height": 1920}
UNKNOWN_UID = "DEADBEEF0001"  # on the demo panel as 未知卡片; no badge has it

SCREENSHOTS = Path("/tmp/kiosk-screens")


def tid(page, testid: str):
    return page.get_by_test_id(testid)


def expect_counts(page, **counts: int) -> None:
    for name, value in counts.items():
        expect(tid(page, f"count-{name}")).to_have_text(str(value))


def test_an_operator_taps_on_the_demo_panel_and_the_screen_answers_with_name_seat_and_到(server, open_page):
    page = open_page(server.url)
    who = server.floor.on_panel[0]
    expected = len(server.floor.operators) + 1
    expect_counts(page, expected=expected, present=0, pending=expected)
    expect(tid(page, "shift-name")).to_contain_text(f"（{server.floor.shift_code}）")
    expect(tid(page, "reader-status")).to_have_attribute("data-state", "connected")

    tid(page, f"sim-badge-{who.uid}").click()

    expect(tid(page, "tap-result-name")).to_have_text(who.name)
    expect(tid(page, "tap-result-outcome")).to_have_text("到")
    expect(tid(page, "tap-result")).to_have_attribute("data-state", "accepted")
    expect(tid(page, "tap-result-meta")).to_contain_text(f"工号 {who.employee_no}")
    expect(tid(page, "tap-result-meta")).to_contain_text(f"坐席 {who.seat}")
    expect(tid(page, f"row-{who.employee_no}")).to_have_attribute("data-status", "present")
    expect_counts(page, present=1, pending=expected - 1)


def test_a_tap_posted_to_the_sim_api_shows_on_the_open_screen(server, open_page):
    page = open_page(server.url)
    who = server.floor.operators[-1]
    expected = len(server.floor.operators) + 1

    assert server.tap(who.uid)["ok"] is True

    expect(tid(page, "tap-result-name")).to_have_text(who.name)
    expect(tid(page, "tap-result-outcome")).to_have_text("到")
    expect(tid(page, f"row-{who.employee_no}")).to_have_attribute("data-status", "present")
    expect_counts(page, present=1, pending=expected - 1)


def test_an_unknown_badge_typed_into_the_demo_panel_is_refused_with_the_reason(server, open_page):
    page = open_page(server.url)

    tid(page, "sim-uid-input").fill(UNKNOWN_UID)
    tid(page, "sim-tap-button").click()

    expect(tid(page, "tap-result")).to_have_attribute("data-state", "refused")
    expect(tid(page, "tap-result-outcome")).to_have_text("未签到")
    expect(tid(page, "tap-result-reason")).to_have_text("这张卡没有登记，请联系值班班长")
    expect_counts(page, present=0)


def test_a_lost_badge_is_refused_with_the_reason(server, open_page):
    page = open_page(server.url)
    lost = server.floor.lost

    tid(page, f"sim-badge-{lost.uid}").click()

    expect(tid(page, "tap-result")).to_have_attribute("data-state", "refused")
    expect(tid(page, "tap-result-name")).to_have_text(lost.name)
    expect(tid(page, "tap-result-reason")).to_contain_text("此工牌已挂失")


def test_other_refusals_say_why_in_words(kiosk_server, open_page):
    # No repeat filter, so a second tap of the same badge reaches roll call as a duplicate.
    server = kiosk_server(env={"KIOSK_NFC_DEBOUNCE_SECONDS": "0"})
    page = open_page(server.url)
    floor = server.floor
    who = floor.on_panel[1]

    server.tap(who.uid)
    expect(tid(page, "tap-result-outcome")).to_have_text("到")
    server.tap(who.uid)
    expect(tid(page, "tap-result-reason")).to_have_text("已签到，无需重复刷卡")
    expect(tid(page, "tap-result")).to_have_attribute("data-state", "info")

    server.tap(floor.other_shift.uid)
    expect(tid(page, "tap-result-name")).to_have_text(floor.other_shift.name)
    expect(tid(page, "tap-result-reason")).to_contain_text("您今天排在中班")

    server.tap(floor.left.uid)
    expect(tid(page, "tap-result-reason")).to_contain_text("已离职")
    expect(tid(page, "tap-result")).to_have_attribute("data-state", "refused")
    expect_counts(page, present=1)


def test_after_a_reload_a_present_row_stays_present(server, open_page):
    page = open_page(server.url)
    who = server.floor.on_panel[0]
    tid(page, f"sim-badge-{who.uid}").click()
    expect(tid(page, f"row-{who.employee_no}")).to_have_attribute("data-status", "present")

    page.reload()

    expect(tid(page, f"row-{who.employee_no}")).to_have_attribute("data-status", "present")
    expect_counts(page, present=1)
    expect(tid(page, "tap-result")).to_have_attribute("data-state", "idle")


def test_the_english_toggle_switches_labels_and_is_remembered_on_this_screen(server, open_page):
    page = open_page(server.url)
    who = server.floor.on_panel[0]
    expect(page.locator(".count-present .count-label")).to_have_text("已到")

    tid(page, "lang-toggle").click()

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".count-present .count-label")).to_have_text("Present")
    expect(tid(page, "lang-toggle")).to_have_text("中文")
    expect(tid(page, "tap-result-outcome")).to_have_text("Tap your badge")
    expect(tid(page, "sim-tap-button")).to_have_text("Tap")
    tid(page, f"sim-badge-{UNKNOWN_UID}").click()
    expect(tid(page, "tap-result-reason")).to_have_text("This badge is not registered — please see the duty leader")
    expect(tid(page, f"row-{who.employee_no}")).to_contain_text("Not yet")

    page.reload()

    expect(page.locator(".count-present .count-label")).to_have_text("Present")
    tid(page, "lang-toggle").click()
    expect(page.locator(".count-present .count-label")).to_have_text("已到")


def test_every_word_on_the_screen_exists_in_both_languages(server, open_page):
    page = open_page(server.url)
    missing = page.evaluate("""async () => {
        const { DICT } = await import('/static/js/i18n.js');
        const zh = Object.keys(DICT['zh-CN']), en = Object.keys(DICT.en);
        const used = [...document.querySelectorAll('[data-i18n], [data-i18n-placeholder]')]
          .map((el) => el.dataset.i18n || el.dataset.i18nPlaceholder);
        return {
          onlyZh: zh.filter((k) => !en.includes(k)),
          onlyEn: en.filter((k) => !zh.includes(k)),
          undefinedInPage: used.filter((k) => !zh.includes(k) || !en.includes(k)),
        };
    }""")
    assert missing == {"onlyZh": [], "onlyEn": [], "undefinedInPage": []}


def test_when_no_roll_call_is_open_the_screen_says_when_the_next_one_opens(kiosk_server, open_page):
    server = kiosk_server(shift_starts_in=timedelta(minutes=75))  # roll call opens 30 min before the start
    page = open_page(server.url)
    who = server.floor.on_panel[0]
    status = tid(page, "window-status")
    expect(status).to_be_visible()
    expect(status).to_contain_text(re.compile(r"当前没有进行中的点名 — 下次点名 \d\d:\d\d 开始"))
    expect(tid(page, "countdown")).to_contain_text("距点名开始")

    server.tap(who.uid)

    expect(tid(page, "tap-result")).to_have_attribute("data-state", "refused")
    expect(tid(page, "tap-result-reason")).to_contain_text(re.compile(r"现在不是点名时间，下次点名 \d\d:\d\d 开始"))
    expect(tid(page, f"row-{who.employee_no}")).to_have_attribute("data-status", "pending")


def test_the_banner_shows_when_the_server_dies_and_a_restart_restores_the_board(kiosk_server, open_page):
    server = kiosk_server()
    page = open_page(server.url)
    first, second = server.floor.on_panel[0], server.floor.on_panel[1]
    banner = tid(page, "connection-status")
    expect(banner).to_be_hidden()
    server.tap(first.uid)
    expect(tid(page, f"row-{first.employee_no}")).to_have_attribute("data-status", "present")

    server.stop(crash=True)

    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("data-state", "disconnected")
    expect(banner).to_contain_text("连接已断开")

    server.start()  # same port, same instance

    expect(banner).to_be_hidden(timeout=15_000)
    expect(tid(page, f"row-{first.employee_no}")).to_have_attribute("data-status", "present")
    expect_counts(page, present=1)
    server.tap(second.uid)
    expect(tid(page, "tap-result-name")).to_have_text(second.name)
    expect_counts(page, present=2)


def test_a_leader_tap_opens_the_console_where_a_forgotten_badge_is_marked_present_by_hand(server, open_page,
                                                                                          enter_pin):
    page = open_page(server.url)
    floor = server.floor
    forgot = next(o for o in floor.operators if o not in floor.on_panel)
    console = tid(page, "leader-console")
    expect(console).to_be_hidden()

    tid(page, f"sim-badge-{floor.leader.uid}").click()

    expect(console).to_be_visible()
    expect(console).to_contain_text(floor.leader.name)
    expect(tid(page, "leader-idle")).to_contain_text(re.compile(r"\d+ 秒"))
    expect(tid(page, f"row-{floor.leader.employee_no}")).to_have_attribute("data-status", "present")
    expect(tid(page, "leader-pin-state")).to_have_attribute("data-verified", "false")
    expect(tid(page, "leader-pin-state")).to_contain_text("仅刷卡：可确认告警")

    # The badge alone acknowledges alerts; the daily question needs the PIN: the pad comes up, then the
    # question is asked. A refusal from the server is shown in words: nobody but the leader is present yet.
    tid(page, "leader-pick-question").click()
    enter_pin(page)
    expect(tid(page, "leader-pin-state")).to_have_attribute("data-verified", "true")
    expect(tid(page, "leader-pin-state")).to_contain_text("已验证 PIN")
    expect(tid(page, "leader-message")).to_have_text("还没有人签到，无法抽问")
    expect(tid(page, "leader-message")).to_have_attribute("data-kind", "error")

    tid(page, f"leader-pick-{forgot.employee_no}").click()
    expect(tid(page, "mark-person")).to_contain_text(forgot.name)
    tid(page, "mark-forgot").click()
    tid(page, "mark-confirm").click()

    row = tid(page, f"row-{forgot.employee_no}")
    expect(row).to_have_attribute("data-status", "present")
    expect(row).to_have_attribute("data-manual", "true")
    expect(tid(page, f"row-{forgot.employee_no}-manual")).to_have_text("班长登记")
    expect(tid(page, "leader-message")).to_contain_text(forgot.name)
    expect(tid(page, f"leader-pick-{forgot.employee_no}")).to_have_count(0)
    expect_counts(page, present=2)

    # §3.5: with an operator present, the daily question can be asked and its answer recorded.
    tid(page, "leader-pick-question").click()
    expect(tid(page, "daily-question")).to_contain_text(forgot.name)
    tid(page, "answer-well").click()
    expect(tid(page, "daily-question")).to_contain_text("回答：好")

    tid(page, "leader-end").click()
    expect(console).to_be_hidden()


def test_the_leader_closes_roll_call_and_the_absentees_are_listed(server, open_page, enter_pin):
    page = open_page(server.url)
    floor = server.floor
    tapped, sick = floor.on_panel[0], floor.operators[-1]
    tid(page, f"sim-badge-{tapped.uid}").click()
    expect(tid(page, f"row-{tapped.employee_no}")).to_have_attribute("data-status", "present")
    tid(page, f"sim-badge-{floor.leader.uid}").click()
    expect(tid(page, "leader-console")).to_be_visible()

    tid(page, f"leader-pick-{sick.employee_no}").click()
    tid(page, "mark-sick").click()
    tid(page, "mark-confirm").click()
    enter_pin(page)  # the first action beyond an alert: badge + PIN
    expect(tid(page, f"row-{sick.employee_no}")).to_have_attribute("data-status", "excused")

    close = tid(page, "leader-close-rollcall")
    close.click()
    expect(close).to_have_text("再点一次确认结束点名")
    close.click()

    absentees = tid(page, "absentee-list")
    expect(absentees).to_be_visible()
    expected = len(floor.operators) + 1
    absent = expected - 3  # everyone but the leader, the tapped operator and the excused one
    expect_counts(page, absent=absent, pending=0, excused=1, present=2)
    absentee = next(o for o in floor.operators if o not in (tapped, sick))
    expect(absentees).to_contain_text(absentee.name)
    expect(absentees.locator(".absentee")).to_have_count(absent)
    expect(absentees).not_to_contain_text(sick.name)
    expect(tid(page, f"row-{absentee.employee_no}")).to_have_attribute("data-status", "absent")
    expect(tid(page, "leader-message")).to_have_text(f"点名已结束，缺勤 {absent} 人")

    # A badge tapped after the close is told so.
    tid(page, f"sim-badge-{floor.on_panel[1].uid}").click()
    expect(tid(page, "tap-result-reason")).to_have_text("本班点名已结束，请联系值班班长登记")


def test_the_pin_pad_shows_dots_refuses_a_wrong_pin_with_the_tries_left_then_takes_the_right_one(
        server, open_page, enter_pin):
    page = open_page(server.url)
    leader = server.floor.leader
    server.tap(leader.uid)
    expect(tid(page, "leader-console")).to_be_visible()
    pad = tid(page, "pin-pad")
    expect(pad).to_be_hidden()  # a badge alone opens the console; the pad waits until it is needed

    tid(page, "leader-pin-enter").click()
    expect(pad).to_be_visible()
    expect(tid(page, "pin-title")).to_have_text("请输入 PIN")
    expect(tid(page, "pin-who")).to_have_text(f"{leader.name}（工号 {leader.employee_no}）")
    expect(tid(page, "pin-demo-hint")).to_have_text("演示 PIN：2580")  # a demo screen only
    expect(tid(page, "pin-ok")).to_be_disabled()  # fewer than 4 digits

    # Digits show as dots, never as digits; 清除 starts again.
    for digit in "97":
        tid(page, f"pin-key-{digit}").click()
    dots = tid(page, "pin-dots")
    expect(dots).to_have_attribute("data-count", "2")
    expect(dots).to_have_text("")
    expect(dots.locator(".pin-dot.filled")).to_have_count(2)
    tid(page, "pin-clear").click()
    expect(dots).to_have_attribute("data-count", "0")

    enter_pin(page, "1357", closes=False)
    message = tid(page, "pin-message")
    expect(message).to_have_text("PIN 不正确，还可尝试 4 次")
    expect(message).to_have_attribute("data-kind", "error")
    expect(dots).to_have_attribute("data-count", "0")  # the wrong PIN is gone from the page
    expect(pad).not_to_contain_text("1357")
    layout = page.evaluate("""() => [...document.querySelectorAll('[data-testid=pin-pad] button')]
        .map((b) => b.getBoundingClientRect()).every((r) => r.width >= 56 && r.height >= 56)""")
    assert layout, "every key of the PIN pad is a big touch target"
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "pin-pad-wrong-landscape-1920x1080.png"))

    tid(page, "pin-lang").click()  # the pad covers the screen's language button: it has its own
    expect(tid(page, "pin-title")).to_have_text("Enter your PIN")
    expect(message).to_have_text("Wrong PIN: 4 tries left")
    expect(tid(page, "pin-ok")).to_have_text("OK")
    tid(page, "pin-lang").click()
    expect(tid(page, "pin-clear")).to_have_text("清除")

    enter_pin(page)  # the right one: the pad closes, the console says so
    expect(tid(page, "leader-pin-state")).to_have_attribute("data-verified", "true")
    expect(tid(page, "leader-pin-enter")).to_be_hidden()
    # Verified, the console's actions go straight through: no pad.
    close = tid(page, "leader-close-rollcall")
    close.click()
    close.click()
    expect(tid(page, "absentee-list")).to_be_visible()
    expect(pad).to_be_hidden()


def test_after_shift_start_an_operator_is_late_and_the_leader_is_told_to_come_10_minutes_early(kiosk_server, open_page):
    server = kiosk_server(shift_starts_in=timedelta(minutes=-2))
    page = open_page(server.url)
    who = server.floor.on_panel[0]
    expect(tid(page, "countdown")).to_contain_text("已开班")

    server.tap(who.uid)
    expect(tid(page, "tap-result")).to_have_attribute("data-state", "late")
    expect(tid(page, "tap-result-outcome")).to_have_text("到 · 迟到")
    expect(tid(page, f"row-{who.employee_no}")).to_have_attribute("data-status", "late")
    expect_counts(page, late=1, present=0)

    server.tap(server.floor.leader.uid)
    expect(tid(page, "tap-result-reason")).to_contain_text("值班班长应至少在开班前 10 分钟刷卡")
    expect(tid(page, f"row-{server.floor.leader.employee_no}")).to_have_attribute("data-leader-late", "true")


def test_a_keyboard_wedge_reader_typing_a_uid_and_enter_taps_the_badge(kiosk_server, open_page):
    server = kiosk_server(nfc_device="wedge")
    page = open_page(server.url)
    who = server.floor.operators[0]
    expect(tid(page, "sim-panel")).to_have_count(0)

    page.keyboard.type(who.uid + "\n")  # a wedge types a whole UID and Enter in a few milliseconds

    expect(tid(page, "tap-result-name")).to_have_text(who.name)
    expect(tid(page, f"row-{who.employee_no}")).to_have_attribute("data-status", "present")


def test_the_board_fits_landscape_and_portrait_with_big_touch_targets_and_chinese_glyphs(server, open_page):
    page = open_page(server.url)
    floor = server.floor
    for person in floor.on_panel[:3]:
        server.tap(person.uid)
    expect_counts(page, present=3)
    server.tap(floor.on_panel[3].uid)
    expect(tid(page, "tap-result-name")).to_have_text(floor.on_panel[3].name)
    SCREENSHOTS.mkdir(exist_ok=True)

    for name, viewport in (("landscape-1920x1080", None), ("portrait-1080x1920", PORTRAIT)):
        if viewport:
            page.set_viewport_size(viewport)
        layout = page.evaluate("""() => {
            const small = [...document.querySelectorAll('button, input')]
              .filter((el) => el.offsetParent !== null)
              .map((el) => [el.dataset.testid || el.id || el.textContent, el.getBoundingClientRect()])
              .filter(([, r]) => r.width < 48 || r.height < 48).map(([n]) => n);
            const card = document.querySelector('[data-testid=tap-result]').getBoundingClientRect();
            return {
              overflowX: document.documentElement.scrollWidth > window.innerWidth,
              overflowY: document.documentElement.scrollHeight > window.innerHeight,
              small,
              cardInView: card.top >= 0 && card.bottom <= window.innerHeight && card.height > 200,
              cjk: document.fonts.check('48px "Noto Sans CJK SC"', '点名到'),
            };
        }""")
        assert layout == {"overflowX": False, "overflowY": False, "small": [], "cardInView": True, "cjk": True}, name
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
