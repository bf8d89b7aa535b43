// Short notices in a polite live region; errors stay until dismissed.

import { h, icon } from "./dom.js";
import { t } from "./i18n.js";

const ICONS = { info: "info", success: "check", error: "warning", critical: "siren" };

export function toast(message, { kind = "info", timeoutMs = null, action = null } = {}) {
  const region = document.getElementById("toasts");
  const close = () => el.remove();
  const el = h(
    "div",
    { class: `toast toast--${kind}`, role: kind === "error" || kind === "critical" ? "alert" : null },
    icon(ICONS[kind] || "info"),
    h("p", {}, message),
    action
      ? h("button", { class: "btn btn--small", type: "button", onclick: () => { action.onClick(); close(); } }, action.label)
      : null,
    h("button", { class: "btn-icon", type: "button", "aria-label": t("action.dismiss"), onclick: close }, icon("x")),
  );
  region.append(el);
  while (region.children.length > 4) region.firstElementChild.remove();
  const ms = timeoutMs ?? (kind === "error" || kind === "critical" ? 0 : 5000);
  if (ms > 0) setTimeout(close, ms);
  return close;
}

export function errorToast(message) {
  return toast(message, { kind: "error" });
}
