// Escalation alerts: a banner nobody can miss, and a short alarm tone made with WebAudio.
// Browsers only play sound after a user gesture; until one has unlocked audio, the banner
// offers "click to enable sound" instead of failing silently.

import { h, icon } from "./dom.js";
import { t } from "./i18n.js";
import { api, describeError, features } from "./api.js";
import { on } from "./live.js";
import { toast } from "./toast.js";

const SOUND_KEY = "leitstand.sound";
const REPEAT_MS = 20_000;
const MAX_REPEATS = 6;

let audio = null;
const open = new Map(); // incident id (or a generated key) -> {el, timer}
let baseTitle = document.title;

export function soundEnabled() {
  return localStorage.getItem(SOUND_KEY) !== "off";
}

export function setSoundEnabled(enabled) {
  localStorage.setItem(SOUND_KEY, enabled ? "on" : "off");
  if (enabled) unlockAudio();
}

export function audioReady() {
  return audio !== null && audio.state === "running";
}

export function unlockAudio() {
  try {
    if (!audio) audio = new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state !== "running") audio.resume().catch(() => {});
  } catch {
    audio = null;
  }
}

/** Three rising beeps, about a second. Returns false when the browser would not play. */
export function playAlarm() {
  if (!soundEnabled() || !audioReady()) return false;
  const start = audio.currentTime + 0.02;
  [660, 880, 1100].forEach((freq, i) => {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "square";
    osc.frequency.value = freq;
    const at = start + i * 0.28;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.18, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.22);
    osc.connect(gain).connect(audio.destination);
    osc.start(at);
    osc.stop(at + 0.24);
  });
  const stats = (window.__leitstand = window.__leitstand || {});
  stats.alarmsPlayed = (stats.alarmsPlayed || 0) + 1;
  return true;
}

export function start() {
  baseTitle = document.title;
  const unlock = () => unlockAudio();
  document.addEventListener("pointerdown", unlock, { capture: true });
  document.addEventListener("keydown", unlock, { capture: true });
  on("escalation.alert", (event) => showAlert(event.data || {}));
  for (const type of ["incident.acknowledged", "incident.resolved"]) {
    on(type, (event) => {
      const incident = (event.data && event.data.incident) || {};
      settle(String(incident.id), type === "incident.acknowledged" ? "acknowledged" : "resolved");
    });
  }
}

/** "level 2 of 'PR on call', round 1" (the engine's words) in the reader's language. */
export function reasonText(reason) {
  const match = /^level (\d+) of '(.*)', round (\d+)$/.exec(reason);
  return match ? t("alert.level", { level: match[1], policy: match[2], round: match[3] }) : reason;
}

function keyOf(data) {
  return data.incident_id ? String(data.incident_id) : `m${data.message_id || Date.now()}`;
}

export function showAlert(data) {
  const key = keyOf(data);
  dismiss(key);
  const region = document.getElementById("alerts");
  const soundButton = h(
    "button",
    {
      class: "btn btn--light",
      type: "button",
      onclick: () => {
        setSoundEnabled(true);
        unlockAudio();
        setTimeout(() => {
          if (playAlarm()) soundButton.hidden = true;
        }, 50);
      },
    },
    icon("sound"),
    t("alert.enable_sound"),
  );
  const ackButton =
    data.incident_id && features.has("incidents")
      ? h(
          "button",
          {
            class: "btn btn--light",
            type: "button",
            onclick: async () => {
              ackButton.disabled = true;
              try {
                await api(`${features.get("incidents")}/${data.incident_id}/acknowledge`, { method: "POST" });
                settle(key, "acknowledged");
              } catch (err) {
                ackButton.disabled = false;
                toast(describeError(err), { kind: "error" });
              }
            },
          },
          icon("check"),
          t("incident.acknowledge"),
        )
      : null;
  const severity = data.severity ? t(`severity.${data.severity}`) : null;
  const el = h(
    "section",
    { class: "alert", "aria-label": t("alert.label"), dataset: { incident: data.incident_id || "" } },
    h("div", { class: "alert__icon" }, icon("siren")),
    h(
      "div",
      { class: "alert__body" },
      h("p", { class: "alert__kicker" }, t("alert.kicker"), severity ? ` · ${severity}` : "", data.reason ? ` · ${reasonText(data.reason)}` : ""),
      h("h2", { class: "alert__title" }, data.title || t("alert.untitled")),
      data.excerpt ? h("p", { class: "alert__excerpt" }, `„${data.excerpt}“`) : null,
      h("p", { class: "alert__state", hidden: true }),
    ),
    h(
      "div",
      { class: "alert__actions" },
      ackButton,
      data.incident_id ? h("a", { class: "btn btn--light", href: `/incidents/${data.incident_id}` }, t("alert.open")) : null,
      soundButton,
      h("button", { class: "btn-icon btn-icon--light", type: "button", "aria-label": t("action.dismiss"), onclick: () => dismiss(key) }, icon("x")),
    ),
  );
  region.prepend(el);
  if (data.incident_id && features.has("incidents")) {
    // The event carries a notification subject; the incident's own title reads better.
    api(`${features.get("incidents")}/${data.incident_id}`)
      .then((incident) => {
        el.querySelector(".alert__title").textContent = `#${incident.id} · ${incident.title}`;
      })
      .catch(() => {});
  }
  const entry = { el, timer: null, repeats: 0 };
  open.set(key, entry);
  document.title = `🚨 ${t("alert.kicker")} – ${baseTitle}`;
  const ring = () => {
    const played = playAlarm();
    soundButton.hidden = played || !soundEnabled();
    entry.repeats += 1;
    if (entry.repeats < MAX_REPEATS) entry.timer = setTimeout(ring, REPEAT_MS);
  };
  ring();
  if (!soundEnabled()) soundButton.hidden = false;
}

function settle(key, state) {
  const entry = open.get(key);
  if (!entry) return;
  clearTimeout(entry.timer);
  entry.el.classList.add("alert--settled");
  const stateEl = entry.el.querySelector(".alert__state");
  stateEl.hidden = false;
  stateEl.textContent = t(`alert.${state}`);
  for (const button of entry.el.querySelectorAll(".alert__actions .btn")) if (!button.href) button.hidden = true;
  setTimeout(() => dismiss(key), 8000);
}

export function dismiss(key) {
  const entry = open.get(key);
  if (!entry) return;
  clearTimeout(entry.timer);
  entry.el.remove();
  open.delete(key);
  if (open.size === 0) document.title = baseTitle;
}

/** The page's own title, which the alert prefixes while one is open. */
export function setBaseTitle(title) {
  baseTitle = title;
  document.title = open.size ? `🚨 ${t("alert.kicker")} – ${title}` : title;
}
