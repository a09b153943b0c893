"""Real ``kiosk serve`` processes for integration tests: an instance with one door, servers sharing Redis, door events."""

from __future__ import annotations

import http.client
import json
import secrets
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common import SocketIOClient, free_port, server_output, start_kiosk  # noqa: E402,F401  (re-exported for the tests)
from kiosk.config import load_config  # noqa: E402
from kiosk.services import doors, sensors  # noqa: E402
from kiosk.services.context import ServiceContext  # noqa: E402
from kiosk.store.db import make_engine, make_sessionmaker  # noqa: E402

SECRET = "scale-out-secret"
GATEWAY = "floor-3"
# Door events are dated from here on, one second apart, so every one is a change newer than the last.
EVENTS_FROM = datetime(2026, 11, 29, 1, 0, tzinfo=timezone.utc)


def shared_redis_url() -> str:
    """The machine's Redis (deploy/ensure-services.sh starts it); fail, not skip, when it is down."""
    import pytest
    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as exc:
        pytest.fail(f"Redis on 127.0.0.1:6379 is unreachable ({exc}); `make test` starts it "
                    "(deploy/ensure-services.sh)", pytrace=False)
    return url


def unique_channel() -> str:
    """A Socket.IO channel of this test run alone: other runs sharing the Redis never see its pushes."""
    return f"floor-kiosk-test-{secrets.token_hex(6)}"


def define_door(instance: Path) -> None:
    """Give a migrated instance the main door and its contact point."""
    cfg = load_config(instance, environ={})
    engine = make_engine(cfg["DATABASE_URL"])
    try:
        ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
        sensors.define_points(ctx, [{"id": "door:main", "kind": "door", "label": "话务区正门"}])
        doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main"}])
    finally:
        engine.dispose()


def start_servers(instance: Path, count: int, redis_url: str, channel: str, **env: str) -> list[tuple[int, subprocess.Popen]]:
    """Start ``count`` kiosk serve processes on one instance, fanning out through ``redis_url`` on ``channel``."""
    base = {"KIOSK_NFC_DEVICE": "none", "KIOSK_REDIS_URL": redis_url, "KIOSK_REDIS_CHANNEL": channel,
            "KIOSK_GATEWAY_SECRETS": f"{GATEWAY}={SECRET}", "KIOSK_LOG_LEVEL": "WARNING"}
    started: list[tuple[int, subprocess.Popen]] = []
    try:
        for _ in range(count):
            port = free_port()
            started.append((port, start_kiosk(instance, port, **{**base, **env})))
    except BaseException:
        stop_servers(started)
        raise
    return started


def stop_servers(servers: list[tuple[int, subprocess.Popen]]) -> list[str]:
    """Stop the servers; return what each wrote (stdout and stderr together)."""
    outputs = []
    for _port, proc in servers:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        outputs.append(server_output(proc))
    return outputs


def door_event_at(n: int) -> str:
    """The time of door event number ``n`` (ISO-8601 UTC)."""
    return (EVENTS_FROM + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


def post_door(port: int, state: str, n: int) -> int:
    """Post door event number ``n`` (the main door's contact now ``state``) as the gateway; return the HTTP status."""
    body = json.dumps({"events": [{"id": f"{GATEWAY}:{n}", "type": "point_changed", "point": "door:main",
                                   "state": state, "at": door_event_at(n)}]}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", f"/api/v1/gateways/{GATEWAY}/events", body=body,
                     headers={"Content-Type": "application/json", "X-Signature": sensors.sign(SECRET.encode(), body)})
        return conn.getresponse().status
    finally:
        conn.close()


def http_status(port: int, path: str) -> int:
    """GET ``path`` on a server; return the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def wait_for_change(screen: SocketIOClient, n: int, timeout: float = 10.0) -> dict:
    """Skip a screen's events until the ``points_changed`` of door event ``n`` arrives; return that change."""
    want = EVENTS_FROM + timedelta(seconds=n)
    end = time.monotonic() + timeout
    while True:
        payload, _ = screen.wait_for("points_changed", timeout=max(0.1, end - time.monotonic()))
        for change in payload["changes"]:
            if change["point"] == "door:main" and datetime.fromisoformat(change["at"].replace("Z", "+00:00")) == want:
                return change
