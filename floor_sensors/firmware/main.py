"""FSN/1 node firmware for a Raspberry Pi Pico (MicroPython): the hardware glue.

Runs only on the board (it imports ``machine``); the protocol, debouncing,
end-of-line classification and event buffer live in the pure modules beside it,
which the gateway's tests run under CPython. Edit the settings below for each
node, then copy ``main.py fsn.py debounce.py eol.py evbuf.py`` to the board.

What it does, per FSN/1: BOOT (seq 0) at start, then ERR,WATCHDOG if the
watchdog caused the reset; samples every input every ``SAMPLE_MS``; sends IN
once a change has been stable for ``DEBOUNCE_MS``; a heartbeat every
``HEARTBEAT_MS`` (at most 1000); HB at once on SNAP; with ``BUFFERED`` it keeps
each IN until ACKed and re-sends it every 500 ms, and reports lost ones with
ERR,BUF_OVERFLOW. No logging: the line belongs to the protocol.

To reach the REPL (Ctrl-C is disabled so that no byte on the line can stop the
node), hold ``SAFE_PIN`` to GND while powering up.
"""

import select
import sys
import time

import machine
import micropython

import debounce
import eol
import evbuf
import fsn

# -- settings, per node --------------------------------------------------------
NODE_ID = "door-node-1"  # 1-16 of A-Z a-z 0-9 _ -, unique on the floor
FIRMWARE = "1.0.0"
# One entry per channel, channel 1 first: ("plain", GPIO) for a reed switch to GND
# with the internal pull-up, ("eol", GPIO 26/27/28) for a supervised input on an ADC.
INPUTS = [("plain", 2), ("plain", 3), ("eol", 26), ("eol", 27)]
LINK = "usb"  # "usb" (USB CDC) or "uart" (UART0 on GP0/GP1, e.g. to an RS-485 transceiver)
UART_BAUD = 115200
RS485_DE_PIN = None  # GPIO driving the transceiver's DE/RE, or None for RS-232 / auto-direction
DEBOUNCE_MS = 50
HEARTBEAT_MS = 500
SAMPLE_MS = 5
BUFFERED = True
WATCHDOG_MS = 5000
SAFE_PIN = 22


class UsbLine:
    """USB CDC: the same port MicroPython's REPL uses."""

    def __init__(self) -> None:
        self.poll = select.poll()
        self.poll.register(sys.stdin, select.POLLIN)

    def read(self) -> bytes:
        """Return what the gateway sent (up to 64 bytes), without waiting."""
        data = b""
        while self.poll.poll(0) and len(data) < 64:
            data += sys.stdin.buffer.read(1)
        return data

    def write(self, data: bytes) -> None:
        """Send ``data`` to the gateway."""
        sys.stdout.buffer.write(data)


class UartLine:
    """UART0 on GP0 (TX) / GP1 (RX), optionally driving an RS-485 DE pin."""

    def __init__(self) -> None:
        self.uart = machine.UART(0, UART_BAUD, tx=machine.Pin(0), rx=machine.Pin(1))
        self.de = machine.Pin(RS485_DE_PIN, machine.Pin.OUT, value=0) if RS485_DE_PIN is not None else None

    def read(self) -> bytes:
        """Return what the gateway sent, without waiting."""
        if not self.uart.any():
            return b""
        return self.uart.read() or b""

    def write(self, data: bytes) -> None:
        """Send ``data``, driving the RS-485 transmitter only while sending."""
        if self.de is not None:
            self.de.value(1)
        self.uart.write(data)
        if self.de is not None:
            self.uart.flush()
            self.de.value(0)


def make_readers() -> list:
    """Return one function per channel that reads its raw state letter."""
    readers = []
    for kind, gpio in INPUTS:
        if kind == "plain":
            pin = machine.Pin(gpio, machine.Pin.IN, machine.Pin.PULL_UP)
            # Pulled up: a closed contact pulls the pin to GND → N; open → A.
            readers.append(lambda pin=pin: "N" if pin.value() == 0 else "A")
        else:
            adc = machine.ADC(machine.Pin(gpio))
            readers.append(lambda adc=adc: eol.classify(adc.read_u16()))
    return readers


def main() -> None:
    """Run the node: boot, then sample, debounce, report and answer forever."""
    if machine.Pin(SAFE_PIN, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0:
        return  # safe mode: leave the REPL alone
    line = UsbLine() if LINK == "usb" else UartLine()
    if LINK == "usb":
        micropython.kbd_intr(-1)
    watchdog_reset = machine.reset_cause() == machine.WDT_RESET
    wdt = machine.WDT(timeout=WATCHDOG_MS)
    readers = make_readers()
    boot_ms = time.ticks_ms()
    seq = fsn.Sequencer()
    debouncers = [debounce.Debouncer(read(), DEBOUNCE_MS, time.ticks_diff) for read in readers]
    buffer = evbuf.EventBuffer(ticks_diff=time.ticks_diff)
    reader = fsn.LineReader(NODE_ID)

    def uptime() -> int:
        return time.ticks_diff(time.ticks_ms(), boot_ms) & 0xFFFFFFFF

    def heartbeat() -> None:
        line.write(fsn.hb_frame(NODE_ID, seq.next(), uptime(), "".join(d.state for d in debouncers)))

    line.write(fsn.boot_frame(NODE_ID, FIRMWARE, len(readers)))
    seq.boot()
    if watchdog_reset:
        line.write(fsn.err_frame(NODE_ID, seq.next(), "WATCHDOG"))
    heartbeat()
    last_hb = time.ticks_ms()
    while True:
        wdt.feed()
        now = time.ticks_ms()
        for i, read in enumerate(readers):
            changed = debouncers[i].update(read(), now)
            if changed is not None:
                n = seq.next()
                wire = fsn.in_frame(NODE_ID, n, i + 1, changed, uptime())
                line.write(wire)
                if BUFFERED:
                    buffer.add(n, wire, now)
        for command, arg in reader.feed(line.read()):
            if command == "SNAP":
                heartbeat()
                last_hb = now
            elif command == "ACK" and BUFFERED:
                buffer.ack(arg)
        if BUFFERED:
            for wire in buffer.due(now):
                line.write(wire)  # unchanged, same seq
            lost = buffer.take_lost()
            if lost:
                line.write(fsn.err_frame(NODE_ID, seq.next(), "BUF_OVERFLOW", str(lost)))
        if time.ticks_diff(now, last_hb) >= HEARTBEAT_MS:
            heartbeat()
            last_hb = now
        time.sleep_ms(SAMPLE_MS)


main()
