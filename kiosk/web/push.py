"""Pushes to a screen written by the thread that publishes them, when nothing is queued before them.

python-engineio hands every outgoing packet to a writer thread per websocket through a queue. That
hand-off (wake the writer, then wait for the interpreter's lock while the publishing thread carries
on) was about half the time from a badge tap to its result on the screen. A
:class:`DirectSendSocket` writes a packet at once instead, from the publishing thread, when nothing
queued earlier is still unwritten and the socket can take it without blocking; otherwise the packet
goes through the queue and the writer thread as before.

Order is kept. ``_queued`` counts packets put on the queue and not yet taken by the writer,
``_in_hand`` those taken and not yet written; a packet is written directly only when both are zero,
and every write to one websocket is made holding one lock, which the publisher never waits for. A screen that stopped reading (a full
socket buffer) never holds up the publisher: the direct path is taken only when the kernel's send
buffer has room for the whole packet. Only connections that start on the websocket transport (the kiosk's screens
do) take the direct path; one upgraded from long-polling keeps the queue throughout.

A push is sent by :func:`publish`: its Socket.IO packet is encoded once and handed to each screen's
Engine.IO socket, without the layers of ``SocketIO.emit`` (Flask-SocketIO's request-context handling,
python-socketio's server and client manager), which a badge tap's push paid for at every tap: measured
end to end with the serial reader, about a tenth of a tap's time to the screen. Through Redis (several
processes) the client manager still sends it: it also tells the other processes.

Pushes are not compressed. Chromium offers permessage-deflate on every websocket and simple-websocket
accepts it, so every push was deflated once per screen on the server and inflated in the browser: a
few hundred bytes of JSON on a local network, where the compression costs more time than the bytes
it saves. The offer is declined (the handshake is answered without the extension), and a frame is
then just a header and the UTF-8 text, written here without going through wsproto.
"""

from __future__ import annotations

import fcntl
import logging
import socket
import struct
import termios
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import engineio.exceptions
import engineio.packet
import engineio.server
import engineio.socket
import socketio
import socketio.packet
from wsproto.events import Message, TextMessage

logger = logging.getLogger(__name__)


_EXTENSIONS = "HTTP_SEC_WEBSOCKET_EXTENSIONS"


def frame(data: str | bytes) -> bytes:
    """One unmasked, unfragmented websocket frame, as a server sends it with no extension (RFC 6455 §5.2)."""
    if isinstance(data, str):
        first, payload = 0x81, data.encode("utf-8")  # FIN + text
    else:
        first, payload = 0x82, bytes(data)  # FIN + binary
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


def _write(ws: Any, data: Any) -> None:
    """Write one message on python-engineio's websocket wrapper, all of it.

    simple-websocket 1.1.0 writes a frame with one ``socket.send`` and ignores a short count, so a
    large message to a screen whose buffer is nearly full went out truncated and the stream was lost
    (simple-websocket issue #45, fixed after 1.1.0). Its frame is built the same way here and
    written with ``sendall``.
    """
    conn = ws.ws  # the simple_websocket.Server
    if not conn.connected:
        raise OSError("websocket closed")
    if _EXTENSIONS not in conn.environ:  # nothing negotiated (see _upgrade_websocket): the frame is plain
        conn.sock.sendall(frame(data if isinstance(data, bytes) else str(data)))
        return
    message = Message(data=data) if isinstance(data, bytes) else TextMessage(data=str(data))
    conn.sock.sendall(conn.ws.send(message))


class _WriterSide:
    """The websocket as the writer thread sees it: its writes take turns with direct ones."""

    def __init__(self, ws: Any, owner: DirectSendSocket) -> None:
        self.ws = ws
        self._owner = owner

    def send(self, data: Any) -> None:
        """Write one packet for the writer thread (waiting, as upstream, for a slow screen)."""
        owner = self._owner
        try:
            with owner._io:
                _write(self.ws, data)
        finally:
            with owner._state:
                owner._in_hand = max(0, owner._in_hand - 1)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ws, name)


class DirectSendSocket(engineio.socket.Socket):
    """An Engine.IO socket that writes websocket packets from the publishing thread when it safely can.

    Two locks: ``_state`` guards the counts and is never held while writing; ``_io`` is held by
    whoever writes to the websocket. The publishing thread never waits for ``_io``: if the writer
    thread holds it, the packet is queued behind what the writer has in hand.
    """

    def __init__(self, server: Any, sid: str) -> None:
        super().__init__(server, sid)
        self._state = threading.Lock()
        self._io = threading.Lock()
        self._queued = 0  # put on the queue, not yet taken by the writer thread
        self._in_hand = 0  # taken by the writer thread, not yet written
        self._direct: _WriterSide | None = None
        self._raw_sock: Any = None
        self.direct_writes = 0
        self._holds = 0  # open :func:`ahead_of_pushes` blocks: while any is, what is sent waits in _held
        self._held: list[Any] = []

    def send(self, pkt: Any) -> None:
        """Send a packet: directly when nothing is queued before it and the socket has room for it."""
        if not self.check_ping_timeout():
            return
        with self._state:
            if self._holds:
                self._held.append(pkt)
                return
            side = self._direct
            if (side is None or self._queued or self._in_hand or not self._open()
                    or not self._io.acquire(blocking=False)):
                self._enqueue(pkt)
                return
        # We hold _io and nothing was pending: a packet published after this one queues behind it.
        try:
            data = pkt.encode()
            if self._room_for(len(data.encode() if isinstance(data, str) else data)):
                try:
                    _write(side.ws, data)
                    self.direct_writes += 1
                    return
                except Exception:  # noqa: BLE001 - the connection is going; the writer thread winds it up
                    logger.debug("%s: direct write failed; the packet goes to the writer", self.sid)
                    with self._state:
                        self._direct = None
            with self._state:
                self._enqueue(pkt)
        finally:
            self._io.release()

    def hold(self) -> None:
        """Keep what is sent from now on back until :meth:`release`."""
        with self._state:
            self._holds += 1

    def release(self, first: list[Any]) -> None:
        """Send ``first``, then what was held back, in that order and ahead of anything sent after.

        Both go to the writer thread, so a packet sent after this call queues behind them. When another
        hold is still open, ``first`` joins what it holds back.
        """
        with self._state:
            self._holds -= 1
            if self._holds:
                self._held.extend(first)
                return
            out, self._held = [*first, *self._held], []
            for pkt in out:
                self._enqueue(pkt)

    def _enqueue(self, pkt: Any) -> None:
        """Hand the packet to the writer thread (call with ``_state`` held)."""
        self._queued += 1
        self.queue.put(pkt)

    def poll(self) -> list[Any]:
        """Take what is queued (as upstream), moving the count from queued to in hand.

        Upstream's writer thread takes a queue that stayed empty for a ping interval plus a ping timeout
        for a client that is gone, and closes the websocket: there every ping passes the queue. Written
        directly, pings and pushes need not, so on a direct connection an empty queue only means that
        nothing had to wait, and the writer waits on. Whether the client is still there is the ping/pong
        check's to say (``check_ping_timeout``, run on every send and by the server's service task).
        """
        while True:
            try:
                packets = super().poll()
                break
            except engineio.exceptions.QueueEmpty:
                if self._direct is None or self.closed or self.closing or not self.check_ping_timeout():
                    raise
        with self._state:
            self._queued = max(0, self._queued - len(packets))
            if self._direct is not None:
                self._in_hand += len(packets)
        return packets

    def _open(self) -> bool:
        """Whether the websocket is up (not upgrading, not closing)."""
        return self.upgraded and not self.upgrading and not self.closing and not self.closed

    def _room_for(self, nbytes: int) -> bool:
        """Whether the kernel's send buffer takes ``nbytes`` more now, so the write cannot block.

        Asks the kernel how much is still queued to go out (``TIOCOUTQ``) against the buffer's size,
        with room to spare for the frame's and the kernel's own overhead. A screen that stopped reading
        fills its buffer and from then on gets its pushes through the writer thread.
        """
        try:
            fd = self._raw_sock.fileno()
            outq = struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0]
            sndbuf = self._raw_sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        except (OSError, ValueError, AttributeError):
            return False
        return outq + 2 * nbytes + 1024 <= sndbuf // 2

    def _upgrade_websocket(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Accept the websocket without per-message compression, whatever the browser offers."""
        environ.pop(_EXTENSIONS, None)
        return super()._upgrade_websocket(environ, start_response)

    def _websocket_handler(self, ws: Any) -> Any:
        """Run the upstream handler on a websocket whose writer-thread writes take turns with direct ones."""
        side = _WriterSide(ws, self)
        # python-engineio's threading driver wraps simple-websocket's connection (``ws.ws``), which holds
        # the TCP socket (``ws.ws.sock``): that is what :meth:`_room_for` asks.
        sock = getattr(getattr(ws, "ws", None), "sock", None)
        if not self.connected and sock is not None:  # websocket from the start, not an upgrade from polling
            with self._state:
                self._raw_sock = sock
                self._direct = side
        try:
            return super()._websocket_handler(side)
        finally:
            with self._state:
                self._direct = None


class TextPacket(socketio.packet.Packet):
    """A Socket.IO packet whose data is tried as JSON first, and searched for bytes only if that fails.

    python-socketio walks every payload looking for bytes before it encodes it, a dozen microseconds of
    a badge tap's push. The screens' payloads are plain JSON: the text is made at once and kept for
    :meth:`encode`; data with bytes in it fails to encode and goes the upstream way (a binary event).
    """

    def __init__(self, packet_type: int = socketio.packet.EVENT, data: Any = None, namespace: str | None = None,
                 id: int | None = None, binary: bool | None = None, encoded_packet: Any = None) -> None:
        self._text: str | None = None
        if (binary is None and encoded_packet is None and data is not None
                and packet_type in (socketio.packet.EVENT, socketio.packet.ACK)):
            try:
                self._text = self.json.dumps(data, separators=(",", ":"))
                binary = False
            except TypeError:
                pass  # bytes somewhere in it
        super().__init__(packet_type, data, namespace, id, binary, encoded_packet)

    def encode(self) -> Any:
        """As upstream: type, namespace, id, then the JSON text made when the packet was."""
        if self._text is None:
            return super().encode()
        out = str(self.packet_type)
        if self.namespace is not None and self.namespace != "/":
            out += self.namespace + ","
        if self.id is not None:
            out += str(self.id)
        return out + self._text


def publish(server: socketio.Server, event: str, payload: Any, namespace: str, rooms: list[str] | None) -> None:
    """Send ``event`` to the screens of ``namespace`` in any of ``rooms`` (every screen there when None), once each.

    What ``server.emit(event, payload, namespace=namespace, to=rooms)`` does, encoded once and handed
    straight to each screen's Engine.IO socket. With a client manager that shares pushes between processes
    (Redis), it is that ``emit``.
    """
    manager = server.manager
    if isinstance(manager, socketio.PubSubManager):
        server.emit(event, payload, namespace=namespace, to=rooms)
        return
    if namespace not in manager.rooms:
        return  # no screen has connected to it yet
    text = TextPacket(socketio.packet.EVENT, data=[event, payload], namespace=namespace).encode()
    if not isinstance(text, str):  # bytes in the payload: a binary event, which the upstream way sends
        server.emit(event, payload, namespace=namespace, to=rooms)
        return
    for _sid, eio_sid in manager.get_participants(namespace, rooms):
        # The call python-socketio's client manager makes for each screen (Flask-SocketIO's test client
        # hooks it to hear the pushes).
        server._send_eio_packet(eio_sid, engineio.packet.Packet(engineio.packet.MESSAGE, text))


@contextmanager
def ahead_of_pushes(server: socketio.Server, sid: str, namespace: str) -> Iterator[Callable[[str, Any], None]]:
    """Send one connection what it must have before any push, as ``send(event, payload)`` inside the block.

    A screen's snapshot is read while other threads commit and publish. Sent as an ordinary emit, a push
    published after the snapshot's reads but before the snapshot went out reached the screen first, and the
    snapshot then put back the older state: an alert escalated while a screen reloaded stayed at its old
    level there, a tap made while a screen asked for a fresh board showed as still pending. Inside the
    block, pushes to this connection are held back; at its end what ``send`` sent goes out first, then them.
    A screen applies each push as "this is now so", so one the snapshot already shows changes nothing.

    The snapshot is sent from this process even with Redis: the connection is this process's.
    """
    eio_sid = server.manager.eio_sid_from_sid(sid, namespace)
    sock = server.eio.sockets.get(eio_sid) if eio_sid is not None else None
    if not isinstance(sock, DirectSendSocket):  # no Engine.IO socket here (Flask-SocketIO's test client)
        yield lambda event, payload: server.emit(event, payload, to=sid, namespace=namespace, ignore_queue=True)
        return
    first: list[Any] = []

    def send(event: str, payload: Any) -> None:
        encoded = server.packet_class(socketio.packet.EVENT, data=[event, payload], namespace=namespace).encode()
        for part in encoded if isinstance(encoded, list) else [encoded]:
            first.append(engineio.packet.Packet(engineio.packet.MESSAGE, data=part))

    sock.hold()
    try:
        yield send
    finally:
        sock.release(first)


def install() -> None:
    """Make python-engineio create :class:`DirectSendSocket` for every new connection (idempotent)."""
    engineio.server.socket.Socket = DirectSendSocket  # type: ignore[attr-defined]
