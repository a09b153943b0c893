// The floor map's state on this screen: seats, zones, counts, open flags, placed doors and kiosk screens, as
// the server sent them.
// A snapshot (on every (re)connect) replaces everything; a floor_changed upserts seats and flags by id.
// Seat payloads carry a rev: one lower than the rev already applied for that seat is stale and ignored
// (snapshot seats have rev 0, so any later change applies over them). Flags with open:false leave.

export const state = {
  loaded: false,
  kioskId: "kiosk",
  now: null, // the snapshot's server time (ISO)
  seats: new Map(), // seat id -> seat payload
  order: [], // seat ids in the snapshot's order
  zones: new Map(), // zone id -> name
  counts: {},
  flags: new Map(), // flag id -> flag payload (open flags only)
  policy: {},
  shift: null, // the roll call board's shift, for the top bar
  leader: null, // the leader session at this kiosk, if any
  doors: new Map(), // door id -> door payload (placed doors only: x, y, look)
  kiosks: [], // placed kiosk screens: [{kiosk, x, y}]
};

function placed(p) {
  return p && p.x != null && p.y != null;
}

/** door_changed: a door's live state (its look); a door taken off the plan leaves. Returns whether to redraw. */
export function applyDoorChanged(door) {
  if (!door || !door.door_id) return false;
  if (!placed(door)) return state.doors.delete(door.door_id);
  state.doors.set(door.door_id, door);
  return true;
}

/** floor_markers_changed: every placed door and kiosk screen, after the plan editor moved some. */
export function applyMarkers(p) {
  state.doors = new Map((p.doors || []).filter(placed).map((d) => [d.door_id, d]));
  state.kiosks = (p.kiosks || []).filter(placed);
}

/** Replace everything from a snapshot's `floor` (and the board's shift and leader). */
export function applySnapshot(snap) {
  const floor = snap.floor || {};
  state.loaded = true;
  state.now = floor.now || snap.now || null;
  state.seats = new Map();
  state.order = [];
  for (const s of floor.seats || []) {
    state.seats.set(s.seat, s);
    state.order.push(s.seat);
  }
  state.zones = new Map((floor.zones || []).map((z) => [z.zone, z.name || z.zone]));
  state.counts = { ...(floor.counts || {}) };
  state.flags = new Map();
  for (const f of floor.flags || []) {
    if (f.open !== false) state.flags.set(f.id, f);
  }
  state.policy = { ...(floor.policy || {}) };
  applyMarkers(floor);
  state.shift = snap.shift || null;
  state.leader = snap.leader && snap.leader.kiosk === state.kioskId ? snap.leader : null;
}

/**
 * Apply a floor_changed push. Returns {seats: Set of seat ids to redraw, flags: whether the flag list
 * changed, structure: whether a seat appeared that the map has not laid out yet}.
 */
export function applyChanged(p) {
  const redraw = new Set();
  let structure = false;
  for (const s of p.seats || []) {
    const old = state.seats.get(s.seat);
    if (old && (old.rev || 0) > (s.rev || 0)) continue; // an older push overtaken by a newer one
    if (!old) {
      structure = true;
      state.order.push(s.seat);
    }
    state.seats.set(s.seat, s);
    redraw.add(s.seat);
  }
  let flagsChanged = false;
  for (const f of p.flags || []) {
    const old = state.flags.get(f.id);
    if (old && (old.rev || 0) > (f.rev || 0)) continue;
    flagsChanged = true;
    if (f.open === false) state.flags.delete(f.id);
    else state.flags.set(f.id, f);
    // The seat the flag is about, and any seat listing it, show its marker.
    if (f.seat && state.seats.has(f.seat)) redraw.add(f.seat);
    for (const [sid, s] of state.seats) {
      if ((s.flags || []).includes(f.id)) redraw.add(sid);
    }
  }
  if (p.counts) state.counts = { ...p.counts };
  return { seats: redraw, flags: flagsChanged, structure };
}

/** A flag the leader still has to act on: not acknowledged yet, or a sign-out without its cause. */
export function needsAction(f) {
  return f.open !== false && (!f.acknowledged_at || f.needs_cause);
}

/** The open flags that concern a seat (about the seat, or about whoever is signed in there). */
export function seatFlags(seat) {
  const out = [];
  const seen = new Set();
  for (const id of seat.flags || []) {
    const f = state.flags.get(id);
    if (f && !seen.has(id)) {
      seen.add(id);
      out.push(f);
    }
  }
  for (const f of state.flags.values()) {
    if (f.seat === seat.seat && !seen.has(f.id)) {
      seen.add(f.id);
      out.push(f);
    }
  }
  return out;
}

/** The seat at which someone is signed in (first agent or also signed in), or null. */
export function seatOfAgent(employeeNo) {
  if (!employeeNo) return null;
  for (const s of state.seats.values()) {
    if (s.agent && s.agent.employee_no === employeeNo) return s.seat;
    if ((s.also_signed_in || []).some((a) => a.employee_no === employeeNo)) return s.seat;
  }
  return null;
}

/** The seat someone is assigned to this shift, or null. */
export function assignedSeatOf(employeeNo) {
  if (!employeeNo) return null;
  for (const s of state.seats.values()) {
    if (s.assigned && s.assigned.employee_no === employeeNo) return s.seat;
  }
  return null;
}

/** Flags in the order the leader reads them: alarms first, then the oldest first. */
export function flagsForLeader() {
  const rank = { alarm: 0, warning: 1 };
  return [...state.flags.values()].filter(needsAction).sort((a, b) =>
    (rank[a.severity] ?? 2) - (rank[b.severity] ?? 2)
    || String(a.raised_at || "").localeCompare(String(b.raised_at || ""))
    || a.id - b.id);
}
