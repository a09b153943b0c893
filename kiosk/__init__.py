"""floor-kiosk: roll call, badge checks, door sensors and floor map for a 12345 hotline floor."""

__version__ = "0.1.0"
