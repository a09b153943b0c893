"""The gateway under systemd (Type=notify, WatchdogSec=): ready once running, pinged from its supervision loop."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_kiosk_server import KioskStub
from fake_systemd import NotifySocket
from floor_sensors.config import load_config
from floor_sensors.gateway import Gateway
from floor_sensors.sdnotify import Notifier
from floor_sensors.simulator import SimulatedNode, SimulatorHost
from gateway_harness import SECRET, write_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def systemd() -> Iterator[NotifySocket]:
    sock = NotifySocket(abstract=True)  # NOTIFY_SOCKET=@name, as systemd's own socket is given
    yield sock
    sock.close()


@pytest.mark.hardware_sim
def test_the_gateway_process_says_ready_then_pets_the_watchdog_with_its_nodes_and_outbox(
        tmp_path: Path, systemd: NotifySocket) -> None:
    with KioskStub(SECRET) as server:
        host = SimulatorHost()
        link = str(tmp_path / "dev" / "door-node-1")
        host.add(SimulatedNode("door-node-1", inputs=4), link=link)
        host.start()
        config = write_config(tmp_path, server.url, {"door-node-1": link})
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
        proc = subprocess.Popen([sys.executable, "-m", "floor_sensors.cli", "--log-level", "WARNING", "run",
                                 "--config", str(config)], env={**env, **systemd.env(watchdog_seconds=1.0)},
                                cwd=ROOT, stderr=subprocess.PIPE, text=True)
        try:
            ready = systemd.wait_for("READY")
            assert "nodes online" in ready["STATUS"] and "events in the outbox" in ready["STATUS"]
            ping = systemd.wait_for("WATCHDOG", where=lambda m: m["STATUS"].startswith("1 of 1 nodes online"))
            assert "kiosk server reachable" in ping["STATUS"]
        finally:
            proc.terminate()
            _, stderr = proc.communicate(timeout=10)
            host.stop()
    assert proc.returncode == 0, stderr
    systemd.wait_for("STOPPING", timeout=5)


def test_a_hung_supervision_loop_stops_the_pings_and_they_resume_when_it_moves_again(
        tmp_path: Path) -> None:
    systemd = NotifySocket()
    hang, hung, release = object(), threading.Event(), threading.Event()
    with KioskStub(SECRET) as server:
        config = load_config(write_config(tmp_path, server.url, {"door-node-1": str(tmp_path / "no-such-port")}))
        gateway = Gateway(config, tick=0.02, notifier=Notifier(systemd.env(watchdog_seconds=0.2)))
        supervise = gateway._supervise

        def supervise_or_hang(item):  # type: ignore[no-untyped-def]
            if item is hang:  # a link event whose handling never returns, as a stuck outbox write would
                hung.set()
                release.wait()
                return []
            return supervise(item)

        gateway._supervise = supervise_or_hang  # type: ignore[method-assign]
        gateway.start()
        try:
            systemd.wait_for("WATCHDOG", timeout=5)
            gateway.queue.put(hang)  # type: ignore[arg-type]
            assert hung.wait(5)
            while systemd.next(timeout=0.01) is not None:
                pass  # pings sent before the loop hung
            assert systemd.next(timeout=1.0) is None, "pinged while the loop was hung"  # ten ping intervals
            release.set()
            systemd.wait_for("WATCHDOG", timeout=5)
        finally:
            release.set()
            gateway.stop()
            systemd.close()
