"""Several kiosk serve processes behind Redis: a change accepted by one reaches screens connected to another."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench._common import SocketIOClient, free_port, start_kiosk  # noqa: E402
from kiosk.config import load_config  # noqa: E402
from kiosk.services import doors, sensors  # noqa: E402
from kiosk.services.context import ServiceContext  # noqa: E402
from kiosk.store.db import make_engine, make_sessionmaker, upgrade  # noqa: E402

SECRET = "scale-out-secret"


def _redis_url() -> str:
    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as exc:
        pytest.fail(f"Redis on 127.0.0.1:6379 is unreachable ({exc}); `make test` starts it "
                    "(deploy/ensure-services.sh)", pytrace=False)
    return url


@pytest.fixture
def two_servers(tmp_path):
    instance = tmp_path / "instance"
    cfg = load_config(instance, environ={})
    upgrade(cfg["DATABASE_URL"])
    engine = make_engine(cfg["DATABASE_URL"])
    ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
    sensors.define_points(ctx, [{"id": "door:main", "kind": "door", "label": "话务区正门"}])
    doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main"}])
    engine.dispose()
    env = {"KIOSK_NFC_DEVICE": "none", "KIOSK_REDIS_URL": _redis_url(),
           "KIOSK_GATEWAY_SECRETS": f"floor-3={SECRET}",
           "KIOSK_LOG_LEVEL": "WARNING"}
    ports = [free_port(), free_port()]
    procs = [start_kiosk(instance, port, **env) for port in ports]
    yield ports
    for p in procs:
        p.terminate()
        p.wait(timeout=10)


def post_door(port: int, state: str, n: int) -> int:
    import http.client

    body = json.dumps({"events": [{"id": f"floor-3:{n}", "type": "point_changed", "point": "door:main",
                                   "state": state, "at": "2026-11-29T01:00:0%dZ" % n}]}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/api/v1/gateways/floor-3/events", body=body,
                 headers={"Content-Type": "application/json", "X-Signature": sensors.sign(SECRET.encode(), body)})
    status = conn.getresponse().status
    conn.close()
    return status


def test_a_door_event_accepted_by_one_process_raises_the_alarm_on_a_screen_of_the_other(two_servers):
    a, b = two_servers
    screen = SocketIOClient(f"http://127.0.0.1:{a}")
    screen.wait_for("snapshot")
    assert post_door(b, "closed", 1) == 200
    assert post_door(b, "open", 2) == 200
    alert, _ = screen.wait_for("alert_raised", timeout=10)
    assert alert["kind"] == "door_forced_open" and alert["door_id"] == "main"
    screen.close()
