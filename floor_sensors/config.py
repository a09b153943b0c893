"""The gateway's TOML configuration: load it, check it, refuse it with file and line.

Example (every key, optional ones with their defaults)::

    [gateway]
    id = "floor-3"
    server = "http://127.0.0.1:8000"
    secret_file = "/etc/floor-sensors/secret"
    outbox = "/var/lib/floor-sensors/outbox.db"
    offline_after = 3.0        # s without a valid frame before a node is offline
    batch_size = 200           # events per POST
    outbox_capacity = 100000   # events kept while the server is unreachable
    health_interval = 10.0     # s between health reports when nothing else is sent
    retry_initial = 0.5        # s, first back-off after a failed POST (doubles)
    retry_max = 30.0           # s, back-off cap
    http_timeout = 5.0         # s per POST

    [[node]]                   # one FSN/1 node per serial port
    id = "door-node-1"         # the node_id it sends (1-16 of A-Z a-z 0-9 _ -)
    port = "/dev/serial/by-id/usb-Raspberry_Pi_Pico_E6614C311B7A5E31-if00"
    baudrate = 115200
    inputs = 4                 # optional: channels expected (else learned from BOOT)
    reconnect_initial = 0.1    # s, first back-off after the port vanished (doubles)
    reconnect_max = 5.0        # s, back-off cap

    [[modbus]]                 # one Modbus RTU discrete-input module
    id = "di-module-1"
    port = "/dev/ttyUSB0"
    unit = 1
    inputs = 8                 # discrete inputs read, from address 0
    poll_interval = 0.1
    baudrate = 9600
    offline_after_failures = 3
    timeout = 0.3              # s to wait for an answer

    [[point]]
    id = "door:main"
    kind = "door"              # door | exit_button | seat | equipment
    source = "door-node-1"     # a node or modbus id
    channel = 1                # 1-based channel / discrete input (1 = address 0)
    invert = false             # Modbus only: DI on means "active" instead of "contact closed"

A configuration that is wrong in any way is refused at start with every problem
listed as ``FILE:LINE: message``. ``tomllib`` gives lines for syntax errors
only, so for the others the line is found by scanning the text for the table
and key at fault.
"""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from floor_sensors.supervision import PointKind

logger = logging.getLogger(__name__)

_NODE_ID = re.compile(r"[A-Za-z0-9_-]{1,16}\Z")
_GATEWAY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
_HEADER = re.compile(r"^\s*\[(\[)?\s*([A-Za-z0-9_-]+)\s*\]")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


class ConfigError(Exception):
    """The configuration is refused; ``errors`` lists ``FILE:LINE: message`` strings."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class GatewayConfig:
    """The ``[gateway]`` table."""

    id: str
    server: str
    secret_file: str
    outbox: str
    offline_after: float = 3.0
    batch_size: int = 200
    outbox_capacity: int = 100_000
    health_interval: float = 10.0
    retry_initial: float = 0.5
    retry_max: float = 30.0
    http_timeout: float = 5.0


@dataclass(frozen=True)
class NodeConfig:
    """One ``[[node]]``: an FSN/1 node on its own serial port."""

    id: str
    port: str
    baudrate: int = 115200
    inputs: int | None = None
    reconnect_initial: float = 0.1
    reconnect_max: float = 5.0


@dataclass(frozen=True)
class ModbusConfig:
    """One ``[[modbus]]``: a Modbus RTU discrete-input module."""

    id: str
    port: str
    unit: int
    inputs: int
    poll_interval: float = 0.1
    baudrate: int = 9600
    offline_after_failures: int = 3
    timeout: float = 0.3


@dataclass(frozen=True)
class PointConfig:
    """One ``[[point]]``: a door, exit button, seat or piece of equipment on a channel."""

    id: str
    kind: PointKind
    source: str
    channel: int
    invert: bool = False


@dataclass(frozen=True)
class Config:
    """The whole configuration, checked."""

    path: str
    gateway: GatewayConfig
    nodes: list[NodeConfig] = field(default_factory=list)
    modbus: list[ModbusConfig] = field(default_factory=list)
    points: list[PointConfig] = field(default_factory=list)

    def points_of(self, source: str) -> list[PointConfig]:
        """Return the points wired to ``source``."""
        return [p for p in self.points if p.source == source]


class _Lines:
    """Where each table and key of a TOML text starts, for error messages."""

    def __init__(self, text: str) -> None:
        self.where: dict[tuple[str, int], dict[str, int]] = {}
        counts: dict[str, int] = {}
        current: tuple[str, int] | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                name = header.group(2)
                index = counts.get(name, -1) + 1 if header.group(1) else 0
                counts[name] = index
                current = (name, index)
                self.where.setdefault(current, {"": number})
                continue
            key = _KEY.match(line)
            if key and current is not None:
                self.where[current].setdefault(key.group(1), number)

    def line(self, table: str, index: int, key: str = "") -> int:
        """Return the line of ``key`` in the ``index``-th ``table`` (its header if no key)."""
        keys = self.where.get((table, index), {})
        return keys.get(key) or keys.get("", 0) or 1


class _Checker:
    """Collects every problem of one configuration text."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = _Lines(text)
        self.errors: list[str] = []

    def fail(self, table: str, index: int, key: str, message: str) -> None:
        self.errors.append(f"{self.path}:{self.lines.line(table, index, key)}: {message}")

    def table(
        self, raw: dict[str, Any], table: str, index: int, spec: dict[str, tuple[type, bool]]
    ) -> dict[str, Any] | None:
        """Check keys and types of one table against ``spec`` (name → (type, required))."""
        label = f"[{table}]" if table == "gateway" else f"[[{table}]] #{index + 1}"
        if not isinstance(raw, dict):
            self.fail(table, index, "", f"{label}: must be a table")
            return None
        if "id" in raw and isinstance(raw["id"], str):
            label += f" (id {raw['id']!r})"
        ok = True
        for key in raw:
            if key not in spec:
                self.fail(table, index, key, f"{label}: unknown key {key!r}")
                ok = False
        values: dict[str, Any] = {}
        for key, (kind, required) in spec.items():
            if key not in raw:
                if required:
                    self.fail(table, index, "", f"{label}: missing key {key!r}")
                    ok = False
                continue
            value = raw[key]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                self.fail(table, index, key, f"{label}: {key} must be {kind.__name__}, not {value!r}")
                ok = False
                continue
            values[key] = value
        return values if ok else None

    def check(self, ok: bool, table: str, index: int, key: str, message: str) -> bool:
        if not ok:
            self.fail(table, index, key, message)
        return ok


_GATEWAY_SPEC = {
    "id": (str, True),
    "server": (str, True),
    "secret_file": (str, True),
    "outbox": (str, True),
    "offline_after": (float, False),
    "batch_size": (int, False),
    "outbox_capacity": (int, False),
    "health_interval": (float, False),
    "retry_initial": (float, False),
    "retry_max": (float, False),
    "http_timeout": (float, False),
}
_NODE_SPEC = {
    "id": (str, True),
    "port": (str, True),
    "baudrate": (int, False),
    "inputs": (int, False),
    "reconnect_initial": (float, False),
    "reconnect_max": (float, False),
}
_MODBUS_SPEC = {
    "id": (str, True),
    "port": (str, True),
    "unit": (int, True),
    "inputs": (int, True),
    "poll_interval": (float, False),
    "baudrate": (int, False),
    "offline_after_failures": (int, False),
    "timeout": (float, False),
}
_POINT_SPEC = {
    "id": (str, True),
    "kind": (str, True),
    "source": (str, True),
    "channel": (int, True),
    "invert": (bool, False),
}


def parse_config(text: str, path: str = "<config>") -> Config:
    """Parse and check a configuration text; raise ConfigError naming ``path`` and the line."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        raise ConfigError([f"{path}:{match.group(1) if match else 1}: {exc}"]) from None
    c = _Checker(path, text)
    for key in raw:
        if key not in ("gateway", "node", "modbus", "point"):
            c.errors.append(f"{path}:{c.lines.line(key, 0)}: unknown table {key!r}")
    for key in ("node", "modbus", "point"):
        if key in raw and not isinstance(raw[key], list):
            c.errors.append(f"{path}:{c.lines.line(key, 0)}: {key} must be an array of tables [[{key}]]")
            raw[key] = []

    gateway = _check_gateway(c, raw.get("gateway"))
    nodes = [n for i, t in enumerate(raw.get("node", [])) if (n := _check_node(c, i, t))]
    modules = [m for i, t in enumerate(raw.get("modbus", [])) if (m := _check_modbus(c, i, t))]

    sources: dict[str, int | None] = {}  # id → channels it has (None: up to 32, learned at BOOT)
    module_ids = {m.id for m in modules}
    for i, node in enumerate(nodes):
        if c.check(node.id not in sources, "node", i, "id", f"duplicate source id {node.id!r}"):
            sources[node.id] = node.inputs
    for i, module in enumerate(modules):
        if c.check(module.id not in sources, "modbus", i, "id", f"duplicate source id {module.id!r}"):
            sources[module.id] = module.inputs
    points = _check_points(c, raw.get("point", []), sources, module_ids)
    if c.errors or gateway is None:
        raise ConfigError(c.errors)
    return Config(path, gateway, nodes, modules, points)


def load_config(path: str | Path) -> Config:
    """Read and check the configuration file at ``path``; raise ConfigError if it is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}:0: cannot read: {exc}"]) from None
    return parse_config(text, str(path))


def _positive(c: _Checker, values: dict[str, Any], table: str, index: int, *keys: str) -> bool:
    ok = True
    for key in keys:
        if key in values:
            ok &= c.check(values[key] > 0, table, index, key, f"[{table}] {key} must be above 0")
    return ok


def _check_gateway(c: _Checker, raw: Any) -> GatewayConfig | None:
    if not isinstance(raw, dict):
        c.errors.append(f"{c.path}:1: missing table [gateway]")
        return None
    v = c.table(raw, "gateway", 0, _GATEWAY_SPEC)
    if v is None:
        return None
    ok = c.check(bool(_GATEWAY_ID.match(v["id"])), "gateway", 0, "id", f"[gateway] id {v['id']!r}: use A-Z a-z 0-9 _ . -")
    ok &= c.check(
        bool(re.match(r"https?://[^/\s]+", v["server"])), "gateway", 0, "server",
        f"[gateway] server {v['server']!r} is not an http:// or https:// URL",
    )
    ok &= _positive(c, v, "gateway", 0, "offline_after", "batch_size", "health_interval", "retry_initial", "retry_max", "http_timeout")
    ok &= c.check(v.get("outbox_capacity", 100_000) >= 10, "gateway", 0, "outbox_capacity", "[gateway] outbox_capacity must be 10 or more")
    return GatewayConfig(**v) if ok else None


def _check_node(c: _Checker, index: int, raw: Any) -> NodeConfig | None:
    v = c.table(raw, "node", index, _NODE_SPEC)
    if v is None:
        return None
    ok = c.check(bool(_NODE_ID.match(v["id"])), "node", index, "id",
                 f"[[node]] id {v['id']!r}: 1 to 16 of A-Z a-z 0-9 _ - (FSN/1 node_id)")
    ok &= c.check(9600 <= v.get("baudrate", 115200) <= 921600, "node", index, "baudrate",
                  "[[node]] baudrate must be 9600 to 921600")
    ok &= c.check(1 <= v.get("inputs", 1) <= 32, "node", index, "inputs", "[[node]] inputs must be 1 to 32")
    ok &= _positive(c, v, "node", index, "reconnect_initial", "reconnect_max")
    return NodeConfig(**v) if ok else None


def _check_modbus(c: _Checker, index: int, raw: Any) -> ModbusConfig | None:
    v = c.table(raw, "modbus", index, _MODBUS_SPEC)
    if v is None:
        return None
    ok = c.check(bool(_GATEWAY_ID.match(v["id"])), "modbus", index, "id", f"[[modbus]] id {v['id']!r}: use A-Z a-z 0-9 _ . -")
    ok &= c.check(1 <= v["unit"] <= 247, "modbus", index, "unit", "[[modbus]] unit must be 1 to 247")
    ok &= c.check(1 <= v["inputs"] <= 2000, "modbus", index, "inputs", "[[modbus]] inputs must be 1 to 2000")
    ok &= c.check(1200 <= v.get("baudrate", 9600) <= 921600, "modbus", index, "baudrate",
                  "[[modbus]] baudrate must be 1200 to 921600")
    ok &= _positive(c, v, "modbus", index, "poll_interval", "offline_after_failures", "timeout")
    return ModbusConfig(**v) if ok else None


def _check_points(
    c: _Checker, raws: list[Any], sources: dict[str, int | None], module_ids: set[str]
) -> list[PointConfig]:
    points: list[PointConfig] = []
    seen_ids: set[str] = set()
    seen_channels: dict[tuple[str, int], str] = {}
    kinds = [k.value for k in PointKind]
    for i, raw in enumerate(raws):
        v = c.table(raw, "point", i, _POINT_SPEC)
        if v is None:
            continue
        label = f"[[point]] {v['id']!r}"
        ok = c.check(v["id"] not in seen_ids, "point", i, "id", f"{label}: duplicate point id")
        seen_ids.add(v["id"])
        ok &= c.check(v["kind"] in kinds, "point", i, "kind", f"{label}: unknown kind {v['kind']!r} (one of {', '.join(kinds)})")
        if not c.check(v["source"] in sources, "point", i, "source", f"{label}: unknown source {v['source']!r}"):
            continue
        limit = sources[v["source"]] or 32
        if not c.check(1 <= v["channel"] <= limit, "point", i, "channel",
                       f"{label}: channel {v['channel']} out of range 1..{limit} of {v['source']!r}"):
            continue
        ok &= c.check(not v.get("invert") or v["source"] in module_ids, "point", i, "invert",
                      f"{label}: invert applies to Modbus inputs only (FSN/1 nodes report N/A themselves)")
        key = (v["source"], v["channel"])
        ok &= c.check(key not in seen_channels, "point", i, "channel",
                      f"{label}: channel {v['channel']} of {v['source']!r} is already point {seen_channels.get(key)!r}")
        seen_channels.setdefault(key, v["id"])
        if ok:
            points.append(PointConfig(v["id"], PointKind(v["kind"]), v["source"], v["channel"], v.get("invert", False)))
    return points
