// History-API routing: every dashboard URL is a real URL the server also answers.

const ROUTES = [
  { pattern: /^\/$/, name: "home" },
  { pattern: /^\/signin$/, name: "signin" },
  { pattern: /^\/inbox$/, name: "inbox" },
  { pattern: /^\/conversations\/(\d+)$/, name: "conversation", keys: ["id"] },
  { pattern: /^\/incidents$/, name: "incidents" },
  { pattern: /^\/incidents\/(\d+)$/, name: "incident", keys: ["id"] },
  { pattern: /^\/overview$/, name: "overview" },
  { pattern: /^\/admin$/, name: "admin" },
  { pattern: /^\/admin\/([a-z-]+)$/, name: "admin", keys: ["section"] },
];

export function parse(url = location) {
  const u = new URL(url, location.origin);
  for (const route of ROUTES) {
    const match = u.pathname.match(route.pattern);
    if (match) {
      const params = {};
      (route.keys || []).forEach((key, i) => (params[key] = match[i + 1]));
      return { name: route.name, params, query: u.searchParams, path: u.pathname, href: u.pathname + u.search };
    }
  }
  return { name: "notfound", params: {}, query: u.searchParams, path: u.pathname, href: u.pathname + u.search };
}

let handler = () => {};

export function onRoute(fn) {
  handler = fn;
}

export function navigate(href, { replace = false } = {}) {
  const target = new URL(href, location.origin);
  const same = target.pathname + target.search === location.pathname + location.search;
  if (replace || same) history.replaceState(null, "", target.pathname + target.search);
  else history.pushState(null, "", target.pathname + target.search);
  handler(parse());
}

export function start() {
  window.addEventListener("popstate", () => handler(parse()));
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target.closest && event.target.closest("a[href]");
    if (!link || link.target || link.hasAttribute("download") || link.dataset.external !== undefined) return;
    const url = new URL(link.href, location.origin);
    if (url.origin !== location.origin || url.pathname.startsWith("/static/") || url.pathname.startsWith("/api/")) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
}
