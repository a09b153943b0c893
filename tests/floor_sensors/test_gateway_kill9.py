"""kill -9 of the gateway process in the middle of a burst loses nothing that reached the outbox."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_kiosk_server import KioskStub, wait_until
from floor_sensors.simulator import SimulatedNode, SimulatorHost
from gateway_harness import SECRET, write_config

pytestmark = pytest.mark.hardware_sim


def start_gateway(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "floor_sensors.cli", "--log-level", "WARNING", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        cwd=Path(__file__).resolve().parents[2],
    )


def outbox_state(db: Path) -> tuple[int, set[int]]:
    """Return (largest event number ever stored, numbers still stored) from the outbox file."""
    con = sqlite3.connect(db)
    try:
        row = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        stored = {n for (n,) in con.execute("SELECT n FROM events")}
    finally:
        con.close()
    return (row[0] if row else 0), stored


def number_of(event_id: str) -> int:
    return int(event_id.rsplit("-", 1)[1])


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


def test_kill_9_during_a_burst_then_restart_delivers_everything_that_reached_the_outbox(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    log = tmp_path / "gateway.log"
    with KioskStub(SECRET) as server, SimulatorHost() as host:
        link = str(tmp_path / "dev" / "door-node-1")
        node = host.add(SimulatedNode("door-node-1", inputs=4, buffered=True, buffer_size=64), link=link)
        host.start()
        config = write_config(tmp_path, server.url, {"door-node-1": link}, offline_after=1.0,
                              extra_gateway="batch_size = 5")
        processes.append(start_gateway(config, log))
        assert wait_until(lambda: bool(server.point_events("door:door-node-1")), timeout=20), log.read_text()

        burst_done = threading.Event()

        def burst() -> None:
            while not burst_done.wait(0.004):
                node.toggle(1)

        burster = threading.Thread(target=burst, daemon=True)
        burster.start()
        try:
            # Kill while events are flowing: some delivered, some in flight, some only in the outbox.
            server.delay = 0.05
            assert wait_until(
                lambda: len(server.point_events("door:door-node-1")) >= 10 and len(outbox_state(tmp_path / "outbox.db")[1]) >= 20,
                timeout=20,
            ), log.read_text()
            processes[0].send_signal(signal.SIGKILL)
            processes[0].wait(5)
            acked_before_kill = {seq for boot, seq in list(node.acked) if boot == 1}
        finally:
            burst_done.set()
            burster.join(2)

        last_number, stored_at_kill = outbox_state(tmp_path / "outbox.db")
        assert last_number > 0

        server.delay = 0.0
        processes.append(start_gateway(config, log))
        run1 = set(range(1, last_number + 1))
        assert wait_until(
            lambda: run1 <= {number_of(i) for i in server.received_ids}, timeout=30
        ), f"missing {sorted(run1 - {number_of(i) for i in server.received_ids})[:20]}\n{log.read_text()}"

        delivered = server.snapshot()
        numbers = {number_of(e["id"]) for e in delivered}
        # Nothing that reached the outbox before the kill is lost, whether it had been
        # delivered, was in flight, or was still waiting in the file.
        assert run1 <= numbers
        assert {n for n in stored_at_kill} <= numbers
        # Every IN frame the first gateway acknowledged had been committed first: each is
        # an observed change of the door among the first run's events.
        observed_run1 = [
            e for e in delivered
            if number_of(e["id"]) <= last_number and e.get("point") == "door:door-node-1" and not e["reconciled"]
        ]
        assert len(observed_run1) >= len(acked_before_kill) > 0
        # And in order: each batch was sent oldest first.
        first_copies = [number_of(i) for i in dict.fromkeys(server.received_ids)]
        assert first_copies == sorted(first_copies)
    assert os.path.exists(tmp_path / "outbox.db")
