// The floor plan editor: every seat, door and kiosk screen drawn at its plan position (x, y), dragged with
// pointer events (mouse, touch and pen alike), kept inside the plan's bounds, optionally snapped to a grid;
// Save posts what moved with the form token. A door or kiosk screen not on the plan yet is listed under the
// map: its button puts it in the middle of the plan, from where it is dragged into place. The background
// image is an SVG <image>, so an SVG drawing never runs scripts.

const SVG_NS = "http://www.w3.org/2000/svg";
const root = document.querySelector("[data-testid=plan-editor]");
const svg = root.querySelector("[data-testid=plan-map]");
const status = root.querySelector("[data-testid=plan-status]");
const saveButton = root.querySelector("[data-testid=plan-save]");
const resetButton = root.querySelector("[data-testid=plan-reset]");
const unplacedList = root.querySelector("[data-testid=plan-unplaced]");
const snap = root.querySelector("#plan-snap");
const grid = root.querySelector("#plan-grid");
const plan = JSON.parse(root.dataset.plan);
const bounds = plan.bounds;

// Every item the editor places, keyed "seat:A-01", "door:main", "kiosk:wall-1".
const items = new Map();
for (const s of plan.seats) items.set(`seat:${s.seat}`, { kind: "seat", id: s.seat, zone: s.zone, x: s.x, y: s.y });
for (const d of plan.doors || []) items.set(`door:${d.door}`, { kind: "door", id: d.door, name: d.name, x: d.x, y: d.y });
for (const k of plan.kiosks || []) items.set(`kiosk:${k.kiosk}`, { kind: "kiosk", id: k.kiosk, x: k.x, y: k.y });
const original = new Map([...items].map(([key, it]) => [key, it.x == null ? null : { x: it.x, y: it.y }]));
const current = new Map(original);
const groups = new Map();

function el(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text != null) node.textContent = text;
  return node;
}

/** A seat box about as big as the seats' spacing allows. */
function seatSize() {
  const gaps = [];
  for (const a of plan.seats) {
    let best = Infinity;
    for (const b of plan.seats) {
      if (a !== b) best = Math.min(best, Math.hypot(a.x - b.x, a.y - b.y) || Infinity);
    }
    if (Number.isFinite(best)) gaps.push(best);
  }
  gaps.sort((a, b) => a - b);
  const gap = gaps.length ? gaps[Math.floor(gaps.length / 2)] : Math.max(bounds.w, bounds.h) / 20;
  return Math.max(Math.min(gap * 0.85, Math.max(bounds.w, bounds.h) / 8), Math.max(bounds.w, bounds.h) / 200);
}

const size = seatSize();
const w = size;
const h = size * 0.75;

function setStatus(text, state = "") {
  status.textContent = text;
  status.dataset.state = state;
}

function same(a, b) {
  return a === b || (a != null && b != null && a.x === b.x && a.y === b.y);
}

function moved() {
  return [...current].filter(([key, p]) => p != null && !same(p, original.get(key)));
}

function refresh() {
  const n = moved().length;
  saveButton.disabled = n === 0;
  resetButton.disabled = n === 0;
  root.dataset.moved = String(n);
  drawUnplaced();
}

function place(key) {
  const p = current.get(key);
  const g = groups.get(key);
  g.style.display = p == null ? "none" : "";
  if (p == null) return;
  g.setAttribute("transform", `translate(${p.x},${p.y})`);
  g.dataset.x = String(p.x);
  g.dataset.y = String(p.y);
  g.classList.toggle("moved", !same(p, original.get(key)));
}

function label(it) {
  if (it.kind === "seat") return `${it.id} · ${plan.zones[it.zone] || it.zone}`;
  if (it.kind === "door") return `门 / Door ${it.name || it.id}`;
  return `点名屏 / Kiosk ${it.id}`;
}

function itemGroup(key, it) {
  const g = el("g", { class: `plan-item plan-${it.kind}`, "data-key": key, "data-testid": `plan-${it.kind}-${it.id}`,
                      tabindex: 0, "aria-label": label(it) });
  g.dataset[it.kind] = it.id;
  g.append(el("title", {}, label(it)));
  if (it.kind === "seat") {
    g.append(el("rect", { x: -w / 2, y: -h / 2, width: w, height: h, rx: h * 0.12 }));
    g.append(el("text", { x: 0, y: 0, "font-size": (h * 0.32).toFixed(2) }, it.id));
  } else if (it.kind === "door") {
    // A door: a bar across the wall with its name under it.
    g.append(el("rect", { x: -w * 0.6, y: -h * 0.22, width: w * 1.2, height: h * 0.44, rx: h * 0.1 }));
    g.append(el("text", { x: 0, y: 0, "font-size": (h * 0.3).toFixed(2) }, "门"));
    g.append(el("text", { class: "plan-caption", x: 0, y: h * 0.55, "font-size": (h * 0.26).toFixed(2) }, it.name || it.id));
  } else {
    // A kiosk screen: a round marker with its name under it.
    g.append(el("circle", { r: h * 0.36 }));
    g.append(el("text", { x: 0, y: 0, "font-size": (h * 0.3).toFixed(2) }, "屏"));
    g.append(el("text", { class: "plan-caption", x: 0, y: h * 0.62, "font-size": (h * 0.26).toFixed(2) }, it.id));
  }
  return g;
}

function draw() {
  const m = size;
  svg.setAttribute("viewBox", `${bounds.x - m} ${bounds.y - m} ${bounds.w + 2 * m} ${bounds.h + 2 * m}`);
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  const layers = [];
  if (plan.background && root.dataset.backgroundUrl) {
    layers.push(el("image", { href: root.dataset.backgroundUrl, x: 0, y: 0, width: plan.background.width,
                              height: plan.background.height, preserveAspectRatio: "none",
                              "data-testid": "plan-background" }));
  }
  layers.push(el("rect", { class: "plan-outline", x: bounds.x, y: bounds.y, width: bounds.w, height: bounds.h }));
  for (const [key, it] of items) {
    const g = itemGroup(key, it);
    groups.set(key, g);
    layers.push(g);
  }
  svg.replaceChildren(...layers);
  for (const key of items.keys()) place(key);
}

/** The doors and kiosk screens not on the plan, each with a button that puts it in the middle of the plan. */
function drawUnplaced() {
  if (!unplacedList) return;
  const rows = [];
  for (const [key, it] of items) {
    if (it.kind === "seat" || current.get(key) != null) continue;
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.testid = `plan-place-${it.kind}-${it.id}`;
    button.textContent = `放到平面图上 / Place: ${label(it)}`;
    button.addEventListener("click", () => {
      current.set(key, clampSnap(bounds.x + bounds.w / 2, bounds.y + bounds.h / 2));
      place(key);
      setStatus(`${label(items.get(key))} → 请拖到位置 / drag it into place`);
      refresh();
    });
    const li = document.createElement("li");
    li.append(button);
    rows.push(li);
  }
  unplacedList.replaceChildren(...rows);
  unplacedList.closest("[data-testid=plan-unplaced-box]").hidden = rows.length === 0;
}

function toPlan(clientX, clientY) {
  const ctm = svg.getScreenCTM();
  const p = new DOMPoint(clientX, clientY).matrixTransform(ctm.inverse());
  return { x: p.x, y: p.y };
}

function clampSnap(x, y) {
  let nx = x;
  let ny = y;
  const step = Number(grid.value);
  if (snap.checked && step > 0) {
    nx = Math.round(nx / step) * step;
    ny = Math.round(ny / step) * step;
  }
  nx = Math.min(Math.max(nx, bounds.x), bounds.x + bounds.w);
  ny = Math.min(Math.max(ny, bounds.y), bounds.y + bounds.h);
  return { x: Math.round(nx * 100) / 100, y: Math.round(ny * 100) / 100 };
}

let drag = null; // {key, pointerId, dx, dy}

svg.addEventListener("pointerdown", (ev) => {
  if (ev.button !== undefined && ev.button > 0) return;
  const g = ev.target.closest && ev.target.closest("[data-key]");
  if (!g || drag) return;
  ev.preventDefault();
  const key = g.dataset.key;
  const at = toPlan(ev.clientX, ev.clientY);
  const p = current.get(key);
  drag = { key, pointerId: ev.pointerId, dx: p.x - at.x, dy: p.y - at.y };
  try { svg.setPointerCapture(ev.pointerId); } catch (_err) { /* synthetic pointers */ }
  g.classList.add("dragging");
  svg.append(g); // on top while it moves
});

svg.addEventListener("pointermove", (ev) => {
  if (!drag || ev.pointerId !== drag.pointerId) return;
  const at = toPlan(ev.clientX, ev.clientY);
  current.set(drag.key, clampSnap(at.x + drag.dx, at.y + drag.dy));
  place(drag.key);
});

function endDrag(ev) {
  if (!drag || ev.pointerId !== drag.pointerId) return;
  groups.get(drag.key).classList.remove("dragging");
  const p = current.get(drag.key);
  setStatus(`${items.get(drag.key).id} → (${p.x}, ${p.y})`);
  drag = null;
  refresh();
}
svg.addEventListener("pointerup", endDrag);
svg.addEventListener("pointercancel", endDrag);

resetButton.addEventListener("click", () => {
  for (const [key, p] of original) current.set(key, p && { ...p });
  for (const key of groups.keys()) place(key);
  setStatus("已撤销 / Undone");
  refresh();
});

saveButton.addEventListener("click", async () => {
  const changes = moved();
  const positions = changes.map(([key, p]) => ({ [items.get(key).kind]: items.get(key).id, x: p.x, y: p.y }));
  if (!positions.length) return;
  saveButton.disabled = true;
  setStatus("正在保存… / Saving…");
  const body = new URLSearchParams({ csrf_token: root.dataset.csrf, positions: JSON.stringify(positions),
                                     floor: root.dataset.floor || "" });
  try {
    const resp = await fetch(root.dataset.saveUrl, {
      method: "POST", body, credentials: "same-origin",
      headers: { Accept: "application/json", "X-Requested-With": "fetch" },
    });
    const answer = await resp.json().catch(() => ({ ok: false, message: `HTTP ${resp.status}` }));
    if (!resp.ok || !answer.ok) {
      setStatus(`未保存 / Not saved: ${answer.message || resp.status}`, "error");
      refresh();
      return;
    }
    for (const [key, p] of changes) original.set(key, { ...p });
    for (const key of groups.keys()) place(key);
    setStatus(`已保存 ${answer.moved} 处 / Saved ${answer.moved} position(s)`, "saved");
  } catch (err) {
    setStatus(`未保存 / Not saved: ${err}`, "error");
  }
  refresh();
});

draw();
refresh();
root.dataset.ready = "true";
