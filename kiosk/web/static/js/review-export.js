// The export's progress page: start the download once, then show how many rows the server has streamed.
// The download itself is an ordinary attachment (the browser writes it to disk as it arrives); the count
// comes from /review/export/<id>/progress, polled twice a second until the export is done.

const job = document.querySelector("[data-testid=export-job]");
const link = document.querySelector("[data-export-file]");
const bar = document.querySelector("[data-testid=export-progress]");
const status = document.querySelector("[data-testid=export-status]");
const POLL_MS = 500;

function words(template, values) {
  return template.replace(/\{(\w+)\}/g, (_m, key) => String(values[key] ?? ""));
}

function show(rows, total, state) {
  bar.max = Math.max(total, 1);
  bar.value = state === "done" ? bar.max : rows;
  status.dataset.state = state;
  status.textContent = state === "done"
    ? words(job.dataset.wordDone, { total })
    : words(job.dataset.wordProgress, { done: rows, total });
}

async function poll() {
  try {
    const resp = await fetch(job.dataset.progressUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
    const doc = await resp.json();
    if (!resp.ok) {
      status.textContent = doc.message || String(resp.status);
      status.dataset.state = "failed";
      return;
    }
    show(doc.rows, doc.total, doc.state);
    if (doc.state === "done" || doc.state === "failed" || doc.state === "aborted") {
      return;
    }
  } catch (_err) {
    /* a missed poll is retried below */
  }
  window.setTimeout(poll, POLL_MS);
}

if (job && link && bar && status) {
  show(0, Number(job.dataset.total), "ready");
  link.click();
  window.setTimeout(poll, 100);
}
