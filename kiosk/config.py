"""Configuration, layered: defaults -> instance TOML file -> KIOSK_* environment -> overrides.

Every key is documented in ``DEFAULTS`` below and in the README's "Configuration" table;
the two are kept in step by ``tests/unit/test_config.py``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# key -> (default, one-line description). Durations are in seconds unless the name says otherwise.
DEFAULTS: dict[str, tuple[Any, str]] = {
    "DATABASE_URL": (None, "SQLAlchemy URL; default: SQLite file kiosk.db in the instance folder"),
    "SECRET_KEY": (None, "Flask secret; default: generated once and kept in the instance folder"),
    "TIMEZONE": ("Asia/Shanghai", "Local time zone for shifts, rosters and the screens"),
    "LANGUAGE": ("zh-CN", "Screen language: zh-CN or en"),
    "NFC_DEVICE": ("usb", "Badge reader: sim, wedge, none, serial:/dev/PORT[@BAUD], or an nfcpy path (usb, usb:054c:06c3, tty:USB0:pn532, udp:host:port)"),
    "DOOR_READERS": ("", "Badge readers at doors besides the kiosk's own: door-main=usb:054c:06c3,door-back=sim"),
    "NFC_DEBOUNCE_SECONDS": (2.0, "The same badge again within this time is a duplicate, not a new tap"),
    "ROLLCALL_OPENS_MINUTES": (30, "Roll call opens this many minutes before shift start"),
    "ROLLCALL_CLOSES_MINUTES": (10, "Roll call closes (and is closed automatically) this many minutes after shift start"),
    "LEADER_EARLY_MINUTES": (10, "§3.1: the duty leader taps at least this many minutes before shift start"),
    "LEADER_IDLE_SECONDS": (60, "A leader's badge session at the kiosk ends after this long without use"),
    "LEADER_PIN_MAX_FAILURES": (5, "Wrong PINs one leader badge session allows; the last ends the session and raises an alert"),
    "LEADER_PIN_MAX_LOCKOUTS": (3, "Sessions one person may lose to wrong PINs within 24 hours; the last blocks the PIN until it is set again"),
    "GATEWAY_SECRETS": ("", "Sensor gateways: comma-separated id=secret pairs allowed to post events"),
    "GATEWAY_SILENT_SECONDS": (10.0, "A gateway not heard from for this long makes all its points unknown"),
    "LOG_LEVEL": ("INFO", "Logging level for the kiosk process"),
    "REDIS_URL": ("", "Redis URL: Socket.IO fans out across several kiosk serve processes through it (empty: one process)"),
    "REDIS_CHANNEL": ("floor-kiosk", "Redis channel of the fan-out; installations sharing one Redis each need their own"),
    "ESCALATE_SUPERVISOR_SECONDS": (120.0, "§5.1: an alert unacknowledged this long is sent to the floor supervisor"),
    "ESCALATE_SECURITY_SECONDS": (300.0, "§5.4: and this much longer after that, to security and the management section"),
    "SMTP_HOST": ("", "Mail server for escalations (empty: on-screen consoles only)"),
    "SMTP_PORT": (25, "Mail server port"),
    "SMTP_FROM": ("floor-kiosk@localhost", "Sender address of escalation mails"),
    "NOTIFY_SUPERVISOR": ("", "Comma-separated e-mail addresses of floor supervisors"),
    "NOTIFY_SECURITY": ("", "Comma-separated e-mail addresses of security and the Hotline Management Section"),
    "CTI_SECRETS": ("", "Call platforms allowed to post agent states: comma-separated integration=secret pairs"),
    "FLOOR_NOT_SIGNED_IN_MINUTES": (5, "§3.6, §4.5: flag an operator who entered or was roll-called and has not signed in after this"),
    "FLOOR_ALLOWANCE_WARN_MINUTES": (30, "§8.8: warn when an operator's busy (or wrap-up) time today reaches this"),
    "FLOOR_ALLOWANCE_LIMIT_MINUTES": (40, "§8.8: alert when an operator's busy (or wrap-up) time today reaches this"),
    "FLOOR_CLOCK_SKEW_SECONDS": (120.0, "Agent states dated further than this into the future are refused"),
    "FLOOR_SHIFT_END_GRACE_MINUTES": (5, "§7.3, §8.9: a sign-out this close to shift end is not mid-shift; a seat left on is flagged this long after"),
    "FLOOR_PUSH_INTERVAL_SECONDS": (0.2, "Floor map pushes to screens at most this often; changes in between are merged"),
    "CHECKPOINT_DIR": ("", "Where signed event-log checkpoints are written; mount it from another machine; default: checkpoints in the instance folder"),
    "CHECKPOINT_MINUTES": (15, "Sign the event log's head into CHECKPOINT_DIR this often (0: only on demand)"),
    "LOG_RETENTION_DAYS": (365, "§2.4, PIPL art. 19: event log days older than this are purged daily (0: keep everything)"),
    "COOKIE_SECURE": (True, "Desk login cookie sent over HTTPS only (Secure); false only for plain-HTTP tests"),
    "SESSION_IDLE_MINUTES": (30, "§2.4: a desk login session unused this long ends; log in again"),
}

ENV_PREFIX = "KIOSK_"


@dataclass(frozen=True)
class InstancePaths:
    """Where an instance keeps its files."""

    root: Path

    @property
    def toml(self) -> Path:
        return self.root / "kiosk.toml"

    @property
    def database(self) -> Path:
        return self.root / "kiosk.db"

    @property
    def secret(self) -> Path:
        return self.root / "secret_key"


def _coerce(default: Any, raw: str) -> Any:
    """Turn an environment string into the type of the default."""
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load_config(instance: str | os.PathLike[str] | None = None,
                overrides: dict[str, Any] | None = None,
                environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Build the effective configuration for one instance folder."""
    environ = os.environ if environ is None else environ
    root = Path(instance or environ.get("KIOSK_INSTANCE") or "instance").resolve()
    paths = InstancePaths(root)
    cfg: dict[str, Any] = {key: default for key, (default, _doc) in DEFAULTS.items()}

    if paths.toml.exists():
        with paths.toml.open("rb") as fh:
            data = tomllib.load(fh)
        for key, value in data.items():
            ukey = key.upper()
            if ukey not in DEFAULTS:
                raise ValueError(f"{paths.toml}: unknown setting {key!r}; known: {', '.join(sorted(DEFAULTS))}")
            cfg[ukey] = value

    for key, (default, _doc) in DEFAULTS.items():
        raw = environ.get(ENV_PREFIX + key)
        if raw is not None:
            try:
                cfg[key] = _coerce(default, raw)
            except ValueError as exc:
                raise ValueError(f"{ENV_PREFIX}{key}={raw!r}: {exc}") from None

    cfg.update(overrides or {})
    cfg["INSTANCE_PATH"] = str(root)
    if not cfg["DATABASE_URL"]:
        cfg["DATABASE_URL"] = f"sqlite:///{paths.database}"
    if cfg["LANGUAGE"] not in ("zh-CN", "en"):
        raise ValueError(f"LANGUAGE must be zh-CN or en, not {cfg['LANGUAGE']!r}")
    return cfg


def ensure_secret_key(cfg: dict[str, Any]) -> str:
    """Return the configured secret, or create one in the instance folder and keep it."""
    if cfg.get("SECRET_KEY"):
        return str(cfg["SECRET_KEY"])
    paths = InstancePaths(Path(cfg["INSTANCE_PATH"]))
    paths.root.mkdir(parents=True, exist_ok=True)
    if not paths.secret.exists():
        fd = os.open(paths.secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(os.urandom(32).hex())
    return paths.secret.read_text().strip()
