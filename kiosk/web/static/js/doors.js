// The door panel (§6.5: the call-area door is kept closed, and its state is shown on the kiosk at all
// times): each door, exit button and equipment point with its state in words and colour, and one line
// per sensor gateway. A snapshot replaces everything; points_changed and gateway_health_changed patch
// it at once. A point the server does not know is "unknown" — grey, and never drawn as closed.
//
// A point that is a defined door's contact (the snapshot's `doors`, door_changed) also shows the
// countdown to the held-open alarm while the door is open: plain at first, amber after the
// pre-warning (door_held_open_warning makes the tile flash), red once the alarm is due, and the door's
// alarms in words (forced open, held open). Doors are keyed by door id (`main`); their tiles by the
// contact point (`door:main`): the door payload's `contact_point` joins the two.

import { readerWords, state as board } from "./board.js";
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
  doors: {}, // contact point -> door payload + {deadline: ms on the server clock, warned: bool}
};

/** The tile a door belongs on: its contact point (older servers: `door:<id>`). */
function contactPointOf(door) {
  return door.contact_point || `door:${door.door_id}`;
}

/** Keep a door payload with the instant its held-open alarm is due, so the countdown ticks locally. */
function storeDoor(door, { warned = false } = {}) {
  const key = contactPointOf(door);
  const before = state.doors[key];
  const open = door.alarm_in_seconds != null && !door.closed;
  const deadline = open ? time.now() + door.alarm_in_seconds * 1000 : null;
  // A warning belongs to one opening: a door that closed (or a new opening) starts unwarned.
  const sameOpening = before && open && before.opened_at === door.opened_at;
  state.doors[key] = { ...door, deadline, warned: warned || Boolean(sameOpening && before.warned) };
}

/** door_changed: one door's state, countdown and alarms. */
export function applyDoorChanged(door) {
  if (!door || !door.door_id) return false;
  storeDoor(door);
  return true;
}

/** door_held_open_warning {door_id, alarm_in_seconds}: the pre-warning; the door's tile flashes. */
export function applyHeldOpenWarning(p) {
  const door = p && Object.values(state.doors).find((d) => d.door_id === p.door_id);
  if (!door) return false;
  door.warned = true;
  if (p.alarm_in_seconds != null) door.deadline = time.now() + p.alarm_in_seconds * 1000;
  return true;
}

function doorOf(point) {
  return point.kind === "door" ? state.doors[point.point] || null : null;
}

/** The countdown phase of an open door: counting, prewarn (amber), alarm (red); null when not counting. */
function countdownPhase(door) {
  if (!door || door.deadline == null) return null;
  const left = door.deadline - time.now();
  if (left <= 0 || (door.alarms || []).includes("held_open")) return "alarm";
  const prewarnLeft = (door.alarm_s - door.prewarn_s) * 1000; // time left when the pre-warning is due
  if (door.warned || (door.prewarn_s < door.alarm_s && left <= prewarnLeft)) return "prewarn";
  return "counting";
}

function countdownText(door) {
  const phase = countdownPhase(door);
  if (!phase) return "";
  if (phase === "alarm") return t("door.countdown.due");
  const left = Math.max(0, door.deadline - time.now());
  // No break inside "2 秒": the line may only wrap after the exclamation mark (keep-all in the CSS).
  const words = durationWords(Math.ceil(left / 1000) * 1000).replaceAll(" ", "\u00a0");
  return t(phase === "prewarn" ? "door.countdown.prewarn" : "door.countdown", { t: words });
}

/** The door's alarms in words: 非法开门 · 门长时间未关. */
function alarmText(door) {
  if (!door) return "";
  return (door.alarms || []).map((k) => t(`door.alarm.${k}`)).filter((w) => !w.startsWith("door.alarm.")).join(" · ");
}

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
  const before = state.doors;
  state.doors = {};
  for (const d of snap.doors || []) {
    const old = before[contactPointOf(d)];
    storeDoor(d, { warned: Boolean(old && old.warned && old.opened_at === d.opened_at) });
  }
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
export function durationWords(ms) {
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
  if (p.kind === "door" && p.state === "open") return t("point.meta.open_for", { t: durationWords(time.now() - at) });
  if (tone(p) === "calm") return t("point.meta.since", { time: time.hhmm(at, language()) });
  return t("point.meta.for", { t: durationWords(time.now() - at) });
}

/** A door's countdown and alarms, as data- attributes of its tile (the CSS colours them). */
function doorDataset(p) {
  const door = p.state === "open" ? doorOf(p) : null;
  const phase = countdownPhase(door);
  const alarmed = Boolean(door && (door.alarms || []).some((k) => k === "forced_open" || k === "held_open"));
  return { countdown: phase || "none", alarmed: alarmed ? "true" : "false", warned: door && door.warned ? "true" : "false" };
}

function pointElement(p) {
  const id = pointTestId(p.point);
  const door = p.state === "open" ? doorOf(p) : null;
  const down = readersDown(doorOf(p));
  return h("li", {
    class: `door-point kind-${p.kind} tone-${tone(p)}`,
    testid: id,
    dataset: { point: p.point, state: p.state, kind: p.kind, reconciled: p.reconciled ? "true" : "false",
      doorId: (doorOf(p) || {}).door_id || "", ...(p.kind === "door" ? doorDataset(p) : {}) },
  },
  h("span", { class: "point-label", title: p.point }, p.label || p.point),
  h("span", { class: "point-state", testid: `${id}-state` }, stateWord(p)),
  h("span", { class: "point-meta", testid: `${id}-meta` }, metaText(p)),
  door ? h("span", { class: "point-countdown", testid: `${id}-countdown`, role: "timer" }, countdownText(door)) : null,
  door ? h("span", { class: "point-alarms", testid: `${id}-alarms` }, alarmText(door)) : null,
  // §4.4: a door whose reader is down lets nobody badge in there; the leader sees it on the door's tile.
  down.length ? h("span", { class: "point-readers", testid: `${id}-readers`, role: "status" }, down.join("；")) : null,
  p.reconciled && p.state !== "unknown"
    ? h("span", { class: "point-hint", testid: `${id}-reconciled` }, t("point.reconciled")) : null);
}

/** The door's badge readers that are not connected, as the roll call board last heard of them (a reader
 * on its own PC reports through the server: unplugged, failing, or its PC gone silent). */
function readersDown(door) {
  return (door && door.readers ? door.readers : [])
    .filter((rid) => board.readers[rid] && board.readers[rid].state !== "connected")
    .map((rid) => t("door.reader", { id: rid, words: readerWords(board.readers[rid]) }));
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
  return t("gateway.silent", { id: g.gateway, ago: durationWords(time.now() - time.parse(g.last_seen_at)) });
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
  const doorAlarm = state.points.some((p) => {
    const d = p.kind === "door" ? doorDataset(p) : null;
    return d && (d.countdown === "alarm" || d.alarmed === "true");
  });
  if (doorAlarm) tones.add("red");
  for (const level of ["red", "amber", "unknown"]) if (tones.has(level)) return level;
  return state.points.length ? "calm" : "none";
}

function syncPanelTone() {
  const panel = byTestId("door-panel");
  if (panel) panel.dataset.tone = state.loaded ? panelTone() : "unknown";
}

/** Draw the whole panel from state. */
export function render() {
  const panel = byTestId("door-panel");
  if (!panel) return;
  syncPanelTone();
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

/** Once a second: the running "open for N s", the alarm countdown and "last seen N s ago", without rebuilding. */
export function tick() {
  let stale = false;
  for (const p of state.points) {
    const id = pointTestId(p.point);
    setText(byTestId(`${id}-meta`), metaText(p));
    if (p.kind !== "door") continue;
    const tile = byTestId(id);
    const door = p.state === "open" ? doorOf(p) : null;
    const countdown = byTestId(`${id}-countdown`);
    if (Boolean(door) !== Boolean(countdown)) stale = true; // a countdown started or ended since the last draw
    if (tile) Object.assign(tile.dataset, doorDataset(p));
    if (countdown) setText(countdown, countdownText(door));
  }
  if (stale) {
    render();
    return;
  }
  syncPanelTone();
  for (const g of gatewayList()) {
    const el = byTestId(gatewayTestId(g.gateway));
    if (el) setText(el.querySelector(".gateway-text"), gatewayText(g));
  }
}
