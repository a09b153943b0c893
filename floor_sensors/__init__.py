"""Sensor gateway: FSN/1 and Modbus nodes over serial, supervised, forwarded to the kiosk server."""
