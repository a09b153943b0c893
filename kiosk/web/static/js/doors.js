// The door panel (§6.5: the call-area door is kept closed, and its state is shown on the kiosk at all
// times): each door, exit button and equipment point with its state in words and colour, and one line
// per sensor gateway. A snapshot replaces everything; points_changed and gateway_health_changed patch
// it at once. A point the server does not know is "unknown" — grey, and never drawn as closed.

import { byTestId, h, setText } from "./dom.js";
import { language, t } from "./i18n.js";
import * as time from "./time.js";

// The kinds the server's panel() sends (kiosk.services.sensors.PANEL_KINDS), doors first: on a busy
// floor with many points, the doors are the ones that must stay in view.
const KIND_ORDER = ["door", "exit_button", "equipment"];

// The colour of a state: calm (the normal state), amber (not normal, worth a look), red (an alarm on
// the sensor itself), unknown (nobody knows: grey, never green).
const TONES = {
  closed: "calm", released: "calm",
  open: "amber", pressed: "amber",
  tamper: "red", fault: "red",
  unknown: "unknown",
};

export const state = {
  loaded: false,
  points: [], // [{point, kind, label, state, at, reconciled, gateway}]
  gateways: {}, // id -> {gateway, last_seen_at, silent}
};

/** The data-testid of a point: `point-door-main` for `door:main`. */
export function pointTestId(id) {
  return `point-${String(id).replaceAll(":", "-")}`;
}

function gatewayTestId(id) {
  return `gateway-${String(id).replace(/[^A-Za-z0-9_-]/g, "-")}`;
}

function sortPoints() {
  const rank = (p) => { const i = KIND_ORDER.indexOf(p.kind); return i < 0 ? KIND_ORDER.length : i; };
  state.points.sort((a, b) => rank(a) - rank(b) || (a.point < b.point ? -1 : a.point > b.point ? 1 : 0));
}

/** Replace the panel with a snapshot's `points` and `gateways`. */
export function applySnapshot(snap) {
  state.loaded = true;
  state.points = (snap.points || []).filter((p) => KIND_ORDER.includes(p.kind)).map((p) => ({ ...p }));
  state.gateways = {};
  for (const g of snap.gateways || []) state.gateways[g.gateway] = { ...g };
  sortPoints();
}

/** Live point changes (points_changed): patch the points; a new panel point is added. */
export function applyPointsChanged(payload) {
  let changed = false;
  for (const ch of (payload && payload.changes) || []) {
    if (!KIND_ORDER.includes(ch.kind)) continue; // seats go to the floor map, not here
    const next = { point: ch.point, kind: ch.kind, label: ch.label, state: ch.state, at: ch.at,
      reconciled: Boolean(ch.reconciled), gateway: ch.gateway };
    const i = state.points.findIndex((p) => p.point === ch.point);
    if (i >= 0) state.points[i] = { ...state.points[i], ...next };
    else state.points.push(next);
    // A change carried by a gateway's post means that gateway was just heard from (a silent one
    // makes its points unknown on the kiosk's own timer: that change says nothing about the gateway).
    const gw = ch.gateway && state.gateways[ch.gateway];
    if (ch.gateway && ch.state !== "unknown") {
      state.gateways[ch.gateway] = { ...(gw || { gateway: ch.gateway }), silent: false, last_seen_at: new Date(time.now()).toISOString() };
    }
    changed = true;
  }
  sortPoints();
  return changed;
}

/** A gateway went silent (or came back): gateway_health_changed {gateway, silent}. */
export function applyGatewayHealth(payload) {
  if (!payload || !payload.gateway) return false;
  const gw = state.gateways[payload.gateway] || { gateway: payload.gateway, last_seen_at: null };
  state.gateways[payload.gateway] = { ...gw, silent: Boolean(payload.silent) };
  return true;
}

// ---------------------------------------------------------------------------------------------- drawing

function tone(p) {
  return TONES[p.state] || "unknown";
}

/** The state in words: by kind where the kind names it (an exit button is pressed, equipment moved). */
function stateWord(p) {
  const byKind = `point.${p.kind}.${p.state}`;
  if (t(byKind) !== byKind) return t(byKind);
  const common = `point.${p.state}`;
  return t(common) !== common ? t(common) : p.state;
}

/** 42 秒 · 3 分 05 秒 · 1 小时 07 分 */
function duration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  if (hours > 0) return t("dur.hm", { h: hours, m: pad(m) });
  if (m > 0) return t("dur.ms", { m, s: pad(s) });
  return t("dur.s", { s });
}

/** The small line under the state: how long a door has been open, since when a state holds, or why unknown. */
function metaText(p) {
  const at = time.parse(p.at);
  if (p.state === "unknown") return t(p.kind === "door" ? "point.meta.unknown_door" : "point.meta.unknown");
  if (at == null) return "";
  if (p.kind === "door" && p.state === "open") return t("point.meta.open_for", { t: duration(time.now() - at) });
  if (tone(p) === "calm") return t("point.meta.since", { time: time.hhmm(at, language()) });
  return t("point.meta.for", { t: duration(time.now() - at) });
}

function pointElement(p) {
  const id = pointTestId(p.point);
  return h("li", {
    class: `door-point kind-${p.kind} tone-${tone(p)}`,
    testid: id,
    dataset: { point: p.point, state: p.state, kind: p.kind, reconciled: p.reconciled ? "true" : "false" },
  },
  h("span", { class: "point-label", title: p.point }, p.label || p.point),
  h("span", { class: "point-state", testid: `${id}-state` }, stateWord(p)),
  h("span", { class: "point-meta", testid: `${id}-meta` }, metaText(p)),
  p.reconciled && p.state !== "unknown"
    ? h("span", { class: "point-hint", testid: `${id}-reconciled` }, t("point.reconciled")) : null);
}

/** Gateways to show: every one the server knows, plus any a point names that never reported. */
function gatewayList() {
  const out = { ...state.gateways };
  for (const p of state.points) {
    if (p.gateway && !out[p.gateway]) out[p.gateway] = { gateway: p.gateway, last_seen_at: null, silent: true, never: true };
  }
  return Object.values(out).sort((a, b) => (a.gateway < b.gateway ? -1 : 1));
}

function gatewayText(g) {
  if (g.never || (g.silent && !g.last_seen_at)) return t("gateway.never", { id: g.gateway });
  if (!g.silent) return t("gateway.online", { id: g.gateway });
  return t("gateway.silent", { id: g.gateway, ago: duration(time.now() - time.parse(g.last_seen_at)) });
}

function gatewayElement(g) {
  return h("li", { class: `gateway ${g.silent ? "gateway-silent" : "gateway-online"}`, testid: gatewayTestId(g.gateway),
    dataset: { silent: g.silent ? "true" : "false", gateway: g.gateway } },
  h("span", { class: "gateway-dot", "aria-hidden": "true" }),
  h("span", { class: "gateway-text" }, gatewayText(g)));
}

/** The worst tone on the panel, for its frame: red over amber over unknown over calm. */
function panelTone() {
  const tones = new Set(state.points.map(tone));
  for (const level of ["red", "amber", "unknown"]) if (tones.has(level)) return level;
  return state.points.length ? "calm" : "none";
}

/** Draw the whole panel from state. */
export function render() {
  const panel = byTestId("door-panel");
  if (!panel) return;
  panel.dataset.tone = state.loaded ? panelTone() : "unknown";
  const list = document.getElementById("door-points");
  if (!state.loaded) {
    list.replaceChildren(h("li", { class: "door-empty" }, t("door.waiting")));
  } else if (!state.points.length) {
    list.replaceChildren(h("li", { class: "door-empty" }, t("door.none")));
  } else {
    list.replaceChildren(...state.points.map(pointElement));
  }
  document.getElementById("gateway-list").replaceChildren(...gatewayList().map(gatewayElement));
}

/** Once a second: the running "open for N s" and "last seen N s ago", without rebuilding the panel. */
export function tick() {
  for (const p of state.points) {
    setText(byTestId(`${pointTestId(p.point)}-meta`), metaText(p));
  }
  for (const g of gatewayList()) {
    const el = byTestId(gatewayTestId(g.gateway));
    if (el) setText(el.querySelector(".gateway-text"), gatewayText(g));
  }
}
