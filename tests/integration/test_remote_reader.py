"""A reader on a kiosk PC forwards taps to a server elsewhere: signed, through an outbox, each handled once."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench._common import free_port, start_kiosk  # noqa: E402
from kiosk.config import load_config  # noqa: E402
from kiosk.devices.remote_reader import RemoteReader  # noqa: E402
from kiosk.devices.sim import SimulatedReader  # noqa: E402
from kiosk.services import demo  # noqa: E402
from kiosk.services.context import ServiceContext  # noqa: E402
from kiosk.store.db import make_engine, make_sessionmaker, upgrade  # noqa: E402
from kiosk.store.models import AttendanceRecord, Event  # noqa: E402

SECRET = b"remote-reader-secret"


@pytest.fixture
def floor(tmp_path):
    instance = tmp_path / "instance"
    cfg = load_config(instance, environ={})
    upgrade(cfg["DATABASE_URL"])
    engine = make_engine(cfg["DATABASE_URL"])
    ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
    panel = demo.generate(ctx)  # the first shift's roll call is open now
    yield instance, engine, panel
    engine.dispose()


def wait_until(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def count(engine, table, *where):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_taps_made_while_the_server_is_down_are_answered_once_it_is_up(floor, tmp_path):
    instance, engine, panel = floor
    port = free_port()
    sim = SimulatedReader(reader_id="kiosk-floor3", debounce=0.0)
    remote = RemoteReader(sim, reader_id="kiosk-floor3", server=f"http://127.0.0.1:{port}", secret=SECRET,
                          outbox_path=str(tmp_path / "reader-outbox.db"))
    remote.forwarder.retry_max = 0.3
    import threading

    stop = threading.Event()
    runner = threading.Thread(target=remote.run, args=(stop,), daemon=True)
    runner.start()
    wait_until(lambda: remote.health["state"] == "connected")
    operator = panel[1]["uid"]  # an operator of the open roll call
    assert sim.tap(operator) is not None and sim.tap("DEADBEEF0001") is not None
    assert len(remote.outbox) >= 2  # kept while nobody answers
    proc = start_kiosk(instance, port, KIOSK_NFC_DEVICE="none", KIOSK_GATEWAY_SECRETS="kiosk-floor3=" + SECRET.decode())
    try:
        att = AttendanceRecord.__table__
        ev = Event.__table__
        wait_until(lambda: count(engine, ev, ev.c.kind == "rollcall_tap") == 2)
        assert count(engine, att, att.c.status == "present") == 1
        wait_until(lambda: len(remote.outbox) == 0)
        sim.tap(operator)  # again: a duplicate at roll call, not a second mark
        wait_until(lambda: count(engine, ev, ev.c.kind == "rollcall_tap") == 3)
        assert count(engine, att) == 1
    finally:
        stop.set()
        runner.join(timeout=10)
        proc.terminate()
        proc.wait(timeout=10)


def test_a_reader_with_the_wrong_secret_is_refused_and_keeps_its_taps(floor, tmp_path):
    instance, engine, panel = floor
    port = free_port()
    proc = start_kiosk(instance, port, KIOSK_NFC_DEVICE="none", KIOSK_GATEWAY_SECRETS="kiosk-floor3=other")
    try:
        sim = SimulatedReader(reader_id="kiosk-floor3", debounce=0.0)
        remote = RemoteReader(sim, reader_id="kiosk-floor3", server=f"http://127.0.0.1:{port}", secret=SECRET,
                              outbox_path=str(tmp_path / "o.db"))
        remote.forwarder.retry_max = 0.3
        import threading

        stop = threading.Event()
        runner = threading.Thread(target=remote.run, args=(stop,), daemon=True)
        runner.start()
        wait_until(lambda: remote.health["state"] == "connected")
        assert sim.tap(panel[1]["uid"]) is not None
        ev = Event.__table__
        wait_until(lambda: count(engine, ev, ev.c.kind == "gateway_refused") >= 1)
        assert len(remote.outbox) == 1 and count(engine, ev, ev.c.kind == "rollcall_tap") == 0
        stop.set()
        runner.join(timeout=10)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_reader_process_under_systemd_says_ready_and_pets_the_watchdog_while_its_server_is_away(tmp_path):
    import os
    import subprocess

    from fake_systemd import NotifySocket

    systemd = NotifySocket()
    secret = tmp_path / "reader.secret"
    secret.write_text(SECRET.decode())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIOSK_", "NOTIFY_", "WATCHDOG_"))}
    proc = subprocess.Popen([sys.executable, "-m", "kiosk.cli", "--instance", str(tmp_path / "instance"), "reader",
                             "--server", f"http://127.0.0.1:{free_port()}", "--reader-id", "kiosk-floor3",
                             "--device", "sim", "--secret-file", str(secret)],
                            env={**env, **systemd.env(watchdog_seconds=1.0)}, cwd=Path(__file__).resolve().parents[2],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ready = systemd.wait_for("READY")
        assert ready["STATUS"].startswith("reader kiosk-floor3 ")
        # Nobody answers at the server's address: no reason to restart, the outbox keeps the taps.
        ping = systemd.wait_for("WATCHDOG", where=lambda m: "server unreachable" in m["STATUS"])
        assert "taps waiting in the outbox" in ping["STATUS"]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        systemd.close()
    assert proc.returncode == 0, out
