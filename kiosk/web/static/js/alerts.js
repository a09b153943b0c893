// The alert takeover (§5.1 report level by level, §6.5 the door is kept closed, §6.6 no entry without
// approval): while any alert is not acknowledged, a red (alarm) or amber (warning) band sits over the top
// of the board, lists every alert in words, and a siren repeats. Clearing is not acknowledging: a cleared
// alert stays, marked "已解除（未确认）", until a leader, supervisor or security officer who tapped a badge
// at this kiosk acknowledges it with a reason (acknowledge_alert). Nothing else silences it — not a mute
// button, not a reload: after a reload the snapshot brings the alerts back and the sound resumes as soon
// as the browser lets the page play sound.
//
// It is a band, not a blocker: the tap card, the counts and the door panel stay in view and usable, so
// roll call goes on during an alert.

import { byTestId, h, setText, show } from "./dom.js";
import { language, onLanguageChange, t } from "./i18n.js";
import * as board from "./board.js";
import { durationWords } from "./doors.js";
import * as leader from "./leader.js";
import * as sound from "./sound.js";
import * as time from "./time.js";

// The server's alerts.ACK_ROLES and ACK_REASONS.
const ACK_ROLES = ["leader", "supervisor", "security", "admin"];
export const ACK_REASONS = ["delivery", "false_alarm", "visitor_escorted", "investigating", "maintenance", "other"];
const ALARM_EVERY_MS = 2500; // the siren while a condition is still on
const REMINDER_EVERY_MS = 6000; // a softer chime once every alert has cleared but is not yet acknowledged
const MESSAGE_MS = 6000;

export const state = {
  alerts: new Map(), // id -> alert payload (unacknowledged only)
};

let selected = null; // id of the alert whose reason picker is open
let reason = null;
let comment = "";
let busy = false;
let message = null; // {kind: "ok" | "error", key, params}
let messageTimer = null;
let lastSound = 0;

// ------------------------------------------------------------------------------------------- state

/** The snapshot's `alerts` (every alert not yet acknowledged) replaces what the screen knew. */
export function applySnapshot(snap) {
  state.alerts = new Map();
  for (const a of snap.alerts || []) if (!a.acknowledged_at) state.alerts.set(a.id, { ...a });
}

export function applyRaised(a) {
  if (!a || a.id == null || a.acknowledged_at) return false;
  state.alerts.set(a.id, { ...a });
  return true;
}

/** alert_cleared {id, cleared_at}: the condition ended; the alert stays until acknowledged. */
export function applyCleared(p) {
  const a = p && state.alerts.get(p.id);
  if (!a) return false;
  a.cleared_at = p.cleared_at || new Date(time.now()).toISOString();
  return true;
}

/** alert_escalated: the alert went a level up (1: the floor supervisor; 2: security and the section). */
export function applyEscalated(p) {
  const a = p && state.alerts.get(p.id);
  if (!a) return false;
  a.level = Math.max(a.level || 0, p.level || 0);
  return true;
}

/** alert_acknowledged: gone from every screen. */
export function applyAcknowledged(p) {
  if (!p || !state.alerts.has(p.id)) return false;
  state.alerts.delete(p.id);
  if (selected === p.id) {
    selected = null;
    reason = null;
    comment = "";
  }
  return true;
}

function ordered() {
  return [...state.alerts.values()].sort((a, b) =>
    (time.parse(a.raised_at) || 0) - (time.parse(b.raised_at) || 0) || a.id - b.id);
}

/** The person at this kiosk may acknowledge: a leader session of an acknowledging role (not an operator). */
export function canAcknowledge() {
  const who = board.state.leader;
  return Boolean(who) && ACK_ROLES.includes(who.role || "leader");
}

/** alarm if any alert is an alarm, else warning; "none" without alerts. */
function worstSeverity(list) {
  if (!list.length) return "none";
  return list.some((a) => a.severity === "alarm") ? "alarm" : "warning";
}

// ------------------------------------------------------------------------------------------ words

export function kindText(kind) {
  const key = `alert.kind.${kind}`;
  return t(key) !== key ? t(key) : String(kind || "").replaceAll("_", " ");
}

function reasonText(r) {
  return t(`ack.reason.${r}`);
}

function raisedText(a) {
  const lang = language();
  const at = time.parse(a.raised_at);
  if (at == null) return "";
  const sameDay = time.day(at, lang) === time.day(time.now(), lang);
  return t("alert.raised", { time: `${sameDay ? "" : `${time.day(at, lang)} `}${time.hhmmss(at, lang)}` });
}

function agoText(a) {
  const at = time.parse(a.raised_at);
  return at == null ? "" : t("alert.ago", { t: durationWords(time.now() - at) });
}

// ----------------------------------------------------------------------------------------- drawing

function setMessage(kind, key, params = {}) {
  message = { kind, key, params };
  clearTimeout(messageTimer);
  if (kind === "ok") {
    messageTimer = setTimeout(() => { message = null; drawMessage(); }, MESSAGE_MS);
  }
  drawMessage();
}

function drawMessage() {
  const box = byTestId("alert-message");
  if (!box) return;
  show(box, Boolean(message));
  if (!message) return;
  box.dataset.kind = message.kind;
  setText(box, t(message.key, message.params));
}

function ackForm(a) {
  const needsComment = reason === "other";
  const ready = !busy && reason && (!needsComment || comment.trim());
  // One line of reasons and the confirm button (the comment field joins it for "other"); to pick another
  // alert, press that alert's own button.
  return h("div", { class: "alert-ack", testid: "alert-ack-form", role: "group", "aria-label": t("alert.ack.pick") },
    ...ACK_REASONS.map((r) => h("button", {
      type: "button",
      class: `alert-reason${r === reason ? " selected" : ""}`,
      testid: `alert-reason-${r}`,
      "aria-pressed": r === reason ? "true" : "false",
      disabled: busy,
      onclick: () => { reason = r; render(); if (r === "other") focusComment(); },
    }, reasonText(r))),
    needsComment ? h("input", {
      type: "text", class: "alert-comment", testid: "alert-comment", maxlength: "300", autocomplete: "off",
      placeholder: t("alert.ack.comment"), value: comment,
      oninput: (ev) => { comment = ev.target.value; drawConfirm(); },
    }) : null,
    h("button", { type: "button", class: "alert-confirm", testid: "alert-confirm", disabled: !ready,
      onclick: () => acknowledge(a) }, t("alert.ack.confirm")));
}

function focusComment() {
  const input = byTestId("alert-comment");
  if (input) input.focus();
}

/** Enable the confirm button as the comment is typed, without rebuilding (the field keeps its focus). */
function drawConfirm() {
  const button = byTestId("alert-confirm");
  if (button) button.disabled = busy || !reason || (reason === "other" && !comment.trim());
}

function alertElement(a, ackAllowed) {
  const cleared = Boolean(a.cleared_at);
  const level = a.level || 0;
  const where = a.subject || a.door_id || "";
  return h("li", {
    class: `alert-item severity-${a.severity === "alarm" ? "alarm" : "warning"}${cleared ? " cleared" : ""}`,
    testid: "alert-item",
    dataset: { alertId: String(a.id), kind: a.kind, severity: a.severity, cleared: cleared ? "true" : "false",
      level: String(level) },
  },
  h("div", { class: "alert-line" },
    h("span", { class: "alert-kind", testid: "alert-kind" }, kindText(a.kind)),
    where ? h("span", { class: "alert-where", testid: "alert-where" }, where) : null,
    a.rule ? h("span", { class: "alert-rule", testid: "alert-rule" }, a.rule) : null,
    cleared ? h("span", { class: "alert-tag tag-cleared", testid: "alert-cleared" }, t("alert.cleared")) : null,
    level > 0 ? h("span", { class: `alert-tag tag-level level-${level}`, testid: "alert-level" },
      t(`alert.level.${Math.min(level, 2)}`)) : null,
    ackAllowed && selected !== a.id
      ? h("button", { type: "button", class: "alert-ack-open", testid: "alert-ack-open", disabled: busy,
        onclick: () => { selected = a.id; reason = null; comment = ""; message = null; render(); } },
      t("alert.ack.open"))
      : null),
  h("div", { class: "alert-meta" },
    h("span", { class: "alert-raised", testid: "alert-raised" }, raisedText(a)),
    h("span", { class: "alert-ago", testid: "alert-ago" }, agoText(a)),
    a.message ? h("span", { class: "alert-detail", testid: "alert-detail", title: a.message }, a.message) : null),
  ackAllowed && selected === a.id ? ackForm(a) : null);
}

/** Draw the band from state (on every change; the running "N 秒前" is tick()'s). */
export function render() {
  const band = byTestId("alert-takeover");
  if (!band) return;
  const list = ordered();
  const any = list.length > 0;
  document.body.classList.toggle("with-alerts", any);
  show(band, any);
  band.dataset.severity = worstSeverity(list);
  band.dataset.count = String(list.length);
  if (!any) {
    selected = null;
    reason = null;
    comment = "";
    byTestId("alert-list").replaceChildren();
    return;
  }
  const ackAllowed = canAcknowledge();
  if (!ackAllowed) {
    selected = null;
    reason = null;
  } else if (selected == null || !state.alerts.has(selected)) {
    // A leader just tapped, or acknowledged one: the next alert's reasons are ready.
    selected = list[0].id;
    reason = null;
    comment = "";
  }
  band.dataset.ack = ackAllowed ? "offered" : "badge";
  setText(byTestId("alert-title"), list.length === 1 ? t("alert.title.one") : t("alert.title", { n: list.length }));
  setText(byTestId("alert-prompt"), ackAllowed ? t("alert.prompt.ack", { name: board.state.leader.name }) : t("alert.prompt"));
  const hadFocus = document.activeElement && document.activeElement.dataset.testid === "alert-comment";
  byTestId("alert-list").replaceChildren(...list.map((a) => alertElement(a, ackAllowed)));
  if (hadFocus) focusComment();
  drawMessage();
  drawSound();
}

function drawSound() {
  const band = byTestId("alert-takeover");
  const any = state.alerts.size > 0;
  const on = any && sound.running();
  band.dataset.sound = !any ? "off" : on ? "on" : "locked";
  const hint = byTestId("alert-sound-hint");
  show(hint, any && !on);
  setText(hint, any && !on ? t("alert.sound.locked") : "");
}

/** Once a second: "N 秒前", and the siren while anything is unacknowledged. */
export function tick() {
  if (!state.alerts.size) {
    drawSound();
    return;
  }
  for (const el of document.querySelectorAll('[data-testid="alert-item"]')) {
    const a = state.alerts.get(Number(el.dataset.alertId));
    if (a) setText(el.querySelector(".alert-ago"), agoText(a));
  }
  const active = [...state.alerts.values()].some((a) => !a.cleared_at);
  const every = active ? ALARM_EVERY_MS : REMINDER_EVERY_MS;
  if (sound.running() && Date.now() - lastSound >= every) {
    lastSound = Date.now();
    sound.play(active ? "alarm" : "reminder");
  }
  drawSound();
}

// ----------------------------------------------------------------------------------- acknowledging

function showRefusal(answer) {
  const key = `error.${answer.error}`;
  if (t(key) !== key) setMessage("error", key);
  else setMessage("error", "error.unknown", { message: answer.message || answer.error });
}

async function acknowledge(a) {
  if (busy || !reason) return;
  if (reason === "other" && !comment.trim()) {
    setMessage("error", "error.comment_required");
    return;
  }
  busy = true;
  const chosen = reason;
  message = null;
  render();
  let answer;
  try {
    answer = await leader.request("acknowledge_alert", { id: a.id, reason: chosen, comment: comment.trim() });
    leader.touched(answer); // the session's idle deadline moved (or it has ended)
  } finally {
    busy = false;
  }
  if (answer.ok) {
    applyAcknowledged({ id: a.id });
    setMessage("ok", "alert.ack.done", { kind: kindText(a.kind), reason: reasonText(chosen) });
  } else {
    showRefusal(answer);
  }
  render();
  afterChange();
}

let afterChange = () => {};

export function init(onChange) {
  afterChange = onChange || afterChange;
  onLanguageChange(() => render());
  render();
}
