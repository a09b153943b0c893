// Visitors on the kiosk screen (§2.2: outsiders come in only with an approval of the Hotline Management
// Section; §6.6: the duty leader stops anyone who does not). Two parts:
//
// * The visitors-inside panel, shown while anyone is inside: every visitor in the call area with
//   organisation, purpose, host, since when and until when; an overstayed visit is highlighted. The
//   snapshot's `visitors` replaces it; visitors_changed {visitors} replaces it live.
// * The leader console's visitor card section: today's valid approvals (list_visitor_approvals, once the
//   leader has entered their PIN: a badge alone only acknowledges alerts); the
//   leader picks one, checks the ID's last 4 characters and binds a card (start_visitor_binding). The kiosk
//   then waits 30 s for a card on its reader (visitor_binding_armed, or the snapshot's visitor_binding,
//   with a countdown); visitor_card_bound, visitor_binding_refused and visitor_binding_expired end the wait
//   and say so in words.
//
// Visitor card taps at this kiosk's reader (bound, signed out, refused) go to the tap card. Events are
// for every kiosk; this screen keeps those whose `kiosk` is its own.

import { byTestId, h, setText, show } from "./dom.js";
import { language, onLanguageChange, t } from "./i18n.js";
import * as board from "./board.js";
import * as leader from "./leader.js";
import * as tapcard from "./tapcard.js";
import * as time from "./time.js";
import "./visitor-i18n.js";

// The server's visitors.BIND_ROLES: who may hand out visitor cards at the kiosk.
const BIND_ROLES = ["leader", "supervisor", "security", "admin"];
const EXPIRED_GRACE_MS = 3000; // the server's timer says "expired" within a second; past this, the screen does

export const state = {
  inside: [], // the snapshot's / visitors_changed's visitors
  approvals: null, // today's approvals for the console; null until loaded for this session
  loadedFor: null, // the leader (employee_no) the approvals were asked for
  loading: false,
  selected: null, // approval id picked in the console
  armed: null, // {approval_id, name, expires} while the kiosk waits for a card
  message: null, // {kind: "ok" | "error" | "info", key, params}
  busy: false,
};

let socket = null;
let kioskId = "kiosk";

const mine = (p) => Boolean(p) && (p.kiosk == null || p.kiosk === kioskId);

// ------------------------------------------------------------------------------------------- state

/** The snapshot: who is inside, and the binding armed at this kiosk, if any (a reload mid-wait keeps it). */
export function applySnapshot(snap) {
  state.inside = (snap.visitors || []).map((v) => ({ ...v }));
  const b = snap.visitor_binding;
  state.armed = b && mine(b) ? armedFrom(b) : null;
  if (!canBind()) resetConsole();
  else if (state.message && ["timeout", "disconnected"].includes(state.message.error)) {
    state.loadedFor = null; // the list could not be had while the connection was down: ask again
    state.message = null;
  }
}

function armedFrom(p) {
  return { approval_id: p.approval_id, name: p.name, expires: time.parse(p.expires_at) || time.now() + 30000 };
}

function approvalName(id) {
  const a = (state.approvals || []).find((x) => x.id === id);
  return a ? a.name : (state.armed && state.armed.approval_id === id ? state.armed.name : "");
}

function resetConsole() {
  state.approvals = null;
  state.loadedFor = null;
  state.selected = null;
  state.message = null;
  state.busy = false;
}

// ------------------------------------------------------------------------------------------ console

/** A leader session at this kiosk whose role may bind visitor cards. */
function canBind() {
  const l = board.state.leader;
  return Boolean(l) && BIND_ROLES.includes(l.role || "leader");
}

function sessionKey() {
  const l = board.state.leader;
  return l ? l.employee_no : null;
}

/** May the console ask for today's approvals? Only once the PIN is entered (the list names visitors). */
function canList() {
  return canBind() && leader.pinVerified();
}

/** Ask for today's approvals (again); drawn when they come. */
async function loadApprovals() {
  if (!canList() || state.loading) return;
  const key = sessionKey();
  state.loadedFor = key;
  state.loading = true;
  let answer;
  try {
    answer = await leader.request("list_visitor_approvals", {});
  } finally {
    state.loading = false;
  }
  if (sessionKey() !== key) return; // the leader left, or another one tapped, meanwhile
  leader.touched(answer);
  if (answer.ok) {
    state.approvals = answer.approvals || [];
    if (state.selected != null && !state.approvals.some((a) => a.id === state.selected)) state.selected = null;
  } else {
    state.approvals = state.approvals || [];
    state.message = refusal(answer);
  }
  renderConsole();
}

function refusal(answer) {
  const key = `error.${answer.error}`;
  if (t(key) !== key) return { kind: "error", key, params: {}, error: answer.error };
  return { kind: "error", key: "vconsole.error", params: { message: answer.message || answer.error }, error: answer.error };
}

/** The console's "输入 PIN" in the visitor section: the PIN pad, then today's list. */
async function enterPin() {
  const answer = await leader.askPin();
  if (!canBind()) return;
  if (!answer.ok && answer.error !== "pin_cancelled") state.message = refusal(answer);
  renderConsole();
}

async function bind() {
  const a = (state.approvals || []).find((x) => x.id === state.selected);
  if (!a || state.busy) return;
  state.busy = true;
  state.message = null;
  renderConsole();
  const answer = await leader.requestWithPin("start_visitor_binding", { approval_id: a.id });
  state.busy = false;
  leader.touched(answer);
  if (answer.ok) {
    state.armed = armedFrom({ ...answer, name: answer.name || a.name });
    state.message = null;
  } else {
    state.message = refusal(answer);
  }
  renderConsole();
}

function windowText(a, lang) {
  return t("vconsole.window", { from: hhmmOrDay(a.valid_from, lang), until: hhmmOrDay(a.valid_until, lang) });
}

/** HH:MM, with the day in front when it is not today. */
const hhmmOrDay = tapcard.visitorTime;

/** 接待 郝欣敏（10102）; ``short``: the name only, where room is scarce (the console's list). */
function hostText(v, short = false) {
  let who = v.host_employee_no;
  if (v.host_name) who = short ? v.host_name : t("person", { name: v.host_name, no: v.host_employee_no });
  return t("visitors.host", { host: who });
}

function purposeText(purpose) {
  const key = `visitors.purpose.${purpose}`;
  return t(key) !== key ? t(key) : purpose || "";
}

function approvalElement(a, lang) {
  const picked = a.id === state.selected;
  const tags = [];
  if (a.escort_required) tags.push(h("span", { class: "vtag vtag-escort" }, t("visitors.escort")));
  if (a.status === "upcoming") tags.push(h("span", { class: "vtag" }, t("vconsole.upcoming")));
  if (a.card_uid_tail) tags.push(h("span", { class: "vtag vtag-card" }, t("vconsole.card", { tail: a.card_uid_tail })));
  if (a.inside) tags.push(h("span", { class: "vtag vtag-inside" }, t("vconsole.inside")));
  return h("li", {},
    h("button", {
      type: "button",
      class: `vc-approval${picked ? " selected" : ""}`,
      testid: `visitor-approval-${a.id}`,
      "aria-pressed": picked ? "true" : "false",
      disabled: state.busy || Boolean(state.armed),
      onclick: () => { state.selected = picked ? null : a.id; state.message = null; renderConsole(); },
    },
    h("span", { class: "vc-line" },
      h("span", { class: "vc-name" }, a.name),
      a.organisation ? h("span", { class: "vc-org" }, a.organisation) : null,
      ...tags),
    h("span", { class: "vc-meta" }, [purposeText(a.purpose), windowText(a, lang), hostText(a, true)].join(" · "))));
}

function statusElement(lang) {
  if (state.armed) {
    const left = Math.max(0, Math.ceil((state.armed.expires - time.now()) / 1000));
    return h("div", { class: "vc-status", testid: "visitor-binding-status", dataset: { kind: "waiting" }, role: "status" },
      h("span", { class: "vc-status-main" }, t("vconsole.waiting")),
      h("span", { class: "vc-countdown", testid: "visitor-binding-countdown", role: "timer" },
        t("vconsole.waiting.left", { name: state.armed.name || approvalName(state.armed.approval_id), s: left })));
  }
  if (state.message) {
    return h("div", { class: "vc-status", testid: "visitor-binding-status", dataset: { kind: state.message.kind }, role: "status" },
      t(state.message.key, state.message.params));
  }
  const a = (state.approvals || []).find((x) => x.id === state.selected);
  if (a) {
    return h("div", { class: "vc-check", testid: "visitor-check" },
      h("span", { class: "vc-check-text" }, t("vconsole.check", { name: a.name, tail: a.id_doc_tail })),
      h("button", { type: "button", class: "console-button primary", testid: "visitor-bind", disabled: state.busy,
        onclick: bind }, t(a.card_uid_tail ? "vconsole.rebind" : "vconsole.bind")));
  }
  return null;
}

function renderConsole() {
  const section = byTestId("visitor-console");
  if (!section) return;
  const allowed = canBind();
  show(section, allowed);
  if (!allowed) return;
  if (state.loadedFor !== sessionKey()) loadApprovals(); // a new session at this kiosk: today's list
  const lang = language();
  let list;
  if (!leader.pinVerified()) {
    // Badge only: the list names visitors and their ID tails, so it waits for the PIN.
    list = [h("li", { class: "vc-none vc-pin" },
      h("span", {}, t("vconsole.pin")),
      h("button", { type: "button", class: "console-button console-pin-enter", testid: "visitor-pin-enter",
                    onclick: enterPin }, t("pin.enter")))];
  } else if (state.approvals == null) list = [h("li", { class: "vc-none" }, t("vconsole.loading"))];
  else if (!state.approvals.length) list = [h("li", { class: "vc-none" }, t("vconsole.none"))];
  else list = state.approvals.map((a) => approvalElement(a, lang));
  section.dataset.state = state.armed ? "waiting" : (state.message ? state.message.kind : "idle");
  // What to do now (waiting for the card, the outcome, the ID check) above the list, so it is never scrolled away.
  section.replaceChildren(...[
    h("div", { class: "vc-head" },
      h("h3", { id: "visitor-console-title" }, t("vconsole.title")),
      h("p", { class: "console-hint" }, t("vconsole.hint"))),
    statusElement(lang),
    h("ul", { class: "vc-approvals", testid: "visitor-approvals" }, ...list),
  ].filter(Boolean));
}

// ------------------------------------------------------------------------------------ inside panel

function overstayed(v) {
  const until = time.parse(v.valid_until);
  return Boolean(v.overstayed) || Boolean(v.cancelled) || (until != null && until <= time.now());
}

function visitorElement(v, lang) {
  const over = overstayed(v);
  const since = time.parse(v.entered_at);
  return h("li", {
    class: `visitor${over ? " overstayed" : ""}`,
    testid: `visitor-${v.approval_id}`,
    dataset: { overstayed: over ? "true" : "false", card: v.uid_tail || "" },
  },
  h("div", { class: "visitor-line" },
    h("span", { class: "visitor-name", testid: "visitor-name" }, v.name),
    v.organisation ? h("span", { class: "visitor-org" }, v.organisation) : null,
    h("span", { class: "visitor-purpose" }, purposeText(v.purpose)),
    v.escort_required ? h("span", { class: "vtag vtag-escort" }, t("visitors.escort")) : null),
  h("div", { class: "visitor-meta" },
    h("span", { class: "visitor-host" }, hostText(v)),
    since != null ? h("span", { class: "visitor-since" }, t("visitors.since", { time: hhmmOrDay(v.entered_at, lang) })) : null,
    h("span", { class: "visitor-until" }, t("visitors.until", { time: hhmmOrDay(v.valid_until, lang) }))),
  over ? h("div", { class: "visitor-over", testid: "visitor-overstayed" },
    t(v.cancelled ? "visitors.cancelled" : "visitors.overstayed")) : null);
}

function renderPanel() {
  const panel = byTestId("visitors-panel");
  if (!panel) return;
  const lang = language();
  const list = state.inside;
  const anyOver = list.some(overstayed);
  panel.dataset.count = String(list.length);
  panel.dataset.tone = anyOver ? "amber" : (list.length ? "present" : "none");
  // Only while someone is inside: the strip takes its room from the roll call list (body.with-visitors).
  show(panel, list.length > 0);
  document.body.classList.toggle("with-visitors", list.length > 0);
  document.body.classList.toggle("visitors-many", list.length > 1); // the landscape strip: two lines high
  setText(panel.querySelector(".visitors-count"), list.length ? t("visitors.count", { n: list.length }) : "");
  const ul = panel.querySelector(".visitor-list");
  ul.replaceChildren(...list.map((v) => visitorElement(v, lang)));
}

/** Draw the panel and, when a leader who may bind cards is at this kiosk, the console section. */
export function render() {
  renderPanel();
  renderConsole();
}

// ------------------------------------------------------------------------------------------ timers

let lastOver = "";

/** Once a second: the binding countdown, and an overstay shown the moment a visit's window ends. */
export function tick() {
  if (!canBind() && (state.approvals != null || state.message)) { // the console closed: start afresh next time
    resetConsole();
    renderConsole();
  }
  if (state.armed && time.now() - state.armed.expires > EXPIRED_GRACE_MS) {
    state.armed = null; // the server's expiry event was lost (e.g. a reconnect): stop the countdown anyway
    state.message = { kind: "error", key: "vconsole.expired", params: {} };
    renderConsole();
  } else if (state.armed) {
    const el = byTestId("visitor-binding-countdown");
    if (el) setText(el, t("vconsole.waiting.left", { name: state.armed.name, s: Math.max(0, Math.ceil((state.armed.expires - time.now()) / 1000)) }));
  }
  const over = state.inside.filter(overstayed).map((v) => v.card_id).join(",");
  if (over !== lastOver) {
    lastOver = over;
    renderPanel();
  }
}

// ------------------------------------------------------------------------------------------- wiring

/** Listen to the visitor events of the /kiosk namespace. */
export function init(sock, id) {
  socket = sock;
  kioskId = id || "kiosk";
  socket.on("visitors_changed", (p) => {
    state.inside = ((p && p.visitors) || []).map((v) => ({ ...v }));
    renderPanel();
  });
  socket.on("leader_session_started", (p) => {
    if (!mine(p)) return;
    // A badge tap (again): a fresh list. The session is on board.state once kiosk.js has handled the same
    // event, so draw after it.
    state.loadedFor = null;
    queueMicrotask(renderConsole);
  });
  socket.on("leader_session_ended", (p) => {
    if (!mine(p)) return;
    queueMicrotask(() => { resetConsole(); renderConsole(); });
  });
  socket.on("visitor_binding_armed", (p) => {
    if (!mine(p)) return;
    state.armed = armedFrom(p);
    state.message = null;
    renderConsole();
  });
  socket.on("visitor_card_bound", (p) => {
    if (!mine(p)) return;
    state.armed = null;
    state.selected = null;
    // "…2A01" stays on one line (a word joiner after the ellipsis).
    state.message = { kind: "ok", key: "vconsole.bound", params: { name: p.name, tail: (p.uid_tail || "").replace("…", "…\u2060") } };
    tapcard.showVisitor(p);
    renderConsole();
    if (canList()) loadApprovals(); // the approval now has a card
  });
  socket.on("visitor_binding_refused", (p) => {
    if (!mine(p)) return;
    const name = approvalName(p.approval_id);
    state.armed = null;
    state.message = { kind: "error", key: "vconsole.refused", params: { name } };
    tapcard.showVisitor({ ...p, name });
    renderConsole();
  });
  socket.on("visitor_binding_expired", (p) => {
    if (!mine(p)) return;
    if (state.armed && state.armed.approval_id !== p.approval_id) return; // a newer arming replaced it
    state.armed = null;
    state.message = { kind: "error", key: "vconsole.expired", params: {} };
    renderConsole();
  });
  socket.on("visitor_signed_out", (p) => {
    if (mine(p)) tapcard.showVisitor(p);
  });
  for (const name of ["visitor_approved", "visitor_approval_cancelled"]) {
    socket.on(name, () => { if (canList()) loadApprovals(); });
  }
  onLanguageChange(render);
}
