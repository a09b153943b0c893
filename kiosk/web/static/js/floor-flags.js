// The leader's list of open floor flags (side panel of the floor map), each in words with its rule:
// §8.7 wrong seat, §3.6/§4.5 not signed in, §7.7 employee-number misuse, §8.8 busy/wrap-up allowance,
// §8.9 unexplained sign-out (a register entry: the leader records its cause), §7.3 seat left on after
// the shift. The duty leader identifies by tapping their badge at this kiosk's reader (the server then
// sends leader_session_started for this kiosk id); only then do the acknowledge and cause buttons show.
// Every action is an emit with an acknowledgement; a refusal is shown in words, never swallowed.
// Badge + PIN: acknowledging a flag is acknowledging an alert, so the badge alone does it; recording a
// sign-out's cause writes the leader's register, so the server wants the PIN first (pin_required): the PIN
// pad (pinpad.js) opens here, and once the PIN is right the cause is sent again.

import { byTestId, h, setText, show } from "./dom.js";
import { language, t } from "./i18n.js";
import { assignedSeatOf, flagsForLeader, needsAction, state } from "./floor-state.js";
import * as pinpad from "./pinpad.js";
import * as time from "./time.js";

const ACK_TIMEOUT_MS = 8000;
const ACTING_ROLES = ["leader", "supervisor", "admin"]; // the server's rollcall.LEADER_ROLES
export const CAUSES = ["equipment_failure", "system_failure", "other"]; // §8.9

let socket = null;
let onSelectSeat = () => {};
let afterChange = () => {};
let busy = false;
let message = null; // {kind, key, params}
let lastSignature = "";
const comments = new Map(); // flag id -> comment typed so far (survives redraws)

// ------------------------------------------------------------------------------------------------- words

function nameOf(employeeNo, given) {
  if (given) return given;
  for (const s of state.seats.values()) {
    if (s.agent && s.agent.employee_no === employeeNo) return s.agent.name;
    if (s.assigned && s.assigned.employee_no === employeeNo) return s.assigned.name;
  }
  return employeeNo || "";
}

function at(iso) {
  return time.hhmm(time.parse(iso), language());
}

/** A flag as the leader reads it: its title, one sentence, and the rule it cites. */
export function flagWords(f) {
  const d = f.detail || {};
  const name = nameOf(f.employee_no, f.name);
  const who = f.employee_no ? t("floor.person", { name, no: f.employee_no }) : "";
  const seat = f.seat || "?";
  const since = at(f.since || f.raised_at);
  const base = { who, seat, name, no: f.employee_no || "", time: since };
  let text = f.message || "";
  switch (f.kind) {
    case "wrong_seat":
      text = t("floor.words.wrong_seat", { ...base, assigned: d.assigned_seat || assignedSeatOf(f.employee_no) || "?" });
      break;
    case "not_signed_in":
      text = t(d.reason === "entered" ? "floor.words.not_signed_in.entered" : "floor.words.not_signed_in.roll_called",
               { ...base, n: Math.round(state.policy.not_signed_in_minutes ?? 5) });
      break;
    case "employee_no_misuse":
      if (["owner_left", "absent_at_roll_call", "not_entered", "other_seat"].includes(d.reason)) {
        text = t(`floor.words.misuse.${d.reason}`, { ...base, other: d.other_seat || "?",
                                                     mark: t(`floor.mark.${d.mark || "absent"}`) });
      }
      break;
    case "busy_allowance_warning":
    case "busy_allowance_reached":
    case "wrap_up_allowance_warning":
    case "wrap_up_allowance_reached":
      text = t("floor.words.allowance", { ...base, m: Math.round(d.minutes ?? 0),
                                          what: t(f.kind.startsWith("busy") ? "floor.busy" : "floor.wrap"),
                                          limit: Math.round(state.policy.allowance_limit_minutes ?? 40) });
      break;
    case "unexplained_signout":
      text = t("floor.words.unexplained_signout", base);
      break;
    case "end_of_shift": {
      const what = d.signed_in && d.occupied ? "both" : d.signed_in ? "signed_in" : "occupied";
      text = t("floor.words.end_of_shift", { ...base, shift: d.shift || "", what: t(`floor.words.what.${what}`) });
      break;
    }
    default:
      break;
  }
  const title = t(`floor.kind.${f.kind}`);
  return { title: title.startsWith("floor.kind.") ? f.kind : title, text, rule: f.rule || "" };
}

// ----------------------------------------------------------------------------------------- leader session

/** The leader identified at this kiosk, if their session has not run out and their role may act. */
export function actingLeader() {
  const l = state.leader;
  if (!l) return null;
  const until = time.parse(l.expires_at);
  if (until != null && until <= time.now()) return null;
  return l;
}

function mayAct() {
  const l = actingLeader();
  return Boolean(l) && ACTING_ROLES.includes(l.role || "leader");
}

function request(event, data) {
  return new Promise((resolve) => {
    if (!socket || !socket.connected) {
      resolve({ ok: false, error: "disconnected" });
      return;
    }
    socket.timeout(ACK_TIMEOUT_MS).emit(event, data, (err, answer) => {
      resolve(err ? { ok: false, error: "timeout" } : (answer || { ok: false, error: "unknown" }));
    });
  });
}

function refusal(answer) {
  const key = `floor.error.${answer.error}`;
  if (t(key) !== key) return { kind: "error", key, params: {} };
  return { kind: "error", key: "floor.error.unknown", params: { message: answer.message || answer.error || "?" } };
}

async function act(event, data, okMessage) {
  if (busy) return;
  busy = true;
  message = { kind: "info", key: "floor.leader.working", params: {} };
  render(true);
  try {
    let answer = await request(event, data);
    if (answer.error === "pin_required") {
      const l = actingLeader();
      const asked = await pinpad.ask({ name: l ? l.name : "", no: l ? l.employee_no : "" });
      answer = asked.verified ? await request(event, data) : asked.answer;
    }
    if (answer.leader !== undefined) state.leader = answer.leader; // the refreshed idle deadline, or null
    if (answer.error === "leader_required") state.leader = null;
    if (answer.ok) {
      message = okMessage;
      if (answer.flag) {
        // The push follows; apply the answer now so the list does not wait for it.
        const old = state.flags.get(answer.flag.id);
        const f = { ...answer.flag, name: answer.flag.name ?? old?.name ?? null };
        if (f.open === false) state.flags.delete(f.id);
        else state.flags.set(f.id, f);
        comments.delete(f.id);
      }
    } else {
      message = refusal(answer);
    }
  } finally {
    busy = false;
    render(true);
    afterChange();
  }
}

function acknowledge(f) {
  const words = flagWords(f);
  act("acknowledge_flag", { id: f.id }, { kind: "ok", key: "floor.leader.acked", params: { what: words.title } });
}

function recordCause(f, cause) {
  const comment = (comments.get(f.id) || "").trim();
  act("record_signout_cause", { id: f.id, cause, comment },
      { kind: "ok", key: "floor.leader.recorded", params: { cause: t(`floor.cause.${cause}`) } });
}

function endSession() {
  pinpad.sessionEnded();
  state.leader = null;
  message = null;
  if (socket && socket.connected) socket.emit("end_leader_session", null);
  render(true);
}

// ------------------------------------------------------------------------------------------------ drawing

function drawLeader() {
  const l = actingLeader();
  const box = byTestId("floor-leader");
  box.dataset.state = l ? (mayAct() ? "acting" : "not_allowed") : "none";
  const who = byTestId("floor-leader-who");
  const idle = byTestId("floor-leader-idle");
  show(byTestId("floor-leader-end"), Boolean(l));
  if (!l) {
    setText(who, t("floor.leader.prompt"));
    setText(idle, "");
    return;
  }
  const pin = mayAct() && l.pin_verified ? ` · ${t("pin.state.verified")}` : ""; // badge + PIN: the register too
  setText(who, t(mayAct() ? "floor.leader.who" : "floor.leader.not_allowed", { name: l.name || "", no: l.employee_no || "" }) + pin);
  const until = time.parse(l.expires_at);
  setText(idle, until == null ? "" : t("floor.leader.idle", { s: Math.max(0, Math.ceil((until - time.now()) / 1000)) }));
}

function drawMessage() {
  const box = byTestId("floor-leader-message");
  show(box, Boolean(message));
  if (!message) return;
  box.dataset.kind = message.kind;
  setText(box, t(message.key, message.params));
}

function flagItem(f, acting) {
  const words = flagWords(f);
  const actions = [];
  if (acting && f.register && f.needs_cause) {
    const input = h("input", { type: "text", class: "flag-comment", maxlength: "300", autocomplete: "off",
                               testid: `flag-comment-${f.id}`, "data-flag": f.id,
                               placeholder: t("floor.flag.comment") });
    input.value = comments.get(f.id) || "";
    input.addEventListener("input", () => comments.set(f.id, input.value));
    actions.push(h("div", { class: "flag-cause" },
      h("div", { class: "flag-cause-prompt" }, t("floor.flag.cause.prompt")),
      h("div", { class: "flag-cause-buttons" },
        CAUSES.map((c) => h("button", { type: "button", class: `flag-button cause-${c}`, testid: `flag-cause-${f.id}-${c}`,
                                        disabled: busy, onclick: () => recordCause(f, c) }, t(`floor.cause.${c}`)))),
      input));
  } else if (acting && !f.register) {
    actions.push(h("button", { type: "button", class: "flag-button flag-ack", testid: `flag-ack-${f.id}`, disabled: busy,
                               onclick: () => acknowledge(f) }, t("floor.flag.ack")));
  }
  return h("li", {
    class: `flag-item severity-${f.severity}${f.register ? " flag-register" : ""}`, testid: `flag-${f.id}`,
    dataset: { kind: f.kind, severity: f.severity, rule: f.rule || "", seat: f.seat || "", flagId: String(f.id) },
    onclick: (ev) => {
      if (ev.target.closest("button, input")) return;
      if (f.seat) onSelectSeat(f.seat);
    },
  },
  h("div", { class: "flag-head" },
    h("span", { class: "flag-rule" }, words.rule),
    h("span", { class: "flag-title" }, words.title),
    f.seat ? h("span", { class: "flag-seat" }, t("floor.flag.seat", { seat: f.seat })) : null,
    h("span", { class: "flag-time" }, t("floor.flag.since", { time: at(f.since || f.raised_at) }))),
  h("div", { class: "flag-text" }, words.text),
  actions.length ? h("div", { class: "flag-actions" }, actions) : null);
}

/** Redraw the list when what it shows changed (a redraw while typing a comment keeps the focus). */
function drawList(force) {
  const acting = mayAct();
  const flags = flagsForLeader();
  const signature = JSON.stringify([language(), acting, busy, flags.map((f) => [f.id, f.rev, f.name])]);
  if (!force && signature === lastSignature) return;
  lastSignature = signature;
  const list = byTestId("flag-list");
  const focused = document.activeElement;
  const focusFlag = focused && focused.classList && focused.classList.contains("flag-comment") ? focused.dataset.flag : null;
  const caret = focusFlag ? [focused.selectionStart, focused.selectionEnd] : null;
  if (!flags.length) {
    list.replaceChildren(h("li", { class: "flag-none", testid: "flag-none" }, t("floor.flags.none")));
  } else {
    list.replaceChildren(...flags.map((f) => flagItem(f, acting)));
  }
  if (focusFlag) {
    const input = list.querySelector(`input.flag-comment[data-flag="${focusFlag}"]`);
    if (input) {
      input.focus();
      try { input.setSelectionRange(caret[0], caret[1]); } catch (_err) { /* not a text input any more */ }
    }
  }
  setText(byTestId("flag-count"), String(flags.length));
  const acked = [...state.flags.values()].filter((f) => !needsAction(f)).length;
  const note = byTestId("flag-acked-note");
  show(note, acked > 0);
  setText(note, t("floor.flags.acked", { n: acked }));
}

export function render(force = false) {
  drawLeader();
  drawMessage();
  drawList(force);
}

/** Once a second: the idle countdown; a session that ran out hides the buttons. */
export function tick() {
  if (state.leader && !actingLeader()) {
    pinpad.sessionEnded();
    state.leader = null;
    render(true);
    return;
  }
  drawLeader();
}

export function leaderStarted(p) {
  if (p.kiosk !== state.kioskId) return false;
  state.leader = p;
  message = null;
  render(true);
  return true;
}

/** The session at this kiosk changed without a new tap (the PIN was entered): keep what is on screen. */
export function leaderUpdated(p) {
  if (p.kiosk !== state.kioskId) return false;
  state.leader = p;
  render(true);
  return true;
}

export function leaderEnded(p) {
  if (p.kiosk !== state.kioskId) return false;
  pinpad.sessionEnded();
  state.leader = null;
  render(true);
  return true;
}

export function init(sock, { selectSeat, changed }) {
  socket = sock;
  onSelectSeat = selectSeat;
  afterChange = changed;
  pinpad.init(request);
  byTestId("floor-leader-end").addEventListener("click", endSession);
}

export { mayAct, acknowledge, recordCause };
