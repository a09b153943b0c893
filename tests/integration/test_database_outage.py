"""PostgreSQL restarted under a running server: requests fail fast with a clear error, then recover by themselves."""

from __future__ import annotations

import secrets
import socket
import threading
import time

import pytest
from kiosk.web import create_app


class Relay:
    """A TCP relay in front of PostgreSQL that a test can cut (as a restart does) and restore."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(32)
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()  # refused while "restarting"
                continue
            server = socket.create_connection(self.upstream)
            self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Drop every connection and refuse new ones, as a restarting server does."""
        self.up.clear()
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.conns.clear()

    def restore(self) -> None:
        """Accept connections again."""
        self.up.set()


@pytest.fixture
def pg_behind_relay(tmp_path, pg_template):
    admin, user, template = pg_template
    name = f"floorkiosk_t_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    relay = Relay(("127.0.0.1", 5432))
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "kiosk.toml").write_text(
        f'database_url = "postgresql+psycopg://{user}@127.0.0.1:{relay.port}/{name}"\nnfc_device = "none"\n')
    yield instance, relay
    relay.cut()
    relay.listener.close()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_a_request_during_a_database_restart_fails_fast_with_a_message_and_later_ones_succeed(pg_behind_relay):
    instance, relay = pg_behind_relay
    client = create_app(instance=str(instance)).test_client()
    assert client.get("/api/v1/rollcall").status_code == 200
    relay.cut()
    started = time.monotonic()
    resp = client.get("/api/v1/rollcall")
    assert resp.status_code == 503 and resp.get_json()["error"] == "database_unavailable"
    assert "try again" in resp.get_json()["message"]
    assert time.monotonic() - started < 10  # fails fast, does not hang
    relay.restore()
    assert client.get("/api/v1/rollcall").status_code == 200  # no server restart needed
