// The floor plan editor: every seat drawn at its plan position (x, y), dragged with pointer events (mouse,
// touch and pen alike), kept inside the plan's bounds, optionally snapped to a grid; Save posts the moved
// seats with the form token. The background image is an SVG <image>, so an SVG drawing never runs scripts.

const SVG_NS = "http://www.w3.org/2000/svg";
const root = document.querySelector("[data-testid=plan-editor]");
const svg = root.querySelector("[data-testid=plan-map]");
const status = root.querySelector("[data-testid=plan-status]");
const saveButton = root.querySelector("[data-testid=plan-save]");
const resetButton = root.querySelector("[data-testid=plan-reset]");
const snap = root.querySelector("#plan-snap");
const grid = root.querySelector("#plan-grid");
const plan = JSON.parse(root.dataset.plan);
const bounds = plan.bounds;
const original = new Map(plan.seats.map((s) => [s.seat, { x: s.x, y: s.y }]));
const current = new Map(plan.seats.map((s) => [s.seat, { x: s.x, y: s.y }]));
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

function moved() {
  return [...current].filter(([id, p]) => p.x !== original.get(id).x || p.y !== original.get(id).y);
}

function refresh() {
  const n = moved().length;
  saveButton.disabled = n === 0;
  resetButton.disabled = n === 0;
  root.dataset.moved = String(n);
}

function place(id) {
  const p = current.get(id);
  const g = groups.get(id);
  g.setAttribute("transform", `translate(${p.x},${p.y})`);
  g.dataset.x = String(p.x);
  g.dataset.y = String(p.y);
  const o = original.get(id);
  g.classList.toggle("moved", p.x !== o.x || p.y !== o.y);
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
  for (const seat of plan.seats) {
    const g = el("g", { class: "plan-seat", "data-seat": seat.seat, "data-testid": `plan-seat-${seat.seat}`,
                        tabindex: 0, "aria-label": `${seat.seat} (${plan.zones[seat.zone] || seat.zone})` });
    g.append(el("title", {}, `${seat.seat} · ${plan.zones[seat.zone] || seat.zone}`));
    g.append(el("rect", { x: -w / 2, y: -h / 2, width: w, height: h, rx: h * 0.12 }));
    g.append(el("text", { x: 0, y: 0, "font-size": (h * 0.32).toFixed(2) }, seat.seat));
    groups.set(seat.seat, g);
    layers.push(g);
    place(seat.seat);
  }
  svg.replaceChildren(...layers);
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

let drag = null; // {id, pointerId, dx, dy}

svg.addEventListener("pointerdown", (ev) => {
  if (ev.button !== undefined && ev.button > 0) return;
  const g = ev.target.closest && ev.target.closest("[data-seat]");
  if (!g || drag) return;
  ev.preventDefault();
  const id = g.dataset.seat;
  const at = toPlan(ev.clientX, ev.clientY);
  const p = current.get(id);
  drag = { id, pointerId: ev.pointerId, dx: p.x - at.x, dy: p.y - at.y };
  try { svg.setPointerCapture(ev.pointerId); } catch (_err) { /* synthetic pointers */ }
  g.classList.add("dragging");
  svg.append(g); // on top while it moves
});

svg.addEventListener("pointermove", (ev) => {
  if (!drag || ev.pointerId !== drag.pointerId) return;
  const at = toPlan(ev.clientX, ev.clientY);
  current.set(drag.id, clampSnap(at.x + drag.dx, at.y + drag.dy));
  place(drag.id);
});

function endDrag(ev) {
  if (!drag || ev.pointerId !== drag.pointerId) return;
  groups.get(drag.id).classList.remove("dragging");
  const p = current.get(drag.id);
  setStatus(`${drag.id} → (${p.x}, ${p.y})`);
  drag = null;
  refresh();
}
svg.addEventListener("pointerup", endDrag);
svg.addEventListener("pointercancel", endDrag);

resetButton.addEventListener("click", () => {
  for (const [id, p] of original) current.set(id, { ...p });
  for (const id of groups.keys()) place(id);
  setStatus("已撤销 / Undone");
  refresh();
});

saveButton.addEventListener("click", async () => {
  const positions = moved().map(([seat, p]) => ({ seat, x: p.x, y: p.y }));
  if (!positions.length) return;
  saveButton.disabled = true;
  setStatus("正在保存… / Saving…");
  const body = new URLSearchParams({ csrf_token: root.dataset.csrf, positions: JSON.stringify(positions) });
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
    for (const [seat, p] of positions.map((q) => [q.seat, { x: q.x, y: q.y }])) original.set(seat, p);
    for (const id of groups.keys()) place(id);
    setStatus(`已保存 ${answer.moved} 个坐席 / Saved ${answer.moved} seat(s)`, "saved");
  } catch (err) {
    setStatus(`未保存 / Not saved: ${err}`, "error");
  }
  refresh();
});

draw();
refresh();
root.dataset.ready = "true";
