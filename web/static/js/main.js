// Boot: language, who is signed in, the frame, the live connection, then the page.

import { api, describeError, features, onUnauthorized } from "./api.js";
import { debounce } from "./dom.js";
import { loadLocale, preferredLocale, locale, t } from "./i18n.js";
import * as router from "./router.js";
import * as live from "./live.js";
import * as keys from "./keys.js";
import * as alerts from "./alerts.js";
import { renderShell, session, markNav, statusPage, isAdmin, isStaff, setBadge } from "./shell.js";
import { toast } from "./toast.js";
import * as inbox from "./views/inbox.js";

const root = document.getElementById("app");
let main = null;
let current = null; // {key, view}
let generation = 0;
let nextAfterSignIn = null;
let firstView = true;

const LAZY = {
  incidents: () => import("./views/incidents.js"),
  overview: () => import("./views/overview.js"),
  admin: () => import("./views/admin.js"),
};

function viewKey(route) {
  if (route.name === "inbox" || route.name === "conversation") return "inbox";
  if (route.name === "incidents" || route.name === "incident") return "incidents";
  return route.name;
}

async function loadDirectory() {
  const [teams, channels, directory] = await Promise.all([
    api("teams").catch(() => ({ items: [] })),
    api("channels").catch(() => ({ items: [] })),
    api("directory").catch(() => ({ items: [] })),
  ]);
  session.teams = teams.items;
  session.channels = channels.items;
  session.directory = directory.items;
}

async function boot() {
  const route = router.parse();
  const prefetch = ["home", "inbox", "conversation"].includes(route.name) ? inbox.prefetch(route) : null;
  const [, me] = await Promise.all([
    loadLocale(preferredLocale()),
    api("me", { quiet401: true }).catch((err) => err),
  ]);
  keys.start();
  alerts.start();
  router.start();
  router.onRoute(show);
  if (me instanceof Error) {
    if (me.status === 401) return showSignIn({ next: route.href });
    return bootFailed(me);
  }
  await signedIn(me, { prefetch });
}

function bootFailed(err) {
  root.classList.remove("boot");
  root.removeAttribute("aria-busy");
  const retry = () => location.reload();
  root.replaceChildren();
  const wrap = document.createElement("section");
  wrap.className = "status-page";
  const h1 = document.createElement("h1");
  h1.textContent = t("boot.failed");
  const p = document.createElement("p");
  p.textContent = describeError(err);
  const button = document.createElement("button");
  button.className = "btn btn--primary";
  button.textContent = t("action.retry");
  button.addEventListener("click", retry);
  wrap.append(h1, p, button);
  root.append(wrap);
}

async function signedIn(me, { prefetch = null, localeChosen = null } = {}) {
  session.me = me;
  if (localeChosen && localeChosen !== me.locale) {
    try {
      session.me = await api("me", { method: "PATCH", body: { locale: localeChosen } });
    } catch {
      /* the choice still applies in this browser */
    }
  } else if (me.locale && me.locale !== locale()) {
    await loadLocale(me.locale);
  }
  session.ready = loadDirectory();
  main = renderShell(root, { onLocale: changeLocale, onSignOut: signOut });
  live.connect();
  inbox.setPrefetch(prefetch);
  await show(router.parse());
  session.ready.then(() => current && current.view.refreshMeta && current.view.refreshMeta());
}

async function changeLocale(code) {
  await loadLocale(code);
  try {
    session.me = await api("me", { method: "PATCH", body: { locale: code } });
  } catch (err) {
    toast(describeError(err), { kind: "error" });
  }
  if (current && current.view.unmount) current.view.unmount();
  current = null;
  main = renderShell(root, { onLocale: changeLocale, onSignOut: signOut });
  await show(router.parse());
}

async function signOut() {
  try {
    await api("auth/logout", { method: "POST" });
  } catch (err) {
    if (err.status !== 401) {
      toast(describeError(err), { kind: "error" });
      return;
    }
  }
  endSession({ message: t("auth.signed_out") });
}

function endSession({ message = null } = {}) {
  live.disconnect();
  if (current && current.view.unmount) current.view.unmount();
  current = null;
  session.me = null;
  keys.setKeymap({});
  history.replaceState(null, "", "/signin");
  showSignIn({ message, next: nextAfterSignIn });
}

onUnauthorized(() => {
  if (!session.me) return;
  nextAfterSignIn = location.pathname + location.search;
  endSession({ message: t("auth.expired") });
});
live.on("unauthorized", () => {
  if (session.me) endSession({ message: t("auth.expired") });
});

async function showSignIn({ message = null, next = null } = {}) {
  if (next && next !== "/signin" && next !== "/") nextAfterSignIn = next;
  if (location.pathname !== "/signin") history.replaceState(null, "", "/signin");
  const { renderSignIn } = await import("./views/signin.js");
  renderSignIn(root, {
    message,
    onSignedIn: async (me, localeChosen) => {
      const target = nextAfterSignIn || "/inbox";
      nextAfterSignIn = null;
      history.replaceState(null, "", target);
      await signedIn(me, { localeChosen });
    },
  });
}

async function show(route) {
  const mine = ++generation;
  if (!session.me) return showSignIn({ next: route.href });
  if (route.name === "home" || route.name === "signin") {
    history.replaceState(null, "", "/inbox");
    route = router.parse();
  }
  markNav(route.name);
  const key = viewKey(route);
  if (current && current.key === key && current.view.update) {
    current.view.update(route);
    return;
  }
  if (current && current.view.unmount) current.view.unmount();
  current = null;
  keys.setKeymap({});
  if ((key === "admin" && !isAdmin()) || (key === "incidents" && !isStaff())) {
    statusPage(main, {
      code: 403,
      title: t("forbidden.title"),
      text: t(key === "admin" ? "forbidden.admin" : "forbidden.incidents", { role: t(`role.${session.me.role}`) }),
      action: { href: "/inbox", label: t("forbidden.back") },
    });
    return;
  }
  let view;
  if (key === "inbox") view = inbox;
  else if (LAZY[key]) view = await LAZY[key]();
  else {
    statusPage(main, { code: 404, title: t("notfound.title"), text: t("notfound.text"), action: { href: "/inbox", label: t("forbidden.back") } });
    return;
  }
  if (mine !== generation) return;
  current = { key, view: view.mount(main, route) };
  // A new page: screen readers and the keyboard start at its content, not the old spot.
  if (!firstView) main.focus({ preventScroll: true });
  firstView = false;
}

/** The incidents badge in the navigation follows the open incidents (PR and admins). */
const countIncidents = debounce(async () => {
  if (!isStaff() || !features.has("incidents")) return;
  try {
    const open = await api(features.get("incidents"), { query: { status: "open", limit: 200 } });
    setBadge("incidents", open.items.length, { alarm: open.items.length > 0 });
  } catch {
    /* the badge is a hint; the incidents page shows errors */
  }
}, 500);
for (const type of ["incident.opened", "incident.acknowledged", "incident.resolved", "hello"]) {
  live.on(type, countIncidents);
}

boot().catch((err) => {
  console.error(err);
  bootFailed(err);
});
