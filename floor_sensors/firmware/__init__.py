"""Reference MicroPython firmware for an FSN/1 node on a Raspberry Pi Pico.

Copy ``main.py``, ``fsn.py``, ``debounce.py``, ``eol.py`` and ``evbuf.py`` to the
board's root (``mpremote cp floor_sensors/firmware/*.py :``, leaving this file
out). The pure modules import nothing from ``machine`` so the gateway's tests
run them under CPython; ``main.py`` is the hardware glue and runs only on the
board. See ``deploy/firmware-wiring.md`` for the wiring.
"""
