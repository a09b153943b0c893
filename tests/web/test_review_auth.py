"""Desk login and permissions for the entry log review (§2.4): who gets in, who is refused, and the log of both."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from floorfixtures import build_floor
from kiosk.domain.permissions import ROLE_PERMISSIONS
from kiosk.services import doors, users
from kiosk.store.models import Event, Staff, User
from kiosk.web import create_app
from kiosk.web.auth import CSP

events = Event.__table__
PASSWORD = "correct horse battery"
# role -> (username, employee_no): build_floor has 20001 leader, 20002 operator, 20008 supervisor.
LOGINS = {"operator": ("op", "20002"), "leader": ("lead", "20001"), "supervisor": ("sup", "20008"),
          "security": ("sec", "30001"), "admin": ("adm", "30002"), "management": ("mgmt", "30003")}


@pytest.fixture
def app(ctx, instance):
    build_floor(ctx)
    with ctx.engine.begin() as conn:
        conn.execute(insert(Staff.__table__), [
            {"employee_no": "30001", "name": "保卫甲", "role": "security", "active": True},
            {"employee_no": "30002", "name": "管理员", "role": "admin", "active": True},
            {"employee_no": "30003", "name": "孙科长", "role": "management", "active": True}])
    doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main",
                              "readers": ["door-main"]}])
    return create_app({"NFC_DEVICE": "none", "COOKIE_SECURE": False}, instance=str(instance), ctx=ctx)


def add(ctx, role: str) -> str:
    username, employee_no = LOGINS[role]
    users.add_user(ctx, username, employee_no, PASSWORD)
    return username


def token(client, path: str = "/login") -> str:
    """The form token of the client's session, from a page's form."""
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def login(client, username: str, password: str = PASSWORD, next_: str = "") -> Any:
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token(client),
                                       "next": next_})


def logged(ctx, kind: str) -> list[Any]:
    with ctx.engine.connect() as conn:
        return conn.execute(select(events).where(events.c.kind == kind).order_by(events.c.id)).all()


def one_event_id(ctx) -> int:
    with ctx.engine.connect() as conn:
        return conn.execute(select(events.c.id).order_by(events.c.id).limit(1)).scalar_one()


# --- logging in --------------------------------------------------------------------------------------------

def test_a_security_user_logs_in_and_lands_on_the_search(app, ctx):
    add(ctx, "security")
    client = app.test_client()
    resp = login(client, "sec")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/review/")
    page = client.get("/review/")
    assert page.status_code == 200 and "保卫甲 (30001, security)" in page.text
    row = logged(ctx, "login_succeeded")[-1]
    assert (row.actor, row.subject, row.outcome, row.rule) == ("30001", "sec", "security", "§2.4")


def test_the_password_is_stored_as_a_salted_scrypt_hash_never_as_text(app, ctx):
    add(ctx, "security")
    users.add_user(ctx, "sec2", "30001", PASSWORD)
    with ctx.engine.connect() as conn:
        hashes = [h for (h,) in conn.execute(select(User.__table__.c.password_hash))]
    assert all(h.startswith("scrypt$n=32768,r=8,p=1$") and PASSWORD not in h for h in hashes)
    assert hashes[0] != hashes[1]  # a salt of its own each
    assert users.check_password(PASSWORD, hashes[0]) and not users.check_password("wrong", hashes[0])


def test_a_wrong_password_is_refused_with_a_message_and_logged(app, ctx):
    add(ctx, "security")
    resp = login(app.test_client(), "sec", "not the password")
    assert resp.status_code == 401 and "Wrong username or password." in resp.text
    row = logged(ctx, "login_refused")[-1]
    assert (row.subject, row.outcome) == ("sec", "bad_credentials")
    assert "not the password" not in row.data


def test_an_unknown_username_gets_the_same_answer_as_a_wrong_password(app, ctx):
    resp = login(app.test_client(), "nobody", PASSWORD)
    assert resp.status_code == 401 and "Wrong username or password." in resp.text
    assert logged(ctx, "login_refused")[-1].outcome == "bad_credentials"


def test_five_wrong_passwords_lock_the_login_for_fifteen_minutes_even_for_the_right_password(app, ctx, clock):
    add(ctx, "security")
    client = app.test_client()
    for _ in range(4):
        assert login(client, "sec", "guess").status_code == 401
    fifth = login(client, "sec", "guess")
    assert fifth.status_code == 403 and "locked for 15 minutes" in fifth.text
    right = login(client, "sec")
    assert right.status_code == 403 and "locked" in right.text
    assert [r.outcome for r in logged(ctx, "login_refused")][-2:] == ["locked_now", "locked"]
    clock.set(clock.now + timedelta(minutes=14, seconds=59))
    assert login(client, "sec").status_code == 403
    clock.set(clock.now + timedelta(seconds=1))
    assert login(client, "sec").status_code == 302


def test_a_successful_login_clears_the_count_of_wrong_passwords(app, ctx):
    add(ctx, "security")
    client = app.test_client()
    for _ in range(4):
        login(client, "sec", "guess")
    assert login(client, "sec").status_code == 302
    for _ in range(4):
        assert login(app.test_client(), "sec", "guess").status_code == 401  # four more: still not locked


def test_a_person_who_has_left_cannot_log_in_and_their_open_session_ends(app, ctx):
    add(ctx, "security")
    client = app.test_client()
    login(client, "sec")
    with ctx.engine.begin() as conn:
        conn.execute(update(Staff.__table__).where(Staff.__table__.c.employee_no == "30001").values(active=False))
    assert client.get("/review/").status_code == 302
    assert logged(ctx, "session_expired")[-1].outcome == "left"
    resp = login(app.test_client(), "sec")
    assert resp.status_code == 403 and "left" in resp.text
    assert logged(ctx, "login_refused")[-1].outcome == "staff_left"


def test_no_login_can_be_made_for_someone_who_has_left(app, ctx):
    with pytest.raises(users.ServiceError, match="has left"):
        users.add_user(ctx, "gone", "20006", PASSWORD)  # build_floor: 20006 has left


# --- the session -------------------------------------------------------------------------------------------

def test_a_session_unused_for_thirty_minutes_ends_and_is_logged(app, ctx, clock):
    add(ctx, "security")
    client = app.test_client()
    login(client, "sec")
    clock.set(clock.now + timedelta(minutes=29))
    assert client.get("/review/").status_code == 200  # used: the idle time starts again
    clock.set(clock.now + timedelta(minutes=30))
    resp = client.get("/review/?kind=door_tap")
    assert resp.status_code == 302 and "why=idle" in resp.headers["Location"]
    assert "next=%2Freview%2F%3Fkind%3Ddoor_tap" in resp.headers["Location"]
    row = logged(ctx, "session_expired")[-1]
    assert (row.actor, row.outcome) == ("30001", "idle")
    page = client.get(resp.headers["Location"])
    assert "expired after 30 minutes without use" in page.text
    assert client.get("/review/").status_code == 302  # and stays ended


def test_the_idle_timeout_is_configurable(ctx, instance, clock):
    build_floor(ctx)
    with ctx.engine.begin() as conn:
        conn.execute(insert(Staff.__table__).values(employee_no="30001", name="保卫甲", role="security", active=True))
    users.add_user(ctx, "sec", "30001", PASSWORD)
    app = create_app({"NFC_DEVICE": "none", "COOKIE_SECURE": False, "SESSION_IDLE_MINUTES": 5},
                     instance=str(instance), ctx=ctx)
    client = app.test_client()
    login(client, "sec")
    clock.set(clock.now + timedelta(minutes=5))
    assert client.get("/review/").status_code == 302


def test_login_issues_a_new_session_and_form_token(app, ctx):
    add(ctx, "security")
    client = app.test_client()
    before = token(client)
    login(client, "sec")
    with client.session_transaction() as sess:
        assert sess["csrf"] != before and sess["desk"]
    with ctx.engine.connect() as conn:
        stored = conn.execute(select(users._sessions.c.id)).scalar_one()
    assert stored == users.session_id(sess["desk"]) and stored != sess["desk"]  # only its hash is kept


def test_logging_out_ends_the_session_on_the_server_too(app, ctx):
    add(ctx, "security")
    client = app.test_client()
    login(client, "sec")
    with client.session_transaction() as sess:
        stolen = dict(sess)
    resp = client.post("/logout", data={"csrf_token": token(client, "/review/")})
    assert resp.status_code == 302 and "why=logout" in resp.headers["Location"]
    assert logged(ctx, "logout")[-1].actor == "30001"
    replay = app.test_client()
    with replay.session_transaction() as sess:
        sess.update(stolen)  # a copy of the cookie taken before logout
    assert replay.get("/review/").status_code == 302


def test_the_session_cookie_is_secure_http_only_and_same_site_strict_by_default(ctx, instance):
    build_floor(ctx)
    with ctx.engine.begin() as conn:
        conn.execute(insert(Staff.__table__).values(employee_no="30001", name="保卫甲", role="security", active=True))
    users.add_user(ctx, "sec", "30001", PASSWORD)
    app = create_app({"NFC_DEVICE": "none"}, instance=str(instance), ctx=ctx)
    client = app.test_client()
    page = client.get("/login", base_url="https://kiosk.example")
    tok = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    resp = client.post("/login", base_url="https://kiosk.example",
                       data={"username": "sec", "password": PASSWORD, "csrf_token": tok})
    assert resp.status_code == 302
    cookie = resp.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


# --- CSRF and CSP ------------------------------------------------------------------------------------------

def test_a_login_without_the_form_token_is_refused_and_logged(app, ctx):
    add(ctx, "security")
    resp = app.test_client().post("/login", data={"username": "sec", "password": PASSWORD})
    assert resp.status_code == 400 and "security token is missing" in resp.text
    row = logged(ctx, "csrf_refused")[-1]
    assert row.outcome == "csrf_refused" and json.loads(row.data)["token"] == "missing"
    assert not logged(ctx, "login_succeeded")


def test_a_form_token_from_another_session_is_refused(app, ctx):
    add(ctx, "security")
    other = token(app.test_client())
    client = app.test_client()
    token(client)
    resp = client.post("/login", data={"username": "sec", "password": PASSWORD, "csrf_token": other})
    assert resp.status_code == 400 and "security token is wrong" in resp.text


def test_an_export_without_the_form_token_is_refused_and_logged(app, ctx):
    add(ctx, "security")
    client = app.test_client()
    login(client, "sec")
    resp = client.post("/review/export", data={"format": "csv"})
    assert resp.status_code == 400
    assert logged(ctx, "csrf_refused")[-1].actor == "30001"
    assert not logged(ctx, "log_exported")


@pytest.mark.parametrize("path", ["/", "/login", "/review/", "/review/summary", "/healthz", "/alerts",
                                  "/static/css/review.css", "/no-such-page"])
def test_every_response_carries_the_content_security_policy(app, ctx, path):
    add(ctx, "security")
    client = app.test_client()
    login(client, "sec")
    resp = client.get(path)
    assert resp.headers["Content-Security-Policy"] == CSP
    assert "unsafe-inline" not in CSP and "script-src 'self'" in CSP


def test_the_desk_pages_have_no_inline_scripts_or_styles(app, ctx):
    add(ctx, "security")
    client = app.test_client()
    login(client, "sec")
    for path in ("/login", "/review/", "/review/summary", f"/review/event/{one_event_id(ctx)}",
                 "/review/person/20002", "/review/door/main"):
        html = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\sstyle=|<style", html), path
        assert not re.search(r"\son[a-z]+=", html), path


# --- permissions -------------------------------------------------------------------------------------------

ROUTES = [("GET", "/review/"), ("GET", "/review/event/{event}"), ("GET", "/review/person/20002"),
          ("GET", "/review/door/main"), ("GET", "/review/summary"), ("POST", "/review/export")]


@pytest.mark.parametrize("method,route", ROUTES)
@pytest.mark.parametrize("role", list(LOGINS))
def test_only_security_and_admin_reach_the_review_screens(app, ctx, role, method, route):
    username = add(ctx, role)
    client = app.test_client()
    assert login(client, username).status_code == 302
    path = route.format(event=one_event_id(ctx))
    if method == "GET":
        resp = client.get(path)
    else:
        resp = client.post(path, data={"format": "csv", "csrf_token": token(client, "/login")})
    allowed = role in ("security", "admin")
    assert allowed == ("log.view" in ROLE_PERMISSIONS[role])
    if allowed:
        assert resp.status_code == 200
    else:
        assert resp.status_code == 403 and f"Your role ({role}) may not use this page" in resp.text
        row = logged(ctx, "access_refused")[-1]
        assert row.actor == LOGINS[role][1] and row.subject in ("log.view", "log.export")


def test_an_export_by_a_leader_is_refused_and_logged(app, ctx):
    add(ctx, "leader")
    client = app.test_client()
    login(client, "lead")
    resp = client.post("/review/export", data={"format": "xlsx", "kind": "door_tap",
                                               "csrf_token": token(client, "/login")})
    assert resp.status_code == 403 and "log.export" in resp.text
    row = logged(ctx, "access_refused")[-1]
    assert (row.actor, row.subject, row.outcome) == ("20001", "log.export", "not_permitted")
    assert json.loads(row.data)["role"] == "leader"
    assert not logged(ctx, "log_exported")


def test_someone_not_logged_in_is_sent_to_the_login_and_a_script_gets_json(app):
    client = app.test_client()
    resp = client.get("/review/summary")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=%2Freview%2Fsummary")
    api = client.get("/review/export/x/progress", headers={"Accept": "application/json"})
    assert api.status_code == 401 and api.get_json()["error"] == "login_required"


def test_after_login_the_next_page_is_never_on_another_site(app, ctx):
    add(ctx, "security")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        resp = login(app.test_client(), "sec", next_=target)
        assert resp.headers["Location"] == "/review/"
    assert login(app.test_client(), "sec", next_="/review/summary?day=2026-11-24").headers["Location"] == \
        "/review/summary?day=2026-11-24"


# --- bad input and the log of every view -------------------------------------------------------------------

def test_a_filter_with_a_malformed_date_is_refused_with_a_message_and_logged(app, ctx):
    add(ctx, "security")
    client = app.test_client()
    login(client, "sec")
    resp = client.get("/review/?from=2026-02-30+22:00")
    assert resp.status_code == 400 and "“from” is not a date and time" in resp.text
    row = logged(ctx, "log_search_refused")[-1]
    assert (row.actor, row.subject, row.outcome) == ("30001", "from", "bad_date")
    assert json.loads(row.data)["args"] == {"from": "2026-02-30 22:00"}
    assert client.get("/review/summary?day=30.02.2026").status_code == 400
    assert client.get("/review/?cursor=garbage").status_code == 400


def test_every_view_search_and_export_is_logged_with_who_and_the_filter(app, ctx):
    add(ctx, "security")
    client = app.test_client()
    login(client, "sec")
    client.get("/review/?person=20002&from=2026-11-30+08:00&to=2026-11-30+12:00")
    searched = logged(ctx, "log_searched")[-1]
    assert searched.actor == "30001"
    assert json.loads(searched.data)["filter"] == {"person": "20002", "from": "2026-11-30T08:00",
                                                   "to": "2026-11-30T12:00"}
    event_id = one_event_id(ctx)
    client.get(f"/review/event/{event_id}")
    client.get("/review/door/main?from=2026-11-30")
    viewed = logged(ctx, "log_viewed")
    assert [(r.outcome, r.subject) for r in viewed] == [("event", str(event_id)), ("door_timeline", "main")]
    client.post("/review/export", data={"format": "csv", "kind": "door_tap", "csrf_token": token(client, "/review/")})
    exported = logged(ctx, "log_exported")[-1]
    doc = json.loads(exported.data)
    assert (exported.actor, exported.outcome, doc["filter"]) == ("30001", "csv", {"kind": "door_tap"})
    assert doc["username"] == "sec" and "through_seq" in doc


def test_an_export_streams_once_to_the_session_that_started_it_and_reports_progress(app, ctx):
    add(ctx, "security")
    client = app.test_client()
    login(client, "sec")
    started = client.post("/review/export", data={"format": "xlsx", "csrf_token": token(client, "/review/")})
    file_url = re.search(r'href="([^"]+/file)"', started.text).group(1)
    progress_url = re.search(r'data-progress-url="([^"]+)"', started.text).group(1)
    assert client.get(progress_url).get_json()["state"] == "ready"
    thief = app.test_client()
    add(ctx, "admin")
    login(thief, "adm")
    assert thief.get(file_url).status_code == 404  # another session: not theirs
    resp = client.get(file_url)
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="entry-log-')
    body = resp.get_data()
    assert body[:2] == b"PK" and int(resp.headers["X-Export-Rows"]) > 0
    done = client.get(progress_url).get_json()
    assert done["state"] == "done" and done["rows"] == done["total"] == int(resp.headers["X-Export-Rows"])
    assert client.get(file_url).status_code == 409  # once


# --- the alert history (/alerts) ---------------------------------------------------------------------------

def test_the_alert_history_asks_for_a_login_and_refuses_a_role_without_alerts_view(app, ctx):
    client = app.test_client()
    resp = client.get("/alerts?kind=door_forced_open")
    assert resp.status_code == 302 and "/login?next=" in resp.headers["Location"]
    assert "alerts" in resp.headers["Location"]
    assert client.get("/alerts", headers={"Accept": "application/json"}).status_code == 401
    add(ctx, "operator")
    login(client, "op")
    resp = client.get("/alerts")
    assert resp.status_code == 403 and "alerts.view" in resp.text and "Your role (operator)" in resp.text
    row = logged(ctx, "access_refused")[-1]
    assert (row.actor, row.subject, row.outcome) == ("20002", "alerts.view", "not_permitted")
    for role in ("leader", "security", "management"):
        other = app.test_client()
        login(other, add(ctx, role))
        page = other.get("/alerts")
        assert page.status_code == 200 and 'data-testid="alerts-title"' in page.text, role


def test_a_paired_screen_reads_its_own_floors_alerts_and_those_of_no_one_floor(app, ctx):
    from datetime import datetime, timezone

    from kiosk.services import floors, screens
    from kiosk.store.models import Alert

    floors.add(ctx, "4F", "4 层", "Floor 4")
    with ctx.engine.begin() as conn:
        ids = floors.codes(conn)
        at = datetime(2026, 11, 29, 8, 0, tzinfo=timezone.utc)
        conn.execute(insert(Alert.__table__), [
            {"kind": "door_forced_open", "severity": "alarm", "rule": "§6.6", "door_id": "main", "subject": "一层正门",
             "raised_at": at, "floor_id": ids["1F"]},
            {"kind": "door_held_open", "severity": "alarm", "rule": "§6.5", "door_id": "side", "subject": "四层侧门",
             "raised_at": at, "floor_id": ids["4F"]},
            {"kind": "visitor_overstayed", "severity": "warning", "rule": "§2.2", "door_id": None, "subject": "来访者",
             "raised_at": at, "floor_id": None}])
    client = app.test_client()
    client.set_cookie(screens.COOKIE, screens.pair_now(ctx, "kiosk-1f", floor="1F"))
    page = client.get("/alerts")
    assert page.status_code == 200
    assert "一层正门" in page.text and "来访者" in page.text and "四层侧门" not in page.text
    every = app.test_client()
    login(every, add(ctx, "security"))  # security sees every floor
    assert "四层侧门" in every.get("/alerts").text


@pytest.mark.parametrize("path", ["/", "/floor", "/alerts", "/login", "/review/"])
def test_every_screen_names_an_icon_the_server_serves(app, ctx, path):
    # A page without one makes the browser ask for /favicon.ico on every load: a 404 in the log each time.
    add(ctx, "security")
    client = app.test_client()
    login(client, "sec")
    found = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)"', client.get(path).text)
    assert found, path
    icon = client.get(found.group(1))
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert icon.data.startswith(b"<svg")
