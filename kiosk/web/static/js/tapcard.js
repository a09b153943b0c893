// The big result card: what one tap came to, in words a person understands, with a colour and a sound.
// green = accepted (到), amber = accepted but late, blue = already checked in, red = refused or not recorded.
// Door reader decisions (door_tap_decided, §4.4, §6.6) show here too, with the door's name: green when
// the door lets the person in, red with the reason when it does not. When the kiosk's own reader is a
// door reader, one tap gives a roll call result and a door decision: the door's becomes a line under it.
// Visitor cards (§2.2) at the kiosk's reader show here too: a card bound to a visitor, a visitor signed out.

import { byTestId, setText } from "./dom.js";
import { language, onLanguageChange, t } from "./i18n.js";
import * as sound from "./sound.js";
import { state } from "./board.js";
import * as time from "./time.js";
import "./visitor-i18n.js"; // the words of visitor taps (vtap.*, vdoor.*)

const SHOW_MS = 8000; // then back to "tap your badge", so the next person never reads someone else's result
const SAME_TAP_MS = 5000; // a door decision this soon after the same card's roll call tap belongs to that tap
const DOOR_OUTCOMES = ["granted", "unknown_badge", "badge_lost", "badge_revoked", "staff_left", "not_on_duty",
  "not_roll_called", "visitor_outside_window", "visitor_needs_escort", "locked_out"];

let shown = null; // {kind: "tap" | "failed" | "local" | "door" | "visitor", payload, door?, at}
// A visitor card's tap at the kiosk (kiosk.services.visitors.kiosk_tap's outcomes): the words and colour.
const VISITOR_TAPS = { bound: ["vtap.bound", "accepted"], signed_out: ["vtap.signed_out", "info"],
  binding_refused: ["vtap.refused", "refused"] };
let idleTimer = null;

function card() {
  return byTestId("tap-result");
}

function colourOf(entry) {
  if (entry.kind === "door") return entry.payload.granted ? "accepted" : "refused";
  if (entry.kind === "visitor") return (VISITOR_TAPS[entry.payload.outcome] || [null, "refused"])[1];
  if (entry.kind !== "tap") return "refused";
  const p = entry.payload;
  if (p.outcome === "present") return p.leader_late ? "late" : "accepted";
  if (p.outcome === "late") return "late";
  if (p.outcome === "duplicate") return "info";
  return "refused";
}

function soundOf(colour) {
  return { accepted: "accepted", late: "accepted", info: "info" }[colour] || "refused";
}

function outcomeText(entry) {
  if (entry.kind === "door") return t(entry.payload.granted ? "doortap.granted" : "doortap.refused");
  if (entry.kind === "visitor") return t((VISITOR_TAPS[entry.payload.outcome] || ["vtap.refused"])[0]);
  if (entry.kind === "failed") return t("outcome.failed");
  if (entry.kind === "local") return t("outcome.refused");
  const o = entry.payload.outcome;
  if (o === "present" || o === "late" || o === "duplicate") return t(`outcome.${o}`);
  return t("outcome.refused");
}

/** The reason lines for one outcome, in the current language (every outcome the server can send). */
/** Why a door let someone in or not, in words (every door outcome the server sends). */
function doorReason(p) {
  const visitor = visitorDoorReason(p);
  if (visitor) return visitor;
  const key = DOOR_OUTCOMES.includes(p.outcome) ? `doortap.reason.${p.outcome}` : null;
  return key ? t(key) : (p.granted ? t("doortap.reason.granted") : t("doortap.reason.other"));
}

/** A visitor card at a door (§2.2, §6.6): the visitor's window, the escort rule, or the approval gone. */
function visitorDoorReason(p) {
  const lang = language();
  const detail = p.detail || {};
  if (p.outcome === "visitor_outside_window") {
    // No window in the decision: the card is bound but its approval was cancelled.
    if (!detail.valid_from) return t("vdoor.no_approval");
    return t("vdoor.outside_window", { from: visitorTime(detail.valid_from, lang), until: visitorTime(detail.valid_until, lang) });
  }
  if (p.outcome === "visitor_needs_escort") return t("vdoor.needs_escort");
  if (p.outcome === "granted" && p.visitor) return t("vdoor.granted", { name: p.name || "" });
  return null;
}

/** HH:MM, with the date in front when it is not today (an approval for another day). */
export function visitorTime(iso, lang) {
  const ms = time.parse(iso);
  if (ms == null) return "";
  const sameDay = time.day(ms, lang) === time.day(time.now(), lang);
  return `${sameDay ? "" : `${time.day(ms, lang)} `}${time.hhmm(ms, lang)}`;
}

function visitorLines(p) {
  const lang = language();
  if (p.outcome === "bound") {
    const lines = [t("vtap.bound.reason", { from: visitorTime(p.valid_from, lang), until: visitorTime(p.valid_until, lang) })];
    if (p.escort_required) lines.push(t("vtap.bound.escort"));
    return lines;
  }
  if (p.outcome === "signed_out") return [t("vtap.signed_out.reason", { name: p.name || "" })];
  return [t("vtap.refused.reason", { name: p.name || "" })];
}

export function reasonLines(entry) {
  const lang = language();
  if (entry.kind === "door") return [doorReason(entry.payload)];
  if (entry.kind === "visitor") return visitorLines(entry.payload);
  if (entry.kind === "failed") return [t("reason.tap_failed")];
  if (entry.kind === "local") return [t(`reason.${entry.payload.error}`)];
  const p = entry.payload;
  const detail = p.detail || {};
  const lines = [];
  switch (p.outcome) {
    case "present":
      lines.push(t("reason.present"));
      break;
    case "late":
      lines.push(t("reason.late", { start: state.shift ? time.hhmm(time.parse(state.shift.starts_at), lang) : "" }));
      break;
    case "duplicate":
      lines.push(t("reason.duplicate"));
      break;
    case "not_on_roster":
      lines.push(detail.on_shift
        ? t("reason.not_on_roster.on_shift", { on_shift: detail.on_shift_name || detail.on_shift, shift: state.shift ? state.shift.name : "" })
        : t("reason.not_on_roster", { shift: state.shift ? state.shift.name : "" }));
      break;
    case "outside_window":
      if (detail.closed) lines.push(t("reason.outside_window.closed"));
      else if (state.window && !state.window.open) {
        lines.push(t("reason.outside_window.next", { time: time.hhmm(time.parse(state.window.opens_at), lang) }));
      } else lines.push(t("reason.outside_window"));
      break;
    case "unknown_badge":
    case "badge_lost":
    case "badge_revoked":
    case "staff_left":
      lines.push(t(`reason.${p.outcome}`));
      break;
    default:
      lines.push(t("reason.unknown_badge"));
  }
  // §3.1: the duty leader should be there at least 10 minutes before the shift.
  if (p.leader_late) lines.push(t("reason.leader_late", { n: state.leaderEarlyMinutes }));
  // The same tap at a kiosk that is also a door reader: what the door decided.
  if (entry.door) {
    const d = entry.door;
    lines.push(t("doortap.line", { outcome: t(d.granted ? "doortap.granted" : "doortap.refused"), door: d.door_name || d.door_id }));
    if (!d.granted) lines.push(doorReason(d));
  }
  return lines;
}

function metaText(entry) {
  const p = entry.payload || {};
  const parts = [];
  if (entry.kind === "door") {
    parts.push(t("doortap.at", { door: p.door_name || p.door_id }));
    if (p.visitor) parts.push(t("doortap.visitor"));
    if (p.employee_no) parts.push(t("empno", { no: p.employee_no }));
    else if (p.uid_tail) parts.push(p.uid_tail);
    return parts.join(" · ");
  }
  if (entry.kind === "visitor") {
    if (p.organisation) parts.push(p.organisation);
    if (p.uid_tail) parts.push(t("vtap.meta", { tail: p.uid_tail }));
    return parts.join(" · ");
  }
  if (p.employee_no) parts.push(t("empno", { no: p.employee_no }));
  if (p.seat) parts.push(t("seat", { seat: p.seat }));
  else if (p.duty === "leader") parts.push(t("duty.leader"));
  if (!p.employee_no && p.uid_tail) parts.push(p.uid_tail);
  return parts.join(" · ");
}

function draw() {
  const el = card();
  if (!shown) {
    el.dataset.state = "idle";
    el.dataset.outcome = "";
    el.dataset.source = "";
    el.dataset.door = "";
    setText(byTestId("tap-result-outcome"), t("idle.title"));
    setText(byTestId("tap-result-name"), "");
    setText(byTestId("tap-result-meta"), "");
    setText(byTestId("tap-result-reason"), t("idle.sub"));
    return;
  }
  el.dataset.state = colourOf(shown);
  el.dataset.outcome = shown.kind === "tap" ? shown.payload.outcome : shown.kind === "failed" ? "tap_failed"
    : shown.kind === "door" ? `door_${shown.payload.outcome}`
      : shown.kind === "visitor" ? `visitor_${shown.payload.outcome}` : shown.payload.error;
  el.dataset.source = shown.kind === "door" ? "door" : "kiosk";
  el.dataset.door = shown.kind === "door" ? shown.payload.outcome : (shown.door ? shown.door.outcome : "");
  setText(byTestId("tap-result-outcome"), outcomeText(shown));
  setText(byTestId("tap-result-name"), (shown.payload && shown.payload.name) || "");
  setText(byTestId("tap-result-meta"), metaText(shown));
  setText(byTestId("tap-result-reason"), reasonLines(shown).join("\n"));
}

function present(entry) {
  shown = { ...entry, at: Date.now() };
  draw();
  // Restart the flash animation so two taps in a row are visibly two.
  const el = card();
  el.classList.remove("flash");
  void el.offsetWidth;
  el.classList.add("flash");
  sound.play(soundOf(colourOf(entry)));
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    shown = null;
    draw();
  }, SHOW_MS);
}

/** A `tap_recorded` event. */
export function showTap(payload) {
  present({ kind: "tap", payload });
}

/** A `door_tap_decided` event: a door reader let someone in, or not, and why. */
export function showDoorTap(payload) {
  const sameTap = shown && shown.kind === "tap" && Date.now() - shown.at < SAME_TAP_MS
    && shown.payload.reader_id === payload.reader_id && shown.payload.uid_tail === payload.uid_tail;
  if (sameTap) {
    shown.door = payload; // one tap, two answers: the roll call's stays, the door's is added
    draw();
    if (!payload.granted) sound.play("refused");
    return;
  }
  present({ kind: "door", payload });
}

/** A visitor card tapped at this kiosk's reader: visitor_card_bound, visitor_signed_out, visitor_binding_refused. */
export function showVisitor(payload) {
  present({ kind: "visitor", payload });
}

/** A `tap_failed` event: the tap was NOT recorded. */
export function showFailed(payload) {
  present({ kind: "failed", payload });
}

/** A tap refused before it reached roll call (e.g. a wedge UID that is not a UID). */
export function showLocal(error, message = "") {
  present({ kind: "local", payload: { error, message } });
}

export function init() {
  for (const el of card().querySelectorAll("[data-i18n]")) el.removeAttribute("data-i18n");
  draw();
  onLanguageChange(draw);
}
