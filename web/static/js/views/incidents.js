// Incidents for PR and admins: open ones by severity, and one incident with its
// escalation state, timeline, attached conversations, acknowledge and resolve.

import { h, icon, replace, debounce } from "../dom.js";
import { api, describeError, features } from "../api.js";
import { t } from "../i18n.js";
import * as live from "../live.js";
import { navigate } from "../router.js";
import { miniConversation } from "./mini.js";
import { reasonText } from "../alerts.js";
import { toast } from "../toast.js";
import { session, setTitle, statusPage, userName, setBadge } from "../shell.js";
import { ago, band, dateTime, duration, platformIcon, platformName, topCategories, categoryLabel, sla } from "../format.js";

const SEVERITIES = ["critical", "high", "medium", "low"];
const FILTERS = { active: ["open", "acknowledged"], resolved: ["resolved"], all: [] };

export function mount(main, route) {
  const base = features.get("incidents");
  if (!base) {
    statusPage(main, { title: t("incidents.unavailable"), text: t("incidents.unavailable_text"), action: { href: "/inbox", label: t("forbidden.back") } });
    return { unmount() {} };
  }
  let current = route;
  let request = 0;
  const reload = debounce(() => show(current), 300);
  const offs = ["incident.opened", "incident.updated", "incident.acknowledged", "incident.resolved"].map((type) => live.on(type, reload));
  offs.push(live.on("resync", reload));

  async function act(id, action, doneKey) {
    try {
      await api(`${base}/${id}/${action}`, { method: "POST" });
      toast(t(doneKey), { kind: "success" });
      show(current);
    } catch (err) {
      toast(describeError(err), { kind: "error" });
    }
  }

  function actions(incident) {
    return h(
      "div",
      { class: "incident__actions" },
      incident.status === "open"
        ? h("button", { class: "btn btn--primary", type: "button", onclick: () => act(incident.id, "acknowledge", "incident.acknowledged") }, icon("check"), t("incident.acknowledge"))
        : null,
      incident.status !== "resolved"
        ? h("button", { class: "btn", type: "button", onclick: () => act(incident.id, "resolve", "incident.resolved") }, icon("check"), t("incident.resolve"))
        : null,
    );
  }

  // --- list ----------------------------------------------------------------------------------
  async function showList(query) {
    const filter = FILTERS[query.get("show")] ? query.get("show") : "active";
    setTitle(t("incidents.title"));
    const mine = ++request;
    const result = await api(base, { query: { status: FILTERS[filter], limit: 200 } }).catch((err) => err);
    if (mine !== request) return;
    const tabs = h(
      "div",
      { class: "tabs", role: "group", "aria-label": t("filter.status") },
      Object.keys(FILTERS).map((f) =>
        h("button", { type: "button", class: "tabs__item", "aria-pressed": String(f === filter), onclick: () => navigate(`/incidents${f === "active" ? "" : `?show=${f}`}`) }, t(`incidents.show_${f}`)),
      ),
    );
    let content;
    if (result instanceof Error) {
      content = h("div", { class: "panel empty empty--error", role: "alert" }, icon("warning"), h("p", {}, describeError(result)), h("button", { class: "btn", type: "button", onclick: () => show(current) }, t("action.retry")));
    } else if (!result.items.length) {
      content = h("div", { class: "panel empty" }, icon("check"), h("p", { class: "empty__title" }, t(filter === "active" ? "incidents.none_active" : "incidents.none")));
    } else {
      if (filter === "active") setBadge("incidents", result.items.filter((i) => i.status === "open").length, { alarm: true });
      content = SEVERITIES.filter((s) => result.items.some((i) => i.severity === s)).map((s) => {
        const items = result.items.filter((i) => i.severity === s);
        return h(
          "section",
          { class: "sev-group", "aria-labelledby": `sev-${s}` },
          h("h2", { id: `sev-${s}`, class: `sev-group__title sev-text--${s}` }, t(`severity.${s}`), h("span", { class: "count-pill" }, String(items.length))),
          h("ul", { class: "incident-list" }, items.map((i) => h("li", {}, incidentCard(i)))),
        );
      });
    }
    replace(main, h("div", { class: "page" }, h("header", { class: "page-head" }, h("h1", {}, t("incidents.title")), tabs), content));
  }

  function incidentCard(i) {
    return h(
      "article",
      { class: `incident-card incident-card--${i.status}` },
      h("span", { class: `sev sev--${i.severity}` }, t(`severity.${i.severity}`)),
      h(
        "div",
        { class: "incident-card__main" },
        h("h3", {}, h("a", { href: `/incidents/${i.id}` }, i.title)),
        h(
          "p",
          { class: "muted small" },
          `#${i.id} · ${t("incident.opened_ago", { ago: ago(i.opened_at) })} · ${t("incident.n_messages", { n: i.message_count })}`,
          i.escalation_level ? ` · ${t("incident.level", { level: i.escalation_level, round: i.escalation_round })}` : "",
          i.owner_id ? ` · ${t("incident.owner", { name: userName(i.owner_id) })}` : "",
        ),
      ),
      h("span", { class: `pill pill--${i.status}` }, t(`incident_status.${i.status}`)),
      actions(i),
    );
  }

  // --- detail ------------------------------------------------------------------------------
  async function showDetail(id) {
    const mine = ++request;
    const incident = await api(`${base}/${id}`).catch((err) => err);
    if (mine !== request) return;
    if (incident instanceof Error) {
      statusPage(main, {
        code: incident.status || null,
        title: incident.status === 404 ? t("incident.not_found") : t("incident.load_failed"),
        text: describeError(incident),
        action: { href: "/incidents", label: t("incidents.back") },
      });
      return;
    }
    setTitle(`#${incident.id} ${incident.title}`);
    const noteArea = h("textarea", { rows: 2, "aria-label": t("incident.note_label"), placeholder: t("incident.note_placeholder"), maxlength: 5000 });
    const noteError = h("p", { class: "form-error", role: "alert", hidden: true });
    const timers = incident.pending_timers || [];
    const nextTimer = timers.slice().sort((a, b) => new Date(a.due_at) - new Date(b.due_at))[0];
    replace(
      main,
      h(
        "div",
        { class: "page incident" },
        h("p", { class: "crumbs" }, h("a", { href: "/incidents" }, `← ${t("incidents.title")}`)),
        h(
          "header",
          { class: "incident__head panel" },
          h("div", { class: "incident__title-row" }, h("span", { class: `sev sev--lg sev--${incident.severity}` }, t(`severity.${incident.severity}`)), h("h1", {}, incident.title), h("span", { class: `pill pill--${incident.status}` }, t(`incident_status.${incident.status}`))),
          h(
            "dl",
            { class: "facts" },
            fact(t("incident.opened"), dateTime(incident.opened_at)),
            fact(t("incident.escalation"), incident.escalation_level ? t("incident.level", { level: incident.escalation_level, round: incident.escalation_round }) : t("incident.no_escalation")),
            nextTimer ? fact(t("incident.next_step"), t("incident.in", { d: duration(new Date(nextTimer.due_at) - Date.now()) })) : null,
            incident.acknowledged_at ? fact(t("incident.acknowledged_by"), `${userName(incident.acknowledged_by) || "?"} · ${dateTime(incident.acknowledged_at)}`) : null,
            incident.resolved_at ? fact(t("incident.resolved_by"), `${userName(incident.resolved_by) || "?"} · ${dateTime(incident.resolved_at)}`) : null,
            fact(t("incident.messages"), String(incident.message_count)),
          ),
          actions(incident),
        ),
        h(
          "div",
          { class: "incident__grid" },
          h(
            "section",
            { class: "panel", "aria-labelledby": "attached-title" },
            h("h2", { id: "attached-title" }, t("incident.attached")),
            incident.conversations.length
              ? h("ul", { class: "mini-list" }, incident.conversations.map((c) => h("li", {}, miniConversation(c))))
              : h("p", { class: "muted" }, t("incident.no_conversations")),
          ),
          h(
            "section",
            { class: "panel", "aria-labelledby": "timeline-title" },
            h("h2", { id: "timeline-title" }, t("incident.timeline")),
            h("ol", { class: "timeline" }, (incident.timeline || []).map((entry) => timelineEntry(entry))),
            h(
              "form",
              {
                class: "timeline__note",
                onsubmit: async (event) => {
                  event.preventDefault();
                  const text = noteArea.value.trim();
                  if (!text) {
                    noteError.textContent = t("composer.empty");
                    noteError.hidden = false;
                    return;
                  }
                  try {
                    await api(`${base}/${incident.id}/notes`, { method: "POST", body: { text } });
                    noteArea.value = "";
                    show(current);
                  } catch (err) {
                    noteError.textContent = describeError(err);
                    noteError.hidden = false;
                  }
                },
              },
              noteArea,
              noteError,
              h("button", { class: "btn btn--note", type: "submit" }, icon("note"), t("composer.add_note")),
            ),
          ),
        ),
      ),
    );
  }

  function actorName(entry) {
    if (entry.actor_id) return userName(entry.actor_id);
    const [kind, id] = String(entry.actor || "system").split(":");
    if (kind === "user" && id) return userName(Number(id));
    if (kind === "rule" && id) return t("timeline.rule", { id });
    return t("timeline.system");
  }

  function fact(label, value) {
    return h("div", { class: "fact" }, h("dt", {}, label), h("dd", {}, value));
  }

  function timelineEntry(entry) {
    const who = actorName(entry);
    const data = entry.data || {};
    let detail = data.text || data.reason || data.target || data.title || data.error || "";
    if (entry.kind === "escalation.notified" && data.level) {
      const who = (data.user_ids || []).map((id) => userName(id)).join(", ");
      detail = `${t("alert.level", { level: data.level, policy: data.policy_name || "", round: data.round || 1 })}${who ? ` → ${who}` : ""}`;
    } else if (typeof detail === "string") {
      detail = reasonText(detail);
    }
    const known = `timeline.${entry.kind}`;
    const label = t(known) === known ? entry.kind : t(known);
    return h(
      "li",
      { class: `timeline__item timeline__item--${entry.kind.replace(/\W/g, "-")}` },
      h("span", { class: "timeline__dot", "aria-hidden": "true" }),
      h("p", { class: "timeline__head" }, h("strong", {}, label), " · ", who, " · ", h("time", { datetime: entry.at }, dateTime(entry.at))),
      detail ? h("p", { class: "timeline__detail" }, String(detail)) : null,
    );
  }



  async function show(r) {
    current = r;
    await session.ready; // names of people on the timeline
    if (r.name === "incident") return showDetail(Number(r.params.id));
    return showList(r.query);
  }

  replace(main, h("p", { class: "muted loading page" }, h("span", { class: "spinner", "aria-hidden": "true" }), t("inbox.loading")));
  show(route);
  return {
    update: show,
    unmount() {
      offs.forEach((off) => off());
      reload.cancel();
    },
  };
}
