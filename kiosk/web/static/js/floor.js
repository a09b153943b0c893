// The floor map screen (GET /floor?kiosk=<id>): a second wall screen or a leader's tablet. It listens on
// the kiosk screens' Socket.IO namespace /kiosk: every (re)connect brings a snapshot whose `floor`
// replaces the whole map; floor_changed carries only the seats and flags that changed. Template values
// come from data- attributes on <body> (no inline scripts: CSP). The language is the kiosk's, shared
// through the browser's storage (i18n.js).

import "./floor-i18n.js";
import { byTestId, setText } from "./dom.js";
import { applyStatic, initialLanguage, language, onLanguageChange, setLanguage, t } from "./i18n.js";
import * as detail from "./floor-detail.js";
import * as flags from "./floor-flags.js";
import * as map from "./floor-map.js";
import { applyChanged, applyDoorChanged, applyMarkers, applySnapshot, state } from "./floor-state.js";
import * as time from "./time.js";

const body = document.body;
const config = {
  kioskId: body.dataset.kioskId || "kiosk",
  language: body.dataset.language || "zh-CN",
  timezone: body.dataset.timezone,
  floor: body.dataset.floor || "", // the floor a viewer of every floor asked for (?floor=CODE)
};

// Several floors: which ones there are, which this map shows, and whether this viewer may choose.
let floorsKnown = [];
let floorScope = { floor: null, all_floors: false };

// The counts bar, in the order the leader reads it.
const COUNTS = ["on_floor", "signed_in", "ready", "busy", "wrap_up", "empty_assigned", "mismatched"];

function guardPage() {
  // The page itself never zooms (the map does, by its own gestures); no long-press menu.
  for (const type of ["gesturestart", "gesturechange", "gestureend"]) {
    document.addEventListener(type, (ev) => ev.preventDefault(), { passive: false });
  }
  window.addEventListener("wheel", (ev) => { if (ev.ctrlKey) ev.preventDefault(); }, { passive: false });
  window.addEventListener("contextmenu", (ev) => ev.preventDefault());
  window.addEventListener("keydown", (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ["+", "-", "=", "0"].includes(ev.key)) ev.preventDefault();
    if (ev.key === "Escape" && detail.selected()) detail.close();
  });
}

// ---------------------------------------------------------------------------------------------- drawing

let connection = "connecting";

function drawConnection() {
  const banner = byTestId("connection-status");
  banner.dataset.state = connection;
  banner.hidden = connection === "connected";
  body.classList.toggle("stale", connection === "disconnected" || connection === "not_paired");
  setText(banner.querySelector(".connection-text"),
          t(connection === "not_paired" ? "conn.not_paired" : connection === "disconnected" ? "conn.lost"
            : connection === "connected" ? "conn.ok" : "conn.connecting"));
}

function drawCounts() {
  for (const key of COUNTS) {
    const value = state.counts[key];
    const el = byTestId(`floor-count-${key}`);
    setText(el.querySelector(".count-value"), value == null ? "–" : String(value));
    el.dataset.value = value == null ? "" : String(value);
  }
  setText(byTestId("floor-count-seats"), state.loaded ? t("floor.count.of", { n: state.counts.seats ?? state.seats.size }) : "");
}

function drawShift() {
  const sh = state.shift;
  const lang = language();
  setText(byTestId("floor-shift"), !state.loaded ? "" : sh
    ? t("floor.shift", { name: sh.name, code: sh.code, start: time.hhmm(time.parse(sh.starts_at), lang),
                         end: time.hhmm(time.parse(sh.ends_at), lang) })
    : t("floor.shift.none"));
}

function drawEmpty() {
  const note = byTestId("floor-map-note");
  const empty = state.loaded && state.seats.size === 0;
  note.hidden = state.loaded && !empty;
  setText(note, state.loaded ? t("floor.empty") : t("floor.loading"));
}

function floorName(f) {
  return language() === "en" ? f.name_en : f.name_zh;
}

/** The floor's name beside the title, and for a viewer of every floor, the selector (several floors only). */
function drawFloors() {
  const several = floorsKnown.length > 1;
  const shown = floorsKnown.find((f) => f.code === floorScope.floor);
  const name = byTestId("floor-name");
  name.hidden = !several || !shown || floorScope.all_floors;
  setText(name, shown ? `${shown.code} · ${floorName(shown)}` : "");
  const choice = byTestId("floor-choice");
  choice.hidden = !several || !floorScope.all_floors;
  const select = byTestId("floor-select");
  select.replaceChildren(...floorsKnown.map((f) => {
    const option = document.createElement("option");
    option.value = f.code;
    option.textContent = `${f.code} · ${floorName(f)}`;
    option.selected = f.code === floorScope.floor;
    return option;
  }));
  select.setAttribute("aria-label", t("floor.select"));
}

/** Show another floor: the page again with ?floor=CODE (the server sends that floor's map and pushes). */
function goToFloor(code) {
  const params = new URLSearchParams(window.location.search);
  params.set("kiosk", config.kioskId);
  params.set("floor", code);
  window.location.replace(`${window.location.pathname}?${params}`);
}

function renderAll() {
  drawFloors();
  drawCounts();
  drawShift();
  drawEmpty();
  flags.render(true);
  detail.render();
}

function onSnapshot(snap) {
  floorsKnown = snap.floors || [];
  floorScope = snap.floor_scope || { floor: null, all_floors: false };
  if (floorScope.all_floors && floorsKnown.length > 1 && !floorScope.floor) {
    goToFloor(config.floor && floorsKnown.some((f) => f.code === config.floor) ? config.floor : floorsKnown[0].code);
    return; // a map of several floors at once would lay them over each other
  }
  map.setFloor(floorsKnown.length > 1 ? floorScope.floor : "");
  applySnapshot(snap);
  if (state.now) time.syncServerNow(state.now);
  map.renderAll();
  if (detail.selected() && !state.seats.has(detail.selected())) detail.close();
  map.select(detail.selected());
  renderAll();
  body.classList.add("loaded");
}

function onFloorChanged(p) {
  if (!state.loaded) return; // the snapshot on connect replaces everything anyway
  const changed = applyChanged(p);
  if (changed.structure) {
    map.renderAll();
    map.select(detail.selected());
  } else {
    map.renderSeats(changed.seats);
  }
  drawCounts();
  if (changed.flags) flags.render();
  if (detail.selected() && (changed.seats.has(detail.selected()) || changed.flags)) detail.render();
}

function selectSeat(id) {
  detail.open(id);
  map.select(detail.selected());
}

// ------------------------------------------------------------------------------------------------- main

function start() {
  state.kioskId = config.kioskId;
  if (config.timezone) time.setTimeZone(config.timezone);
  setLanguage(initialLanguage(config.language), { persist: false });
  for (const el of document.querySelectorAll(".connection-text")) el.removeAttribute("data-i18n");
  guardPage();

  map.init(byTestId("floor-map"), { onTap: selectSeat });
  detail.init({ closed: () => map.select(null) });
  byTestId("map-zoom-in").addEventListener("click", () => map.zoomBy(1.5));
  byTestId("map-zoom-out").addEventListener("click", () => map.zoomBy(1 / 1.5));
  byTestId("map-reset").addEventListener("click", () => map.resetView());

  const toggle = byTestId("lang-toggle");
  const drawToggle = () => {
    setText(toggle, t("lang.toggle"));
    toggle.setAttribute("aria-label", language() === "zh-CN" ? "Switch to English" : "切换为中文");
    byTestId("map-zoom-in").setAttribute("aria-label", t("floor.zoom.in"));
    byTestId("map-zoom-out").setAttribute("aria-label", t("floor.zoom.out"));
    byTestId("floor-map").setAttribute("aria-label", t("floor.title"));
  };
  toggle.addEventListener("click", () => setLanguage(language() === "zh-CN" ? "en" : "zh-CN"));
  onLanguageChange(() => {
    document.title = t("floor.title");
    drawToggle();
    drawConnection();
    renderAll();
  });
  drawToggle();
  document.title = t("floor.title");
  drawEmpty();

  if (typeof window.io !== "function") {
    connection = "disconnected";
    drawConnection();
    return; // socket.io client missing: `make setup` copies it into static/vendor
  }
  byTestId("floor-select").addEventListener("change", (ev) => goToFloor(ev.target.value));
  const socket = window.io("/kiosk", {
    transports: ["websocket"],
    query: config.floor ? { kiosk: config.kioskId, floor: config.floor } : { kiosk: config.kioskId },
    reconnectionDelay: 500,
    reconnectionDelayMax: 3000,
  });
  flags.init(socket, { selectSeat, changed: () => { map.redrawSeats(); detail.render(); } });

  socket.on("connect", () => { connection = "connected"; drawConnection(); });
  socket.on("disconnect", (reason) => {
    connection = "disconnected";
    drawConnection();
    if (reason === "io server disconnect") socket.connect();
  });
  socket.on("connect_error", (err) => {
    // Refused by the server: neither a paired screen nor a desk login. Retrying cannot help; say so.
    const refused = err && /not paired/.test(String(err.message));
    if (refused) socket.disconnect();
    connection = refused ? "not_paired" : "disconnected";
    drawConnection();
  });
  socket.on("snapshot", onSnapshot);
  // After a Redis outage between server processes: fetch the whole floor again (pushes were missed).
  // The floor comes back as a `snapshot` event, ahead of anything pushed while the server read it.
  socket.on("fanout_resumed", () => socket.emit("request_snapshot"));
  socket.on("floor_changed", onFloorChanged);
  // §6.5, §6.6: the doors on the map take their live colour; the editor may move doors and kiosk screens.
  socket.on("door_changed", (p) => {
    if (!state.loaded) return;
    const wasPlaced = state.doors.has(p && p.door_id);
    if (applyDoorChanged(p) || wasPlaced) map.renderMarkers();
  });
  socket.on("floor_markers_changed", (p) => {
    if (!state.loaded) return;
    applyMarkers(p);
    map.renderAll();
  });
  socket.on("leader_session_started", (p) => { flags.leaderStarted(p); });
  socket.on("leader_session_ended", (p) => { flags.leaderEnded(p); });
  socket.on("leader_pin_verified", (p) => { flags.leaderUpdated(p); });

  const tick = () => {
    setText(byTestId("clock"), time.hhmmss(time.now(), language()));
    flags.tick();
    detail.tick();
  };
  tick();
  setInterval(tick, 1000);
  applyStatic(document);
  document.title = t("floor.title");
  drawConnection();
}

start();
