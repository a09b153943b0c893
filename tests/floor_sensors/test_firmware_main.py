"""Reference firmware, main.py: run the board glue under CPython with fake machine/time modules.

The fakes give main.py a virtual millisecond clock, pins the test drives and a
UART that records what the node writes; a watchdog ``feed`` past the end of the
scenario stops the endless loop. What the node wrote is then decoded with the
gateway's own codec.
"""

from __future__ import annotations

import builtins
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from floor_sensors.firmware import debounce, eol, evbuf, fsn
from floor_sensors.protocol import Ack, Boot, Direction, Err, FrameDecoder, Hb, In, Snap, encode_frame

MAIN = Path(fsn.__file__).with_name("main.py")


class StopFirmware(Exception):
    pass


class Board:
    """Fake hardware: a virtual clock, pin levels, ADC readings and a recording UART."""

    def __init__(self, until_ms: int, script: dict[int, Callable[["Board"], None]], wdt_reset: bool = False) -> None:
        self.now = 0
        self.until = until_ms
        self.script = dict(script)
        self.pins: dict[int, int] = {2: 0, 3: 0}  # reed switches closed (pulled to GND)
        self.adc: dict[int, int] = {26: int(65535 * 0.5), 27: int(65535 * 0.5)}
        self.rx = bytearray()
        self.tx = bytearray()
        self.tx_times: list[tuple[int, int]] = []  # (ms, offset in tx)
        self.wdt_reset = wdt_reset

    def modules(self) -> dict[str, Any]:
        board = self

        class Pin:
            IN, OUT, PULL_UP = 0, 1, 2

            def __init__(self, n: int, mode: int = 0, pull: int | None = None, value: int | None = None) -> None:
                self.n = n

            def value(self, v: int | None = None) -> int:
                return 1 if self.n == 22 else board.pins.get(self.n, 1)  # SAFE_PIN 22 not held

        class ADC:
            def __init__(self, pin: Pin) -> None:
                self.n = pin.n

            def read_u16(self) -> int:
                return board.adc[self.n]

        class UART:
            def __init__(self, *args: object, **kw: object) -> None:
                pass

            def any(self) -> int:
                return len(board.rx)

            def read(self) -> bytes:
                data, board.rx[:] = bytes(board.rx), b""
                return data

            def write(self, data: bytes) -> None:
                board.tx_times.append((board.now, len(board.tx)))
                board.tx.extend(data)

            def flush(self) -> None:
                pass

        class WDT:
            def __init__(self, timeout: int) -> None:
                pass

            def feed(self) -> None:
                for at in sorted(t for t in board.script if t <= board.now):
                    board.script.pop(at)(board)
                if board.now >= board.until:
                    raise StopFirmware

        machine = types.SimpleNamespace(
            Pin=Pin, ADC=ADC, UART=UART, WDT=WDT, WDT_RESET=3, reset_cause=lambda: 3 if board.wdt_reset else 1
        )

        def sleep_ms(ms: int) -> None:
            board.now += ms

        fake_time = types.SimpleNamespace(ticks_ms=lambda: board.now, ticks_diff=lambda a, b: a - b, sleep_ms=sleep_ms)
        return {
            "machine": machine,
            "micropython": types.SimpleNamespace(kbd_intr=lambda n: None),
            "time": fake_time,
            "fsn": fsn, "debounce": debounce, "eol": eol, "evbuf": evbuf,
        }

    def run(self) -> list[object]:
        source = MAIN.read_text().replace('LINK = "usb"', 'LINK = "uart"')
        fakes = self.modules()
        real_import = builtins.__import__

        def fake_import(name: str, *args: Any, **kw: Any) -> Any:
            return fakes[name] if name in fakes else real_import(name, *args, **kw)

        namespace = {"__name__": "__main__", "__builtins__": {**vars(builtins), "__import__": fake_import}}
        try:
            exec(compile(source, str(MAIN), "exec"), namespace)
        except StopFirmware:
            pass
        return FrameDecoder(Direction.FROM_NODE).feed(bytes(self.tx))

    def sent_at(self, index: int) -> int:
        return self.tx_times[index][0]


def open_door(board: Board) -> None:
    board.pins[2] = 1


def test_the_node_boots_with_seq_0_and_heartbeats_at_least_once_a_second() -> None:
    board = Board(3000, {})
    frames = board.run()
    assert frames[0] == Boot("door-node-1", "1.0.0", 4)
    hbs = [i for i, f in enumerate(frames) if isinstance(f, Hb)]
    assert frames[hbs[0]].states == "NNNN"
    times = [board.sent_at(i) for i in hbs]
    assert all(b - a <= 1000 for a, b in zip(times, times[1:]))
    assert [f.seq for f in frames] == list(range(len(frames)))


def test_a_door_opening_is_sent_after_the_debounce_and_re_sent_until_acked() -> None:
    def ack(board: Board) -> None:
        board.rx.extend(encode_frame(Ack("door-node-1", ins[0].seq)))

    ins: list[In] = []

    def capture_and_ack(board: Board) -> None:
        ins.extend(f for f in FrameDecoder().feed(bytes(board.tx)) if isinstance(f, In))
        ack(board)

    board = Board(3000, {1000: open_door, 2200: capture_and_ack})
    frames = board.run()
    in_frames = [f for f in frames if isinstance(f, In)]
    assert in_frames[0].channel == 1 and in_frames[0].state == "A"
    # The same frame, unchanged, every 500 ms until the ACK at 2.2 s, then no more.
    assert len(in_frames) == 3 and len(set(in_frames)) == 1
    first = next(i for i, f in enumerate(frames) if isinstance(f, In))
    assert 1050 <= board.sent_at(first) <= 1100
    assert frames[-1].states == "ANNN"


def test_snap_is_answered_with_a_heartbeat_at_once() -> None:
    def snap(board: Board) -> None:
        board.rx.extend(encode_frame(Snap("door-node-1")))

    board = Board(1300, {1210: snap})
    frames = board.run()
    hb_times = [board.sent_at(i) for i, f in enumerate(frames) if isinstance(f, Hb)]
    assert any(1210 <= t <= 1220 for t in hb_times)


def test_a_cut_supervised_line_is_reported_as_fault() -> None:
    def cut(board: Board) -> None:
        board.adc[26] = 65535

    frames = Board(1000, {300: cut}).run()
    assert {f.channel for f in frames if isinstance(f, In) and f.state == "F"} == {3}


def test_a_watchdog_reset_is_reported_after_boot() -> None:
    frames = Board(100, {}, wdt_reset=True).run()
    assert frames[1] == Err("door-node-1", 1, "WATCHDOG")
