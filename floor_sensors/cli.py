"""The ``floor-sensors`` command: run the gateway, check a configuration, simulate nodes.

    floor-sensors run --config /etc/floor-sensors/gateway.toml
    floor-sensors check-config /etc/floor-sensors/gateway.toml
    floor-sensors simulate --nodes 2 --inputs 4 --buffered --link-dir /tmp/fsn
    floor-sensors simulate --script demo.fsnsim

Logging is configured here, and only here. Exit status: 0 on success, 2 for a
refused configuration, 1 for other errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from floor_sensors.config import ConfigError, load_config

logger = logging.getLogger(__name__)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if level.upper() != "DEBUG":
        # pymodbus logs every unanswered poll at ERROR; the gateway reports them itself.
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        logger.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def cmd_run(args: argparse.Namespace) -> int:
    """Run the gateway until SIGTERM or SIGINT."""
    from floor_sensors.gateway import Gateway
    from floor_sensors.sdnotify import Notifier

    try:
        config = load_config(args.config)
        # Under systemd (Type=notify, WatchdogSec=): ready once running, pinged from the supervision loop.
        gateway = Gateway(config, notifier=Notifier())
    except ConfigError as exc:
        print("\n".join(exc.errors), file=sys.stderr)
        return 2
    gateway.run_forever(_stop_on_signals())
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Check a configuration file and say what it holds."""
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print("\n".join(exc.errors), file=sys.stderr)
        return 2
    print(
        f"{args.file}: OK: gateway {config.gateway.id}, {len(config.nodes)} node(s), "
        f"{len(config.modbus)} Modbus module(s), {len(config.points)} point(s)"
    )
    if not Path(config.gateway.secret_file).is_file():
        print(f"warning: secret_file {config.gateway.secret_file} does not exist (yet)", file=sys.stderr)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run simulated FSN/1 nodes on ptys, from a script or a plain count."""
    from floor_sensors.simulator import Script, ScriptError, ScriptNode, SimulatorHost, parse_script, run_script

    if args.script:
        try:
            script = parse_script(Path(args.script).read_text(encoding="utf-8"), args.script)
        except (OSError, ScriptError) as exc:
            print(exc, file=sys.stderr)
            return 2
    else:
        script = Script()
        for i in range(1, args.nodes + 1):
            node_id = f"sim-node-{i}"
            link = str(Path(args.link_dir) / node_id) if args.link_dir else None
            script.nodes.append(ScriptNode(node_id, args.inputs, args.buffered, link=link))

    def ready(host: SimulatorHost) -> None:
        ports = {node_id: node.port for node_id, node in host.nodes.items()}
        for node_id, port in ports.items():
            print(f"{node_id} {port}", flush=True)
        if args.ports_file:
            Path(args.ports_file).write_text(json.dumps(ports, indent=2) + "\n", encoding="utf-8")

    run_script(script, on_ready=ready, stop=_stop_on_signals(), duration=args.duration)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``floor-sensors``."""
    parser = argparse.ArgumentParser(prog="floor-sensors", description="Floor sensor gateway (FSN/1 and Modbus).")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the gateway")
    run.add_argument("--config", required=True, help="the gateway's TOML configuration")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="check a configuration file")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)

    sim = sub.add_parser("simulate", help="run virtual FSN/1 nodes on ptys")
    sim.add_argument("--script", help="a simulator script (see floor_sensors.simulator)")
    sim.add_argument("--nodes", type=int, default=1, help="without --script: how many nodes (sim-node-1...)")
    sim.add_argument("--inputs", type=int, default=4, help="without --script: channels per node")
    sim.add_argument("--buffered", action="store_true", help="without --script: nodes re-send until ACK")
    sim.add_argument("--link-dir", help="without --script: make stable symlinks DIR/<node id>")
    sim.add_argument("--ports-file", help="also write {node id: port path} as JSON to this file")
    sim.add_argument("--duration", type=float, help="stop after this many seconds")
    sim.set_defaults(func=cmd_simulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``floor-sensors`` console script."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.log_level)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
