// One conversation beside the inbox: the thread with its platform context, triage and
// corrections, internal notes, the reply box, and what an agent does to it.

import { h, icon, replace, select, debounce, nextId } from "../dom.js";
import { api, describeError, features } from "../api.js";
import { t } from "../i18n.js";
import * as live from "../live.js";
import { toast } from "../toast.js";
import { isStaff, session, userName } from "../shell.js";
import {
  band, BANDS, CATEGORIES, categoryLabel, compact, dateTime, initials, languageName, percent,
  platformIcon, platformName, sla, topCategories,
} from "../format.js";

const QUICK_URGENCY = [
  { band: "low", urgency: 15 },
  { band: "medium", urgency: 45 },
  { band: "high", urgency: 70 },
  { band: "critical", urgency: 90 },
];

function snoozeOptions() {
  const now = new Date();
  const tomorrow = new Date(now);
  tomorrow.setDate(now.getDate() + 1);
  tomorrow.setHours(9, 0, 0, 0);
  const monday = new Date(now);
  monday.setDate(now.getDate() + ((8 - now.getDay()) % 7 || 7));
  monday.setHours(9, 0, 0, 0);
  return [
    { value: "", label: t("convo.snooze") },
    { value: new Date(now.getTime() + 3600_000).toISOString(), label: t("convo.snooze_1h") },
    { value: new Date(now.getTime() + 4 * 3600_000).toISOString(), label: t("convo.snooze_4h") },
    { value: tomorrow.toISOString(), label: t("convo.snooze_tomorrow") },
    { value: monday.toISOString(), label: t("convo.snooze_monday") },
  ];
}

/** A random key; crypto.randomUUID needs a secure context, getRandomValues does not. */
function randomKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function channelName(id) {
  const channel = session.channels.find((c) => c.id === id);
  return channel ? channel.name : null;
}

export function createDetail(pane, { onChange, onClose }) {
  let id = null;
  let data = null; // {conversation, notes, feedback}
  let request = 0;
  let composerMode = "reply";
  const drafts = new Map(); // "<conversation id>:<mode>" -> unsent text
  const idempotencyKeys = new Map(); // conversation id -> key of the reply being sent
  let deliveryTimer = null;

  /** Replies go out after the request; look again until none is queued (at most a minute). */
  function watchDelivery(attempt = 0) {
    clearTimeout(deliveryTimer);
    if (attempt > 20) return;
    deliveryTimer = setTimeout(async () => {
      await load();
      const queued = data && data.conversation.messages.some((m) => m.direction === "outbound" && m.delivery_status === "queued");
      if (queued) watchDelivery(attempt + 1);
    }, attempt < 5 ? 1000 : 3000);
  }
  const openCorrections = new Set();
  const categoryDrafts = new Map(); // message id -> categories chosen so far

  const head = h("header", { class: "convo__head" });
  const thread = h("div", { class: "thread", tabindex: "-1", "aria-label": t("convo.thread") });
  const composer = h("div", { class: "composer" });
  const article = h("article", { class: "convo", "aria-labelledby": "convo-title" }, head, thread, composer);

  function empty() {
    id = null;
    data = null;
    replace(
      pane,
      h(
        "div",
        { class: "convo-empty" },
        icon("inbox", { cls: "convo-empty__icon" }),
        h("p", { class: "empty__title" }, t("convo.none")),
        h("p", { class: "muted" }, t("convo.none_hint")),
        h("p", { class: "muted" }, h("kbd", {}, "j"), " ", h("kbd", {}, "k"), ` ${t("keys.next_previous")} · `, h("kbd", {}, "Enter"), ` ${t("keys.open")} · `, h("kbd", {}, "?"), ` ${t("keys.help")}`),
      ),
    );
  }

  async function show(conversationId) {
    if (id !== conversationId) {
      saveDraft();
      id = conversationId;
      data = null;
      openCorrections.clear();
      categoryDrafts.clear();
      replace(pane, h("div", { class: "convo-loading" }, h("span", { class: "spinner", "aria-hidden": "true" }), t("convo.loading")));
    }
    await load();
  }

  async function load() {
    const mine = ++request;
    const wanted = id;
    const [conversation, notes, feedback] = await Promise.all([
      api(`conversations/${wanted}`).catch((err) => err),
      api(`conversations/${wanted}/notes`).catch(() => ({ items: [] })),
      api(`conversations/${wanted}/triage-feedback`).catch(() => ({ items: [] })),
    ]);
    if (mine !== request || wanted !== id) return;
    if (conversation instanceof Error) {
      replace(
        pane,
        h(
          "div",
          { class: "convo-empty", role: "alert" },
          icon("warning", { cls: "convo-empty__icon" }),
          h("p", { class: "empty__title" }, conversation.status === 404 ? t("convo.not_found") : t("convo.load_failed")),
          h("p", { class: "muted" }, describeError(conversation)),
          h("button", { class: "btn", type: "button", onclick: onClose }, t("action.close")),
        ),
      );
      return;
    }
    const first = data === null;
    data = { conversation, notes: notes.items, feedback: feedback.items };
    render();
    if (first) {
      pane.replaceChildren(article);
      renderComposer();
      thread.scrollTop = thread.scrollHeight;
    }
  }

  const refresh = debounce(() => id && load(), 200);

  // --- header and actions ----------------------------------------------------------------
  async function patch(body, message) {
    try {
      const updated = await api(`conversations/${id}`, { method: "PATCH", body });
      data.conversation = updated;
      render();
      if (message) toast(message, { kind: "success" });
      onChange();
    } catch (err) {
      toast(describeError(err), { kind: "error" });
    }
  }

  function renderHead() {
    const c = data.conversation;
    const author = c.author || {};
    const b = band(c.urgency);
    const timer = sla(c.urgency, c.waiting_since);
    const name = author.display_name || (author.handle ? `@${author.handle}` : t("inbox.unknown_author"));
    const resolved = c.status === "resolved";
    const assignee = select(
      [{ value: "", label: t("convo.unassigned") }, ...session.directory.map((u) => ({ value: u.id, label: u.display_name || u.email }))],
      {
        value: c.assignee_id ?? "",
        label: t("convo.assignee"),
        onchange: (e) => patch({ assignee_id: e.target.value ? Number(e.target.value) : null }, t("convo.assigned")),
      },
    );
    const snooze = select(snoozeOptions(), {
      label: t("convo.snooze"),
      onchange: (e) => e.target.value && patch({ status: "snoozed", snoozed_until: e.target.value }, t("convo.snoozed")),
    });
    const labelInput = h("input", { type: "text", class: "labels__input", placeholder: t("convo.add_label"), "aria-label": t("convo.add_label"), maxlength: 64 });
    const addLabel = (event) => {
      event.preventDefault();
      const value = labelInput.value.trim();
      if (!value) return;
      if (c.labels.includes(value)) {
        labelInput.value = "";
        return;
      }
      patch({ labels: [...c.labels, value] });
    };
    replace(
      head,
      h(
        "div",
        { class: "convo__title-row" },
        b ? h("span", { class: `badge badge--lg badge--${b.name}`, title: t(`band.${b.name}`) }, String(c.urgency)) : h("span", { class: "badge badge--lg badge--pending" }, "…"),
        h(
          "div",
          { class: "convo__title" },
          h("h2", { id: "convo-title" }, name),
          h(
            "p",
            { class: "convo__sub" },
            icon(platformIcon(c.platform), { label: platformName(c.platform), cls: "platform" }),
            h("span", {}, channelName(c.channel_id) || platformName(c.platform)),
            h("span", { class: "dot" }, "·"),
            h("span", {}, t(`kind.${c.kind}`)),
            c.message_count > 1 ? [h("span", { class: "dot" }, "·"), h("span", {}, t("convo.n_messages", { n: c.message_count }))] : null,
            author.reach_followers ? [h("span", { class: "dot" }, "·"), h("span", {}, t("inbox.followers", { n: compact(author.reach_followers) }))] : null,
            c.language ? [h("span", { class: "dot" }, "·"), h("span", {}, languageName(c.language))] : null,
          ),
        ),
        h("span", { class: `pill pill--${c.status}` }, t(`status.${c.status}`)),
        h("span", { class: `row__sla sla--${timer.state}`, title: timer.title }, icon("clock"), timer.label),
        h("button", { class: "btn-icon", type: "button", "aria-label": t("convo.close"), title: `${t("convo.close")} (Esc)`, onclick: onClose }, icon("x")),
      ),
      h(
        "div",
        { class: "convo__actions" },
        resolved
          ? h("button", { class: "btn", type: "button", onclick: () => patch({ status: "open" }, t("convo.reopened")) }, icon("refresh"), t("convo.reopen"))
          : h("button", { class: "btn btn--primary", type: "button", onclick: () => patch({ status: "resolved" }, t("inbox.resolved")) }, icon("check"), t("convo.resolve"), h("kbd", { class: "kbd-hint" }, "e")),
        c.status === "open"
          ? h("button", { class: "btn", type: "button", onclick: () => patch({ status: "pending" }, t("convo.pended")) }, t("convo.pending"))
          : null,
        snooze,
        assignee,
        c.assignee_id !== session.me.id
          ? h("button", { class: "btn", type: "button", onclick: () => patch({ assignee_id: session.me.id }, t("inbox.assigned_me")) }, icon("user"), t("convo.assign_me"), h("kbd", { class: "kbd-hint" }, "a"))
          : null,
      ),
      c.status === "snoozed" && c.snoozed_until ? h("p", { class: "muted small" }, icon("clock"), t("convo.snoozed_until", { at: dateTime(c.snoozed_until) })) : null,
      h(
        "form",
        { class: "labels", onsubmit: addLabel, "aria-label": t("convo.labels") },
        icon("tag"),
        c.labels.map((label) =>
          h(
            "span",
            { class: "chip chip--label chip--removable" },
            h("a", { href: `/inbox?label=${encodeURIComponent(label)}`, title: t("convo.label_filter", { label }) }, label),
            h("button", { type: "button", class: "chip__x", "aria-label": t("convo.remove_label", { label }), onclick: () => patch({ labels: c.labels.filter((l) => l !== label) }) }, icon("x")),
          ),
        ),
        labelInput,
      ),
    );
  }

  // --- thread ------------------------------------------------------------------------------
  function renderThread() {
    const c = data.conversation;
    const byExternal = new Map(c.messages.map((m) => [m.external_id, m]));
    const entries = [
      ...c.messages.map((m) => ({ at: m.received_at, kind: "message", m })),
      ...data.notes.map((n) => ({ at: n.created_at, kind: "note", n })),
    ].sort((a, b) => new Date(a.at) - new Date(b.at));
    const atBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 40;
    replace(
      thread,
      entries.map((entry) => (entry.kind === "note" ? renderNote(entry.n) : renderMessage(entry.m, byExternal))),
    );
    if (atBottom) thread.scrollTop = thread.scrollHeight;
  }

  function renderNote(note) {
    return h(
      "article",
      { class: "note", "aria-label": t("note.label") },
      h("p", { class: "note__head" }, icon("note"), h("strong", {}, note.author_name || userName(note.user_id) || t("note.someone")), ` · ${t("note.internal")} · `, h("time", { datetime: note.created_at }, dateTime(note.created_at))),
      h("p", { class: "note__text" }, note.text),
    );
  }

  function renderContext(m, byExternal) {
    const ctx = m.context || {};
    const parts = [];
    const stars = ctx.rating ?? ctx.stars;
    if (typeof stars === "number") {
      parts.push(
        h("p", { class: "msg__stars", "aria-label": t("msg.stars", { n: stars }) }, "★".repeat(Math.max(0, Math.min(5, stars))), h("span", { class: "stars-off" }, "★".repeat(Math.max(0, 5 - stars)))),
      );
    }
    if (ctx.recommendation_type) parts.push(h("p", { class: "msg__ctx" }, t(`msg.recommendation_${ctx.recommendation_type}`)));
    if (ctx.subject || ctx.title) parts.push(h("p", { class: "msg__subject" }, ctx.subject || ctx.title));
    if (m.parent_external_id) {
      const parent = byExternal.get(m.parent_external_id);
      if (parent && parent.id !== m.id) {
        parts.push(h("blockquote", { class: "msg__reply-to" }, h("span", { class: "muted" }, `${t("msg.reply_to")} `), `„${parent.text.slice(0, 140)}${parent.text.length > 140 ? "…" : ""}“`));
      } else if (m.kind === "comment" || m.kind === "reply") {
        parts.push(h("p", { class: "msg__ctx" }, icon("post"), t("msg.on_post", { id: m.parent_external_id })));
      }
    }
    if (ctx.media_product_type) parts.push(h("p", { class: "msg__ctx" }, t("msg.media", { type: ctx.media_product_type })));
    return parts;
  }

  function renderMessage(m, byExternal) {
    const author = m.author || {};
    const inbound = m.direction === "inbound";
    const name = inbound ? author.display_name || (author.handle ? `@${author.handle}` : t("inbox.unknown_author")) : t("msg.us");
    const delivery = inbound ? null : m.delivery_status;
    return h(
      "article",
      { class: `msg msg--${inbound ? "in" : "out"}`, "aria-label": t("msg.from", { name }), dataset: { messageId: m.id } },
      h(
        "header",
        { class: "msg__head" },
        h("span", { class: "avatar avatar--sm", "aria-hidden": "true" }, initials(name)),
        h("strong", {}, name),
        author.handle && author.display_name ? h("span", { class: "muted" }, `@${author.handle}`) : null,
        author.reach_followers ? h("span", { class: "muted" }, t("inbox.followers", { n: compact(author.reach_followers) })) : null,
        h("span", { class: "msg__kind" }, t(`kind.${m.kind}`)),
        h("time", { class: "muted", datetime: m.created_at }, dateTime(m.created_at)),
        m.url ? h("a", { class: "msg__link", href: m.url, target: "_blank", rel: "noopener noreferrer", "data-external": "" }, t("msg.on_platform"), icon("external")) : null,
      ),
      renderContext(m, byExternal),
      h("p", { class: ["msg__text", m.deleted && "msg__text--deleted"] }, m.deleted ? t("msg.deleted") : m.text || t("msg.empty")),
      m.edited_at ? h("p", { class: "muted small" }, t("msg.edited", { at: dateTime(m.edited_at) })) : null,
      delivery ? renderDelivery(m) : null,
      inbound ? renderTriage(m) : null,
    );
  }

  function renderDelivery(m) {
    const state = m.delivery_status;
    const sender = m.sent_by_user_id ? userName(m.sent_by_user_id) : null;
    return h(
      "p",
      { class: `delivery delivery--${state}`, role: state === "failed" ? "alert" : null },
      icon(state === "sent" ? "check" : state === "failed" ? "warning" : "clock"),
      h("span", {}, t(`delivery.${state}`), sender ? ` · ${t("delivery.by", { name: sender })}` : ""),
      state === "failed" && m.delivery_error ? h("span", { class: "delivery__error" }, `${t("delivery.reason")}: ${m.delivery_error}`) : null,
      state === "queued" && m.delivery_error ? h("span", { class: "delivery__error" }, m.delivery_error) : null,
      state === "failed"
        ? h(
            "button",
            {
              type: "button",
              class: "btn btn--small",
              onclick: async () => {
                try {
                  await api(`messages/${m.id}/retry`, { method: "POST" });
                  toast(t("delivery.retrying"), { kind: "info" });
                  load();
                } catch (err) {
                  toast(describeError(err), { kind: "error" });
                }
              },
            },
            icon("refresh"),
            t("delivery.retry"),
          )
        : null,
    );
  }

  // --- triage and its correction -------------------------------------------------------
  function latestCorrection(messageId) {
    const mine = data.feedback.filter((f) => f.message_id === messageId);
    return mine.length ? mine[mine.length - 1] : null;
  }

  function renderTriage(m) {
    const tri = m.triage;
    if (!tri) {
      return h("div", { class: "triage triage--pending" }, h("span", { class: "spinner spinner--sm", "aria-hidden": "true" }), t(m.processed ? "triage.none" : "triage.pending"));
    }
    const b = band(tri.urgency);
    const cats = topCategories(tri.categories, 5);
    const correction = latestCorrection(m.id);
    const panelOpen = openCorrections.has(m.id);
    const panelId = `correct-${m.id}`;
    return h(
      "section",
      { class: "triage", "aria-label": t("triage.label") },
      h(
        "div",
        { class: "triage__row" },
        h("span", { class: `badge badge--${b.name}`, title: t(`band.${b.name}`) }, String(tri.urgency)),
        h("span", { class: "triage__band" }, t(`band.${b.name}`)),
        cats.map((c) => h("span", { class: `chip chip--${c.name}`, title: percent(c.p) }, categoryLabel(c.name), h("span", { class: "chip__p" }, percent(c.p)))),
        tri.sentiment ? h("span", { class: `sentiment sentiment--${tri.sentiment}` }, t(`sentiment.${tri.sentiment}`)) : null,
        h(
          "button",
          {
            class: "btn btn--small btn--quiet triage__correct",
            type: "button",
            "aria-expanded": String(panelOpen),
            "aria-controls": panelId,
            onclick: () => {
              if (openCorrections.has(m.id)) openCorrections.delete(m.id);
              else openCorrections.add(m.id);
              renderThread();
              const panel = document.getElementById(panelId);
              if (panel) panel.querySelector("button").focus();
            },
          },
          icon("edit"),
          t("triage.correct"),
        ),
      ),
      tri.reasons && tri.reasons.length ? h("ul", { class: "triage__reasons", "aria-label": t("triage.why") }, tri.reasons.map((r) => h("li", {}, r))) : null,
      m.escalation && m.escalation.length ? renderRulesFired(m.escalation) : null,
      correction ? renderCorrection(correction) : null,
      panelOpen ? renderCorrectionPanel(m, panelId, correction) : null,
    );
  }

  /** Which escalation rules fired for the message, on which facts, and what they did. */
  function renderRulesFired(trace) {
    const OPS = { eq: "=", ne: "≠", gt: ">", gte: "≥", lt: "<", lte: "≤" };
    const fact = (c) => `${c.field} ${OPS[c.op] || c.op} ${Array.isArray(c.value) ? c.value.join(", ") : c.value}${c.actual !== undefined && c.actual !== null && typeof c.actual !== "object" ? ` (${typeof c.actual === "number" ? Math.round(c.actual * 100) / 100 : c.actual})` : ""}`;
    const action = (a) => {
      if (a.type === "set_priority") return t("rules.set_priority", { n: a.urgency });
      if (a.type === "open_incident") {
        if (!a.incident_id) return t("rules.open_incident");
        return isStaff() ? h("a", { href: `/incidents/${a.incident_id}` }, t("rules.incident", { id: a.incident_id })) : t("rules.incident", { id: a.incident_id });
      }
      if (a.type === "route_team") return t("rules.route_team", { team: (session.teams.find((tm) => tm.id === a.team_id) || {}).name || `#${a.team_id}` });
      if (a.type === "assign") return t("rules.assign", { name: userName(a.user_id) });
      if (a.type === "add_labels") return t("rules.add_labels", { labels: (a.labels || []).join(", ") });
      return t(`rules.${a.type}`) === `rules.${a.type}` ? a.type : t(`rules.${a.type}`);
    };
    return h(
      "ul",
      { class: "rules-fired", "aria-label": t("rules.label") },
      trace.map((r) => {
        const actions = (r.actions || []).map(action);
        const matched = (r.conditions || []).filter((c) => c.matched).map(fact);
        return h(
          "li",
          {},
          icon("siren"),
          h(
            "span",
            {},
            h("strong", {}, t("rules.fired", { name: r.rule_name || `#${r.rule_id}` })),
            actions.length ? [": ", actions.flatMap((a, i) => (i ? [", ", a] : [a]))] : null,
            matched.length ? h("span", { class: "muted" }, ` — ${t("rules.because", { facts: matched.join(", ") })}`) : null,
          ),
        );
      }),
    );
  }

  function renderCorrection(f) {
    const parts = [];
    if (f.urgency !== null && f.urgency !== undefined) parts.push(t("triage.corrected_urgency", { n: f.urgency, band: t(`band.${band(f.urgency).name}`) }));
    if (f.categories) parts.push(f.categories.length ? t("triage.corrected_categories", { list: f.categories.map(categoryLabel).join(", ") }) : t("triage.corrected_none"));
    return h(
      "p",
      { class: "correction", role: "status" },
      icon("check"),
      h("span", {}, t("triage.corrected_by", { name: f.author_name || userName(f.user_id) || "?", at: dateTime(f.created_at) }), " ", h("strong", {}, parts.join(" · "))),
    );
  }

  function renderCorrectionPanel(m, panelId, correction) {
    // The choice in progress survives a redraw (a live update may redraw the thread).
    if (!categoryDrafts.has(m.id)) {
      const current = correction && correction.categories ? correction.categories : topCategories(m.triage.categories, 11).map((c) => c.name);
      categoryDrafts.set(m.id, new Set(current));
    }
    const chosen = categoryDrafts.get(m.id);
    const status = h("p", { class: "form-error", role: "alert", hidden: true });
    const save = async (body) => {
      status.hidden = true;
      try {
        const saved = await api(`messages/${m.id}/triage-feedback`, { method: "POST", body });
        data.feedback.push(saved);
        openCorrections.delete(m.id);
        categoryDrafts.delete(m.id);
        renderThread();
        toast(t("triage.saved"), { kind: "success" });
      } catch (err) {
        status.textContent = describeError(err);
        status.hidden = false;
      }
    };
    const toggles = CATEGORIES.map((name) =>
      h(
        "button",
        {
          type: "button",
          class: `toggle chip--${name}`,
          "aria-pressed": String(chosen.has(name)),
          onclick: (e) => {
            if (chosen.has(name)) chosen.delete(name);
            else chosen.add(name);
            e.currentTarget.setAttribute("aria-pressed", String(chosen.has(name)));
          },
        },
        categoryLabel(name),
      ),
    );
    const urgencyLabelId = nextId("urg");
    const categoriesLabelId = nextId("cat");
    return h(
      "div",
      { class: "correct", id: panelId },
      h("p", { class: "correct__label", id: urgencyLabelId }, t("triage.should_be")),
      h(
        "div",
        { class: "correct__quick", role: "group", "aria-labelledby": urgencyLabelId },
        QUICK_URGENCY.map((q) =>
          h("button", { type: "button", class: `btn btn--small band-btn band-btn--${q.band}`, onclick: () => save({ urgency: q.urgency }) }, t(`band.${q.band}`), h("span", { class: "muted" }, ` ${q.urgency}`)),
        ),
      ),
      h("p", { class: "correct__label", id: categoriesLabelId }, t("triage.categories_apply")),
      h("div", { class: "correct__cats", role: "group", "aria-labelledby": categoriesLabelId }, toggles),
      h(
        "div",
        { class: "correct__foot" },
        h("button", { type: "button", class: "btn btn--small btn--primary", onclick: () => save({ categories: [...chosen] }) }, t("triage.save_categories")),
        h("button", { type: "button", class: "btn btn--small btn--quiet", onclick: () => { openCorrections.delete(m.id); categoryDrafts.delete(m.id); renderThread(); } }, t("action.cancel")),
      ),
      status,
    );
  }

  // --- composer ------------------------------------------------------------------------------
  function saveDraft() {
    if (id === null) return;
    const area = composer.querySelector("textarea");
    if (area) drafts.set(`${id}:${composerMode}`, area.value);
  }

  function repliesPath() {
    const template = features.get("replies");
    return template ? template.replace(/\{[^}]+\}/, String(id)) : null;
  }

  function renderComposer() {
    const replyAvailable = Boolean(repliesPath());
    const tab = (mode, label) =>
      h(
        "button",
        {
          type: "button",
          role: "tab",
          class: "composer__tab",
          id: `tab-${mode}`,
          "aria-selected": String(composerMode === mode),
          "aria-controls": "composer-panel",
          tabindex: composerMode === mode ? "0" : "-1",
          onclick: () => {
            saveDraft();
            composerMode = mode;
            renderComposer();
            const area = composer.querySelector("textarea");
            if (area) area.focus();
          },
          onkeydown: (e) => {
            if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
              e.preventDefault();
              saveDraft();
              composerMode = composerMode === "reply" ? "note" : "reply";
              renderComposer();
              composer.querySelector('[aria-selected="true"]').focus();
            }
          },
        },
        icon(mode === "reply" ? "send" : "note"),
        label,
      );
    const tabs = h("div", { class: "composer__tabs", role: "tablist", "aria-label": t("composer.label") }, tab("reply", t("composer.reply")), tab("note", t("composer.note")));
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    let body;
    if (composerMode === "reply" && !replyAvailable) {
      const url = data && data.conversation.messages.map((m) => m.url).filter(Boolean).pop();
      body = h(
        "div",
        { class: "notice", role: "note" },
        icon("info"),
        h(
          "div",
          {},
          h("p", { class: "notice__title" }, t("composer.unavailable")),
          h("p", {}, t("composer.unavailable_hint")),
          h(
            "p",
            { class: "notice__actions" },
            url ? h("a", { class: "btn btn--small", href: url, target: "_blank", rel: "noopener noreferrer", "data-external": "" }, t("msg.on_platform"), icon("external")) : null,
            h("button", { type: "button", class: "btn btn--small", onclick: () => { composerMode = "note"; renderComposer(); composer.querySelector("textarea").focus(); } }, icon("note"), t("composer.write_note")),
          ),
        ),
      );
    } else {
      const area = h("textarea", {
        rows: 3,
        "aria-label": composerMode === "reply" ? t("composer.reply_label") : t("composer.note_label"),
        placeholder: composerMode === "reply" ? t("composer.reply_placeholder") : t("composer.note_placeholder"),
        maxlength: composerMode === "reply" ? 10000 : 5000,
      });
      area.value = drafts.get(`${id}:${composerMode}`) || "";
      const send = h(
        "button",
        { type: "submit", class: `btn ${composerMode === "reply" ? "btn--primary" : "btn--note"}` },
        icon(composerMode === "reply" ? "send" : "note"),
        composerMode === "reply" ? t("composer.send") : t("composer.add_note"),
      );
      const submit = async (event) => {
        event.preventDefault();
        const text = area.value.trim();
        if (!text) {
          error.textContent = t("composer.empty");
          error.hidden = false;
          area.focus();
          return;
        }
        error.hidden = true;
        send.disabled = true;
        try {
          if (composerMode === "reply") {
            const key = idempotencyKeys.get(id) || randomKey();
            idempotencyKeys.set(id, key);
            await api(repliesPath(), { method: "POST", body: { text }, headers: { "Idempotency-Key": key } });
            idempotencyKeys.delete(id);
            toast(t("composer.queued"), { kind: "success" });
            watchDelivery();
          } else {
            const note = await api(`conversations/${id}/notes`, { method: "POST", body: { text } });
            data.notes.push(note);
          }
          area.value = "";
          drafts.delete(`${id}:${composerMode}`);
          await load();
          thread.scrollTop = thread.scrollHeight;
          onChange();
        } catch (err) {
          const notReady = composerMode === "reply" && (err.code === "channel_not_configured" || err.status === 501 || err.status === 405);
          error.textContent = notReady ? `${t("composer.unavailable")} ${err.message ? `(${err.message})` : ""}` : describeError(err);
          error.hidden = false;
        } finally {
          send.disabled = false;
        }
      };
      area.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) submit(e);
      });
      body = h(
        "form",
        { class: `composer__form composer__form--${composerMode}`, onsubmit: submit },
        area,
        error,
        h("div", { class: "composer__foot" }, h("span", { class: "muted small" }, composerMode === "note" ? t("composer.note_hint") : t("composer.reply_hint")), send),
      );
    }
    replace(composer, tabs, h("div", { id: "composer-panel", role: "tabpanel", "aria-labelledby": `tab-${composerMode}` }, body));
  }

  function render() {
    if (!data) return;
    renderHead();
    renderThread();
  }

  const offs = [
    live.on("message.created", (e) => e.data && e.data.conversation_id === id && refresh()),
    live.on("message.triaged", (e) => e.data && e.data.conversation_id === id && refresh()),
    live.on("conversation.updated", (e) => e.data && e.data.conversation_id === id && refresh()),
  ];

  return {
    show,
    empty,
    refresh: () => refresh(),
    refreshMeta: () => render(),
    destroy() {
      offs.forEach((off) => off());
      refresh.cancel();
      clearTimeout(deliveryTimer);
    },
  };
}
