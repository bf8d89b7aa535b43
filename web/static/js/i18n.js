// German and English, both first-class. Dictionaries are ES modules in /static/i18n/.
// t("inbox.title"), t("inbox.count", {n: 3}) — an entry may be {one, other} for plurals.

const STORAGE_KEY = "leitstand.locale";
export const LOCALES = ["de", "en"];

let dict = {};
let fallback = {};
let current = "de";

export function preferredLocale() {
  const stored = localStorage.getItem(STORAGE_KEY);
  if (LOCALES.includes(stored)) return stored;
  const nav = (navigator.language || "de").slice(0, 2).toLowerCase();
  return LOCALES.includes(nav) ? nav : "en";
}

export async function loadLocale(locale) {
  if (!LOCALES.includes(locale)) locale = "de";
  // Both dictionaries hold every key (a test checks), so one is loaded, not two.
  const main = await import(`../i18n/${locale}.js`);
  dict = main.default;
  fallback = main.default;
  current = locale;
  document.documentElement.lang = locale;
  localStorage.setItem(STORAGE_KEY, locale);
  return locale;
}

export function locale() {
  return current;
}

export function t(key, params = {}) {
  let entry = dict[key] ?? fallback[key];
  if (entry === undefined) return key;
  if (typeof entry === "object") {
    const n = Number(params.n ?? 0);
    const rule = new Intl.PluralRules(current).select(n);
    entry = entry[rule] ?? entry.other;
  }
  return entry.replace(/\{(\w+)\}/g, (_, name) => (params[name] === undefined ? `{${name}}` : String(params[name])));
}

/** True when the dictionary has the key (for optional labels such as categories). */
export function has(key) {
  return dict[key] !== undefined || fallback[key] !== undefined;
}
