"""A badge tapped on the real nfcpy reader path answers on the kiosk screen in a real browser.

`kiosk serve` runs with ``KIOSK_NFC_DEVICE=udp:localhost:PORT``, so its NfcpyReader polls nfcpy's
own udp driver; the test presents emulated FeliCa (Type 3) badges on that port
(``tests/nfc_emulation.py``). Nothing here goes through the simulated reader or its HTTP API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from kiosk.config import load_config
from kiosk.store.db import make_engine
from kiosk.store.models import Badge, Staff
from nfc_emulation import IDM, EmulatedBadge, free_udp_port, uid_of, wait_until_polled

pytestmark = [pytest.mark.browser, pytest.mark.hardware_sim]

# Demo badges are 7-byte UIDs starting 04; an 8-byte IDm can never be one of them.
UNKNOWN_IDM = bytearray.fromhex("03FE00DEADBEEF01")


class Field:
    """The udp "field" the kiosk's nfcpy reader polls; badges are presented on it one at a time."""

    def __init__(self) -> None:
        self.port = free_udp_port()
        self.device = f"udp:localhost:{self.port}"
        self.badge: EmulatedBadge | None = None

    def present(self, idm: bytes | bytearray) -> EmulatedBadge:
        """Put a badge on the reader; the last one must have been taken off."""
        assert self.badge is None, "take the last badge off first"
        self.badge = EmulatedBadge(self.port, idm).present()
        return self.badge

    def take_off(self) -> None:
        """Lift the badge and wait until the reader polls the empty field again (it has let go)."""
        if self.badge is not None:
            self.badge.remove()  # while the reader still polls: the card frontend waits for its commands
            self.badge = None
            wait_until_polled(self.port)


@pytest.fixture
def field(kiosk_server: Callable[..., Any]) -> Iterator[Field]:
    """A udp field for a kiosk server; depends on the server so a badge leaves before the server stops."""
    f = Field()
    yield f
    if f.badge is not None:
        f.badge.remove()


def give_badge(instance: Path, employee_no: str, uid: str) -> None:
    """Re-key someone's active badge to ``uid`` in the instance DB, as if they had been issued that card."""
    engine = make_engine(load_config(instance, environ={})["DATABASE_URL"])
    try:
        with engine.begin() as conn:
            staff_id = select(Staff.id).where(Staff.employee_no == employee_no).scalar_subquery()
            result = conn.execute(update(Badge).where(Badge.staff_id == staff_id, Badge.status == "active")
                                  .values(uid=uid))
        assert result.rowcount == 1, f"{employee_no} has no active badge to re-key"
    finally:
        engine.dispose()


def issue_emulated_badge(instance: Path, floor: Any) -> None:
    """Give the first operator of the open shift the emulated badge's IDm as their badge UID."""
    give_badge(instance, floor.operators[0].employee_no, uid_of(IDM))


def tid(page, testid: str):
    return page.get_by_test_id(testid)


def expect_reader_path_only(page) -> None:
    """The screen is on the nfcpy reader: connected, and with no demo tap panel to fake a tap."""
    expect(tid(page, "reader-status")).to_have_attribute("data-state", "connected")
    expect(tid(page, "sim-panel")).to_have_count(0)


def test_a_rostered_badge_on_the_nfcpy_reader_shows_the_name_and_到_and_the_row_turns_present(
        kiosk_server, open_page, field: Field):
    server = kiosk_server(nfc_device=field.device, prepare=issue_emulated_badge)
    page = open_page(server.url)
    who = server.floor.operators[0]
    expected = len(server.floor.operators) + 1  # the operators and the leader
    expect_reader_path_only(page)
    expect(tid(page, "count-present")).to_have_text("0")
    expect(tid(page, f"row-{who.employee_no}")).to_have_attribute("data-status", "pending")

    field.present(IDM)

    expect(tid(page, "tap-result-name")).to_have_text(who.name)
    expect(tid(page, "tap-result-outcome")).to_have_text("到")
    expect(tid(page, "tap-result")).to_have_attribute("data-state", "accepted")
    expect(tid(page, f"row-{who.employee_no}")).to_have_attribute("data-status", "present")
    expect(tid(page, "count-present")).to_have_text("1")
    expect(tid(page, "count-pending")).to_have_text(str(expected - 1))


def test_an_unknown_badge_on_the_nfcpy_reader_is_refused_on_screen_with_the_reason(
        kiosk_server, open_page, field: Field):
    server = kiosk_server(nfc_device=field.device, prepare=issue_emulated_badge)
    page = open_page(server.url)
    who = server.floor.operators[0]
    expect_reader_path_only(page)
    field.present(IDM)
    expect(tid(page, "count-present")).to_have_text("1")
    field.take_off()

    field.present(UNKNOWN_IDM)

    expect(tid(page, "tap-result")).to_have_attribute("data-state", "refused")
    expect(tid(page, "tap-result-outcome")).to_have_text("未签到")
    expect(tid(page, "tap-result-reason")).to_have_text("这张卡没有登记，请联系值班班长")
    expect(tid(page, "count-present")).to_have_text("1")
    expect(tid(page, f"row-{who.employee_no}")).to_have_attribute("data-status", "present")
