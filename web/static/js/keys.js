// Keyboard shortcuts. A view sets its keymap; typing in a field never triggers one.

import { h, icon } from "./dom.js";
import { t } from "./i18n.js";

let keymap = {};

export function setKeymap(map) {
  keymap = map || {};
}

function typing(target) {
  if (!target || !target.tagName) return false;
  const tag = target.tagName.toLowerCase();
  return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
}

export function start() {
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.querySelector("dialog[open]")) return;
    if (typing(event.target)) {
      if (event.key === "Escape" && event.target.blur) event.target.blur();
      return;
    }
    if (event.key === "?") {
      event.preventDefault();
      showHelp();
      return;
    }
    // Enter and Space on a link or button keep their own meaning.
    if ((event.key === "Enter" || event.key === " ") && event.target.closest && event.target.closest("a[href], button, summary, [role='button'], [role='tab']")) return;
    const fn = keymap[event.key];
    if (fn) {
      event.preventDefault();
      fn(event);
    }
  });
}

export const SHORTCUTS = [
  ["j", "keys.next"],
  ["k", "keys.previous"],
  ["Enter", "keys.open"],
  ["e", "keys.resolve"],
  ["a", "keys.assign"],
  ["/", "keys.search"],
  ["Esc", "keys.close"],
  ["?", "keys.help"],
];

export function showHelp() {
  const dialog = h(
    "dialog",
    { class: "dialog", "aria-labelledby": "help-title" },
    h(
      "div",
      { class: "dialog__head" },
      h("h2", { id: "help-title" }, icon("keyboard"), t("keys.title")),
      h("button", { class: "btn-icon", type: "button", "aria-label": t("action.close"), onclick: () => dialog.close() }, icon("x")),
    ),
    h(
      "table",
      { class: "keys" },
      h("tbody", {}, SHORTCUTS.map(([key, label]) => h("tr", {}, h("td", {}, h("kbd", {}, key)), h("td", {}, t(label))))),
    ),
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
