"""Helpers to run a real gateway against simulated nodes on ptys and a fake kiosk server."""

from __future__ import annotations

from pathlib import Path

SECRET = b"floor-3 test secret"


def write_config(
    tmp_path: Path,
    server_url: str,
    nodes: dict[str, str],
    *,
    points: list[tuple[str, str, str, int]] | None = None,
    modbus: list[dict[str, object]] | None = None,
    offline_after: float = 0.5,
    extra_gateway: str = "",
) -> Path:
    """Write a gateway config for ``nodes`` ({node id: port}) with short test timings; return its path."""
    (tmp_path / "secret").write_bytes(SECRET + b"\n")
    lines = [
        "[gateway]",
        'id = "floor-3"',
        f'server = "{server_url}"',
        f'secret_file = "{tmp_path / "secret"}"',
        f'outbox = "{tmp_path / "outbox.db"}"',
        f"offline_after = {offline_after}",
        "health_interval = 0.3",
        "retry_initial = 0.02",
        "retry_max = 0.2",
        "http_timeout = 2.0",
        extra_gateway,
    ]
    for node_id, port in nodes.items():
        lines += ["", "[[node]]", f'id = "{node_id}"', f'port = "{port}"', "reconnect_initial = 0.05", "reconnect_max = 0.2"]
    for module in modbus or []:
        lines += ["", "[[modbus]]"] + [f"{k} = {v!r}".replace("'", '"') for k, v in module.items()]
    if points is None:
        points = []
        for node_id in nodes:
            points += [
                (f"door:{node_id}", "door", node_id, 1),
                (f"exit:{node_id}", "exit_button", node_id, 2),
                (f"seat:{node_id}", "seat", node_id, 3),
                (f"equip:{node_id}", "equipment", node_id, 4),
            ]
    for point_id, kind, source, channel in points:
        lines += ["", "[[point]]", f'id = "{point_id}"', f'kind = "{kind}"', f'source = "{source}"', f"channel = {channel}"]
    path = tmp_path / "gateway.toml"
    path.write_text("\n".join(lines) + "\n")
    return path
