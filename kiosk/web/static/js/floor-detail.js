// The card a tap on a seat opens: who is signed in there and since when, their platform state, today's
// busy and wrap-up minutes against the §8.8 allowance (ticking while in that state), who the roster puts
// there vs. where that person actually is (§8.7), the seat sensor, and the seat's flags with their rule.

import { byTestId, h, setText, show } from "./dom.js";
import { language, t } from "./i18n.js";
import { assignedSeatOf, needsAction, seatFlags, seatOfAgent, state } from "./floor-state.js";
import { flagWords } from "./floor-flags.js";
import { lookOf } from "./floor-map.js";
import * as time from "./time.js";

let seatId = null;
let onClose = () => {};

export function selected() {
  return seatId;
}

export function open(id) {
  seatId = state.seats.has(id) ? id : null;
  render();
}

export function close() {
  seatId = null;
  render();
  onClose();
}

function at(iso) {
  return time.hhmm(time.parse(iso), language());
}

/** Seconds of busy (or wrap-up) today: the server's figure as of `as_of`, plus the time since while in that state. */
export function secondsToday(agent, which) {
  const base = which === "busy" ? agent.busy_seconds || 0 : agent.wrap_up_seconds || 0;
  const asOf = time.parse(agent.as_of);
  if (agent.state !== (which === "busy" ? "busy" : "wrap_up") || asOf == null) return base;
  return base + Math.max(0, (time.now() - asOf) / 1000);
}

function row(label, value, testid, extra = {}) {
  return h("div", { class: `detail-row${extra.class ? ` ${extra.class}` : ""}`, testid },
    h("dt", {}, label), h("dd", {}, value));
}

function allowanceRow(agent, which) {
  const secs = secondsToday(agent, which);
  const limit = (state.policy.allowance_limit_minutes ?? 40) * 60;
  const warn = (state.policy.allowance_warn_minutes ?? 30) * 60;
  const level = secs >= limit ? "reached" : secs >= warn ? "warning" : "ok";
  const fill = h("span", { class: "allowance-fill" });
  fill.style.width = `${Math.min(100, (secs / Math.max(1, limit)) * 100).toFixed(1)}%`; // CSSOM, not a style attribute (CSP)
  return h("div", { class: `detail-row allowance allowance-${level}`, testid: `seat-detail-${which}`,
                    dataset: { seconds: String(Math.floor(secs)) } },
    h("dt", {}, t(which === "busy" ? "floor.detail.busy" : "floor.detail.wrap")),
    h("dd", {},
      h("span", { class: "allowance-figure" },
        t("floor.detail.minutes", { used: time.duration(secs * 1000), limit: Math.round(limit / 60) })),
      h("span", { class: "allowance-bar" }, fill)));
}

function person(p) {
  return t("floor.person", { name: p.name || p.employee_no, no: p.employee_no });
}

function assignment(p) {
  // The shift's name when it is the board's shift (the payload carries its code only).
  const shift = state.shift && state.shift.code === p.shift
    ? t("floor.shift.short", { name: state.shift.name, code: p.shift }) : p.shift || "";
  return t("floor.detail.assigned.person", { name: p.name || p.employee_no, no: p.employee_no, shift,
                                             start: at(p.starts_at), end: at(p.ends_at) });
}

export function render() {
  const card = byTestId("seat-detail");
  const seat = seatId ? state.seats.get(seatId) : null;
  show(card, Boolean(seat));
  if (!seat) {
    card.dataset.forSeat = "";
    return;
  }
  card.dataset.forSeat = seat.seat;
  card.dataset.status = seat.status;
  card.dataset.look = lookOf(seat);
  const zone = state.zones.get(seat.zone) || seat.zone || "";
  setText(byTestId("seat-detail-title"), t("floor.detail.title", { seat: seat.seat }));
  setText(byTestId("seat-detail-zone"), zone);
  const agent = seat.agent;
  const statusText = agent ? t(`floor.state.${agent.state}`) : t(`floor.status.${seat.status}`);
  const chip = byTestId("seat-detail-status");
  chip.dataset.look = lookOf(seat);
  setText(chip, statusText);

  const rows = [];
  if (agent) {
    rows.push(row(t("floor.detail.who"), person(agent), "seat-detail-agent", { class: "detail-who" }));
    const since = time.parse(agent.since);
    rows.push(row(t("floor.detail.state"),
                  t("floor.detail.since", { state: statusText, time: at(agent.since),
                                            dur: since == null ? "" : time.duration(time.now() - since) }),
                  "seat-detail-state"));
    if (agent.signed_in_at) rows.push(row(t("floor.detail.signed_in_at"), at(agent.signed_in_at), "seat-detail-signed-in"));
    rows.push(allowanceRow(agent, "busy"));
    rows.push(allowanceRow(agent, "wrap"));
    // §8.7: the seat this person is assigned to this shift, against this one.
    const own = assignedSeatOf(agent.employee_no);
    const actual = own === seat.seat ? t("floor.detail.actual.same")
      : own ? t("floor.detail.actual.elsewhere", { seat: own }) : t("floor.detail.actual.unassigned");
    rows.push(row(t("floor.detail.actual"), actual, "seat-detail-actual",
                  { class: own && own !== seat.seat ? "detail-wrong" : "" }));
  } else {
    rows.push(row(t("floor.detail.who"), t("floor.detail.nobody"), "seat-detail-agent"));
  }
  for (const other of seat.also_signed_in || []) {
    rows.push(row(t("floor.detail.also"), `${person(other)} · ${t(`floor.state.${other.state}`)}`, "seat-detail-also",
                  { class: "detail-wrong" }));
  }
  if (seat.assigned) {
    const where = seatOfAgent(seat.assigned.employee_no);
    const value = [assignment(seat.assigned)];
    if (where && where !== seat.seat) value.push(h("div", { class: "detail-note" }, t("floor.detail.assigned_at", { seat: where })));
    rows.push(row(t("floor.detail.assigned"), value, "seat-detail-assigned"));
  } else {
    rows.push(row(t("floor.detail.assigned"), t("floor.detail.assigned.none"), "seat-detail-assigned"));
  }
  if (seat.next) rows.push(row(t("floor.detail.next"), assignment(seat.next), "seat-detail-next"));
  const sensorState = t(`floor.sensor.${seat.sensor || "none"}`);
  rows.push(row(t("floor.detail.sensor"), seat.sensor_at && seat.sensor !== "none"
    ? t("floor.detail.sensor_at", { state: sensorState, time: at(seat.sensor_at) }) : sensorState, "seat-detail-sensor",
                { class: ["unknown", "tamper", "fault"].includes(seat.sensor) ? "detail-wrong" : "" }));
  if (seat.mismatch) {
    rows.push(h("div", { class: "detail-mismatch", testid: "seat-detail-mismatch" }, t(`floor.mismatch.${seat.mismatch}`)));
  }
  byTestId("seat-detail-rows").replaceChildren(...rows);

  const flags = seatFlags(seat);
  const list = byTestId("seat-detail-flags");
  if (!flags.length) {
    list.replaceChildren(h("li", { class: "detail-flag-none" }, t("floor.detail.flags.none")));
  } else {
    list.replaceChildren(...flags.map((f) => {
      const words = flagWords(f);
      return h("li", { class: `detail-flag severity-${f.severity}`, testid: `seat-detail-flag-${f.id}`,
                       dataset: { kind: f.kind, acknowledged: needsAction(f) ? "false" : "true" } },
        h("span", { class: "flag-rule" }, words.rule),
        h("span", { class: "flag-title" }, words.title),
        h("div", { class: "flag-text" }, words.text),
        needsAction(f) ? null : h("div", { class: "detail-note" },
          t("floor.detail.acknowledged", { by: f.acknowledged_by || "?", time: at(f.acknowledged_at) })));
    }));
  }
}

/** Once a second while open: the durations and allowance minutes tick. */
export function tick() {
  if (seatId) render();
}

export function init({ closed }) {
  onClose = closed;
  byTestId("seat-detail-close").addEventListener("click", close);
}
