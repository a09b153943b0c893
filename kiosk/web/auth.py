"""Desk login (§2.4): login and logout, the session check, ``require_permission``, CSRF and the CSP header.

* **Sessions** live on the server (``kiosk.services.users``): the cookie holds a random token and the form
  token, signed by Flask; the cookie is HttpOnly, SameSite=Strict and Secure (``KIOSK_COOKIE_SECURE``);
  a new token is issued at every login (the old cookie content is dropped), and a session unused for
  ``KIOSK_SESSION_IDLE_MINUTES`` ends on the server.
* **CSRF**: every POST to a desk page carries the session's form token, checked in constant time.
* **CSP**: every response of the app says ``default-src 'self'`` and allows no inline script or style.

Every refusal (wrong password, locked, expired session, missing or wrong form token, missing permission) is
logged to the event log and answered in words: an HTML page, or JSON for ``/api`` and JSON clients.
"""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
from datetime import timedelta
from typing import Any, Callable, TypeVar
from urllib.parse import urlencode, urlsplit

from flask import (Blueprint, Flask, Response, current_app, g, jsonify, redirect, render_template, request, session,
                   url_for)

from kiosk.domain.logins import LoginPolicy
from kiosk.domain.permissions import PERMISSIONS
from kiosk.services import users
from kiosk.store.eventlog import log_event
from kiosk.web import desk_words, services

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; frame-ancestors 'none'; "
       "base-uri 'self'")
SESSION_KEY, CSRF_KEY = "desk", "csrf"
RULE = "§2.4"

F = TypeVar("F", bound=Callable[..., Any])


def init_app(app: Flask) -> None:
    """Session cookie flags, the login policy, the CSP on every response, ``csrf_token()`` in templates."""
    cfg = app.config
    app.config.update(SESSION_COOKIE_NAME="kiosk_desk", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_SECURE=bool(cfg["COOKIE_SECURE"]))
    app.extensions["kiosk.login_policy"] = LoginPolicy(
        idle_timeout=timedelta(minutes=float(cfg["SESSION_IDLE_MINUTES"])))
    app.after_request(security_headers)
    app.jinja_env.globals.update(csrf_token=csrf_token, t=desk_words.t, desk_language=desk_words.desk_language,
                                 lang_url=desk_words.lang_url)


def security_headers(response: Response) -> Response:
    """The Content-Security-Policy (no inline scripts or styles anywhere) and two cheap companions."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def policy() -> LoginPolicy:
    """The app's login policy (lockout, idle timeout)."""
    return current_app.extensions["kiosk.login_policy"]


def remote() -> str:
    """The client's address, for the log."""
    return request.remote_addr or "?"


# --- the log ---------------------------------------------------------------------------------------------

def audit(kind: str, *, actor: str | None = None, subject: str = "", outcome: str = "", reason: str = "",
          data: dict[str, Any] | None = None) -> None:
    """One row in the event log for a desk action or refusal (§2.4: access to the log is itself logged)."""
    user = getattr(g, "desk_user", None)
    who = actor if actor is not None else (user.employee_no if user else f"desk:{remote()}")
    extra = {"remote": remote(), "path": request.path}
    if user is not None:
        extra["username"] = user.username
    ctx = services()
    with ctx.engine.begin() as conn:
        log_event(conn, at=ctx.now(), kind=kind, actor=who[:64], subject=subject[:64], outcome=outcome,
                  reason=reason, rule=RULE, data={**extra, **(data or {})})


# --- answers ---------------------------------------------------------------------------------------------

def wants_json() -> bool:
    """JSON for the API and for scripts that ask for it; an HTML page for browsers."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def refuse(code: str, message: str, status: int, *, log_kind: str | None = None, subject: str = "",
           data: dict[str, Any] | None = None) -> Response:
    """Answer a refusal in words, after logging it (unless ``log_kind`` is None)."""
    if log_kind:
        audit(log_kind, subject=subject or request.path, outcome=code, reason=message, data=data)
    logger.warning("refused %s %s: %s", request.method, request.path, code)
    if wants_json():
        resp = jsonify({"ok": False, "error": code, "message": message})
    else:
        resp = Response(render_template("desk_refused.html", code=code, message=message, status=status,
                                        user=getattr(g, "desk_user", None)))
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _to_login(why: str = "") -> Response:
    if wants_json():
        message = users.ended_message(why, policy()) if why else "Please log in."
        resp = jsonify({"ok": False, "error": "session_expired" if why else "login_required", "message": message})
        resp.status_code = 401
        return resp
    target = request.full_path if request.method == "GET" else request.path
    args = {"next": target.rstrip("?")}
    if why:
        args["why"] = why
    return redirect(url_for("auth.login") + "?" + urlencode(args))


# --- CSRF ------------------------------------------------------------------------------------------------

def csrf_token() -> str:
    """This browser session's form token (made on first use); every desk form carries it."""
    token = session.get(CSRF_KEY)
    if not token:
        token = session[CSRF_KEY] = secrets.token_urlsafe(32)
    return str(token)


def csrf_protect() -> Response | None:
    """``before_request`` of the desk blueprints: a POST without this session's form token is refused."""
    if request.method != "POST":
        return None
    sent = request.form.get("csrf_token", "")
    expected = session.get(CSRF_KEY, "")
    if not sent or not expected or not hmac.compare_digest(str(sent), str(expected)):
        why = "missing" if not sent else "mismatch"
        current_user()  # so the log names who it was, when someone is logged in
        return refuse("csrf_refused", "This form has expired or did not come from this site (its security token is "
                      f"{'missing' if why == 'missing' else 'wrong'}). Reload the page and try again.", 400,
                      log_kind="csrf_refused", data={"token": why})
    return None


# --- who is logged in --------------------------------------------------------------------------------------

def current_user() -> users.DeskUser | None:
    """The logged-in desk user of this request, or None (``g.desk_ended`` says why a session just ended)."""
    if "desk_user" in g:
        return g.desk_user
    g.desk_user = None
    token = session.get(SESSION_KEY)
    if token:
        try:
            g.desk_user = users.resume(services(), str(token), policy(), remote())
        except users.SessionEnded as exc:
            session.pop(SESSION_KEY, None)
            g.desk_ended = str(exc.detail.get("why") or exc.code)
    return g.desk_user


def login_first() -> Response:
    """Send a browser to the login page (and back after it), saying why a session just ended; a script gets 401."""
    ended = g.get("desk_ended")
    return _to_login("idle" if ended == "idle" else ("ended" if ended else ""))


def require_permission(permission: str) -> Callable[[F], F]:
    """A view decorator: log in first, then the user's role must have ``permission`` (kiosk.domain.permissions)."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return login_first()
            if not user.can(permission):
                return refuse("not_permitted", f"Your role ({user.role}) may not use this page: it needs the "
                              f"permission {permission} ({PERMISSIONS[permission]}).", 403,
                              log_kind="access_refused", subject=permission, data={"role": user.role})
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


# --- pages -----------------------------------------------------------------------------------------------

bp.before_request(csrf_protect)


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never another host (an open redirect) after logging in."""
    if not target:
        return url_for("review.search")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("review.search")
    return target


LOGIN_NOTES = {
    "idle": None,  # filled from the policy
    "ended": "Your session has ended. Please log in again.",
    "logout": "You have logged out.",
}


@bp.get("/login")
def login() -> Any:
    """The desk login form."""
    why = request.args.get("why", "")
    note = users.ended_message("idle", policy()) if why == "idle" else LOGIN_NOTES.get(why)
    # A Secure cookie is never stored from plain HTTP (localhost aside): say so rather than loop to this page.
    if current_app.config["SESSION_COOKIE_SECURE"] and not (
            request.is_secure or request.headers.get("X-Forwarded-Proto") == "https"):
        note = ("This page came over plain HTTP, but the login cookie is sent over HTTPS only "
                "(KIOSK_COOKIE_SECURE): open it with https://, through the site's TLS proxy.")
    return render_template("desk_login.html", next=request.args.get("next", ""), note=note, error=None,
                           username="", language=current_app.config["LANGUAGE"])


@bp.post("/login")
def login_post() -> Any:
    """Check the password; on success a new session (and a new form token), then on to ``next``."""
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    target = _safe_next(request.form.get("next"))
    try:
        user, token = users.authenticate(services(), username, password, remote(), policy())
    except users.LoginRefused as exc:
        resp = Response(render_template("desk_login.html", next=request.form.get("next", ""), note=None,
                                        error=exc.message, code=exc.code, username=username,
                                        language=current_app.config["LANGUAGE"]))
        resp.status_code = 401 if exc.code == "bad_credentials" else 403
        return resp
    # Rotation: nothing of the anonymous session survives the login, the form token included.
    session.clear()
    session[SESSION_KEY] = token
    session[CSRF_KEY] = secrets.token_urlsafe(32)
    g.desk_user = user
    return redirect(target)


@bp.post("/logout")
def logout() -> Any:
    """End the session on the server and in the browser."""
    user = current_user()
    if user is not None:
        users.logout(services(), user, remote())
    session.clear()
    return redirect(url_for("auth.login", why="logout"))
