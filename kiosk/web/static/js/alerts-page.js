// The alert history page follows the language chosen on the kiosk screen in this browser (the same
// localStorage key as i18n.js), and its language link changes that choice for both pages.

const STORAGE_KEY = "kiosk.language";
const LANGUAGES = ["zh-CN", "en"];

function stored() {
  try {
    return window.localStorage.getItem(STORAGE_KEY);
  } catch (_err) {
    return null; // storage disabled: the server's language stands
  }
}

const body = document.body;
const chosen = stored();
if (body.dataset.langExplicit !== "true" && LANGUAGES.includes(chosen) && chosen !== body.dataset.language) {
  const url = new URL(window.location.href);
  url.searchParams.set("lang", chosen);
  window.location.replace(url.toString());
}

const toggle = document.querySelector("[data-testid=alerts-lang-toggle]");
if (toggle) {
  toggle.addEventListener("click", () => {
    try {
      window.localStorage.setItem(STORAGE_KEY, toggle.dataset.lang);
    } catch (_err) {
      /* not remembered; the link still switches this page */
    }
  });
}
