"""Simulated floor sensors for the demo: FSN/1 nodes on pseudo-terminals, read by a real gateway process.

The whole production chain runs: simulated node → pty → ``floor-sensors run`` (its own process, with
its durable outbox) → signed HTTP → this server → the screens. Only the contacts are simulated; the
demo page's buttons (or :meth:`DemoSensors.set`) open and close them.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from floor_sensors.simulator import SimulatedNode, SimulatorHost

logger = logging.getLogger(__name__)

GATEWAY_ID = "demo-floor"
NODE_ID = "door-node-1"


@dataclass(frozen=True)
class DemoPoint:
    """A point on the demo's node: its id at the kiosk, its kind, its channel, and its label."""

    id: str
    kind: str
    channel: int
    label: str


POINTS = (
    DemoPoint("door:main", "door", 1, "话务区正门"),
    DemoPoint("exit:main", "exit_button", 2, "正门出门按钮"),
    DemoPoint("equipment:extinguisher-1", "equipment", 3, "灭火器 1 号"),
)

# The states a demo button may set, per kind, as FSN/1 channel letters.
LETTERS = {
    "door": {"closed": "N", "open": "A", "tamper": "T", "fault": "F"},
    "equipment": {"closed": "N", "open": "A", "tamper": "T", "fault": "F"},
    "exit_button": {"released": "N", "pressed": "A", "tamper": "T", "fault": "F"},
}


def demo_secret(instance: Path) -> str:
    """The demo gateway's shared secret, made once and kept in the instance folder."""
    path = instance / "demo-gateway.secret"
    if not path.exists():
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return path.read_text().strip()


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the server process dies, however it dies (Linux prctl)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class DemoSensors:
    """One simulated node with a door contact, an exit button and an extinguisher presence switch."""

    def __init__(self, instance: Path, server_url: str, log_level: str = "INFO") -> None:
        self.instance = instance
        self.log_level = log_level
        self.server_url = server_url
        self.host = SimulatorHost()
        self.node = SimulatedNode(NODE_ID, inputs=4, buffered=True)
        self.gateway: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the node on a pty and the gateway process that reads it."""
        link = self.instance / "fsn" / NODE_ID
        link.parent.mkdir(parents=True, exist_ok=True)
        self.host.add(self.node, link=str(link))
        self.host.start()
        secret_file = self.instance / "demo-gateway.secret"
        demo_secret(self.instance)
        config = self.instance / "demo-gateway.toml"
        lines = [
            "[gateway]", f'id = "{GATEWAY_ID}"', f'server = "{self.server_url}"',
            f'secret_file = "{secret_file}"', f'outbox = "{self.instance / "demo-gateway-outbox.db"}"',
            "health_interval = 2.0", "retry_max = 2.0", "",
            "[[node]]", f'id = "{NODE_ID}"', f'port = "{link}"', "inputs = 4", "",
        ]
        for p in POINTS:
            lines += ["[[point]]", f'id = "{p.id}"', f'kind = "{p.kind}"', f'source = "{NODE_ID}"',
                      f"channel = {p.channel}", ""]
        config.write_text("\n".join(lines))
        env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
        self.gateway = subprocess.Popen([sys.executable, "-m", "floor_sensors.cli", "--log-level", self.log_level,
                                         "run", "--config", str(config)],
                                        env=env, start_new_session=True, preexec_fn=_die_with_parent)
        logger.info("demo sensors: node %s on %s, gateway pid %s", NODE_ID, link, self.gateway.pid)

    def set(self, point_id: str, state: str) -> None:
        """Drive a contact: ``set("door:main", "open")``; raise ValueError for an unknown point or state."""
        point = next((p for p in POINTS if p.id == point_id), None)
        if point is None:
            raise ValueError(f"unknown demo point {point_id!r}; known: {', '.join(p.id for p in POINTS)}")
        letter = LETTERS[point.kind].get(state)
        if letter is None:
            raise ValueError(f"state {state!r} does not fit a {point.kind} point ({', '.join(LETTERS[point.kind])})")
        self.node.set_channel(point.channel, letter)

    def stop(self) -> None:
        """Stop the gateway and the node."""
        if self.gateway is not None and self.gateway.poll() is None:
            os.killpg(self.gateway.pid, signal.SIGTERM)
            try:
                self.gateway.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.gateway.pid, signal.SIGKILL)
        self.host.stop()
