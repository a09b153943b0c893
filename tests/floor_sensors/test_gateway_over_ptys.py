"""The whole gateway in-process against simulated FSN/1 nodes on real ptys and a fake kiosk server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fake_kiosk_server import KioskStub, wait_until
from floor_sensors.config import load_config
from floor_sensors.gateway import Gateway
from floor_sensors.protocol import In, encode_frame
from floor_sensors.simulator import SimulatedNode, SimulatorHost
from gateway_harness import SECRET, write_config

pytestmark = pytest.mark.hardware_sim


@dataclass
class Rig:
    server: KioskStub
    host: SimulatorHost
    node: SimulatedNode
    gateway: Gateway

    def states(self, point: str) -> list[tuple[str, str, bool]]:
        return [(e["previous"], e["state"], e["reconciled"]) for e in self.server.point_events(point)]

    def last_state(self, point: str) -> str | None:
        events = self.server.point_events(point)
        return events[-1]["state"] if events else None

    def health_states(self) -> list[str]:
        return [e["state"] for e in self.server.snapshot() if e["type"] == "node_health"]


def make_rig(tmp_path: Path, *, buffered: bool) -> Iterator[Rig]:
    with KioskStub(SECRET) as server:
        host = SimulatorHost()
        link = str(tmp_path / "dev" / "door-node-1")
        node = host.add(SimulatedNode("door-node-1", inputs=4, buffered=buffered), link=link)
        host.start()
        config = load_config(write_config(tmp_path, server.url, {"door-node-1": link}))
        gateway = Gateway(config, tick=0.02)
        gateway.start()
        rig = Rig(server, host, node, gateway)
        try:
            assert wait_until(lambda: rig.last_state("door:door-node-1") == "closed"), "the first state never arrived"
            yield rig
        finally:
            gateway.stop()
            host.stop()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    yield from make_rig(tmp_path, buffered=False)


@pytest.fixture
def buffered_rig(tmp_path: Path) -> Iterator[Rig]:
    yield from make_rig(tmp_path, buffered=True)


def test_the_first_heartbeat_reaches_the_server_as_reconciled_states(rig: Rig) -> None:
    assert rig.states("door:door-node-1")[0] == ("unknown", "closed", True)
    assert wait_until(lambda: rig.last_state("seat:door-node-1") == "vacant")
    assert "online" in rig.health_states()


def test_a_door_opened_on_the_node_reaches_the_server_as_an_observed_change(rig: Rig) -> None:
    rig.node.set_channel(1, "A")
    assert wait_until(lambda: rig.last_state("door:door-node-1") == "open")
    assert rig.states("door:door-node-1")[-1] == ("closed", "open", False)


def test_a_cut_wire_and_a_tamper_are_fault_and_tamper_never_closed(rig: Rig) -> None:
    rig.node.set_channel(1, "F")
    rig.node.set_channel(4, "T")
    assert wait_until(lambda: rig.last_state("door:door-node-1") == "fault")
    assert wait_until(lambda: rig.last_state("equip:door-node-1") == "tamper")


def test_pulling_the_node_mid_frame_makes_it_offline_with_no_phantom_open_or_close(rig: Rig) -> None:
    rig.node.set_channel(1, "A")
    assert wait_until(lambda: rig.last_state("door:door-node-1") == "open")
    before = len(rig.server.point_events("door:door-node-1"))
    rig.node.unplug(mid_frame=True)
    assert wait_until(lambda: "offline" in rig.health_states(), timeout=rig.gateway.config.gateway.offline_after + 2)
    assert wait_until(lambda: rig.last_state("door:door-node-1") == "unknown")
    after = rig.states("door:door-node-1")[before:]
    assert after == [("open", "unknown", False)]


def test_a_silent_node_goes_offline_after_the_configured_time_and_back_online_when_heard(rig: Rig) -> None:
    rig.node.go_silent()
    assert wait_until(lambda: rig.last_state("door:door-node-1") == "unknown", timeout=3)
    rig.node.resume()
    assert wait_until(lambda: rig.last_state("door:door-node-1") == "closed", timeout=3)
    assert rig.health_states()[-2:] == ["offline", "online"]


def test_frames_dropped_on_the_line_are_a_gap_answered_by_snap_and_reconciled(rig: Rig) -> None:
    snaps_before = rig.node.snaps
    rig.node.drop_next(1)
    rig.node.set_channel(1, "A")  # lost on the line
    rig.node.set_channel(3, "A")  # arrives with a seq that skips one
    assert wait_until(lambda: rig.last_state("door:door-node-1") == "open")
    assert rig.states("door:door-node-1")[-1] == ("closed", "open", True)
    assert rig.states("seat:door-node-1")[-1] == ("vacant", "occupied", False)
    assert rig.node.snaps > snaps_before
    assert rig.gateway.supervisors["door-node-1"].counters.gaps >= 1


def test_unplug_and_replug_reopens_the_port_with_backoff_and_resumes(rig: Rig) -> None:
    link = rig.gateway.links["door-node-1"]
    rig.node.unplug()
    assert wait_until(lambda: rig.last_state("door:door-node-1") == "unknown")
    rig.node.set_channel(1, "A")  # while unplugged: the gateway cannot see it
    rig.node.replug()
    assert wait_until(lambda: rig.last_state("door:door-node-1") == "open", timeout=5)
    assert rig.states("door:door-node-1")[-1] == ("unknown", "open", True)
    assert link.opens == 2
    rig.node.set_channel(1, "N")
    assert wait_until(lambda: rig.last_state("door:door-node-1") == "closed")


def test_garbage_on_the_line_is_counted_and_changes_nothing(rig: Rig) -> None:
    rig.node.inject_garbage(b"\x00\xff$door-node-1,99,IN,1,A,5*0000\r\n$$$" + b"x" * 200 + b"\r\n")
    sup = rig.gateway.supervisors["door-node-1"]
    assert wait_until(lambda: sup.counters.crc_errors >= 1 and sup.counters.dropped >= 1)
    rig.node.set_channel(3, "A")
    assert wait_until(lambda: rig.last_state("seat:door-node-1") == "occupied")
    assert rig.last_state("door:door-node-1") == "closed"


def test_a_buffered_node_gets_its_in_frames_acknowledged(buffered_rig: Rig) -> None:
    buffered_rig.node.set_channel(1, "A")
    assert wait_until(lambda: buffered_rig.last_state("door:door-node-1") == "open")
    assert wait_until(lambda: buffered_rig.node.pending() == [])
    assert buffered_rig.node.acked


def test_a_re_sent_in_frame_is_de_duplicated_end_to_end(buffered_rig: Rig) -> None:
    node = buffered_rig.node
    node.set_channel(1, "A")
    assert wait_until(lambda: node.pending() == [])
    first_in = node.transmitted(In)[-1]
    node.send_raw(encode_frame(first_in))  # the same seq again, as after a lost ACK
    sup = buffered_rig.gateway.supervisors["door-node-1"]
    assert wait_until(lambda: sup.counters.duplicates == 1)
    assert [s for s in buffered_rig.states("door:door-node-1") if s[1] == "open"] == [("closed", "open", False)]


def test_a_reboot_is_reported_as_a_restart(buffered_rig: Rig) -> None:
    buffered_rig.node.reboot()
    assert wait_until(lambda: "restarted" in buffered_rig.health_states())
    assert buffered_rig.gateway.supervisors["door-node-1"].counters.restarts == 1


def test_changes_made_while_the_server_is_down_arrive_once_and_in_order_when_it_is_back(buffered_rig: Rig) -> None:
    rig = buffered_rig
    rig.server.down = True
    for _ in range(6):
        rig.node.toggle(1)
        assert wait_until(lambda: rig.node.pending() == [])  # acknowledged: it is in the outbox
    assert len(rig.server.point_events("door:door-node-1")) == 1  # only the first state got through
    rig.server.down = False
    assert wait_until(lambda: len(rig.server.point_events("door:door-node-1")) == 7)
    events = rig.server.point_events("door:door-node-1")
    assert [e["state"] for e in events] == ["closed", "open", "closed", "open", "closed", "open", "closed"]
    assert all(b["previous"] == a["state"] for a, b in zip(events, events[1:]))
    assert len(rig.server.received_ids) == len(set(rig.server.received_ids))
