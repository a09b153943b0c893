"""The deployment files parse: systemd units (systemd-analyze verify where available), udev rules, the launcher."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
REPO = DEPLOY.parent
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
RULES = sorted((DEPLOY / "udev").glob("*.rules"))


def unit_sections(path: Path) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            assert line.endswith("]"), f"{path.name}:{n}: bad section header"
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"{path.name}:{n}: not key=value inside a section"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_every_unit_restarts_on_failure_and_is_hardened(unit):
    service = unit_sections(unit)["Service"]
    assert service["ExecStart"], "no ExecStart"
    assert service["Restart"][0] in ("on-failure", "always")
    if unit.name != "kiosk-browser.service":  # the screen needs the tty and the GPU
        for key, want in (("ProtectSystem", "strict"), ("NoNewPrivileges", "true"), ("PrivateTmp", "true")):
            assert service.get(key) == [want], f"{unit.name}: {key} should be {want}"
        assert "User" in service


@pytest.mark.parametrize("name", ["floor-kiosk.service", "floor-sensors.service", "kiosk-reader.service"])
def test_each_service_says_when_it_is_ready_and_is_restarted_when_its_watchdog_pings_stop(name):
    service = unit_sections(DEPLOY / "systemd" / name)["Service"]
    assert service["Type"] == ["notify"] and service["WatchdogSec"]
    # kiosk serve's pings come from gunicorn's worker, a child of the main process.
    assert service["NotifyAccess"] == (["all"] if name == "floor-kiosk.service" else ["main"])


def test_systemd_accepts_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is part of systemd; install it to check the units"
    # Point the units at this checkout and at the virtualenv running the tests (a checkout need not have
    # its own), and stand in for binaries a test machine does not have.
    venv = Path(sys.executable).parent.parent
    for unit in UNITS:
        text = unit.read_text().replace("/opt/floor-kiosk/.venv", str(venv)).replace("/opt/floor-kiosk", str(REPO))
        text = text.replace("/usr/bin/cage", "/bin/true").replace("/usr/local/bin/kiosk-browser",
                                                                  str(DEPLOY / "kiosk-browser" / "kiosk-browser"))
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run([analyze, "verify", "--man=no", *[str(tmp_path / u.name) for u in UNITS]],
                            capture_output=True, text=True)
    problems = [line for line in result.stderr.splitlines()
                if "floor-kiosk" in line or "floor-sensors" in line or "kiosk-browser" in line]
    # Users and groups are created at install time; the analyzer may only warn about them.
    problems = [p for p in problems if "user" not in p.lower() and "group" not in p.lower()]
    assert not problems, "\n".join(problems)


RULE = re.compile(r'^\s*([A-Za-z_{}]+)\s*(==|!=|\+=|-=|:=|=)\s*"[^"]*"\s*$')


@pytest.mark.parametrize("rules", RULES, ids=lambda p: p.name)
def test_every_udev_rule_is_a_list_of_key_operator_value(rules):
    for n, line in enumerate(rules.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p for p in line.split(",") if p.strip()]
        assert parts, f"{rules.name}:{n}: empty rule"
        for part in parts:
            assert RULE.match(part), f"{rules.name}:{n}: {part.strip()!r} is not KEY==\"value\""


def test_the_browser_launcher_keeps_sound_on_and_zoom_off():
    launcher = (DEPLOY / "kiosk-browser" / "kiosk-browser").read_text()
    for flag in ("--kiosk", "--autoplay-policy=no-user-gesture-required", "--disable-pinch",
                 "--disable-background-networking"):
        assert flag in launcher
