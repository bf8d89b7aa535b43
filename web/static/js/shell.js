// The frame around every page: navigation, who is signed in, language, sound, live state.

import { h, icon, replace } from "./dom.js";
import { t, locale } from "./i18n.js";
import { features } from "./api.js";
import { on, status as liveStatus } from "./live.js";
import { setBaseTitle, soundEnabled, setSoundEnabled } from "./alerts.js";
import { initials } from "./format.js";

export const session = { me: null, teams: [], channels: [], directory: [] };

export function isStaff() {
  return session.me && (session.me.role === "pr" || session.me.role === "admin");
}

export function isAdmin() {
  return session.me && session.me.role === "admin";
}

export function userName(id) {
  if (id === null || id === undefined) return null;
  const person = session.directory.find((u) => u.id === id);
  return person ? person.display_name || person.email : `#${id}`;
}

let els = null;

export function setTitle(text) {
  setBaseTitle(text ? `${text} · Leitstand` : "Leitstand");
}

const NAV = [
  { name: "inbox", href: "/inbox", icon: "inbox", label: "nav.inbox", match: ["inbox", "conversation"] },
  { name: "incidents", href: "/incidents", icon: "siren", label: "nav.incidents", match: ["incidents", "incident"], staff: true },
  { name: "overview", href: "/overview", icon: "chart", label: "nav.overview", match: ["overview"] },
  { name: "admin", href: "/admin", icon: "settings", label: "nav.admin", match: ["admin"], admin: true },
];

export function renderShell(root, { onLocale, onSignOut }) {
  const main = h("main", { id: "main", class: "main", tabindex: "-1" });
  const navList = h("ul", { class: "nav__list" });
  const badges = {};
  for (const item of NAV) {
    if (item.admin && !isAdmin()) continue;
    if (item.staff && !isStaff()) continue;
    badges[item.name] = h("span", { class: "nav__badge", hidden: true });
    navList.append(
      h(
        "li",
        {},
        h("a", { class: "nav__link", href: item.href, dataset: { nav: item.name } }, icon(item.icon), h("span", {}, t(item.label)), badges[item.name]),
      ),
    );
  }
  const live = h("p", { class: "live", role: "status" });
  const renderLive = (state) => {
    live.className = `live live--${state}`;
    replace(live, h("span", { class: "live__dot", "aria-hidden": "true" }), t(`live.${state}`));
  };
  renderLive(liveStatus);
  on("status", renderLive);

  const soundToggle = h("button", {
    class: "btn-ghost",
    type: "button",
    "aria-pressed": String(soundEnabled()),
    onclick: () => {
      setSoundEnabled(!soundEnabled());
      renderSound();
    },
  });
  const renderSound = () => {
    soundToggle.setAttribute("aria-pressed", String(soundEnabled()));
    replace(soundToggle, icon(soundEnabled() ? "sound" : "mute"), soundEnabled() ? t("sound.on") : t("sound.off"));
  };
  renderSound();

  const me = session.me;
  const langSwitch = h(
    "div",
    { class: "segmented segmented--dark", role: "group", "aria-label": t("lang.label") },
    ["de", "en"].map((code) =>
      h(
        "button",
        {
          type: "button",
          class: "segmented__item",
          lang: code,
          "aria-pressed": String(locale() === code),
          onclick: () => code !== locale() && onLocale(code),
        },
        code.toUpperCase(),
      ),
    ),
  );
  const sidebar = h(
    "nav",
    { class: "sidebar", "aria-label": t("nav.label") },
    h("a", { class: "brand", href: "/inbox" }, h("img", { src: "/static/icons/favicon.svg", alt: "", width: 26, height: 26 }), h("span", {}, "Leitstand")),
    navList,
    h(
      "div",
      { class: "sidebar__foot" },
      live,
      soundToggle,
      langSwitch,
      h(
        "div",
        { class: "me" },
        h("span", { class: "avatar", "aria-hidden": "true" }, initials(me.display_name || me.email)),
        h(
          "div",
          { class: "me__text" },
          h("p", { class: "me__name", title: me.email }, me.display_name || me.email),
          h("p", { class: "me__role" }, t(`role.${me.role}`)),
        ),
        h("button", { class: "btn-icon btn-icon--light", type: "button", "aria-label": t("auth.sign_out"), title: t("auth.sign_out"), onclick: onSignOut }, icon("logout")),
      ),
    ),
  );
  // The alert banner sits above the page (never over it), so nothing it covers is lost.
  const alerts = document.getElementById("alerts");
  replace(root, h("a", { class: "skip", href: "#main" }, t("nav.skip")), sidebar, h("div", { class: "main-col" }, alerts, main));
  root.classList.remove("boot");
  root.removeAttribute("aria-busy");
  els = { main, navList, badges };
  return main;
}

export function markNav(routeName) {
  if (!els) return;
  for (const link of els.navList.querySelectorAll("a[data-nav]")) {
    const item = NAV.find((n) => n.name === link.dataset.nav);
    const active = item && item.match.includes(routeName);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

export function setBadge(name, count, { alarm = false } = {}) {
  if (!els || !els.badges[name]) return;
  const badge = els.badges[name];
  badge.hidden = !count;
  badge.textContent = count > 999 ? "999+" : String(count || "");
  badge.classList.toggle("nav__badge--alarm", alarm);
}

/** A page for when there is nothing to show: forbidden, not found, not available. */
export function statusPage(main, { code, title, text, action = null }) {
  setTitle(title);
  replace(
    main,
    h(
      "section",
      { class: "status-page", "aria-labelledby": "status-title" },
      code ? h("p", { class: "status-page__code" }, String(code)) : null,
      h("h1", { id: "status-title" }, title),
      h("p", {}, text),
      action ? h("a", { class: "btn btn--primary", href: action.href }, action.label) : null,
    ),
  );
}

export function hasFeature(name) {
  return features.has(name);
}
