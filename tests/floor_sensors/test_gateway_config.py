"""Configuration: the documented example loads; every kind of mistake is refused with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from floor_sensors.config import ConfigError, load_config, parse_config
from floor_sensors.supervision import PointKind

EXAMPLE = """\
[gateway]
id = "floor-3"
server = "http://127.0.0.1:8000"
secret_file = "/etc/floor-sensors/secret"
outbox = "/var/lib/floor-sensors/outbox.db"

[[node]]
id = "door-node-1"
port = "/dev/serial/by-id/usb-Raspberry_Pi_Pico_E6614C311B7A5E31-if00"
baudrate = 115200

[[modbus]]
id = "di-module-1"
port = "/dev/ttyUSB0"
unit = 1
inputs = 8

[[point]]
id = "door:main"
kind = "door"          # door | exit_button | seat | equipment
source = "door-node-1"
channel = 1
"""


def test_the_example_from_the_issue_loads_with_the_documented_defaults(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(EXAMPLE)
    config = load_config(path)
    assert config.gateway.id == "floor-3"
    assert config.gateway.offline_after == 3.0
    assert config.gateway.outbox_capacity == 100_000
    assert config.nodes[0].baudrate == 115200 and config.nodes[0].inputs is None
    module = config.modbus[0]
    assert (module.poll_interval, module.baudrate, module.offline_after_failures) == (0.1, 9600, 3)
    assert config.points[0].kind is PointKind.DOOR
    assert config.points_of("door-node-1") == config.points


def refused(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "/etc/floor-sensors/gateway.toml")
    return info.value.errors


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_an_unknown_source_is_refused_naming_the_file_and_the_line_of_the_source() -> None:
    text = EXAMPLE.replace('source = "door-node-1"', 'source = "door-node-9"')
    [error] = refused(text)
    assert error.startswith(f"/etc/floor-sensors/gateway.toml:{line_of(text, 'door-node-9')}:")
    assert "unknown source 'door-node-9'" in error


def test_a_channel_beyond_the_modbus_inputs_is_refused_with_its_line() -> None:
    text = EXAMPLE + '\n[[point]]\nid = "door:b"\nkind = "door"\nsource = "di-module-1"\nchannel = 9\n'
    [error] = refused(text)
    assert f":{line_of(text, 'channel = 9')}:" in error and "out of range 1..8" in error


def test_a_channel_beyond_the_node_inputs_is_refused() -> None:
    text = EXAMPLE.replace("baudrate = 115200", "baudrate = 115200\ninputs = 4").replace("channel = 1", "channel = 5")
    [error] = refused(text)
    assert "channel 5 out of range 1..4" in error


def test_a_channel_of_zero_is_refused() -> None:
    [error] = refused(EXAMPLE.replace("channel = 1", "channel = 0"))
    assert "out of range" in error


def test_a_duplicate_point_id_is_refused_at_the_second_one() -> None:
    text = EXAMPLE + '\n[[point]]\nid = "door:main"\nkind = "door"\nsource = "di-module-1"\nchannel = 2\n'
    [error] = refused(text)
    second = [i for i, line in enumerate(text.splitlines(), 1) if 'id = "door:main"' in line][1]
    assert f":{second}:" in error and "duplicate point id" in error


def test_two_points_on_one_channel_are_refused() -> None:
    text = EXAMPLE + '\n[[point]]\nid = "door:other"\nkind = "door"\nsource = "door-node-1"\nchannel = 1\n'
    assert "already point 'door:main'" in refused(text)[0]


def test_an_unknown_kind_is_refused_with_its_line() -> None:
    text = EXAMPLE.replace('kind = "door"', 'kind = "window"')
    [error] = refused(text)
    assert f":{line_of(text, 'window')}:" in error and "unknown kind 'window'" in error


def test_a_missing_key_is_refused_at_the_header_of_its_table() -> None:
    text = EXAMPLE.replace('unit = 1\n', "")
    [error] = refused(text)
    assert f":{line_of(text, '[[modbus]]')}:" in error and "missing key 'unit'" in error


def test_a_missing_gateway_table_is_refused() -> None:
    assert "missing table [gateway]" in refused(EXAMPLE.split("[[node]]")[1].join(["[[node]]", ""]))[0]


def test_an_unknown_key_is_refused_so_that_typos_do_not_pass() -> None:
    text = EXAMPLE.replace("unit = 1", "unit = 1\npoll_intervall = 0.2")
    [error] = refused(text)
    assert f":{line_of(text, 'poll_intervall')}:" in error


def test_a_wrong_type_is_refused() -> None:
    assert "channel must be int" in refused(EXAMPLE.replace("channel = 1", 'channel = "1"'))[0]


def test_a_node_id_that_fsn1_cannot_carry_is_refused() -> None:
    errors = refused(EXAMPLE.replace('id = "door-node-1"', 'id = "door node 1 with a long name"'))
    assert any("FSN/1 node_id" in e for e in errors)


def test_invert_is_refused_on_fsn1_nodes() -> None:
    assert "Modbus inputs only" in refused(EXAMPLE.replace("channel = 1", "channel = 1\ninvert = true"))[0]


def test_a_toml_syntax_error_names_the_file_and_line() -> None:
    text = EXAMPLE.replace('unit = 1', 'unit = = 1')
    [error] = refused(text)
    assert error.startswith(f"/etc/floor-sensors/gateway.toml:{line_of(text, 'unit = = 1')}:")


def test_every_problem_is_listed_not_just_the_first() -> None:
    text = EXAMPLE.replace('kind = "door"', 'kind = "window"').replace("unit = 1", "unit = 0")
    assert len(refused(text)) == 2


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert "nope.toml" in str(info.value)
