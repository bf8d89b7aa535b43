// The overview: volume and urgency by channel over 24 hours or 7 days, open incidents,
// and critical conversations nobody has answered yet.

import { h, icon, replace, debounce } from "../dom.js";
import { api, describeError, features } from "../api.js";
import { t } from "../i18n.js";
import * as live from "../live.js";
import { navigate } from "../router.js";
import { miniConversation } from "./mini.js";
import { setTitle, isStaff } from "../shell.js";
import { stackedBars, lines, legend, PALETTE } from "../chart.js";
import { band, compact, dayLabel, number, platformIcon, platformName, sla, time, topCategories, categoryLabel } from "../format.js";

const RANGES = ["24h", "7d"];

export function mount(main, route) {
  let range = RANGES.includes(route.query.get("range")) ? route.query.get("range") : "24h";
  let request = 0;
  const body = h("div", { class: "overview__body" });
  const tabs = h("div", { class: "tabs", role: "group", "aria-label": t("overview.range") });
  replace(
    main,
    h(
      "div",
      { class: "page overview" },
      h("header", { class: "page-head" }, h("h1", {}, t("overview.title")), tabs),
      body,
    ),
  );

  function renderTabs() {
    replace(
      tabs,
      RANGES.map((r) =>
        h("button", { type: "button", class: "tabs__item", "aria-pressed": String(r === range), onclick: () => navigate(`/overview${r === "24h" ? "" : `?range=${r}`}`) }, t(`overview.range_${r}`)),
      ),
    );
  }

  async function load() {
    const mine = ++request;
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    const [stats, incidents] = await Promise.all([
      api("stats/overview", { query: { range, tz } }).catch((err) => err),
      features.has("incidents") && isStaff()
        ? api(features.get("incidents"), { query: { status: ["open", "acknowledged"], limit: 8 } }).catch((err) => err)
        : null,
    ]);
    if (mine !== request) return;
    if (stats instanceof Error) {
      replace(body, h("div", { class: "panel empty empty--error", role: "alert" }, icon("warning"), h("p", {}, describeError(stats)), h("button", { class: "btn", type: "button", onclick: load }, t("action.retry"))));
      return;
    }
    render(stats, incidents);
  }

  function render(stats, incidents) {
    const labels = stats.buckets.map((b) => (stats.bucket === "hour" ? time(b) : dayLabel(b)));
    const active = stats.channels.filter((c) => c.total > 0);
    const shown = (active.length ? active : stats.channels).slice(0, PALETTE.length);
    const series = shown.map((c, i) => ({ name: c.name, platform: c.platform, color: PALETTE[i], values: c.messages, avg: c.avg_urgency, max: c.max_urgency }));
    const rangeText = t(`overview.range_${stats.range}`);
    const bucketLabel = (i) => (stats.bucket === "hour" ? `${time(stats.buckets[i])}` : dayLabel(stats.buckets[i]));
    const volume = stackedBars({
      series,
      labels,
      labelEvery: stats.bucket === "hour" ? 3 : 1,
      title: t("overview.volume"),
      summary: t("overview.volume_summary", { n: number(stats.totals.messages), range: rangeText }),
      tooltip: (s, i, v) => `${s.name} · ${bucketLabel(i)}: ${t("overview.n_messages", { n: v })}`,
    });
    const urgency = lines({
      series: series.map((s) => ({ ...s, values: s.avg })),
      labels,
      labelEvery: stats.bucket === "hour" ? 3 : 1,
      zones: [
        { name: "critical", from: 80, to: 100 },
        { name: "high", from: 60, to: 80 },
      ],
      title: t("overview.urgency"),
      summary: t("overview.urgency_summary", { avg: stats.totals.avg_urgency === null ? "–" : number(stats.totals.avg_urgency), max: stats.totals.max_urgency ?? "–" }),
      tooltip: (s, i, v) => `${s.name} · ${bucketLabel(i)}: Ø ${v} · max ${s.max[i] ?? "–"}`,
    });
    const inc = stats.open_incidents;
    const unanswered = stats.unanswered_critical;
    const card = (label, value, { tone = "", hint = null, href = null } = {}) =>
      h(
        href ? "a" : "div",
        { class: `stat ${tone ? `stat--${tone}` : ""}`, href },
        h("p", { class: "stat__label" }, label),
        h("p", { class: "stat__value" }, value),
        hint ? h("p", { class: "stat__hint" }, hint) : null,
      );
    replace(
      body,
      h(
        "div",
        { class: "stats" },
        card(t("overview.messages"), number(stats.totals.messages), { hint: `${rangeText} · ${t("overview.avg_urgency", { n: stats.totals.avg_urgency === null ? "–" : number(stats.totals.avg_urgency) })}` }),
        card(t("overview.critical_messages"), number(stats.totals.critical), { tone: stats.totals.critical ? "critical" : "", hint: t("overview.critical_hint", { n: stats.critical_urgency }) }),
        card(t("overview.open_incidents"), inc.available ? number(inc.total) : "–", {
          tone: inc.by_severity.critical ? "critical" : inc.total ? "high" : "",
          hint: inc.available ? ["critical", "high", "medium", "low"].filter((s) => inc.by_severity[s]).map((s) => `${inc.by_severity[s]} ${t(`severity.${s}`)}`).join(" · ") || t("overview.none_open") : t("overview.incidents_unavailable"),
          href: inc.available && isStaff() && features.has("incidents") ? "/incidents" : null,
        }),
        card(t("overview.unanswered"), number(unanswered.total), {
          tone: unanswered.total ? "critical" : "ok",
          hint: t("overview.unanswered_hint"),
          href: unanswered.total ? `/inbox?min_urgency=${stats.critical_urgency}` : null,
        }),
      ),
      h(
        "div",
        { class: "charts" },
        h("section", { class: "panel", "aria-labelledby": "chart-volume" }, h("h2", { id: "chart-volume" }, t("overview.volume"), h("span", { class: "muted" }, ` · ${rangeText}`)), volume, legend(series)),
        h("section", { class: "panel", "aria-labelledby": "chart-urgency" }, h("h2", { id: "chart-urgency" }, t("overview.urgency"), h("span", { class: "muted" }, ` · ${rangeText}`)), urgency, legend(series)),
      ),
      h(
        "div",
        { class: "charts" },
        h(
          "section",
          { class: "panel", "aria-labelledby": "unanswered-title" },
          h("h2", { id: "unanswered-title" }, t("overview.unanswered")),
          unanswered.items.length
            ? h("ul", { class: "mini-list" }, unanswered.items.map((c) => h("li", {}, miniConversation(c))))
            : h("p", { class: "muted empty-inline" }, icon("check"), t("overview.unanswered_none")),
        ),
        h(
          "section",
          { class: "panel panel--table", "aria-labelledby": "channels-title" },
          h("h2", { id: "channels-title" }, t("overview.by_channel")),
          channelTable(stats, series),
        ),
      ),
      incidents && !(incidents instanceof Error) && incidents.items.length
        ? h(
            "section",
            { class: "panel", "aria-labelledby": "incidents-title" },
            h("h2", { id: "incidents-title" }, t("overview.open_incidents")),
            h(
              "ul",
              { class: "mini-list" },
              incidents.items.map((i) =>
                h("li", {}, h("a", { class: "mini", href: `/incidents/${i.id}` }, h("span", { class: `sev sev--${i.severity}` }, t(`severity.${i.severity}`)), h("span", { class: "incident-mini__title" }, i.title), h("span", { class: `pill pill--${i.status}` }, t(`incident_status.${i.status}`)))),
              ),
            ),
          )
        : null,
    );
  }



  function channelTable(stats, series) {
    const colorOf = new Map(series.map((s) => [s.name, s.color]));
    return h(
      "table",
      { class: "table table--compact table--fixed" },
      h("caption", { class: "visually-hidden" }, t("overview.by_channel")),
      h("colgroup", {}, h("col", { class: "col-name" }), h("col", { class: "col-wide" }), h("col", { class: "col-num" }), h("col", { class: "col-num" }), h("col", { class: "col-wide" })),
      h(
        "thead",
        {},
        h("tr", {}, h("th", { scope: "col" }, t("overview.channel")), h("th", { scope: "col", class: "num" }, t("overview.col_messages")), h("th", { scope: "col", class: "num" }, t("overview.col_avg")), h("th", { scope: "col", class: "num" }, t("overview.col_max")), h("th", { scope: "col", class: "num" }, t("overview.col_critical"))),
      ),
      h(
        "tbody",
        {},
        stats.channels.map((c) =>
          h(
            "tr",
            {},
            h("th", { scope: "row", class: "cell-name", title: c.name }, h("span", { class: "legend__swatch", style: { background: colorOf.get(c.name) || "transparent" }, "aria-hidden": "true" }), icon(platformIcon(c.platform), { label: platformName(c.platform), cls: "platform" }), c.name),
            h("td", { class: "num" }, number(c.total)),
            h("td", { class: "num" }, c.avg_urgency_total === null ? "–" : number(c.avg_urgency_total)),
            h("td", { class: "num" }, c.max_urgency_total ?? "–"),
            h("td", { class: "num" }, c.critical ? h("span", { class: "badge badge--critical" }, String(c.critical)) : "0"),
          ),
        ),
      ),
    );
  }

  setTitle(t("overview.title"));
  renderTabs();
  replace(body, h("p", { class: "muted loading" }, h("span", { class: "spinner", "aria-hidden": "true" }), t("inbox.loading")));
  load();
  const reload = debounce(load, 2000);
  const offs = [live.on("message.triaged", reload), live.on("incident.opened", reload), live.on("incident.resolved", reload), live.on("resync", reload)];

  return {
    update(next) {
      const wanted = RANGES.includes(next.query.get("range")) ? next.query.get("range") : "24h";
      if (wanted !== range) {
        range = wanted;
        renderTabs();
        load();
      }
    },
    unmount() {
      offs.forEach((off) => off());
      reload.cancel();
    },
  };
}
