"""Modbus DI modules: the gateway's poller against pymodbus's own RTU server on a pty pair."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_kiosk_server import KioskStub, wait_until
from floor_sensors.config import ModbusConfig, load_config
from floor_sensors.gateway import Gateway
from floor_sensors.links import PollFailed, PollResult
from floor_sensors.modbus import ModbusPoller
from gateway_harness import SECRET, write_config
from modbus_peer import ModbusDIServer

pytestmark = pytest.mark.hardware_sim


@pytest.fixture
def peer() -> Iterator[ModbusDIServer]:
    with ModbusDIServer(unit=1) as server:
        yield server


def module_config(port: str, **kw: object) -> ModbusConfig:
    options: dict[str, object] = dict(poll_interval=0.05, timeout=0.15, offline_after_failures=3)
    options.update(kw)
    return ModbusConfig(id="di-module-1", port=port, unit=1, inputs=8, **options)  # type: ignore[arg-type]


def test_one_poll_reads_the_discrete_inputs_in_channel_order(peer: ModbusDIServer) -> None:
    peer.bits[0] = True
    peer.bits[2] = True
    got: list[object] = []
    poller = ModbusPoller(module_config(peer.client_port), got.append)
    try:
        poller.poll_once()
    finally:
        poller.stop()
    assert len(got) == 1 and isinstance(got[0], PollResult)
    assert got[0].bits == (True, False, True, False, False, False, False, False)


def test_a_poll_of_a_missing_port_fails_without_raising(tmp_path: Path) -> None:
    got: list[object] = []
    poller = ModbusPoller(module_config(str(tmp_path / "nope")), got.append)
    poller.poll_once()
    poller.poll_once()
    assert [type(g) for g in got] == [PollFailed, PollFailed]


@pytest.fixture
def gateway(tmp_path: Path, peer: ModbusDIServer) -> Iterator[tuple[Gateway, KioskStub]]:
    with KioskStub(SECRET) as server:
        module = {"id": "di-module-1", "port": peer.client_port, "unit": 1, "inputs": 8,
                  "poll_interval": 0.05, "timeout": 0.15, "offline_after_failures": 3}
        points = [("door:b", "door", "di-module-1", 1), ("seat:b", "seat", "di-module-1", 2)]
        config = load_config(write_config(tmp_path, server.url, {}, points=points, modbus=[module]))
        gw = Gateway(config, tick=0.02)
        gw.start()
        try:
            yield gw, server
        finally:
            gw.stop()


def last_state(server: KioskStub, point: str) -> str | None:
    events = server.point_events(point)
    return events[-1]["state"] if events else None


def test_discrete_inputs_become_point_changes_through_the_gateway(
    gateway: tuple[Gateway, KioskStub], peer: ModbusDIServer
) -> None:
    gw, server = gateway
    peer.bits[0] = True  # door contact closed
    assert wait_until(lambda: last_state(server, "door:b") == "closed")
    peer.bits[0] = False
    peer.bits[1] = False
    assert wait_until(lambda: last_state(server, "door:b") == "open")
    assert server.point_events("door:b")[-1]["reconciled"] is False
    assert last_state(server, "seat:b") == "occupied"  # DI off: mat loaded (contact open)


def test_a_silent_module_goes_offline_after_n_failed_polls_and_comes_back(
    gateway: tuple[Gateway, KioskStub], peer: ModbusDIServer
) -> None:
    gw, server = gateway
    peer.bits[0] = True
    assert wait_until(lambda: last_state(server, "door:b") == "closed")
    peer.muted = True
    assert wait_until(lambda: last_state(server, "door:b") == "unknown", timeout=5)
    health = [e["state"] for e in server.snapshot() if e["type"] == "node_health"]
    assert health[-1] == "offline"
    assert gw.supervisors["di-module-1"].counters.dropped >= 3
    peer.muted = False
    assert wait_until(lambda: last_state(server, "door:b") == "closed", timeout=5)
    assert server.point_events("door:b")[-1]["reconciled"] is True
