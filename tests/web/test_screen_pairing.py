"""Paired kiosk screens: only paired screens and logged-in desk users get a Socket.IO connection."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from floorfixtures import build_floor, screen_client
from kiosk.services import screens, users
from kiosk.services.errors import NotPermitted
from kiosk.store.models import Event, Staff
from kiosk.web import create_app, socketio

PASSWORD = "correct horse battery"


@pytest.fixture
def app(ctx, instance):
    build_floor(ctx)
    with ctx.engine.begin() as conn:
        conn.execute(insert(Staff.__table__), [{"employee_no": "30002", "name": "管理员", "role": "admin", "active": True}])
    return create_app({"NFC_DEVICE": "none", "COOKIE_SECURE": False}, instance=str(instance), ctx=ctx)


def kinds(ctx, kind: str) -> list[Event]:
    with ctx.engine.connect() as conn:
        return conn.execute(select(Event.__table__).where(Event.__table__.c.kind == kind)).all()


def test_an_unpaired_screen_is_refused_whatever_its_origin(app, ctx):
    client = socketio.test_client(app, namespace="/kiosk", headers={"Origin": "http://localhost"})
    assert not client.is_connected("/kiosk")
    assert kinds(ctx, "screen_refused")


def test_a_paired_screen_connects_and_gets_the_board(app):
    client = screen_client(app)
    assert client.is_connected("/kiosk")
    assert any(m["name"] == "snapshot" for m in client.get_received("/kiosk"))


def test_a_revoked_screen_is_refused(app, ctx):
    token = screens.pair_now(ctx, "wall-1")
    screens.revoke(ctx, "wall-1")
    client = socketio.test_client(app, namespace="/kiosk", headers={"Cookie": f"{screens.COOKIE}={token}"})
    assert not client.is_connected("/kiosk")
    assert kinds(ctx, "screen_revoked")


def test_a_logged_in_desk_user_connects(app, ctx):
    users.add_user(ctx, "adm", "30002", PASSWORD)
    http = app.test_client()
    form = http.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    http.post("/login", data={"username": "adm", "password": PASSWORD, "csrf_token": csrf})
    client = socketio.test_client(app, namespace="/kiosk", flask_test_client=http)
    assert client.is_connected("/kiosk")


def test_the_pairing_link_sets_the_screen_cookie_and_works_once(app, ctx):
    code = screens.pair(ctx, "wall-1", "30002")
    http = app.test_client()
    resp = http.get(f"/pair?code={code}")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/?kiosk=wall-1")
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(f"{screens.COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert socketio.test_client(app, namespace="/kiosk", flask_test_client=http).is_connected("/kiosk")
    assert app.test_client().get(f"/pair?code={code}").status_code == 403
    assert kinds(ctx, "screen_paired")


def test_a_pairing_code_expires_after_ten_minutes(ctx, clock):
    build_floor(ctx)
    code = screens.pair(ctx, "wall-1", "setup", require_admin=False)
    clock.set(clock.now + timedelta(minutes=10, seconds=1))
    with pytest.raises(NotPermitted):
        screens.redeem(ctx, code)


def test_only_an_admin_may_pair_a_screen(ctx):
    build_floor(ctx)  # 20001 is a leader
    with pytest.raises(NotPermitted):
        screens.pair(ctx, "wall-1", "20001")


def test_the_unpaired_kiosk_page_still_renders(app):
    assert app.test_client().get("/").status_code == 200
