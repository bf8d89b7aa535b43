// Building the page from data without ever parsing data as HTML.
//
// h("button", {class: "btn", onclick: fn, "aria-label": "..."}, "text", child, [more])
// Strings become text nodes; null, undefined and false are skipped; arrays are flattened.

const SVG_NS = "http://www.w3.org/2000/svg";

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name === "style") {
      Object.assign(el.style, value); // CSSOM: allowed by the style-src policy
    } else if (name in el && typeof value !== "string" && name !== "list") {
      el[name] = value; // properties such as value, checked, disabled, selected
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** An icon from the sprite; decorative unless given a label. */
export function icon(name, { label = null, cls = "" } = {}) {
  const el = svg(
    "svg",
    {
      class: `icon ${cls}`.trim(),
      "aria-hidden": label ? null : "true",
      role: label ? "img" : null,
      "aria-label": label,
      focusable: "false",
    },
    svg("use", { href: `/static/icons/sprite.svg#${name}` }),
  );
  return el;
}

let uid = 0;
export function nextId(prefix = "id") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A visible label bound to its control. */
export function field(labelText, control, { hint = null, cls = "" } = {}) {
  if (!control.id) control.id = nextId("f");
  const hintEl = hint ? h("p", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: `field ${cls}`.trim() }, h("label", { for: control.id }, labelText), control, hintEl);
}

export function select(options, { value = "", label = null, name = null, onchange = null, id = null } = {}) {
  const el = h("select", { "aria-label": label, name, id, onchange });
  for (const opt of options) {
    el.append(h("option", { value: String(opt.value), selected: String(opt.value) === String(value) }, opt.label));
  }
  el.value = String(value);
  return el;
}

export function debounce(fn, waitMs) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), waitMs);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}
