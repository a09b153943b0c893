"""Pages: the kiosk screen."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from kiosk.services import demo

bp = Blueprint("views", __name__)


@bp.get("/")
def kiosk_screen() -> str:
    """The full-screen kiosk page for a wall touchscreen."""
    cfg = current_app.config
    sim = cfg["NFC_DEVICE"] == "sim"
    # The demo's tap panel: badges worth tapping, written next to the instance by `kiosk demo`.
    demo_badges = demo.read_panel(cfg["INSTANCE_PATH"]) if sim else []
    return render_template("kiosk.html", language=cfg["LANGUAGE"], kiosk_id=request.args.get("kiosk", "kiosk"),
                           sim=sim, wedge=cfg["NFC_DEVICE"] == "wedge", timezone=cfg["TIMEZONE"],
                           demo_badges=demo_badges,
                           # The demo's simulated door contacts: buttons only where DemoSensors run.
                           sim_sensors=bool(cfg.get("DEMO_SENSORS_URL")))


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness for service managers and reverse proxies."""
    return {"status": "ok"}
