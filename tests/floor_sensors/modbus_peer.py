"""pymodbus's own RTU server, with discrete inputs the test sets, on a pty pair.

Two ptys are bridged master to master: the server opens one slave, the gateway
the other, as if an RS-485 adapter sat between them. ``mute()`` makes the
bridge drop every byte (a cut bus), ``unmute()`` restores it.
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
import tty

from pymodbus.server import ModbusSerialServer
from pymodbus.simulator.simdata import SimData
from pymodbus.simulator.simdevice import SimDevice
from pymodbus.simulator.simutils import DataType


class ModbusDIServer:
    """A Modbus RTU unit whose discrete inputs are ``self.bits`` (index 0 = DI address 0)."""

    def __init__(self, unit: int = 1, inputs: int = 8, baudrate: int = 9600) -> None:
        self.unit = unit
        self.baudrate = baudrate
        self.bits = [False] * max(16, inputs)
        self.reads = 0
        self.muted = False
        self._m1, self._s1 = os.openpty()
        self._m2, self._s2 = os.openpty()
        for fd in (self._s1, self._s2):
            tty.setraw(fd)
        self.server_port = os.ttyname(self._s1)
        self.client_port = os.ttyname(self._s2)
        self._stop = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._server: ModbusSerialServer | None = None
        self._threads: list[threading.Thread] = []

    async def _action(self, fc: int, start: int, address: int, count: int, regs: list[int], values: object) -> None:
        # Called on every access: load the bits the test set into register 0 (bit 0 = address 0).
        self.reads += 1
        regs[0] = sum(1 << i for i, on in enumerate(self.bits[:16]) if on)
        return None

    def _bridge(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._m1, self._m2], [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if not self.muted:
                    os.write(self._m2 if fd == self._m1 else self._m1, data)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            device = SimDevice(
                id=self.unit,
                simdata=[SimData(0, values=0, datatype=DataType.REGISTERS, count=4)],
                action=self._action,
            )
            self._server = ModbusSerialServer(device, port=self.server_port, baudrate=self.baudrate)
            await self._server.serve_forever(background=True)
            ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def __enter__(self) -> "ModbusDIServer":
        ready = threading.Event()
        self._threads = [
            threading.Thread(target=self._bridge, daemon=True),
            threading.Thread(target=self._serve, args=(ready,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        if not ready.wait(5):
            raise RuntimeError("the pymodbus server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        for fd in (self._m1, self._s1, self._m2, self._s2):
            try:
                os.close(fd)
            except OSError:
                pass
