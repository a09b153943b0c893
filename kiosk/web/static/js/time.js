// Time on the screen: local time of the floor's configured zone, corrected for the kiosk's clock drift.
// Payload times are ISO-8601 UTC; the snapshot's `now` tells how far this browser's clock is off.

let offsetMs = 0; // server time minus browser time
let zone = undefined;

export function setTimeZone(tz) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    zone = tz;
  } catch (_err) {
    zone = undefined; // an unknown zone: fall back to the browser's own
  }
}

/** Learn the server's clock from a snapshot, so countdowns agree with the server's windows. */
export function syncServerNow(iso) {
  const server = Date.parse(iso);
  if (!Number.isNaN(server)) offsetMs = server - Date.now();
}

/** Now, in milliseconds since the epoch, on the server's clock. */
export function now() {
  return Date.now() + offsetMs;
}

export function parse(iso) {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

const cache = new Map();
function formatter(lang, opts) {
  const key = `${lang}|${zone}|${JSON.stringify(opts)}`;
  if (!cache.has(key)) {
    cache.set(key, new Intl.DateTimeFormat(lang, { timeZone: zone, hourCycle: "h23", ...opts }));
  }
  return cache.get(key);
}

/** HH:MM in the floor's zone. */
export function hhmm(ms, lang) {
  if (ms == null) return "";
  return formatter(lang, { hour: "2-digit", minute: "2-digit" }).format(ms);
}

/** HH:MM:SS in the floor's zone, for the clock. */
export function hhmmss(ms, lang) {
  return formatter(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(ms);
}

/** The local date, e.g. 11月30日 周一 / Mon 30 Nov. */
export function day(ms, lang) {
  return formatter(lang, { month: "short", day: "numeric", weekday: "short" }).format(ms);
}

/** A duration as m:ss, or h:mm:ss past an hour. */
export function duration(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}
