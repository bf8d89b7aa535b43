// The inbox: every channel in one list, most urgent first, filters in the URL, live
// updates, and the open conversation beside the list.

import { h, icon, replace, select, debounce } from "../dom.js";
import { api, describeError } from "../api.js";
import { t } from "../i18n.js";
import * as live from "../live.js";
import { setKeymap } from "../keys.js";
import { toast } from "../toast.js";
import { navigate } from "../router.js";
import { session, setTitle, setBadge, userName } from "../shell.js";
import {
  band, CATEGORIES, CRITICAL, categoryLabel, compact, platformIcon, platformName, sla, topCategories,
} from "../format.js";
import { createDetail } from "./conversation.js";

const PAGE = 50;
const MAX_REFRESH = 200;
const FILTER_KEYS = ["status", "q", "channel_id", "team_id", "assignee", "category", "language", "min_urgency", "label"];
const STATUSES = ["open", "pending", "snoozed", "resolved", "all"];
const LANGUAGES = ["de", "en", "fr", "es", "it", "nl", "pl", "tr"];

let prefetched = null; // {key, promise}

/** The filters a URL asks for (status defaults to open). */
function filtersOf(query) {
  const f = {};
  for (const key of FILTER_KEYS) f[key] = query.get(key) || "";
  if (!f.status) f.status = "open";
  return f;
}

function apiQuery(filters, meId, limit = PAGE) {
  const q = {
    status: filters.status === "all" ? null : filters.status,
    q: filters.q || null,
    channel_id: filters.channel_id || null,
    team_id: filters.team_id || null,
    category: filters.category || null,
    language: filters.language || null,
    min_urgency: filters.min_urgency || null,
    label: filters.label || null,
    limit,
  };
  if (filters.assignee === "me") q.assignee_id = meId;
  else if (filters.assignee === "none") q.unassigned = true;
  else if (filters.assignee) q.assignee_id = filters.assignee;
  return q;
}

function filterSearch(filters) {
  const params = new URLSearchParams();
  for (const key of FILTER_KEYS) {
    const value = filters[key];
    if (!value || (key === "status" && value === "open")) continue;
    params.set(key, value);
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** Start loading the list while the page boots (before the session is known). */
export function prefetch(route) {
  const filters = filtersOf(route.query);
  if (filters.assignee === "me") return null;
  const key = JSON.stringify(apiQuery(filters, null));
  return { key, promise: api("conversations", { query: apiQuery(filters, null), quiet401: true }).catch((err) => err) };
}

export function setPrefetch(value) {
  prefetched = value;
}

export function mount(main, route) {
  const state = {
    filters: filtersOf(route.query),
    items: [],
    next: null,
    loading: false,
    error: null,
    selected: -1,
    openId: null,
    seen: new Map(), // id -> urgency, to tell new and newly critical rows
    fresh: new Set(),
    alarm: new Set(),
    firstPaint: true,
    request: 0,
  };

  // --- structure -------------------------------------------------------------------------
  const searchInput = h("input", {
    type: "search",
    class: "search__input",
    placeholder: t("inbox.search_placeholder"),
    "aria-label": t("inbox.search"),
    value: state.filters.q,
  });
  const searchForm = h(
    "form",
    {
      class: "search",
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        setFilter("q", searchInput.value.trim());
      },
    },
    icon("search"),
    searchInput,
    h("kbd", { class: "search__kbd", "aria-hidden": "true" }, "/"),
  );
  const statusTabs = h("div", { class: "tabs", role: "group", "aria-label": t("filter.status") });
  const filterBar = h("div", { class: "filters" });
  const countEl = h("span", { class: "pane-head__count" });
  const rows = h("ol", { class: "rows", "aria-label": t("inbox.list_label"), "aria-busy": "true" });
  const foot = h("div", { class: "list-foot" });
  const listPane = h(
    "section",
    { class: "inbox__list", "aria-labelledby": "inbox-title" },
    h("header", { class: "pane-head" }, h("h1", { id: "inbox-title" }, t("inbox.title")), countEl, h("button", {
      class: "btn-icon",
      type: "button",
      "aria-label": t("keys.title"),
      title: t("keys.title"),
      onclick: () => import("../keys.js").then((k) => k.showHelp()),
    }, icon("keyboard"))),
    searchForm,
    statusTabs,
    filterBar,
    h("div", { class: "rows-wrap" }, rows, foot),
  );
  const detailPane = h("section", { class: "inbox__detail", "aria-label": t("convo.pane") });
  const layout = h("div", { class: "inbox" }, listPane, detailPane);
  replace(main, layout);

  const detail = createDetail(detailPane, {
    onChange: () => scheduleRefresh(),
    onClose: () => navigate(`/inbox${filterSearch(state.filters)}`),
  });

  // --- filters -------------------------------------------------------------------------
  function setFilter(key, value) {
    const next = { ...state.filters, [key]: value };
    const path = state.openId ? `/conversations/${state.openId}` : "/inbox";
    navigate(`${path}${filterSearch(next)}`);
  }

  function renderStatusTabs() {
    replace(
      statusTabs,
      STATUSES.map((s) =>
        h(
          "button",
          {
            type: "button",
            class: "tabs__item",
            "aria-pressed": String(state.filters.status === s),
            onclick: () => setFilter("status", s),
          },
          t(`status.${s}`),
        ),
      ),
    );
  }

  function renderFilters() {
    const f = state.filters;
    const opt = (value, label) => ({ value, label });
    const controls = [
      select(
        [opt("", t("filter.all_channels")), ...session.channels.map((c) => opt(c.id, `${c.name} (${platformName(c.platform)})`))],
        { value: f.channel_id, label: t("filter.channel"), onchange: (e) => setFilter("channel_id", e.target.value) },
      ),
      select([opt("", t("filter.all_teams")), ...session.teams.map((tm) => opt(tm.id, tm.name))], {
        value: f.team_id,
        label: t("filter.team"),
        onchange: (e) => setFilter("team_id", e.target.value),
      }),
      select(
        [
          opt("", t("filter.anyone")),
          opt("me", t("filter.me")),
          opt("none", t("filter.unassigned")),
          ...session.directory.filter((u) => u.id !== session.me.id).map((u) => opt(u.id, u.display_name || u.email)),
        ],
        { value: f.assignee, label: t("filter.assignee"), onchange: (e) => setFilter("assignee", e.target.value) },
      ),
      select([opt("", t("filter.all_categories")), ...CATEGORIES.map((c) => opt(c, categoryLabel(c)))], {
        value: f.category,
        label: t("filter.category"),
        onchange: (e) => setFilter("category", e.target.value),
      }),
      select([opt("", t("filter.all_languages")), ...LANGUAGES.map((l) => opt(l, l.toUpperCase()))], {
        value: f.language,
        label: t("filter.language"),
        onchange: (e) => setFilter("language", e.target.value),
      }),
      select(
        [opt("", t("filter.any_urgency")), opt("30", t("filter.min_medium")), opt("60", t("filter.min_high")), opt("80", t("filter.min_critical"))],
        { value: f.min_urgency, label: t("filter.min_urgency"), onchange: (e) => setFilter("min_urgency", e.target.value) },
      ),
    ];
    for (const control of controls) if (control.value) control.classList.add("is-set");
    const active = FILTER_KEYS.some((k) => k !== "status" && f[k]);
    replace(
      filterBar,
      controls,
      f.label
        ? h(
            "span",
            { class: "chip chip--label chip--removable filters__label" },
            `${t("filter.label")}: ${f.label}`,
            h("button", { type: "button", class: "chip__x", "aria-label": t("filter.remove_label", { label: f.label }), onclick: () => setFilter("label", "") }, icon("x")),
          )
        : null,
      active
        ? h("button", { type: "button", class: "btn-link", onclick: () => navigate(`/inbox${f.status !== "open" ? `?status=${f.status}` : ""}`) }, t("filter.reset"))
        : null,
    );
  }

  // --- loading -------------------------------------------------------------------------
  async function load({ append = false, refresh = false } = {}) {
    const mine = ++state.request;
    state.loading = true;
    if (!append && !refresh) rows.setAttribute("aria-busy", "true");
    renderFoot();
    const limit = refresh ? Math.min(MAX_REFRESH, Math.max(PAGE, state.items.length)) : PAGE;
    const query = apiQuery(state.filters, session.me.id, limit);
    if (append && state.next) query.cursor = state.next;
    let result;
    const key = JSON.stringify(apiQuery(state.filters, null));
    if (!append && !refresh && prefetched && prefetched.key === key) {
      result = await prefetched.promise;
      prefetched = null;
      if (result instanceof Error) result = await api("conversations", { query }).catch((err) => err);
    } else {
      prefetched = null;
      result = await api("conversations", { query }).catch((err) => err);
    }
    if (mine !== state.request) return; // a newer request replaced this one
    state.loading = false;
    rows.setAttribute("aria-busy", "false");
    if (result instanceof Error) {
      state.error = result;
      if (!refresh || !state.items.length) renderRows();
      else toast(describeError(result), { kind: "error" });
      renderFoot();
      return;
    }
    state.error = null;
    const incoming = result.items;
    if (append) {
      state.items = state.items.concat(incoming.filter((i) => !state.items.some((x) => x.id === i.id)));
    } else {
      if (refresh) noticeNew(incoming);
      state.items = incoming;
    }
    for (const item of state.items) state.seen.set(item.id, item.urgency);
    state.next = result.next_cursor;
    renderRows();
    renderFoot();
    requestAnimationFrame(loadMoreIfNear); // the end may have come near while this loaded
  }

  function noticeNew(incoming) {
    for (const item of incoming) {
      const before = state.seen.get(item.id);
      const isNew = before === undefined;
      if (isNew) state.fresh.add(item.id);
      if (item.urgency >= CRITICAL && (isNew || before < CRITICAL) && item.id !== state.openId) {
        state.alarm.add(item.id);
        const top = item.top_message || {};
        const person = top.author || item.author;
        const who = (person && (person.display_name || person.handle)) || platformName(item.platform);
        const excerpt = top.excerpt || "";
        toast(t("inbox.new_critical", { who, text: excerpt.length > 90 ? `${excerpt.slice(0, 89)}…` : excerpt }), {
          kind: "critical",
          timeoutMs: 15000,
          action: { label: t("action.open"), onClick: () => navigate(`/conversations/${item.id}${filterSearch(state.filters)}`) },
        });
      }
    }
    setBadge("inbox", state.alarm.size, { alarm: state.alarm.size > 0 });
    setTimeout(() => {
      state.fresh.clear();
      for (const el of rows.querySelectorAll(".row--fresh")) el.classList.remove("row--fresh");
    }, 6000);
  }

  const scheduleRefresh = debounce(() => load({ refresh: true }), 250);

  // --- rendering -----------------------------------------------------------------------
  function rowHref(id) {
    return `/conversations/${id}${filterSearch(state.filters)}`;
  }

  function renderRow(item, index) {
    const top = item.top_message || {};
    const triaged = top.urgency !== null && top.urgency !== undefined;
    const b = band(triaged || item.urgency ? item.urgency : null);
    const author = top.author || item.author || {};
    const name = author.display_name || (author.handle ? `@${author.handle}` : t("inbox.unknown_author"));
    const timer = sla(item.urgency, item.waiting_since);
    const cats = topCategories(top.categories);
    const reasons = top.reasons || [];
    const selected = index === state.selected;
    const classes = [
      "row",
      b ? `row--${b.name}` : "row--untriaged",
      selected && "row--selected",
      state.fresh.has(item.id) && "row--fresh",
      state.alarm.has(item.id) && "row--alarm",
      item.id === state.openId && "row--open",
    ];
    const badge = b
      ? h("span", { class: `badge badge--${b.name}`, title: t(`band.${b.name}`) }, String(item.urgency))
      : h("span", { class: "badge badge--pending", title: t("triage.pending") }, "…");
    const link = h(
      "a",
      {
        class: classes,
        href: rowHref(item.id),
        dataset: { id: item.id, index },
        title: reasons.length ? `${t("triage.why")}: ${reasons.join(" · ")}` : null,
        "aria-current": item.id === state.openId ? "true" : null,
        tabindex: selected || (state.selected < 0 && index === 0) ? "0" : "-1",
        onfocus: () => select_(index, { focus: false }),
      },
      h("span", { class: "visually-hidden" }, b ? t("inbox.urgency_sr", { n: item.urgency, band: t(`band.${b.name}`) }) : t("triage.pending")),
      badge,
      h(
        "span",
        { class: "row__main" },
        h(
          "span",
          { class: "row__top" },
          icon(platformIcon(item.platform), { label: platformName(item.platform), cls: "platform" }),
          h("span", { class: "row__author" }, name),
          author.reach_followers ? h("span", { class: "row__reach", title: t("inbox.followers", { n: author.reach_followers }) }, t("inbox.followers", { n: compact(author.reach_followers) })) : null,
          item.language || top.language ? h("span", { class: "row__lang", title: t("inbox.language") }, (item.language || top.language).toUpperCase()) : null,
          state.alarm.has(item.id) ? h("span", { class: "pill pill--alarm" }, t("inbox.new_critical_pill")) : state.fresh.has(item.id) ? h("span", { class: "pill pill--new" }, t("inbox.new")) : null,
          h("span", { class: `row__sla sla--${timer.state}`, title: timer.title, dataset: { since: item.waiting_since, urgency: item.urgency } }, icon("clock"), timer.label),
        ),
        h("span", { class: "row__text" }, top.excerpt || item.subject || t("inbox.no_text")),
        h(
          "span",
          { class: "row__meta" },
          cats.map((c) => h("span", { class: `chip chip--${c.name}` }, categoryLabel(c.name))),
          item.labels.map((l) => h("span", { class: "chip chip--label" }, `# ${l}`)),
          item.status !== "open" ? h("span", { class: `pill pill--${item.status}` }, t(`status.${item.status}`)) : null,
          item.assignee_id ? h("span", { class: "row__assignee", title: t("inbox.assigned_to", { name: userName(item.assignee_id) }) }, icon("user"), userName(item.assignee_id)) : null,
        ),
        reasons.length ? h("span", { class: "row__reasons" }, h("strong", {}, `${t("triage.why")}: `), reasons.join(" · ")) : null,
      ),
    );
    return h("li", {}, link);
  }

  function renderRows() {
    const focusedId = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.id;
    if (state.error && !state.items.length) {
      replace(
        rows,
        h("li", { class: "empty empty--error", role: "alert" }, icon("warning"), h("p", {}, describeError(state.error)), h("button", { class: "btn", type: "button", onclick: () => load() }, t("action.retry"))),
      );
      return;
    }
    if (!state.items.length) {
      const filtered = FILTER_KEYS.some((k) => k !== "status" && state.filters[k]);
      replace(
        rows,
        h("li", { class: "empty" }, icon(filtered ? "search" : "check"), h("p", { class: "empty__title" }, t(filtered ? "inbox.empty_filtered" : "inbox.empty")), h("p", { class: "muted" }, t(filtered ? "inbox.empty_filtered_hint" : "inbox.empty_hint"))),
      );
      countEl.textContent = "";
      return;
    }
    if (state.selected >= state.items.length) state.selected = state.items.length - 1;
    replace(rows, state.items.map((item, i) => renderRow(item, i)));
    countEl.textContent = state.next ? t("inbox.count_more", { n: state.items.length }) : t("inbox.count", { n: state.items.length });
    if (focusedId) {
      const again = rows.querySelector(`a[data-id="${CSS.escape(focusedId)}"]`);
      if (again) again.focus({ preventScroll: true });
    }
    if (state.firstPaint) {
      state.firstPaint = false;
      performance.mark("leitstand:first-row");
      window.__leitstand = Object.assign(window.__leitstand || {}, { firstRowMs: performance.now() });
    }
  }

  function renderFoot() {
    replace(
      foot,
      state.loading && !state.items.length ? h("p", { class: "muted loading" }, h("span", { class: "spinner", "aria-hidden": "true" }), t("inbox.loading")) : null,
      state.next && !state.loading ? h("button", { class: "btn", type: "button", onclick: () => load({ append: true }) }, t("inbox.more")) : null,
      state.loading && state.items.length ? h("p", { class: "muted loading" }, h("span", { class: "spinner", "aria-hidden": "true" }), t("inbox.loading")) : null,
    );
  }

  // Infinite scroll: the next page loads when the end of the list scrolls near. The
  // geometry is measured now, not taken from the (possibly stale) observer entry.
  const rowsWrap = listPane.querySelector(".rows-wrap");
  function loadMoreIfNear() {
    if (!state.next || state.loading || !state.items.length || !foot.isConnected) return;
    const near = foot.getBoundingClientRect().top <= rowsWrap.getBoundingClientRect().bottom + 200;
    if (near) load({ append: true });
  }
  const observer = new IntersectionObserver(loadMoreIfNear, { root: rowsWrap, rootMargin: "0px 0px 200px 0px" });
  observer.observe(foot);

  // SLA timers tick without redrawing rows.
  const ticker = setInterval(() => {
    for (const el of rows.querySelectorAll(".row__sla")) {
      const timer = sla(Number(el.dataset.urgency), el.dataset.since);
      el.className = `row__sla sla--${timer.state}`;
      el.title = timer.title;
      el.lastChild.textContent = timer.label;
    }
  }, 30_000);

  // --- selection and shortcuts -----------------------------------------------------------
  function rowEl(index) {
    return rows.querySelector(`a[data-index="${index}"]`);
  }

  function select_(index, { focus = true } = {}) {
    if (!state.items.length) return;
    index = Math.max(0, Math.min(state.items.length - 1, index));
    const previous = rowEl(state.selected);
    if (previous) {
      previous.classList.remove("row--selected");
      previous.tabIndex = -1;
    }
    state.selected = index;
    const el = rowEl(index);
    if (!el) return;
    el.classList.add("row--selected");
    el.tabIndex = 0;
    if (focus) {
      el.focus({ preventScroll: true });
      el.scrollIntoView({ block: "nearest" });
    }
    if (index >= state.items.length - 3 && state.next && !state.loading) load({ append: true });
  }

  function targetItem() {
    if (state.openId) return state.items.find((i) => i.id === state.openId) || { id: state.openId };
    return state.items[state.selected] || null;
  }

  async function patch(id, body, doneMessage, undoBody) {
    try {
      await api(`conversations/${id}`, { method: "PATCH", body });
      toast(doneMessage, {
        kind: "success",
        action: undoBody ? { label: t("action.undo"), onClick: () => patch(id, undoBody, t("inbox.undone")) } : null,
      });
      scheduleRefresh();
      if (state.openId === id) detail.refresh();
    } catch (err) {
      toast(describeError(err), { kind: "error" });
    }
  }

  const keymap = {
    j: () => select_(state.selected + 1),
    k: () => select_(state.selected - 1),
    ArrowDown: () => select_(state.selected + 1),
    ArrowUp: () => select_(state.selected - 1),
    Enter: () => {
      const item = state.items[state.selected];
      if (item) navigate(rowHref(item.id));
    },
    o: () => keymap.Enter(),
    e: () => {
      const item = targetItem();
      if (item) patch(item.id, { status: "resolved" }, t("inbox.resolved"), { status: item.status || "open" });
    },
    a: () => {
      const item = targetItem();
      if (item) patch(item.id, { assignee_id: session.me.id }, t("inbox.assigned_me"), { assignee_id: item.assignee_id ?? null });
    },
    "/": () => {
      searchInput.focus();
      searchInput.select();
    },
    Escape: () => {
      if (state.openId) navigate(`/inbox${filterSearch(state.filters)}`);
    },
  };
  setKeymap(keymap);

  // --- live ------------------------------------------------------------------------------
  const offs = [
    live.on("message.created", scheduleRefresh),
    live.on("message.triaged", scheduleRefresh),
    live.on("conversation.updated", scheduleRefresh),
    live.on("resync", scheduleRefresh),
    live.on("hello", scheduleRefresh),
  ];

  // --- routing ---------------------------------------------------------------------------
  function apply(route) {
    const filters = filtersOf(route.query);
    const changed = FILTER_KEYS.some((k) => filters[k] !== state.filters[k]);
    state.filters = filters;
    state.openId = route.name === "conversation" ? Number(route.params.id) : null;
    setTitle(t("inbox.title"));
    searchInput.value = filters.q;
    renderStatusTabs();
    renderFilters();
    layout.classList.toggle("inbox--open", state.openId !== null);
    if (state.openId !== null) {
      state.alarm.delete(state.openId);
      setBadge("inbox", state.alarm.size, { alarm: state.alarm.size > 0 });
      const index = state.items.findIndex((i) => i.id === state.openId);
      if (index >= 0) state.selected = index;
      detail.show(state.openId);
    } else {
      detail.empty();
    }
    return changed;
  }

  apply(route);
  load();

  return {
    update(next) {
      const changed = apply(next);
      if (changed) {
        state.items = [];
        state.next = null;
        state.selected = -1;
        load();
      } else {
        renderRows();
      }
    },
    refreshMeta() {
      renderFilters();
      renderRows();
      detail.refreshMeta();
    },
    unmount() {
      offs.forEach((off) => off());
      observer.disconnect();
      clearInterval(ticker);
      scheduleRefresh.cancel();
      detail.destroy();
      setKeymap({});
    },
  };
}
