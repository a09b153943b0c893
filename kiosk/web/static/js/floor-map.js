// The floor map as SVG: one group per seat at its plan position (x, y from the seat import), zones
// outlined and labelled, every seat coloured by what it shows (see lookOf) with the operator's name; over
// them the placed doors in their live colour and the kiosk screens, this screen's own as "you are here".
// Seat boxes are sized from the plan's own spacing, so 120 or 300 seats fill the map area alike.
// Pan and zoom are plain pointer events on the viewBox: drag to pan, pinch or wheel to zoom, a tap on
// a seat opens its card. No library: the floor LAN is offline and this is a few dozen lines.

import { onLanguageChange, t } from "./i18n.js";
import { needsAction, seatFlags, state } from "./floor-state.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const BAD_SENSOR = ["unknown", "tamper", "fault"];
const TAP_SLOP_PX = 10; // a pointer that moved less than this between down and up is a tap, not a drag
const MAX_ZOOM = 10; // relative to the whole floor fitting the map
const MIN_ZOOM = 0.6;
const BACKGROUND_CHECK_MS = 60_000; // a new background image shows on the map within a minute

let svg = null;
let zonesLayer = null;
let seatsLayer = null;
let markersLayer = null; // doors and kiosk screens, over the seats
let backgroundLayer = null; // the floor plan's background image (uploaded by an admin), under the zones
let backgroundUrl = "";
let backgroundFloor = ""; // the floor whose plan this map shows (its code); "" on a one-floor centre
let layout = null; // {w, h, fit: {x, y, w, h}}
let view = null; // the current viewBox
let selected = null;
let onSeatTap = () => {};
const seatEls = new Map(); // seat id -> <g>

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "testid") el.setAttribute("data-testid", value);
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// ------------------------------------------------------------------------------------------ what a seat shows

/**
 * The colour a seat is drawn in. An operator signed in decides it (ready/signed in, busy, wrap-up); without one,
 * a sensor that is unknown, tampered or faulted is shown as such — never as vacant — before the
 * server's occupied / assigned-empty / free.
 */
export function lookOf(seat) {
  const agent = seat.agent;
  if (agent) {
    if (agent.state === "busy") return "busy";
    if (agent.state === "wrap_up") return "wrap_up";
    return "ready";
  }
  if (BAD_SENSOR.includes(seat.sensor)) return "sensor_unknown";
  if (seat.status === "occupied") return "occupied";
  if (seat.status === "assigned_empty") return "assigned_empty";
  return "free";
}

/** §8.7: the person signed in here has an open wrong-seat flag about this seat. */
export function isWrongSeat(seat, flags = seatFlags(seat)) {
  return flags.some((f) => f.kind === "wrong_seat" && f.seat === seat.seat);
}

/** A name short enough for a seat box: up to four CJK characters, or seven Latin ones. */
export function shortName(name) {
  if (!name) return "";
  const chars = [...name.trim()];
  const max = /[\u3400-\u9fff]/.test(name) ? 4 : 7;
  return chars.length <= max ? chars.join("") : `${chars.slice(0, max - 1).join("")}…`;
}

function textWidth(text, fontSize) {
  let width = 0;
  for (const ch of text) width += /[\u2e80-\uffff]/.test(ch) ? fontSize : fontSize * 0.58;
  return width;
}

// -------------------------------------------------------------------------------------------------- layout

function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** Seat box size from the plan's spacing (row pitch and column pitch), and the floor's outline (seats, and the
 * placed doors and kiosk screens in `extra`). */
function computeLayout(seats, extra = []) {
  const xs = [];
  const ys = [];
  for (const a of seats) {
    let bestX = Infinity;
    let bestY = Infinity;
    for (const b of seats) {
      if (a === b) continue;
      const dx = Math.abs(b.x - a.x);
      const dy = Math.abs(b.y - a.y);
      if (dx > 0 && dy <= dx * 0.5) bestX = Math.min(bestX, dx);
      if (dy > 0 && dx <= dy * 0.5) bestY = Math.min(bestY, dy);
    }
    if (Number.isFinite(bestX)) xs.push(bestX);
    if (Number.isFinite(bestY)) ys.push(bestY);
  }
  let sx = percentile(xs, 0.25);
  let sy = percentile(ys, 0.25);
  sx = sx || (sy ? sy * 1.25 : 80);
  sy = sy || sx * 0.8;
  let w = sx * 0.9;
  let h = Math.min(sy * 0.86, w * 1.1);
  w = Math.min(w, h * 2.2);
  // Zones are outlined close around their seats, their label sitting on the top edge (like a fieldset's
  // legend), so neighbouring zones a row pitch apart do not overlap.
  const pad = Math.min(w, h) * 0.22;
  const labelSize = h * 0.3;
  const labelH = labelSize * 1.3;
  const zones = new Map();
  for (const seat of seats) {
    const z = zones.get(seat.zone) || { minX: Infinity, minY: Infinity, maxX: -Infinity, maxY: -Infinity };
    z.minX = Math.min(z.minX, seat.x);
    z.maxX = Math.max(z.maxX, seat.x);
    z.minY = Math.min(z.minY, seat.y);
    z.maxY = Math.max(z.maxY, seat.y);
    zones.set(seat.zone, z);
  }
  const boxes = [];
  for (const [zone, z] of zones) {
    boxes.push({ zone, x: z.minX - w / 2 - pad, y: z.minY - h / 2 - pad - labelH / 2,
                 w: z.maxX - z.minX + w + 2 * pad, h: z.maxY - z.minY + h + 2 * pad + labelH / 2 });
  }
  let fit = { x: 0, y: 0, w: 100, h: 100 };
  // A marker is about a seat wide: its box counts toward the floor's outline like a zone's.
  const outline = [...boxes, ...extra.map((p) => ({ x: p.x - w, y: p.y - h, w: 2 * w, h: 2.2 * h }))];
  if (outline.length) {
    const minX = Math.min(...outline.map((b) => b.x));
    const minY = Math.min(...outline.map((b) => b.y)) - labelH / 2;
    const maxX = Math.max(...outline.map((b) => b.x + b.w));
    const maxY = Math.max(...outline.map((b) => b.y + b.h));
    const m = Math.min(w, h) * 0.3;
    fit = { x: minX - m, y: minY - m, w: maxX - minX + 2 * m, h: maxY - minY + 2 * m };
  }
  return { w, h, labelH, labelSize, pad, zones: boxes, fit };
}

// ------------------------------------------------------------------------------------------------- drawing

function drawSeat(seat) {
  const { w, h } = layout;
  const flags = seatFlags(seat);
  const open = flags.filter(needsAction);
  // A flag id the map has not been told about yet counts too: better a marker too many than one missing.
  const unknown = (seat.flags || []).some((id) => !state.flags.has(id));
  const flagged = open.length > 0 || unknown;
  const alarm = open.some((f) => f.severity === "alarm");
  const look = lookOf(seat);
  const wrong = isWrongSeat(seat, flags);
  const agent = seat.agent;
  const badSensor = BAD_SENSOR.includes(seat.sensor);
  const vacantButSignedIn = seat.mismatch === "signed_in_vacant";

  const idSize = h * 0.24;
  const nameSize = Math.min(h * 0.4, w * 0.3);
  const who = agent ? agent.name || agent.employee_no : (seat.assigned ? seat.assigned.name : "");
  const name = shortName(who);
  const nameAttrs = { class: `seat-name${agent ? "" : " seat-name-assigned"}`, x: 0, y: h * 0.14,
                      "font-size": nameSize.toFixed(2) };
  if (name && textWidth(name, nameSize) > w * 0.9) {
    nameAttrs.textLength = (w * 0.9).toFixed(2);
    nameAttrs.lengthAdjust = "spacingAndGlyphs";
  }

  const parts = [];
  const title = [seat.seat, who, agent ? t(`floor.state.${agent.state}`) : t(`floor.status.${seat.status}`)];
  if (badSensor) title.push(t(`floor.sensor.${seat.sensor}`));
  if (wrong) title.push(t("floor.legend.wrong_seat"));
  parts.push(s("title", {}, title.filter(Boolean).join(" · ")));
  if (wrong) {
    const o = Math.min(w, h) * 0.09;
    parts.push(s("rect", { class: "seat-wrong", x: -w / 2 - o, y: -h / 2 - o, width: w + 2 * o, height: h + 2 * o,
                           rx: h * 0.16 }));
  }
  parts.push(s("rect", { class: "seat-box", x: -w / 2, y: -h / 2, width: w, height: h, rx: h * 0.12 }));
  if (badSensor) {
    // Hatched: the sensor cannot tell; over the whole seat when nobody is signed in, else as a band.
    const band = agent ? h * 0.24 : h;
    parts.push(s("rect", { class: "seat-hatch", x: -w / 2, y: h / 2 - band, width: w, height: band, rx: h * 0.12 }));
  }
  if (vacantButSignedIn) {
    const inset = Math.min(w, h) * 0.1;
    parts.push(s("rect", { class: "seat-vacant-mark", x: -w / 2 + inset, y: -h / 2 + inset, width: w - 2 * inset,
                           height: h - 2 * inset, rx: h * 0.08 }));
  }
  parts.push(s("text", { class: "seat-id", x: 0, y: -h / 2 + idSize * 0.95, "font-size": idSize.toFixed(2) }, seat.seat));
  if (name) parts.push(s("text", nameAttrs, name));
  if (flagged) {
    const r = Math.min(w, h) * 0.2;
    parts.push(s("g", { class: `seat-flag${alarm ? " seat-flag-alarm" : ""}`,
                        transform: `translate(${(w / 2 - r * 0.35).toFixed(2)},${(-h / 2 + r * 0.35).toFixed(2)})` },
      s("circle", { r }),
      s("text", { x: 0, y: r * 0.05, "font-size": (r * 1.5).toFixed(2) }, "!")));
  }

  let g = seatEls.get(seat.seat);
  if (!g) {
    g = s("g", { testid: `seat-${seat.seat}`, "data-seat": seat.seat });
    seatEls.set(seat.seat, g);
    seatsLayer.append(g);
  }
  g.setAttribute("class", `seat look-${look}${seat.seat === selected ? " selected" : ""}`);
  g.setAttribute("transform", `translate(${seat.x},${seat.y})`);
  g.setAttribute("aria-label", title.filter(Boolean).join(" · "));
  const data = { status: seat.status, look, sensor: seat.sensor || "none", flagged: flagged ? "true" : "false",
                 wrongSeat: wrong ? "true" : "false", mismatch: seat.mismatch || "",
                 agent: agent ? agent.employee_no : "" };
  for (const [k, v] of Object.entries(data)) g.dataset[k] = v;
  g.replaceChildren(...parts);
}

/** The hatching of an unknown sensor, in proportion to the seats (the plan's units are arbitrary). */
function sizeHatch() {
  const step = layout.h * 0.16;
  const pattern = svg.querySelector("#floor-hatch");
  pattern.setAttribute("width", step.toFixed(2));
  pattern.setAttribute("height", step.toFixed(2));
  pattern.querySelector(".hatch-bg").setAttribute("width", step.toFixed(2));
  pattern.querySelector(".hatch-bg").setAttribute("height", step.toFixed(2));
  const line = pattern.querySelector(".hatch-line");
  line.setAttribute("y2", step.toFixed(2));
  line.setAttribute("stroke-width", (step * 0.45).toFixed(2));
}

function drawZones() {
  const { h, labelH, labelSize, pad } = layout;
  const out = [];
  for (const z of layout.zones) {
    const label = state.zones.get(z.zone) || z.zone;
    const lw = Math.min(textWidth(label, labelSize) + labelSize, z.w - 2 * pad);
    out.push(s("g", { class: "zone", "data-zone": z.zone, testid: `zone-${z.zone}` },
      s("rect", { class: "zone-box", x: z.x, y: z.y, width: z.w, height: z.h, rx: h * 0.2 }),
      s("rect", { class: "zone-label-bg", x: z.x + pad, y: z.y - labelH / 2, width: lw, height: labelH, rx: labelH * 0.3 }),
      s("text", { class: "zone-label", x: z.x + pad + labelSize / 2, y: z.y + labelSize * 0.05,
                  "font-size": labelSize.toFixed(2) }, label)));
  }
  zonesLayer.replaceChildren(...out);
}

// ------------------------------------------------------------------------------------ doors and kiosks

function markerPoints() {
  return [...state.doors.values(), ...state.kiosks];
}

/** A door (§6.5, §6.6): a bar in its live colour (closed, open, held open, forced, unknown), its name under it. */
function drawDoor(door) {
  const { w, h } = layout;
  const look = door.look || "unknown";
  const words = `${t("floor.door")} ${door.name || door.door_id} · ${t(`floor.door.look.${look}`)}`;
  return s("g", { class: `door-marker door-look-${look}`, testid: `map-door-${door.door_id}`, "data-door": door.door_id,
                  "data-look": look, transform: `translate(${door.x},${door.y})`, "aria-label": words },
    s("title", {}, words),
    s("rect", { class: "door-bar", x: -w * 0.6, y: -h * 0.22, width: w * 1.2, height: h * 0.44, rx: h * 0.1 }),
    s("text", { class: "door-glyph", x: 0, y: h * 0.02, "font-size": (h * 0.32).toFixed(2) }, t("floor.door")),
    s("text", { class: "door-name", x: 0, y: h * 0.55, "font-size": (h * 0.28).toFixed(2) }, door.name || door.door_id));
}

/** A kiosk screen; this screen's own (the page's kiosk id) is "you are here". */
function drawKiosk(kiosk) {
  const { w, h } = layout;
  const here = kiosk.kiosk === state.kioskId;
  const words = here ? t("floor.here") : t("floor.kiosk", { name: kiosk.kiosk });
  return s("g", { class: `kiosk-marker${here ? " here" : ""}`, testid: here ? "map-you-are-here" : `map-kiosk-${kiosk.kiosk}`,
                  "data-kiosk": kiosk.kiosk, "data-here": here ? "true" : "false",
                  transform: `translate(${kiosk.x},${kiosk.y})`, "aria-label": words },
    s("title", {}, words),
    s("circle", { class: "kiosk-dot", r: Math.min(w, h) * (here ? 0.42 : 0.3) }),
    s("text", { class: "kiosk-glyph", x: 0, y: h * 0.02, "font-size": (h * 0.3).toFixed(2) }, here ? "★" : "屏"),
    s("text", { class: "kiosk-name", x: 0, y: h * (here ? 0.7 : 0.58), "font-size": (h * (here ? 0.34 : 0.26)).toFixed(2) },
      here ? t("floor.here") : kiosk.kiosk));
}

/** Draw the doors and kiosk screens again (their state, the language, or their places changed). */
export function renderMarkers() {
  if (!layout || !markersLayer) return;
  markersLayer.replaceChildren(...[...state.doors.values()].map(drawDoor), ...state.kiosks.map(drawKiosk));
}

/** Lay the map out again and draw every seat (a snapshot, or a seat the plan did not have). */
export function renderAll({ keepView = true } = {}) {
  const seats = state.order.map((id) => state.seats.get(id)).filter(Boolean);
  const before = layout;
  layout = computeLayout(seats, markerPoints());
  seatEls.clear();
  seatsLayer.replaceChildren();
  sizeHatch();
  drawZones();
  for (const seat of seats) drawSeat(seat);
  renderMarkers();
  const sameFloor = before && Math.abs(before.fit.w - layout.fit.w) < 1e-6 && Math.abs(before.fit.h - layout.fit.h) < 1e-6;
  if (!keepView || !view || !sameFloor) view = { ...layout.fit };
  applyView();
  svg.dataset.seats = String(seats.length);
}

/** Redraw some seats in place (a floor_changed); a seat moved on the plan lays the whole map out again. */
export function renderSeats(ids) {
  if (!layout) return;
  for (const id of ids) {
    const seat = state.seats.get(id);
    const g = seatEls.get(id);
    if (seat && g && g.getAttribute("transform") !== `translate(${seat.x},${seat.y})`) {
      renderAll();
      loadBackground();
      return;
    }
  }
  for (const id of ids) {
    const seat = state.seats.get(id);
    if (seat) drawSeat(seat);
  }
}

/** Redraw every seat in place (flags changed, language changed). */
export function redrawSeats() {
  renderSeats(state.order);
}

export function select(id) {
  const old = selected;
  selected = id;
  for (const sid of [old, id]) {
    const g = sid && seatEls.get(sid);
    if (g) g.classList.toggle("selected", sid === selected);
  }
}

// ---------------------------------------------------------------------------------------------- pan, zoom

function applyView() {
  if (!view) return;
  svg.setAttribute("viewBox", `${view.x.toFixed(2)} ${view.y.toFixed(2)} ${view.w.toFixed(2)} ${view.h.toFixed(2)}`);
}

function toUser(clientX, clientY) {
  const ctm = svg.getScreenCTM();
  if (!ctm) return { x: view.x + view.w / 2, y: view.y + view.h / 2 };
  const p = new DOMPoint(clientX, clientY).matrixTransform(ctm.inverse());
  return { x: p.x, y: p.y };
}

function unitsPerPixel() {
  const ctm = svg.getScreenCTM();
  return ctm && ctm.a ? 1 / ctm.a : 1;
}

function clampView() {
  const fit = layout.fit;
  const minW = fit.w / MAX_ZOOM;
  const maxW = fit.w / MIN_ZOOM;
  if (view.w < minW || view.w > maxW) {
    const k = Math.min(Math.max(view.w, minW), maxW) / view.w;
    const cx = view.x + view.w / 2;
    const cy = view.y + view.h / 2;
    view.w *= k;
    view.h *= k;
    view.x = cx - view.w / 2;
    view.y = cy - view.h / 2;
  }
  // Keep some of the floor in sight: the view's centre stays over the floor's outline.
  const cx = Math.min(Math.max(view.x + view.w / 2, fit.x), fit.x + fit.w);
  const cy = Math.min(Math.max(view.y + view.h / 2, fit.y), fit.y + fit.h);
  view.x = cx - view.w / 2;
  view.y = cy - view.h / 2;
}

/** Zoom by `factor` (>1 closer) keeping the user-space point `at` where it is on screen. */
export function zoomBy(factor, at = null) {
  if (!view || !layout) return;
  const p = at || { x: view.x + view.w / 2, y: view.y + view.h / 2 };
  const w = Math.min(Math.max(view.w / factor, layout.fit.w / MAX_ZOOM), layout.fit.w / MIN_ZOOM);
  const k = w / view.w;
  view = { x: p.x - (p.x - view.x) * k, y: p.y - (p.y - view.y) * k, w: view.w * k, h: view.h * k };
  clampView();
  applyView();
}

function panBy(dxPx, dyPx) {
  const k = unitsPerPixel();
  view.x -= dxPx * k;
  view.y -= dyPx * k;
  clampView();
  applyView();
}

export function resetView() {
  if (!layout) return;
  view = { ...layout.fit };
  applyView();
}

export function zoomLevel() {
  return layout && view ? layout.fit.w / view.w : 1;
}

function installGestures() {
  const pointers = new Map(); // pointerId -> {x, y}
  let tap = null; // {id, seat, x, y, moved}

  const pair = () => {
    const [a, b] = [...pointers.values()];
    return { mid: { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 }, dist: Math.hypot(a.x - b.x, a.y - b.y) };
  };

  svg.addEventListener("pointerdown", (ev) => {
    if (ev.button !== undefined && ev.button > 0) return;
    try { svg.setPointerCapture(ev.pointerId); } catch (_err) { /* synthetic pointers cannot be captured */ }
    pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    if (pointers.size === 1) {
      const g = ev.target.closest && ev.target.closest("[data-seat]");
      tap = { id: ev.pointerId, seat: g ? g.dataset.seat : null, x: ev.clientX, y: ev.clientY, moved: false };
    } else {
      tap = null; // a second finger: a pinch, not a tap
    }
    svg.classList.add("dragging");
  });

  svg.addEventListener("pointermove", (ev) => {
    const prev = pointers.get(ev.pointerId);
    if (!prev) return;
    if (pointers.size === 1) {
      if (tap && !tap.moved) {
        if (Math.hypot(ev.clientX - tap.x, ev.clientY - tap.y) < TAP_SLOP_PX) return;
        tap.moved = true;
        panBy(ev.clientX - tap.x, ev.clientY - tap.y); // the slop, so the map does not jump
      } else {
        panBy(ev.clientX - prev.x, ev.clientY - prev.y);
      }
      pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
      return;
    }
    if (pointers.size === 2) {
      const before = pair();
      pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
      const after = pair();
      if (before.dist > 0 && after.dist > 0) zoomBy(after.dist / before.dist, toUser(after.mid.x, after.mid.y));
      panBy(after.mid.x - before.mid.x, after.mid.y - before.mid.y);
      return;
    }
    pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
  });

  const end = (ev) => {
    if (!pointers.has(ev.pointerId)) return;
    pointers.delete(ev.pointerId);
    if (tap && tap.id === ev.pointerId && !tap.moved && ev.type === "pointerup" && tap.seat) onSeatTap(tap.seat);
    if (tap && tap.id === ev.pointerId) tap = null;
    if (!pointers.size) svg.classList.remove("dragging");
  };
  svg.addEventListener("pointerup", end);
  svg.addEventListener("pointercancel", end);
  svg.addEventListener("lostpointercapture", (ev) => { if (pointers.has(ev.pointerId)) end(ev); });

  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const unit = ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? 400 : 1;
    zoomBy(Math.exp(-ev.deltaY * unit * 0.0015), toUser(ev.clientX, ev.clientY));
  }, { passive: false });

}

/**
 * The plan's background image, if an admin uploaded one: an SVG <image> at plan point (0, 0) in the image's
 * own units. An <image> never runs an SVG's scripts; the server only ever serves it as an image.
 */
export async function loadBackground() {
  if (!backgroundLayer) return;
  let info = null;
  try {
    const query = backgroundFloor ? `?floor=${encodeURIComponent(backgroundFloor)}` : "";
    const resp = await fetch(`/floorplan/background/info${query}`, { cache: "no-store" });
    info = resp.ok ? await resp.json() : null;
  } catch (_err) {
    return; // offline for a moment: keep what is shown
  }
  const url = info && info.present ? info.url : "";
  if (url === backgroundUrl) return;
  backgroundUrl = url;
  backgroundLayer.replaceChildren(...(url ? [s("image", { href: url, x: 0, y: 0, width: info.width, height: info.height,
                                                          preserveAspectRatio: "none", testid: "floor-background" })] : []));
}

/** The floor this map shows (its code): its own background image. */
export function setFloor(code) {
  if ((code || "") === backgroundFloor) return;
  backgroundFloor = code || "";
  loadBackground();
}

/** Set the map up on its <svg>: layers, patterns, gestures. */
export function init(el, { onTap }) {
  svg = el;
  onSeatTap = onTap;
  const defs = s("defs", {},
    s("pattern", { id: "floor-hatch", patternUnits: "userSpaceOnUse", width: 8, height: 8,
                   patternTransform: "rotate(45)" },
      s("rect", { class: "hatch-bg", width: 8, height: 8 }),
      s("line", { class: "hatch-line", x1: 0, y1: 0, x2: 0, y2: 8 })));
  zonesLayer = s("g", { class: "zones" });
  seatsLayer = s("g", { class: "seats" });
  markersLayer = s("g", { class: "markers" });
  backgroundLayer = s("g", { class: "floor-background" });
  svg.replaceChildren(defs, backgroundLayer, zonesLayer, seatsLayer, markersLayer);
  loadBackground();
  setInterval(loadBackground, BACKGROUND_CHECK_MS);
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  installGestures();
  onLanguageChange(() => { if (layout) { drawZones(); redrawSeats(); renderMarkers(); } });
}
