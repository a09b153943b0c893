"""Pushes written by the publishing thread: real websockets on a real server, order kept, no blocking."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import socketio
import websocket
from werkzeug.serving import make_server

from kiosk.web import push

NS = "/kiosk"


class Rig:
    """A python-socketio server (threading mode, simple-websocket) on Werkzeug, as the kiosk runs it."""

    def __init__(self, ping: float = 60) -> None:
        push.install()
        self.sio = socketio.Server(async_mode="threading", ping_interval=ping, ping_timeout=ping)
        self.sio.on("connect", lambda sid, environ: True, namespace=NS)
        self.server = make_server("127.0.0.1", 0, socketio.WSGIApp(self.sio), threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def client(self, rcvbuf: int | None = None) -> websocket.WebSocket:
        """A browser-like client on the websocket transport from the start, connected to the namespace."""
        opts = ((socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf),) if rcvbuf else ()
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket", timeout=30, sockopt=opts)
        assert ws.recv().startswith("0")
        ws.send(f"40{NS},")
        assert ws.recv().startswith(f"40{NS},")
        return ws

    def sockets(self) -> list[Any]:
        """The server's Engine.IO sockets."""
        return list(self.sio.eio.sockets.values())

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.close()


def events(ws: websocket.WebSocket, n: int) -> list[tuple[str, Any]]:
    """Read ``n`` events on the namespace (answering pings)."""
    out = []
    prefix = f"42{NS},"
    while len(out) < n:
        msg = ws.recv()
        if msg == "2":
            ws.send("3")
        elif msg.startswith(prefix):
            name, payload = json.loads(msg[len(prefix):])
            out.append((name, payload))
    return out


def test_every_connection_is_a_direct_send_socket(rig: Rig) -> None:
    ws = rig.client()
    assert [type(s) for s in rig.sockets()] == [push.DirectSendSocket]
    ws.close()


def test_a_push_to_a_websocket_screen_is_written_by_the_publishing_thread(rig: Rig) -> None:
    ws = rig.client()
    rig.sio.emit("tap_recorded", {"n": 1}, namespace=NS)
    assert events(ws, 1) == [("tap_recorded", {"n": 1})]
    (sock,) = rig.sockets()
    assert sock.direct_writes >= 1
    ws.close()


def test_pushes_from_several_threads_all_arrive_each_thread_in_its_own_order(rig: Rig) -> None:
    ws = rig.client()
    threads, per_thread = 4, 300
    start = threading.Barrier(threads)

    def publish(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            rig.sio.emit("seq", {"t": t, "i": i}, namespace=NS)

    workers = [threading.Thread(target=publish, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    got = events(ws, threads * per_thread)
    for w in workers:
        w.join(10)
    for t in range(threads):
        assert [p["i"] for _, p in got if p["t"] == t] == list(range(per_thread))
    ws.close()


def test_a_screen_that_stops_reading_does_not_hold_up_the_publisher(rig: Rig) -> None:
    stuck = rig.client(rcvbuf=65536)  # it reads nothing until every push has been published
    (sock,) = rig.sockets()
    sock._raw_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)  # and the server's buffer is small
    blob = "x" * 16384
    pushes = 200  # 3 MB: far more than both buffers hold
    done = threading.Event()

    def publish() -> None:
        for i in range(pushes):
            rig.sio.emit("big", {"i": i, "blob": blob}, namespace=NS)
        done.set()

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    # The publisher finishes while the screen reads nothing: what did not fit waits in the queue.
    assert done.wait(60), "the publisher blocked on a screen that stopped reading"
    assert 0 < sock.direct_writes < pushes
    # When the screen reads again, every push arrives, whole and in order.
    assert [p["i"] for _, p in events(stuck, pushes)] == list(range(pushes))
    stuck.close()


def test_a_screen_that_answers_pings_stays_connected_though_every_packet_went_direct() -> None:
    # Upstream's writer thread closes a websocket whose queue stayed empty for a ping interval plus a ping
    # timeout (kiosk screens: 20 s); written directly, even the pings never pass the queue.
    rig = Rig(ping=0.2)
    try:
        ws = rig.client()
        ws.settimeout(0.1)
        end = time.monotonic() + 1.5  # more than three times what the writer thread waits
        pongs = 0
        while time.monotonic() < end:
            try:
                if ws.recv() == "2":
                    ws.send("3")
                    pongs += 1
            except websocket.WebSocketTimeoutException:
                pass
        assert pongs >= 3
        (sock,) = rig.sockets()
        assert not sock.closed and sock.direct_writes >= pongs  # the pings went direct
        ws.settimeout(5)
        rig.sio.emit("tap_recorded", {"n": 1}, namespace=NS)
        assert events(ws, 1) == [("tap_recorded", {"n": 1})]
        ws.close()
    finally:
        rig.close()


def test_a_screen_that_stops_answering_pings_is_still_hung_up_on() -> None:
    rig = Rig(ping=0.2)
    try:
        ws = rig.client()
        (sock,) = rig.sockets()
        ws.settimeout(5)
        try:
            while ws.recv() != "":  # read, never answer, until the server's close frame
                pass
        except websocket.WebSocketConnectionClosedException:
            pass
        assert sock.closed
    finally:
        rig.close()



def test_a_browser_offering_compression_is_answered_without_it_and_gets_plain_frames(rig: Rig) -> None:
    # Chromium offers permessage-deflate on every websocket; a deflated frame (RSV1 set) would make this
    # client, which cannot inflate, fail with a protocol error.
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{rig.port}/socket.io/?EIO=4&transport=websocket", timeout=30,
        header=["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"])
    assert "sec-websocket-extensions" not in {k.lower() for k in ws.getheaders()}
    assert ws.recv().startswith("0")
    ws.send(f"40{NS},")
    assert ws.recv().startswith(f"40{NS},")
    big = "门" * 30000  # 90,000 bytes of UTF-8: the 8-byte length form
    for payload in ({"n": 1, "name": "张三"}, {"n": 2, "text": "x" * 200}, {"n": 3, "text": big}):
        rig.sio.emit("tap_recorded", payload, namespace=NS)
        assert events(ws, 1) == [("tap_recorded", payload)]
    (sock,) = rig.sockets()
    assert sock.direct_writes >= 3
    ws.close()


@pytest.mark.parametrize("n, header", [
    (0, b"\x81\x00"), (125, b"\x81\x7d"), (126, b"\x81\x7e\x00\x7e"), (65535, b"\x81\x7e\xff\xff"),
    (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00")])
def test_a_frame_is_the_rfc_header_then_the_utf8_text(n: int, header: bytes) -> None:
    assert push.frame("a" * n) == header + b"a" * n
    assert push.frame(b"\x00" * n)[:1] == b"\x82"  # binary
    assert push.frame("到") == b"\x81\x03" + "到".encode()


@pytest.mark.parametrize("data", [
    ["tap_recorded", {"name": "张三", "seat": None, "ok": True, "n": 1.5, "detail": {"on_shift": "N"}}],
    ["floor_changed", {"seats": [{"seat": "A-01", "rev": 3}], "flags": []}],
    ["reader_health_changed", "字符串"]])
@pytest.mark.parametrize("namespace, ack", [(None, None), ("/kiosk", None), ("/kiosk", 7)])
def test_a_text_packet_encodes_as_upstreams(data, namespace, ack) -> None:
    ours = push.TextPacket(socketio.packet.EVENT, data=data, namespace=namespace, id=ack)
    theirs = socketio.packet.Packet(socketio.packet.EVENT, data=data, namespace=namespace, id=ack)
    assert ours.encode() == theirs.encode()
    assert ours.packet_type == theirs.packet_type == socketio.packet.EVENT


def test_a_text_packet_with_bytes_in_it_goes_upstreams_way_as_a_binary_event() -> None:
    data = ["photo", {"jpeg": b"\xff\xd8\xff", "name": "门"}]
    ours = push.TextPacket(socketio.packet.EVENT, data=data, namespace="/kiosk")
    theirs = socketio.packet.Packet(socketio.packet.EVENT, data=data, namespace="/kiosk")
    assert ours.packet_type == theirs.packet_type == socketio.packet.BINARY_EVENT
    assert ours.encode() == theirs.encode()


def test_the_kiosk_server_encodes_with_text_packets(instance, ctx) -> None:
    from kiosk.web import create_app, socketio as kiosk_socketio

    create_app({"NFC_DEVICE": "none"}, instance=str(instance), ctx=ctx)
    assert kiosk_socketio.server.packet_class is push.TextPacket


def test_publish_sends_one_copy_to_each_screen_in_any_of_the_rooms_and_none_to_the_others(rig: Rig) -> None:
    screens = {name: rig.client() for name in ("4F", "1F", "every floor")}
    sids = [sid for sid, _ in rig.sio.manager.get_participants(NS, None)]  # in the order they connected
    for sid, room in zip(sids, ("floor:4F", "floor:1F", "floor:*")):
        rig.sio.enter_room(sid, room, namespace=NS)
    push.publish(rig.sio, "door_alarm", {"door": "4F-main", "名": "门"}, NS, ["floor:4F", "floor:*", "floor:4F"])
    push.publish(rig.sio, "notice", {"n": 2}, NS, None)  # every screen
    assert events(screens["4F"], 2) == [("door_alarm", {"door": "4F-main", "名": "门"}), ("notice", {"n": 2})]
    assert events(screens["every floor"], 2) == [("door_alarm", {"door": "4F-main", "名": "门"}), ("notice", {"n": 2})]
    assert events(screens["1F"], 1) == [("notice", {"n": 2})]
    assert all(s.direct_writes >= 1 for s in rig.sockets())
    for ws in screens.values():
        ws.close()


def test_publish_to_a_namespace_nobody_joined_sends_nothing_and_bytes_go_upstreams_way(rig: Rig) -> None:
    push.publish(rig.sio, "tap_recorded", {"n": 1}, "/elsewhere", None)  # no screen there yet: no error
    ws = rig.client()
    push.publish(rig.sio, "photo", {"jpeg": b"\xff\xd8"}, NS, None)
    assert ws.recv().startswith(f"451-{NS},")  # a binary event, then its attachment
    assert ws.recv() == b"\xff\xd8"
    ws.close()


def sid_of(rig: Rig, n: int = 0) -> str:
    """The Socket.IO sid of the ``n``-th connection to the namespace."""
    return [sid for sid, _ in rig.sio.manager.get_participants(NS, None)][n]


def test_what_is_sent_ahead_of_pushes_arrives_before_every_push_published_meanwhile(rig: Rig) -> None:
    screen, other = rig.client(), rig.client()
    with push.ahead_of_pushes(rig.sio, sid_of(rig), NS) as send:
        # Published after the snapshot was read, before it was sent: it must not arrive before it.
        push.publish(rig.sio, "alert_escalated", {"id": 7, "level": 2}, NS, None)
        from_elsewhere = threading.Thread(target=rig.sio.emit, args=("tap_recorded", {"n": 1}), kwargs={"namespace": NS})
        from_elsewhere.start()
        from_elsewhere.join(5)
        send("snapshot", {"alerts": [{"id": 7, "level": 1}]})
    push.publish(rig.sio, "after", {"n": 2}, NS, None)
    assert events(screen, 4) == [("snapshot", {"alerts": [{"id": 7, "level": 1}]}),
                                 ("alert_escalated", {"id": 7, "level": 2}), ("tap_recorded", {"n": 1}),
                                 ("after", {"n": 2})]
    # Another screen was never held back.
    assert events(other, 3) == [("alert_escalated", {"id": 7, "level": 2}), ("tap_recorded", {"n": 1}),
                                ("after", {"n": 2})]
    screen.close()
    other.close()


def test_pushes_held_back_go_out_even_when_the_block_fails_and_nested_blocks_keep_the_order(rig: Rig) -> None:
    screen = rig.client()
    with pytest.raises(RuntimeError):
        with push.ahead_of_pushes(rig.sio, sid_of(rig), NS):
            push.publish(rig.sio, "held", {"n": 1}, NS, None)
            raise RuntimeError("the snapshot could not be read")
    with push.ahead_of_pushes(rig.sio, sid_of(rig), NS) as outer:
        push.publish(rig.sio, "held", {"n": 2}, NS, None)
        with push.ahead_of_pushes(rig.sio, sid_of(rig), NS) as inner:
            push.publish(rig.sio, "held", {"n": 3}, NS, None)
            inner("snapshot", {"n": "inner"})
        push.publish(rig.sio, "held", {"n": 4}, NS, None)
        outer("snapshot", {"n": "outer"})
    assert events(screen, 6) == [("held", {"n": 1}), ("snapshot", {"n": "outer"}), ("held", {"n": 2}),
                                 ("held", {"n": 3}), ("snapshot", {"n": "inner"}), ("held", {"n": 4})]
    screen.close()


def test_ahead_of_pushes_on_a_connection_without_an_engineio_socket_here_emits_at_once() -> None:
    sent: list[tuple[Any, ...]] = []

    class Server:  # what the function asks of a server whose connection lives elsewhere (a test client's)
        manager = type("M", (), {"eio_sid_from_sid": staticmethod(lambda sid, ns: "e1")})()
        eio = type("E", (), {"sockets": {}})()

        def emit(self, *args: Any, **kwargs: Any) -> None:
            sent.append((*args, kwargs))

    with push.ahead_of_pushes(Server(), "s1", NS) as send:  # type: ignore[arg-type]
        send("snapshot", {"n": 1})
        assert sent == [("snapshot", {"n": 1}, {"to": "s1", "namespace": NS, "ignore_queue": True})]


@pytest.fixture
def kiosk_app(ctx, clock, instance, monkeypatch) -> Iterator[tuple[Any, int]]:
    """The kiosk app on a real server, its snapshot followed at once by a change published by another thread,
    as when an alert goes a level up just as a screen reads the board."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from floorfixtures import build_floor
    from kiosk.web import create_app, events as kiosk_events

    build_floor(ctx)
    clock.set(datetime(2026, 11, 30, 9, 10, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(timezone.utc))
    app = create_app({"NFC_DEVICE": "none"}, instance=str(instance), ctx=ctx)
    read = kiosk_events.snapshot

    def read_then_changed(v: Any) -> dict[str, Any]:
        snap = read(v)
        change = threading.Thread(target=ctx.publish, args=("alert_escalated", {"id": 1, "level": 2}))
        change.start()
        change.join(5)
        return snap

    monkeypatch.setattr(kiosk_events, "snapshot", read_then_changed)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, server.server_port
    server.shutdown()
    thread.join(5)


def test_a_screens_snapshot_arrives_before_a_change_published_after_it_was_read(kiosk_app) -> None:
    from kiosk.services import screens
    from kiosk.web import services

    app, port = kiosk_app
    token = screens.pair_now(services(app), "wall")
    ws = websocket.create_connection(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket&kiosk=wall",
                                     cookie=f"{screens.COOKIE}={token}", timeout=30)
    assert ws.recv().startswith("0")
    ws.send(f"40{NS},")
    # On connect: the board, then the change (before: the change, then the older board over it).
    assert [name for name, _ in events(ws, 2)] == ["snapshot", "alert_escalated"]
    # Asked for again: the same order, and the answer to the request carries no board of its own.
    ws.send(f'42{NS},1["request_snapshot",null]')
    assert [name for name, _ in events(ws, 2)] == ["snapshot", "alert_escalated"]
    ack = ws.recv()
    while ack == "2":
        ws.send("3")
        ack = ws.recv()
    assert ack == f"43{NS},1[]"
    ws.close()
