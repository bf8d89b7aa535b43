// Administration: users and roles, teams, channels (webhook URL and console settings),
// and — where the server has them — escalation rules, policies, on-call rotations,
// integrations and the notification log.

import { h, icon, replace, field, select } from "../dom.js";
import { api, describeError, features } from "../api.js";
import { t } from "../i18n.js";
import { navigate } from "../router.js";
import { toast } from "../toast.js";
import { session, setTitle, userName } from "../shell.js";
import { categoryLabel, dateTime, platformIcon, platformName, PLATFORMS, duration } from "../format.js";
import { ruleEditor, policyEditor, describeActions } from "./escalation-forms.js";

const ROLES = ["agent", "pr", "admin"];
const SECTIONS = [
  { name: "users", always: true },
  { name: "teams", always: true },
  { name: "channels", always: true },
  { name: "rules", feature: "rules" },
  { name: "policies", feature: "policies" },
  { name: "rotations", feature: "rotations" },
  { name: "integrations", feature: "integrations" },
  { name: "notifications", feature: "notifications" },
];

const FIELD_WORDS = { urgency: "editor.f_urgency", platform: "editor.platforms", channel_id: "editor.channels", language: "editor.languages", text: "editor.f_text", "author.followers": "editor.f_followers" };
const OPS = { eq: "=", ne: "≠", gt: ">", gte: "≥", lt: "<", lte: "≤" };

/** A rule's condition tree in words: "category.safety ≥ 0.6 or urgency ≥ 85". */
function describeCondition(node) {
  if (!node || typeof node !== "object") return String(node);
  const join = (items, word) => items.map((c) => (c.all || c.any ? `(${describeCondition(c)})` : describeCondition(c))).join(` ${word} `);
  if (Array.isArray(node.all)) return join(node.all, t("admin.cond_and"));
  if (Array.isArray(node.any)) return join(node.any, t("admin.cond_or"));
  if (node.not) return `${t("admin.cond_not")} (${describeCondition(node.not)})`;
  let value = Array.isArray(node.value) ? node.value.join(", ") : node.value;
  const op = OPS[node.op] || t(`admin.op_${node.op}`);
  let name = node.field;
  if (name.startsWith("category.") && typeof node.value === "number") {
    name = categoryLabel(name.slice(9));
    value = `${Math.round(node.value * 100)} %`;
  } else if (FIELD_WORDS[name]) {
    name = t(FIELD_WORDS[name]);
  }
  return `${name} ${op} ${value}`;
}

function copyButton(text, label) {
  return h(
    "button",
    {
      type: "button",
      class: "btn btn--small",
      "aria-label": label,
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(text);
          toast(t("admin.copied"), { kind: "success" });
        } catch {
          toast(t("admin.copy_failed"), { kind: "error" });
        }
      },
    },
    icon("copy"),
    t("admin.copy"),
  );
}

function errorBox() {
  return h("p", { class: "form-error", role: "alert", hidden: true });
}

function showError(box, err) {
  box.textContent = describeError(err);
  box.hidden = false;
}

export function mount(main, route) {
  const available = SECTIONS.filter((s) => s.always || features.has(s.feature));
  const content = h("div", { class: "admin__content" });
  const nav = h("nav", { class: "subnav", "aria-label": t("admin.sections") });
  replace(main, h("div", { class: "page admin" }, h("header", { class: "page-head" }, h("h1", {}, t("admin.title"))), nav, content));
  let request = 0;

  function renderNav(current) {
    replace(
      nav,
      available.map((s) =>
        h("a", { class: "subnav__link", href: `/admin/${s.name}`, "aria-current": s.name === current ? "page" : null }, t(`admin.nav_${s.name}`)),
      ),
    );
  }

  async function show(r) {
    const section = r.params.section || "users";
    const known = available.find((s) => s.name === section);
    renderNav(section);
    const mine = ++request;
    setTitle(`${t("admin.title")} · ${t(`admin.${section}`)}`);
    if (!known) {
      replace(content, h("div", { class: "panel empty" }, icon("info"), h("p", { class: "empty__title" }, t("admin.unavailable")), h("p", { class: "muted" }, t("admin.unavailable_text"))));
      return;
    }
    replace(content, h("p", { class: "muted loading" }, h("span", { class: "spinner", "aria-hidden": "true" }), t("inbox.loading")));
    try {
      await session.ready; // names of people in the tables
      const view = await SECTION_VIEWS[section]();
      if (mine === request) replace(content, view);
    } catch (err) {
      if (mine === request) replace(content, h("div", { class: "panel empty empty--error", role: "alert" }, icon("warning"), h("p", {}, describeError(err)), h("button", { class: "btn", type: "button", onclick: () => show(r) }, t("action.retry"))));
    }
  }

  const reloadSection = () => show({ params: { section: currentSection } });
  let currentSection = route.params.section || "users";

  // --- users -----------------------------------------------------------------------------------
  async function usersView() {
    const [users, teams] = await Promise.all([api("users"), api("teams")]);
    const teamName = (id) => (teams.items.find((tm) => tm.id === id) || {}).name || `#${id}`;
    const rows = users.items.map((u) => {
      const err = errorBox();
      const update = async (body) => {
        err.hidden = true;
        try {
          await api(`users/${u.id}`, { method: "PATCH", body });
          toast(t("admin.saved"), { kind: "success" });
          api("directory").then((d) => (session.directory = d.items)).catch(() => {});
        } catch (e) {
          showError(err, e);
          reloadSection();
        }
      };
      const teamInput = h("input", { type: "text", value: u.team_ids.map(teamName).join(", "), "aria-label": t("admin.teams_of", { name: u.display_name }), class: "input--inline" });
      return h(
        "tr",
        { class: u.is_active ? null : "is-inactive" },
        h("th", { scope: "row" }, h("span", { class: "cell-title" }, u.display_name), h("span", { class: "muted small" }, u.email)),
        h("td", {}, select(ROLES.map((r) => ({ value: r, label: t(`role.${r}`) })), { value: u.role, label: t("admin.role_of", { name: u.display_name }), onchange: (e) => update({ role: e.target.value }) })),
        h(
          "td",
          {},
          h(
            "form",
            { class: "inline-form", onsubmit: (e) => { e.preventDefault(); update({ teams: teamInput.value.split(",").map((s) => s.trim()).filter(Boolean) }); } },
            teamInput,
            h("button", { type: "submit", class: "btn btn--small" }, t("action.save")),
          ),
        ),
        h(
          "td",
          {},
          h("label", { class: "switch" }, h("input", { type: "checkbox", checked: u.is_active, onchange: (e) => update({ is_active: e.target.checked }) }), h("span", {}, u.is_active ? t("admin.active") : t("admin.inactive"))),
          err,
        ),
      );
    });
    const email = h("input", { type: "email", required: true, autocomplete: "off" });
    const name = h("input", { type: "text" });
    const role = select(ROLES.map((r) => ({ value: r, label: t(`role.${r}`) })), { value: "agent" });
    const teamsInput = h("input", { type: "text", placeholder: t("admin.teams_placeholder") });
    const password = h("input", { type: "text", minlength: 10, autocomplete: "new-password" });
    const err = errorBox();
    const created = h("div", { class: "created", hidden: true, role: "status" });
    const form = h(
      "form",
      {
        class: "panel form-grid",
        "aria-labelledby": "add-user-title",
        onsubmit: async (event) => {
          event.preventDefault();
          err.hidden = true;
          const pw = password.value || generatePassword();
          try {
            const user = await api("users", {
              method: "POST",
              body: { email: email.value.trim(), display_name: name.value.trim(), role: role.value, teams: teamsInput.value.split(",").map((s) => s.trim()).filter(Boolean), password: pw, locale: "de" },
            });
            replace(created, icon("check"), h("p", {}, t("admin.user_created", { email: user.email })), h("p", {}, t("admin.password_once"), " ", h("code", {}, pw), " ", copyButton(pw, t("admin.copy_password"))));
            created.hidden = false;
            email.value = name.value = teamsInput.value = password.value = "";
            const fresh = await usersView();
            fresh.querySelector(".created").replaceWith(created);
            replace(content, fresh);
          } catch (e) {
            showError(err, e);
          }
        },
      },
      h("h2", { id: "add-user-title", class: "form-grid__title" }, t("admin.add_user")),
      field(t("auth.email"), email),
      field(t("admin.name"), name),
      field(t("admin.role"), role),
      field(t("admin.teams"), teamsInput),
      field(t("auth.password"), password, { hint: t("admin.password_hint") }),
      h("div", { class: "form-grid__actions" }, h("button", { class: "btn btn--primary", type: "submit" }, t("admin.add_user"))),
      err,
    );
    return h(
      "div",
      {},
      created,
      h("div", { class: "panel" }, h("table", { class: "table" }, h("caption", { class: "visually-hidden" }, t("admin.users")), h("thead", {}, h("tr", {}, [t("admin.person"), t("admin.role"), t("admin.teams"), t("admin.status")].map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rows))),
      form,
    );
  }

  function generatePassword() {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    return Array.from(bytes, (b) => "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"[b % 56]).join("");
  }

  // --- teams -------------------------------------------------------------------------------------
  async function teamsView() {
    const [teams, directory] = await Promise.all([api("teams"), api("directory")]);
    const input = h("input", { type: "text", required: true, maxlength: 100 });
    const err = errorBox();
    return h(
      "div",
      {},
      h(
        "div",
        { class: "panel" },
        teams.items.length
          ? h(
              "table",
              { class: "table" },
              h("caption", { class: "visually-hidden" }, t("admin.teams")),
              h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("admin.team")), h("th", { scope: "col" }, t("admin.members")))),
              h(
                "tbody",
                {},
                teams.items.map((team) => {
                  const members = directory.items.filter((u) => u.team_ids.includes(team.id));
                  return h("tr", {}, h("th", { scope: "row" }, team.name), h("td", {}, members.length ? members.map((u) => u.display_name || u.email).join(", ") : h("span", { class: "muted" }, t("admin.no_members"))));
                }),
              ),
            )
          : h("p", { class: "muted" }, t("admin.no_teams")),
      ),
      h(
        "form",
        {
          class: "panel form-grid",
          "aria-labelledby": "add-team-title",
          onsubmit: async (event) => {
            event.preventDefault();
            try {
              await api("teams", { method: "POST", body: { name: input.value.trim() } });
              toast(t("admin.saved"), { kind: "success" });
              session.teams = (await api("teams")).items;
              reloadSection();
            } catch (e) {
              showError(err, e);
            }
          },
        },
        h("h2", { id: "add-team-title", class: "form-grid__title" }, t("admin.add_team")),
        field(t("admin.name"), input),
        h("div", { class: "form-grid__actions" }, h("button", { class: "btn btn--primary", type: "submit" }, t("admin.add_team"))),
        err,
      ),
    );
  }

  // --- channels ----------------------------------------------------------------------------------
  async function channelsView() {
    const [channels, teams] = await Promise.all([api("channels"), api("teams")]);
    const teamName = (id) => (id ? (teams.items.find((tm) => tm.id === id) || {}).name || `#${id}` : t("admin.no_team"));
    const list = channels.items.map((c) =>
      h(
        "article",
        { class: "channel panel" },
        h(
          "header",
          { class: "channel__head" },
          icon(platformIcon(c.platform), { label: platformName(c.platform), cls: "platform platform--lg" }),
          h("div", {}, h("h3", {}, c.name), h("p", { class: "muted small" }, `${platformName(c.platform)} · ${teamName(c.team_id)} · ${c.id}`)),
          h("span", { class: `pill ${c.is_active ? "pill--open" : "pill--resolved"}` }, c.is_active ? t("admin.active") : t("admin.inactive")),
        ),
        h("div", { class: "channel__url" }, h("span", { class: "muted" }, t("admin.webhook_url")), h("code", {}, c.webhook_url), copyButton(c.webhook_url, t("admin.copy_url", { name: c.name }))),
        h(
          "details",
          { class: "channel__setup" },
          h("summary", {}, t("admin.setup")),
          h(
            "ul",
            {},
            h("li", {}, t("admin.setup_url"), " ", h("code", {}, c.webhook_url)),
            h("li", {}, c.has_verify_token ? t("admin.setup_verify_set") : t("admin.setup_verify_none")),
            h("li", {}, c.has_secret ? t("admin.setup_secret_set") : t("admin.setup_secret_none")),
            h("li", {}, t(`admin.setup_hint_${setupFamily(c.platform)}`)),
          ),
        ),
      ),
    );
    const platform = select(Object.keys(PLATFORMS).filter((p) => p !== "email").map((p) => ({ value: p, label: `${platformName(p)} (${p})` })), { value: "facebook" });
    const name = h("input", { type: "text", required: true, maxlength: 200 });
    const secret = h("input", { type: "text", autocomplete: "off" });
    const verify = h("input", { type: "text", autocomplete: "off" });
    const team = select([{ value: "", label: t("admin.no_team") }, ...teams.items.map((tm) => ({ value: tm.id, label: tm.name }))], { value: "" });
    const err = errorBox();
    const created = h("div", { class: "created", hidden: true, role: "status" });
    const form = h(
      "form",
      {
        class: "panel form-grid",
        "aria-labelledby": "add-channel-title",
        onsubmit: async (event) => {
          event.preventDefault();
          err.hidden = true;
          try {
            const ch = await api("channels", {
              method: "POST",
              body: { platform: platform.value, name: name.value.trim(), secret: secret.value.trim() || null, verify_token: verify.value.trim() || null, team_id: team.value ? Number(team.value) : null },
            });
            session.channels = (await api("channels")).items;
            const fresh = await channelsView();
            const box = fresh.querySelector(".created");
            replace(
              box,
              h("h2", {}, icon("check"), t("admin.channel_created", { name: ch.name })),
              h("p", {}, t("admin.shown_once")),
              h("dl", { class: "facts" }, h("div", { class: "fact" }, h("dt", {}, t("admin.webhook_url")), h("dd", {}, h("code", {}, ch.webhook_url), copyButton(ch.webhook_url, t("admin.copy_url", { name: ch.name })))),
                ch.verify_token ? h("div", { class: "fact" }, h("dt", {}, t("admin.verify_token")), h("dd", {}, h("code", {}, ch.verify_token), copyButton(ch.verify_token, t("admin.verify_token")))) : null,
                ch.secret ? h("div", { class: "fact" }, h("dt", {}, t("admin.secret")), h("dd", {}, h("code", {}, ch.secret), copyButton(ch.secret, t("admin.secret")))) : null),
              ch.console && ch.console.length ? h("pre", { class: "console" }, ch.console.join("\n")) : null,
            );
            box.hidden = false;
            replace(content, fresh);
          } catch (e) {
            showError(err, e);
          }
        },
      },
      h("h2", { id: "add-channel-title", class: "form-grid__title" }, t("admin.add_channel")),
      field(t("admin.platform"), platform),
      field(t("admin.name"), name),
      field(t("admin.team"), team),
      field(t("admin.secret"), secret, { hint: t("admin.secret_hint") }),
      field(t("admin.verify_token"), verify, { hint: t("admin.verify_hint") }),
      h("div", { class: "form-grid__actions" }, h("button", { class: "btn btn--primary", type: "submit" }, t("admin.add_channel"))),
      err,
    );
    return h("div", {}, created, list.length ? h("div", { class: "channels" }, list) : h("div", { class: "panel empty" }, h("p", {}, t("admin.no_channels"))), form);
  }

  function setupFamily(platform) {
    if (["facebook", "instagram", "messenger", "whatsapp"].includes(platform)) return "meta";
    if (["standard-webhooks", "x", "telegram", "youtube", "mailgun", "sendgrid"].includes(platform)) return platform.replace("-", "_");
    return "other";
  }

  // --- escalation: rules, policies, rotations, integrations, notifications --------------------------
  function removeButton(path, label) {
    return h(
      "button",
      {
        type: "button",
        class: "btn btn--small btn--danger",
        "aria-label": label,
        onclick: async () => {
          if (!window.confirm(t("admin.confirm_delete"))) return;
          try {
            await api(path, { method: "DELETE" });
            toast(t("admin.deleted"), { kind: "success" });
            reloadSection();
          } catch (e) {
            toast(describeError(e), { kind: "error" });
          }
        },
      },
      icon("trash"),
      t("admin.delete"),
    );
  }

  /** What the rule and policy editors choose from (lists the server may not have are empty). */
  async function editorContext(base) {
    const optional = (name) => (features.has(name) ? api(features.get(name)).then((r) => r.items).catch(() => []) : Promise.resolve([]));
    const [teams, policies, rotations, integrations] = await Promise.all([api("teams").then((r) => r.items), optional("policies"), optional("rotations"), optional("integrations")]);
    return { base, teams, policies, rotations, integrations, users: session.directory, channels: session.channels };
  }

  function editorSlot(makeEditor) {
    const slot = h("div", { class: "editor-slot" });
    const fresh = () => replace(slot, makeEditor(null));
    fresh();
    return {
      slot,
      edit(item) {
        replace(slot, makeEditor(item, fresh));
        slot.scrollIntoView({ block: "start" });
        const first = slot.querySelector("input, textarea");
        if (first) first.focus({ preventScroll: true });
      },
    };
  }

  function editButton(label, onclick) {
    return h("button", { type: "button", class: "btn btn--small", "aria-label": label, onclick }, icon("edit"), t("editor.edit"));
  }

  async function rulesView() {
    const base = features.get("rules");
    const [rules, ctx] = await Promise.all([api(base), editorContext(base)]);
    const teamName = (id) => (ctx.teams.find((tm) => tm.id === id) || {}).name || `#${id}`;
    const policyName = (id) => (ctx.policies.find((p) => p.id === id) || {}).name || `#${id}`;
    const saved = () => {
      toast(t("admin.saved"), { kind: "success" });
      reloadSection();
    };
    const editor = editorSlot((rule, cancel) => ruleEditor({ rule, ctx, onSaved: saved, onCancel: cancel }));
    return h(
      "div",
      {},
      h(
        "div",
        { class: "panel" },
        rules.items.length
          ? h(
              "table",
              { class: "table" },
              h("caption", { class: "visually-hidden" }, t("admin.rules")),
              h("thead", {}, h("tr", {}, [t("admin.position"), t("admin.rule"), t("admin.conditions"), t("admin.actions"), t("admin.status"), ""].map((c) => h("th", { scope: "col" }, c)))),
              h(
                "tbody",
                {},
                rules.items.map((r) =>
                  h(
                    "tr",
                    { dataset: { ruleId: r.id } },
                    h("td", { class: "num" }, String(r.position)),
                    h("th", { scope: "row" }, h("span", { class: "cell-title" }, r.name), r.description ? h("span", { class: "muted small" }, r.description) : null),
                    h("td", { class: "small" }, describeCondition(r.conditions)),
                    h("td", {}, h("span", { class: "chips" }, describeActions(r.actions, { teamName, userName, policyName }).map((text) => h("span", { class: "chip chip--label" }, text)))),
                    h(
                      "td",
                      {},
                      h("label", { class: "switch" }, h("input", {
                        type: "checkbox",
                        checked: r.enabled,
                        "aria-label": t("editor.enabled_named", { name: r.name }),
                        onchange: async (e) => {
                          try {
                            await api(`${base}/${r.id}`, { method: "PATCH", body: { enabled: e.target.checked } });
                            toast(t("admin.saved"), { kind: "success" });
                          } catch (err) {
                            e.target.checked = !e.target.checked;
                            toast(describeError(err), { kind: "error" });
                          }
                        },
                      }), h("span", { "aria-hidden": "true" }, t("admin.enabled"))),
                    ),
                    h("td", { class: "table__tools" }, editButton(t("editor.edit_named", { name: r.name }), () => editor.edit(r)), removeButton(`${base}/${r.id}`, t("admin.delete_named", { name: r.name }))),
                  ),
                ),
              ),
            )
          : h("p", { class: "muted" }, t("admin.no_rules")),
      ),
      editor.slot,
    );
  }

  async function policiesView() {
    const base = features.get("policies");
    const [policies, ctx] = await Promise.all([api(base), editorContext(base)]);
    const saved = () => {
      toast(t("admin.saved"), { kind: "success" });
      reloadSection();
    };
    const editor = editorSlot((policy, cancel) => policyEditor({ policy, ctx, onSaved: saved, onCancel: cancel }));
    const rotationName = (id) => (ctx.rotations.find((r) => r.id === id) || {}).name || `#${id}`;
    const integrationName = (id) => (ctx.integrations.find((i) => i.id === id) || {}).name || `#${id}`;
    return h(
      "div",
      {},
      h(
        "div",
        { class: "panel" },
        policies.items.length
          ? h(
              "table",
              { class: "table" },
              h("caption", { class: "visually-hidden" }, t("admin.policies")),
              h("thead", {}, h("tr", {}, [t("admin.policy"), t("admin.levels"), t("admin.repeats"), t("editor.ack_timeout"), ""].map((c) => h("th", { scope: "col" }, c)))),
              h(
                "tbody",
                {},
                policies.items.map((p) =>
                  h(
                    "tr",
                    { dataset: { policyId: p.id } },
                    h("th", { scope: "row" }, h("span", { class: "cell-title" }, p.name), p.description ? h("span", { class: "muted small" }, p.description) : null),
                    h("td", {}, h("ol", { class: "levels" }, p.levels.map((l) => h("li", {}, t("admin.level_line", { delay: duration((l.delay_s || 0) * 1000), who: levelTargets(l, rotationName, integrationName) }))))),
                    h("td", { class: "num" }, String(p.repeat_count)),
                    h("td", {}, p.ack_timeout_s ? duration(p.ack_timeout_s * 1000) : "–"),
                    h("td", { class: "table__tools" }, editButton(t("editor.edit_named", { name: p.name }), () => editor.edit(p)), removeButton(`${base}/${p.id}`, t("admin.delete_named", { name: p.name }))),
                  ),
                ),
              ),
            )
          : h("p", { class: "muted" }, t("admin.no_policies")),
      ),
      editor.slot,
    );
  }

  function levelTargets(level, rotationName, integrationName) {
    const parts = [];
    for (const id of level.user_ids || []) parts.push(userName(id));
    for (const id of level.team_ids || []) parts.push(`${t("admin.team")} ${(session.teams.find((tm) => tm.id === id) || {}).name || `#${id}`}`);
    for (const id of level.rotation_ids || []) parts.push(`${t("admin.rotation")} ${rotationName(id)}`);
    for (const id of level.integration_ids || []) parts.push(`${t("admin.integration")} ${integrationName(id)}`);
    return parts.join(", ") || "–";
  }

  async function rotationsView() {
    const base = features.get("rotations");
    const rotations = await api(base);
    const name = h("input", { type: "text", required: true });
    const people = h("select", { multiple: true, size: 5 }, session.directory.map((u) => h("option", { value: u.id }, u.display_name || u.email)));
    const handover = h("input", { type: "datetime-local", required: true });
    const shiftDays = h("input", { type: "number", min: 1, max: 90, value: "7" });
    const err = errorBox();
    return h(
      "div",
      {},
      h(
        "div",
        { class: "panel" },
        rotations.items.length
          ? h(
              "table",
              { class: "table" },
              h("caption", { class: "visually-hidden" }, t("admin.rotations")),
              h("thead", {}, h("tr", {}, [t("admin.rotation"), t("admin.on_call_now"), t("admin.participants"), t("admin.shift"), ""].map((c) => h("th", { scope: "col" }, c)))),
              h(
                "tbody",
                {},
                rotations.items.map((r) =>
                  h(
                    "tr",
                    {},
                    h("th", { scope: "row" }, r.name),
                    h("td", {}, r.on_call_user_id ? h("strong", {}, userName(r.on_call_user_id)) : h("span", { class: "muted" }, t("admin.nobody"))),
                    h("td", {}, r.participant_ids.map((id) => userName(id)).join(" → ")),
                    h("td", {}, `${duration(r.shift_s * 1000)} · ${t("admin.handover", { at: dateTime(r.handover_at) })}`),
                    h("td", {}, removeButton(`${base}/${r.id}`, t("admin.delete_named", { name: r.name }))),
                  ),
                ),
              ),
            )
          : h("p", { class: "muted" }, t("admin.no_rotations")),
      ),
      h(
        "form",
        {
          class: "panel form-grid",
          "aria-labelledby": "add-rotation-title",
          onsubmit: async (event) => {
            event.preventDefault();
            err.hidden = true;
            const ids = Array.from(people.selectedOptions, (o) => Number(o.value));
            try {
              await api(base, { method: "POST", body: { name: name.value.trim(), participant_ids: ids, handover_at: new Date(handover.value).toISOString(), shift_s: Number(shiftDays.value) * 86400 } });
              toast(t("admin.saved"), { kind: "success" });
              reloadSection();
            } catch (e) {
              showError(err, e);
            }
          },
        },
        h("h2", { id: "add-rotation-title", class: "form-grid__title" }, t("admin.add_rotation")),
        field(t("admin.name"), name),
        field(t("admin.participants"), people, { hint: t("admin.participants_hint") }),
        field(t("admin.handover_at"), handover),
        field(t("admin.shift_days"), shiftDays),
        h("div", { class: "form-grid__actions" }, h("button", { class: "btn btn--primary", type: "submit" }, t("admin.add_rotation"))),
        err,
      ),
    );
  }

  async function integrationsView() {
    const base = features.get("integrations");
    const integrations = await api(base);
    const kind = select(["email", "slack", "webhook"].map((k) => ({ value: k, label: t(`integration.${k}`) })), { value: "slack" });
    const name = h("input", { type: "text", required: true });
    const url = h("input", { type: "url", placeholder: "https://" });
    const email = h("input", { type: "email" });
    // Only what the kind needs: a URL for Slack and webhooks, an address for e-mail.
    const urlField = field(t("admin.url"), url);
    const emailField = field(t("auth.email"), email);
    const fitKind = () => {
      urlField.hidden = kind.value === "email";
      emailField.hidden = kind.value !== "email";
    };
    kind.addEventListener("change", fitKind);
    fitKind();
    const err = errorBox();
    return h(
      "div",
      {},
      h(
        "div",
        { class: "panel" },
        integrations.items.length
          ? h(
              "table",
              { class: "table" },
              h("caption", { class: "visually-hidden" }, t("admin.integrations")),
              h("thead", {}, h("tr", {}, [t("admin.name"), t("admin.kind"), t("admin.target"), t("admin.status"), ""].map((c) => h("th", { scope: "col" }, c)))),
              h(
                "tbody",
                {},
                integrations.items.map((i) =>
                  h(
                    "tr",
                    {},
                    h("th", { scope: "row" }, i.name),
                    h("td", {}, t(`integration.${i.kind}`)),
                    h("td", {}, h("code", { class: "code-inline" }, i.url || i.email_address || "–")),
                    h("td", {}, i.is_active ? t("admin.active") : t("admin.inactive")),
                    h("td", {}, removeButton(`${base}/${i.id}`, t("admin.delete_named", { name: i.name }))),
                  ),
                ),
              ),
            )
          : h("p", { class: "muted" }, t("admin.no_integrations")),
      ),
      h(
        "form",
        {
          class: "panel form-grid",
          "aria-labelledby": "add-integration-title",
          onsubmit: async (event) => {
            event.preventDefault();
            err.hidden = true;
            try {
              const made = await api(base, { method: "POST", body: { kind: kind.value, name: name.value.trim(), url: kind.value === "email" ? null : url.value.trim() || null, email_address: kind.value === "email" ? email.value.trim() || null : null } });
              toast(made.secret ? t("admin.integration_secret", { secret: made.secret }) : t("admin.saved"), { kind: "success", timeoutMs: made.secret ? 0 : 5000 });
              reloadSection();
            } catch (e) {
              showError(err, e);
            }
          },
        },
        h("h2", { id: "add-integration-title", class: "form-grid__title" }, t("admin.add_integration")),
        field(t("admin.kind"), kind),
        field(t("admin.name"), name),
        urlField,
        emailField,
        h("div", { class: "form-grid__actions" }, h("button", { class: "btn btn--primary", type: "submit" }, t("admin.add_integration"))),
        err,
      ),
    );
  }

  async function notificationsView() {
    const log = await api(features.get("notifications"), { query: { limit: 100 } });
    return h(
      "div",
      { class: "panel" },
      log.items.length
        ? h(
            "table",
            { class: "table" },
            h("caption", { class: "visually-hidden" }, t("admin.notifications")),
            h("thead", {}, h("tr", {}, [t("admin.when"), t("admin.channel"), t("admin.target"), t("admin.reason"), t("admin.status"), t("admin.attempts")].map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              {},
              log.items.map((n) =>
                h(
                  "tr",
                  {},
                  h("td", {}, dateTime(n.created_at)),
                  h("td", {}, n.channel),
                  h("td", {}, h("code", { class: "code-inline" }, n.target)),
                  h("td", {}, n.incident_id ? h("a", { href: `/incidents/${n.incident_id}` }, `#${n.incident_id}`) : null, " ", n.reason),
                  h("td", {}, h("span", { class: `pill pill--delivery-${n.status}` }, n.status), n.last_error ? h("span", { class: "muted small" }, ` ${n.last_error}`) : null),
                  h("td", { class: "num" }, String(n.attempts)),
                ),
              ),
            ),
          )
        : h("p", { class: "muted" }, t("admin.no_notifications")),
    );
  }

  const SECTION_VIEWS = {
    users: usersView,
    teams: teamsView,
    channels: channelsView,
    rules: rulesView,
    policies: policiesView,
    rotations: rotationsView,
    integrations: integrationsView,
    notifications: notificationsView,
  };

  show(route);
  return {
    update(next) {
      currentSection = next.params.section || "users";
      show(next);
    },
    unmount() {},
  };
}
