// Numbers, times, urgency bands and service-level targets, in the reader's language.

import { locale, t, has } from "./i18n.js";

/** Urgency bands: the colour of a badge and the service-level target for a first answer. */
export const BANDS = [
  { name: "critical", min: 80, slaMinutes: 15 },
  { name: "high", min: 60, slaMinutes: 60 },
  { name: "medium", min: 30, slaMinutes: 4 * 60 },
  { name: "low", min: 0, slaMinutes: 24 * 60 },
];
export const CRITICAL = 80;
export const CATEGORIES = [
  "safety", "threat", "legal", "press", "outage", "complaint",
  "toxic", "question", "praise", "spam", "fact_claim",
];
export const CATEGORY_THRESHOLD = 0.5;

export function band(urgency) {
  if (urgency === null || urgency === undefined) return null;
  return BANDS.find((b) => urgency >= b.min) || BANDS[BANDS.length - 1];
}

export function categoryLabel(name) {
  return has(`category.${name}`) ? t(`category.${name}`) : name;
}

/** Categories at or above the threshold, most likely first. */
export function topCategories(categories, limit = 3) {
  return Object.entries(categories || {})
    .filter(([, p]) => p >= CATEGORY_THRESHOLD)
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, p]) => ({ name, p }));
}

export function number(n) {
  return new Intl.NumberFormat(locale()).format(n);
}

/** 48000 -> "48k" / "48.000" style compact reach. */
export function compact(n) {
  return new Intl.NumberFormat(locale(), { notation: "compact", maximumFractionDigits: 1 }).format(n);
}

export function percent(p) {
  return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 0 }).format(p);
}

export function dateTime(iso) {
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

export function time(iso) {
  return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
}

export function dayLabel(iso) {
  return new Intl.DateTimeFormat(locale(), { weekday: "short", day: "numeric", month: "numeric" }).format(new Date(iso));
}

/** A short duration: "45 s", "12 min", "3 h", "2 d" (German: "3 Std.", "2 T."). */
export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return t("duration.s", { n: s });
  const m = Math.round(s / 60);
  if (m < 60) return t("duration.min", { n: m });
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return t("duration.h", { n: hrs });
  return t("duration.d", { n: Math.floor(hrs / 24) });
}

export function ago(iso, now = Date.now()) {
  return t("time.ago", { d: duration(now - new Date(iso).getTime()) });
}

/**
 * Where a conversation stands against its band's first-answer target:
 * {state: "ok" | "due" (last 25 % of the target) | "breached", label, title}.
 */
export function sla(urgency, waitingSinceIso, now = Date.now()) {
  const b = band(urgency) || BANDS[BANDS.length - 1];
  const waitedMs = now - new Date(waitingSinceIso).getTime();
  const targetMs = b.slaMinutes * 60_000;
  const left = targetMs - waitedMs;
  const state = left < 0 ? "breached" : left < targetMs * 0.25 ? "due" : "ok";
  const label = state === "breached" ? t("sla.overdue", { d: duration(-left) }) : duration(waitedMs);
  const title = t("sla.title", { waited: duration(waitedMs), target: duration(targetMs) });
  return { state, label, title };
}

export const PLATFORMS = {
  facebook: "Facebook",
  instagram: "Instagram",
  messenger: "Messenger",
  whatsapp: "WhatsApp",
  x: "X",
  youtube: "YouTube",
  telegram: "Telegram",
  mailgun: "E-Mail",
  sendgrid: "E-Mail",
  email: "E-Mail",
  "google-business": "Google Business",
  trustpilot: "Trustpilot",
  tiktok: "TikTok",
  linkedin: "LinkedIn",
  "standard-webhooks": "API",
};

export function platformName(platform) {
  return PLATFORMS[platform] || platform;
}

export function platformIcon(platform) {
  if (platform === "mailgun" || platform === "sendgrid") return "p-email";
  return PLATFORMS[platform] ? `p-${platform}` : "p-standard-webhooks";
}

export function languageName(code) {
  if (!code) return "";
  try {
    return new Intl.DisplayNames([locale()], { type: "language" }).of(code) || code;
  } catch {
    return code;
  }
}

export function initials(name) {
  return (name || "?")
    .split(/[\s@._-]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0].toUpperCase())
    .join("");
}
