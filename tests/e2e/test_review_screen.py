"""The entry log review at a desk (§2.4, §6.7), in a real browser against `kiosk serve`.

Done when: a security user logs in, finds who entered after 22:00 last Tuesday, sees the door opening
matched with its grant, exports it, and proves with `kiosk log verify --export` that nothing was altered;
a leader cannot reach those screens. The server runs over plain HTTP on localhost, so the test sets
KIOSK_COOKIE_SECURE=false; everything else is the production path, Content-Security-Policy included.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from kiosk.config import load_config
from kiosk.services import doors, users
from kiosk.services.context import ServiceContext
from kiosk.store import eventlog
from kiosk.store.db import make_engine, make_sessionmaker
from kiosk.store.models import Staff

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")
PASSWORD = "review-desk-passphrase"
ENV = {"KIOSK_COOKIE_SECURE": "false"}


def last_tuesday(today: date) -> date:
    """The most recent Tuesday strictly before today."""
    back = (today.weekday() - 1) % 7 or 7
    return today - timedelta(days=back)


TUESDAY = last_tuesday(datetime.now(TZ).date())


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime.combine(TUESDAY, time(hh, mm, ss), TZ).astimezone(timezone.utc)


def prepare(instance: Path, floor: Any) -> None:
    """A security login and a leader login, the main door, and last Tuesday evening in the entry log."""
    cfg = load_config(instance, environ={})
    engine = make_engine(cfg["DATABASE_URL"])
    try:
        ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
        with engine.connect() as conn:
            staff = conn.execute(select(Staff.employee_no, Staff.name, Staff.role).where(Staff.active.is_(True))
                                 .order_by(Staff.employee_no)).all()
        security = next(s for s in staff if s.role == "security")
        leader = next(s for s in staff if s.role == "leader")
        entered = floor.operators[0]
        users.add_user(ctx, "sec", security.employee_no, PASSWORD)
        users.add_user(ctx, "lead", leader.employee_no, PASSWORD)
        doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main",
                                  "exit_point": "exit:main", "readers": ["door-main"]}])
        with engine.begin() as conn:
            def log(when: datetime, kind: str, **kw: Any) -> None:
                eventlog.log_event(conn, at=when, kind=kind, **kw)

            log(at(21, 30), "door_tap", actor="reader:door-main", subject=floor.leader.uid, outcome="granted",
                rule="§6.6", data={"door": "main", "employee_no": leader.employee_no, "role": "leader"})
            log(at(22, 41, 5), "door_tap", actor="reader:door-main", subject=entered.uid, outcome="granted",
                rule="§6.6", reason="on duty", data={"door": "main", "employee_no": entered.employee_no,
                                                     "role": "operator"})
            log(at(22, 41, 8), "door_opened", actor="door:main", subject="main",
                reason=f"Door main opened after badge ({entered.employee_no}).", rule="§6.5")
            log(at(22, 41, 14), "door_closed", actor="door:main", subject="main",
                reason="Door main closed after 6 s open.", rule="§6.5")
        eventlog.seal(engine)
    finally:
        engine.dispose()
    (instance / "e2e-names.txt").write_text(f"{entered.employee_no} {entered.name}\n")


@pytest.fixture
def desk(browser: Any, kiosk_server: Any, tmp_path: Path) -> Iterator[tuple[Any, Any, list[str]]]:
    """A server with the review data and a browser context that accepts downloads; CSP reports collected."""
    server = kiosk_server(env=ENV, prepare=prepare)
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN", accept_downloads=True)
    problems: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"{msg.text} ({msg.location.get('url')})")
            if msg.type == "error" and not str(msg.location.get("url", "")).endswith("/favicon.ico") else None)
    yield server, page, problems
    context.close()


def log_in(page: Any, server: Any, username: str, target: str = "/review/") -> None:
    page.goto(server.url + target)
    expect(page.get_by_test_id("login-form")).to_be_visible()
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()


def test_security_finds_who_entered_after_22_last_tuesday_and_exports_a_verifiable_file(desk, tmp_path):
    server, page, problems = desk
    employee_no, name = (server.instance / "e2e-names.txt").read_text().split()
    log_in(page, server, "sec")
    expect(page.get_by_test_id("search-form")).to_be_visible()

    page.get_by_test_id("f-from").fill(f"{TUESDAY.isoformat()} 22:00")
    page.get_by_test_id("f-to").fill(TUESDAY.isoformat())
    page.get_by_test_id("f-kind").fill("door_tap")
    page.get_by_test_id("f-outcome").fill("granted")
    page.get_by_test_id("f-apply").click()
    rows = page.get_by_test_id("result-row")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_test_id("result-who")).to_have_text(f"{name} ({employee_no})")

    rows.first.get_by_test_id("event-link").click()
    expect(page.get_by_test_id("event-chain")).to_have_attribute("data-state", "verified")
    expect(page.get_by_test_id("event-kind")).to_have_text("door_tap")
    page.go_back()

    page.goto(server.url + f"/review/door/main?from={TUESDAY.isoformat()}+22:00&to={TUESDAY.isoformat()}")
    opening = page.get_by_test_id("door-opening")
    expect(opening).to_have_count(1)
    expect(opening).to_have_attribute("data-how", "granted")
    expect(opening.get_by_test_id("opening-grant")).to_contain_text(employee_no)
    page.go_back()

    with page.expect_download() as info:
        page.get_by_test_id("export-csv").click()
    download = info.value
    expect(page.get_by_test_id("export-status")).to_have_attribute("data-state", "done", timeout=15_000)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    body = saved.read_text(encoding="utf-8-sig")
    assert body.count("\n") == 1 + 1 + 2 and employee_no in body and "#signature" in body

    verified = subprocess.run([sys.executable, "-m", "kiosk.cli", "--instance", str(server.instance), "log", "verify",
                               "--export", str(saved)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK: the export is intact" in verified.stdout and "signature: valid" in verified.stdout
    whole = subprocess.run([sys.executable, "-m", "kiosk.cli", "--instance", str(server.instance), "log", "verify"],
                           cwd=REPO, capture_output=True, text=True, timeout=60)
    assert whole.returncode == 0 and "OK: the event log is intact" in whole.stdout
    assert not problems, problems  # no script error, no Content-Security-Policy violation


def test_a_leader_logs_in_but_cannot_reach_the_review_screens(desk):
    server, page, problems = desk
    log_in(page, server, "lead")
    expect(page.get_by_test_id("refused")).to_have_attribute("data-code", "not_permitted")
    page.goto(server.url + "/review/summary")
    expect(page.get_by_test_id("refused")).to_be_visible()
    assert not [p for p in problems if "Content Security Policy" in p]


def test_the_kiosk_screen_runs_under_the_content_security_policy(desk):
    server, page, problems = desk
    # A paired screen (only paired screens and desk logins get the board's live connection).
    page.context.add_cookies([{"name": "kiosk_screen", "value": server.screen_token, "url": server.url}])
    response = page.goto(server.url + "/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.locator("body.loaded").wait_for()
    assert not problems, problems
