// The duty leader's console (§3.4, §3.5): opened by the server after a leader badge tap at this kiosk,
// closed by the leader, or by the server after 60 s without use. Every action is a Socket.IO emit with
// an acknowledgement; a refusal ({ok: false, error, message}) is shown in words, never swallowed.
// A security officer's badge opens it too, but security may only acknowledge alerts (in the alert
// band, alerts.js) and hand out visitor cards: the roll call actions are hidden for that role.
//
// Badge + PIN: the badge alone acknowledges alerts. Any other action the server refuses with
// "pin_required" until the leader has entered their PIN in this session; requestWithPin() then opens the
// PIN pad (pinpad.js) and, once the PIN is right, sends the same action again. The console's head says
// which it is: 仅刷卡 (badge only) or 已验证 PIN.

import { byTestId, h, setText, show } from "./dom.js";
import { onLanguageChange, t } from "./i18n.js";
import * as board from "./board.js";
import * as pinpad from "./pinpad.js";
import * as time from "./time.js";

const IDLE_MS = 60000; // the server's LEADER_IDLE
const ACK_TIMEOUT_MS = 8000;
const CLOSE_CONFIRM_MS = 5000;

// What the attendance record says, in the floor's language whatever the screen shows (§3.4 record).
const REASON_NOTES = { forgot: "忘带工牌", leave: "事假", sick: "病假", other: "其他" };
// Roles that run roll call at the kiosk (the server's rollcall.LEADER_ROLES); security only acknowledges alerts.
const ROLLCALL_ROLES = ["leader", "supervisor", "admin"];

let socket = null;
let afterChange = () => {};
let expiresAt = 0;
let selected = null; // employee_no
let reason = null; // one of REASON_NOTES' keys
let closeArmedUntil = 0;
let closeTimer = null;
let message = null; // {key, params, kind, raw}
let busy = false;

const el = (id) => document.getElementById(id);

function consoleEl() {
  return byTestId("leader-console");
}

function isOpen() {
  return !consoleEl().hidden;
}

/** May the person at this kiosk run roll call? (A session without a role is the duty leader's.) */
export function runsRollcall(leader = board.state.leader) {
  return Boolean(leader) && ROLLCALL_ROLES.includes(leader.role || "leader");
}

/** Emit with an ack and a deadline; resolves with the server's answer or an {ok:false} of our own. */
export function request(event, data) {
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

function setMessage(kind, key, params = {}) {
  message = { kind, key, params };
  drawMessage();
}

function showRefusal(answer) {
  const key = `error.${answer.error}`;
  const known = t(key) !== key;
  message = known ? { kind: "error", key, params: {} } : { kind: "error", key: "error.unknown", params: { message: answer.message || answer.error } };
  drawMessage();
}

function drawMessage() {
  const box = byTestId("leader-message");
  show(box, Boolean(message));
  if (!message) return;
  box.dataset.kind = message.kind;
  setText(box, t(message.key, message.params));
}

/** Any answer but "tap your badge first" means the server refreshed the session's idle time. Answers
 * carry the session as the server has it (``leader``; null once it has ended, e.g. after too many wrong PINs). */
export function touched(answer) {
  if (answer.error === "leader_required" || answer.leader === null) {
    hide();
    return;
  }
  if (answer.leader && answer.leader.expires_at) {
    expiresAt = time.parse(answer.leader.expires_at);  // the server's own deadline after the refresh
    const current = board.state.leader;
    if (current && current.employee_no === answer.leader.employee_no) board.state.leader = { ...current, ...answer.leader };
  } else if (answer.error !== "timeout" && answer.error !== "disconnected") {
    expiresAt = time.now() + IDLE_MS;
  }
}

/** Has the person at this kiosk entered their PIN in this session? */
export function pinVerified(leader = board.state.leader) {
  return Boolean(leader && leader.pin_verified);
}

/** Open the PIN pad for the person at this kiosk; resolves with the server's answer ({ok: true} once verified). */
export async function askPin() {
  const who = board.state.leader;
  if (!who) return { ok: false, error: "leader_required" };
  const { answer } = await pinpad.ask({ name: who.name, no: who.employee_no });
  touched(answer);
  if (isOpen()) {
    drawControls();
    drawWho();
  }
  afterChange();
  return answer;
}

/** request(), and when the server wants the PIN first: the PIN pad, then the same request again. */
export async function requestWithPin(event, data) {
  const answer = await request(event, data);
  if (answer.error !== "pin_required") return answer;
  touched(answer);
  const verified = await askPin();
  if (!verified.ok) return verified;
  return request(event, data);
}

async function run(event, data, onOk) {
  if (busy) return;
  busy = true;
  setMessage("info", "leader.working");
  drawControls();
  try {
    const answer = await requestWithPin(event, data);
    touched(answer);
    if (answer.ok) onOk(answer);
    else showRefusal(answer);
  } finally {
    busy = false;
    drawControls();
  }
}

function pendingRows() {
  return board.state.rows.filter((r) => r.status === "pending");
}

function drawPending() {
  const list = byTestId("leader-pending");
  const rows = pendingRows();
  if (selected && !rows.some((r) => r.employee_no === selected)) {
    selected = null;
    reason = null;
  }
  if (!rows.length) {
    list.replaceChildren(h("li", { class: "pending-none" }, t(board.state.closed ? "leader.mark.closed" : "leader.mark.none")));
  } else {
    list.replaceChildren(...rows.map((r) => h("li", {},
      h("button", {
        type: "button",
        class: `pending-person${r.employee_no === selected ? " selected" : ""}`,
        testid: `leader-pick-${r.employee_no}`,
        "aria-pressed": r.employee_no === selected ? "true" : "false",
        onclick: () => { selected = r.employee_no; reason = null; drawControls(); },
      }, h("span", { class: "pending-name" }, r.name), h("span", { class: "pending-meta" }, [r.employee_no, r.seat].filter(Boolean).join(" · "))))));
  }
}

function drawPin() {
  const verified = pinVerified();
  const box = byTestId("leader-pin-state");
  box.dataset.verified = verified ? "true" : "false";
  setText(el("leader-pin-text"), t(verified ? "pin.state.verified" : "pin.state.badge"));
  const enter = el("leader-pin-enter");
  setText(enter, t("pin.enter"));
  show(enter, !verified);
  enter.disabled = busy;
}

function drawControls() {
  drawPin();
  const rollcallAllowed = runsRollcall();
  show(el("console-body"), rollcallAllowed);
  show(byTestId("leader-security-note"), Boolean(board.state.leader) && !rollcallAllowed);
  consoleEl().dataset.role = (board.state.leader && board.state.leader.role) || "leader";
  drawPending();
  const form = el("mark-form");
  show(form, Boolean(selected));
  const row = selected && board.state.rows.find((r) => r.employee_no === selected);
  setText(byTestId("mark-person"), row ? `${row.name} · ${row.employee_no}${row.seat ? ` · ${row.seat}` : ""}` : "");
  for (const b of el("mark-choices").querySelectorAll("button")) {
    b.classList.toggle("selected", b.dataset.reason === reason);
    b.setAttribute("aria-pressed", b.dataset.reason === reason ? "true" : "false");
  }
  const note = el("mark-note").value.trim();
  el("mark-confirm").disabled = busy || !selected || !reason || (reason === "other" && !note);
  const armed = time.now() < closeArmedUntil;
  const closeBtn = el("leader-close");
  setText(closeBtn, t(armed ? "leader.close.confirm" : "leader.close"));
  closeBtn.classList.toggle("armed", armed);
  closeBtn.disabled = busy || Boolean(board.state.closed) || !(board.state.window && board.state.window.open);
  el("leader-pick-question").disabled = busy || Boolean(board.state.closed) || !(board.state.window && board.state.window.open);
  const q = board.state.question;
  const asking = Boolean(q && q.answered_well == null);
  show(el("console-question"), asking);
  if (asking) setText(el("console-question-text"), `${t("question.who", { name: q.name, no: q.employee_no })} ${q.question}`);
  el("answer-well").disabled = busy;
  el("answer-poor").disabled = busy;
}

function drawWho() {
  const leader = board.state.leader;
  setText(el("leader-who"), leader ? t("leader.who", { name: leader.name, no: leader.employee_no }) : "");
}

/** Once a second: the idle countdown; the console closes itself when the server's session has run out. */
export function tick() {
  if (!isOpen()) return;
  const left = expiresAt - time.now();
  if (left <= 0) {
    hide();
    afterChange();
    return;
  }
  setText(byTestId("leader-idle"), t("leader.idle", { s: Math.ceil(left / 1000) }));
  if (closeArmedUntil && time.now() >= closeArmedUntil) {
    closeArmedUntil = 0;
    drawControls();
  }
}

function reset() {
  selected = null;
  reason = null;
  closeArmedUntil = 0;
  message = null;
  el("mark-note").value = "";
}

/** Show the console for the leader in board.state.leader. */
export function open() {
  const leader = board.state.leader;
  if (!leader) return;
  const wasOpen = isOpen();
  expiresAt = time.parse(leader.expires_at) || time.now() + IDLE_MS;
  if (!wasOpen) reset();
  show(consoleEl(), true);
  document.body.classList.add("with-console");
  drawWho();
  drawControls();
  drawMessage();
  tick();
}

export function hide() {
  pinpad.sessionEnded();
  show(consoleEl(), false);
  document.body.classList.remove("with-console");
  board.state.leader = null;
  reset();
}

/** The board changed (tap, mark, snapshot): keep the pending list and buttons in step. */
export function refresh() {
  if (!board.state.leader) {
    if (isOpen()) hide();
    return;
  }
  if (!isOpen()) open();
  else {
    drawWho();
    drawControls();
  }
}

function confirmMark() {
  const row = board.state.rows.find((r) => r.employee_no === selected);
  if (!row || !reason) return;
  const status = reason === "forgot" ? "present" : "excused";
  const extra = el("mark-note").value.trim();
  const note = extra ? `${REASON_NOTES[reason]}：${extra}` : REASON_NOTES[reason];
  run("mark_attendance", { employee_no: row.employee_no, status, note }, (answer) => {
    board.applyMark(answer);
    selected = null;
    reason = null;
    el("mark-note").value = "";
    setMessage("ok", "leader.marked", { name: answer.name || row.name, status: t(`status.${answer.status}`) });
    afterChange();
  });
}

function closeRollcall() {
  if (time.now() >= closeArmedUntil) {
    // Closing writes the attendance record: ask for a second tap.
    closeArmedUntil = time.now() + CLOSE_CONFIRM_MS;
    drawControls();
    return;
  }
  closeArmedUntil = 0;
  run("close_rollcall", {}, (answer) => {
    board.applyClosed(answer);
    setMessage("ok", "leader.closed", { n: (answer.absentees || []).length });
    afterChange();
  });
}

function pickQuestion() {
  run("pick_question", {}, (answer) => {
    board.applyQuestion(answer);
    message = null;
    drawMessage();
    afterChange();
  });
}

function recordAnswer(well) {
  const q = board.state.question;
  if (!q) return;
  run("record_answer", { id: q.id, answered_well: well }, (answer) => {
    board.applyQuestion(answer);
    setMessage("ok", "leader.answer.saved");
    afterChange();
  });
}

function endSession() {
  // Leave at once; the server's leader_session_ended confirms it to every screen.
  if (socket && socket.connected) socket.emit("end_leader_session", {});
  hide();
  afterChange();
}

async function enterPin() {
  if (busy) return;
  const answer = await askPin();
  if (!answer.ok && answer.error !== "pin_cancelled" && isOpen()) showRefusal(answer);
}

export function init(sock, onChange) {
  socket = sock;
  afterChange = onChange;
  pinpad.init(request);
  el("leader-end").addEventListener("click", endSession);
  el("leader-pin-enter").addEventListener("click", enterPin);
  el("leader-pin-text").removeAttribute("data-i18n");
  el("leader-pin-enter").removeAttribute("data-i18n");
  el("mark-cancel").addEventListener("click", () => { selected = null; reason = null; el("mark-note").value = ""; drawControls(); });
  for (const b of el("mark-choices").querySelectorAll("button")) {
    b.addEventListener("click", () => { reason = b.dataset.reason; drawControls(); });
  }
  el("mark-note").addEventListener("input", () => drawControls());
  el("mark-confirm").addEventListener("click", confirmMark);
  el("leader-close").addEventListener("click", closeRollcall);
  el("leader-pick-question").addEventListener("click", pickQuestion);
  el("answer-well").addEventListener("click", () => recordAnswer(true));
  el("answer-poor").addEventListener("click", () => recordAnswer(false));
  el("leader-close").removeAttribute("data-i18n");
  onLanguageChange(() => {
    if (!isOpen()) return;
    drawWho();
    drawControls();
    drawMessage();
    tick();
  });
}
