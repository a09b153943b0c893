// Where badges come from besides a server-side reader: the demo's tap panel (simulated reader) and
// keyboard-wedge readers, which "type" the UID followed by Enter into whatever page has focus.

import { byTestId, setText } from "./dom.js";
import { language, onLanguageChange, t } from "./i18n.js";
import * as tapcard from "./tapcard.js";

// ------------------------------------------------------------------------------------ demo tap panel

let simMessage = null;
let simMessageKey = "sim.error"; // which demo control failed: a tap or a sensor contact
let simReader = ""; // where the panel's taps go: "" = the kiosk's own reader, else a simulated door reader's id

function drawSimMessage() {
  const box = byTestId("sim-message");
  if (box) setText(box, simMessage ? t(simMessageKey, { message: simMessage }) : "");
}

async function simTap(url, uid) {
  uid = uid.trim();
  if (!uid) return;
  simMessage = null;
  simMessageKey = "sim.error";
  drawSimMessage();
  try {
    const resp = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(simReader ? { uid, reader: simReader } : { uid }),
    });
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      if (body.error === "invalid_uid") tapcard.showLocal("invalid_uid", body.message);
      simMessage = body.message || `HTTP ${resp.status}`;
      drawSimMessage();
    }
    // The result arrives as tap_recorded over the socket, like a real badge's.
  } catch (err) {
    simMessage = String(err.message || err);
    drawSimMessage();
  }
}

// The demo labels come from the demo data in Chinese; the English screen translates the known tags.
const LABEL_TAGS = { "(班长)": "sim.label.leader", "(挂失)": "sim.label.lost", "(已离职)": "sim.label.left",
  "(过期)": "sim.label.visitor_ended" };

function drawSimLabels(panel) {
  for (const b of panel.querySelectorAll(".sim-badge")) {
    let label = b.dataset.label;
    if (language() !== "zh-CN") {
      if (label === "未知卡片") label = t("sim.label.unknown");
      label = label.replace(/^访客卡 (\d+)/, (_m, n) => t("sim.label.visitor", { n }));
      for (const [tag, key] of Object.entries(LABEL_TAGS)) label = label.replace(tag, `(${t(key)})`);
    }
    setText(b, label);
  }
  for (const b of panel.querySelectorAll(".sim-reader-door")) setText(b, t("sim.reader.door", { reader: b.dataset.reader }));
}

/** The reader selector (with simulated door readers): the badges, visitor cards and UID box tap there. */
function initReaderPicker(panel) {
  const buttons = [...panel.querySelectorAll(".sim-reader")];
  const draw = () => {
    for (const b of buttons) {
      const on = b.dataset.reader === simReader;
      b.classList.toggle("selected", on);
      b.setAttribute("aria-checked", on ? "true" : "false");
    }
    panel.dataset.reader = simReader || "kiosk";
  };
  for (const b of buttons) b.addEventListener("click", () => { simReader = b.dataset.reader || ""; draw(); });
  draw();
}

export function initSim(url) {
  const panel = byTestId("sim-panel");
  if (!panel) return;
  for (const b of panel.querySelectorAll(".sim-badge")) {
    b.addEventListener("click", () => simTap(url, b.dataset.uid));
  }
  const input = byTestId("sim-uid-input");
  document.getElementById("sim-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    simTap(url, input.value);
  });
  initReaderPicker(panel);
  drawSimLabels(panel);
  onLanguageChange(() => { drawSimLabels(panel); drawSimMessage(); });
}

// ------------------------------------------------------------------------------ demo sensor panel

async function simSensor(url, point, contact) {
  simMessage = null;
  simMessageKey = "sim.sensor.error";
  drawSimMessage();
  try {
    const resp = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ point, state: contact }),
    });
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      simMessage = body.message || `HTTP ${resp.status}`;
      drawSimMessage();
    }
    // The new state arrives as points_changed over the socket, through the real gateway process.
  } catch (err) {
    simMessage = String(err.message || err);
    drawSimMessage();
  }
}

/** The demo's door, exit button and wire-cut buttons (rendered only where simulated sensors run). */
export function initSimSensors() {
  const group = byTestId("sim-sensors");
  if (!group) return;
  for (const b of group.querySelectorAll(".sim-sensor")) {
    b.addEventListener("click", () => simSensor(group.dataset.url, b.dataset.point, b.dataset.contact));
  }
  onLanguageChange(drawSimMessage);
}

// ------------------------------------------------------------------------------- keyboard wedge

// A wedge types a whole UID (hex digits) and Enter within a few milliseconds per key; people type
// far slower and irregularly. Generous limits, because a busy page may deliver queued keys late.
const MAX_GAP_MS = 120; // a longer pause starts a new burst
const MAX_MEAN_GAP_MS = 60;
const MIN_LENGTH = 8; // 4-byte UIDs are 8 hex digits; 7- and 10-byte ones are longer
const HEX = /^[0-9a-fA-F]$/;

export function initWedge(submit) {
  let buffer = "";
  let first = 0;
  let last = 0;
  window.addEventListener("keydown", (ev) => {
    const at = performance.now();
    if (ev.key === "Enter") {
      const n = buffer.length;
      const fast = n >= MIN_LENGTH && at - last <= MAX_GAP_MS && (last - first) / (n - 1) <= MAX_MEAN_GAP_MS;
      if (fast) {
        ev.preventDefault();
        ev.stopPropagation();
        const target = ev.target;
        // The reader typed into a focused text box: take the UID back out of it.
        if (target && "value" in target && typeof target.value === "string" && target.value.endsWith(buffer)) {
          target.value = target.value.slice(0, -n);
        }
        submit(buffer);
      }
      buffer = "";
      return;
    }
    if (!HEX.test(ev.key) || ev.ctrlKey || ev.altKey || ev.metaKey) {
      buffer = "";
      return;
    }
    if (!buffer || at - last > MAX_GAP_MS) {
      buffer = "";
      first = at;
    }
    buffer += ev.key;
    last = at;
  }, { capture: true });
}

export function wedgeRefused(answer) {
  if (answer && answer.error === "invalid_uid") tapcard.showLocal("invalid_uid", answer.message);
}
