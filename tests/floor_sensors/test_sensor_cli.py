"""The floor-sensors command line: check-config, run refusing a bad config, simulate scripts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from floor_sensors.cli import main
from floor_sensors.protocol import Boot, In
from floor_sensors.simulator import ScriptError, parse_script, run_script
from gateway_harness import write_config


def test_check_config_accepts_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, "http://127.0.0.1:9", {"door-node-1": "/dev/null"})
    assert main(["check-config", str(path)]) == 0
    assert "OK: gateway floor-3, 1 node(s), 0 Modbus module(s), 4 point(s)" in capsys.readouterr().out


def test_check_config_refuses_a_bad_file_naming_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, "http://127.0.0.1:9", {"door-node-1": "/dev/null"})
    text = path.read_text().replace('kind = "seat"', 'kind = "sofa"')
    path.write_text(text)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "sofa" in l)
    assert main(["check-config", str(path)]) == 2
    assert f"{path}:{line}: [[point]] 'seat:door-node-1': unknown kind 'sofa'" in capsys.readouterr().err


def test_run_refuses_to_start_on_a_bad_config(tmp_path: Path) -> None:
    path = write_config(tmp_path, "http://127.0.0.1:9", {"door-node-1": "/dev/null"})
    path.write_text(path.read_text().replace("channel = 4", "channel = 40"))
    result = subprocess.run(
        [sys.executable, "-m", "floor_sensors.cli", "run", "--config", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert f"{path}:" in result.stderr and "channel 40 out of range" in result.stderr


SCRIPT = """\
# a door node and a seat row
node door-node-1 inputs=4 buffered=yes link={link}
node seat-row-a inputs=8 states=NNNNNNNN heartbeat=0.2
at 0.05 door-node-1 set 1 A      # open door 1
at 0.1 door-node-1 set 2 F       # cut wire
at 0.1 door-node-1 garbage 2a24ff0d0a
every 0.05 seat-row-a toggle 1
at 0.3 end
"""


def test_a_script_parses_into_nodes_and_timed_steps(tmp_path: Path) -> None:
    script = parse_script(SCRIPT.format(link=tmp_path / "l"))
    assert [n.node_id for n in script.nodes] == ["door-node-1", "seat-row-a"]
    assert script.nodes[0].buffered and script.nodes[1].heartbeat == 0.2
    assert [(s.at, s.action, s.args) for s in script.steps][:2] == [(0.05, "set", ["1", "A"]), (0.1, "set", ["2", "F"])]
    assert script.steps[-1].every == 0.05 and script.end == 0.3


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("at 1 ghost set 1 A", "unknown node 'ghost'"),
        ("node n1\nat 1 n1 fly", "unknown action 'fly'"),
        ("node n1\nat 1 n1 set 1", "set takes 2 argument(s)"),
        ("node n1 colour=red", "unknown node option 'colour'"),
        ("node n1\nat soon n1 reboot", "cannot read"),
    ],
)
def test_a_bad_script_line_is_refused_with_its_line_number(text: str, fragment: str) -> None:
    with pytest.raises(ScriptError) as info:
        parse_script(text, "demo.fsnsim")
    assert fragment in str(info.value) and "demo.fsnsim:" in str(info.value)


@pytest.mark.hardware_sim
def test_a_script_runs_its_steps_on_real_ptys(tmp_path: Path) -> None:
    link = tmp_path / "dev" / "door-node-1"
    seen: dict[str, str] = {}
    host = run_script(parse_script(SCRIPT.format(link=link)), on_ready=lambda h: seen.update(
        {k: n.port for k, n in h.nodes.items()}))
    assert seen["door-node-1"] == str(link)
    door = host.nodes["door-node-1"]
    assert isinstance(door.sent[0].frame, Boot)
    assert [(f.channel, f.state) for f in door.transmitted(In)] == [(1, "A"), (2, "F")]
    toggles = host.nodes["seat-row-a"].transmitted(In)
    assert len(toggles) >= 3
    assert not link.exists()  # the stable link goes away with the simulator


@pytest.mark.hardware_sim
def test_simulate_prints_the_port_of_each_node(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "floor_sensors.cli", "simulate", "--nodes", "2", "--link-dir", str(tmp_path),
         "--ports-file", str(tmp_path / "ports.json"), "--duration", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert out.splitlines() == [f"sim-node-1 {tmp_path / 'sim-node-1'}", f"sim-node-2 {tmp_path / 'sim-node-2'}"]
    assert (tmp_path / "ports.json").exists()
