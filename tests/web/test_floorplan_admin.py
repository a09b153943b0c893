"""The floor plan editor (floor-map issue): an admin moves seats and uploads the plan's background; everyone
else, a missing form token, unknown seats, positions off the plan and files that are not PNG/SVG are refused."""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from typing import Any

import pytest
from sqlalchemy import insert, select

from floorfixtures import build_floor
from kiosk.services import users
from kiosk.store.models import Event, Seat, Staff
from kiosk.web import create_app

events, seats = Event.__table__, Seat.__table__
PASSWORD = "correct horse battery"
LOGINS = {"operator": ("op", "20002"), "leader": ("lead", "20001"), "security": ("sec", "30001"),
          "admin": ("adm", "30002")}


def png(width: int = 40, height: int = 30) -> bytes:
    """A real (tiny, blank) PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def app(ctx, instance):
    build_floor(ctx)
    with ctx.engine.begin() as conn:
        conn.execute(insert(Staff.__table__), [
            {"employee_no": "30001", "name": "保卫甲", "role": "security", "active": True},
            {"employee_no": "30002", "name": "管理员", "role": "admin", "active": True}])
    return create_app({"NFC_DEVICE": "none", "COOKIE_SECURE": False}, instance=str(instance), ctx=ctx)


def logged_in(app, ctx, role: str) -> Any:
    username, employee_no = LOGINS[role]
    users.add_user(ctx, username, employee_no, PASSWORD)
    client = app.test_client()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    resp = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302
    return client


def form_token(client) -> str:
    page = client.get("/admin/floorplan")
    assert page.status_code == 200
    return re.search(r'data-csrf="([^"]+)"', page.text).group(1)


def positions(ctx) -> dict[str, tuple[float, float]]:
    with ctx.engine.connect() as conn:
        return {r.id: (r.x, r.y) for r in conn.execute(select(seats.c.id, seats.c.x, seats.c.y))}


def logged(ctx, kind: str) -> list[Any]:
    with ctx.engine.connect() as conn:
        return conn.execute(select(events).where(events.c.kind == kind).order_by(events.c.id)).all()


def save(client, token: str | None, moves: Any) -> Any:
    data = {"positions": json.dumps(moves)}
    if token is not None:
        data["csrf_token"] = token
    return client.post("/admin/floorplan/seats", data=data, headers={"Accept": "application/json"})


def test_an_admin_moves_two_seats_and_the_database_and_the_log_say_so(app, ctx):
    client = logged_in(app, ctx, "admin")
    page = client.get("/admin/floorplan")
    assert 'data-testid="plan-map"' in page.text and "A-01" in page.text
    sent: list[tuple[str, dict[str, Any]]] = []
    ctx.publish = lambda name, payload: sent.append((name, payload))
    resp = save(client, form_token(client), [{"seat": "A-01", "x": 15, "y": 40.5}, {"seat": "A-02", "x": 25, "y": 40}])
    assert resp.status_code == 200 and resp.json["ok"] and resp.json["moved"] == 2
    now = positions(ctx)
    assert now["A-01"] == (15.0, 40.5) and now["A-02"] == (25.0, 40.0)
    row = logged(ctx, "floorplan_changed")[-1]
    assert (row.actor, row.outcome) == ("30002", "2") and json.loads(row.data)["seats"] == 2
    floor_pushes = [p for n, p in sent if n == "floor_changed"]
    assert floor_pushes and {s["seat"]: (s["x"], s["y"]) for s in floor_pushes[-1]["seats"]}["A-01"] == (15.0, 40.5)


@pytest.mark.parametrize("role", ["operator", "leader", "security"])
def test_everyone_but_an_admin_is_refused_the_editor_and_the_save(app, ctx, role):
    client = logged_in(app, ctx, role)
    page = client.get("/admin/floorplan")
    assert page.status_code == 403 and 'data-code="not_permitted"' in page.text
    with client.session_transaction() as sess:
        token = sess["csrf"]
    before = positions(ctx)
    assert save(client, token, [{"seat": "A-01", "x": 15, "y": 10}]).status_code == 403
    assert positions(ctx) == before
    assert logged(ctx, "access_refused")[-1].subject == "floorplan.edit"


def test_a_save_without_the_form_token_is_refused_and_writes_nothing(app, ctx):
    client = logged_in(app, ctx, "admin")
    before = positions(ctx)
    resp = save(client, None, [{"seat": "A-01", "x": 15, "y": 10}])
    assert resp.status_code == 400 and resp.json["error"] == "csrf_refused"
    assert positions(ctx) == before and not logged(ctx, "floorplan_changed")


@pytest.mark.parametrize("moves, code", [
    ([{"seat": "A-01", "x": 15, "y": 10}, {"seat": "Z-99", "x": 1, "y": 1}], "unknown_seat"),
    ([{"seat": "A-01", "x": 15, "y": 10}, {"seat": "A-02", "x": 99999, "y": 10}], "out_of_plan"),
    ([{"seat": "A-01", "x": "left", "y": 10}], "bad_number"),
    ([{"seat": "A-01", "x": 15, "y": 10}, {"seat": "A-01", "x": 16, "y": 10}], "duplicate_seat"),
    ([], "no_positions"),
])
def test_a_bad_save_is_refused_with_a_message_and_nothing_is_written(app, ctx, moves, code):
    client = logged_in(app, ctx, "admin")
    before = positions(ctx)
    resp = save(client, form_token(client), moves)
    assert resp.status_code == 400 and resp.json["error"] == code and resp.json["message"]
    assert positions(ctx) == before and not logged(ctx, "floorplan_changed")
    assert logged(ctx, "floorplan_refused")[-1].outcome == code


def test_more_positions_than_seats_are_refused(app, ctx):
    client = logged_in(app, ctx, "admin")
    many = [{"seat": s, "x": x, "y": y} for s, (x, y) in positions(ctx).items()] * 2
    resp = save(client, form_token(client), many)
    assert resp.status_code == 400 and resp.json["error"] == "too_many_positions"


def upload(client, token: str, content: bytes, name: str) -> Any:
    return client.post("/admin/floorplan/background", data={"csrf_token": token, "image": (io.BytesIO(content), name)},
                       content_type="multipart/form-data", headers={"Accept": "application/json"})


def test_an_admin_uploads_a_png_background_and_the_map_can_fetch_it(app, ctx, instance):
    client = logged_in(app, ctx, "admin")
    image = png(400, 300)
    resp = upload(client, form_token(client), image, "floor.png")
    assert resp.status_code == 200 and resp.json["kind"] == "png" and resp.json["width"] == 400
    served = app.test_client().get("/floorplan/background")
    assert served.status_code == 200 and served.data == image and served.mimetype == "image/png"
    info = app.test_client().get("/floorplan/background/info").json
    assert info["present"] and (info["width"], info["height"]) == (400, 300)
    assert (instance / "floorplan-background.png").read_bytes() == image
    assert logged(ctx, "floorplan_background_changed")[-1].subject == "png"


def test_an_svg_background_is_served_as_an_image_under_its_own_sandbox(app, ctx):
    client = logged_in(app, ctx, "admin")
    drawing = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 800 600"><rect width="10" height="10"/></svg>'
    assert upload(client, form_token(client), drawing, "plan.svg").status_code == 200
    served = app.test_client().get("/floorplan/background")
    assert served.mimetype == "image/svg+xml" and "sandbox" in served.headers["Content-Security-Policy"]


@pytest.mark.parametrize("content, name, code", [
    (b"\x89PNG not really", "fake.png", "not_png_or_svg"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "truncated.png", "bad_png"),
    (b"GIF89a" + b"\x00" * 20, "plan.png", "not_png_or_svg"),
    (b"<html><body>hi</body></html>", "plan.svg", "not_png_or_svg"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 9 9"><script>alert(1)</script></svg>', "x.svg", "unsafe_svg"),
])
def test_a_file_that_is_not_a_png_or_a_clean_svg_is_refused(app, ctx, content, name, code):
    client = logged_in(app, ctx, "admin")
    resp = upload(client, form_token(client), content, name)
    assert resp.status_code == 400 and resp.json["error"] == code
    assert app.test_client().get("/floorplan/background").status_code == 404
    assert not logged(ctx, "floorplan_background_changed")


def test_an_oversize_upload_is_refused(app, ctx):
    client = logged_in(app, ctx, "admin")
    big = png(10, 10) + b"\x00" * (5 * 1024 * 1024 + 100 * 1024)
    resp = upload(client, form_token(client), big, "huge.png")
    assert resp.status_code == 413 and resp.json["error"] == "too_large"
    assert not logged(ctx, "floorplan_background_changed")


def test_an_upload_by_a_non_admin_is_refused(app, ctx):
    client = logged_in(app, ctx, "security")
    with client.session_transaction() as sess:
        token = sess["csrf"]
    assert upload(client, token, png(), "floor.png").status_code == 403


# --- doors and kiosk screens on the plan ---------------------------------------------------------------------

@pytest.fixture
def with_door(app, ctx):
    """A door not on the plan yet, and a paired kiosk screen."""
    from kiosk.services import doors, screens, sensors

    sensors.define_points(ctx, [{"id": "door:main", "kind": "door", "label": "正门"}])
    doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main"}])
    screens.pair_now(ctx, "wall-1")
    return app


def place(client, token: str | None, moves: Any) -> Any:
    data = {"positions": json.dumps(moves)}
    if token is not None:
        data["csrf_token"] = token
    return client.post("/admin/floorplan/positions", data=data, headers={"Accept": "application/json"})


def test_the_editor_lists_the_door_and_the_screen_not_on_the_plan_yet(with_door, ctx):
    page = logged_in(with_door, ctx, "admin").get("/admin/floorplan")
    plan = json.loads(re.search(r'data-plan="([^"]+)"', page.text).group(1).replace("&#34;", '"'))
    assert plan["doors"] == [{"door": "main", "name": "话务区正门", "x": None, "y": None}]
    assert plan["kiosks"] == [{"kiosk": "wall-1", "x": None, "y": None}]
    assert 'data-testid="plan-unplaced"' in page.text and "/admin/floorplan/positions" in page.text


def test_an_admin_places_the_door_and_the_screen_and_the_map_api_draws_them(with_door, ctx):
    client = logged_in(with_door, ctx, "admin")
    sent: list[tuple[str, dict[str, Any]]] = []
    ctx.publish = lambda name, payload: sent.append((name, payload))
    resp = place(client, form_token(client), [{"door": "main", "x": 40, "y": 30}, {"kiosk": "wall-1", "x": 50, "y": 30}])
    assert resp.status_code == 200 and resp.json["moved"] == 2
    assert resp.json["doors"] == {"main": {"x": 40.0, "y": 30.0}} and resp.json["kiosks"] == {"wall-1": {"x": 50.0, "y": 30.0}}
    floor_map = with_door.test_client().get("/api/v1/floor").json
    assert [(d["door_id"], d["x"], d["y"], d["look"]) for d in floor_map["doors"]] == [("main", 40.0, 30.0, "unknown")]
    assert floor_map["kiosks"] == [{"kiosk": "wall-1", "x": 50.0, "y": 30.0, "floor_id": 1}]
    assert [n for n, _p in sent] == ["floor_markers_changed"]
    row = logged(ctx, "floorplan_changed")[-1]
    assert (row.actor, json.loads(row.data)["doors"], json.loads(row.data)["kiosks"]) == ("30002", 1, 1)


@pytest.mark.parametrize("moves, code", [
    ([{"door": "main", "x": 40, "y": 30}, {"door": "back", "x": 1, "y": 1}], "unknown_door"),
    ([{"kiosk": "wall-1", "x": 40, "y": 99999}], "out_of_plan"),
    ([{"door": "main", "kiosk": "wall-1", "x": 40, "y": 30}], "bad_positions"),
])
def test_a_bad_placement_of_a_door_or_screen_is_refused_and_nothing_is_written(with_door, ctx, moves, code):
    client = logged_in(with_door, ctx, "admin")
    resp = place(client, form_token(client), moves)
    assert resp.status_code == 400 and resp.json["error"] == code
    assert with_door.test_client().get("/api/v1/floor").json["doors"] == []
    assert not logged(ctx, "floorplan_changed")


def test_placing_needs_the_form_token_and_the_admin_role(with_door, ctx):
    admin = logged_in(with_door, ctx, "admin")
    assert place(admin, None, [{"door": "main", "x": 40, "y": 30}]).status_code == 400
    security = logged_in(with_door, ctx, "security")
    with security.session_transaction() as sess:
        token = sess["csrf"]
    assert place(security, token, [{"door": "main", "x": 40, "y": 30}]).status_code == 403
    assert with_door.test_client().get("/api/v1/floor").json["doors"] == []


def test_with_several_floors_the_editor_shows_and_saves_one_floor_at_a_time(app, ctx):
    from floorfixtures import add_upper_floor

    add_upper_floor(ctx)
    client = logged_in(app, ctx, "admin")
    page = client.get("/admin/floorplan?floor=4F")
    assert page.status_code == 200 and 'data-testid="plan-floors"' in page.text
    plan = json.loads(re.search(r'data-plan="([^"]+)"', page.text).group(1).replace("&#34;", '"'))
    assert [s["seat"] for s in plan["seats"]] == ["B-01", "B-02", "B-03", "B-04"]
    assert [d["door"] for d in plan["doors"]] == ["north"]
    token = re.search(r'data-csrf="([^"]+)"', page.text).group(1)
    moves = {"positions": json.dumps([{"seat": "A-01", "x": 15, "y": 10}]), "csrf_token": token, "floor": "4F"}
    resp = client.post("/admin/floorplan/positions", data=moves, headers={"Accept": "application/json"})
    assert resp.status_code == 400 and resp.json["error"] == "unknown_seat"  # A-01 is on 1F
    moves["positions"] = json.dumps([{"seat": "B-01", "x": 15, "y": 10}, {"door": "north", "x": 20, "y": 30}])
    resp = client.post("/admin/floorplan/positions", data=moves, headers={"Accept": "application/json"})
    assert resp.status_code == 200 and resp.json["moved"] == 2
    assert positions(ctx)["B-01"] == (15.0, 10.0)
    upper = app.test_client().get("/api/v1/floor?floor=4F").json
    assert [s["seat"] for s in upper["seats"]] == ["B-01", "B-02", "B-03", "B-04"]
    assert [d["door_id"] for d in upper["doors"]] == ["north"]
    assert app.test_client().get("/admin/floorplan?floor=9F").status_code in (302, 404)
    assert client.get("/admin/floorplan?floor=9F").status_code == 404
