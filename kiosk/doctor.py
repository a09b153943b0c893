"""``kiosk doctor``: check what a kiosk PC or a centre server needs, and say what to fix.

Each check returns a verdict (ok, warn, fail) and a message a person can act on. It changes nothing.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import select

OK, WARN, FAIL = "ok", "warn", "FAIL"

# USB readers nfcpy drives, by vendor:product.
KNOWN_READERS = {("054c", "06c3"): "Sony RC-S380/P", ("054c", "06c1"): "Sony RC-S380/S",
                 ("054c", "02e1"): "Sony RC-S330", ("072f", "2200"): "ACS ACR122U",
                 ("04e6", "5591"): "SCM SCL3711", ("04cc", "2533"): "NXP PN533"}
KERNEL_NFC_MODULES = ("port100", "pn533_usb", "pn533", "nfc")


@dataclass(frozen=True)
class Finding:
    """One check's verdict."""

    check: str
    verdict: str
    message: str


def _run(args: list[str]) -> str | None:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def check_database(cfg: dict[str, Any]) -> list[Finding]:
    """The database answers and its schema is the code's."""
    from kiosk.store.db import SchemaOutOfDate, check_schema, make_engine

    engine = make_engine(cfg["DATABASE_URL"])
    try:
        check_schema(engine)
        return [Finding("database", OK, f"{engine.url.render_as_string(hide_password=True)}: schema up to date")]
    except SchemaOutOfDate as exc:
        return [Finding("database", FAIL, str(exc))]
    except Exception as exc:
        return [Finding("database", FAIL, f"cannot open {engine.url.render_as_string(hide_password=True)}: {exc}. "
                                          "Check KIOSK_DATABASE_URL and that the database server runs.")]
    finally:
        engine.dispose()


def check_reader(cfg: dict[str, Any], sys_usb: Path = Path("/sys/bus/usb/devices"),
                 modules: Path = Path("/proc/modules")) -> list[Finding]:
    """The reader setting is valid; a USB reader is plugged in; no kernel driver holds it."""
    from kiosk.devices.registry import parse_reader_spec

    out: list[Finding] = []
    try:
        spec = parse_reader_spec(cfg["NFC_DEVICE"])
    except ValueError as exc:
        return [Finding("reader", FAIL, str(exc))]
    if spec.kind == "serial":
        return [_serial_port("serial badge reader", spec.path or "")]
    if spec.kind != "nfcpy":
        return [Finding("reader", OK if spec.kind != "none" else WARN, f"KIOSK_NFC_DEVICE={cfg['NFC_DEVICE']}")]
    path = spec.path or ""
    if path.startswith("usb"):
        found = []
        for dev in sys_usb.glob("*") if sys_usb.exists() else []:
            try:
                vid = (dev / "idVendor").read_text().strip()
                pid = (dev / "idProduct").read_text().strip()
            except OSError:
                continue
            if (vid, pid) in KNOWN_READERS:
                found.append(f"{KNOWN_READERS[(vid, pid)]} ({vid}:{pid})")
        if found:
            out.append(Finding("reader", OK, "USB reader present: " + ", ".join(found)))
        else:
            out.append(Finding("reader", FAIL, "no supported USB NFC reader is plugged in (see README: Connecting a "
                                               "real badge reader)"))
        loaded = []
        if modules.exists():
            names = {line.split()[0] for line in modules.read_text().splitlines() if line.strip()}
            loaded = [m for m in KERNEL_NFC_MODULES if m in names]
        if loaded:
            out.append(Finding("reader", FAIL, f"kernel NFC modules loaded ({', '.join(loaded)}): they claim the reader. "
                                               "Install deploy/modprobe.d/blacklist-floor-kiosk-nfc.conf and unload them"))
    elif path.startswith("tty"):
        out.append(_serial_port("PN532 board", "/dev/tty" + path.split(":")[1]))
    else:
        out.append(Finding("reader", WARN, f"{path}: a simulated nfcpy reader (development only)"))
    return out


def _serial_port(what: str, port: str) -> Finding:
    """A reader's serial port is there, and the kiosk user may read and write it."""
    if not os.path.exists(port):
        return Finding("reader", FAIL, f"{port} does not exist: is the {what} connected?")
    if not os.access(port, os.R_OK | os.W_OK):
        return Finding("reader", FAIL, f"{port} is not readable and writable: add the kiosk user to dialout")
    return Finding("reader", OK, f"{port} is there and usable")


def check_gateways(cfg: dict[str, Any], now: datetime | None = None) -> list[Finding]:
    """Every sensor gateway the kiosk knows was heard from recently."""
    from kiosk.store.db import make_engine
    from kiosk.store.models import Gateway

    now = now or datetime.now(timezone.utc)
    engine = make_engine(cfg["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Gateway.__table__)).all()
    except Exception as exc:
        return [Finding("gateways", WARN, f"cannot read gateway health: {exc}")]
    finally:
        engine.dispose()
    if not rows:
        return [Finding("gateways", WARN, "no sensor gateway has ever posted: doors and seats read unknown")]
    out = []
    for g in rows:
        age = (now - g.last_seen_at).total_seconds() if g.last_seen_at else None
        if g.silent or age is None or age > float(cfg["GATEWAY_SILENT_SECONDS"]):
            out.append(Finding("gateways", FAIL, f"gateway {g.id} silent (last heard {age and round(age)} s ago): "
                                                 "check its service (systemctl status floor-sensors) and network"))
        else:
            out.append(Finding("gateways", OK, f"gateway {g.id} heard {round(age, 1)} s ago"))
    return out


def check_clock(timedatectl: Callable[[], str | None] | None = None) -> list[Finding]:
    """The clock is NTP-synchronised: the entry log needs true time."""
    answer = (timedatectl or (lambda: _run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])))()
    if answer == "yes":
        return [Finding("clock", OK, "NTP synchronised")]
    if answer == "no":
        return [Finding("clock", FAIL, "the clock is not NTP-synchronised: entry log times may be wrong. "
                                       "Enable time sync (timedatectl set-ntp true) and check the NTP server")]
    return [Finding("clock", WARN, "cannot tell whether the clock is synchronised (no timedatectl); check NTP by hand")]


def check_disk(instance: Path, warn_bytes: int = 2 << 30, fail_bytes: int = 200 << 20) -> list[Finding]:
    """Room on the disk that holds the database, the outbox and the checkpoints."""
    instance.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(instance).free
    gb = free / (1 << 30)
    if free < fail_bytes:
        return [Finding("disk", FAIL, f"only {gb:.2f} GiB free at {instance}: taps may not be recorded. Free space")]
    if free < warn_bytes:
        return [Finding("disk", WARN, f"{gb:.2f} GiB free at {instance}: plan for more")]
    return [Finding("disk", OK, f"{gb:.1f} GiB free at {instance}")]


def check_permissions(instance: Path, checkpoint_dir: Path) -> list[Finding]:
    """The instance folder is writable and secrets are readable by the kiosk user only."""
    out = []
    if not os.access(instance, os.W_OK):
        out.append(Finding("permissions", FAIL, f"{instance} is not writable by this user"))
    for name in ("secret_key", "eventlog_signing_key.pem"):
        p = instance / name
        if p.exists() and stat.S_IMODE(p.stat().st_mode) & 0o077:
            out.append(Finding("permissions", FAIL, f"{p} is readable by others: chmod 600 {p}"))
    if checkpoint_dir.exists() and not os.access(checkpoint_dir, os.W_OK):
        out.append(Finding("permissions", FAIL, f"checkpoint folder {checkpoint_dir} is not writable"))
    return out or [Finding("permissions", OK, f"{instance} writable, secrets private")]


def run_all(cfg: dict[str, Any]) -> list[Finding]:
    """Every check, in a sensible order."""
    instance = Path(cfg["INSTANCE_PATH"])
    checkpoint_dir = Path(cfg.get("CHECKPOINT_DIR") or instance / "checkpoints")
    findings = check_database(cfg)
    findings += check_reader(cfg)
    if findings[0].verdict == OK:
        findings += check_gateways(cfg)
    findings += check_clock()
    findings += check_disk(instance)
    findings += check_permissions(instance, checkpoint_dir)
    return findings
