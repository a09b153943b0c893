"""Pages: the kiosk screen, the floor map and the alert history."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request, url_for

from kiosk.services import alerts, demo, doors
from kiosk.web import services

bp = Blueprint("views", __name__)
ALERTS_VIEW = "alerts.view"  # kiosk.domain.permissions: who may read the alert history


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
                           # The demo's leaders' PIN, shown on the PIN pad of a demo screen only.
                           demo_pin=demo.DEMO_PIN if demo_badges else "",
                           # The demo's simulated door contacts: buttons only where DemoSensors run.
                           sim_sensors=bool(cfg.get("DEMO_SENSORS_URL")))


@bp.get("/floor")
def floor_screen() -> str:
    """The floor map (§4.5, §8.7): a full-screen page for a second wall screen or a leader's tablet.

    ``?kiosk=<id>`` names the kiosk whose badge reader identifies the leader (the kiosk page's id);
    ``?floor=<code>`` the floor a viewer of every floor looks at (a floor's own screen always shows its floor).
    """
    cfg = current_app.config
    sim_demo = cfg["NFC_DEVICE"] == "sim" and bool(demo.read_panel(cfg["INSTANCE_PATH"]))
    return render_template("floor.html", language=cfg["LANGUAGE"], kiosk_id=request.args.get("kiosk", "kiosk"),
                           timezone=cfg["TIMEZONE"], demo_pin=demo.DEMO_PIN if sim_demo else "",
                           floor=request.args.get("floor", "")[:16])


@bp.get("/pair")
def pair_screen() -> Any:
    """Pair this browser as a kiosk screen: swap the admin's one-time code for the screen cookie (kiosk screen pair)."""
    from flask import make_response, redirect

    from kiosk.services import screens
    from kiosk.services.errors import ServiceError

    try:
        name, token = screens.redeem(services(), request.args.get("code", ""), request.remote_addr or "?")
    except ServiceError as exc:
        resp = make_response(exc.message, exc.status)
        resp.mimetype = "text/plain"
        return resp
    resp = redirect(url_for("views.kiosk_screen", kiosk=name))
    # Long-lived: the screen stays paired until an admin revokes it; never readable by page scripts.
    resp.set_cookie(screens.COOKIE, token, max_age=10 * 365 * 24 * 3600, httponly=True, samesite="Strict",
                    secure=bool(current_app.config["COOKIE_SECURE"]))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness for service managers and reverse proxies."""
    return {"status": "ok"}


# The alert kinds the history page offers as a filter (door rules, door access, visitors).
ALERT_KINDS = ("door_forced_open", "door_held_open", "possible_tailgating", "door_sensor_unknown", "door_tampered",
               "door_faulted", "badge_locked_out", "visitor_outside_window", "visitor_overstayed",
               "leader_pin_locked_out")


def _local_date(text: str | None) -> date | None:
    """A YYYY-MM-DD filter value, or None when empty or not a date."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@bp.get("/alerts")
def alert_history() -> Any:
    """§5: alerts, newest first, filtered by kind, door, local dates and acknowledgement; rendered on the server.

    Alerts name people (§2.4): shown to a paired kiosk screen (its floor's, as it shows them live), to a desk
    login whose role has ``alerts.view`` and, in the demo only, to a browser on this machine. Anyone else is
    sent to log in; a desk user without the permission is refused, and the refusal is logged.
    """
    from kiosk.domain.permissions import PERMISSIONS
    from kiosk.web import auth
    from kiosk.web.events import NOT_PAIRED, Viewer, viewer

    user = auth.current_user()
    if user is not None and not user.can(ALERTS_VIEW):
        return auth.refuse("not_permitted", f"Your role ({user.role}) may not see the alert history: it needs the "
                           f"permission {ALERTS_VIEW} ({PERMISSIONS[ALERTS_VIEW]}).", 403,
                           log_kind="access_refused", subject=ALERTS_VIEW, data={"role": user.role})
    seen_by = viewer()
    if not isinstance(seen_by, Viewer):
        if seen_by == NOT_PAIRED:
            return auth.login_first()
        return auth.refuse("no_floor", seen_by, 403, log_kind="access_refused", subject=ALERTS_VIEW)
    cfg = current_app.config
    tz = ZoneInfo(cfg["TIMEZONE"])
    args = request.args
    asked = args.get("lang")
    lang = asked if asked in ("zh-CN", "en") else cfg["LANGUAGE"]
    kind = args.get("kind") if args.get("kind") in ALERT_KINDS else None
    door_id = args.get("door") or None
    day_from, day_to = _local_date(args.get("from")), _local_date(args.get("to"))
    unacknowledged = args.get("unacknowledged") in ("1", "on", "true")
    # Dates are the floor's local days: from the start of "from" to the end of "to".
    since = datetime.combine(day_from, time.min, tz) if day_from else None
    until = datetime.combine(day_to + timedelta(days=1), time.min, tz) if day_to else None
    rows = alerts.history(services(), kind=kind, door_id=door_id, since=since, until=until,
                          unacknowledged=unacknowledged, limit=500, scope=seen_by.scope)

    def local(iso: str | None) -> str:
        """An ISO-8601 UTC time as the floor's local date and time."""
        if not iso:
            return ""
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")

    other = "en" if lang == "zh-CN" else "zh-CN"
    toggle: dict[str, Any] = {**args.to_dict(), "lang": other}
    filters = {"kind": kind or "", "door": door_id or "", "unacknowledged": unacknowledged,
               "from": day_from.isoformat() if day_from else "", "to": day_to.isoformat() if day_to else ""}
    door_names = [(d["door_id"], d["name"]) for d in doors.panel(services(), seen_by.scope)["doors"]]
    return render_template("alerts.html", language=lang, other_language=other, rows=rows, local=local,
                           kinds=ALERT_KINDS, doors=door_names, filters=filters, timezone=cfg["TIMEZONE"],
                           lang_explicit=asked in ("zh-CN", "en"), toggle_url=url_for("views.alert_history", **toggle))
