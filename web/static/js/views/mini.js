// Small shared pieces of the views.

import { h, icon } from "../dom.js";
import { band, categoryLabel, platformIcon, platformName, sla, topCategories } from "../format.js";

/** A conversation in a short list (overview, incident): who, what, how urgent, how long. */
export function miniConversation(c) {
  const top = c.top_message || {};
  const b = band(c.urgency) || band(0);
  const timer = sla(c.urgency, c.waiting_since);
  const author = top.author || c.author || {};
  return h(
    "a",
    { class: "mini", href: `/conversations/${c.id}` },
    h("span", { class: `badge badge--${b.name}` }, String(c.urgency)),
    h(
      "span",
      { class: "mini__body" },
      h(
        "span",
        { class: "mini__top" },
        icon(platformIcon(c.platform), { label: platformName(c.platform), cls: "platform" }),
        h("strong", { class: "mini__who" }, author.display_name || (author.handle ? `@${author.handle}` : "?")),
        topCategories(top.categories, 2).map((cat) => h("span", { class: `chip chip--${cat.name}` }, categoryLabel(cat.name))),
        h("span", { class: `row__sla sla--${timer.state}`, title: timer.title }, icon("clock"), timer.label),
      ),
      h("span", { class: "mini__text" }, top.excerpt || c.subject || ""),
    ),
  );
}
