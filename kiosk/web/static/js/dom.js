// A tiny element builder: the screen is rendered from state with plain DOM calls, never innerHTML,
// so names and notices from the database can never inject markup.

/** h("li", {class: "row", dataset: {status: "present"}}, "text", child) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "testid") el.setAttribute("data-testid", value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function byTestId(id, root = document) {
  return root.querySelector(`[data-testid="${id}"]`);
}

export function setText(el, text) {
  if (el && el.textContent !== text) el.textContent = text;
}

export function show(el, visible) {
  if (el) el.hidden = !visible;
}
