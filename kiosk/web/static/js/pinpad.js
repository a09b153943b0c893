// The PIN pad: badge + PIN at the kiosk. A leader's badge alone acknowledges alerts; for anything else the
// server answers "pin_required" and the page opens this pad over the screen. Touch only: big keys 0–9,
// 清除 (clear) and 确定 (OK); entered digits show as dots, never as digits. The pad takes no keyboard input
// on purpose: a keyboard-wedge badge reader "types" hex digits into the page, and a badge tap must never
// land in a PIN. The PIN goes to the server once (verify_pin) and is then forgotten; a wrong one is
// answered with the tries left, and the last allowed one ends the session (the pad says so, then closes).
// Built by script, so the kiosk page and the floor map share one pad; its words are in pin-i18n.js.

import { byTestId, h, setText, show } from "./dom.js";
import { language, onLanguageChange, setLanguage, t } from "./i18n.js";
import "./pin-i18n.js";

const MIN = 4;
const MAX = 6;
const LOCKED_SHOWN_MS = 8000; // the lock-out message stays this long (or until 关闭), then the pad closes

let request = async () => ({ ok: false, error: "disconnected" });
let root = null;
let digits = "";
let busy = false;
let locked = false;
let lockedTimer = null;
let who = null; // {name, no}
let message = null; // {kind: "error" | "info", key, params}
let pending = null; // {promise, resolve} while the pad is open

export function isOpen() {
  return Boolean(root) && !root.hidden;
}

/** One key of the pad; clear's and OK's words are set by draw(), in the screen's language. */
function key(text, testid, onclick, cls = "") {
  return h("button", { type: "button", class: `pin-key ${cls}`.trim(), testid, onclick }, text);
}

function build() {
  const keys = [];
  for (const d of "123456789") keys.push(key(d, `pin-key-${d}`, () => press(d)));
  keys.push(key("", "pin-clear", clear, "pin-key-clear"));
  keys.push(key("0", "pin-key-0", () => press("0")));
  keys.push(key("", "pin-ok", submit, "pin-key-ok"));
  root = h("div", { class: "pin-overlay", testid: "pin-pad", role: "dialog", "aria-modal": "true",
                    "aria-labelledby": "pin-title", hidden: true },
    h("div", { class: "pin-box" },
      h("div", { class: "pin-head" },
        h("h2", { class: "pin-title", id: "pin-title", testid: "pin-title" }),
        // The pad covers the screen's own language button, so it has one of its own.
        h("button", { type: "button", class: "pin-lang", testid: "pin-lang",
                      onclick: () => setLanguage(language() === "zh-CN" ? "en" : "zh-CN") }),
        h("button", { type: "button", class: "pin-cancel", testid: "pin-cancel", onclick: cancel })),
      h("div", { class: "pin-who", testid: "pin-who" }),
      h("div", { class: "pin-why", testid: "pin-why" }),
      h("div", { class: "pin-dots", testid: "pin-dots", dataset: { count: "0" }, role: "status" }),
      h("div", { class: "pin-message", testid: "pin-message", role: "alert", hidden: true }),
      h("div", { class: "pin-keys" }, ...keys),
      h("div", { class: "pin-demo", testid: "pin-demo-hint", hidden: true })));
  document.body.append(root);
}

function draw() {
  if (!root) return;
  setText(byTestId("pin-title", root), t("pin.title"));
  setText(byTestId("pin-lang", root), language() === "zh-CN" ? "English" : "中文");
  setText(byTestId("pin-cancel", root), t(locked ? "pin.close" : "pin.cancel"));
  setText(byTestId("pin-who", root), who ? t("pin.who", { name: who.name || "", no: who.no || "" }) : "");
  setText(byTestId("pin-why", root), t("pin.why"));
  const dots = byTestId("pin-dots", root);
  dots.dataset.count = String(digits.length);
  dots.setAttribute("aria-label", t("pin.dots", { n: digits.length }));
  const slots = Math.max(MIN, digits.length);
  if (dots.children.length !== slots || [...dots.children].some((d, i) => d.classList.contains("filled") !== i < digits.length)) {
    dots.replaceChildren(...Array.from({ length: slots }, (_v, i) => h("span", { class: `pin-dot${i < digits.length ? " filled" : ""}` })));
  }
  const box = byTestId("pin-message", root);
  show(box, Boolean(message));
  if (message) {
    box.dataset.kind = message.kind;
    setText(box, t(message.key, message.params));
  }
  for (const d of "0123456789") byTestId(`pin-key-${d}`, root).disabled = busy || locked || digits.length >= MAX;
  const clearKey = byTestId("pin-clear", root);
  setText(clearKey, t("pin.clear"));
  clearKey.disabled = busy || locked || !digits;
  const ok = byTestId("pin-ok", root);
  setText(ok, t("pin.ok"));
  ok.disabled = busy || locked || digits.length < MIN;
  const demoPin = document.body.dataset.demoPin;
  const hint = byTestId("pin-demo-hint", root);
  show(hint, Boolean(demoPin));
  if (demoPin) setText(hint, t("pin.demo", { pin: demoPin }));
  root.dataset.state = locked ? "locked" : (busy ? "checking" : "entry");
}

function press(d) {
  if (busy || locked || digits.length >= MAX) return;
  digits += d;
  if (message && message.kind === "error") message = null; // typing again: the last refusal has been read
  draw();
}

function clear() {
  if (busy || locked) return;
  digits = "";
  draw();
}

/** Close the pad and answer whoever asked. */
function finish(verified, answer) {
  digits = "";
  busy = false;
  locked = false;
  message = null;
  clearTimeout(lockedTimer);
  lockedTimer = null;
  if (root) show(root, false);
  document.body.classList.remove("with-pin-pad");
  const p = pending;
  pending = null;
  if (p) p.resolve({ verified, answer });
}

function cancel() {
  if (busy) return;
  if (locked) finish(false, { ok: false, error: "pin_locked" });
  else finish(false, { ok: false, error: "pin_cancelled" });
}

async function submit() {
  if (busy || locked || digits.length < MIN) return;
  const pin = digits;
  digits = ""; // the PIN leaves the page once, and is not kept
  busy = true;
  message = { kind: "info", key: "pin.checking", params: {} };
  draw();
  const answer = await request("verify_pin", { pin });
  busy = false;
  if (!isOpen()) return; // closed meanwhile (the session ended)
  if (answer.ok) {
    finish(true, answer);
    return;
  }
  switch (answer.error) {
    case "pin_wrong":
      message = { kind: "error", key: "pin.wrong", params: { n: answer.remaining ?? "?" } };
      break;
    case "pin_format":
      message = { kind: "error", key: "pin.format", params: {} };
      break;
    case "timeout":
    case "disconnected":
      message = { kind: "error", key: `error.${answer.error}`, params: {} };
      break;
    case "pin_locked": {
      // The session has ended and an alert is up: say so for a while, then go. Whoever asked hears now.
      locked = true;
      message = { kind: "error", key: "pin.locked", params: {} };
      const p = pending;
      pending = null;
      if (p) p.resolve({ verified: false, answer });
      lockedTimer = setTimeout(() => finish(false, answer), LOCKED_SHOWN_MS);
      break;
    }
    default: // no session, no PIN set, a role that may not: the page says why
      finish(false, answer);
      return;
  }
  draw();
}

/** Open the pad for ``person`` ({name, no}); resolves {verified, answer} when the PIN is right or the pad closes. */
export function ask(person) {
  if (!root) build();
  if (pending) return pending.promise; // already asking: one answer for both
  if (locked) finish(false, { ok: false, error: "pin_locked" });
  who = person || null;
  digits = "";
  message = null;
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  pending = { promise, resolve };
  show(root, true);
  document.body.classList.add("with-pin-pad");
  draw();
  return promise;
}

/** The leader's session ended elsewhere (idle, 退出, another badge): close, unless the lock-out is being shown. */
export function sessionEnded() {
  if (isOpen() && !locked) finish(false, { ok: false, error: "leader_required" });
}

/** ``requestFn(event, data)`` sends to the server with an acknowledgement and resolves with its answer. */
export function init(requestFn) {
  request = requestFn;
  if (!root) build();
  draw();
  onLanguageChange(draw);
}
