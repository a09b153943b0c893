"""The forwarder against a small real HTTP server that checks the HMAC and records ids."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_kiosk_server import KioskStub, wait_until
from floor_sensors.forwarder import Forwarder, sign, utc_iso
from floor_sensors.outbox import Outbox

SECRET = b"floor-3 shared secret"


def change(i: int, point: str = "door:main") -> dict[str, object]:
    return {
        "type": "point_changed", "point": point, "kind": "door", "state": "open" if i % 2 else "closed",
        "previous": "closed" if i % 2 else "open", "reconciled": False, "source": "door-node-1", "channel": 1,
        "at": utc_iso(),
    }


@pytest.fixture
def server() -> Iterator[KioskStub]:
    with KioskStub(SECRET) as stub:
        yield stub


def make_forwarder(outbox: Outbox, url: str, secret: bytes = SECRET, **kw: object) -> Forwarder:
    options = dict(batch_size=7, health_interval=0.2, retry_initial=0.02, retry_max=0.1, http_timeout=2.0)
    options.update(kw)
    return Forwarder(outbox, gateway_id="floor-3", server=url, secret=secret,
                     health=lambda: {"nodes": {"door-node-1": {"online": True, "last_seen": utc_iso(),
                                                               "counters": {"crc_errors": 0}}}},
                     **options)  # type: ignore[arg-type]


def test_the_signature_is_hmac_sha256_of_the_body_in_hex() -> None:
    assert sign(b"k", b"{}") == "sha256=" + hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()


def test_utc_times_are_iso_8601_with_a_z() -> None:
    stamp = utc_iso()
    assert stamp.endswith("Z") and "T" in stamp and len(stamp) == len("2026-11-29T01:02:03.123456Z")


def test_events_buffered_while_the_server_is_down_arrive_once_and_in_order_when_it_is_back(
    tmp_path: Path, server: KioskStub
) -> None:
    outbox = Outbox(tmp_path / "o.db", "floor-3")
    server.down = True
    forwarder = make_forwarder(outbox, server.url)
    forwarder.start()
    try:
        ids = []
        for i in range(40):
            ids += outbox.append([change(i)])
        assert wait_until(lambda: server.attempts >= 3)  # it tried, and backed off, while down
        assert len(outbox) == 40 and server.posts == []  # nothing is lost while the server is down
        server.down = False
        assert wait_until(lambda: len(outbox) == 0, timeout=10)
        assert [e["id"] for e in server.snapshot()] == ids
        assert sorted(set(server.received_ids)) == sorted(ids)
        assert len(server.received_ids) == len(ids)  # each sent once: nothing was acknowledged twice
    finally:
        forwarder.stop()


def test_the_request_follows_the_http_contract(tmp_path: Path, server: KioskStub) -> None:
    outbox = Outbox(tmp_path / "o.db", "floor-3")
    [event_id] = outbox.append([change(1)])
    forwarder = make_forwarder(outbox, server.url)
    assert forwarder.deliver(outbox.peek(10))
    post = server.posts[0]
    assert post["gateway"] == "floor-3" and post["sent_at"].endswith("Z")
    assert post["events"][0]["id"] == event_id and post["events"][0]["type"] == "point_changed"
    assert post["health"]["nodes"]["door-node-1"]["online"] is True
    assert server.bad_signatures == 0


def test_a_wrong_secret_keeps_the_events_and_is_logged_as_an_error(
    tmp_path: Path, server: KioskStub, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(tmp_path / "o.db", "floor-3")
    outbox.append([change(1)])
    forwarder = make_forwarder(outbox, server.url, secret=b"wrong")
    with caplog.at_level(logging.ERROR, logger="floor_sensors.forwarder"):
        assert not forwarder.deliver(outbox.peek(10))
    assert len(outbox) == 1 and server.bad_signatures == 1
    assert any("secret is wrong" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


@pytest.mark.parametrize("status", [200, 422])
def test_rejected_events_are_deleted_and_logged_at_warning(
    tmp_path: Path, server: KioskStub, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    outbox = Outbox(tmp_path / "o.db", "floor-3")
    outbox.append([change(1, "door:x"), change(2)])
    server.reject_points = {"door:x"}
    server.status_when_rejecting = status
    forwarder = make_forwarder(outbox, server.url)
    with caplog.at_level(logging.WARNING, logger="floor_sensors.forwarder"):
        assert forwarder.deliver(outbox.peek(10))
    assert len(outbox) == 0
    assert [e["point"] for e in server.snapshot()] == ["door:main"]
    assert any("unknown point door:x" in r.getMessage() for r in caplog.records)


def test_a_refused_connection_keeps_the_events(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", "floor-3")
    outbox.append([change(1)])
    with KioskStub(SECRET) as stub:
        url = stub.url  # a port nobody listens on once the stub is closed
    assert not make_forwarder(outbox, url).deliver(outbox.peek(10))
    assert len(outbox) == 1 and len(outbox.peek(10)) == 1  # and it is leasable again


def test_health_is_posted_periodically_when_there_is_nothing_to_send(tmp_path: Path, server: KioskStub) -> None:
    outbox = Outbox(tmp_path / "o.db", "floor-3")
    forwarder = make_forwarder(outbox, server.url, health_interval=0.05)
    forwarder.start()
    try:
        assert wait_until(lambda: len(server.posts) >= 2, timeout=5)
        assert server.posts[0]["events"] == [] and "door-node-1" in server.posts[0]["health"]["nodes"]
    finally:
        forwarder.stop()


@pytest.mark.parametrize("status", [400, 404, 422, 500, 503])
def test_other_answers_keep_the_events_for_a_retry(tmp_path: Path, server: KioskStub, status: int) -> None:
    # A 422 without the accepted/rejected body is no answer either.
    outbox = Outbox(tmp_path / "o.db", "floor-3")
    outbox.append([change(1)])
    server.force_status = status
    assert not make_forwarder(outbox, server.url).deliver(outbox.peek(10))
    assert len(outbox) == 1


def test_a_health_change_is_posted_at_once_and_again_after_a_failed_try(tmp_path: Path, server: KioskStub) -> None:
    outbox = Outbox(tmp_path / "o.db", "floor-3")
    said = {"state": "connected"}
    forwarder = Forwarder(outbox, gateway_id="floor-3", server=server.url, secret=SECRET,
                          health=lambda: {"readers": {"kiosk-floor3": dict(said)}}, health_interval=600,
                          retry_initial=0.02, retry_max=0.1, http_timeout=2.0)
    forwarder.start()
    try:
        assert wait_until(lambda: len(server.posts) == 1, timeout=5)  # the first word, at start
        server.down = True
        said["state"] = "disconnected"
        forwarder.health_changed()
        assert wait_until(lambda: server.attempts >= 2, timeout=5)  # at once, not in ten minutes; refused
        server.down = False
        assert wait_until(lambda: len(server.posts) == 2, timeout=5)  # tried again after the back-off
        assert server.posts[1]["events"] == [] and server.posts[1]["health"]["readers"]["kiosk-floor3"] == {
            "state": "disconnected"}
    finally:
        forwarder.stop()
