// The roll call board: one state object, changed only by the apply* functions (one per server event),
// and drawn by render(). A snapshot replaces everything; live events patch rows and recount, so a tap
// shows on the board without waiting for the next snapshot.

import { byTestId, h, setText, show } from "./dom.js";
import { language, t } from "./i18n.js";
import * as time from "./time.js";

// §3.1: the duty leader taps at least this many minutes before shift start (server setting
// LEADER_EARLY_MINUTES; the snapshot may carry it as policy.leader_early_minutes).
const DEFAULT_LEADER_EARLY = 10;

export const state = {
  kioskId: "kiosk",
  loaded: false,
  shift: null,
  window: null,
  closed: null,
  rows: [],
  counts: { expected: 0, present: 0, late: 0, absent: 0, excused: 0, pending: 0 },
  notices: [],
  question: null,
  leader: null,
  readers: {},
  leaderEarlyMinutes: DEFAULT_LEADER_EARLY,
  closedReport: null, // {shift, day, shiftName, by, at, summary, absentees}; shown until dismissed
};

function shiftKey(shift) {
  return shift ? `${shift.day}/${shift.code}` : "";
}

function recount() {
  const counts = { expected: state.rows.length, present: 0, late: 0, absent: 0, excused: 0, pending: 0 };
  for (const row of state.rows) {
    if (row.status in counts) counts[row.status] += 1;
  }
  state.counts = counts;
}

function reportFromRows() {
  const absentees = state.rows.filter((r) => r.status === "absent")
    .map((r) => ({ employee_no: r.employee_no, name: r.name, seat: r.seat }));
  return {
    shift: state.shift.code, day: state.shift.day, shiftName: state.shift.name,
    by: state.closed.by, at: state.closed.at, summary: { ...state.counts }, absentees,
  };
}

/** Replace the whole board with a snapshot (sent on every connect and on request). */
export function applySnapshot(snap) {
  time.syncServerNow(snap.now);
  if (snap.timezone) time.setTimeZone(snap.timezone);
  const previousReport = state.closedReport;
  state.loaded = true;
  state.shift = snap.shift || null;
  state.window = snap.window || null;
  state.closed = snap.closed || null;
  state.rows = (snap.rows || []).map((r) => ({ ...r }));
  state.notices = snap.notices || [];
  state.question = snap.question || null;
  state.leader = snap.leader && snap.leader.kiosk === state.kioskId ? snap.leader : null;
  state.readers = { ...(snap.readers || {}) };
  state.leaderEarlyMinutes = snap.policy?.leader_early_minutes ?? DEFAULT_LEADER_EARLY;
  recount();
  if (state.closed && state.shift) {
    state.closedReport = reportFromRows();
  } else if (previousReport && state.shift && previousReport.shift + previousReport.day !== state.shift.code + state.shift.day) {
    // The previous shift's list stays up for the leader until dismissed, even once the board moved on.
    state.closedReport = previousReport;
  } else {
    state.closedReport = null;
  }
}

function findRow(employeeNo) {
  return state.rows.find((r) => r.employee_no === employeeNo);
}

function isThisShift(code, day) {
  return state.shift && code === state.shift.code && (day == null || day === state.shift.day);
}

/** A tap was recorded: an accepted one turns the person's row present or late at once. */
export function applyTap(p) {
  if (!p || !p.accepted || !p.employee_no || !isThisShift(p.shift)) return false;
  const row = findRow(p.employee_no);
  if (!row) return false;
  row.status = p.outcome;
  row.at = p.at;
  row.leader_late = Boolean(p.leader_late);
  row.manual = false;
  recount();
  return true;
}

/** A leader marked someone present or excused by hand (§3.4). */
export function applyMark(p) {
  const row = p && findRow(p.employee_no);
  if (!row) return false;
  row.status = p.status;
  row.manual = true;
  row.note = p.note;
  row.at = p.at;
  recount();
  return true;
}

/** Roll call closed (§3.4): the ones still pending are absent; the absentee list goes up for the leader. */
export function applyClosed(p) {
  if (!p || p.already) return;
  if (isThisShift(p.shift, p.day)) {
    state.closed = { at: p.at, by: p.by };
    const absent = new Set((p.absentees || []).map((a) => a.employee_no));
    for (const row of state.rows) {
      if (row.status === "pending" || absent.has(row.employee_no)) row.status = "absent";
    }
    recount();
  }
  state.closedReport = {
    shift: p.shift, day: p.day, shiftName: isThisShift(p.shift, p.day) ? state.shift.name : p.shift,
    by: p.by, at: p.at, summary: p.summary || {}, absentees: p.absentees || [],
  };
}

export function dismissClosedReport() {
  state.closedReport = null;
}

export function applyQuestion(p) {
  state.question = p;
}

export function applyReader(p) {
  const { reader_id: _id, ...health } = p;
  state.readers[p.reader_id] = { ...health, message: p.message || "" };
}

export function applyLeaderStarted(p) {
  if (p.kiosk !== state.kioskId) return false;
  state.leader = p;
  return true;
}

export function applyLeaderEnded(p) {
  if (p.kiosk !== state.kioskId) return false;
  state.leader = null;
  return true;
}

// ---------------------------------------------------------------------------------------------- drawing

function statusLabel(status) {
  return t(`status.${status}`);
}

export function shiftLabel(shift = state.shift) {
  return shift ? t("shift.label", { name: shift.name, code: shift.code }) : "";
}

function renderHeader() {
  const lang = language();
  const nameEl = byTestId("shift-name");
  const rangeEl = document.getElementById("shift-range");
  if (!state.loaded) return;
  if (!state.shift) {
    setText(nameEl, t("shift.none"));
    setText(rangeEl, "");
    return;
  }
  const start = time.parse(state.shift.starts_at);
  const end = time.parse(state.shift.ends_at);
  setText(nameEl, shiftLabel());
  setText(rangeEl, t("shift.range", { day: time.day(start, lang), start: time.hhmm(start, lang), end: time.hhmm(end, lang) }));
}

/** The countdown line; returns the phase so the caller can ask for a fresh board when it changes. */
export function renderCountdown() {
  const el = byTestId("countdown");
  if (!state.loaded || !state.shift || !state.window) {
    setText(el, "");
    el.dataset.phase = "none";
    return "none";
  }
  const now = time.now();
  const start = time.parse(state.shift.starts_at);
  const opens = time.parse(state.window.opens_at);
  const closes = time.parse(state.window.closes_at);
  let phase;
  let text;
  if (state.closed) {
    phase = "closed";
    text = t("countdown.closed");
  } else if (now < opens) {
    phase = "waiting";
    text = t("countdown.to_window", { t: time.duration(opens - now) });
  } else if (now < start) {
    phase = "before";
    text = t("countdown.to_start", { t: time.duration(start - now) });
  } else {
    phase = now < closes ? "started" : "over";
    text = t("countdown.started", { m: Math.floor((now - start) / 60000) });
  }
  setText(el, text);
  el.dataset.phase = phase;
  return phase;
}

/** True when the clock says the roll call window opened or closed since the board was sent. */
export function windowStale() {
  if (!state.loaded || !state.window) return false;
  const now = time.now();
  const open = time.parse(state.window.opens_at) <= now && now < time.parse(state.window.closes_at);
  return open !== Boolean(state.window.open);
}

function renderWindowStatus() {
  const el = byTestId("window-status");
  const lang = language();
  let text = "";
  if (state.loaded && !state.shift) {
    text = t("window.none");
  } else if (state.loaded && state.window && !state.window.open) {
    text = t("window.closed_next", { time: time.hhmm(time.parse(state.window.opens_at), lang), shift: shiftLabel() });
  } else if (state.closed) {
    text = t("window.closed", { time: time.hhmm(time.parse(state.closed.at), lang) });
  }
  setText(el, text);
  show(el, Boolean(text));
  document.body.classList.toggle("window-closed", Boolean(text));
}

function renderCounts() {
  for (const key of ["expected", "present", "late", "absent", "excused", "pending"]) {
    setText(byTestId(`count-${key}`), String(state.counts[key] ?? 0));
  }
}

function rowElement(row) {
  const flags = [];
  if (row.duty === "leader") flags.push(h("span", { class: "flag flag-leader" }, t("flag.leader")));
  if (row.manual) flags.push(h("span", { class: "flag flag-manual", testid: `row-${row.employee_no}-manual` }, t("flag.manual")));
  if (row.leader_late) flags.push(h("span", { class: "flag flag-late" }, t("flag.leader_late", { n: state.leaderEarlyMinutes })));
  const meta = [row.employee_no, row.seat || (row.duty === "leader" ? "" : t("seat.none"))].filter(Boolean).join(" · ");
  return h("li", {
    class: `row status-${row.status}`,
    testid: `row-${row.employee_no}`,
    dataset: { status: row.status, manual: row.manual ? "true" : "false", leaderLate: row.leader_late ? "true" : "false" },
    title: row.note || null,
  },
  h("span", { class: "row-status" }, statusLabel(row.status)),
  h("span", { class: "row-main" },
    h("span", { class: "row-name" }, row.name),
    h("span", { class: "row-meta" }, h("span", {}, meta), flags)));
}

function renderRoster() {
  const list = document.getElementById("roster-list");
  if (!state.rows.length) {
    list.replaceChildren(state.loaded ? h("li", { class: "roster-empty" }, t("roster.empty")) : "");
    return;
  }
  list.replaceChildren(...state.rows.map(rowElement));
}

function renderNotices() {
  const list = document.getElementById("notice-list");
  if (!state.notices.length) {
    list.replaceChildren(h("li", { class: "notice-empty" }, t("notices.none")));
    return;
  }
  list.replaceChildren(...state.notices.map((n) =>
    h("li", { class: "notice", testid: `notice-${n.id}` },
      h("div", { class: "notice-title" }, n.title),
      n.body ? h("div", { class: "notice-body" }, n.body) : null)));
}

function renderQuestion() {
  const panel = byTestId("daily-question");
  const q = state.question;
  show(panel, Boolean(q));
  if (!q) return;
  setText(document.getElementById("question-who"), t("question.who", { name: q.name, no: q.employee_no }));
  setText(document.getElementById("question-text"), q.question);
  const result = q.answered_well == null ? "" : t(q.answered_well ? "question.well" : "question.poor");
  setText(document.getElementById("question-result"), result);
  panel.dataset.answered = q.answered_well == null ? "no" : (q.answered_well ? "well" : "poor");
}

export function currentReader() {
  // This screen's own reader; else this server's (a reader on another kiosk's PC is not this screen's).
  return state.readers[state.kioskId] || Object.values(state.readers).find((r) => !r.remote) || null;
}

/** A reader's state in words: its state, and why (its message, or since when its PC is silent). */
export function readerWords(reader) {
  const s = reader ? reader.state : "unknown";
  const label = t(`reader.${["connected", "disconnected", "error"].includes(s) ? s : "unknown"}`);
  if (reader && reader.silent) {
    return t("reader.silent", { state: label, time: reader.since ? time.hhmm(time.parse(reader.since), language()) : "?" });
  }
  if (reader && reader.message && s !== "connected") return t("reader.with_message", { state: label, message: reader.message });
  return label;
}

function renderReader() {
  const el = byTestId("reader-status");
  const reader = currentReader();
  el.dataset.state = reader ? reader.state : "unknown";
  setText(el.querySelector(".reader-text"), readerWords(reader));
  el.title = reader && reader.message ? reader.message : "";
}

function renderClosedReport() {
  const panel = byTestId("absentee-list");
  const report = state.closedReport;
  show(panel, Boolean(report));
  document.body.classList.toggle("with-report", Boolean(report));
  if (!report) return;
  const lang = language();
  const at = time.hhmm(time.parse(report.at), lang);
  const by = report.by === "auto" ? t("closed.auto", { time: at }) : t("closed.by", { by: leaderName(report.by), time: at });
  setText(document.getElementById("closed-by"), `${report.shiftName ? `${report.shiftName} · ` : ""}${by}`);
  const s = report.summary || {};
  setText(document.getElementById("closed-summary"), t("closed.summary", {
    present: s.present ?? 0, late: s.late ?? 0, excused: s.excused ?? 0, absent: s.absent ?? report.absentees.length,
  }));
  const list = document.getElementById("absentees");
  list.replaceChildren(...(report.absentees.length
    ? report.absentees.map((a) => h("li", { class: "absentee", testid: `absentee-${a.employee_no}` },
      h("span", { class: "absentee-name" }, a.name),
      h("span", { class: "absentee-meta" }, [a.employee_no, a.seat].filter(Boolean).join(" · "))))
    : [h("li", { class: "absentee-none" }, t("closed.none"))]));
}

function leaderName(employeeNo) {
  const row = findRow(employeeNo);
  return row ? t("person", { name: row.name, no: employeeNo }) : employeeNo;
}

/** Draw everything from state. */
export function render() {
  renderHeader();
  renderCountdown();
  renderWindowStatus();
  renderCounts();
  renderRoster();
  renderNotices();
  renderQuestion();
  renderReader();
  renderClosedReport();
  document.body.classList.toggle("loaded", state.loaded);
}

/** Draw only what a tap or mark changes: quicker than a full render on a busy roll call. */
export function renderRowsAndCounts() {
  renderCounts();
  renderRoster();
  renderWindowStatus();
  renderCountdown();
}

export { renderReader, renderQuestion, renderClosedReport };
