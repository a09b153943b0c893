"""Modbus RTU discrete-input modules, polled with pymodbus (pinned to 3.16.1).

Each :class:`ModbusPoller` owns one module on its own serial port and thread:
every ``poll_interval`` seconds it reads ``inputs`` discrete inputs from address
0 (function 0x02) of unit ``unit`` and hands a :class:`~floor_sensors.links.PollResult`
(or :class:`~floor_sensors.links.PollFailed`) to the gateway's sink. The
:class:`~floor_sensors.supervision.ModuleSupervisor` turns them into point
changes and declares the module offline after ``offline_after_failures``
failures in a row.

pymodbus errors (time-outs, exception responses, a vanished port) are turned
into ``PollFailed`` here, at the library boundary; when the port cannot be
opened, reopening backs off (doubling from the poll interval to 5 s) while each
skipped poll still counts as a failure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerType

from floor_sensors.config import ModbusConfig
from floor_sensors.links import PollFailed, PollResult, Sink

logger = logging.getLogger(__name__)

REOPEN_MAX = 5.0

ClientFactory = Callable[[ModbusConfig], Any]


def make_client(module: ModbusConfig) -> ModbusSerialClient:
    """Return a synchronous RTU client for ``module`` (not yet connected)."""
    return ModbusSerialClient(
        module.port,
        framer=FramerType.RTU,
        baudrate=module.baudrate,
        timeout=module.timeout,
        retries=0,  # a missed answer is a failed poll; the next poll is the retry
        name=module.id,
    )


class ModbusPoller:
    """Polls one Modbus DI module from its own thread."""

    def __init__(
        self,
        module: ModbusConfig,
        sink: Sink,
        *,
        clock: Callable[[], float] = time.monotonic,
        client_factory: ClientFactory = make_client,
    ) -> None:
        self.module = module
        self.sink = sink
        self.clock = clock
        self.client_factory = client_factory
        self.polls = 0
        self._client: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reopen_at = 0.0
        self._reopen_delay = module.poll_interval

    @property
    def source(self) -> str:
        """The module id this poller serves."""
        return self.module.id

    def start(self) -> None:
        """Start the polling thread."""
        self._thread = threading.Thread(target=self._run, name=f"modbus-{self.module.id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop polling and close the port."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._close()

    def _run(self) -> None:
        due = self.clock()
        while not self._stop.is_set():
            self.poll_once()
            due += self.module.poll_interval
            now = self.clock()
            if due < now:  # a slow answer: do not try to catch up with a burst of polls
                due = now
            self._stop.wait(due - now)

    def poll_once(self) -> None:
        """Read the discrete inputs once and report the result to the sink."""
        self.polls += 1
        now = self.clock()
        if self._client is None or not self._client.connected:
            if now < self._reopen_at:
                self.sink(PollFailed(self.module.id, now, "port not open"))
                return
            if not self._open():
                self._reopen_at = now + self._reopen_delay
                self._reopen_delay = min(self._reopen_delay * 2, REOPEN_MAX)
                self.sink(PollFailed(self.module.id, now, f"cannot open {self.module.port}"))
                return
            self._reopen_delay = self.module.poll_interval
        try:
            answer = self._client.read_discrete_inputs(0, count=self.module.inputs, device_id=self.module.unit)
        except ModbusException as exc:
            self._close()  # a vanished port is reopened on the next poll
            self.sink(PollFailed(self.module.id, self.clock(), str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - pyserial can raise others on unplug
            logger.debug("module %s: unexpected poll error", self.module.id, exc_info=True)
            self._close()
            self.sink(PollFailed(self.module.id, self.clock(), f"{type(exc).__name__}: {exc}"))
            return
        if answer.isError():
            self.sink(PollFailed(self.module.id, self.clock(), f"exception response {answer}"))
            return
        bits = tuple(bool(b) for b in answer.bits[: self.module.inputs])
        if len(bits) < self.module.inputs:
            self.sink(PollFailed(self.module.id, self.clock(), f"{len(bits)} bits for {self.module.inputs} inputs"))
            return
        self.sink(PollResult(self.module.id, bits, self.clock()))

    def _open(self) -> bool:
        self._close()
        client = self.client_factory(self.module)
        try:
            ok = bool(client.connect())
        except Exception:  # noqa: BLE001 - the library boundary
            logger.debug("module %s: connect raised", self.module.id, exc_info=True)
            ok = False
        if ok:
            self._client = client
            logger.info("module %s: opened %s", self.module.id, self.module.port)
        return ok

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a vanished port may fail
                logger.debug("module %s: error closing", self.module.id, exc_info=True)
