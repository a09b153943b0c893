"""Real-browser fixtures: one Debian Chromium per test session, and kiosk servers run as `kiosk serve`.

The browser is Debian's Chromium (never one downloaded by ``playwright install``). A missing browser
fails the run with what to do: browser tests never skip silently.

Each test gets its own server process on a fresh instance (migrated, then filled with the demo's
generated floor, shifts anchored to now so roll call is open), so no test sees another's taps or
leader session. ``kiosk_server`` is a factory: a test can choose the reader (``KIOSK_NFC_DEVICE``),
extra environment and where the shifts are anchored, and can stop and restart its server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import make_url, select, update

from floorfixtures import instance_context
from kiosk.config import load_config
from kiosk.services import demo
from kiosk.services.context import ServiceContext
from kiosk.store.db import make_engine, make_sessionmaker, upgrade
from kiosk.store.models import Badge, RosterEntry, Staff

CHROMIUM = "/usr/lib/chromium/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
REPO = Path(__file__).resolve().parents[2]
START_DEADLINE = 20.0  # seconds for `kiosk serve` to answer /healthz
LANDSCAPE = {"width": 1920, "height": 1080}
PORTRAIT = {"width": 1080, "height": 1920}
UNKNOWN_UID = "DEADBEEF0001"  # on the demo panel as 未知卡片; no badge has it
PIN = demo.DEMO_PIN  # the generated floor's leaders, supervisors, security and admin all have it


# ------------------------------------------------------------------------------------------- browser

def type_pin(page: Any, pin: str = PIN, closes: bool = True) -> None:
    """Type ``pin`` on the open PIN pad with its keys and press 确定, as a leader's finger would.

    ``closes``: the PIN is right, so the pad goes away (else it stays, saying why).
    """
    from playwright.sync_api import expect

    pad = page.get_by_test_id("pin-pad")
    expect(pad).to_be_visible()
    for digit in pin:
        page.get_by_test_id(f"pin-key-{digit}").click()
    expect(page.get_by_test_id("pin-dots")).to_have_attribute("data-count", str(len(pin)))
    page.get_by_test_id("pin-ok").click()
    if closes:
        expect(pad).to_be_hidden()


@pytest.fixture
def enter_pin() -> Callable[..., None]:
    """``enter_pin(page, pin=PIN, closes=True)``: a leader types a PIN on the kiosk's PIN pad (see type_pin)."""
    return type_pin


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Debian Chromium for the whole session."""
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail(f"CI: Debian's Chromium is missing at {CHROMIUM}; the CI image must install it "
                        "(deploy/ensure-system-deps.sh does). Browser tests never skip.", pytrace=False)
        pytest.fail(f"Debian's Chromium is missing at {CHROMIUM}. Run `make test` (it installs system packages) "
                    "or `deploy/ensure-system-deps.sh`; never `playwright install`.", pytrace=False)
    from playwright.sync_api import sync_playwright

    from playwright.sync_api import expect

    # The whole sensor chain (a gateway process starting, a node's first heartbeat) can take a few
    # seconds on a loaded two-core machine; expectations wait up to 15 s, passing as soon as they hold.
    expect.set_options(timeout=15_000)
    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as exc:
        pw.stop()
        pytest.fail(f"Chromium at {CHROMIUM} would not start: {exc}", pytrace=False)
    yield chromium
    chromium.close()
    pw.stop()


@pytest.fixture
def open_page(browser: Any, kiosk_server: Any) -> Iterator[Callable[..., Any]]:
    """Open a kiosk page in a fresh browser context (own localStorage); fail the test on any JS error.

    Depends on ``kiosk_server`` so pages close before their servers stop (a server waits for open websockets).
    Every context is a paired screen: it carries the screen cookie of the server it opens (paired at start).
    """
    contexts: list[Any] = []
    errors: list[str] = []

    def _open(url: str, viewport: dict[str, int] | None = None) -> Any:
        context = browser.new_context(viewport=viewport or LANDSCAPE, locale="zh-CN", device_scale_factor=1)
        contexts.append(context)
        for server in getattr(kiosk_server, "started", []):
            if url.startswith(server.url) and server.screen_token:
                context.add_cookies([{"name": "kiosk_screen", "value": server.screen_token, "url": server.url}])
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        page.locator("body.loaded").wait_for()
        return page

    yield _open
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the kiosk page: {errors}"


# --------------------------------------------------------------------------------------- floor data

@dataclass(frozen=True)
class Person:
    """Someone in the generated floor, as a test needs them."""

    employee_no: str
    name: str
    uid: str
    seat: str | None = None


@dataclass
class Floor:
    """The facts a test needs about the generated floor: who to tap for which outcome."""

    shift_code: str
    leader: Person
    operators: list[Person]  # rostered on the open shift, in board order
    on_panel: list[Person]  # operators of the open shift that the demo tap panel offers
    other_shift: Person  # an operator rostered on the middle shift (中班) today
    lost: Person  # badge reported lost
    left: Person  # has left; badge revoked
    panel: list[dict[str, str]] = field(default_factory=list)


def prepare_instance(path: Path, anchor: datetime, migrated: Path | None = None) -> Floor:
    """Migrate a fresh instance (as `kiosk db upgrade` does) and fill it with the demo's generated floor.

    ``anchor`` is "now" for the generator: the first shift starts 10–15 minutes after it. ``migrated``: a
    SQLite file already migrated to head, copied instead of migrating again.
    """
    cfg = load_config(path, environ={})
    if migrated is not None:
        shutil.copyfile(migrated, make_url(cfg["DATABASE_URL"]).database)
    else:
        upgrade(cfg["DATABASE_URL"])
    engine = make_engine(cfg["DATABASE_URL"])
    try:
        ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
        panel = demo.generate(ctx, now=anchor)
        demo.write_panel(ctx, panel)
        panel_uids = {b["uid"] for b in panel}
        with engine.begin() as conn:
            # "Rostered on another shift today": the demo rosters its middle shift (中班) on the day it starts,
            # which is tomorrow when the first shift starts after 18:00. One of its operators on the panel is
            # moved onto the first shift's day, so the test holds at any hour.
            first_day = conn.execute(select(RosterEntry.day).where(RosterEntry.shift_code == "M")).scalars().first()
            middle = conn.execute(
                select(RosterEntry.id).join(Staff, Staff.id == RosterEntry.staff_id)
                .join(Badge, Badge.staff_id == Staff.id)
                .where(RosterEntry.shift_code == "D", RosterEntry.duty == "operator", Badge.uid.in_(panel_uids))
                .order_by(RosterEntry.id)).scalars().first()
            conn.execute(update(RosterEntry).where(RosterEntry.id == middle).values(day=first_day))
        with engine.connect() as conn:
            people = conn.execute(
                select(Staff.employee_no, Staff.name, Staff.active, Badge.uid, Badge.status)
                .join(Badge, Badge.staff_id == Staff.id)).all()
            roster = conn.execute(
                select(Staff.employee_no, RosterEntry.shift_code, RosterEntry.duty, RosterEntry.seat_id)
                .join(Staff, Staff.id == RosterEntry.staff_id)
                .order_by(RosterEntry.duty.asc(), RosterEntry.seat_id, Staff.employee_no)).all()
    finally:
        engine.dispose()
    by_no = {p.employee_no: p for p in people}

    def person(no: str, seat: str | None = None) -> Person:
        return Person(no, by_no[no].name, by_no[no].uid, seat)

    first = "M"  # the demo's first shift, the one whose roll call is open
    leader = next(r for r in roster if r.shift_code == first and r.duty == "leader")
    operators = [person(r.employee_no, r.seat_id) for r in roster if r.shift_code == first and r.duty == "operator"]
    other = next(r for r in roster if r.shift_code == "D" and r.duty == "operator" and by_no[r.employee_no].uid in panel_uids)
    lost = next(p for p in people if p.status == "lost")
    left = next(p for p in people if not p.active)
    return Floor(shift_code=first, leader=person(leader.employee_no), operators=operators,
                 on_panel=[o for o in operators if o.uid in panel_uids],
                 other_shift=person(other.employee_no), lost=person(lost.employee_no),
                 left=person(left.employee_no), panel=panel)


# -------------------------------------------------------------------------------------------- server

def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class KioskProcess:
    """`kiosk --instance DIR serve --port N` as a subprocess, with its reader chosen by environment."""

    def __init__(self, instance: Path, floor: Floor, nfc_device: str, env: dict[str, str]) -> None:
        self.instance = instance
        self.floor = floor
        self.nfc_device = nfc_device
        self.extra_env = env
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = instance / "server.log"
        self.screen_token = pair_screen(instance)  # the browser contexts of open_page carry it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "KioskProcess":
        """Start the server and wait (with a deadline, not a fixed sleep) until /healthz answers."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
        env.update({"KIOSK_NFC_DEVICE": self.nfc_device, "PYTHONUNBUFFERED": "1", **self.extra_env})
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kiosk.cli", "--instance", str(self.instance), "serve", "--port", str(self.port)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"kiosk serve exited with {self.proc.returncode}:\n{self.log_tail()}", pytrace=False)
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)  # polling interval, bounded by the deadline above
        self.stop()
        pytest.fail(f"kiosk serve did not answer /healthz within {START_DEADLINE:.0f} s:\n{self.log_tail()}",
                    pytrace=False)

    def stop(self, crash: bool = False) -> None:
        """Stop the server: SIGTERM (graceful), or SIGKILL to its process group, as a crash or power cut would.

        A graceful stop waits for open websockets (gunicorn's graceful timeout), so pages close first.
        """
        if self.proc is None or self.proc.poll() is not None:
            return
        if crash:
            os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def restart(self) -> "KioskProcess":
        """Start again on the same port and instance."""
        self.stop()
        return self.start()

    def tap(self, uid: str) -> dict[str, Any]:
        """POST /api/v1/sim/tap, as `kiosk tap` does."""
        import json

        req = urllib.request.Request(self.url + "/api/v1/sim/tap", method="POST", data=json.dumps({"uid": uid}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def badge_of_role(server: Any, role: str) -> str:
    """The badge UID of someone with this staff role in the generated floor."""
    engine = make_engine(load_config(server.instance, environ={})["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return conn.execute(select(Badge.uid).join(Staff, Staff.id == Badge.staff_id)
                                .where(Staff.role == role, Staff.active.is_(True), Badge.status == "active")
                                .order_by(Staff.employee_no)).scalars().first()
    finally:
        engine.dispose()


def pair_screen(instance: Path, name: str = "kiosk") -> str:
    """Pair a screen on the instance (as `kiosk screen pair` and opening its link do): the screen cookie's token."""
    from kiosk.services import screens

    with instance_context(instance) as ctx:
        return screens.pair_now(ctx, name)


def define_demo_points(instance: Path) -> None:
    """Define the demo node's points (door:main, exit:main, equipment:extinguisher-1) as `kiosk demo` does."""
    from kiosk.devices import sensor_sim
    from kiosk.services import sensors

    with instance_context(instance) as ctx:
        sensors.define_points(ctx, [{"id": p.id, "kind": p.kind, "label": p.label, "gateway": sensor_sim.GATEWAY_ID}
                                    for p in sensor_sim.POINTS], actor="test")


@pytest.fixture
def kiosk_server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Callable[..., KioskProcess]]:
    """A factory of running kiosk servers, each on its own fresh instance; all stopped at teardown.

    ``kiosk_server(nfc_device="sim", env={...}, shift_starts_in=timedelta(minutes=15))``; an nfcpy test
    passes e.g. ``nfc_device="udp:localhost:54321"``. ``prepare(instance, floor)``, if given, runs after
    the instance is filled and before the server starts, e.g. to give someone the badge a test presents.
    ``sensors=True`` runs the demo's simulated sensors as `kiosk demo` does: the demo points defined, the
    demo gateway's secret in ``KIOSK_GATEWAY_SECRETS``, and ``KIOSK_DEMO_SENSORS_URL`` (the hidden hook
    of `kiosk serve`) so the server starts the simulated node and a real `floor-sensors run` gateway.
    """
    started: list[KioskProcess] = []

    def _make(nfc_device: str = "sim", env: dict[str, str] | None = None,
              shift_starts_in: timedelta = timedelta(minutes=18),
              prepare: Callable[[Path, Floor], None] | None = None, sensors: bool = False) -> KioskProcess:
        instance = tmp_path_factory.mktemp("kiosk-instance")
        # The generator puts the first shift 10–15 min after its anchor; anchor so it starts ~shift_starts_in from now.
        anchor = datetime.now(timezone.utc) + shift_starts_in - timedelta(minutes=15)
        floor = prepare_instance(instance, anchor, migrated=sqlite_template)
        if prepare is not None:
            prepare(instance, floor)
        server = KioskProcess(instance, floor, nfc_device, env or {})
        if sensors:
            from kiosk.devices import sensor_sim

            define_demo_points(instance)
            secret = sensor_sim.demo_secret(instance)
            server.extra_env = {"KIOSK_GATEWAY_SECRETS": f"{sensor_sim.GATEWAY_ID}={secret}",
                                "KIOSK_DEMO_SENSORS_URL": server.url, **server.extra_env}
        started.append(server)
        return server.start()

    _make.started = started  # type: ignore[attr-defined]  # open_page pairs its contexts with these servers
    yield _make
    for server in started:
        server.stop()


@pytest.fixture
def server(kiosk_server: Callable[..., KioskProcess]) -> KioskProcess:
    """A kiosk server with the simulated reader; roll call open, shift starting in about a quarter hour."""
    return kiosk_server()


# ---------------------------------------------------------------------------------------- demo door

# The demo's door (§6.5, §6.6) on the demo node's points, with timings short enough for a browser test:
# pre-warning after 2 s open, held-open alarm after 4 s.
DEMO_DOOR: dict[str, Any] = {"id": "main", "name": "话务区正门", "contact_point": "door:main", "exit_point": "exit:main",
                             "readers": ["door-main"], "prewarn_s": 2, "alarm_s": 4, "entry_window_s": 10}
# Its badge reader (simulated, driven by POST /api/v1/sim/tap {"reader": "door-main"}) and a quick escalation.
DOOR_ENV = {"KIOSK_DOOR_READERS": "door-main=sim", "KIOSK_ESCALATE_SUPERVISOR_SECONDS": "3"}


def define_demo_door(instance: Path, _floor: Floor | None = None) -> None:
    """A ``prepare`` for ``kiosk_server(sensors=True, env=DOOR_ENV, prepare=define_demo_door)``: define DEMO_DOOR."""
    from kiosk.services import doors

    with instance_context(instance) as ctx:
        doors.define_doors(ctx, [DEMO_DOOR], actor="test")


def post_json(server: KioskProcess, path: str, body: dict[str, Any]) -> Any:
    """POST a JSON body to a running server (e.g. /api/v1/sim/tap with a reader, /api/v1/sim/sensor)."""
    import json

    req = urllib.request.Request(server.url + path, method="POST", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.fixture
def door_kiosk_server(kiosk_server: Callable[..., KioskProcess]) -> Callable[..., KioskProcess]:
    """A factory of kiosk servers with simulated sensors, DEMO_DOOR defined and its reader `door-main`.

    ``door_kiosk_server(KIOSK_ESCALATE_SECURITY_SECONDS="1")``: keyword arguments are extra environment.
    """
    def _make(**env: str) -> KioskProcess:
        return kiosk_server(sensors=True, env={**DOOR_ENV, **env}, prepare=define_demo_door)

    return _make
