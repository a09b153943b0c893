// The roll call kiosk screen: wires the Socket.IO namespace /kiosk to the board, the door panel, the tap
// card, the alert takeover and the leader console. Template values come from data- attributes on <body> (no inline scripts: CSP).
// The server sends a full snapshot on every (re)connect; the screen replaces its state from it, so a
// screen that lost the network is never stale.

import { byTestId, setText } from "./dom.js";
import { applyStatic, initialLanguage, language, onLanguageChange, setLanguage, t } from "./i18n.js";
import * as alerts from "./alerts.js";
import * as board from "./board.js";
import * as doors from "./doors.js";
import * as input from "./input.js";
import * as leader from "./leader.js";
import * as sound from "./sound.js";
import * as tapcard from "./tapcard.js";
import * as time from "./time.js";
import * as visitors from "./visitors.js";

const body = document.body;
const config = {
  kioskId: body.dataset.kioskId || "kiosk",
  language: body.dataset.language || "zh-CN",
  timezone: body.dataset.timezone,
  sim: body.dataset.sim === "true",
  wedge: body.dataset.wedge === "true",
  simTapUrl: body.dataset.simTapUrl || "/api/v1/sim/tap",
};

// ---------------------------------------------------------------------------------- touch screen guards

function guardTouchScreen() {
  // No pinch or ctrl+wheel zoom, no long-press menu: a wall screen must stay as laid out.
  for (const type of ["gesturestart", "gesturechange", "gestureend"]) {
    document.addEventListener(type, (ev) => ev.preventDefault(), { passive: false });
  }
  document.addEventListener("touchmove", (ev) => { if (ev.touches && ev.touches.length > 1) ev.preventDefault(); }, { passive: false });
  window.addEventListener("wheel", (ev) => { if (ev.ctrlKey) ev.preventDefault(); }, { passive: false });
  window.addEventListener("contextmenu", (ev) => ev.preventDefault());
  window.addEventListener("keydown", (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ["+", "-", "=", "0"].includes(ev.key)) ev.preventDefault();
  });
}

// ----------------------------------------------------------------------------------- connection banner

let connection = "connecting";
let lostAt = 0;

function drawConnection() {
  const banner = byTestId("connection-status");
  banner.dataset.state = connection;
  banner.hidden = connection === "connected";
  body.classList.toggle("stale", connection === "disconnected");
  // An unpaired screen shows no board at all, only what to do (the server refused its socket).
  body.classList.toggle("not-paired", connection === "not_paired");
  let text = t("conn.connecting");
  if (connection === "not_paired") text = t("conn.not_paired");
  if (connection === "connected") text = t("conn.ok");
  if (connection === "disconnected") {
    const secs = Math.floor((Date.now() - lostAt) / 1000);
    text = secs >= 5 ? t("conn.lost.since", { s: secs }) : t("conn.lost");
  }
  setText(banner.querySelector(".connection-text"), text);
}

function setConnection(next) {
  if (next === "disconnected" && connection !== "disconnected") lostAt = Date.now();
  connection = next;
  drawConnection();
}

// ------------------------------------------------------------------------------------------------ main

function renderAll() {
  board.render();
  doors.render();
  leader.refresh();
  alerts.render();
  visitors.render();
}

let floorsSeen = { floors: [], scope: null }; // several floors: which this screen shows

/** On a centre of several floors, the floor this screen shows (or "all floors"), above the shift. */
function drawFloor() {
  const el = byTestId("kiosk-floor");
  const { floors, scope } = floorsSeen;
  el.hidden = floors.length < 2 || !scope;
  if (el.hidden) return;
  const shown = floors.find((f) => f.code === scope.floor);
  setText(el, shown ? `${shown.code} · ${language() === "en" ? shown.name_en : shown.name_zh}` : t("kiosk.floor.all"));
  el.dataset.floor = shown ? shown.code : "all";
}

/** A full snapshot replaces the roll call board, the door panel and the alerts alike. */
function applySnapshot(snap) {
  floorsSeen = { floors: snap.floors || [], scope: snap.floor_scope || null };
  drawFloor();
  board.applySnapshot(snap);
  doors.applySnapshot(snap);
  alerts.applySnapshot(snap);
  visitors.applySnapshot(snap);
  renderAll();
}

function afterRowsChanged() {
  board.renderRowsAndCounts();
  leader.refresh();
}

function start() {
  board.state.kioskId = config.kioskId;
  if (config.timezone) time.setTimeZone(config.timezone);
  setLanguage(initialLanguage(config.language), { persist: false });
  for (const el of document.querySelectorAll(".connection-text, .reader-text")) el.removeAttribute("data-i18n");
  guardTouchScreen();
  sound.unlock(); // runs at once where the kiosk browser allows autoplay; else on the first touch
  sound.installUnlock();
  tapcard.init();

  const toggle = byTestId("lang-toggle");
  const drawToggle = () => {
    setText(toggle, t("lang.toggle"));
    toggle.setAttribute("aria-label", language() === "zh-CN" ? "Switch to English" : "切换为中文");
  };
  toggle.addEventListener("click", () => setLanguage(language() === "zh-CN" ? "en" : "zh-CN"));
  onLanguageChange(() => { drawToggle(); drawConnection(); drawFloor(); renderAll(); });
  drawToggle();
  doors.render(); // "waiting" until the first snapshot: never a door drawn closed before anyone knows

  if (typeof window.io !== "function") {
    setConnection("disconnected");
    return; // socket.io client missing: `make setup` copies it into static/vendor
  }
  const socket = window.io("/kiosk", {
    transports: ["websocket"],
    query: { kiosk: config.kioskId },
    reconnectionDelay: 500,
    reconnectionDelayMax: 3000,
  });

  leader.init(socket, () => { board.render(); leader.refresh(); alerts.render(); visitors.render(); });
  alerts.init(() => { leader.refresh(); });
  visitors.init(socket, config.kioskId); // §2.2: visitors inside, the console's visitor cards, visitor taps
  if (config.sim) input.initSim(config.simTapUrl);
  input.initSimSensors();
  if (config.wedge) {
    input.initWedge((uid) => socket.timeout(5000).emit("submit_wedge", { uid }, (err, answer) => {
      if (!err) input.wedgeRefused(answer);
    }));
  }
  document.getElementById("absentee-dismiss").addEventListener("click", () => {
    board.dismissClosedReport();
    board.renderClosedReport();
  });

  socket.on("connect", () => setConnection("connected"));
  socket.on("disconnect", (reason) => {
    setConnection("disconnected");
    // The client reconnects by itself except when the server hung up on it: then ask again.
    if (reason === "io server disconnect") socket.connect();
  });
  socket.on("connect_error", (err) => {
    // Refused in the server's connect handler: this browser is not a paired screen. Retrying cannot help
    // until an admin pairs it, so stop and say so instead of showing a stale board.
    if (err && /not paired/.test(String(err.message))) {
      socket.disconnect();
      setConnection("not_paired");
      return;
    }
    setConnection("disconnected");
  });

  socket.on("snapshot", applySnapshot);
  // The server's link to the other server processes (Redis) is back after an outage: what they pushed
  // meanwhile never reached this screen, so fetch the whole board again.
  // The board comes back as a `snapshot` event, ahead of anything pushed while the server read it.
  socket.on("fanout_resumed", () => socket.emit("request_snapshot"));
  socket.on("tap_recorded", (p) => {
    // This screen's reader only: another kiosk's taps change rows but not this card.
    if (!p.reader_id || p.reader_id === config.kioskId) tapcard.showTap(p);
    if (board.applyTap(p)) afterRowsChanged();
  });
  socket.on("tap_failed", (p) => {
    if (!p.reader_id || p.reader_id === config.kioskId) tapcard.showFailed(p);
  });
  socket.on("attendance_marked", (p) => {
    if (board.applyMark(p)) afterRowsChanged();
  });
  socket.on("rollcall_closed", (p) => {
    board.applyClosed(p);
    renderAll();
  });
  socket.on("question_asked", (p) => { board.applyQuestion(p); board.renderQuestion(); leader.refresh(); });
  socket.on("question_answered", (p) => { board.applyQuestion(p); board.renderQuestion(); leader.refresh(); });
  socket.on("leader_session_started", (p) => {
    if (board.applyLeaderStarted(p)) { leader.open(); alerts.render(); }
  });
  socket.on("leader_session_ended", (p) => {
    if (board.applyLeaderEnded(p)) { leader.hide(); alerts.render(); }
  });
  // Badge + PIN: the leader entered the PIN (here, or on the floor map of this kiosk id).
  socket.on("leader_pin_verified", (p) => {
    if (board.applyLeaderStarted(p)) { leader.refresh(); visitors.render(); }
  });
  socket.on("reader_health_changed", (p) => { board.applyReader(p); board.renderReader(); doors.render(); });
  // §6.5: door and gateway changes show at once, without waiting for a snapshot.
  socket.on("points_changed", (p) => { if (doors.applyPointsChanged(p)) doors.render(); });
  socket.on("gateway_health_changed", (p) => { if (doors.applyGatewayHealth(p)) doors.render(); });
  socket.on("door_changed", (p) => { if (doors.applyDoorChanged(p)) doors.render(); });
  socket.on("door_held_open_warning", (p) => {
    if (doors.applyHeldOpenWarning(p)) doors.render();
    sound.play("refused"); // the pre-warning: someone near the door should close it now
  });
  // §5, §6.5, §6.6: alerts take over the top of the screen until acknowledged by badge.
  socket.on("alert_raised", (p) => { if (alerts.applyRaised(p)) alerts.render(); });
  socket.on("alert_cleared", (p) => { if (alerts.applyCleared(p)) alerts.render(); });
  socket.on("alert_escalated", (p) => { if (alerts.applyEscalated(p)) alerts.render(); });
  socket.on("alert_acknowledged", (p) => { if (alerts.applyAcknowledged(p)) alerts.render(); });
  // §4.4, §6.6: what a door reader decided, with the door's name, on the tap card.
  socket.on("door_tap_decided", (p) => tapcard.showDoorTap(p));

  // Once a second: clock, countdown, idle timer; a fresh board when a roll call window opens or
  // closes (the board's window flag disagrees with the clock), at most every 3 s.
  let lastAsked = 0;
  const tick = () => {
    setText(byTestId("clock"), time.hhmmss(time.now(), language()));
    board.renderCountdown();
    doors.tick();
    if (board.windowStale() && socket.connected && Date.now() - lastAsked > 3000) {
      lastAsked = Date.now();
      socket.emit("request_snapshot"); // answered with a `snapshot` event
    }
    leader.tick();
    alerts.tick();
    visitors.tick();
    if (connection === "disconnected") drawConnection();
  };
  tick();
  setInterval(tick, 1000);
  applyStatic(document);
  drawConnection();
}

start();
