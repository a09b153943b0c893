// Tap sounds, generated with WebAudio (no sound files). Browsers refuse to start audio before a
// person touches the page, so the AudioContext is created on the first touch, key or click.

let ctx = null;

/** Create (or resume) the audio context; call from a user gesture. */
export function unlock() {
  try {
    if (!ctx) {
      const Ctor = window.AudioContext || window.webkitAudioContext;
      if (!Ctor) return;
      ctx = new Ctor();
    }
    if (ctx.state === "suspended") ctx.resume();
  } catch (_err) {
    ctx = null; // no sound on this browser; the colours still speak
  }
}

export function installUnlock() {
  const once = () => unlock();
  for (const type of ["pointerdown", "touchstart", "keydown", "click"]) {
    window.addEventListener(type, once, { capture: true, passive: true });
  }
}

function tone(freq, start, length, type = "sine", volume = 0.35) {
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.type = type;
  osc.frequency.setValueAtTime(freq, start);
  // A short attack and release: no clicks.
  gain.gain.setValueAtTime(0.0001, start);
  gain.gain.exponentialRampToValueAtTime(volume, start + 0.015);
  gain.gain.setValueAtTime(volume, start + length - 0.04);
  gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
  osc.connect(gain).connect(ctx.destination);
  osc.start(start);
  osc.stop(start + length + 0.02);
}

// accepted: two rising notes; refused: two low buzzes; info (already checked in): one soft note.
// alarm (an unacknowledged alert, §6.5/§6.6): a hi-lo siren, repeated by alerts.js until acknowledged;
// reminder: a softer double chime for alerts that have cleared but are still not acknowledged.
const PATTERNS = {
  accepted: [[880, 0, 0.12], [1320, 0.13, 0.2]],
  refused: [[220, 0, 0.22, "square", 0.18], [220, 0.3, 0.22, "square", 0.18]],
  info: [[660, 0, 0.18]],
  alarm: [[988, 0, 0.22, "square", 0.2], [740, 0.25, 0.22, "square", 0.2],
    [988, 0.5, 0.22, "square", 0.2], [740, 0.75, 0.22, "square", 0.2]],
  reminder: [[784, 0, 0.16, "triangle", 0.3], [784, 0.22, 0.16, "triangle", 0.3]],
};

/** True once the browser lets this page make sound (after the first touch, or at once with autoplay allowed). */
export function running() {
  return Boolean(ctx && ctx.state === "running");
}

/** Play one of the patterns; silently nothing before the first touch. */
export function play(kind) {
  if (!ctx || ctx.state !== "running") return;
  const t0 = ctx.currentTime + 0.01;
  for (const [freq, at, len, type, vol] of PATTERNS[kind] || PATTERNS.info) {
    tone(freq, t0 + at, len, type, vol);
  }
}
