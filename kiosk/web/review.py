"""The entry log's review screens under /review (§2.4, §6.6, §6.7): search, one event, timelines, summary, export.

Server-rendered pages; the only scripts are two small static files (the export's progress, the language
link). Every page view, search and export is logged with who and the filter (``log_viewed``,
``log_searched``, ``log_exported``); a malformed filter is refused with a message and logged
(``log_search_refused``).

Export progress: the export form (POST, with the form token) fixes the export (the chain head, the row
count) and answers with a page that starts the download and polls ``/review/export/<id>/progress``, which
counts the rows the server has streamed so far against the known total. The download is an ordinary
attachment, so the browser writes it to disk as it arrives; the server streams from a generator.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request, url_for
from sqlalchemy import select

from kiosk.services import floors, logexport, review
from kiosk.services.context import ServiceContext
from kiosk.services.errors import NotFound
from kiosk.store.models import Door
from kiosk.web import services
from kiosk.web.auth import audit, csrf_protect, refuse, require_permission

logger = logging.getLogger(__name__)

bp = Blueprint("review", __name__, url_prefix="/review")
bp.before_request(csrf_protect)


@bp.after_request
def _no_store(response: Response) -> Response:
    # Personal information (§2.4): never kept in a browser's or a proxy's cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(review.FilterError)
def _bad_filter(exc: review.FilterError) -> Response:
    return refuse(exc.code, exc.message, 400, log_kind="log_search_refused",
                  data={"args": {k: v[:64] for k, v in request.args.items()}})


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return refuse(exc.code, exc.message, 404)


def _page(template: str, **values: Any) -> str:
    tz = services().tz

    def fmt(at: datetime | None) -> str:
        """An instant as the floor's local date and time."""
        return at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if at else ""

    return render_template(template, user=g.desk_user, timezone=current_app.config["TIMEZONE"], fmt=fmt, **values)


def _doors(ctx: ServiceContext) -> list[tuple[str, str]]:
    with ctx.engine.connect() as conn:
        return [(d.id, d.name) for d in conn.execute(select(Door.__table__.c.id, Door.__table__.c.name)
                                                     .order_by(Door.__table__.c.id))]


# --- search --------------------------------------------------------------------------------------------

@bp.get("/")
@require_permission("log.view")
def search() -> Any:
    """Search the log by person, badge, door, visitor, kind, outcome and time; newest first, keyset pages."""
    ctx = services()
    args = request.args
    form = {k: args.get(k, "") for k in review.FILTER_FIELDS}
    try:
        f = review.parse_filter(args, ctx.tz)
        per_page = int(args.get("per_page") or review.PAGE_SIZE)
        page = review.search(ctx, f, cursor=args.get("cursor") or None, direction=args.get("dir", "older"),
                             limit=per_page)
    except review.FilterError as exc:
        audit("log_search_refused", subject=exc.detail.get("field", "") or "filter", outcome=exc.code,
              reason=exc.message, data={"args": {k: v[:64] for k, v in args.items()}})
        resp = Response(_page("review_search.html", form=form, error=exc.message, page=None, kinds=review.KNOWN_KINDS,
                              doors=_doors(ctx), floors=floors.list_floors(ctx), links={}))
        resp.status_code = 400
        return resp
    except ValueError:
        return refuse("bad_page_size", "“per_page” must be a number.", 400, log_kind="log_search_refused")
    described = f.describe(ctx.tz)
    audit("log_searched", subject=",".join(sorted(described))[:64] or "all", outcome=str(len(page.rows)),
          data={"filter": described, "cursor": args.get("cursor") or None, "dir": args.get("dir", "older")})
    keep = {k: v for k, v in form.items() if v}
    if args.get("per_page"):
        keep["per_page"] = args["per_page"]
    links = {"older": url_for("review.search", **keep, cursor=page.older, dir="older") if page.older else None,
             "newer": url_for("review.search", **keep, cursor=page.newer, dir="newer") if page.newer else None,
             "first": url_for("review.search", **keep) if args.get("cursor") else None}
    return _page("review_search.html", form=form, error=None, page=page, kinds=review.KNOWN_KINDS,
                 doors=_doors(ctx), floors=floors.list_floors(ctx), links=links,
                 can_export=g.desk_user.can("log.export"), filter_text=described)


# --- one event -------------------------------------------------------------------------------------------

@bp.get("/event/<int:event_id>")
@require_permission("log.view")
def event(event_id: int) -> Any:
    """One event: every field, its chain position and whether it verifies."""
    detail = review.event_detail(services(), event_id)
    audit("log_viewed", subject=str(event_id), outcome="event", data={"event": event_id, "seq": detail["seq"]})
    return _page("review_event.html", e=detail)


# --- timelines -------------------------------------------------------------------------------------------

def _range(default_days: int = 1) -> tuple[datetime, datetime, dict[str, str]]:
    """``from``/``to`` of the request (local), default: today, local midnight to midnight."""
    ctx = services()
    args = request.args
    today = ctx.now().astimezone(ctx.tz).date()
    since = review.parse_local(args["from"], ctx.tz, "from") if args.get("from") else \
        review.day_bounds(today - timedelta(days=default_days - 1), ctx.tz)[0]
    until = review.parse_local(args["to"], ctx.tz, "to", end_of_day=True) if args.get("to") else \
        review.day_bounds(today, ctx.tz)[1]
    if since >= until:
        raise review.FilterError("bad_range", "“from” must be before “to”.", field="to")
    return since, until, {"from": review.local_text(since, ctx.tz), "to": review.local_text(until, ctx.tz)}


@bp.get("/person/<employee_no>")
@require_permission("log.view")
def person(employee_no: str) -> Any:
    """A person's taps, door passages, sign-ins and flags over a time range."""
    since, until, shown = _range()
    timeline = review.person_timeline(services(), employee_no, since, until)
    audit("log_viewed", subject=employee_no, outcome="person_timeline", data={"filter": {"person": employee_no,
                                                                                          **shown}})
    return _page("review_person.html", tl=timeline, range=shown, employee_no=employee_no)


@bp.get("/door/<door_id>")
@require_permission("log.view")
def door(door_id: str) -> Any:
    """A door's openings, each with the grant that explained it, its refused taps and alarms."""
    since, until, shown = _range()
    timeline = review.door_timeline(services(), door_id, since, until)
    audit("log_viewed", subject=door_id, outcome="door_timeline", data={"filter": {"door": door_id, **shown}})
    return _page("review_door.html", tl=timeline, range=shown, door_id=door_id)


# --- the daily summary -----------------------------------------------------------------------------------

CHART_W, CHART_H, CHART_PAD = 960, 260, 36


def _chart(summary: dict[str, Any]) -> dict[str, Any]:
    """Geometry of the hourly bar chart (inline SVG; colours come from the style sheet, no inline style)."""
    peak = max([h[s] for h in summary["hours"] for s in review.SUMMARY_SERIES] + [1])
    inner_w, inner_h = CHART_W - 2 * CHART_PAD, CHART_H - 2 * CHART_PAD
    slot = inner_w / 24
    bar = slot / 4
    bars = []
    for h in summary["hours"]:
        for i, s in enumerate(review.SUMMARY_SERIES):
            height = inner_h * h[s] / peak
            bars.append({"x": round(CHART_PAD + h["hour"] * slot + bar * (i + 0.5), 1),
                         "y": round(CHART_PAD + inner_h - height, 1), "w": round(bar, 1), "h": round(height, 1),
                         "series": s, "value": h[s], "hour": h["hour"]})
    ticks = sorted({0, peak // 2, peak})
    return {"w": CHART_W, "h": CHART_H, "pad": CHART_PAD, "bars": bars, "peak": peak, "slot": slot,
            "ticks": [{"value": t, "y": round(CHART_PAD + inner_h - inner_h * t / peak, 1)} for t in ticks],
            "base": CHART_PAD + inner_h}


def _month_chart(month: list[tuple[date, int]], chosen: date) -> dict[str, Any]:
    """Geometry of the month's events-per-day bars (inline SVG, like the hourly chart)."""
    peak = max([n for _d, n in month] + [1])
    inner_w, inner_h = CHART_W - 2 * CHART_PAD, 120
    slot = inner_w / max(len(month), 1)
    bars = [{"x": round(CHART_PAD + i * slot + slot * 0.15, 1), "w": round(slot * 0.7, 1),
             "y": round(CHART_PAD + inner_h - inner_h * n / peak, 1), "h": round(inner_h * n / peak, 1),
             "day": d, "value": n, "chosen": d == chosen, "label_x": round(CHART_PAD + (i + 0.5) * slot, 1)}
            for i, (d, n) in enumerate(month)]
    return {"w": CHART_W, "h": inner_h + 2 * CHART_PAD, "pad": CHART_PAD, "bars": bars, "peak": peak,
            "base": CHART_PAD + inner_h}


@bp.get("/summary")
@require_permission("log.view")
def summary() -> Any:
    """The day's openings, refusals and alarms by hour as a chart, and the month's events per day."""
    ctx = services()
    raw = request.args.get("day", "")
    try:
        day = date.fromisoformat(raw) if raw else ctx.now().astimezone(ctx.tz).date()
    except ValueError:
        raise review.FilterError("bad_date", f"“day” is not a date: {raw[:40]!r}. Use YYYY-MM-DD.",
                                 field="day") from None
    data = review.daily_summary(ctx, day)
    first = day.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    month = review.day_counts(ctx, first, last)
    audit("log_viewed", subject=day.isoformat(), outcome="summary", data={"filter": {"day": day.isoformat()}})
    return _page("review_summary.html", s=data, chart=_chart(data), month=_month_chart(month, day),
                 prev_day=(day - timedelta(days=1)).isoformat(), next_day=(day + timedelta(days=1)).isoformat())


# --- export ----------------------------------------------------------------------------------------------

@dataclass
class ExportJob:
    """One export the server has planned: whose it is, what it holds, how far it has streamed."""

    id: str
    session_id: str
    employee_no: str
    fmt: str
    plan: logexport.ExportPlan
    created_at: datetime
    rows: int = 0
    state: str = "ready"  # ready | streaming | done | aborted | failed
    lock: threading.Lock = field(default_factory=threading.Lock)


class ExportJobs:
    """Planned exports of this server process (one gunicorn worker), kept an hour."""

    KEEP = timedelta(hours=1)

    def __init__(self) -> None:
        self._jobs: dict[str, ExportJob] = {}
        self._lock = threading.Lock()

    def add(self, job: ExportJob) -> None:
        """Remember a job, forgetting those older than an hour."""
        with self._lock:
            now = job.created_at
            for key in [k for k, j in self._jobs.items() if now - j.created_at > self.KEEP]:
                del self._jobs[key]
            self._jobs[job.id] = job

    def get(self, job_id: str, session_id: str) -> ExportJob | None:
        """The job, if it belongs to this desk session."""
        job = self._jobs.get(job_id)
        return job if job is not None and secrets.compare_digest(job.session_id, session_id) else None


def _jobs() -> ExportJobs:
    jobs = current_app.extensions.get("kiosk.exports")
    if jobs is None:
        jobs = current_app.extensions["kiosk.exports"] = ExportJobs()
    return jobs


@bp.post("/export")
@require_permission("log.export")
def export_start() -> Any:
    """Fix an export of the search in the form (head, row count), log it, and show its progress page."""
    ctx = services()
    fmt = request.form.get("format", "csv")
    if fmt not in logexport.FORMATS:
        return refuse("bad_format", f"Export as csv or xlsx, not {fmt[:16]!r}.", 400, log_kind="log_search_refused")
    f = review.parse_filter(request.form, ctx.tz)
    user = g.desk_user
    plan = logexport.plan(ctx, f, by=f"{user.username} ({user.employee_no})")
    job = ExportJob(secrets.token_urlsafe(16), user.session_id, user.employee_no, fmt, plan, ctx.now())
    _jobs().add(job)
    audit("log_exported", subject=",".join(sorted(plan.filter_text))[:64] or "all", outcome=fmt,
          data={"filter": plan.filter_text, "format": fmt, "rows": plan.total, "through_seq": plan.through_seq,
                "head_hash": plan.head_hash})
    return _page("review_export.html", job=job, filter_text=plan.filter_text,
                 file_url=url_for("review.export_file", job_id=job.id),
                 progress_url=url_for("review.export_progress", job_id=job.id),
                 name=logexport.filename(plan, fmt, ctx.tz))


@bp.get("/export/<job_id>/file")
@require_permission("log.export")
def export_file(job_id: str) -> Any:
    """Stream the planned export (once): CSV or XLSX, as an attachment."""
    ctx = services()
    job = _jobs().get(job_id, g.desk_user.session_id)
    if job is None:
        return refuse("unknown_export", "This export is unknown or belongs to another session; start it again from "
                      "the search.", 404, log_kind="access_refused", subject="export")
    with job.lock:
        if job.state != "ready":
            return refuse("export_used", "This export was already downloaded; start a new one from the search.", 409)
        job.state = "streaming"

    def progress(n: int) -> None:
        job.rows = n

    def stream() -> Iterator[bytes]:
        try:
            yield from logexport.chunks(ctx, job.plan, job.fmt, progress)
            job.state = "done"
        except GeneratorExit:
            job.state = "aborted"
            logger.info("export %s aborted by the client after %s rows", job.id, job.rows)
            raise
        except Exception:
            job.state = "failed"
            logger.exception("export %s failed after %s rows", job.id, job.rows)
            raise

    name = logexport.filename(job.plan, job.fmt, ctx.tz)
    mimetype = "text/csv; charset=utf-8" if job.fmt == "csv" else \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(stream(), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Export-Rows": str(job.plan.total), "X-Export-Head-Seq": str(job.plan.through_seq)})


@bp.get("/export/<job_id>/progress")
@require_permission("log.export")
def export_progress(job_id: str) -> Any:
    """How far the export has streamed: rows so far, the total, and its state."""
    job = _jobs().get(job_id, g.desk_user.session_id)
    if job is None:
        return jsonify({"ok": False, "error": "unknown_export", "message": "Unknown export."}), 404
    return jsonify({"ok": True, "rows": job.rows if job.state != "done" else job.plan.total,
                    "total": job.plan.total, "state": job.state,
                    "at": datetime.now(timezone.utc).isoformat()})
