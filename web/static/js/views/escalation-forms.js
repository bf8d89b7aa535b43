// Structured editors for escalation rules and policies. They build the JSON the API takes
// (escalation/README.md, escalation/schemas.py) and read it back for editing; the raw JSON
// stays available as an "advanced" view for conditions the form cannot show.

import { h, icon, replace, field, select, nextId } from "../dom.js";
import { api, ApiError, describeError } from "../api.js";
import { t } from "../i18n.js";
import { categoryLabel, platformName, PLATFORMS } from "../format.js";

const CATEGORIES = ["safety", "threat", "legal", "press", "outage", "complaint", "toxic", "question", "praise", "spam", "fact_claim"];
const SEVERITIES = ["critical", "high", "medium", "low"];
const UNITS = { s: 1, min: 60, h: 3600 };
const DEFAULT_THRESHOLD = 70; // percent

const splitList = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);
const numberOrNull = (input) => (input.value.trim() === "" ? null : Number(input.value));

// --- small controls ------------------------------------------------------------------------

/** A group of checkboxes with a visible legend; scrolls when long. */
function checkGroup(legend, options, selected = [], { hint = null } = {}) {
  const chosen = new Set(selected.map(String));
  const boxes = options.map((o) => h("input", { type: "checkbox", value: String(o.value), checked: chosen.has(String(o.value)) }));
  const el = h(
    "fieldset",
    { class: "checks" },
    h("legend", {}, legend),
    options.length
      ? h("div", { class: `checks__list${options.length > 8 ? " checks__list--scroll" : ""}` }, options.map((o, i) => h("label", { class: "check" }, boxes[i], h("span", {}, o.label))))
      : h("p", { class: "muted small" }, t("editor.none_available")),
    hint ? h("p", { class: "hint" }, hint) : null,
  );
  return { el, values: () => boxes.filter((b) => b.checked).map((b) => b.value), boxes };
}

function switchControl(label, checked) {
  const input = h("input", { type: "checkbox", checked });
  return { el: h("label", { class: "switch" }, input, h("span", {}, label)), input };
}

/** A duration as number + unit (seconds, minutes, hours). */
function durationField(label, seconds, { optional = false, hint = null } = {}) {
  let unit = "min";
  let amount = "";
  if (seconds !== null && seconds !== undefined) {
    unit = seconds % 3600 === 0 ? "h" : seconds % 60 === 0 ? "min" : "s";
    amount = String(seconds / UNITS[unit]);
  }
  const number = h("input", { type: "number", min: optional ? 0 : 1, step: "any", value: amount, required: !optional, class: "duration__number" });
  const unitSelect = select(Object.keys(UNITS).map((u) => ({ value: u, label: t(`editor.unit_${u}`) })), { value: unit, label: t("editor.unit_of", { label }) });
  number.id = nextId("f");
  const hintEl = hint ? h("p", { class: "hint", id: `${number.id}-hint` }, hint) : null;
  if (hintEl) number.setAttribute("aria-describedby", hintEl.id);
  const el = h("div", { class: "field" }, h("label", { for: number.id }, label), h("div", { class: "duration" }, number, unitSelect), hintEl);
  return {
    el,
    number,
    seconds: () => (number.value.trim() === "" ? null : Math.round(Number(number.value) * UNITS[unitSelect.value])),
  };
}

function fieldset(legend, ...children) {
  return h("fieldset", { class: "editor__group" }, h("legend", {}, legend), h("div", { class: "editor__fields" }, children));
}

// --- errors in words -------------------------------------------------------------------------

function problemText(detail) {
  const msg = String(detail.message || "");
  const limit = (msg.match(/(-?\d+(?:\.\d+)?)\s*$/) || [])[1];
  switch (detail.type) {
    case "missing":
      return t("editor.err_missing");
    case "greater_than_equal":
    case "greater_than":
      return t("editor.err_min", { n: limit ?? "?" });
    case "less_than_equal":
    case "less_than":
      return t("editor.err_max", { n: limit ?? "?" });
    case "string_too_short":
    case "too_short":
      return t("editor.err_too_short");
    case "string_too_long":
    case "too_long":
      return t("editor.err_too_long");
    case "int_parsing":
    case "int_from_float":
    case "float_parsing":
      return t("editor.err_number");
    default:
      return msg.replace(/^Value error, /, "");
  }
}

/** "Level 2 · Wait: must be at least 1" from a 422 detail, with the field in words. */
function whereText(loc, built) {
  const path = (loc || []).filter((p) => p !== "body");
  if (!path.length) return "";
  const [head, index] = path;
  const tail = path.slice(typeof index === "number" ? 2 : 1).filter((p) => typeof p !== "number");
  const last = tail.length ? tail[tail.length - 1] : null;
  const fieldWord = (name) => (t(`editor.f_${name}`) === `editor.f_${name}` ? name : t(`editor.f_${name}`));
  if (head === "actions" && typeof index === "number") {
    const action = (built.actions || [])[index] || {};
    const what = t(`editor.action_${action.type}`) === `editor.action_${action.type}` ? t("admin.actions") : t(`editor.action_${action.type}`);
    return last && last !== action.type ? `${what} · ${fieldWord(last)}` : what;
  }
  if (head === "levels" && typeof index === "number") {
    return last ? `${t("editor.level_n", { n: index + 1 })} · ${fieldWord(last)}` : t("editor.level_n", { n: index + 1 });
  }
  if (head === "conditions") return t("admin.conditions");
  return fieldWord(head);
}

function showProblems(box, err, built) {
  const items =
    err instanceof ApiError && err.status === 422 && Array.isArray(err.details) && err.details.length
      ? err.details.map((d) => {
          const where = whereText(d.loc, built);
          return where ? `${where}: ${problemText(d)}` : problemText(d);
        })
      : [describeError(err)];
  replace(box, h("p", {}, t("editor.not_saved")), h("ul", {}, items.map((text) => h("li", {}, text))));
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

function showMessages(box, messages) {
  replace(box, h("p", {}, t("editor.not_saved")), h("ul", {}, messages.map((text) => h("li", {}, text))));
  box.hidden = false;
}

// --- rules: JSON <-> form state ----------------------------------------------------------------

function emptyRuleState() {
  return {
    name: "",
    description: "",
    position: null,
    enabled: true,
    stop: false,
    mode: "all",
    minUrgency: null,
    categories: {},
    platforms: [],
    channels: [],
    languages: [],
    keywords: [],
    minFollowers: null,
    priority: null,
    teamId: null,
    userId: null,
    labels: [],
    incident: null,
    notifyUsers: [],
    notifyIntegrations: [],
    policyId: null,
  };
}

const isPredicate = (node) => node && typeof node === "object" && typeof node.field === "string";
const asList = (p) => (p.op === "in" && Array.isArray(p.value) ? p.value.map(String) : p.op === "eq" && p.value !== null ? [String(p.value)] : null);

/** The form's state for a rule, or null when its conditions or actions do not fit the form. */
export function ruleToState(rule) {
  const s = emptyRuleState();
  s.name = rule.name || "";
  s.description = rule.description || "";
  s.position = rule.position ?? null;
  s.enabled = rule.enabled !== false;
  s.stop = Boolean(rule.stop);
  const cond = rule.conditions || {};
  let items;
  if (Array.isArray(cond.all)) items = cond.all;
  else if (Array.isArray(cond.any)) {
    items = cond.any;
    s.mode = "any";
  } else if (isPredicate(cond)) items = [cond];
  else return null;
  const catPred = (p) => isPredicate(p) && p.field.startsWith("category.") && p.op === "gte" && typeof p.value === "number" && CATEGORIES.includes(p.field.slice(9));
  let topCategories = 0;
  for (const item of items) {
    if (Array.isArray(item.any) && item.any.length && item.any.every(catPred)) {
      for (const p of item.any) s.categories[p.field.slice(9)] = Math.round(p.value * 100);
      continue;
    }
    if (!isPredicate(item)) return null;
    if (catPred(item)) {
      topCategories += 1;
      s.categories[item.field.slice(9)] = Math.round(item.value * 100);
      continue;
    }
    const list = asList(item);
    if (item.field === "urgency" && item.op === "gte" && s.minUrgency === null) s.minUrgency = item.value;
    else if (item.field === "author.followers" && item.op === "gte" && s.minFollowers === null) s.minFollowers = item.value;
    else if (item.field === "platform" && list && !s.platforms.length) s.platforms = list;
    else if (item.field === "channel_id" && list && !s.channels.length) s.channels = list;
    else if (item.field === "language" && list && !s.languages.length) s.languages = list;
    else if (item.field === "text" && item.op === "contains_any" && Array.isArray(item.value) && !s.keywords.length) s.keywords = item.value.map(String);
    else return null;
  }
  // Several category predicates side by side under "all" mean "every one of them": not the form's "any".
  if (s.mode === "all" && topCategories > 1) return null;
  const seen = new Set();
  for (const a of rule.actions || []) {
    if (seen.has(a.type) && a.type !== "add_labels" && a.type !== "notify") return null;
    seen.add(a.type);
    if (a.type === "set_priority") s.priority = a.urgency;
    else if (a.type === "route_team") s.teamId = a.team_id;
    else if (a.type === "assign") s.userId = a.user_id;
    else if (a.type === "add_labels") s.labels.push(...a.labels);
    else if (a.type === "open_incident") s.incident = { ...a };
    else if (a.type === "notify") {
      s.notifyUsers.push(...(a.user_ids || []));
      s.notifyIntegrations.push(...(a.integration_ids || []));
    } else if (a.type === "start_policy") s.policyId = a.policy_id;
    else return null;
  }
  return s;
}

/** The API's rule body from the form's state. */
export function stateToRule(s) {
  const preds = [];
  if (s.minUrgency !== null) preds.push({ field: "urgency", op: "gte", value: s.minUrgency });
  const cats = Object.entries(s.categories).map(([name, pct]) => ({ field: `category.${name}`, op: "gte", value: Math.round(pct) / 100 }));
  if (cats.length === 1) preds.push(cats[0]);
  else if (cats.length > 1) preds.push({ any: cats });
  if (s.platforms.length) preds.push({ field: "platform", op: "in", value: s.platforms });
  if (s.channels.length) preds.push({ field: "channel_id", op: "in", value: s.channels });
  if (s.languages.length) preds.push({ field: "language", op: "in", value: s.languages });
  if (s.keywords.length) preds.push({ field: "text", op: "contains_any", value: s.keywords });
  if (s.minFollowers !== null) preds.push({ field: "author.followers", op: "gte", value: s.minFollowers });
  const actions = [];
  if (s.priority !== null) actions.push({ type: "set_priority", urgency: s.priority });
  if (s.teamId) actions.push({ type: "route_team", team_id: s.teamId });
  if (s.userId) actions.push({ type: "assign", user_id: s.userId });
  if (s.labels.length) actions.push({ type: "add_labels", labels: s.labels });
  if (s.incident) {
    const incident = { type: "open_incident", severity: s.incident.severity || "high" };
    for (const key of ["title", "dedup_key"]) if (s.incident[key]) incident[key] = s.incident[key];
    if (s.incident.window_minutes) incident.window_minutes = s.incident.window_minutes;
    if (s.incident.attach_recent_minutes) incident.attach_recent_minutes = s.incident.attach_recent_minutes;
    actions.push(incident);
  }
  if (s.notifyUsers.length || s.notifyIntegrations.length) actions.push({ type: "notify", user_ids: s.notifyUsers, integration_ids: s.notifyIntegrations });
  if (s.policyId) actions.push({ type: "start_policy", policy_id: s.policyId });
  const body = { name: s.name, description: s.description, enabled: s.enabled, stop: s.stop, conditions: { [s.mode]: preds }, actions };
  if (s.position !== null) body.position = s.position;
  return body;
}

function ruleProblems(s) {
  const problems = [];
  const body = stateToRule(s);
  if (!s.name.trim()) problems.push(t("editor.need_name"));
  if (!Object.values(body.conditions)[0].length) problems.push(t("editor.need_condition"));
  if (!body.actions.length) problems.push(t("editor.need_action"));
  if (s.policyId && !s.incident) problems.push(t("editor.policy_needs_incident"));
  return problems;
}

// --- the rule editor -----------------------------------------------------------------------------

/**
 * A form for a new rule (rule = null) or an existing one. ctx: {base, teams, users, channels,
 * policies, integrations}; onSaved(rule) after the server took it; onCancel for editing.
 */
export function ruleEditor({ rule = null, ctx, onSaved, onCancel = null }) {
  const titleId = nextId("rule-editor");
  const errors = h("div", { class: "form-error editor__errors", role: "alert", hidden: true });
  const area = h("textarea", { rows: 16, class: "code", spellcheck: "false" });
  const jsonNote = h("p", { class: "hint", hidden: true });
  const formView = h("div", { class: "editor__view" });
  const jsonView = h("div", { class: "editor__view", hidden: true }, jsonNote, field(t("admin.definition"), area, { hint: t("admin.rule_help") }));
  let mode = "form";
  let read = null; // () => state, set by renderForm

  function renderForm(s) {
    const name = h("input", { type: "text", value: s.name, maxlength: 200, required: true });
    const description = h("input", { type: "text", value: s.description, maxlength: 2000 });
    const position = h("input", { type: "number", min: 0, max: 1000000, step: 1, value: s.position ?? "" });
    const enabled = switchControl(t("admin.enabled"), s.enabled);
    const stop = switchControl(t("editor.stop"), s.stop);

    const matchMode = select([{ value: "all", label: t("editor.mode_all") }, { value: "any", label: t("editor.mode_any") }], { value: s.mode });
    const minUrgency = h("input", { type: "number", min: 0, max: 100, step: 1, value: s.minUrgency ?? "" });
    const minFollowers = h("input", { type: "number", min: 0, step: 1, value: s.minFollowers ?? "" });
    const catRows = CATEGORIES.map((c) => {
      const on = h("input", { type: "checkbox", checked: c in s.categories });
      const threshold = h("input", { type: "number", min: 1, max: 100, step: 1, value: String(s.categories[c] ?? DEFAULT_THRESHOLD), class: "cat__threshold", "aria-label": t("editor.threshold_of", { category: categoryLabel(c) }) });
      return { c, on, threshold, el: h("div", { class: "cat" }, h("label", { class: "check" }, on, h("span", {}, categoryLabel(c))), h("span", { class: "cat__from" }, "≥"), threshold, h("span", { class: "cat__unit", "aria-hidden": "true" }, "%")) };
    });
    const categories = h("fieldset", { class: "checks checks--wide" }, h("legend", {}, t("editor.categories")), h("div", { class: "cats" }, catRows.map((r) => r.el)), h("p", { class: "hint" }, t("editor.categories_hint")));
    const seenNames = new Set();
    const platformOptions = Object.keys(PLATFORMS).map((p) => {
      const label = platformName(p);
      const dup = seenNames.has(label) || ["mailgun", "sendgrid", "email"].includes(p);
      seenNames.add(label);
      return { value: p, label: dup ? `${label} (${p})` : label };
    });
    const platforms = checkGroup(t("editor.platforms"), platformOptions, s.platforms);
    const channels = checkGroup(t("editor.channels"), ctx.channels.map((c) => ({ value: c.id, label: `${c.name} · ${platformName(c.platform)}` })), s.channels);
    const languages = h("input", { type: "text", value: s.languages.join(", "), placeholder: "de, en" });
    const keywords = h("input", { type: "text", value: s.keywords.join(", "), placeholder: t("editor.keywords_placeholder") });

    const priority = h("input", { type: "number", min: 0, max: 100, step: 1, value: s.priority ?? "" });
    const team = select([{ value: "", label: t("editor.no_change") }, ...ctx.teams.map((tm) => ({ value: tm.id, label: tm.name }))], { value: s.teamId ?? "" });
    const assignee = select([{ value: "", label: t("editor.no_change") }, ...ctx.users.map((u) => ({ value: u.id, label: u.display_name || u.email }))], { value: s.userId ?? "" });
    const labels = h("input", { type: "text", value: s.labels.join(", "), placeholder: t("editor.labels_placeholder") });
    const incidentOn = switchControl(t("editor.open_incident"), Boolean(s.incident));
    const incident = s.incident || {};
    const severity = select(SEVERITIES.map((v) => ({ value: v, label: t(`severity.${v}`) })), { value: incident.severity || "high" });
    const incidentTitle = h("input", { type: "text", value: incident.title || "", maxlength: 300, placeholder: "{top_category}: {excerpt}" });
    const dedup = h("input", { type: "text", value: incident.dedup_key || "", maxlength: 300, placeholder: "{rule_id}:{conversation_id}" });
    const windowMinutes = h("input", { type: "number", min: 1, max: 10080, step: 1, value: incident.window_minutes ?? "", placeholder: "60" });
    const incidentFields = h(
      "div",
      { class: "editor__sub" },
      field(t("editor.severity"), severity),
      field(t("editor.incident_title"), incidentTitle, { hint: t("editor.template_hint") }),
      field(t("editor.dedup_key"), dedup, { hint: t("editor.dedup_hint") }),
      field(t("editor.window_minutes"), windowMinutes),
    );
    const notifyUsers = checkGroup(t("editor.notify_users"), ctx.users.map((u) => ({ value: u.id, label: u.display_name || u.email })), s.notifyUsers);
    const notifyIntegrations = checkGroup(t("editor.notify_integrations"), ctx.integrations.map((i) => ({ value: i.id, label: `${i.name} · ${t(`integration.${i.kind}`)}` })), s.notifyIntegrations);
    const policy = select([{ value: "", label: t("editor.no_policy") }, ...ctx.policies.map((p) => ({ value: p.id, label: p.name }))], { value: s.policyId ?? "" });
    const syncIncident = () => {
      incidentFields.hidden = !incidentOn.input.checked;
      policy.disabled = !incidentOn.input.checked;
      if (policy.disabled) policy.value = "";
    };
    incidentOn.input.addEventListener("change", syncIncident);
    syncIncident();

    replace(
      formView,
      fieldset(
        t("editor.rule_group"),
        field(t("admin.name"), name),
        field(t("editor.description"), description),
        field(t("editor.position"), position, { hint: t("editor.position_hint") }),
        h("div", { class: "field editor__switches" }, enabled.el, stop.el),
      ),
      fieldset(
        t("editor.when"),
        field(t("editor.match"), matchMode),
        field(t("editor.min_urgency"), minUrgency, { hint: t("editor.min_urgency_hint") }),
        h("div", { class: "editor__wide" }, categories),
        platforms.el,
        channels.el,
        field(t("editor.languages"), languages, { hint: t("editor.languages_hint") }),
        field(t("editor.keywords"), keywords, { hint: t("editor.keywords_hint") }),
        field(t("editor.min_followers"), minFollowers),
      ),
      fieldset(
        t("editor.then"),
        field(t("editor.priority"), priority, { hint: t("editor.priority_hint") }),
        field(t("editor.team"), team),
        field(t("editor.assignee"), assignee),
        field(t("editor.labels"), labels, { hint: t("editor.labels_hint") }),
        h("div", { class: "editor__wide" }, incidentOn.el, incidentFields),
        notifyUsers.el,
        notifyIntegrations.el,
        field(t("editor.start_policy"), policy, { hint: t("editor.start_policy_hint") }),
      ),
    );

    read = () => ({
      ...s,
      name: name.value.trim(),
      description: description.value.trim(),
      position: numberOrNull(position),
      enabled: enabled.input.checked,
      stop: stop.input.checked,
      mode: matchMode.value,
      minUrgency: numberOrNull(minUrgency),
      categories: Object.fromEntries(catRows.filter((r) => r.on.checked).map((r) => [r.c, Number(r.threshold.value) || DEFAULT_THRESHOLD])),
      platforms: platforms.values(),
      channels: channels.values(),
      languages: splitList(languages.value).map((l) => l.toLowerCase()),
      keywords: splitList(keywords.value),
      minFollowers: numberOrNull(minFollowers),
      priority: numberOrNull(priority),
      teamId: team.value ? Number(team.value) : null,
      userId: assignee.value ? Number(assignee.value) : null,
      labels: splitList(labels.value),
      incident: incidentOn.input.checked
        ? { ...(s.incident || {}), severity: severity.value, title: incidentTitle.value.trim(), dedup_key: dedup.value.trim(), window_minutes: numberOrNull(windowMinutes) }
        : null,
      notifyUsers: notifyUsers.values().map(Number),
      notifyIntegrations: notifyIntegrations.values().map(Number),
      policyId: policy.value ? Number(policy.value) : null,
    });
  }

  const tabForm = h("button", { type: "button", class: "segmented__item", "aria-pressed": "true", onclick: () => switchTo("form") }, t("editor.view_form"));
  const tabJson = h("button", { type: "button", class: "segmented__item", "aria-pressed": "false", onclick: () => switchTo("json") }, t("editor.view_json"));

  function switchTo(next) {
    if (next === mode) return;
    errors.hidden = true;
    if (next === "json") {
      area.value = JSON.stringify(stateToRule(read()), null, 2);
      jsonNote.hidden = true;
    } else {
      let parsed;
      try {
        parsed = JSON.parse(area.value);
      } catch (e) {
        showMessages(errors, [t("admin.bad_json", { detail: e.message })]);
        return;
      }
      const state = ruleToState(parsed);
      if (!state) {
        showMessages(errors, [t("editor.json_only")]);
        return;
      }
      renderForm(state);
    }
    mode = next;
    formView.hidden = mode !== "form";
    jsonView.hidden = mode !== "json";
    tabForm.setAttribute("aria-pressed", String(mode === "form"));
    tabJson.setAttribute("aria-pressed", String(mode === "json"));
  }

  const initial = rule ? ruleToState(rule) : emptyRuleState();
  renderForm(initial || emptyRuleState());
  if (rule && !initial) {
    // Conditions the form cannot show (e.g. "not", spike or sentiment): edit them as JSON.
    area.value = JSON.stringify(editableRule(rule), null, 2);
    jsonNote.textContent = t("editor.json_only");
    jsonNote.hidden = false;
    mode = "json";
    formView.hidden = true;
    jsonView.hidden = false;
    tabForm.setAttribute("aria-pressed", "false");
    tabJson.setAttribute("aria-pressed", "true");
  }

  const submit = h("button", { class: "btn btn--primary", type: "submit" }, rule ? t("action.save") : t("editor.create_rule"));
  const form = h(
    "form",
    {
      class: "panel editor",
      "aria-labelledby": titleId,
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        errors.hidden = true;
        let body;
        if (mode === "json") {
          try {
            body = JSON.parse(area.value);
          } catch (e) {
            showMessages(errors, [t("admin.bad_json", { detail: e.message })]);
            return;
          }
        } else {
          const state = read();
          const problems = ruleProblems(state);
          if (problems.length) {
            showMessages(errors, problems);
            return;
          }
          body = stateToRule(state);
        }
        submit.disabled = true;
        try {
          const saved = await api(rule ? `${ctx.base}/${rule.id}` : ctx.base, { method: rule ? "PATCH" : "POST", body });
          onSaved(saved);
        } catch (e) {
          showProblems(errors, e, body);
        } finally {
          submit.disabled = false;
        }
      },
    },
    h(
      "div",
      { class: "editor__head" },
      h("h2", { id: titleId }, rule ? t("editor.edit_rule", { name: rule.name }) : t("admin.add_rule")),
      h("div", { class: "segmented", role: "group", "aria-label": t("editor.view") }, tabForm, tabJson),
    ),
    formView,
    jsonView,
    errors,
    h("div", { class: "editor__actions" }, submit, onCancel ? h("button", { class: "btn", type: "button", onclick: onCancel }, t("action.cancel")) : null),
  );
  return form;
}

function editableRule(rule) {
  const { name, description, position, enabled, stop, conditions, actions } = rule;
  return { name, description, position, enabled, stop, conditions, actions };
}

// --- the policy editor ----------------------------------------------------------------------------

/**
 * A form for a new policy (policy = null) or an existing one: ordered levels with their
 * targets and wait, repeats and the acknowledgement timeout. ctx: {base, users, teams,
 * rotations, integrations}.
 */
export function policyEditor({ policy = null, ctx, onSaved, onCancel = null }) {
  const titleId = nextId("policy-editor");
  const errors = h("div", { class: "form-error editor__errors", role: "alert", hidden: true });
  const name = h("input", { type: "text", value: policy ? policy.name : "", maxlength: 200, required: true });
  const description = h("input", { type: "text", value: policy ? policy.description || "" : "", maxlength: 2000 });
  const repeat = h("input", { type: "number", min: 0, max: 20, step: 1, value: String(policy ? policy.repeat_count : 0) });
  const ackTimeout = durationField(t("editor.ack_timeout"), policy ? policy.ack_timeout_s : null, { optional: true, hint: t("editor.ack_timeout_hint") });
  const levelsBox = h("ol", { class: "levels-editor" });
  let levels = (policy ? policy.levels : [{ delay_s: 300, user_ids: [], team_ids: [], rotation_ids: [], integration_ids: [] }]).map((l) => ({ ...l }));
  let readers = [];

  function collect() {
    return readers.map((read) => read());
  }

  function renderLevels(focusIndex = null) {
    readers = [];
    replace(
      levelsBox,
      levels.map((level, index) => {
        const n = index + 1;
        const delay = durationField(t("editor.level_delay"), level.delay_s ?? 300, { hint: t("editor.level_delay_hint") });
        const users = checkGroup(t("editor.users"), ctx.users.map((u) => ({ value: u.id, label: u.display_name || u.email })), level.user_ids || []);
        const teams = checkGroup(t("editor.teams"), ctx.teams.map((tm) => ({ value: tm.id, label: tm.name })), level.team_ids || []);
        const rotations = checkGroup(t("editor.rotations"), ctx.rotations.map((r) => ({ value: r.id, label: r.name })), level.rotation_ids || []);
        const integrations = checkGroup(t("editor.integrations"), ctx.integrations.map((i) => ({ value: i.id, label: `${i.name} · ${t(`integration.${i.kind}`)}` })), level.integration_ids || []);
        readers.push(() => ({
          ...level,
          delay_s: delay.seconds(),
          user_ids: users.values().map(Number),
          team_ids: teams.values().map(Number),
          rotation_ids: rotations.values().map(Number),
          integration_ids: integrations.values().map(Number),
        }));
        const move = (to) => {
          levels = collect();
          const [item] = levels.splice(index, 1);
          levels.splice(to, 0, item);
          renderLevels(to);
        };
        const heading = h("h3", { class: "level__title", tabindex: "-1" }, t("editor.level_n", { n }));
        const el = h(
          "li",
          { class: "level panel" },
          h(
            "div",
            { class: "level__head" },
            heading,
            h(
              "div",
              { class: "level__tools" },
              h("button", { type: "button", class: "btn btn--small", disabled: index === 0, "aria-label": t("editor.level_up", { n }), onclick: () => move(index - 1) }, "↑"),
              h("button", { type: "button", class: "btn btn--small", disabled: index === levels.length - 1, "aria-label": t("editor.level_down", { n }), onclick: () => move(index + 1) }, "↓"),
              h(
                "button",
                {
                  type: "button",
                  class: "btn btn--small btn--danger",
                  disabled: levels.length === 1,
                  "aria-label": t("editor.level_remove", { n }),
                  onclick: () => {
                    levels = collect();
                    levels.splice(index, 1);
                    renderLevels(Math.max(0, index - 1));
                  },
                },
                icon("trash"),
                t("admin.delete"),
              ),
            ),
          ),
          h("div", { class: "level__grid" }, users.el, teams.el, rotations.el, integrations.el),
          delay.el,
        );
        if (focusIndex === index) requestAnimationFrame(() => heading.focus());
        return el;
      }),
    );
  }
  renderLevels();

  const addLevel = h(
    "button",
    {
      type: "button",
      class: "btn",
      onclick: () => {
        levels = collect();
        levels.push({ delay_s: 600, user_ids: [], team_ids: [], rotation_ids: [], integration_ids: [] });
        renderLevels(levels.length - 1);
      },
    },
    icon("plus"),
    t("editor.add_level"),
  );

  function build() {
    return {
      name: name.value.trim(),
      description: description.value.trim(),
      levels: collect().map((l) => ({ delay_s: l.delay_s, user_ids: l.user_ids, team_ids: l.team_ids, rotation_ids: l.rotation_ids, integration_ids: l.integration_ids })),
      repeat_count: Number(repeat.value || 0),
      ack_timeout_s: ackTimeout.seconds() || null,
    };
  }

  const submit = h("button", { class: "btn btn--primary", type: "submit" }, policy ? t("action.save") : t("editor.create_policy"));
  return h(
    "form",
    {
      class: "panel editor",
      "aria-labelledby": titleId,
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        errors.hidden = true;
        const body = build();
        const problems = [];
        if (!body.name) problems.push(t("editor.need_name"));
        body.levels.forEach((l, i) => {
          if (!(l.user_ids.length || l.team_ids.length || l.rotation_ids.length || l.integration_ids.length)) problems.push(t("editor.level_needs_target", { n: i + 1 }));
          if (!l.delay_s || l.delay_s < 1) problems.push(t("editor.level_needs_delay", { n: i + 1 }));
        });
        if (problems.length) {
          showMessages(errors, problems);
          return;
        }
        submit.disabled = true;
        try {
          const saved = await api(policy ? `${ctx.base}/${policy.id}` : ctx.base, { method: policy ? "PATCH" : "POST", body });
          onSaved(saved);
        } catch (e) {
          showProblems(errors, e, body);
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("div", { class: "editor__head" }, h("h2", { id: titleId }, policy ? t("editor.edit_policy", { name: policy.name }) : t("admin.add_policy"))),
    h("p", { class: "muted small" }, t("admin.policy_help")),
    fieldset(t("editor.policy_group"), field(t("admin.name"), name), field(t("editor.description"), description)),
    h("fieldset", { class: "editor__group" }, h("legend", {}, t("admin.levels")), levelsBox, h("div", {}, addLevel)),
    fieldset(t("editor.after_last"), field(t("editor.repeat_count"), repeat, { hint: t("editor.repeat_hint") }), ackTimeout.el),
    errors,
    h("div", { class: "editor__actions" }, submit, onCancel ? h("button", { class: "btn", type: "button", onclick: onCancel }, t("action.cancel")) : null),
  );
}

/** A rule's actions in words, for the rules table. */
export function describeActions(actions, { teamName, userName, policyName }) {
  return (actions || []).map((a) => {
    switch (a.type) {
      case "set_priority":
        return t("editor.desc_priority", { n: a.urgency });
      case "route_team":
        return t("editor.desc_team", { name: teamName(a.team_id) });
      case "assign":
        return t("editor.desc_assign", { name: userName(a.user_id) });
      case "add_labels":
        return t("editor.desc_labels", { labels: a.labels.join(", ") });
      case "open_incident":
        return t("editor.desc_incident", { severity: t(`severity.${a.severity || "high"}`) });
      case "notify":
        return t("editor.desc_notify", { n: (a.user_ids || []).length + (a.integration_ids || []).length });
      case "start_policy":
        return t("editor.desc_policy", { name: policyName(a.policy_id) });
      default:
        return a.type;
    }
  });
}
